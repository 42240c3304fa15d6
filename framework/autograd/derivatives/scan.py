"""Differentiable formulas of the scans beside cumsum (framework/ops/scan.py): cumprod, cummax, cummin and
logcumsumexp, PyTorch's backward formulas in framework ops, so that their own derivatives are PyTorch's second
derivatives.

Reversals along a dim are index_selects of the reversed positions (there is no flip op)."""

from ...creation import arange
from ...dtypes import lowest_float
from ...ops import elementwise as ew
from . import derivative
from .tools import zeros


def _flip(x, axis):
    n = x.shape[axis]
    return x.index_select(axis, arange(n - 1, -1, -1, device=x.device))


@derivative("cumprod", save=(0,), output=True)
def _cumprod(ctx, g):
    """PyTorch's cumprod_backward: the reversed cumulative sum of g * out, over x, when no element of x is 0.
    Otherwise element k gets the sum over j >= k of g[j] times the product of x[0..j] without x[k], formed from
    products (O(n^2) per slice, as PyTorch's differentiable path) so that it differentiates again at the zeros."""
    (axis,) = ctx.params
    x = ctx.input(0)
    if x.numel() <= 1 or x.shape[axis] == 1:
        return g
    if not bool((x == 0).any()):
        return _flip(_flip(ctx.output() * g, axis).cumsum(axis), axis) / x
    moved = x.movedim(axis, -1)
    positions = arange(moved.shape[-1], device=x.device)
    # rows[..., k, i]: x[i] with x[k] replaced by 1, so their running products leave x[k] out
    rows = ew.where(positions.unsqueeze(1) == positions, 1.0, moved.unsqueeze(-2))
    later = positions.unsqueeze(1) <= positions  # [k, j]: j >= k
    grad = (ew.where(later, rows.cumprod(-1), 0.0) * g.movedim(axis, -1).unsqueeze(-2)).sum(-1)
    return grad.movedim(-1, axis)


def _running_extreme(op):
    """cummax/cummin: each gradient added at the index its value came from (PyTorch's cummaxmin_backward)."""
    def backward(ctx, grads):
        (axis,) = ctx.params
        g, shape = grads[0], ctx.shape(0)
        if not shape or g.numel() == 0:  # a 0-d input is its own running extreme
            return g
        return zeros(shape, g).scatter_add(axis, ctx.output(1), g)
    derivative(op, output=True, shapes=True)(backward)


_running_extreme("cummax")
_running_extreme("cummin")


@derivative("logcumsumexp", save=(0,), output=True)
def _logcumsumexp(ctx, g):
    """PyTorch's logcumsumexp_backward: exp(x) times the reversed cumulative sum of g * exp(-out), formed in logs,
    the positive and the negative gradients apart (log 0 stands in as the dtype's lowest number)."""
    (axis,) = ctx.params
    if g.ndim == 0 or g.numel() == 0:
        return g
    x, out = ctx.input(0), ctx.output()
    lowest = lowest_float(g._dtype.np)
    log_magnitude = g.abs().log()

    def part(chosen):
        logs = ew.where(chosen, log_magnitude, lowest) - out
        return (_flip(_flip(logs, axis).logcumsumexp(axis), axis) + x).exp()
    return part(g > 0) - part(g < 0)
