"""Differentiable formulas of the index functions with kernels of their own (framework/ops/index_ops.py): take,
masked_scatter, scatter_reduce (PyTorch's scatter_reduce_backward, written in framework ops) and scatter's
legacy `reduce=` (PyTorch has no derivative for it). index_add, index_copy and index_fill record scatter_add,
scatter and masked_fill nodes, whose formulas are indexing.py's."""
import math

from ...ops import elementwise as ew
from ...ops.shape import cat
from ..function import run
from . import derivative
from .tools import sum_to, transposed, zeros


@derivative("take", save=(1,), inputs=(0,))
def _take(ctx, g):
    return transposed(ctx, g, (ctx.input(1),)), None


@derivative("masked_scatter", save=(1,), shapes=True, inputs=(0, 2))
def _masked_scatter(ctx, g):
    """x: g where the mask is not set; the source: g where it is, in C order, in its leading elements."""
    need_x, _, need_source = ctx.needs_input_grad
    mask = ctx.input(1)
    grad_x = sum_to(ew.where(mask, 0.0, g), ctx.shape(0)) if need_x else None
    grad_source = None
    if need_source:
        source_shape = ctx.shape(2)
        selected = run("masked_select", (g, mask))
        unread = math.prod(source_shape) - selected.shape[0]  # source elements past the mask's ones
        if unread:
            selected = cat([selected, zeros((unread,), g)])
        grad_source = selected.reshape(source_shape)
    return grad_x, None, grad_source


@derivative("scatter_reduce", save=(0, 1, 2), output=True, shapes=True, inputs=(0, 2))
def _scatter_reduce(ctx, g):
    """sum: g, and g gathered. mean: both divided by the number of values each position averaged. prod: g times
    the product without the factor (self's zeros replaced by 1 and the product recomputed; a src value that is
    its target's only zero gets the product of the others). amax/amin: g shared evenly by every value equal to
    the result. Without include_self, self's gradient is 0 wherever something was scattered."""
    dim, reduce, include_self = ctx.params
    need_x, _, need_src = ctx.needs_input_grad
    index = ctx.input(1)
    gather = lambda t: run("gather", (t, index), (dim,))  # noqa: E731
    if reduce == "sum":
        grad_x, grad_part = g, (gather(g) if need_src else None)
    elif reduce == "mean":
        ones = zeros(tuple(index.shape), g) + 1.0
        counts = run("scatter_add", (zeros(tuple(g.shape), g) + (1.0 if include_self else 0.0), index, ones), (dim,))
        grad_x = g / counts.masked_fill(counts == 0, 1.0)
        grad_part = gather(grad_x) if need_src else None
    else:
        x, out = ctx.input(0), ctx.output()
        part = ctx.input(2)[tuple(slice(0, s) for s in index.shape)]  # the corner of src that was read
        if reduce == "prod":
            grad_x = grad_part = None
            if need_x:
                ones_for_zeros = x.masked_fill(x == 0, 1.0)
                product = run("scatter_reduce", (ones_for_zeros, index, part), ctx.params)
                grad_x = g * product / ones_for_zeros
            if need_src:
                zero = part == 0
                zeros_there = run("scatter_add", (zeros(tuple(x.shape), g), index, zero.to(g.dtype)), (dim,))
                only_zero = zero.logical_and(gather(zeros_there) == 1)
                without_it = run("scatter_reduce", (x, index, part.masked_fill(only_zero, 1.0)), ctx.params)
                grad_part = ew.where(only_zero, gather(g * without_it), gather(g * out) / part.masked_fill(zero, 1.0))
        else:  # amax, amin
            x_is = (x == out).to(g.dtype)
            part_is = (part == gather(out)).to(g.dtype)
            shared = g / run("scatter_add", (x_is, index, part_is), (dim,))
            grad_x = x_is * shared
            grad_part = part_is * gather(shared) if need_src else None
    if need_x and not include_self:
        grad_x = run("scatter", (grad_x, index, 0.0), (dim,))
    grad_src = _padded(grad_part, index, ctx.shape(2)) if need_src else None
    return (grad_x if need_x else None), None, grad_src


def _padded(grad_part, index, src_shape):
    """The gradient of the corner of src that was read, as src's (zeros where src is larger than the index)."""
    if tuple(grad_part.shape) == tuple(src_shape):
        return grad_part
    corner = tuple(slice(0, size) for size in index.shape)
    return run("index_put", (zeros(src_shape, grad_part), grad_part), (corner, ()))


@derivative("scatter_legacy_reduce", inputs=(0, 2))
def _scatter_legacy_reduce(ctx, g):
    raise RuntimeError("derivative for aten::scatter is not implemented")
