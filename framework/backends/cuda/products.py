"""cuda kernels for products beyond matmul (framework/backends/numpy/products.py): linalg_cross is
triton_kernels.cross, forward and backward (a's gradient is b x g, b's is g x a)."""
import numpy as np

from triton_kernels import cross as cross_kernels

from ...autograd.registry import register
from .common import empty, sum_to_shape


def cross(a, b, axis):
    """a x b along `axis`, broadcast; operands whose outer or inner dims do not merge are made contiguous."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = empty(shape, a.dtype)
    a_view, b_view = a.broadcast_to(shape), b.broadcast_to(shape)
    try:
        return cross_kernels.cross(a_view, b_view, out, axis)
    except ValueError:
        return cross_kernels.cross(a_view.copy(), b_view.copy(), out, axis)


def _cross_forward(ctx, a, b, axis):
    if ctx.needs_input_grad:
        need_a, need_b = ctx.needs_input_grad
        ctx.axis = axis
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.shapes = (a.shape, b.shape)
    return cross(a, b, axis)


def _cross_backward(ctx, g):
    a, b = ctx.saved_tensors
    need_a, need_b = ctx.needs_input_grad
    ga = sum_to_shape(cross(b, g, ctx.axis), ctx.shapes[0]) if need_a else None
    gb = sum_to_shape(cross(g, a, ctx.axis), ctx.shapes[1]) if need_b else None
    return ga, gb


register("linalg_cross", "cuda", _cross_forward, _cross_backward)
