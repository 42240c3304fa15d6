"""Helpers shared by the CPU kernels."""
import numpy as np

from ...dtypes import LOW_PRECISION_NUMPY as LOW_PRECISION  # float16, and bfloat16 once ml_dtypes is loaded
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
        # accumulate float16/bfloat16 in float32 as PyTorch does: numpy sums them in their own precision
        grad = upcast(grad).sum(axis=axes, keepdims=True).astype(grad.dtype, copy=False)
    return grad.reshape(shape)



try:  # numpy >= 2.0 keeps its error state in a context variable; setting it costs ~0.1 us
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj
    _IGNORE_ALL = _make_extobj(all="ignore")
except ImportError:  # pragma: no cover - numpy moved its internals; np.errstate (~3 us) still works
    _extobj_contextvar = None


def without_float_warnings(kernel):
    """`kernel` with numpy's floating-point warnings off (np.errstate semantics, a tenth of its cost)."""
    if _extobj_contextvar is None:
        def quiet(*args):
            with np.errstate(all="ignore"):
                return kernel(*args)
    else:
        def quiet(*args):
            token = _extobj_contextvar.set(_IGNORE_ALL)
            try:
                return kernel(*args)
            finally:
                _extobj_contextvar.reset(token)
    quiet._quiet = True
    quiet.__name__ = getattr(kernel, "__name__", "kernel")
    quiet.__wrapped__ = kernel
    return quiet
