"""CPU kernels for batch normalisation (ops/batch_norm.py): statistics, normalisation and the running-statistics
update in the forward, the whole input, weight and bias gradient in one backward.

The input is viewed as (N, C, S), S the product of its spatial dims; statistics are per channel over N*S values,
in float32 for float16/bfloat16 (float64 for float64). Training normalises by the biased batch variance and
updates running_var with the unbiased one (n / (n - 1)), as PyTorch does.
"""
import numpy as np

from ...autograd.registry import register
from .common import upcast


def _per_channel(values, channels, dtype):
    return np.asarray(upcast(values), dtype).reshape(1, channels, 1)


def _forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
    n, c = x.shape[:2]
    x3 = upcast(x).reshape(n, c, -1)
    acc = x3.dtype
    count = n * x3.shape[2]
    if training:
        mean = x3.mean(axis=(0, 2), dtype=acc)
        centered = x3 - mean[None, :, None]
        var = (centered * centered).mean(axis=(0, 2), dtype=acc)
        invstd = 1 / np.sqrt(var + acc.type(eps))
        if running_mean is not None:
            unbiased = var * (count / (count - 1)) if count > 1 else var * np.inf
            keep = 1 - momentum
            running_mean[...] = (momentum * mean + keep * upcast(running_mean)).astype(running_mean.dtype)
            running_var[...] = (momentum * unbiased + keep * upcast(running_var)).astype(running_var.dtype)
    else:
        mean = upcast(running_mean).astype(acc, copy=False)
        invstd = 1 / np.sqrt(upcast(running_var).astype(acc, copy=False) + acc.type(eps))
        centered = x3 - mean[None, :, None]
    out = centered * invstd[None, :, None]
    if weight is not None:
        out = out * _per_channel(weight, c, acc)
    if bias is not None:
        out = out + _per_channel(bias, c, acc)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, weight)
        ctx.stats = (mean, invstd, training, None if bias is None else bias.dtype)
    return out.reshape(x.shape).astype(x.dtype, copy=False)


def _backward(ctx, g):
    x, weight = ctx.saved_tensors
    mean, invstd, training, bias_dtype = ctx.stats
    need_x, need_w, need_b = ctx.needs_input_grad
    n, c = x.shape[:2]
    acc = mean.dtype
    dy = np.asarray(upcast(g), acc).reshape(n, c, -1)
    xhat = (np.asarray(upcast(x), acc).reshape(n, c, -1) - mean[None, :, None]) * invstd[None, :, None]
    sum_dy = dy.sum(axis=(0, 2))
    sum_dy_xhat = (dy * xhat).sum(axis=(0, 2))
    grad_x = grad_w = grad_b = None
    if need_x:
        scale = invstd if weight is None else invstd * upcast(weight).astype(acc, copy=False)
        if training:
            count = dy.shape[0] * dy.shape[2]
            grad = (dy - (sum_dy / count)[None, :, None] - xhat * (sum_dy_xhat / count)[None, :, None])
            grad = grad * scale[None, :, None]
        else:
            grad = dy * scale[None, :, None]
        grad_x = grad.reshape(x.shape).astype(x.dtype, copy=False)
    if need_w:
        grad_w = sum_dy_xhat.astype(weight.dtype, copy=False)
    if need_b:
        grad_b = sum_dy.astype(bias_dtype, copy=False)
    return grad_x, grad_w, grad_b


register("batch_norm", "cpu", _forward, _backward, "NativeBatchNormBackward0")
