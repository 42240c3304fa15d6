"""CPU kernels for linear_cross_entropy: cross_entropy(x @ weight.T + bias, target) over row chunks.

The (N, V) logits are never held whole: the forward computes each chunk's logits, keeps only each row's
log-sum-exp (N values) and loss, and drops the chunk; the backward recomputes a chunk's logits, forms
d_logits = (softmax - smoothed one-hot) * scale, and accumulates dX_chunk = d_logits @ W,
dW += d_logits^T @ X_chunk and db += sum(d_logits). Memory: O(chunk x V) beyond the inputs and gradients.
Arithmetic is float32 for float16/bfloat16/float32 (the accumulators too; gradients round once at the
end) and float64 for float64.
"""
import numpy as np

from ...autograd.registry import register
from .common import upcast

# the default chunk: about this many logits (16 MiB of float32) at a time
CHUNK_ELEMENTS = 1 << 22


def default_chunk_size(n_rows, n_classes):
    return max(1, min(max(n_rows, 1), CHUNK_ELEMENTS // max(n_classes, 1)))


def _chunks(n_rows, chunk_size):
    for start in range(0, n_rows, chunk_size):
        yield start, min(start + chunk_size, n_rows)


def _operands(x, weight, bias):
    xc = upcast(x)
    wc = upcast(weight).astype(xc.dtype, copy=False)
    bc = None if bias is None else upcast(bias).astype(xc.dtype, copy=False)
    return xc, wc, bc


def _logits(xc, wc, bc, start, stop):
    z = xc[start:stop] @ wc.T
    if bc is not None:
        z += bc
    return z


def _lce_forward(ctx, x, weight, target, bias, ignore_index, label_smoothing, reduction, chunk_size):
    xc, wc, bc = _operands(x, weight, bias)
    n_rows, n_classes = xc.shape[0], wc.shape[0]
    chunk = chunk_size or default_chunk_size(n_rows, n_classes)
    eps = label_smoothing
    valid = target != ignore_index
    classes = np.where(valid, target, 0).astype(np.intp)
    lse = np.empty(n_rows, xc.dtype)
    loss = np.zeros(n_rows, xc.dtype)
    for start, stop in _chunks(n_rows, chunk):
        z = _logits(xc, wc, bc, start, stop)
        shift = z.max(axis=1) if n_classes else np.zeros(stop - start, z.dtype)
        shift = np.where(np.isfinite(shift), shift, 0)
        lse[start:stop] = shift + np.log(np.exp(z - shift[:, None]).sum(axis=1))
        rows = np.arange(stop - start)
        row_loss = lse[start:stop] - z[rows, classes[start:stop]]
        if eps > 0:
            row_loss = (1 - eps) * row_loss + (eps / n_classes) * (n_classes * lse[start:stop] - z.sum(axis=1))
        loss[start:stop] = np.where(valid[start:stop], row_loss, 0)
    denom = valid.sum(dtype=xc.dtype)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, weight, target, bias, lse)
        ctx.meta = (ignore_index, eps, reduction, chunk, denom)
    if reduction == "none":
        return loss.astype(x.dtype, copy=False)
    total = loss.sum(dtype=loss.dtype)
    return np.asarray(total if reduction == "sum" else total / denom).astype(x.dtype, copy=False)


def _lce_backward(ctx, g):
    x, weight, target, bias, lse = ctx.saved_tensors
    ignore_index, eps, reduction, chunk, denom = ctx.meta
    need_x, need_w, _, need_b = ctx.needs_input_grad
    xc, wc, bc = _operands(x, weight, bias)
    n_rows, n_classes = xc.shape[0], wc.shape[0]
    g = upcast(np.asarray(g)).astype(xc.dtype, copy=False)
    valid = target != ignore_index
    classes = np.where(valid, target, 0).astype(np.intp)
    if reduction == "none":
        scale = g.reshape(-1)
    else:
        scale = np.broadcast_to(g.reshape(()) / denom if reduction == "mean" else g.reshape(()), (n_rows,))
    scale = np.where(valid, scale, 0)  # ignored rows give exactly 0, even when the mean divides by 0
    grad_x = np.empty(xc.shape, xc.dtype) if need_x else None
    grad_w = np.zeros(wc.shape, xc.dtype) if need_w else None
    grad_b = np.zeros(n_classes, xc.dtype) if need_b else None
    for start, stop in _chunks(n_rows, chunk):
        s = scale[start:stop]
        d = np.exp(_logits(xc, wc, bc, start, stop) - lse[start:stop, None])
        d *= s[:, None]
        d[np.arange(stop - start), classes[start:stop]] -= (1 - eps) * s
        if eps > 0:
            d -= (eps / n_classes) * s[:, None]
        if need_x:
            grad_x[start:stop] = d @ wc
        if need_w:
            grad_w += d.T @ xc[start:stop]
        if need_b:
            grad_b += d.sum(axis=0)
    cast = lambda a, like: None if a is None else a.astype(like.dtype, copy=False)  # noqa: E731
    return cast(grad_x, x), cast(grad_w, weight), None, cast(grad_b, bias) if bias is not None else None


register("linear_cross_entropy", "cpu", _lce_forward, _lce_backward, "LinearCrossEntropyBackward0")
