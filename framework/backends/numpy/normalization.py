"""CPU kernels of `group_norm` (PyTorch's native_group_norm): statistics per (sample, group), then the
per-channel affine; the backward in PyTorch's closed form. float16/bfloat16 compute in float32. And of
`layer_norm` / `rms_norm` (native_layer_norm, _fused_rms_norm): the same over each row of the trailing
normalized dims, with an elementwise affine whose parameters may be float32 for a float16/bfloat16 input.

Layout: x of shape (N, C, *) is seen as (N, G, D, HxW) with D = C / G channels per group.
"""
import numpy as np

from ...autograd.registry import register
from .common import upcast


def _compute(x):
    return np.float64 if x.dtype == np.float64 else np.float32


def _group_norm_forward(ctx, x, weight, bias, groups, eps):
    n, c = x.shape[0], x.shape[1]
    hw = int(np.prod(x.shape[2:], dtype=np.int64))
    xs = upcast(x).astype(_compute(x), copy=False).reshape(n, groups, (c // groups) * hw)
    mean = xs.mean(axis=2) if xs.size else np.zeros((n, groups), xs.dtype)
    centered = xs - mean[..., None]
    var = (centered * centered).mean(axis=2) if xs.size else np.zeros((n, groups), xs.dtype)
    rstd = 1 / np.sqrt(var + eps)
    out = (centered * rstd[..., None]).reshape(n, c, hw)
    if weight is not None:
        out = out * upcast(weight).reshape(1, c, 1)
    if bias is not None:
        out = out + upcast(bias).reshape(1, c, 1)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, rstd, groups)
    return out.reshape(x.shape).astype(x.dtype, copy=False)


def _group_norm_backward(ctx, g):
    """With centered sums (dy * (x - mean), never dy * x less mean * dy, which cancels when |mean| >> std):
    dx = rstd (w dy - sum(w dy) / M) - (x - mean) rstd^3 sum(w dy (x - mean)) / M over each group of M values,
    dw[c] = sum_n rstd sum(dy (x - mean)), db[c] = sum_n sum(dy)."""
    x, weight = ctx.saved_tensors
    mean, rstd, groups = ctx.stats
    need_x, need_w, need_b = ctx.needs_input_grad
    n, c = x.shape[0], x.shape[1]
    hw = int(np.prod(x.shape[2:], dtype=np.int64))
    d = c // groups
    compute = mean.dtype
    centered = upcast(x).astype(compute, copy=False).reshape(n, groups, d, hw) - mean[..., None, None]
    dy = upcast(g).astype(compute, copy=False).reshape(n, groups, d, hw)
    ds = (dy * centered).sum(axis=3)  # (N, G, D): per channel
    db = dy.sum(axis=3)
    gamma = np.ones((groups, d), compute) if weight is None else upcast(weight).astype(compute).reshape(groups, d)
    gx = gw = gb = None
    if need_x:
        count = d * hw
        ds_g = (ds * gamma).sum(axis=2)[..., None, None]
        db_g = (db * gamma).sum(axis=2)[..., None, None]
        r = rstd[..., None, None]
        gx = r * (gamma[None, :, :, None] * dy - db_g / count) - centered * (r * r * r) * ds_g / count
        gx = gx.reshape(x.shape).astype(x.dtype, copy=False)
    if need_w:  # (the front end gives weight and bias x's dtype)
        gw = (ds * rstd[..., None]).sum(axis=0).reshape(c).astype(x.dtype, copy=False)
    if need_b:
        gb = db.sum(axis=0).reshape(c).astype(x.dtype, copy=False)
    return gx, gw, gb


register("group_norm", "cpu", _group_norm_forward, _group_norm_backward, "NativeGroupNormBackward0")


# ---- layer_norm and rms_norm: x seen as (M, N) rows, N the product of the normalized dims ----------------------

def _rows(x, normalized_ndim):
    lead = x.ndim - normalized_ndim
    m, n = (int(np.prod(dims, dtype=np.int64)) for dims in (x.shape[:lead], x.shape[lead:]))
    return upcast(x).astype(_compute(x), copy=False).reshape(m, n)


def _row_dot(a, b):
    """Per-row sums of a * b (one pass, no temporary of the rows' size)."""
    return np.einsum("ij,ij->i", a, b)


def _row_norm_forward(ctx, x, weight, bias, normalized_ndim, eps, rms):
    rows = _rows(x, normalized_ndim)
    m, n = rows.shape
    if rows.size == 0:  # no rows, or rows of nothing: no statistics to take
        mean, rstd, out = (None if rms else np.zeros(m, rows.dtype)), 1 / np.sqrt(np.zeros(m, rows.dtype) + eps), rows
    else:
        mean = None if rms else rows.mean(axis=1)
        out = rows.copy() if rms else rows - mean[:, None]  # (a fresh array: scaled in place below)
        rstd = 1 / np.sqrt(_row_dot(out, out) / n + eps)
        out *= rstd[:, None]
        if weight is not None:
            out *= upcast(weight).astype(rows.dtype, copy=False).reshape(n)
        if bias is not None:
            out += upcast(bias).astype(rows.dtype, copy=False).reshape(n)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, rstd, normalized_ndim, None if bias is None else bias.dtype)
    return out.reshape(x.shape).astype(x.dtype, copy=False)


def _row_norm_backward(ctx, g):
    """xhat = (x - mean) rstd; dx = rstd (w dy - mean(w dy) - xhat mean(w dy xhat)) over each row (rms_norm:
    without the mean(w dy) term); dw = sum over rows of dy xhat, db = sum of dy, in the parameters' dtypes."""
    x, weight = ctx.saved_tensors
    mean, rstd, normalized_ndim, bias_dtype = ctx.stats
    need = ctx.needs_input_grad
    rows = _rows(x, normalized_ndim)
    n = rows.shape[1]
    xhat = rows * rstd[:, None] if mean is None else (rows - mean[:, None]) * rstd[:, None]
    dy = upcast(g).astype(rows.dtype, copy=False).reshape(rows.shape)
    gx = gw = gb = None
    if need[0]:
        gx = dy * upcast(weight).astype(rows.dtype, copy=False).reshape(n) if weight is not None else dy.copy()
        if n:
            slope = _row_dot(gx, xhat) / n
            if mean is not None:
                gx -= gx.mean(axis=1, keepdims=True)
            gx -= xhat * slope[:, None]
            gx *= rstd[:, None]
        gx = gx.reshape(x.shape).astype(x.dtype, copy=False)
    if need[1]:
        gw = np.einsum("ij,ij->j", dy, xhat).reshape(weight.shape).astype(weight.dtype, copy=False)
    if len(need) > 2 and need[2]:
        bias_shape = x.shape[x.ndim - normalized_ndim:]
        gb = dy.sum(axis=0).reshape(bias_shape).astype(bias_dtype, copy=False)
    return (gx, gw, gb) if len(need) > 2 else (gx, gw)


def _layer_norm_forward(ctx, x, weight, bias, normalized_ndim, eps):
    return _row_norm_forward(ctx, x, weight, bias, normalized_ndim, eps, rms=False)


def _rms_norm_forward(ctx, x, weight, normalized_ndim, eps):
    return _row_norm_forward(ctx, x, weight, None, normalized_ndim, eps, rms=True)


register("layer_norm", "cpu", _layer_norm_forward, _row_norm_backward, "NativeLayerNormBackward0")
register("rms_norm", "cpu", _rms_norm_forward, _row_norm_backward, "FusedRmsNormBackward0")
