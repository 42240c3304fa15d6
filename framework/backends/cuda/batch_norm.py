"""cuda kernels for batch normalisation (ops/batch_norm.py): the cpu kernels' signatures and results
(framework/backends/numpy/batch_norm.py), computed by triton_kernels.batch_norm: one launch forward (statistics,
normalisation, running-statistics update), one backward (input, weight and bias gradients)."""
import numpy as np

from triton_kernels import batch_norm as bn_kernels

from ...autograd.registry import register
from .common import contiguous, empty


def _channels_view(x):
    """x (N, C, *) as (N, C, S): a view when the spatial dims merge, else a contiguous copy."""
    return x.reshape((x.shape[0], x.shape[1], -1)) if x.ndim != 3 else x


def _forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
    x3 = _channels_view(x)
    channels = x.shape[1]
    weight = None if weight is None else contiguous(weight)
    bias = None if bias is None else contiguous(bias)
    acc = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)
    y = empty(x3.shape, x.dtype)
    mean, invstd = empty((channels,), acc), empty((channels,), acc)
    bn_kernels.batch_norm_forward(x3, weight, bias, y, mean, invstd, running_mean, running_var, training, momentum,
                                  eps)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x3, weight)
        ctx.stats = (mean, invstd, training, x.shape, None if bias is None else bias.dtype)
    return y.reshape(x.shape)


def _backward(ctx, g):
    x3, weight = ctx.saved_tensors
    mean, invstd, training, shape, bias_dtype = ctx.stats
    need_x, need_w, need_b = ctx.needs_input_grad
    g3 = _channels_view(g) if g.ndim != 3 else g
    grad_x = empty(x3.shape, g.dtype) if need_x else None
    grad_w = empty((x3.shape[1],), weight.dtype) if need_w else None
    grad_b = empty((x3.shape[1],), bias_dtype) if need_b else None
    bn_kernels.batch_norm_backward(g3, x3, weight, mean, invstd, grad_x, grad_w, grad_b, training)
    return (None if grad_x is None else grad_x.reshape(shape)), grad_w, grad_b


register("batch_norm", "cuda", _forward, _backward, "NativeBatchNormBackward0")
