"""The losses of `framework.nn.functional` beyond the classic ones: KL divergence, Poisson and Gaussian NLL,
the margin and embedding losses, soft margins.

Each is composed of framework ops in PyTorch's own order of operations (its C++ or Python composition), so
its numbers and its `grad_fn` follow PyTorch's: where PyTorch composes, the last op names the node
(`SubBackward0`, `ClampMinBackward0`, `MeanBackward0`); where it keeps the loss whole
(`SoftMarginLossBackward0`), `autograd.composite` records one node of that name. Every device that runs
the ops runs these.
"""
import math
import warnings

import numpy as np

from ..autograd.composite import composite
from ..autograd.grad_mode import no_grad
from ..creation import ones_like
from ..ops import elementwise as _ew
from ..ops import nn as _nn

# PyTorch's Loss.cpp adds EPSILON, a C++ float 1e-12, to squared magnitudes: the float's value, exactly
_EPSILON = float(np.float32(1e-12))


def _legacy_or(size_average, reduce, reduction):
    """`reduction`, or what the deprecated `size_average`/`reduce` pair means (with PyTorch's warning)."""
    if size_average is not None or reduce is not None:
        from .functional import _legacy_get_string
        return _legacy_get_string(size_average, reduce)
    return reduction


def _apply_reduction(loss, reduction):
    """PyTorch's apply_loss_reduction, after its get_enum check of `reduction`."""
    _nn.check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _xlogy_self(t):
    """xlogy(t, t) = t log t, and 0 where t == 0."""
    return _ew.where(t == 0, 0.0, t * t.log())


# ---- divergences and likelihoods ----------------------------------------------------------------------

def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) per element: `input` holds log-probabilities, `target` probabilities (or
    log-probabilities with `log_target`). 'batchmean' divides the sum by the batch size (input.size(0))."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_or(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    enum_reduction = "sum" if reduction == "batchmean" else reduction
    _nn.check_reduction(enum_reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = _xlogy_self(target) - target * input
    reduced = _apply_reduction(loss, enum_reduction)
    if reduction == "batchmean" and input.dim() != 0:
        reduced = reduced / input.size()[0]
    return reduced


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """exp(input) - target * input (log_input), or input - target * log(input + eps); with `full`, Stirling's
    approximation of log(target!) added where target > 1."""
    reduction = _legacy_or(size_average, reduce, reduction)
    if reduction not in _nn.REDUCTIONS:
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss = loss + stirling.masked_fill(target <= 1, 0)
    return _apply_reduction(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 (log(var) + (input - target)^2 / var) (+ 0.5 log(2 pi) with `full`); `var` is clamped to `eps` for
    stability, its gradient flowing as if it were not. `var` may have one dim fewer than `input`, or size 1 in
    one dim (one variance shared), or be a float."""
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = var * ones_like(input)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if var.shape != input.shape:
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif input.ndim == var.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1:
            pass  # one dim of size 1 against the input's: a variance shared along it
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in _nn.REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    var = var.clone()
    with no_grad():
        var.clamp_(min=eps)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _apply_reduction(loss, reduction)


# ---- margin and embedding losses ------------------------------------------------------------------------

def _sizes(t):
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1 (cosine along the last
    dim of 2-d inputs with a 1-d target, or of 1-d inputs with a 0-d one)."""
    reduction = _legacy_or(size_average, reduce, reduction)
    _nn.check_reduction(reduction)
    dim = target.ndim
    if dim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    expected = 2 if dim == 1 else 1
    if input1.ndim != expected:
        raise RuntimeError(f"{dim}D target tensor expects {expected}D input tensors, but found inputs with sizes "
                           f"{_sizes(input1)} and {_sizes(input2)}.")
    prod_sum = (input1 * input2).sum(dim)
    mag_square1 = (input1 * input1).sum(dim) + _EPSILON
    mag_square2 = (input2 * input2).sum(dim) + _EPSILON
    cos = prod_sum / (mag_square1 * mag_square2).sqrt()
    pos = 1 - cos
    neg = (cos - margin).clamp_min(0)
    output = _ew.where(target == 1, pos, 0.0) + _ew.where(target == -1, neg, 0.0)
    return _apply_reduction(output, reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """x where target is 1, max(0, margin - x) where it is -1."""
    reduction = _legacy_or(size_average, reduce, reduction)
    _nn.check_reduction(reduction)
    margin_clamp = (margin - input).clamp_min(0)
    output = _ew.where(target != 1, margin_clamp, 0.0) + _ew.where(target != -1, input, 0.0)
    return _apply_reduction(output, reduction)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target * (x1 - x2) + margin): target 1 asks x1 to rank above x2, -1 below."""
    reduction = _legacy_or(size_average, reduce, reduction)
    _nn.check_reduction(reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} ")
    if input1.shape != input2.shape or input1.shape != target.shape:
        raise RuntimeError("margin_ranking_loss: all input tensors should have same size but got sizes: "
                           f"input1: {_sizes(input1)}, input2: {_sizes(input2)}, target: {_sizes(target)}")
    output = (-target * (input1 - input2) + margin).clamp_min(0)
    return _apply_reduction(output, reduction)


def _pairwise_distance(x1, x2, p, eps):
    """||x1 - x2 + eps||_p along the last dim (PyTorch's pairwise_distance, keepdim=False)."""
    return (x1 - x2 + eps).norm(p, max(x1.ndim, x2.ndim) - 1)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, margin + d(anchor, positive) - d(anchor, negative)) with d the p-norm distance along the last dim
    (with `swap`, d(anchor, negative) is replaced by d(positive, negative) where that is smaller)."""
    reduction = _legacy_or(size_average, reduce, reduction)
    _nn.check_reduction(reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"All inputs should have same dimension but got {anchor.ndim}D, {positive.ndim}D and "
                           f"{negative.ndim}D inputs.")
    dist_pos = _pairwise_distance(anchor, positive, p, eps)
    dist_neg = _pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = _ew.minimum(dist_neg, _pairwise_distance(positive, negative, p, eps))
    output = (margin + dist_pos - dist_neg).clamp_min(0)
    return _apply_reduction(output, reduction)


# ---- soft margins ----------------------------------------------------------------------------------------

def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), the logistic loss of +-1 targets; one node, as PyTorch's."""
    reduction = _legacy_or(size_average, reduce, reduction)
    _nn.check_reduction(reduction)
    _nn._no_grad_argument("soft_margin_loss", "target", target)
    return _soft_margin_loss(input, target, reduction)


@composite("SoftMarginLossBackward0", inputs=("input",))  # target: not differentiable, not shown
def _soft_margin_loss(input, target, reduction):
    return _apply_reduction((-input * target).exp().log1p(), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Per sample, the mean over classes (the last dim) of -(y log sigmoid(x) + (1 - y) log sigmoid(-x)),
    optionally weighted per class."""
    reduction = _legacy_or(size_average, reduce, reduction)
    loss = -(target * _nn.logsigmoid(input) + (1 - target) * _nn.logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    loss = loss.sum(dim=class_dim) / input.size(class_dim)
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction + " is not valid")


__all__ = ["kl_div", "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss", "hinge_embedding_loss",
           "margin_ranking_loss", "triplet_margin_loss", "soft_margin_loss", "multilabel_soft_margin_loss"]
