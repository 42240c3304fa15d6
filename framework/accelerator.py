"""`framework.accelerator`: PyTorch's device-agnostic questions (`torch.accelerator`), answered for `cuda`.

The one accelerator here is `cuda`: a GPU, or Triton's interpreter when TRITON_INTERPRET=1 serves it from host
memory (framework/cuda.py). Without either there is no accelerator: `current_accelerator()` is None,
`is_available()` False, `device_count()` 0, and the questions that need a device raise PyTorch's RuntimeError.
Every answer comes from framework.cuda, so the two never disagree.
"""
import collections

from . import cuda as _cuda
from .device import device as _device

_NONE_AVAILABLE = "Cannot access accelerator device when none is available."


def is_available():
    """Whether an accelerator can be used in this process (a GPU, or the interpreter-served `cuda`)."""
    return _cuda.is_available()


def current_accelerator(check_available=False):
    """`device(type='cuda')` when cuda is served, else None (PyTorch returns None without a built accelerator;
    `check_available=True` also returns None when it is built but not usable: here the two coincide)."""
    return _device("cuda") if _cuda.is_available() else None


def device_count():
    """How many accelerator devices there are (0 without one)."""
    return _cuda.device_count() if _cuda.is_available() else 0


def _require():
    if not _cuda.is_available():
        raise RuntimeError(_NONE_AVAILABLE)


def _index(device):
    """The device index that `device` (an int, 'cuda:1', a device, or None for the current one) names."""
    if device is None:
        return current_device_index()
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    parsed = _device(device)
    if parsed.type != "cuda":
        raise ValueError(f"{parsed.type} doesn't match the current accelerator cuda.")
    return parsed.index if parsed.index is not None else current_device_index()


def current_device_index():
    """The index of the current accelerator device (0: framework drives one GPU)."""
    _require()
    return _cuda.current_device()


def set_device_index(device):
    """Make `device` (an int, 'cuda:0' or a device) the current one; only 0 exists here."""
    _require()
    _cuda.set_device(_index(device))


current_device_idx = current_device_index  # PyTorch's older (deprecated) names, still in use
set_device_idx = set_device_index


class device_index:
    """`with framework.accelerator.device_index(i):` runs the block with device `i` current (None: unchanged)."""

    def __init__(self, device, /):
        self.idx = device
        self.prev_idx = -1

    def __enter__(self):
        if self.idx is not None:
            self.prev_idx = current_device_index()
            set_device_index(self.idx)

    def __exit__(self, *exc_info):
        if self.idx is not None:
            set_device_index(self.prev_idx)


def synchronize(device=None, /):
    """Wait for all the work queued on the device; raises an error a kernel found there (see framework.cuda)."""
    _require()
    _index(device)
    _cuda.synchronize()


def get_device_capability(device=None, /):
    """{'supported_dtypes': the dtypes a tensor on the device may have}, PyTorch's key."""
    _require()
    _index(device)
    from . import dtypes
    return {"supported_dtypes": {dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64, dtypes.int8, dtypes.int16,
                       dtypes.int32, dtypes.int64, dtypes.uint8, dtypes.bool}}


# ---- memory statistics (what torch.accelerator.memory has and this allocator knows) ----------------------------

def memory_allocated(device_index=None, /):
    """Bytes the framework's tensors hold on the device now (counted in 512-byte units, as PyTorch's allocator)."""
    _require()
    return _cuda.memory_allocated(_index(device_index))


def max_memory_allocated(device_index=None, /):
    """The peak of memory_allocated since the start or the last reset_peak_memory_stats."""
    _require()
    return _cuda.max_memory_allocated(_index(device_index))


def reset_peak_memory_stats(device_index=None, /):
    _require()
    _cuda.reset_peak_memory_stats(_index(device_index))


def empty_cache():
    """Give the allocator's unused cached memory back to the driver."""
    _require()
    _cuda.empty_cache()


def memory_stats(device_index=None, /):
    """An OrderedDict of the allocator's statistics under PyTorch's keys (the ones this allocator counts)."""
    _require()
    index = _index(device_index)
    current, peak = _cuda.memory_allocated(index), _cuda.max_memory_allocated(index)
    return collections.OrderedDict([("allocated_bytes.all.current", current), ("allocated_bytes.all.peak", peak)])
