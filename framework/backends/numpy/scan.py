"""CPU kernels for the scans along one axis beside cumsum (reduction.py): cumprod, cummax, cummin, logcumsumexp.

The op layer wraps the axis; a 0-d input is its own scan. float16/bfloat16 compute in float32 and round once;
integer and bool cumprod accumulate in int64 (PyTorch's result dtype). Gradients are PyTorch's formulas:

    cumprod:       reversed cumsum of (grad * out) / x before a slice's first zero; at the first zero z,
                   out[z-1] * sum over j in [z, next zero) of grad[j] * prod(x[z+1..j]); zero after it.
    cummax/cummin: each gradient added at the index its value came from (scatter_add).
    logcumsumexp:  exp(x) * reversed cumsum of (grad * exp(-out)), computed in logs, the positive and the
                   negative parts of the gradient apart (TensorFlow's and PyTorch's stable form).
"""
import numpy as np

from ...autograd.registry import register
from ...dtypes import lowest_float
from .common import LOW_PRECISION, upcast

_INTEGRAL_KINDS = "biu"


def _rounded(out, dtype):
    return out.astype(dtype) if dtype in LOW_PRECISION else out


def _reversed_cumsum(a, axis):
    return np.flip(np.cumsum(np.flip(a, axis), axis=axis), axis)


# ---- cumprod ----------------------------------------------------------------------------------------------------

def _cumprod_forward(ctx, x, axis):
    if x.ndim == 0:
        out = x.astype(np.int64) if x.dtype.kind in _INTEGRAL_KINDS else x.copy()
    else:
        accumulator = np.int64 if x.dtype.kind in _INTEGRAL_KINDS else None
        out = _rounded(np.cumprod(upcast(x), axis=axis, dtype=accumulator), x.dtype)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, out)
        ctx.axis = axis
    return out


def _cumprod_backward(ctx, g):
    x, out = ctx.saved_tensors
    axis = ctx.axis
    if x.size <= 1 or x.shape[axis] == 1:
        return g.astype(x.dtype, copy=True)
    x32, out32, g32 = upcast(x), upcast(out), upcast(g)
    weighted = out32 * g32
    zero = x32 == 0
    if not zero.any():
        return (_reversed_cumsum(weighted, axis) / x32).astype(x.dtype, copy=False)
    zeros_so_far = np.cumsum(zero, axis=axis)
    before = zeros_so_far == 0  # [0, first zero)
    grad = np.where(before, _reversed_cumsum(np.where(before, weighted, 0), axis) / np.where(before, x32, 1), 0)
    # at the first zero z: out[z-1] * sum_{j in [z, second zero)} g[j] * prod(x[z+1..j])
    first_run = zeros_so_far == 1
    first_zero = np.expand_dims(np.argmax(first_run, axis=axis), axis)
    at_first_zero = np.zeros(x.shape, bool)
    np.put_along_axis(at_first_zero, first_zero, True, axis)
    at_first_zero &= first_run
    after_first = first_run & ~at_first_zero
    products = np.cumprod(np.where(after_first, x32, 1), axis=axis)
    total = np.sum(products * np.where(first_run, g32, 0), axis=axis, keepdims=True)
    previous = np.take_along_axis(out32, np.maximum(first_zero - 1, 0), axis)
    total = total * np.where(first_zero == 0, 1, previous)
    grad = np.where(at_first_zero, total, grad)
    return grad.astype(x.dtype, copy=False)


register("cumprod", "cpu", _cumprod_forward, _cumprod_backward)


# ---- cummax, cummin -----------------------------------------------------------------------------------------------

def _running_extreme(is_max):
    """(values, indices): the running max (min) and where it was last taken: an element takes over when it is NaN,
    or when no NaN came before and it is >= (<=) the running value, as PyTorch (ties move to the later index)."""
    accumulate = np.maximum.accumulate if is_max else np.minimum.accumulate

    def forward(ctx, x, axis):
        if x.ndim == 0 or x.size == 0:
            values, indices = x.copy(), np.zeros(x.shape, np.int64)
        else:
            wide = upcast(x)
            running = accumulate(wide, axis=axis)
            previous = np.concatenate([np.take(running, [0], axis=axis), np.delete(running, -1, axis=axis)], axis)
            takes = (wide >= previous) if is_max else (wide <= previous)
            if wide.dtype.kind not in _INTEGRAL_KINDS:
                takes = np.isnan(wide) | (~np.isnan(previous) & takes)
            shape = [1] * x.ndim
            shape[axis] = x.shape[axis]
            position = np.arange(x.shape[axis]).reshape(shape)
            indices = np.maximum.accumulate(np.where(takes, position, 0), axis=axis).astype(np.int64)
            values = np.take_along_axis(x, indices, axis)
        if ctx.needs_input_grad:
            ctx.save_for_backward(indices)
            ctx.meta = (x.dtype, axis)
        return values, indices

    return forward


def scatter_add_along(g, indices, axis, dtype):
    """zeros(g.shape).scatter_add(axis, indices, g): each gradient added where `indices` point (float64 sums)."""
    if g.ndim == 0:
        return g.astype(dtype, copy=True)
    moved_g = np.moveaxis(upcast(g), axis, -1)
    moved_i = np.moveaxis(indices, axis, -1)
    n = moved_g.shape[-1]
    rows = np.arange(moved_g.size // n if n else 0).reshape(moved_g.shape[:-1] + (1,)) * n
    sums = np.bincount((rows + moved_i).reshape(-1), weights=moved_g.reshape(-1), minlength=moved_g.size)
    return np.moveaxis(sums.reshape(moved_g.shape), -1, axis).astype(dtype)


def _running_extreme_backward(ctx, grads):
    (indices,) = ctx.saved_tensors
    dtype, axis = ctx.meta
    return scatter_add_along(grads[0], indices, axis, dtype)


register("cummax", "cpu", _running_extreme(True), _running_extreme_backward)
register("cummin", "cpu", _running_extreme(False), _running_extreme_backward)


# ---- logcumsumexp -------------------------------------------------------------------------------------------------

def _logcumsumexp_forward(ctx, x, axis):
    out = x.copy() if x.ndim == 0 else _rounded(np.logaddexp.accumulate(upcast(x), axis=axis), x.dtype)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, out)
        ctx.axis = axis
    return out


def _logcumsumexp_backward(ctx, g):
    x, out = ctx.saved_tensors
    if g.ndim == 0 or g.size == 0:
        return g.astype(x.dtype, copy=True)
    axis = ctx.axis
    x32, out32, g32 = upcast(x), upcast(out), upcast(g)
    log_magnitude = np.log(np.abs(g32))
    lowest = lowest_float(g.dtype)  # PyTorch's stand-in for log(0)

    def part(mask):  # exp(x + reversed logcumsumexp(log|g| - out)) over the elements of `mask`
        logs = np.where(mask, log_magnitude, lowest) - out32
        return np.exp(np.flip(np.logaddexp.accumulate(np.flip(logs, axis), axis=axis), axis) + x32)

    return (part(g32 > 0) - part(g32 < 0)).astype(x.dtype, copy=False)


register("logcumsumexp", "cpu", _logcumsumexp_forward, _logcumsumexp_backward)
