"""cuda kernels for the fused losses: cross_entropy, nll_loss, binary_cross_entropy(_with_logits). The cpu
kernels' signatures and results (framework/backends/numpy/nn.py), computed by triton_kernels.cross_entropy,
.nll_loss and .bce: one pass each way, reductions without atomics.

Class indices, and binary_cross_entropy's probabilities, are checked by the kernels on the device (they never
read outside [0, C)) and a violation raises PyTorch's error ("Target 7 is out of bounds.") at the next
synchronising call (device_errors.py): the host never waits for a check.

Cross-entropy sees its input as rows of classes: (C,) is one row, (N, C) N rows read in place, and
(N, C, d1, ...) is copied once with the class dim moved last. NLL reads (N, C, d1...dk) in place as
(N, C, D). BCE reads contiguous operands as (rows, last dim).
"""
import numpy as np

from triton_kernels import bce as bce_kernels
from triton_kernels import cross_entropy as ce_kernels
from triton_kernels import nll_loss as nll_kernels

from ...autograd.registry import register
from . import device_errors
from .common import contiguous, empty


def _float_kind(dtype):
    return np.dtype(dtype).kind == "f" or str(dtype) == "bfloat16"


# ---- cross-entropy -----------------------------------------------------------------------------------

def _class_last(x):
    """(C,) -> (1, C); (N, C) -> itself; (N, C, d1, ...) -> a contiguous (N*d1*..., C) copy."""
    if x.ndim == 1:
        return x.reshape((1, x.shape[0]))
    if x.ndim == 2:
        return x
    order = (0,) + tuple(range(2, x.ndim)) + (1,)
    return contiguous(x.transpose(order)).reshape((-1, x.shape[1]))


def _class_first(rows, shape):
    """Undo `_class_last`: rows (M, C) back to `shape` (a view)."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    moved = rows.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))
    return moved.transpose((0, moved.ndim - 1) + tuple(range(1, moved.ndim - 1)))


def _unit_columns(rows):
    """`rows` laid out as the kernels read them (unit column stride, rows apart by at least a row), copied if
    need be."""
    n_rows, n_cols = rows.shape
    if (n_cols <= 1 or rows.stride()[1] == 1) and (n_rows <= 1 or rows.stride()[0] >= n_cols):
        return rows
    return contiguous(rows)


def _row_stride(rows):
    return rows.stride()[0] if rows.shape[0] > 1 else rows.shape[1]


def _cross_entropy_forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
    """-sum_c q_c log_softmax(x)_c per row, q the (weighted, smoothed) target distribution, in one pass."""
    rows = _unit_columns(_class_last(x))
    n_rows, n_cols = rows.shape
    probs = _float_kind(target.dtype)
    if probs:
        target_rows = _unit_columns(_class_last(target))
        out_shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
    else:
        target_rows = contiguous(target.reshape((-1,)))
        out_shape = target.shape
    acc = ce_kernels.compute_dtype(str(x.dtype))
    loss = empty((n_rows,), x.dtype if reduction == "none" else acc)
    lse, target_weight = empty((n_rows,), acc), empty((n_rows,), acc)
    out, total_weight = empty((1,), x.dtype), empty((1,), acc)
    weight = None if weight is None else contiguous(weight)
    stride = dict(target_row_stride=_row_stride(target_rows) if probs else None)
    ce_kernels.cross_entropy_forward(rows, target_rows, weight, loss, lse, target_weight, n_rows, n_cols,
                                     _row_stride(rows), ignore_index=ignore_index,
                                     label_smoothing=label_smoothing, reduction=reduction, out=out,
                                     total_weight=total_weight, errors=device_errors.record(),
                                     error_code=device_errors.TARGET_OUT_OF_BOUNDS, **stride)
    if ctx.needs_input_grad:
        ctx.save_for_backward(rows, target_rows, weight, lse, total_weight)
        ctx.meta = (x.shape, target.shape, out_shape, ignore_index, label_smoothing, reduction)
    return loss.reshape(out_shape) if reduction == "none" else out.reshape(())


def _cross_entropy_backward(ctx, g):
    """softmax - (smoothed) one-hot, scaled, in one pass per row; and d loss / d target for probabilities."""
    rows, target_rows, weight, lse, total_weight = ctx.saved_tensors
    shape, target_shape, out_shape, ignore_index, label_smoothing, reduction = ctx.meta
    n_rows, n_cols = rows.shape
    probs = _float_kind(target_rows.dtype)
    grad_rows = empty(rows.shape, rows.dtype)
    grad_target = empty(target_rows.shape, target_rows.dtype) if probs and ctx.needs_input_grad[1] else None
    g = g.reshape((-1,)) if reduction == "none" else g.reshape((1,))
    ce_kernels.cross_entropy_backward(rows, target_rows, weight, lse, g, grad_rows, n_rows, n_cols,
                                      _row_stride(rows), ignore_index=ignore_index,
                                      label_smoothing=label_smoothing, reduction=reduction,
                                      grad_loss_stride=g.stride()[0], total_weight=total_weight,
                                      target_row_stride=_row_stride(target_rows) if probs else None,
                                      grad_target=grad_target, errors=device_errors.record(),
                                      error_code=device_errors.TARGET_OUT_OF_BOUNDS)
    grad_x = _class_first(grad_rows, shape) if ctx.needs_input_grad[0] else None
    return grad_x, None if grad_target is None else _class_first(grad_target, target_shape), None


register("cross_entropy", "cuda", _cross_entropy_forward, _cross_entropy_backward, "NllLossBackward0")


# ---- nll_loss ----------------------------------------------------------------------------------------

def _nll_views(x, target):
    """x as (N, C, D) and target as (N, D): views when the layout allows, else contiguous copies."""
    if x.ndim == 1:
        return x.as_strided((1, x.shape[0], 1), (0, x.stride()[0], 0)), target.reshape((1, 1))
    n, n_classes = x.shape[:2]
    if x.ndim == 2:
        return x.as_strided((n, n_classes, 1), x.stride() + (0,)), target.as_strided((n, 1), target.stride() + (0,))
    inner = int(np.prod(x.shape[2:]))
    return x.reshape((n, n_classes, inner)), target.reshape((n, inner))


def _nll_loss_forward(ctx, x, target, weight, ignore_index, reduction):
    """-weight[t] * x[t] per prediction, x already log-probabilities."""
    x3, t2 = _nll_views(x, target)
    acc = nll_kernels.partials_dtype(str(x.dtype))
    weight = None if weight is None else contiguous(weight)
    loss = empty(t2.shape, x.dtype) if reduction == "none" else None
    partials = empty((2 * nll_kernels.n_partials(t2.size),), acc)
    out, total_weight = empty((1,), x.dtype), empty((1,), acc)
    nll_kernels.nll_loss_forward(x3, t2, weight, ignore_index=ignore_index, reduction=reduction, loss=loss,
                                 partials=partials, out=out, total_weight=total_weight, errors=device_errors.record(),
                                 error_code=device_errors.TARGET_OUT_OF_BOUNDS)
    if ctx.needs_input_grad:
        ctx.save_for_backward(t2, weight, total_weight)
        ctx.meta = (x.shape, x3.shape, x.dtype, ignore_index, reduction)
    return loss.reshape(target.shape) if reduction == "none" else out.reshape(())


def _nll_loss_backward(ctx, g):
    t2, weight, total_weight = ctx.saved_tensors
    shape, shape3, dtype, ignore_index, reduction = ctx.meta
    grad = empty(shape3, dtype)
    g = g.reshape(t2.shape) if reduction == "none" else g.reshape((1,))
    nll_kernels.nll_loss_backward(t2, weight, g, grad, ignore_index=ignore_index, reduction=reduction,
                                  total_weight=total_weight, errors=device_errors.record(),
                                  error_code=device_errors.TARGET_OUT_OF_BOUNDS)
    return grad.reshape(shape), None, None


register("nll_loss", "cuda", _nll_loss_forward, _nll_loss_backward, "NllLossBackward0")


# ---- binary cross-entropy ------------------------------------------------------------------------------

def _bce_layout(x, weight, pos_weight):
    """(n_rows, n_cols, weight, weight strides, pos_weight) for the kernels: x's elements as rows of its last
    dim; `weight` (broadcast to x) read in place when its layout is (rows, cols)-strided, else copied;
    `pos_weight` one value per column (else the whole block becomes one row and both weights are copied)."""
    n_cols = x.shape[-1] if x.ndim and x.shape[-1] else 1
    n_rows = x.size // n_cols
    if pos_weight is not None:
        full = pos_weight.broadcast_to(x.shape).reshape_view((n_rows, n_cols)) if x.size else None
        if full is not None and full.stride() == (0, 1):
            pos_weight = full[0]
        elif full is not None and full.stride()[0] == 0:  # one value for every column
            pos_weight = contiguous(full[0])
        else:
            n_rows, n_cols = 1, max(x.size, 1)
            pos_weight = contiguous(pos_weight.broadcast_to(x.shape)).reshape((-1,))
    strides = (n_cols, 1)
    if weight is not None:
        full = weight.broadcast_to(x.shape).reshape_view((n_rows, n_cols))
        if full is None:
            full = contiguous(weight.broadcast_to(x.shape)).reshape((n_rows, n_cols))
        weight, strides = full, full.stride()
    return n_rows, n_cols, weight, strides, pos_weight


def _bce_pair(from_logits):
    def forward(ctx, x, target, weight, *rest):
        pos_weight, reduction = rest if from_logits else (None,) + rest
        x_c, y_c = contiguous(x), contiguous(target)
        n_rows, n_cols, w, (w_row, w_col), pw = _bce_layout(x, weight, pos_weight)
        loss = empty(x.shape, x.dtype) if reduction == "none" else None
        partials = empty((bce_kernels.n_partials(n_rows, n_cols),), bce_kernels.partials_dtype(str(x.dtype)))
        out = empty((1,), x.dtype)
        bce_kernels.bce_forward(x_c, y_c, w, pw, loss, partials, n_rows, n_cols, from_logits=from_logits,
                                reduction=reduction, weight_row_stride=w_row, weight_col_stride=w_col, out=out,
                                errors=device_errors.record(), error_code=device_errors.NOT_A_PROBABILITY)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x_c, y_c, w, pw)
            ctx.meta = (n_rows, n_cols, w_row, w_col, reduction)
        return loss if reduction == "none" else out.reshape(())

    def backward(ctx, g):
        x, y, w, pw = ctx.saved_tensors
        n_rows, n_cols, w_row, w_col, reduction = ctx.meta
        need = ctx.needs_input_grad
        grad_x = empty(x.shape, x.dtype) if need[0] else None
        grad_y = empty(y.shape, y.dtype) if need[1] else None
        g = contiguous(g) if reduction == "none" else g.reshape((1,))
        bce_kernels.bce_backward(x, y, w, pw, g, grad_x, n_rows, n_cols, from_logits=from_logits,
                                 reduction=reduction, weight_row_stride=w_row, weight_col_stride=w_col,
                                 grad_y=grad_y)
        return (grad_x, grad_y, None) + ((None,) if from_logits else ())

    return forward, backward


register("binary_cross_entropy", "cuda", *_bce_pair(from_logits=False))
register("binary_cross_entropy_with_logits", "cuda", *_bce_pair(from_logits=True))
