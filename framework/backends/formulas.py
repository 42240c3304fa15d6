"""Backward formulas written once over registered kernels, so every device runs the same one.

scatter_reduce's gradient (PyTorch's scatter_reduce_backward) is a composition of gathers, scatter-adds and
elementwise ops; it is written here in terms of the registry's forward kernels (`_kernel(device, op, ...)` on
raw arrays), and each backend registers it with its own `full` (an array of one value). It runs outside
autograd, as every backward kernel does.
"""
import numpy as np

from ..autograd.graph import KernelContext
from ..autograd.registry import KERNELS


def identity(reduce, dtype):
    """The value a position starts from when include_self=False: the reduction's identity in `dtype`."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if dtype.kind == "b":
        return reduce == "amin"
    if dtype.kind == "f" or dtype.name == "bfloat16":
        return -np.inf if reduce == "amax" else np.inf
    info = np.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _kernel(device, op, *args):
    return KERNELS[op][device].forward(KernelContext(None), *args)


def scatter_reduce_backward(device, full, ctx, g):
    """(grad self, None, grad src) of out = scatter_reduce(self, dim, index, src, reduce, include_self).

    sum: g, and g gathered. mean: both divided by the number of values each position averaged. prod: g * out /
    self, with zeros handled exactly (self's zeros replaced by 1 and the product recomputed; a src position that
    is its target's only zero gets the product of the others). amax/amin: g shared evenly by every value equal
    to the result. Without include_self, self's gradient is 0 wherever something was scattered."""
    k = lambda op, *args: _kernel(device, op, *args)  # noqa: E731
    index, x, src, out = ctx.saved_tensors
    dim, reduce, include_self = ctx.params
    need_x, _, need_src = ctx.needs_input_grad
    corner = tuple(slice(0, s) for s in index.shape)  # the corner of src that was read
    part = src[corner] if src is not None else None  # kept for prod, amax and amin only
    dtype = g.dtype
    if reduce == "sum":
        grad_x, grad_part = g, (k("gather", g, index, dim) if need_src else None)
    elif reduce == "mean":
        counts = k("scatter_add", full(g.shape, 1 if include_self else 0, dtype), index, full(index.shape, 1, dtype),
                   dim)
        grad_x = k("div", g, k("masked_fill", counts, k("eq", counts, 0), 1))
        grad_part = k("gather", grad_x, index, dim) if need_src else None
    elif reduce == "prod":
        grad_x = grad_part = None
        if need_x:
            ones_for_zeros = k("masked_fill", x, k("eq", x, 0), 1)
            product = k("scatter_reduce", ones_for_zeros, index, part, dim, "prod", include_self)
            grad_x = k("div", k("mul", g, product), ones_for_zeros)
        if need_src:
            zero = k("eq", part, 0)
            zeros_there = k("scatter_add", full(x.shape, 0, dtype), index, k("to_copy", zero, dtype), dim)
            only_zero = k("logical_and", zero, k("eq", k("gather", zeros_there, index, dim), 1))
            without_it = k("scatter_reduce", x, index, k("masked_fill", part, only_zero, 1), dim, "prod",
                           include_self)
            grad_part = k("where", only_zero, k("gather", k("mul", g, without_it), index, dim),
                          k("div", k("gather", k("mul", g, out), index, dim), k("masked_fill", part, zero, 1)))
    else:  # amax, amin
        value = k("gather", out, index, dim)
        x_is = k("to_copy", k("eq", x, out), dtype)
        part_is = k("to_copy", k("eq", part, value), dtype)
        shared = k("div", g, k("scatter_add", x_is, index, part_is, dim))
        grad_x = k("mul", x_is, shared)
        grad_part = k("mul", part_is, k("gather", shared, index, dim)) if need_src else None
    if need_x and not include_self:
        grad_x = k("scatter", grad_x, index, 0, dim)
    grad_src = grad_part
    if need_src and tuple(index.shape) != tuple(ctx.src_shape):  # src larger than index: the rest was not read
        grad_src = k("index_put", full(ctx.src_shape, 0, dtype), grad_part, corner, ())
    return (grad_x if need_x else None), None, grad_src
