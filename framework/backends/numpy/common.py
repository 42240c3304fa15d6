"""Helpers shared by the CPU kernels."""
import functools

import ml_dtypes
import numpy as np

# a frozenset: membership by hash is 5x faster than comparing numpy dtypes one by one
LOW_PRECISION = frozenset((np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)))
_FLOAT32 = np.dtype(np.float32)


def upcast(x):
    """float16/bfloat16 arrays as float32 (PyTorch's CPU kernels compute in float32); others as they are."""
    if isinstance(x, np.ndarray) and x.dtype in LOW_PRECISION:
        return x.astype(_FLOAT32)
    return x


def sum_to_shape(grad, shape):
    """Undo broadcasting: sum `grad` over the dims that broadcasting added or stretched."""
    grad = np.asarray(grad)
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def quiet(fn):
    """`fn` with numpy's floating-point warnings off: inf and nan are results here, as in PyTorch.

    np.errstate costs ~3 us a call, so only kernels that can meet a pole or overflow use this."""
    @functools.wraps(fn)
    def wrapper(*args):
        with np.errstate(all="ignore"):
            return fn(*args)
    return wrapper
