"""CPU kernels of `group_norm` (PyTorch's native_group_norm): statistics per (sample, group), then the
per-channel affine; the backward in PyTorch's closed form. float16/bfloat16 compute in float32.

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
