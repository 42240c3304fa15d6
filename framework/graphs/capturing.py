"""`Graph`: PyTorch's CUDAGraph methods, on every device; `graph(g)`: its capture as a context manager.

Capture runs the captured code once, eagerly, while recording.py writes down every kernel call, random draw and
optimizer update with its buffers; `replay()` runs that list again into the same buffers. Unlike a CUDA graph
capture, whose kernels do not run until the first replay, the capture here is itself a step: its results (the
outputs, the updated parameters) are those of one eager step on the static inputs as they were.

What stays outside: Python code between kernels runs at capture only (a learning-rate scheduler's step belongs
after `replay()`, as with PyTorch's graphs); tensors made during the capture keep their buffers, so inputs
change through `static_input.copy_(new)` and outputs are read from the tensors the captured code returned.
"""
import itertools

from . import recording
from .plan import make_plan, replay

_POOL_IDS = itertools.count(1)


def graph_pool_handle():
    """A token for `capture_begin(pool=...)`, as PyTorch's. Graphs here share no allocator: the buffers of a
    capture are the arrays its recording holds, so the token only names a pool."""
    return (0, next(_POOL_IDS))


def is_current_stream_capturing():
    """Whether a graph capture is in progress (PyTorch's torch.cuda.is_current_stream_capturing)."""
    return recording.ACTIVE is not None


class Graph:
    """A captured sequence of kernel calls (PyTorch's torch.cuda.CUDAGraph interface)."""

    def __init__(self, keep_graph=False):  # keep_graph: PyTorch's signature; a recording is always kept
        self._steps = None      # the recorded calls as a replay plan (plan.py), once a capture ended
        self._recorder = None   # the capture in progress
        self._buffers = None    # id -> shape of every array the entries hold (kept alive by them)
        self._stale = None      # why replay must refuse (a buffer was replaced since the capture)
        self._pool = None

    def __repr__(self):
        return object.__repr__(self).replace("framework.graphs.capturing.", "framework.graphs.")

    def _name(self, method):
        return f"{type(self).__name__}::{method}"

    def capture_begin(self, pool=None, capture_error_mode="global"):
        """Start recording every kernel call, on every device, until capture_end()."""
        if self._steps is not None:
            raise RuntimeError(f"This {type(self).__name__} instance already owns a captured graph. To capture a new "
                               "graph, create a new instance.")
        if recording.ACTIVE is not None:
            raise RuntimeError(f"{self._name('capture_begin')} was called while a capture is already in progress "
                               "(capture_begin twice, or a capture inside a capture): end it with capture_end() first.")
        if capture_error_mode not in ("global", "thread_local", "relaxed"):
            raise RuntimeError(f"Unknown capture error mode. Expected `global`, `thread_local`, or `relaxed`, got "
                               f"{capture_error_mode}")
        self._pool = pool if pool is not None else graph_pool_handle()
        recorder = recording.Recorder()
        recorder.install()
        self._recorder = recorder
        recording.ACTIVE = recorder

    def capture_end(self):
        """Stop recording; the graph can then replay."""
        recorder = self._recorder
        if recorder is None or recording.ACTIVE is not recorder:
            raise RuntimeError(f"Called {self._name('capture_end')} without a preceding capture_begin.")
        self._end(recorder)
        self._steps = make_plan(recorder.entries)
        self._buffers = {}
        for _, args, outputs, _ in self._steps:
            for array in recording._raw_inputs(args) + [b for _, b in outputs or ()]:
                self._buffers[id(array)] = array.shape
        recording.LIVE.add(self)

    def _end(self, recorder):
        recording.ACTIVE = None
        self._recorder = None
        if not recorder.uninstall():
            raise RuntimeError("Graph capture failed: kernels were registered during the capture (a device backend "
                               "loaded on first use), so their calls were not recorded. Run the code once before "
                               "capturing it (warm-up), as with CUDA graphs.")

    def _abandon(self):
        """End a capture that raised: nothing recorded is kept."""
        if self._recorder is not None and recording.ACTIVE is self._recorder:
            recording.ACTIVE = None
            self._recorder.uninstall()
        self._recorder = None

    def replay(self):
        """Run the recorded calls again, into the buffers of the capture."""
        steps = self._steps
        if steps is None:
            raise RuntimeError(f"Called {self._name('replay')} without a preceding successful capture.")
        if self._stale is not None:
            raise RuntimeError(self._stale)
        if recording.ACTIVE is not None:
            raise RuntimeError(f"Cannot call {self._name('replay')} while a graph is being captured.")
        replay(steps)

    def reset(self):
        """Drop the recording and its buffers (replay then raises; the instance may capture again)."""
        if self._recorder is not None:
            raise RuntimeError(f"Called {self._name('reset')} during a capture: end it with capture_end() first.")
        self._steps = None
        self._buffers = None
        self._stale = None
        recording.LIVE.discard(self)

    def pool(self):
        """The memory-pool token of this graph (pass it to another capture_begin(pool=...), as in PyTorch)."""
        if self._pool is None:
            raise RuntimeError(f"Called {self._name('pool')} before a capture began.")
        return self._pool

    def enable_debug_mode(self):
        """PyTorch's switch for debug_dump(): a recording can always be dumped here."""

    def debug_dump(self, debug_path=None):
        """The recorded calls, one line each (PyTorch writes a CUDA graph's nodes to `debug_path`)."""
        lines = [getattr(getattr(fn, "__wrapped__", fn), "__qualname__", repr(fn)) for fn, _, _, _ in self._steps or ()]
        if debug_path is not None:
            with open(debug_path, "w") as f:
                f.write("\n".join(lines) + "\n")
        return lines


class graph:
    """Capture the code of a `with` block into `cuda_graph` (PyTorch's torch.cuda.graph), on any device."""

    def __init__(self, cuda_graph, pool=None, stream=None, capture_error_mode="global"):
        self.cuda_graph = cuda_graph
        self.pool = pool
        self.capture_error_mode = capture_error_mode

    def __enter__(self):
        self.cuda_graph.capture_begin(self.pool, capture_error_mode=self.capture_error_mode)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.cuda_graph._abandon()
            return False
        self.cuda_graph.capture_end()
        return False
