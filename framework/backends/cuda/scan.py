"""cuda kernels for cumprod, cummax, cummin and logcumsumexp: the cpu kernels' signatures and results
(backends/numpy/scan.py), computed by triton_kernels.scan.

cumprod's gradient is one reverse scan (triton_kernels.scan: no division, zeros need no special case);
cummax/cummin's adds each gradient at the index its value came from (the scatter_add kernel, as PyTorch);
logcumsumexp's is PyTorch's stable form: exp(x + reversed logcumsumexp(log|g| - out)) for the positive and the
negative parts of the gradient apart.
"""
import numpy as np

from triton_kernels import scan as kernels

from ...autograd.registry import register
from ...dtypes import lowest_float
from .common import call, empty, zeros
from .reduction import _along

_INT64 = np.dtype(np.int64)


def _integral(dtype):
    return dtype.kind in "biu"


def _scan(op, x, axis, out_dtype, reverse=False):
    """(out, index or None): `op` along `axis` of the (at least 1-d) array `x`."""
    out = empty(x.shape, out_dtype)
    index = empty(x.shape, _INT64) if op in ("cummax", "cummin") else None
    source, _, rows = _along(x, out, axis, *((index,) if index is not None else ()))
    kernels.scan_rows(op, source, out, rows.n_rows, rows.n_cols, rows.of(0), rows.of(1),
                      index=index, index_strides=rows.of(2) if index is not None else (0, 0, 0),
                      n_inner=rows.n_inner, reverse=reverse)
    return out, index


def _cumprod_forward(ctx, x, axis):
    dtype = _INT64 if _integral(x.dtype) else x.dtype
    out = x.astype(dtype) if x.ndim == 0 else _scan("cumprod", x, axis, dtype)[0]
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, out)
        ctx.axis = axis
    return out


def _cumprod_backward(ctx, g):
    x, y = ctx.saved_tensors
    if x.size <= 1 or x.shape[ctx.axis] == 1:
        return g.astype(x.dtype)
    dx = empty(x.shape, x.dtype)
    x_source, (y_source, g_source), rows = _along(x, dx, ctx.axis, y, g)
    kernels.cumprod_backward_rows(x_source, y_source, g_source, dx, rows.n_rows, rows.n_cols, rows.of(0), rows.of(2),
                                  rows.of(3), rows.of(1), n_inner=rows.n_inner)
    return dx


register("cumprod", "cuda", _cumprod_forward, _cumprod_backward)


def _running_extreme(op):
    def forward(ctx, x, axis):
        if x.ndim == 0:
            values, indices = x.copy(), zeros((), _INT64)
        else:
            values, indices = _scan(op, x, axis, x.dtype)
        if ctx.needs_input_grad:
            ctx.save_for_backward(indices)
            ctx.meta = (x.shape, x.dtype, axis)
        return values, indices

    def backward(ctx, grads):
        (indices,) = ctx.saved_tensors
        shape, dtype, axis = ctx.meta
        g = grads[0]
        if not shape:
            return g.astype(dtype)
        return call("scatter_add", zeros(shape, dtype), indices, g, axis)

    register(op, "cuda", forward, backward)


_running_extreme("cummax")
_running_extreme("cummin")


def _logcumsumexp_forward(ctx, x, axis):
    out = x.copy() if x.ndim == 0 else _scan("logcumsumexp", x, axis, x.dtype)[0]
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, out)
        ctx.axis = axis
    return out


def _logcumsumexp_backward(ctx, g):
    x, out = ctx.saved_tensors
    if g.ndim == 0 or g.size == 0:
        return g.astype(x.dtype)
    log_magnitude = call("log", call("abs", g))
    lowest = lowest_float(g.dtype)  # PyTorch's stand-in for log(0)

    def part(mask):  # exp(x + reversed logcumsumexp(log|g| - out)) over the elements of `mask`
        logs = call("sub", call("where", mask, log_magnitude, lowest), out)
        return call("exp", call("add", _scan("logcumsumexp", logs, ctx.axis, logs.dtype, reverse=True)[0], x))

    return call("sub", part(call("gt", g, 0)), part(call("lt", g, 0)))


register("logcumsumexp", "cuda", _logcumsumexp_forward, _logcumsumexp_backward)
