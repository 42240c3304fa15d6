"""A tensor's memory as MPI moves it, and the Work handle of an asynchronous collective.

A contiguous CPU tensor hands MPI its own numpy array: the collective reads and writes the
tensor in place, no copy. A non-contiguous one goes through a contiguous copy, written back
when the operation completes. float16 and bfloat16 travel as their raw 16-bit words; when
they are reduced they are staged in float32 (MPI has no bfloat16 arithmetic), so sums
accumulate in float32 and round once, the framework's rule for reduced precision.
"""
import functools

import numpy as np

from ..random import _is_reduced

# asked per collective, and numpy's dtype.name (which _is_reduced reads) costs microseconds: remember the answer
_is_16_bit_float = functools.lru_cache(maxsize=None)(_is_reduced)

_CUDA_NEEDS_NCCL = ("framework.distributed: the 'mpi' backend moves CPU tensors only; this tensor is on {device}. "
                    "cuda tensors need the 'nccl' backend: init_process_group('nccl') (or 'cpu:mpi,cuda:nccl' "
                    "for both), or new_group(backend='nccl').")


def check_cpu(tensor, name="tensor"):
    from ..tensor import Tensor
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a framework.Tensor, got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise RuntimeError(_CUDA_NEEDS_NCCL.format(device=tensor.device))
    return tensor


def wire_view(array):
    """`array` as MPI can name its elements: 16-bit floats as uint16 words, booleans as bytes."""
    if _is_16_bit_float(array.dtype):
        return array.view(np.uint16)
    if array.dtype == np.bool_:
        return array.view(np.uint8)
    return array


class Buffer:
    """The memory a collective uses for `tensor`: `.array` is what MPI sees. `reduce=True` stages
    16-bit floats in float32; `written=True` means MPI writes it (finish() then stores it back)."""

    def __init__(self, tensor, reduce=False, written=False, name="tensor"):
        self.tensor = check_cpu(tensor, name)
        self.written = written
        data = tensor._data
        if reduce and _is_16_bit_float(data.dtype):
            self.staging = data.astype(np.float32)
        elif not data.flags.c_contiguous:
            self.staging = np.ascontiguousarray(data)
        else:
            self.staging = None
        self.array = wire_view(data if self.staging is None else self.staging)

    @property
    def values(self):
        """The elements in their own dtype (float32 while staged for a reduction): for AVG's division."""
        return self.tensor._data if self.staging is None else self.staging

    def finish(self):
        if self.written:
            if self.staging is not None:
                self.tensor._data[...] = self.staging.astype(self.tensor._data.dtype, copy=False)
            self.tensor._version_counter[0] += 1


class Work:
    """What an `async_op=True` collective returns: `wait()` blocks until it is done (then the
    output tensors hold the result); `is_completed()` asks without blocking."""

    def __init__(self, requests, finish=None):
        self._requests = list(requests)
        self._finish = finish
        self._done = False

    def _complete(self):
        if not self._done:
            self._done = True
            if self._finish is not None:
                self._finish()

    def wait(self, timeout=None):
        from mpi4py import MPI
        MPI.Request.Waitall(self._requests)
        self._complete()
        return True

    def is_completed(self):
        from mpi4py import MPI
        if not self._done and MPI.Request.Testall(self._requests):
            self._complete()
        return self._done

    def is_success(self):
        return self.is_completed()

    def result(self):
        self.wait()
        return []


def finished(requests, finish, async_op):
    """Run an operation's epilogue now (blocking call) or at wait() (async_op): returns the Work or None."""
    work = Work(requests, finish)
    if async_op:
        return work
    work.wait()
    return None
