"""`framework.cuda`: the CUDA device, as `torch.cuda` spells it.

Kernels are Triton (triton_kernels/), memory comes from the driver through cuda-core. Without a GPU,
`TRITON_INTERPRET=1` (set before importing framework) serves `cuda` from host memory and runs every kernel in
Triton's interpreter: programs written for `cuda` then run unchanged on a laptop or in CI, slowly, which is
the way to debug a kernel. Nothing here imports Triton until a `cuda` tensor is made.
"""
import importlib.util
import os


def _backend():
    from .backends import cuda
    return cuda


class OutOfMemoryError(RuntimeError):
    """Raised when the device cannot serve an allocation; the process can go on."""


def gpu_count():
    """The number of CUDA GPUs the driver reports (0 without a driver or without cuda-bindings)."""
    try:
        from cuda.bindings import driver
    except ImportError:
        return 0
    try:
        (err,) = driver.cuInit(0)
        if int(err) != 0:
            return 0
        err, count = driver.cuDeviceGetCount()
        return int(count) if int(err) == 0 else 0
    except Exception:  # a broken driver install reads as no GPU, never a crash
        return 0


def is_available():
    """True with a CUDA GPU (and cuda-core), or under TRITON_INTERPRET=1 (the interpreter-served device)."""
    if importlib.util.find_spec("triton") is None:
        return False
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        return True
    return gpu_count() > 0


def is_interpreted():
    """True when the `cuda` device runs in Triton's interpreter on host memory."""
    return is_available() and os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _require_available():
    if not is_available():
        from .backends.cuda_requirements import unavailable_reason
        raise RuntimeError(unavailable_reason())
    return _backend().runtime.runtime()


def device_count():
    if not is_available():
        return 0
    return _require_available().device_count


def current_device():
    _require_available()
    return 0


def set_device(device):
    from .device import device as _device
    index = device if isinstance(device, int) else _device(device).index or 0
    if index != 0:
        raise RuntimeError(f"Invalid device id {index}: framework drives one GPU, cuda:0")
    _require_available()


def get_device_name(device=None):
    return _require_available().device_name(0)


def synchronize(device=None):
    """Wait for every queued kernel and copy; raises an error a kernel found on the device (an index out of
    bounds, ...), as PyTorch's device-side asserts surface at the next synchronisation."""
    _require_available().synchronize()
    _backend().device_errors.check()


def memory_allocated(device=None):
    _require_available()
    return _backend().memory.memory_allocated()


def max_memory_allocated(device=None):
    _require_available()
    return _backend().memory.max_memory_allocated()


def reset_peak_memory_stats(device=None):
    _require_available()
    _backend().memory.reset_peak_memory_stats()


def empty_cache():
    if is_available():
        _require_available()
        _backend().memory.empty_cache()


def set_per_process_memory_fraction(fraction, device=None):
    _require_available()
    _backend().memory.set_per_process_memory_fraction(fraction)


class _CudaDeviceProperties:
    """torch.cuda.get_device_properties' fields that this runtime knows: name, major, minor (the compute
    capability), total_memory and L2_cache_size in bytes, multi_processor_count."""

    def __init__(self, name, major, minor, total_memory, multi_processor_count, L2_cache_size):
        self.name, self.major, self.minor = name, major, minor
        self.total_memory, self.multi_processor_count, self.L2_cache_size = (total_memory, multi_processor_count,
                                                                             L2_cache_size)

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // (1 << 20)}MB, multi_processor_count={self.multi_processor_count}, "
                f"L2_cache_size={self.L2_cache_size // (1 << 20)}MB)")


def get_device_properties(device=None):
    return _CudaDeviceProperties(**_require_available().device_properties())


def get_device_capability(device=None):
    """(major, minor) of the GPU's compute capability; (0, 0) under the interpreter."""
    properties = get_device_properties(device)
    return properties.major, properties.minor


class Event:
    """`framework.cuda.Event(enable_timing=True)`: `record()`, `synchronize()`, `elapsed_time(end)` in ms."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        self.enable_timing = enable_timing
        self._mark = None

    def record(self, stream=None):
        self._mark = _require_available().record_time()

    def synchronize(self):
        synchronize()

    def query(self):
        return True if self._mark is None else (self.synchronize() or True)

    def elapsed_time(self, end_event):
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("Both events must be created with argument 'enable_timing=True'.")
        if self._mark is None or end_event._mark is None:
            raise RuntimeError("Both events must be recorded before calculating elapsed time.")
        return _require_available().elapsed_ms(self._mark, end_event._mark)


def manual_seed(seed):
    """Seeds the CUDA generator (Philox); a no-op without a `cuda` device, as in PyTorch."""
    if is_available():
        from .backends.cuda import random as _random
        _random.manual_seed(seed)


manual_seed_all = manual_seed


def is_current_stream_capturing():
    """Whether a framework.cuda.CUDAGraph is being captured now (PyTorch's torch.cuda.is_current_stream_capturing)."""
    from .graphs import recording
    return recording.CUDA_GRAPH is not None


_GRAPH_API = {"CUDAGraph": "graphs", "graph": "graphs", "graph_pool_handle": "graphs",
              "make_graphed_callables": "graphed_callables"}


def __getattr__(name):
    """The CUDA graph API (framework/backends/cuda/graphs.py), loaded on first use: it loads the cuda backend."""
    module = _GRAPH_API.get(name)
    if module is None:
        raise AttributeError(f"module 'framework.cuda' has no attribute '{name}'")
    import importlib
    return getattr(importlib.import_module(f".backends.cuda.{module}", __package__), name)
