"""CPU kernels for cdist: the direct p-norm path (CdistBackward0) and the matmul path for p = 2
(_euclidean_dist, EuclideanDistBackward0), as PyTorch computes them.

Both take x1 (..., P, M) and x2 (..., R, M) whose batch dims broadcast. The direct path works on row blocks of x1
so that the (rows, R, M) differences it forms stay near _DIFFERENCES_PER_BLOCK elements, whatever the sizes.
"""
import math

import numpy as np

from ...autograd.registry import register
from .common import LOW_PRECISION, sum_to_shape, upcast

_DIFFERENCES_PER_BLOCK = 1 << 21


def _batched(x1, x2):
    """x1, x2 broadcast over their batch dims and flattened to (B, rows, M), and the batch shape."""
    batch = np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    count = math.prod(batch)  # explicit: -1 cannot be inferred when a size is 0
    a = np.broadcast_to(x1, batch + x1.shape[-2:]).reshape((count,) + x1.shape[-2:])
    b = np.broadcast_to(x2, batch + x2.shape[-2:]).reshape((count,) + x2.shape[-2:])
    return a, b, batch


def _row_blocks(a, b):
    rows = max(1, _DIFFERENCES_PER_BLOCK // max(1, a.shape[0] * b.shape[1] * a.shape[2]))
    return range(0, a.shape[1], rows), rows


def _distances(a, b, p):
    """||a[:, i] - b[:, j]||_p for (B, P, M) and (B, R, M) arrays, as (B, P, R)."""
    out = np.empty((a.shape[0], a.shape[1], b.shape[1]), dtype=a.dtype)
    starts, rows = _row_blocks(a, b)
    for start in starts:
        magnitude = np.abs(a[:, start:start + rows, None, :] - b[:, None, :, :])
        if p == 0:
            block = np.sum(magnitude != 0, axis=-1).astype(a.dtype)
        elif p == 1:
            block = np.sum(magnitude, axis=-1)
        elif p == 2:
            block = np.sqrt(np.sum(magnitude * magnitude, axis=-1))
        elif p == math.inf:
            block = np.max(magnitude, axis=-1, initial=0)
        else:
            total = np.sum(magnitude ** p, axis=-1)
            block = np.where(total == 0, total, total ** (1 / p))
        out[:, start:start + rows] = block
    return out


def _distances_backward(g, a, b, dist, p):
    """d(sum g * cdist(a, b, p)) / da, PyTorch's rule per p (a zero distance gives 0; at p = inf every column
    that attains the max gets the gradient)."""
    grad = np.zeros(a.shape, dtype=a.dtype)
    if p == 0:
        return grad
    starts, rows = _row_blocks(a, b)
    for start in starts:
        diff = a[:, start:start + rows, None, :] - b[:, None, :, :]
        gb = g[:, start:start + rows, :, None]
        d = dist[:, start:start + rows, :, None]
        if p == 1:
            term = gb * np.sign(diff)
        elif p == 2:
            term = np.where(d == 0, 0, gb * diff / np.where(d == 0, 1, d))
        elif p == math.inf:
            term = np.where(np.abs(diff) == d, gb * np.sign(diff), 0)
        else:
            scale = np.where(d == 0, 0, gb / np.where(d == 0, 1, d) ** (p - 1))
            if p < 2:
                term = np.sign(diff) * np.abs(diff) ** (p - 1) * scale
                if p < 1:
                    term = np.where(diff == 0, 0, term)
            else:
                term = diff * np.abs(diff) ** (p - 2) * scale
        grad[:, start:start + rows] = np.sum(term, axis=2)
    return grad


def _cdist_forward(ctx, x1, x2, p):
    a, b, batch = _batched(x1, x2)
    out = _distances(a, b, p)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x1, x2, out)
        ctx.p = p
    return out.reshape(batch + out.shape[1:])


def _cdist_backward(ctx, g):
    x1, x2, dist = ctx.saved_tensors
    a, b, _ = _batched(x1, x2)
    g = g.reshape(dist.shape)
    need_1, need_2 = ctx.needs_input_grad
    grad_1 = grad_2 = None
    if need_1:
        grad_1 = sum_to_shape(_distances_backward(g, a, b, dist, ctx.p).reshape(_expanded(x1, x2, 0)), x1.shape)
    if need_2:
        grad = _distances_backward(g.transpose(0, 2, 1), b, a, dist.transpose(0, 2, 1), ctx.p)
        grad_2 = sum_to_shape(grad.reshape(_expanded(x1, x2, 1)), x2.shape)
    return grad_1, grad_2


def _expanded(x1, x2, which):
    """The shape of operand `which` broadcast to the common batch dims."""
    batch = np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    return batch + (x1, x2)[which].shape[-2:]


register("cdist", "cpu", _cdist_forward, _cdist_backward)


# ---- the matmul path for p = 2 -----------------------------------------------------------------------

def _euclidean_forward(ctx, x1, x2):
    """sqrt(max(0, |x1|^2 - 2 x1.x2 + |x2|^2)) from one matmul: [-2 x1, |x1|^2, 1] @ [x2, 1, |x2|^2]^T."""
    a, b = upcast(x1), upcast(x2)
    a_norm = np.sum(a * a, axis=-1, keepdims=True)
    b_norm = np.sum(b * b, axis=-1, keepdims=True)
    left = np.concatenate([a * -2, a_norm, np.ones_like(a_norm)], axis=-1)
    right = np.concatenate([b, np.ones_like(b_norm), b_norm], axis=-1)
    out = np.sqrt(np.maximum(np.matmul(left, np.swapaxes(right, -1, -2)), 0))
    out = out.astype(x1.dtype) if x1.dtype in LOW_PRECISION else out
    if ctx.needs_input_grad:
        ctx.save_for_backward(x1, x2, out)
    return out


def _euclidean_backward(ctx, g):
    """PyTorch's _euclidean_dist_backward: ratio = g / dist (0 where dist is 0)."""
    x1, x2, out = ctx.saved_tensors
    a, b, res = upcast(x1), upcast(x2), upcast(out)
    ratio = np.where(res == 0, 0, upcast(g) / np.where(res == 0, 1, res))
    need_1, need_2 = ctx.needs_input_grad
    grad_1 = a * np.sum(ratio, axis=-1, keepdims=True) - np.matmul(ratio, b) if need_1 else None
    grad_2 = b * np.sum(ratio, axis=-2)[..., None] - np.matmul(np.swapaxes(ratio, -1, -2), a) if need_2 else None
    return tuple(None if grad is None else sum_to_shape(grad, x.shape).astype(x.dtype, copy=False)
                 for grad, x in ((grad_1, x1), (grad_2, x2)))


register("euclidean_dist", "cpu", _euclidean_forward, _euclidean_backward)
