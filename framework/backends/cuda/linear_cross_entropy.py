"""cuda kernels for linear_cross_entropy: the cpu kernels' signature and results
(framework/backends/numpy/linear_cross_entropy.py), composed from existing kernels over row chunks.

Forward, per chunk of rows: the registered cuda `linear` forward writes the chunk's logits (chunk x V), and
triton_kernels.cross_entropy.cross_entropy_forward (reduction 'none') writes the rows' losses, log-sum-exps
and target weights into full-length (N,) buffers; the chunk's logits are then dropped. 'mean'/'sum' reduce
those buffers once with loss_reduce_kernel (its total weight is the backward's divisor).

Backward, per chunk: the logits are recomputed, cross_entropy_backward turns them in place into
d_logits = (softmax - smoothed one-hot) * scale using the saved lse, and triton_kernels.matmul gives
dX_chunk = d_logits @ W, dW_chunk = d_logits^T @ X_chunk and db_chunk = 1^T d_logits, the last two in float32
for 16-bit operands (float64 for float64), summed over chunks and rounded once at the end.
"""
import numpy as np

from triton_kernels import cross_entropy as ce_kernels
from triton_kernels import matmul as matmul_kernels

from ...autograd.registry import register
from ..numpy.linear_cross_entropy import default_chunk_size
from . import device_errors
from .common import call, contiguous, empty, full


def _allow_tf32():
    from . import tf32_enabled
    return tf32_enabled()


def _chunks(n_rows, chunk_size):
    for start in range(0, n_rows, chunk_size):
        yield start, min(start + chunk_size, n_rows)


def _lce_forward(ctx, x, weight, target, bias, ignore_index, label_smoothing, reduction, chunk_size):
    n_rows, n_classes = x.shape[0], weight.shape[0]
    chunk = chunk_size or default_chunk_size(n_rows, n_classes)
    target = contiguous(target)
    acc = ce_kernels.compute_dtype(str(x.dtype))
    loss = empty((n_rows,), acc)
    lse, target_weight = empty((n_rows,), acc), empty((n_rows,), acc)
    out, total_weight = empty((1,), x.dtype), empty((1,), acc)
    for start, stop in _chunks(n_rows, chunk):
        logits = call("linear", x[start:stop], weight, bias, None)
        ce_kernels.cross_entropy_forward(logits, target[start:stop], None, loss[start:stop], lse[start:stop],
                                         target_weight[start:stop], stop - start, n_classes, n_classes,
                                         ignore_index=ignore_index, label_smoothing=label_smoothing,
                                         reduction="none", errors=device_errors.record(),
                                         error_code=device_errors.TARGET_OUT_OF_BOUNDS)
        del logits
    if reduction != "none":
        mean = reduction == "mean"
        ce_kernels.loss_reduce_kernel[(1,)](loss, target_weight, out, total_weight if mean else out, n_rows, 0,
                                            MEAN=mean, BLOCK_SIZE=ce_kernels.REDUCE_BLOCK_SIZE, num_warps=4)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, weight, target, bias, lse, total_weight)
        ctx.meta = (ignore_index, label_smoothing, reduction, chunk)
    return loss.astype(x.dtype) if reduction == "none" else out.reshape(())


def _lce_backward(ctx, g):
    x, weight, target, bias, lse, total_weight = ctx.saved_tensors
    ignore_index, label_smoothing, reduction, chunk = ctx.meta
    need_x, need_w, _, need_b = ctx.needs_input_grad
    n_rows, n_features = x.shape
    n_classes = weight.shape[0]
    acc = np.dtype(ce_kernels.compute_dtype(str(x.dtype)))
    g = contiguous(g.reshape((-1,)) if reduction == "none" else g.reshape((1,)))
    grad_x = empty((n_rows, n_features), x.dtype) if need_x else None
    grad_w = grad_b = None
    ones = None
    tf32 = _allow_tf32()
    for start, stop in _chunks(n_rows, chunk):
        rows = stop - start
        d = call("linear", x[start:stop], weight, bias, None)  # recomputed logits, overwritten by d_logits
        ce_kernels.cross_entropy_backward(d, target[start:stop], None, lse[start:stop],
                                          g[start:stop] if reduction == "none" else g, None, rows, n_classes,
                                          n_classes, ignore_index=ignore_index, label_smoothing=label_smoothing,
                                          reduction=reduction, grad_loss_stride=1, total_weight=total_weight,
                                          in_place=True, errors=device_errors.record(),
                                          error_code=device_errors.TARGET_OUT_OF_BOUNDS)
        if need_x:
            matmul_kernels.matmul(d, weight, grad_x[start:stop], allow_tf32=tf32)
        if need_w:
            part = empty((n_classes, n_features), acc)
            matmul_kernels.matmul(d.T, x[start:stop], part, allow_tf32=tf32)
            grad_w = part if grad_w is None else call("add", grad_w, part)
        if need_b:
            if ones is None or ones.shape[1] != rows:
                ones = full((1, rows), 1, d.dtype)
            part = empty((1, n_classes), acc)
            matmul_kernels.matmul(ones, d, part, allow_tf32=tf32)
            grad_b = part if grad_b is None else call("add", grad_b, part)
    if need_w:
        grad_w = full((n_classes, n_features), 0, weight.dtype) if grad_w is None else grad_w.astype(weight.dtype)
    if need_b:
        grad_b = full((n_classes,), 0, bias.dtype) if grad_b is None else grad_b.reshape((n_classes,)).astype(
            bias.dtype)
    return grad_x, grad_w, None, grad_b


register("linear_cross_entropy", "cuda", _lce_forward, _lce_backward, "LinearCrossEntropyBackward0")
