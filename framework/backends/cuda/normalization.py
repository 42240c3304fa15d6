"""cuda kernels of `group_norm`, `layer_norm` and `rms_norm` (framework/backends/numpy/normalization.py's
signatures and results): one triton_kernels launch forward, two backward (the second sums the weight's and
bias's per-program partials)."""
import math

import numpy as np

from triton_kernels import group_norm as kernels
from triton_kernels import layer_norm as row_kernels

from ...autograd.registry import register
from .common import contiguous, empty, zeros


def _group_norm_forward(ctx, x, weight, bias, groups, eps):
    x = contiguous(x)  # the kernels read every operand densely
    weight = None if weight is None else contiguous(weight)
    bias = None if bias is None else contiguous(bias)
    n = x.shape[0]
    compute = np.dtype(kernels.compute_dtype(x))
    mean, rstd = empty((n * groups,), compute), empty((n * groups,), compute)
    y = kernels.forward(x, weight, bias, empty(x.shape, x.dtype), mean, rstd, groups, eps)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, rstd, groups)
    return y


def _group_norm_backward(ctx, g):
    x, weight = ctx.saved_tensors
    mean, rstd, groups = ctx.stats
    need_x, need_w, need_b = ctx.needs_input_grad
    compute = np.dtype(kernels.compute_dtype(x))
    n, c = x.shape[0], x.shape[1]
    new = empty if x.size else zeros  # (with nothing to sum the kernels do not run: the gradients are zeros)
    dw = new((c,), x.dtype) if need_w else None
    dbias = new((c,), x.dtype) if need_b else None
    sums = (empty((n * c,), compute), empty((n * c,), compute)) if need_w or need_b else (None, None)
    dx = kernels.backward(x, contiguous(g), weight, mean, rstd, groups, new(x.shape, x.dtype), dw, dbias, *sums)
    return (dx if need_x else None), dw, dbias


register("group_norm", "cuda", _group_norm_forward, _group_norm_backward, "NativeGroupNormBackward0")


def _as_rows(x, normalized_ndim):
    """x (contiguous) as (M, N) rows of the normalized dims."""
    n = math.prod(x.shape[x.ndim - normalized_ndim:])
    return x.reshape((math.prod(x.shape) // n if n else math.prod(x.shape[:x.ndim - normalized_ndim]), n))


def _row_norm_forward(ctx, x, weight, bias, normalized_ndim, eps, rms):
    x = contiguous(x)  # the kernels read every operand densely
    weight = None if weight is None else contiguous(weight).reshape((-1,))
    bias = None if bias is None else contiguous(bias).reshape((-1,))
    rows = _as_rows(x, normalized_ndim)
    compute = np.dtype(row_kernels.compute_dtype(x))
    mean = None if rms else empty((rows.shape[0],), compute)
    rstd = empty((rows.shape[0],), compute)
    y = empty(x.shape, x.dtype)
    row_kernels.forward(rows, weight, bias, y.reshape(rows.shape), mean, rstd, eps, rms=rms)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, rstd, normalized_ndim, None if bias is None else bias.dtype)
    return y


def _row_norm_backward(ctx, g):
    x, weight = ctx.saved_tensors
    mean, rstd, normalized_ndim, bias_dtype = ctx.stats
    need = ctx.needs_input_grad
    rms = mean is None
    rows = _as_rows(x, normalized_ndim)
    m, n = rows.shape
    compute = np.dtype(row_kernels.compute_dtype(x))
    new = empty if m else zeros  # (with no rows the kernels do not run: the parameters' gradients are zeros)
    dx = empty(x.shape, x.dtype) if need[0] else None
    dw = new((n,), weight.dtype) if need[1] else None
    db = new((n,), bias_dtype) if len(need) > 2 and need[2] else None
    programs = row_kernels.partial_programs(rows)[0] if m else 0
    partial_w = empty((programs, n), compute) if dw is not None else None
    partial_b = empty((programs, n), compute) if db is not None else None
    row_sums = empty((2 * m,), compute) if dx is not None and not row_kernels.backward_blocks(rows)[0] else None
    row_kernels.backward(rows, contiguous(g).reshape(rows.shape), weight, mean, rstd,
                         None if dx is None else dx.reshape(rows.shape), dw, db, partial_w, partial_b, row_sums,
                         rms=rms)
    shape = x.shape[x.ndim - normalized_ndim:]
    grads = (dx, None if dw is None else dw.reshape(shape), None if db is None else db.reshape(shape))
    return grads if len(need) > 2 else grads[:2]


def _layer_norm_forward(ctx, x, weight, bias, normalized_ndim, eps):
    return _row_norm_forward(ctx, x, weight, bias, normalized_ndim, eps, rms=False)


def _rms_norm_forward(ctx, x, weight, normalized_ndim, eps):
    return _row_norm_forward(ctx, x, weight, None, normalized_ndim, eps, rms=True)


register("layer_norm", "cuda", _layer_norm_forward, _row_norm_backward, "NativeLayerNormBackward0")
register("rms_norm", "cuda", _rms_norm_forward, _row_norm_backward, "FusedRmsNormBackward0")
