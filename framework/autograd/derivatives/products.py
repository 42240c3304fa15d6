"""Differentiable formulas of the cross product and the distances (framework/ops/products.py,
framework/ops/distance.py).

cdist's direct path differentiates PyTorch's _cdist_backward rule per p, written on the (..., P, R, M)
differences: its kernels never hold them, but a graph of the backward must (PyTorch has no second derivative
of cdist's direct path at all: "the derivative for '_cdist_backward' is not implemented"). Where the rule
divides by a distance or a difference that may be 0, the divisor is made safe before the division, so that a
zero subgradient stays 0 (not 0 * inf) when differentiated again."""
import math

from ...ops import elementwise as ew
from ..function import run
from . import derivative
from .tools import sum_to, zeros


@derivative("linalg_cross", save=((0, (1,)), (1, (0,))), shapes=True)
def _linalg_cross(ctx, g):
    """d(a x b) = da x b + a x db: a's gradient is b x g, b's is g x a (PyTorch's linalg_cross rule)."""
    need_a, need_b = ctx.needs_input_grad
    params = ctx.params
    return (ctx.reduce(run("linalg_cross", (ctx.input(1), g), params), 0) if need_a else None,
            ctx.reduce(run("linalg_cross", (g, ctx.input(0)), params), 1) if need_b else None)


def _nonzero(t):
    """`t` with its zeros replaced by 1: a divisor whose quotient is then discarded where `t` is 0."""
    return ew.where(t == 0, 1.0, t)


@derivative("cdist", save=(0, 1), output=True)
def _cdist(ctx, g):
    (p,) = ctx.params
    x1, x2 = ctx.input(0), ctx.input(1)
    need_1, need_2 = ctx.needs_input_grad
    if p == 0:
        return (zeros(x1.shape, g) if need_1 else None), (zeros(x2.shape, g) if need_2 else None)
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
    dist = ctx.output().unsqueeze(-1)
    g = g.unsqueeze(-1)
    if p == 1:
        term = g * diff.sign()
    elif p == 2:
        term = ew.where(dist == 0, 0.0, g * diff / _nonzero(dist))
    elif math.isinf(p):  # every coordinate that attains the maximum gets the gradient
        term = ew.where(diff.abs() == dist, g * diff.sign(), 0.0)
    else:  # sign(diff) |diff|^(p-1) g / dist^(p-1); 0 where dist is 0 and (PyTorch's p < 1 rule) where diff is
        scale = ew.where(dist == 0, 0.0, g / _nonzero(dist).pow(p - 1))
        term = ew.where(diff == 0, 0.0, diff.sign() * _nonzero(diff.abs()).pow(p - 1) * scale)
    return (sum_to(term.sum(-2), x1.shape) if need_1 else None,
            sum_to(-term.sum(-3), x2.shape) if need_2 else None)


@derivative("euclidean_dist", save=(0, 1), output=True)
def _euclidean_dist(ctx, g):
    """PyTorch's _euclidean_dist_backward, which is differentiable: ratio = g / dist (0 where dist is 0)."""
    x1, x2 = ctx.input(0), ctx.input(1)
    dist = ctx.output()
    ratio = ew.where(dist == 0, 0.0, g / _nonzero(dist))
    need_1, need_2 = ctx.needs_input_grad
    grad_1 = sum_to(x1 * ratio.sum(-1, keepdim=True) - ratio @ x2, x1.shape) if need_1 else None
    grad_2 = sum_to(x2 * ratio.sum(-2).unsqueeze(-1) - ratio.mT @ x1, x2.shape) if need_2 else None
    return grad_1, grad_2
