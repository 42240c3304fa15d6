"""CPU kernels for the nn ops: activations PyTorch keeps as single ops, the fused losses, and embedding.

Losses work on rows: the class dim moves last and the rest flattens, so one
(M, C) layout serves (C,), (N, C) and (N, C, d1, ..., dk) inputs. Inputs in
float16/bfloat16 compute in float32 and round once, as PyTorch's CPU kernels do.
"""
import math

import numpy as np

from ...autograd.registry import register
from .common import sum_to_shape, upcast

# ---- erfc (W. J. Cody's rational approximations, double precision) -----------

_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
          1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
          8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
          2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
          3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
          6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
          2.33520497626869185e-3)
_RSQRTPI = 0.5641895835477562869


def _exp_neg_square(y):
    """exp(-y*y) without the rounding error of squaring y first (Cody's split)."""
    head = np.trunc(y * 16.0) / 16.0
    return np.exp(-head * head) * np.exp(-(y - head) * (y + head))


def erfc(x):
    """Complementary error function of a float64 array, to about 1e-16 relative error."""
    x = np.asarray(x, dtype=np.float64)
    y = np.abs(x)
    out = np.empty_like(y)
    small = y <= 0.46875
    mid = (y > 0.46875) & (y <= 4.0)
    large = ~(small | mid)  # also nan
    z = y[small] ** 2
    num, den = _ERF_A[4] * z, z
    for i in range(3):
        num, den = (num + _ERF_A[i]) * z, (den + _ERF_B[i]) * z
    out[small] = 1.0 - x[small] * (num + _ERF_A[3]) / (den + _ERF_B[3])
    ym = y[mid]
    num, den = _ERF_C[8] * ym, ym
    for i in range(7):
        num, den = (num + _ERF_C[i]) * ym, (den + _ERF_D[i]) * ym
    tail_mid = (num + _ERF_C[7]) / (den + _ERF_D[7]) * _exp_neg_square(ym)
    yl = y[large]
    z = 1.0 / (yl * yl)
    num, den = _ERF_P[5] * z, z
    for i in range(4):
        num, den = (num + _ERF_P[i]) * z, (den + _ERF_Q[i]) * z
    tail_large = (_RSQRTPI - z * (num + _ERF_P[4]) / (den + _ERF_Q[4])) / yl * _exp_neg_square(yl)
    tail_large = np.where(np.isinf(yl), 0.0, tail_large)
    out[mid] = np.where(x[mid] < 0, 2.0 - tail_mid, tail_mid)
    out[large] = np.where(x[large] < 0, 2.0 - tail_large, tail_large)
    return out


# ---- activations: one elementwise kernel pair each ---------------------------

def _activation(op, fn, grad):
    """Register `op` as `fn(x, *params)`; `grad(g, x, *params)` is its input gradient."""

    def forward(ctx, x, *params):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.params = params
        out = fn(upcast(x), *params)
        return out.astype(x.dtype, copy=False)

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return grad(upcast(g), upcast(x), *ctx.params).astype(x.dtype, copy=False)

    register(op, "cpu", forward, backward)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_KAPPA = 0.044715


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x)))
    return (0.5 * x * erfc(-x * math.sqrt(0.5))).astype(x.dtype, copy=False)


def _gelu_grad(g, x, approximate):
    if approximate == "tanh":
        inner = np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x))
        slope = 0.5 * x * (1 - inner * inner) * _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * x * x)
        return g * (0.5 * (1 + inner) + slope)
    x64 = x.astype(np.float64)
    cdf = 0.5 * erfc(-x64 * math.sqrt(0.5))
    return g * (cdf + x64 * np.exp(-0.5 * x64 * x64) * _INV_SQRT_2PI).astype(x.dtype, copy=False)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _silu_grad(g, x):
    s = _sigmoid(x)
    return g * s * (1 + x * (1 - s))


def _softplus(x, beta, threshold):
    z = x * beta
    return np.where(z > threshold, x, np.log1p(np.exp(np.minimum(z, threshold))) / beta).astype(x.dtype)


def _softplus_grad(g, x, beta, threshold):
    z = x * beta
    e = np.exp(np.minimum(z, threshold))
    return np.where(z > threshold, g, g * e / (e + 1)).astype(x.dtype, copy=False)


_activation("gelu", _gelu, _gelu_grad)
_activation("silu", lambda x: x * _sigmoid(x), _silu_grad)
_activation("leaky_relu", lambda x, slope: np.where(x > 0, x, x * slope).astype(x.dtype, copy=False),
            lambda g, x, slope: np.where(x > 0, g, g * slope).astype(g.dtype, copy=False))
_activation("softplus", _softplus, _softplus_grad)


# ---- losses --------------------------------------------------------------------

def _rows(x):
    """(C,) -> (1, C); (N, C, d1, ...) -> (N*d1*..., C): the class dim last, one row per prediction."""
    if x.ndim == 2:  # the common (N, C) case: already rows
        return x
    if x.ndim == 1:
        return x.reshape(1, -1)
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _unrows(rows, shape):
    if len(shape) <= 2:
        return rows.reshape(shape)
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return np.moveaxis(rows.reshape(moved), -1, 1)


def _reduce(loss, reduction, denom=None):
    """Reduce per-element losses; `denom` replaces the element count for 'mean' (weighted NLL)."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return total
    return total / (loss.size if denom is None else denom)


def _upstream(g, reduction, shape, denom=None):
    """The gradient reaching each per-element loss, shaped like `shape`."""
    g = upcast(g)
    if reduction == "none":
        return g.reshape(shape)
    if reduction == "mean":
        g = g / (math.prod(shape) if denom is None else denom)
    return np.broadcast_to(g, shape)


def _log_softmax_rows(rows):
    if not rows.shape[1]:
        return rows.copy()
    # A row whose max is +-inf gives nan throughout, as in PyTorch (inf - inf)
    shifted = rows - rows.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _class_weights(target, weight, ignore_index, dtype):
    """Per-row target classes (ignored rows point at class 0), the valid-row mask and the rows' weights (0 where
    ignored). The mask and weights are None when no row is ignored and no class weight is given (all ones)."""
    t = target.reshape(-1)
    valid = t != ignore_index
    if valid.all():
        valid, classes = None, t
        w_rows = None if weight is None else weight[t]
    else:
        classes = np.where(valid, t, 0)
        w_rows = valid.astype(dtype) if weight is None else np.where(valid, weight[classes], 0).astype(dtype)
    return classes, valid, w_rows


def _cross_entropy_forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
    """-sum_c q_c log_softmax(x)_c per row, q the (weighted, smoothed) target distribution."""
    rows = _rows(upcast(x))
    n_rows, n_classes = rows.shape
    logp = _log_softmax_rows(rows)
    w = None if weight is None else upcast(weight).astype(rows.dtype, copy=False)
    eps = label_smoothing
    if target.dtype.kind in "iu":
        classes, valid, w_rows = _class_weights(target, w, ignore_index, rows.dtype)
        picked = logp[np.arange(n_rows), classes]
        loss = -picked if w_rows is None else -w_rows * picked
        if eps > 0:
            smooth = -(logp * w).sum(axis=1) if w is not None else -logp.sum(axis=1)
            loss = (1 - eps) * loss + (eps / n_classes) * (smooth if valid is None else np.where(valid, smooth, 0))
        denom = n_rows if w_rows is None else w_rows.sum()
        out_shape = target.shape
    else:
        classes = valid = w_rows = None
        probs = _rows(upcast(target)).astype(rows.dtype, copy=False)
        if eps > 0:
            probs = probs * (1 - eps) + eps / n_classes
        q = probs * w if w is not None else probs
        loss = -(q * logp).sum(axis=1)
        denom = n_rows
        out_shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
    if ctx.needs_input_grad:
        ctx.save_for_backward(logp, target, w)
        ctx.meta = (x.shape, x.dtype, out_shape, eps, reduction, denom)
        ctx.rows = (classes, valid, w_rows)
    out = _reduce(loss.reshape(out_shape), reduction, denom)
    return np.asarray(out).astype(x.dtype, copy=False)


def _cross_entropy_backward(ctx, g):
    """Input gradient: scale * (Q p - q) per row, Q = sum_c q_c; softmax minus one-hot in the plain case."""
    logp, target, w = ctx.saved_tensors
    shape, dtype, out_shape, eps, reduction, denom = ctx.meta
    classes, valid, w_rows = ctx.rows
    n_rows, n_classes = logp.shape
    g = upcast(g).astype(logp.dtype, copy=False)
    # d loss / d (per-row loss): one number for 'mean' and 'sum', a row's own for 'none'
    scale = g.reshape(-1) if reduction == "none" else g / denom if reduction == "mean" else g
    grad = np.exp(logp)
    grad_t = None
    if target.dtype.kind in "iu":
        if valid is None and w is None and eps == 0:  # the plain case: softmax minus one-hot, scaled
            grad *= scale if scale.ndim == 0 else scale[:, None]
            grad[np.arange(n_rows), classes] -= scale
        else:
            scale = np.broadcast_to(scale, (n_rows,))
            if valid is not None:
                scale = np.where(valid, scale, 0)  # ignored rows get exactly 0, even when the mean divides by 0
            hard = (1 - eps) * scale * (1 if w_rows is None else w_rows)
            total_w = n_classes if w is None else w.sum()
            soft = (eps / n_classes) * scale * (1 if valid is None else valid)
            grad *= (hard + soft * total_w)[:, None]
            grad[np.arange(n_rows), classes] -= hard
            if eps > 0:
                grad -= soft[:, None] * (1.0 if w is None else w[None, :])
    else:
        scale = np.broadcast_to(scale, (n_rows,))
        probs = _rows(upcast(target)).astype(logp.dtype, copy=False)
        if eps > 0:
            probs = probs * (1 - eps) + eps / n_classes
        q = probs * w if w is not None else probs
        grad = (grad * q.sum(axis=1, keepdims=True) - q) * scale[:, None]
        if ctx.needs_input_grad[1]:
            d_probs = -logp * (w if w is not None else 1.0) * (1 - eps) * scale[:, None]
            grad_t = _unrows(d_probs, shape).astype(target.dtype, copy=False)
    grad_x = _unrows(grad, shape).astype(dtype, copy=False) if ctx.needs_input_grad[0] else None
    return grad_x, grad_t, None


register("cross_entropy", "cpu", _cross_entropy_forward, _cross_entropy_backward, "NllLossBackward0")


def _nll_loss_forward(ctx, x, target, weight, ignore_index, reduction):
    """-weight[t] * x[t] per row, x already log-probabilities."""
    rows = _rows(upcast(x))
    w = None if weight is None else upcast(weight).astype(rows.dtype, copy=False)
    classes, _, w_rows = _class_weights(target, w, ignore_index, rows.dtype)
    picked = rows[np.arange(rows.shape[0]), classes]
    loss = -picked if w_rows is None else -w_rows * picked
    denom = rows.shape[0] if w_rows is None else w_rows.sum()
    if ctx.needs_input_grad:
        ctx.save_for_backward(target, w)
        ctx.meta = (x.shape, x.dtype, ignore_index, reduction, denom)
    return np.asarray(_reduce(loss.reshape(target.shape), reduction, denom)).astype(x.dtype, copy=False)


def _nll_loss_backward(ctx, g):
    target, w = ctx.saved_tensors
    shape, dtype, ignore_index, reduction, denom = ctx.meta
    n_classes = shape[1] if len(shape) > 1 else shape[0]
    scale = _upstream(g, reduction, target.shape, denom).reshape(-1)
    classes, valid, w_rows = _class_weights(target, w, ignore_index, scale.dtype)
    grad = np.zeros((classes.size, n_classes), dtype=scale.dtype)
    if valid is not None:
        scale = np.where(valid, scale, 0)  # ignored rows get exactly 0, even when the mean divides by 0
    grad[np.arange(classes.size), classes] = -scale if w_rows is None else -w_rows * scale
    return _unrows(grad, shape).astype(dtype, copy=False), None, None


register("nll_loss", "cpu", _nll_loss_forward, _nll_loss_backward, "NllLossBackward0")

_BCE_EPS = 1e-12  # PyTorch's floor on x(1-x) in the input gradient


def _bce_forward(ctx, x, target, weight, reduction):
    """-w (t log x + (1-t) log(1-x)), each log clamped at -100 as PyTorch does."""
    x32, t32 = upcast(x), upcast(target)
    loss = -(t32 * np.maximum(np.log(x32), -100) + (1 - t32) * np.maximum(np.log1p(-x32), -100))
    if weight is not None:
        loss = loss * upcast(weight)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, target, weight)
        ctx.reduction = reduction
    return np.asarray(_reduce(loss, reduction)).astype(x.dtype, copy=False)


def _bce_backward(ctx, g):
    x, target, weight = ctx.saved_tensors
    x32, t32 = upcast(x), upcast(target)
    scale = _upstream(g, ctx.reduction, x.shape)
    if weight is not None:
        scale = scale * upcast(weight)
    grad_x = grad_t = None
    if ctx.needs_input_grad[0]:
        grad_x = (scale * (x32 - t32) / np.maximum((1 - x32) * x32, _BCE_EPS)).astype(x.dtype, copy=False)
    if ctx.needs_input_grad[1]:
        grad_t = (scale * (np.log1p(-x32) - np.log(x32))).astype(target.dtype, copy=False)
    return grad_x, grad_t, None


register("binary_cross_entropy", "cpu", _bce_forward, _bce_backward)


def _log_sigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _bce_logits_forward(ctx, x, target, weight, pos_weight, reduction):
    """(1-t) x - (1 + (pw-1) t) log_sigmoid(x), times w: stable for any x."""
    x32, t32 = upcast(x), upcast(target)
    log_sig = _log_sigmoid(x32)
    if pos_weight is None:
        loss = (1 - t32) * x32 - log_sig
    else:
        loss = (1 - t32) * x32 - (1 + (upcast(pos_weight) - 1) * t32) * log_sig
    if weight is not None:
        loss = loss * upcast(weight)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, target, weight, pos_weight)
        ctx.meta = (reduction, loss.shape)
    return np.asarray(_reduce(loss, reduction)).astype(x.dtype, copy=False)


def _bce_logits_backward(ctx, g):
    """Input gradient w ((pw t + 1 - t) sigmoid(x) - pw t): sigmoid(x) - t without pos_weight."""
    x, target, weight, pos_weight = ctx.saved_tensors
    reduction, loss_shape = ctx.meta
    x32, t32 = upcast(x), upcast(target)
    scale = _upstream(g, reduction, loss_shape)
    if weight is not None:
        scale = scale * upcast(weight)
    sig = _sigmoid(x32)
    grad_x = grad_t = None
    if ctx.needs_input_grad[0]:
        if pos_weight is None:
            grad = sig - t32
        else:
            pt = upcast(pos_weight) * t32
            grad = (pt + 1 - t32) * sig - pt
        grad_x = sum_to_shape(scale * grad, x.shape).astype(x.dtype, copy=False)
    if ctx.needs_input_grad[1]:
        pw_minus_1 = 0 if pos_weight is None else upcast(pos_weight) - 1
        grad_t = sum_to_shape(scale * (-x32 - pw_minus_1 * _log_sigmoid(x32)), target.shape)
        grad_t = grad_t.astype(target.dtype, copy=False)
    return grad_x, grad_t, None, None


register("binary_cross_entropy_with_logits", "cpu", _bce_logits_forward, _bce_logits_backward)


# ---- embedding -------------------------------------------------------------------

def _embedding_forward(ctx, weight, indices, padding_idx):
    if ctx.needs_input_grad:
        ctx.save_for_backward(indices)
        ctx.meta = (weight.shape, weight.dtype, padding_idx)
    return weight[indices]


def _embedding_backward(ctx, g):
    """Scatter-add each looked-up row's gradient; the padding row gets none."""
    (indices,) = ctx.saved_tensors
    shape, dtype, padding_idx = ctx.meta
    flat = indices.reshape(-1)
    rows = upcast(g).reshape(flat.size, shape[1])
    if padding_idx is not None:
        keep = flat != padding_idx
        flat, rows = flat[keep], rows[keep]
    grad = np.zeros(shape, dtype=rows.dtype)
    np.add.at(grad, flat, rows)
    return grad.astype(dtype, copy=False), None


register("embedding", "cpu", _embedding_forward, _embedding_backward)
