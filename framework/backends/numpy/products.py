"""CPU kernels for products beyond matmul: linalg_cross (the cross product of 3-vectors along one axis)."""
import numpy as np

from ...autograd.registry import register
from .common import sum_to_shape, upcast


def _cross(a, b, axis):
    return np.cross(a, b, axisa=axis, axisb=axis, axisc=axis)


def _cross_forward(ctx, a, b, axis):
    if ctx.needs_input_grad:
        need_a, need_b = ctx.needs_input_grad
        ctx.axis = axis
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.shapes = (a.shape, b.shape)
    return np.ascontiguousarray(_cross(upcast(a), upcast(b), axis).astype(a.dtype, copy=False))


def _cross_backward(ctx, g):
    """d(a x b) = da x b + a x db: a's gradient is b x g, b's is g x a (summed over broadcast dims)."""
    a, b = ctx.saved_tensors
    need_a, need_b = ctx.needs_input_grad
    g32 = upcast(g)
    ga = sum_to_shape(_cross(upcast(b), g32, ctx.axis), ctx.shapes[0]).astype(g.dtype) if need_a else None
    gb = sum_to_shape(_cross(g32, upcast(a), ctx.axis), ctx.shapes[1]).astype(g.dtype) if need_b else None
    return ga, gb


register("linalg_cross", "cpu", _cross_forward, _cross_backward)
