"""cuda kernels for cdist (framework/backends/numpy/distance.py): the direct path is triton_kernels.cdist
(forward and backward, the differences never in memory); the p = 2 matmul path composes the matmul, reduction,
cat and elementwise kernels exactly as the cpu kernel computes it."""
import math

import numpy as np

from triton_kernels import cdist as cdist_kernels

from ...autograd.registry import register
from .common import call, contiguous, empty, full, sum_to_shape, zeros


def _batched(x1, x2):
    """x1, x2 broadcast over their batch dims as contiguous (B, rows, M) arrays, and the batch shape."""
    batch = tuple(np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2]))
    count = math.prod(batch)

    def flat(x):
        view = x.broadcast_to(batch + tuple(x.shape[-2:]))
        return contiguous(view).reshape((count,) + tuple(x.shape[-2:]))
    return flat(x1), flat(x2), batch


def _cdist_forward(ctx, x1, x2, p):
    a, b, batch = _batched(x1, x2)
    out = empty((a.shape[0], a.shape[1], b.shape[1]), x1.dtype)
    if a.shape[2] == 0:
        out = zeros(out.shape, x1.dtype)
    else:
        cdist_kernels.cdist(a, b, out, p)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x1, x2, out)
        ctx.p = p
    return out.reshape(batch + tuple(out.shape[1:]))


def _gradient(g, a, b, dist, p):
    grad = zeros(a.shape, a.dtype)
    if cdist_kernels.kind_of(p) != 0 and a.size and b.shape[1]:
        cdist_kernels.cdist_backward(g, a, b, dist, grad, p)
    return grad


def _cdist_backward(ctx, g):
    x1, x2, dist = ctx.saved_tensors
    a, b, batch = _batched(x1, x2)
    g = contiguous(g).reshape(dist.shape)
    need_1, need_2 = ctx.needs_input_grad
    grad_1 = grad_2 = None
    if need_1:
        grad_1 = sum_to_shape(_gradient(g, a, b, dist, ctx.p).reshape(batch + tuple(x1.shape[-2:])), x1.shape)
    if need_2:
        flipped = (0, 2, 1)  # grad and dist transposed alike: one layout, as the kernel needs
        grad = _gradient(g.transpose(flipped), b, a, dist.transpose(flipped), ctx.p)
        grad_2 = sum_to_shape(grad.reshape(batch + tuple(x2.shape[-2:])), x2.shape)
    return grad_1, grad_2


register("cdist", "cuda", _cdist_forward, _cdist_backward)


# ---- the matmul path for p = 2 -----------------------------------------------------------------------

def _swap_last(x):
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return x.transpose(axes)


def _euclidean_forward(ctx, x1, x2):
    """sqrt(max(0, [-2 x1, |x1|^2, 1] @ [x2, 1, |x2|^2]^T)): the cpu kernel's one matmul."""
    last = x1.ndim - 1
    x1_norm = call("sum", call("square", x1), (last,), True)
    x2_norm = call("sum", call("square", x2), (last,), True)
    left = call("cat", call("mul", x1, -2), x1_norm, full(x1_norm.shape, 1, x1.dtype), last)
    right = call("cat", x2, full(x2_norm.shape, 1, x2.dtype), x2_norm, last)
    out = call("sqrt", call("clamp", call("matmul", left, _swap_last(right)), 0, None))
    if ctx.needs_input_grad:
        ctx.save_for_backward(x1, x2, out)
    return out


def _euclidean_backward(ctx, g):
    """PyTorch's _euclidean_dist_backward: ratio = g / dist (0 where dist is 0)."""
    x1, x2, out = ctx.saved_tensors
    ratio = call("where", call("eq", out, 0), 0, call("div", g, out))
    need_1, need_2 = ctx.needs_input_grad
    grad_1 = grad_2 = None
    if need_1:
        row_sums = call("sum", ratio, (ratio.ndim - 1,), True)
        grad_1 = sum_to_shape(call("sub", call("mul", x1, row_sums), call("matmul", ratio, x2)), x1.shape)
    if need_2:
        column_sums = call("sum", ratio, (ratio.ndim - 2,), False)
        column_sums = column_sums.reshape(tuple(column_sums.shape) + (1,))
        grad_2 = sum_to_shape(call("sub", call("mul", x2, column_sums), call("matmul", _swap_last(ratio), x1)),
                              x2.shape)
    return grad_1, grad_2


register("euclidean_dist", "cuda", _euclidean_forward, _euclidean_backward)
