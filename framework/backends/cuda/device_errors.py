"""Bad input that kernels find on the device, raised on the host at its next synchronising call.

An index outside its dim (cross_entropy's and nll_loss's targets, embedding, index_select, gather, scatter,
scatter_reduce, index_add/copy/fill, take, x[index], index_put_), a masked_scatter source shorter than its mask
and a binary_cross_entropy input outside [0, 1] are found by the kernels that read them
(triton_kernels/device_errors.py): those touch nothing out of bounds and write a record into the one buffer
this module owns, passed to every such launch with a code saying which op's error it is. The host reads the
record only where it waits for the device anyway: after every copy to the host (`.item()`, `.cpu()`, `.tolist()`,
printing, a comparison read back) and in `framework.cuda.synchronize()` (and Event.synchronize, which calls it):
where the whole stream has finished, so no kernel is still writing the record. So a training step
never waits for a check, and the error arrives a little later than on the CPU, as PyTorch's device-side asserts
do, with the exception and message the CPU raises at once for that op. The record is then cleared, so the
process goes on; whatever the bad launch wrote (a gather of a bad index gives 0) is not to be trusted.

Where the record lives: on a GPU, in pinned host memory that the device writes through (mapped under unified
addressing), so a check is a read of host memory with no copy and no extra launch. When memory cannot be
pinned, in device memory, and each check copies its 32 bytes back. Under Triton's interpreter, device memory
is host memory.
"""
import ctypes

import numpy as np

from triton_kernels.device_errors import RECORD_SIZE
from triton_kernels.host_tensor import HostTensor

from .runtime import runtime

# What a record's code says; `_exception` turns (code, value, arg0, arg1) into the error the CPU raises.
TARGET_OUT_OF_BOUNDS = 1  # cross_entropy, nll_loss, linear_cross_entropy: value is the target
INDEX_OUT_OF_RANGE = 2  # embedding, index_select
INDEX_OUT_OF_BOUNDS = 3  # x[index] and x[index] = value: value, dim, size
GATHER_INDEX_OUT_OF_BOUNDS = 4  # gather, scatter, scatter_add: value, dim, size
NOT_A_PROBABILITY = 5  # binary_cross_entropy: arg0 0 for the input, 1 for the target
TAKE_OUT_OF_RANGE = 6  # take: value, arg1 the number of elements
INDEX_COPY_OUT_OF_BOUNDS = 7  # index_copy: value, dim, size
SOURCE_TOO_SHORT = 8  # masked_scatter: the mask has more ones than the source has elements

_NOTE = ("(found by a `cuda` kernel launched earlier: errors on the device are raised at the next call that waits "
         "for it, so the traceback may not show the op that failed)")


def _exception(code, value, arg0, arg1):
    if code == TARGET_OUT_OF_BOUNDS:
        error = IndexError(f"Target {value} is out of bounds.")
    elif code == INDEX_OUT_OF_RANGE:
        error = IndexError("index out of range in self")
    elif code in (INDEX_OUT_OF_BOUNDS, GATHER_INDEX_OUT_OF_BOUNDS):
        kind = IndexError if code == INDEX_OUT_OF_BOUNDS else RuntimeError
        error = kind(f"index {value} is out of bounds for dimension {arg0} with size {arg1}")
    elif code == TAKE_OUT_OF_RANGE:
        error = IndexError(f"out of range: tried to access index {value} on a tensor of {arg1} elements.")
    elif code == INDEX_COPY_OUT_OF_BOUNDS:
        error = IndexError(f"index_copy_(): index {value} is out of bounds for dimension {arg0} with size {arg1}")
    elif code == SOURCE_TOO_SHORT:
        error = RuntimeError("Number of elements of source < number of ones in mask")
    elif code == NOT_A_PROBABILITY:
        error = RuntimeError(f"all elements of {'target' if arg0 else 'input'} should be between 0 and 1")
    else:
        error = RuntimeError(f"a cuda kernel recorded an unknown error code {code} ({value}, {arg0}, {arg1})")
    if hasattr(error, "add_note"):  # Python 3.11+: shown under the message, leaves str(error) PyTorch's
        error.add_note(_NOTE)
    return error


class _Record:
    """The error record of one runtime: `argument` for kernels, `read()` and `clear()` for the host."""

    def __init__(self, rt):
        self.runtime = rt
        self._pinned = self._device = None
        allocate = getattr(rt, "allocate_mapped", None)
        if allocate is None:  # the interpreter: host memory is the device's memory
            self._host = np.zeros(RECORD_SIZE, np.int64)
        else:
            try:
                self._pinned = allocate(RECORD_SIZE * 8)
            except Exception as error:  # cuda-core's CUDAError("CUDA_ERROR_OUT_OF_MEMORY: ...")
                if "OUT_OF_MEMORY" not in str(error).upper():
                    raise
            if self._pinned is not None:
                address = int(self._pinned.handle)
                self._host = np.ctypeslib.as_array((ctypes.c_int64 * RECORD_SIZE).from_address(address))
                self._host[:] = 0
            else:
                from .array import from_numpy
                self._host = np.zeros(RECORD_SIZE, np.int64)
                self._device = from_numpy(self._host)
        self.argument = HostTensor(self._host) if self._device is None else self._device

    def read(self):
        if self._device is not None:
            self.runtime.copy_device_to_host(self._host, self._device.data_ptr())
        return self._host

    def clear(self):
        self._host[:] = 0
        if self._device is not None:
            self.runtime.copy_host_to_device(self._device.data_ptr(), self._host)


_RECORD = None


def record():
    """The error record to pass to a checking kernel (its `errors` argument), made on first use."""
    global _RECORD
    rt = runtime()
    if _RECORD is None or _RECORD.runtime is not rt:
        _RECORD = _Record(rt)
    return _RECORD.argument


def check():
    """Raise the error a kernel recorded, if any, and clear the record. Called only where every kernel queued so
    far has finished: after a synchronising copy to the host or a synchronize."""
    if _RECORD is None:
        return
    values = _RECORD.read()
    if values[0] == 0:
        return
    code, value, arg0, arg1 = (int(v) for v in values)
    _RECORD.clear()
    raise _exception(code, value, arg0, arg1)
