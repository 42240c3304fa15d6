"""CPU kernels for reductions, cumsum, softmax and log_softmax: one (forward, backward) pair per op.

Every kernel gets its reduced axes already checked and wrapped by the op layer:
`axes` is a sorted tuple of distinct non-negative ints (empty for a 0-d input),
`axis` a single int. float16/bfloat16 inputs are computed in float32 and rounded
once; integer and bool sums and products accumulate in int64, as in PyTorch.
"""
import math

import numpy as np

from ...autograd.registry import not_differentiable, register
from .common import LOW_PRECISION, upcast

_INTEGRAL_KINDS = "biu"


def _rounded(out, dtype):
    """`out` as an ndarray (numpy reductions return scalars) in `dtype` when `dtype` is low precision."""
    out = np.asarray(out)
    return out.astype(dtype) if dtype in LOW_PRECISION else out


def _accumulator(x):
    return np.int64 if x.dtype.kind in _INTEGRAL_KINDS else None


def _restore(g, axes, keepdim, shape):
    """The output gradient `g` broadcast back over the reduced axes of an input of `shape` (a view)."""
    if not keepdim:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _count(shape, axes):
    return math.prod(shape[a] for a in axes)


# ---- sum, mean, prod --------------------------------------------------------

def _sum_like(op, average):
    """sum, or mean when `average`: the mean of nothing is nan, as in PyTorch."""

    def forward(ctx, x, axes, keepdim):
        if ctx.needs_input_grad:
            ctx.meta = (x.shape, x.dtype, axes, keepdim)
        out = np.sum(upcast(x), axis=axes, keepdims=keepdim, dtype=_accumulator(x))
        if average:
            out = out / _count(x.shape, axes)
        return _rounded(out, x.dtype)

    def backward(ctx, g):
        shape, dtype, axes, keepdim = ctx.meta
        if average:
            g = upcast(g) / _count(shape, axes)
        return _restore(g, axes, keepdim, shape).astype(dtype)

    register(op, "cpu", forward, backward)


_sum_like("sum", average=False)
_sum_like("mean", average=True)


def _prod_forward(ctx, x, axes, keepdim):
    """Product over one axis or over all of them (`axes` then names every axis)."""
    if ctx.needs_input_grad:
        ctx.save_for_backward(x)
        ctx.meta = (axes, keepdim)
    return _rounded(np.prod(upcast(x), axis=axes, keepdims=keepdim, dtype=_accumulator(x)), x.dtype)


def _product_of_others(x, axis):
    """For each element, the product of the other elements along `axis`: exact where x has zeros."""
    moved = np.moveaxis(x, axis, -1)
    before = np.ones_like(moved)
    after = np.ones_like(moved)
    before[..., 1:] = np.cumprod(moved[..., :-1], axis=-1)
    after[..., :-1] = np.cumprod(moved[..., :0:-1], axis=-1)[..., ::-1]
    return np.moveaxis(before * after, -1, axis)


def _prod_backward(ctx, g):
    (x,) = ctx.saved_tensors
    axes, keepdim = ctx.meta
    x32 = upcast(x)
    if len(axes) == 1:
        others = _product_of_others(x32, axes[0])
    elif axes:
        others = _product_of_others(x32.reshape(-1), 0).reshape(x.shape)
    else:
        others = np.ones_like(x32)
    return (_restore(upcast(g), axes, keepdim, x.shape) * others).astype(x.dtype, copy=False)


register("prod", "cpu", _prod_forward, _prod_backward)


# ---- max and min ------------------------------------------------------------

def _full_extreme(op, reduce):
    """max()/min() over every element; the gradient is shared evenly among the elements that tie
    (among the NaNs when the result is NaN), as PyTorch's evenly_distribute_backward does."""

    def forward(ctx, x):
        out = _rounded(reduce(upcast(x)), x.dtype)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        x32, out32 = upcast(x), upcast(out)
        chosen = np.isnan(x32) if np.isnan(out32) else x32 == out32
        grad = np.zeros(x.shape, dtype=x.dtype)
        grad[chosen] = upcast(g) / np.count_nonzero(chosen)
        return grad

    register(op, "cpu", forward, backward, op.capitalize() + "Backward1")


_full_extreme("max", np.max)
_full_extreme("min", np.min)


def _extreme_along(op, arg_reduce):
    """max(dim)/min(dim): (values, indices); the gradient goes to the index returned."""

    def forward(ctx, x, axis, keepdim):
        if x.ndim == 0:
            return x.copy(), np.zeros((), dtype=np.int64)
        indices = np.expand_dims(arg_reduce(upcast(x), axis=axis), axis).astype(np.int64, copy=False)
        values = np.take_along_axis(x, indices, axis)
        if ctx.needs_input_grad:
            ctx.save_for_backward(indices)
            ctx.meta = (x.shape, x.dtype, axis)
        if not keepdim:
            values, indices = values.squeeze(axis), indices.squeeze(axis)
        return values, indices

    def backward(ctx, grads):
        g = grads[0]
        if not ctx.saved_tensors:  # 0-d input: the value is the input
            return g.copy()
        (indices,) = ctx.saved_tensors
        shape, dtype, axis = ctx.meta
        grad = np.zeros(shape, dtype=dtype)
        np.put_along_axis(grad, indices, g.reshape(indices.shape), axis)
        return grad

    register(op + "_dim", "cpu", forward, backward, op.capitalize() + "Backward0")


_extreme_along("max", np.argmax)
_extreme_along("min", np.argmin)


def _amax_like(op, reduce):
    """amax/amin over `axes`; the gradient is shared evenly among the ties of each reduced slice."""

    def forward(ctx, x, axes, keepdim):
        out = _rounded(reduce(upcast(x), axis=axes, keepdims=keepdim), x.dtype)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, out)
            ctx.meta = (axes, keepdim)
        return out

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        chosen = upcast(x) == _restore(upcast(out), axes, keepdim, x.shape)
        ties = np.sum(chosen, axis=axes, keepdims=True)
        grad = _restore(upcast(g), axes, keepdim, x.shape) / ties * chosen
        return grad.astype(x.dtype, copy=False)

    register(op, "cpu", forward, backward)


_amax_like("amax", np.max)
_amax_like("amin", np.min)


def _arg_extreme(op, reduce):
    def forward(ctx, x, axis, keepdim):
        if axis is None:  # over the flattened input
            index = np.asarray(reduce(upcast(x)), dtype=np.int64)
            return index.reshape((1,) * x.ndim) if keepdim else index
        if x.ndim == 0:
            return np.zeros((), dtype=np.int64)
        return np.asarray(reduce(upcast(x), axis=axis, keepdims=keepdim), dtype=np.int64)

    register(op, "cpu", forward, not_differentiable)


_arg_extreme("argmax", np.argmax)
_arg_extreme("argmin", np.argmin)


# ---- var, std, norm, logsumexp ---------------------------------------------

def _deviation_sums(x32, axes, keepdim, correction):
    """(x - mean over axes, sum of squared deviations / max(0, n - correction))."""
    deviation = x32 - np.mean(x32, axis=axes, keepdims=True) if x32.size else x32
    divisor = max(0, _count(x32.shape, axes) - correction)
    var = np.sum(deviation * deviation, axis=axes, keepdims=keepdim) / x32.dtype.type(divisor)
    return deviation, np.asarray(var, dtype=x32.dtype), divisor


def _spread(op, root):
    """var, or std when `root` (whose gradient is 0 where std is 0, as in PyTorch)."""

    def forward(ctx, x, axes, correction, keepdim):
        out = _deviation_sums(upcast(x), axes, keepdim, correction)[1]
        out = _rounded(np.sqrt(out) if root else out, x.dtype)
        if ctx.needs_input_grad:
            ctx.save_for_backward(*((x, out) if root else (x,)))
            ctx.meta = (axes, correction, keepdim)
        return out

    def backward(ctx, g):
        x, *std = ctx.saved_tensors
        axes, correction, keepdim = ctx.meta
        g32 = upcast(g)
        deviation, _, divisor = _deviation_sums(upcast(x), axes, keepdim, correction)
        if root:
            std32 = upcast(std[0])
            g32 = np.where(std32 == 0, 0, g32 / (2 * std32)).astype(std32.dtype, copy=False)
        scale = 2 * g32 / g32.dtype.type(divisor)
        return (_restore(scale, axes, keepdim, x.shape) * deviation).astype(x.dtype, copy=False)

    register(op, "cpu", forward, backward)


_spread("var", root=False)
_spread("std", root=True)


def _vector_norm(x32, p, axes, keepdim):
    magnitude = np.abs(x32)
    if p == 0:
        return np.sum(magnitude != 0, axis=axes, keepdims=keepdim).astype(x32.dtype)
    if p == math.inf:
        return np.max(magnitude, axis=axes, keepdims=keepdim)
    if p == -math.inf:
        return np.min(magnitude, axis=axes, keepdims=keepdim)
    if p == 1:
        return np.sum(magnitude, axis=axes, keepdims=keepdim)
    if p == 2:
        return np.sqrt(np.sum(x32 * x32, axis=axes, keepdims=keepdim))
    return np.sum(magnitude ** p, axis=axes, keepdims=keepdim) ** (1 / p)


def _norm_forward(ctx, x, p, axes, keepdim):
    out = _rounded(_vector_norm(upcast(x), p, axes, keepdim), x.dtype)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, out)
        ctx.meta = (p, axes, keepdim)
    return out


def _norm_backward(ctx, g):
    """PyTorch's norm_backward, case by case (zero norms give zero gradients)."""
    x, out = ctx.saved_tensors
    p, axes, keepdim = ctx.meta
    x32 = upcast(x)
    g32 = _restore(upcast(g), axes, keepdim, x.shape)
    norm = _restore(upcast(out), axes, keepdim, x.shape)
    if p == 0:
        grad = np.zeros_like(x32)
    elif p == 1:
        grad = np.sign(x32) * g32
    elif p == 2:
        grad = x32 * np.where(norm == 0, 0, g32 / norm)
    elif math.isinf(p):
        magnitude = np.abs(x32)
        chosen = (magnitude == norm) | np.isnan(magnitude)
        ties = np.sum(chosen, axis=axes, keepdims=True)
        grad = np.sign(x32) * (g32 / ties * chosen)
    elif p < 1:
        scaled = np.where(x32 == 0, 0, np.sign(x32) * np.abs(x32) ** (p - 1))
        grad = scaled * g32 * norm ** (1 - p)
    else:
        scaled = np.sign(x32) * np.abs(x32) ** (p - 1)
        grad = scaled * np.where(norm == 0, 0, g32 / norm ** (p - 1))
    return grad.astype(x.dtype, copy=False)


register("norm", "cpu", _norm_forward, _norm_backward, "LinalgVectorNormBackward0")


def _logsumexp_forward(ctx, x, axes, keepdim):
    """max-shifted log(sum(exp(x))); rows of -inf give -inf and rows holding +inf give +inf."""
    x32 = upcast(x)
    if x32.size:
        shift = np.max(x32, axis=axes, keepdims=True)
        shift = np.where(np.isinf(shift), 0, shift).astype(x32.dtype, copy=False)
    else:
        shift = np.zeros((1,) * x32.ndim, dtype=x32.dtype)
    total = np.log(np.sum(np.exp(x32 - shift), axis=axes, keepdims=True)) + shift
    out = _rounded(total if keepdim else np.squeeze(total, axis=axes), x.dtype)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, out)
        ctx.meta = (axes, keepdim)
    return out


def _logsumexp_backward(ctx, g):
    x, out = ctx.saved_tensors
    axes, keepdim = ctx.meta
    weights = np.exp(upcast(x) - _restore(upcast(out), axes, keepdim, x.shape))
    return (_restore(upcast(g), axes, keepdim, x.shape) * weights).astype(x.dtype, copy=False)


register("logsumexp", "cpu", _logsumexp_forward, _logsumexp_backward)


# ---- all, any, count_nonzero ------------------------------------------------

def _logical_reduce(reduce):
    def forward(ctx, x, axes, keepdim):
        out = np.asarray(reduce(upcast(x), axis=axes, keepdims=keepdim))
        return out.astype(np.uint8) if x.dtype == np.uint8 else out  # PyTorch keeps uint8 for uint8
    return forward


register("all", "cpu", _logical_reduce(np.all), not_differentiable)
register("any", "cpu", _logical_reduce(np.any), not_differentiable)
register("count_nonzero", "cpu",
         lambda ctx, x, axes: np.asarray(np.sum(upcast(x) != 0, axis=axes, dtype=np.int64)), not_differentiable)


# ---- cumsum, softmax, log_softmax: along one axis ---------------------------

def _cumsum_forward(ctx, x, axis):
    if ctx.needs_input_grad:
        ctx.meta = (x.dtype, axis)
    if x.ndim == 0:
        return x.astype(np.int64) if x.dtype.kind in _INTEGRAL_KINDS else x.copy()
    return _rounded(np.cumsum(upcast(x), axis=axis, dtype=_accumulator(x)), x.dtype)


def _cumsum_backward(ctx, g):
    dtype, axis = ctx.meta
    if g.ndim == 0:
        return g.astype(dtype)
    reversed_g = np.flip(upcast(g), axis)
    return np.flip(np.cumsum(reversed_g, axis=axis), axis).astype(dtype)


register("cumsum", "cpu", _cumsum_forward, _cumsum_backward)


def _at_least_1d(a):
    """A 0-d array as shape (1,): softmax of a scalar runs along its one (implicit) dim."""
    return a.reshape(a.shape or (1,))


def _shifted(x32, axis):
    """x minus its max along `axis`: the stable input of exp. A row of -inf becomes nan, as in PyTorch."""
    if x32.shape[axis] == 0:
        return x32
    return x32 - np.max(x32, axis=axis, keepdims=True)


def _softmax_forward(ctx, x, axis):
    exps = np.exp(_shifted(_at_least_1d(upcast(x)), axis))
    out = _rounded((exps / np.sum(exps, axis=axis, keepdims=True)).reshape(x.shape), x.dtype)
    if ctx.needs_input_grad:
        ctx.save_for_backward(out)
        ctx.axis = axis
    return out


def _softmax_backward(ctx, g):
    (out,) = ctx.saved_tensors
    out32, g32 = _at_least_1d(upcast(out)), _at_least_1d(upcast(g))
    grad = out32 * (g32 - np.sum(g32 * out32, axis=ctx.axis, keepdims=True))
    return grad.reshape(out.shape).astype(out.dtype, copy=False)


def _log_softmax_forward(ctx, x, axis):
    shifted = _shifted(_at_least_1d(upcast(x)), axis)
    log_total = np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    out = _rounded((shifted - log_total).reshape(x.shape), x.dtype)
    if ctx.needs_input_grad:
        ctx.save_for_backward(out)
        ctx.axis = axis
    return out


def _log_softmax_backward(ctx, g):
    (out,) = ctx.saved_tensors
    out32, g32 = _at_least_1d(upcast(out)), _at_least_1d(upcast(g))
    grad = g32 - np.exp(out32) * np.sum(g32, axis=ctx.axis, keepdims=True)
    return grad.reshape(out.shape).astype(out.dtype, copy=False)


register("softmax", "cpu", _softmax_forward, _softmax_backward)
register("log_softmax", "cpu", _log_softmax_forward, _log_softmax_backward)
