"""Helpers shared by the cuda kernels: allocation, copies, and running one op's kernel from another's."""
from triton_kernels import copy as _copy_kernels

from ...autograd.graph import KernelContext
from ...autograd.registry import KERNELS
from .array import CudaArray, empty, from_numpy  # noqa: F401  (re-exported for the kernel modules)

_NO_GRAD = KernelContext(())


def contiguous(a):
    """`a` itself when contiguous, else a contiguous copy."""
    return a if a.is_contiguous() else a.copy()


def copy_into(dst, src):
    """dst[...] = src, cast to dst's dtype; `src` (a CudaArray or a Python number) broadcasts to dst's shape."""
    if not isinstance(src, CudaArray):
        _copy_kernels.fill(dst, src)
        return dst
    if src.shape != dst.shape:
        src = src.broadcast_to(dst.shape)
    _copy_kernels.copy(src, dst)
    return dst


def full(shape, value, dtype):
    out = empty(shape, dtype)
    _copy_kernels.fill(out, value)
    return out


def zeros(shape, dtype):
    return full(shape, 0, dtype)


def call(op, *args):
    """Run `op`'s registered cuda forward kernel on raw arguments, outside autograd (to compose kernels)."""
    return KERNELS[op]["cuda"].forward(_NO_GRAD, *args)


def sum_to_shape(grad, shape):
    """Undo broadcasting: sum `grad` over the dims that broadcasting added or stretched."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = call("sum", grad, axes, True)
    return grad.reshape(shape)


def scalar(a):
    """The one element of a device array, on the host (a synchronising copy)."""
    return a.reshape((1,)).to_numpy()[0]

