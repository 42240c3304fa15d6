"""CUDA graphs on a real GPU: stream capture through cuda-core's GraphBuilder, into a private memory pool.

`StreamCapture` is what framework.cuda.CUDAGraph runs on a DriverRuntime (under Triton's interpreter there is
no stream to capture: CUDAGraph records the backend's kernels instead, framework/graphs).

* Capture happens on a side stream, ordered after the work already queued on the framework's stream, as
  PyTorch does: during capture the runtime's stream *is* the side stream, so every Triton launch (Triton asks
  the runtime for its stream at each launch), copy and fill lands in the graph, in program order.
* Allocations made while capturing come from a `PrivatePool`, not from the device's stream-ordered pool: a
  cuMemAllocFromPoolAsync inside a capture would become a graph memory node that has to be freed before the
  graph may be launched again, while the tensors a step returns (its static outputs) outlive the capture. The
  pool's blocks are plain cuMemAlloc allocations that stay mapped while any graph captured into the pool exists
  (a replay writes them); a block freed during capture is reused by later allocations of the same capture,
  which is safe because the graph runs them in the same order.
* Uploads made while capturing (a fused optimizer's table of tensor addresses, a Python scalar turned into a
  tensor) are copied into pinned host memory that the graph owns, never the runtime's reused staging ring, so
  that each replay copies the bytes the capture saw.
* Launches whose arguments are host values that change from step to step are refused (graphs/recording.py,
  CUDA_GRAPH): a non-capturable optimizer's step (learning rate, step count) and random draws (the
  generator's offset). Capturable Adam/AdamW read those from device memory, so their launches are captured.
* Whatever would make the host wait for the device (a copy to the host such as `.item()`, `synchronize`,
  timing events, autotuning a kernel, `empty_cache`) cannot be captured: the runtime raises
  `capture_error(...)` naming it, and the capture is abandoned.
"""
from ...graphs import recording

# Block sizes are rounded up to this, as PyTorch's allocator rounds small blocks, so that a block freed during a
# capture fits the many same-sized tensors of the next layer.
BLOCK_ROUNDING = 512
# cuda.bindings' CUstreamCaptureMode values (CU_STREAM_CAPTURE_MODE_*): only RELAXED lets this thread make
# "potentially unsafe" calls such as cuMemAlloc while a capture is open.
_CAPTURE_MODE_RELAXED = 2
_CAPTURE_MODES = ("global", "thread_local", "relaxed")


def capture_error(what):
    """The error a host-synchronising call raises while a CUDA graph is being captured."""
    return RuntimeError(f"{what} cannot be captured in a CUDA graph: it makes the host wait for the device. "
                        f"Move it out of the captured region (read values after replay(), or warm up before "
                        f"capture so that nothing is compiled or autotuned during it)")


class _Block:
    """One allocation from a PrivatePool, shaped like the cuda-core Buffer that memory.Storage keeps."""

    __slots__ = ("_pool", "_address", "size")

    def __init__(self, pool, address, size):
        self._pool, self._address, self.size = pool, address, size

    @property
    def handle(self):
        return self._address

    def close(self, stream=None):
        if self._pool is not None:
            self._pool._release(self._address, self.size)
            self._pool = None


class PrivatePool:
    """Device memory that captures allocate from, kept while a graph that writes it may replay.

    Several graphs may share one pool (`CUDAGraph.capture_begin(pool=other.pool())`) when they replay in the
    order they were captured, as in PyTorch. The pool frees its memory when no graph uses it any more and no
    tensor holds one of its blocks."""

    def __init__(self, runtime):
        self._runtime = runtime
        self._free = {}  # rounded size -> addresses of free blocks
        self._live = 0  # blocks handed out and not yet closed
        self.graphs = 0  # graphs captured into this pool and not yet reset
        self.allocated_bytes = 0

    def allocate(self, size, *, stream=None):
        rounded = -(-max(size, 1) // BLOCK_ROUNDING) * BLOCK_ROUNDING
        free = self._free.get(rounded)
        if free:
            address = free.pop()
        else:
            address = int(self._allocate(rounded))
            self.allocated_bytes += rounded
        self._live += 1
        return _Block(self, address, rounded)

    def _allocate(self, nbytes):
        runtime = self._runtime
        if runtime.capture is None:
            return runtime._call("cuMemAlloc", nbytes)
        # cuMemAlloc is not captured (it allocates at once) but counts as a "potentially unsafe" call during a
        # capture: allowed only in relaxed mode, which this thread takes for the call, as PyTorch's allocator does.
        previous = runtime._call("cuThreadExchangeStreamCaptureMode", _CAPTURE_MODE_RELAXED)
        try:
            return runtime._call("cuMemAlloc", nbytes)
        finally:
            runtime._call("cuThreadExchangeStreamCaptureMode", previous)

    def _release(self, address, size):
        self._live -= 1
        self._free.setdefault(size, []).append(address)
        self._maybe_free()

    def graph_reset(self):
        self.graphs -= 1
        self._maybe_free()

    def _maybe_free(self):
        if self.graphs > 0 or self._live > 0 or self._runtime.capture is not None:
            return
        self._runtime.synchronize()  # a replay still queued may write these blocks
        for addresses in self._free.values():
            for address in addresses:
                self._runtime._call("cuMemFree", address)
        self._free.clear()
        self.allocated_bytes = 0


class StreamCapture:
    """One graph: `capture_begin(pool)`, the captured work, `capture_end()`; then `replay()` as often as wanted;
    `reset()`. `abandon()` ends a capture that raised. (framework.graphs.Graph has the same methods.)"""

    def __init__(self, runtime):
        self._runtime = runtime
        self._graph = None
        self._builder = None
        self._pool = None
        self._uploads = []  # pinned host buffers the graph's uploads copy from
        self._saved = None  # the runtime's stream and memory resource, restored at end()

    def capture_begin(self, pool=None, capture_error_mode="global"):
        runtime = self._runtime
        if capture_error_mode not in _CAPTURE_MODES:
            raise ValueError(f"capture_error_mode must be one of {_CAPTURE_MODES}, got {capture_error_mode!r}")
        if runtime.capture is not None:
            raise RuntimeError("Cannot capture a CUDA graph while another capture is underway on this process")
        if self._graph is not None or self._builder is not None:
            raise RuntimeError("This CUDAGraph has already been captured: call reset() before capturing again")
        self._pool = pool if pool is not None else PrivatePool(runtime)
        side = runtime.device.create_stream()
        runtime.make_stream_wait(int(side.handle))  # the capture follows the work already queued
        self._saved = (runtime.stream, runtime.stream_handle, runtime.memory_resource)
        builder = side.create_graph_builder()
        builder.begin_building(capture_error_mode)
        self._builder = builder
        runtime.stream, runtime.stream_handle, runtime.memory_resource = side, int(side.handle), self._pool
        runtime.capture = recording.CUDA_GRAPH = self

    def upload(self, dst_address, host_array):
        """A host-to-device copy inside the capture, from pinned memory the graph keeps (see the module doc)."""
        import ctypes
        runtime = self._runtime
        nbytes = host_array.nbytes
        buffer = runtime._pinned_resource.allocate(max(nbytes, 1))
        address = int(buffer.handle)
        ctypes.memmove(address, host_array.ctypes.data, nbytes)
        self._uploads.append(buffer)
        runtime._call("cuMemcpyHtoDAsync", dst_address, address, nbytes, runtime.stream_handle)

    def capture_end(self):
        runtime = self._runtime
        if runtime.capture is not self:
            raise RuntimeError("capture_end() without a capture_begin() on this graph")
        try:
            self._builder.end_building()
            self._graph = self._builder.complete()
        finally:
            self._restore()
        self._pool.graphs += 1
        self._graph.upload(runtime.stream)

    def abandon(self):
        """End a capture that failed (an exception inside it): nothing is kept, the runtime is as before."""
        if self._runtime.capture is not self:
            return
        try:
            self._builder.end_building()
        except Exception:  # an invalidated capture: ending it is all that is left to do
            pass
        self._restore()
        self._builder = None
        self._uploads = []
        self._pool._maybe_free()

    def _restore(self):
        runtime = self._runtime
        runtime.stream, runtime.stream_handle, runtime.memory_resource = self._saved
        runtime.capture = recording.CUDA_GRAPH = None

    def replay(self):
        if self._graph is None:
            raise RuntimeError("replay() needs a completed capture")
        self._graph.launch(self._runtime.stream)

    def reset(self):
        if self._graph is not None:
            self._graph.close()
            self._graph = None
            self._pool.graph_reset()
        self._builder = None
        self._uploads = []

    def pool(self):
        return self._pool
