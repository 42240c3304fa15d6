"""cuda kernels for masks: masked_fill, masked_select and masked_scatter, nonzero (triton_kernels.indexing's stream
compaction: per-block counts, an exclusive scan of them on the device, then each block writes in C order).

masked_select and nonzero read the count back to size their output (a sync, as PyTorch's do); masked_scatter
does not: its output has the input's shape, and a source shorter than the mask's ones is found by the write
kernel and raised at the next synchronising call (device_errors.py).
"""
import numpy as np

from triton_kernels import elementwise as E
from triton_kernels import indexing as K
from triton_kernels.strided import MAX_DIMS

from ...autograd.registry import not_differentiable, register
from . import device_errors
from .array import CudaArray
from .common import call, contiguous, empty, scalar, sum_to_shape, zeros
from .indexing import _INT64, _one


def _masked_fill_forward(ctx, x, mask, value):
    ctx.save_for_backward(mask)
    ctx.shape = x.shape
    ctx.value_is_array = isinstance(value, CudaArray)
    shape = np.broadcast_shapes(x.shape, mask.shape)
    fill = _one(value, x.dtype).reshape(()).broadcast_to(shape) if ctx.value_is_array else value
    return E.where(mask.broadcast_to(shape), fill, x.broadcast_to(shape), empty(shape, x.dtype))


def _masked_fill_backward(ctx, g):
    mask, = ctx.saved_tensors
    mask = mask.broadcast_to(g.shape)
    grad_x = grad_value = None
    if ctx.needs_input_grad[0]:
        grad_x = sum_to_shape(E.where(mask, 0, g, empty(g.shape, g.dtype)), ctx.shape)
    if ctx.value_is_array and ctx.needs_input_grad[2]:
        selected = E.where(mask, g, 0, empty(g.shape, g.dtype))
        grad_value = call("sum", selected, tuple(range(g.ndim)), False)
    return grad_x, None, grad_value


register("masked_fill", "cuda", _masked_fill_forward, _masked_fill_backward)


def _count(flags):
    """(block offsets, number of nonzero elements) of `flags`: the count is read back to the host (a sync)."""
    block_offsets = empty((max(1, K.compaction_blocks(flags.size)),), _INT64)
    total = empty((1,), _INT64)
    K.count_nonzero(flags, block_offsets, total)
    return block_offsets, int(scalar(total))


def _masked_select_forward(ctx, x, mask):
    shape = np.broadcast_shapes(x.shape, mask.shape)
    mask = mask.broadcast_to(shape)
    block_offsets, total = _count(mask)
    ctx.save_for_backward(mask)
    ctx.shape, ctx.block_offsets = x.shape, block_offsets
    out = empty((total,), x.dtype)
    K.masked_select_write(x.broadcast_to(shape), mask, block_offsets, out)
    return out


def _masked_select_backward(ctx, g):
    mask, = ctx.saved_tensors
    grad = zeros(mask.shape, g.dtype)
    K.masked_scatter_write(grad, mask, ctx.block_offsets, contiguous(g))
    return sum_to_shape(grad, ctx.shape), None


register("masked_select", "cuda", _masked_select_forward, _masked_select_backward)


def _nonzero_forward(ctx, x):
    if x.ndim > MAX_DIMS:
        raise RuntimeError(f"nonzero on cuda supports tensors of at most {MAX_DIMS} dims, got {x.ndim}")
    block_offsets, total = _count(x if x.ndim else x.reshape((1,)))
    out = empty((total, x.ndim), _INT64)
    if x.ndim:
        K.nonzero_write(x, block_offsets, out)
    return out


register("nonzero", "cuda", _nonzero_forward, not_differentiable)


def _masked_scatter_forward(ctx, x, mask, source):
    """x where not mask, and where mask the source's elements in C order (x and mask broadcast together)."""
    shape = np.broadcast_shapes(x.shape, mask.shape)
    mask = mask.broadcast_to(shape)
    block_offsets = empty((max(1, K.compaction_blocks(mask.size)),), _INT64)
    K.count_nonzero(mask, block_offsets, empty((1,), _INT64))  # offsets only: the total is never read back
    out = x.broadcast_to(shape).copy()
    flat_source = contiguous(source).reshape((source.size,))
    K.masked_scatter_write(out, mask, block_offsets, flat_source, errors=device_errors.record(),
                           error_code=device_errors.SOURCE_TOO_SHORT)
    if ctx.needs_input_grad:
        ctx.save_for_backward(mask)
        ctx.block_offsets, ctx.shapes = block_offsets, (x.shape, source.shape)
    return out


def _masked_scatter_backward(ctx, g):
    """x's gradient where not mask; the source's: g where mask, in C order, in its leading elements."""
    mask, = ctx.saved_tensors
    x_shape, source_shape = ctx.shapes
    grad_x = grad_source = None
    if ctx.needs_input_grad[0]:
        grad_x = sum_to_shape(E.where(mask, 0, g, empty(g.shape, g.dtype)), x_shape)
    if ctx.needs_input_grad[2]:
        flat = zeros((int(np.prod(source_shape)),), g.dtype)
        K.masked_select_write(g, mask, ctx.block_offsets, flat)  # as far as the source has room
        grad_source = flat.reshape(source_shape)
    return grad_x, None, grad_source


register("masked_scatter", "cuda", _masked_scatter_forward, _masked_scatter_backward)
