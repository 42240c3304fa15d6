"""Device memory: storages, the allocator behind them, and the statistics `framework.cuda` reports.

On a GPU, storage comes from cuda-core's DeviceMemoryResource: a stream-ordered pool
(cuMemAllocFromPoolAsync), so allocating and freeing cost microseconds and freed blocks are reused, as
with PyTorch's caching allocator. Under the interpreter, storage is a numpy byte array on the host.
Sizes are counted rounded up to 512 bytes, as PyTorch's allocator reports them.
"""
import weakref

import numpy as np

from ...cuda import OutOfMemoryError
from .runtime import runtime

ROUNDING = 512




class _Stats:
    allocated = 0
    peak = 0
    memory_fraction = 1.0


STATS = _Stats()
# Under the interpreter, every live storage (host memory): a CUDA graph capture there runs its kernels, and puts
# back afterwards what they wrote, since a GPU's capture runs nothing (graphs.py, snapshot_device_memory).
HOST_STORAGES = weakref.WeakSet()


def _format_bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} bytes"


class Storage:
    """One allocation: `address` is its first byte on the device (or on the host under the interpreter)."""

    __slots__ = ("address", "nbytes", "host", "_buffer", "_counted", "__weakref__")

    def __init__(self, nbytes):
        self._counted = 0
        self._buffer = None
        rt = runtime()
        counted = -(-max(nbytes, 1) // ROUNDING) * ROUNDING
        limit = int(rt.total_memory * STATS.memory_fraction)
        if STATS.allocated + counted > limit:
            raise OutOfMemoryError(_oom_message(nbytes, rt, limit))
        self.nbytes = nbytes
        self.host = None
        if hasattr(rt, "memory_resource"):
            try:
                self._buffer = rt.memory_resource.allocate(max(nbytes, 1), stream=rt.stream)
            except Exception as error:  # cuda-core's CUDAError("CUDA_ERROR_OUT_OF_MEMORY: ...")
                if "OUT_OF_MEMORY" not in str(error).upper():
                    raise
                raise OutOfMemoryError(_oom_message(nbytes, rt, limit)) from None
            self.address = int(self._buffer.handle)
        else:
            # 64-byte aligned, like a device allocation: kernels may rely on 16-byte alignment of buffers
            raw = np.empty(max(nbytes, 1) + 64, dtype=np.uint8)
            start = (-raw.ctypes.data) % 64
            self.host = raw[start:start + max(nbytes, 1)]
            self.address = self.host.ctypes.data
            HOST_STORAGES.add(self)
        self._counted = counted
        STATS.allocated += counted
        if STATS.allocated > STATS.peak:
            STATS.peak = STATS.allocated

    def __del__(self):
        if STATS is None:  # interpreter shutdown, this module's globals already cleared (a storage kept in a global)
            return
        STATS.allocated -= self._counted
        if self._buffer is not None:
            try:
                self._buffer.close(runtime().stream)  # stream-ordered: freed after the kernels using it
            except Exception:  # interpreter shutdown: the context is gone with the process
                pass


def _oom_message(nbytes, rt, limit):
    free = max(limit - STATS.allocated, 0)
    return (f"CUDA out of memory. Tried to allocate {_format_bytes(nbytes)}. Device has a total capacity of "
            f"{_format_bytes(rt.total_memory)} of which {_format_bytes(free)} is free "
            f"({_format_bytes(STATS.allocated)} allocated by framework; per-process memory fraction "
            f"{STATS.memory_fraction:g}).")


def snapshot_device_memory():
    """Under the interpreter: a function that puts every storage alive now back as it is now."""
    saved = [(storage, storage.host.copy()) for storage in list(HOST_STORAGES)]

    def restore():
        for storage, content in saved:
            storage.host[...] = content
    return restore


def memory_allocated():
    return STATS.allocated


def max_memory_allocated():
    return STATS.peak


def reset_peak_memory_stats():
    STATS.peak = STATS.allocated


def set_per_process_memory_fraction(fraction):
    if not 0 <= fraction <= 1:
        raise ValueError(f"Invalid fraction value: {fraction}. Allowed range: 0~1")
    STATS.memory_fraction = float(fraction)


def empty_cache():
    """Return the pool's unused memory to the driver (a no-op under the interpreter)."""
    release = getattr(runtime(), "empty_cache", None)
    if release is not None:
        release()
