"""PyTorch's CUDA graph API: `framework.cuda.CUDAGraph`, `framework.cuda.graph`, `framework.cuda.graph_pool_handle`.

On a GPU a CUDAGraph is a stream capture (stream_capture.py): the captured kernels, copies and fills replay with
one launch, into the same memory, and the capture itself runs nothing. Under Triton's interpreter there is no
stream to capture, so the same object records the backend's kernels with framework.graphs' recorder and replays
them; the recorder runs them as it records, so the device memory is put back afterwards (`_InterpretedCapture`):
one meaning on both runtimes, and the captured steps' tests run in CI.

What cannot be captured raises on both: reading a value on the host or waiting for the device, and launches
whose arguments are host values that change between steps: random draws, and an optimizer's step unless it is
capturable (Adam/AdamW with capturable=True read their step counts and a Tensor lr from device memory;
optimizer.py `_check_capturable`). Otherwise capture the forward and backward (make_graphed_callables) and step
the optimizer outside; framework.graphs.capture captures whole steps, optimizer included, on every device.

Static tensors, as in PyTorch: replay reads the tensors the capture read and writes the tensors it wrote, so new
inputs are copied into the captured input tensors before replay(), and outputs are read from the captured
output tensors after it. Warm up (run the step once or a few times) before capturing, so that lazily made
state (optimizer moments, compiled and autotuned kernels) exists before the capture starts.
"""
import gc

from ...graphs import graph as _RecordingGraphContext  # the `with` block's capture, the same on every device
from .runtime import DriverRuntime, runtime


class _PoolHandle:
    """What graph_pool_handle() and CUDAGraph.pool() return: graphs captured with the same handle share memory.
    Its pool is made by the first capture that uses it (on a GPU, a stream_capture.PrivatePool)."""

    __slots__ = ("pool",)

    def __init__(self, pool=None):
        self.pool = pool

    def __repr__(self):
        return f"<framework.cuda graph pool handle at {hex(id(self))}>"


def graph_pool_handle():
    """A handle to a new memory pool, to pass as `pool=` to several captures that should share memory."""
    return _PoolHandle()


class _InterpretedCapture:
    """A CUDA graph under Triton's interpreter: framework.graphs' recorder, which runs the captured kernels (on
    host memory) while recording them. A GPU's capture runs nothing, so at its end the device memory alive at
    its start is put back as it was: parameters, inputs and statistics are those a GPU would leave. The same
    calls are refused as on a GPU (host reads and waits, non-capturable optimizer steps, random draws); a
    capturable optimizer step records its launches one by one, with the arguments they have at capture."""

    def __init__(self, rt):
        from ...graphs import Graph
        self._runtime = rt
        self._graph = Graph()
        self._restore = None

    def capture_begin(self, pool=None, capture_error_mode="global"):
        from ...graphs import recording
        from .memory import snapshot_device_memory
        if recording.ACTIVE is not None or self._runtime.capture is not None:
            raise RuntimeError("Cannot capture a CUDA graph while another capture is underway on this process")
        self._graph.capture_begin(pool, capture_error_mode)
        self._restore = snapshot_device_memory()
        self._runtime.capture = recording.CUDA_GRAPH = self

    def _leave(self):
        from ...graphs import recording
        self._runtime.capture = recording.CUDA_GRAPH = None
        restore, self._restore = self._restore, None
        if restore is not None:
            restore()

    def capture_end(self):
        try:
            self._graph.capture_end()
        finally:
            self._leave()

    def abandon(self):
        self._graph._abandon()
        self._leave()

    def replay(self):
        self._graph.replay()

    def reset(self):
        self._graph.reset()

    def pool(self):
        return self._graph.pool()


class CUDAGraph:
    """A captured sequence of `cuda` work: capture_begin() / capture_end(), then replay(); reset() frees it."""

    def __init__(self, keep_graph=False):
        self._impl = None  # a StreamCapture on a GPU, a framework.graphs.Graph under the interpreter
        self._pool_handle = None

    def capture_begin(self, pool=None, capture_error_mode="global"):
        if pool is not None and not isinstance(pool, _PoolHandle):
            raise TypeError(f"pool must be a handle from framework.cuda.graph_pool_handle() or "
                            f"CUDAGraph.pool(), got {type(pool).__name__}")
        if self._impl is not None:
            raise RuntimeError("This CUDAGraph has already been captured: call reset() before capturing again")
        self._pool_handle = pool if pool is not None else _PoolHandle()
        rt = runtime()
        if isinstance(rt, DriverRuntime):
            from .stream_capture import StreamCapture
            impl = StreamCapture(rt)
        else:
            impl = _InterpretedCapture(rt)
        impl.capture_begin(self._pool_handle.pool, capture_error_mode)
        self._pool_handle.pool = impl.pool()
        self._impl = impl

    def capture_end(self):
        if self._impl is None:
            raise RuntimeError("capture_end() without a capture_begin() on this graph")
        self._impl.capture_end()

    def _abandon(self):
        """After an exception inside the captured region: nothing is kept."""
        impl, self._impl = self._impl, None
        if impl is not None:
            impl.abandon()

    def replay(self):
        if self._impl is None:
            raise RuntimeError("Called CUDAGraph.replay() without a completed capture: capture the graph first "
                               "(capture_begin()/capture_end(), or `with framework.cuda.graph(g):`), and do "
                               "not replay it after reset()")
        self._impl.replay()

    def reset(self):
        impl, self._impl = self._impl, None
        if impl is not None:
            impl.reset()

    def pool(self):
        """The memory pool's handle, to share it with a later capture (`capture_begin(pool=g.pool())`)."""
        if self._pool_handle is None:
            raise RuntimeError("This CUDAGraph has no memory pool yet: call pool() after capture_begin()")
        return self._pool_handle


class graph(_RecordingGraphContext):
    """`with framework.cuda.graph(g):` captures the block into `g` (PyTorch's torch.cuda.graph).

    On entry, as PyTorch does, it waits for the device and collects garbage, so that memory freed by earlier
    work is back in the pool before the capture allocates. An exception inside the block abandons the capture
    and propagates."""

    default_capture_stream = None

    def __init__(self, cuda_graph, pool=None, stream=None, capture_error_mode="global"):
        if not isinstance(cuda_graph, CUDAGraph):
            raise TypeError(f"framework.cuda.graph expects a framework.cuda.CUDAGraph, got "
                            f"{type(cuda_graph).__name__}")
        if stream is not None:
            raise NotImplementedError("framework.cuda.graph(stream=...): the framework has one stream, and "
                                      "captures on a side stream of its own; leave stream=None")
        super().__init__(cuda_graph, pool, stream, capture_error_mode)

    def __enter__(self):
        runtime().synchronize()
        gc.collect()
        super().__enter__()
