"""cuda kernels of `group_norm` (framework/backends/numpy/normalization.py's signatures and results): one
triton_kernels.group_norm launch forward, two backward."""
import numpy as np

from triton_kernels import group_norm as kernels

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
