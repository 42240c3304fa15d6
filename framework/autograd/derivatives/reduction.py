"""Differentiable formulas of the reductions, cumsum, softmax and log_softmax (framework/ops/reduction.py).

`axes` in a reduction's params are sorted, wrapped and distinct (the op layer's contract), so `restore`
can unsqueeze them in order."""
import math

from ...ops import elementwise as ew
from ...ops import reduction as red
from . import derivative
from .tools import restore, transposed, zeros


def _count(shape, axes):
    return math.prod(shape[a] for a in axes)


@derivative("sum", shapes=True)
def _sum(ctx, g):
    axes, keepdim = ctx.params
    return restore(g, axes, keepdim, ctx.shape(0))


@derivative("mean", shapes=True)
def _mean(ctx, g):
    axes, keepdim = ctx.params
    shape = ctx.shape(0)
    return restore(g, axes, keepdim, shape) / _count(shape, axes)


@derivative("prod", save=(0,), output=True)
def _prod(ctx, g):
    """PyTorch's prod_backward: g * prod / x when no element is 0; otherwise g times the product of the other
    elements of each slice, formed as a product (so that it differentiates again, zeros included)."""
    axes, keepdim = ctx.params
    x = ctx.input(0)
    if x.ndim == 0:
        return g
    grad = restore(g, axes, keepdim, x.shape)
    if not bool((x == 0).any()):
        return grad * (restore(ctx.output(), axes, keepdim, x.shape) / x)
    return grad * _product_of_others(x, axes[0] if len(axes) == 1 else None)


def _product_of_others(x, axis):
    """For each element, the product of the others along `axis` (of all others when None): each row of an
    (n, n) stack holds the slice with one element replaced by 1. O(n^2), and only where zeros are."""
    from ...creation import arange
    moved = x.reshape(-1) if axis is None else x.movedim(axis, -1)
    n = moved.shape[-1]
    positions = arange(n, device=x.device)
    rows = ew.where(positions.unsqueeze(1) == positions, 1.0, moved.unsqueeze(-2))
    others = rows.prod(-1)
    return others.reshape(x.shape) if axis is None else others.movedim(-1, axis)


def _evenly(op):
    """max()/min() over everything: the gradient is shared among the elements equal to the result (among the
    NaNs when it is NaN), as PyTorch's evenly_distribute_backward does."""
    def backward(ctx, g):
        x, out = ctx.input(0), ctx.output()
        chosen = x.isnan() if bool(out.isnan()) else x == out
        return ew.where(chosen, g / chosen.sum(), 0.0)
    derivative(op, save=(0,), output=True)(backward)


_evenly("max")
_evenly("min")


def _along(op, axis_and_keepdim=lambda params: params):
    """max(dim)/min(dim), and the selecting ops of derivatives/sorting.py: `op` returns (values, indices), and the
    gradient goes to the indices returned (PyTorch's value_selecting_reduction_backward: a scatter into zeros,
    linear in the gradient). `axis_and_keepdim(params)` reads the op's axis and keepdim flag."""
    def backward(ctx, grads):
        g = grads[0]
        axis, keepdim = axis_and_keepdim(ctx.params)
        shape = ctx.shape(0)
        if not shape:  # a 0-d input is its own maximum
            return g
        indices = ctx.output(1)
        if not keepdim:
            g, indices = g.unsqueeze(axis), indices.unsqueeze(axis)
        return zeros(shape, g).scatter(axis, indices, g)
    derivative(op, output=True, shapes=True)(backward)


_along("max_dim")
_along("min_dim")


def _amax_like(op):
    """amax/amin: the gradient is shared evenly among the ties of each reduced slice."""
    def backward(ctx, g):
        axes, keepdim = ctx.params
        x = ctx.input(0)
        chosen = (x == restore(ctx.output(), axes, keepdim, x.shape)).to(g.dtype)
        return restore(g, axes, keepdim, x.shape) / chosen.sum(axes, keepdim=True) * chosen
    derivative(op, save=(0,), output=True)(backward)


_amax_like("amax")
_amax_like("amin")


def _var_backward(g, x, axes, correction, keepdim):
    """PyTorch's var_backward: 2 / (n - correction) * g * (x - mean)."""
    divisor = max(0, _count(x.shape, axes) - correction)
    return restore(g, axes, keepdim, x.shape) * (2.0 / divisor if divisor else math.inf) \
        * (x - x.mean(axes, keepdim=True))


@derivative("var", save=(0,))
def _var(ctx, g):
    axes, correction, keepdim = ctx.params
    return _var_backward(g, ctx.input(0), axes, correction, keepdim)


def _as_var_gradient(g, std):
    """std's gradient g as var's: g / (2 std), 0 where std is 0 (PyTorch's std_backward)."""
    return ew.where(std == 0, 0.0, g / (2 * std))


@derivative("std", save=(0,), output=True)
def _std(ctx, g):
    axes, correction, keepdim = ctx.params
    return _var_backward(_as_var_gradient(g, ctx.output()), ctx.input(0), axes, correction, keepdim)


def _with_mean(ctx, grads, spread_is_std):
    """var_mean/std_mean (one node, two outputs): the spread's gradient plus the mean's, for whichever of the
    two outputs gets one."""
    axes, correction, keepdim = ctx.params
    x = ctx.input(0)
    grad_spread, grad_mean = grads
    total = None
    if grad_spread is not None:
        if spread_is_std:
            grad_spread = _as_var_gradient(grad_spread, ctx.output(0))
        total = _var_backward(grad_spread, x, axes, correction, keepdim)
    if grad_mean is not None:
        part = restore(grad_mean, axes, keepdim, x.shape) / _count(x.shape, axes)
        total = part if total is None else total + part
    return total


@derivative("var_mean", save=(0,))
def _var_mean(ctx, grads):
    return _with_mean(ctx, grads, spread_is_std=False)


@derivative("std_mean", save=(0,), output=True)
def _std_mean(ctx, grads):
    return _with_mean(ctx, grads, spread_is_std=True)


@derivative("norm", save=(0,), output=True)
def _norm(ctx, g):
    """PyTorch's norm_backward, case by case (a zero norm gives a zero gradient)."""
    p, axes, keepdim = ctx.params
    x = ctx.input(0)
    grad = restore(g, axes, keepdim, x.shape)
    norm = restore(ctx.output(), axes, keepdim, x.shape)
    if p == 0:
        return zeros(x.shape, g)
    if p == 1:
        return x.sign() * grad
    if p == 2:
        return x * ew.where(norm == 0, 0.0, grad / norm)
    if math.isinf(p):
        magnitude = x.abs()
        chosen = ((magnitude == norm) | magnitude.isnan()).to(g.dtype)
        return x.sign() * (grad / chosen.sum(axes, keepdim=True) * chosen)
    if p < 1:
        scaled = ew.where(x == 0, 0.0, x.sign() * x.abs().pow(p - 1))
        return scaled * grad * norm.pow(1 - p)
    return x.sign() * x.abs().pow(p - 1) * ew.where(norm == 0, 0.0, grad / norm.pow(p - 1))


@derivative("logsumexp", save=(0,), output=True)
def _logsumexp(ctx, g):
    axes, keepdim = ctx.params
    x = ctx.input(0)
    return restore(g, axes, keepdim, x.shape) * (x - restore(ctx.output(), axes, keepdim, x.shape)).exp()


@derivative("cumsum")
def _cumsum(ctx, g):
    return transposed(ctx, g)  # the reversed cumulative sum, by the kernel; its own gradient is cumsum


def _along_softmax_dim(t):
    return t if t.ndim else t.reshape(1)  # a 0-d input runs along its one implicit dim


@derivative("softmax", kernel_saves="output")
def _softmax(ctx, g):
    (axis,) = ctx.params
    y = ctx.output()
    y1, g1 = _along_softmax_dim(y), _along_softmax_dim(g)
    return (y1 * (g1 - (g1 * y1).sum(axis, keepdim=True))).reshape(y.shape)


@derivative("log_softmax", kernel_saves="output")
def _log_softmax(ctx, g):
    (axis,) = ctx.params
    y = ctx.output()
    y1, g1 = _along_softmax_dim(y), _along_softmax_dim(g)
    return (g1 - y1.exp() * g1.sum(axis, keepdim=True)).reshape(y.shape)
