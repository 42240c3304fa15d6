"""Differentiable formulas of matmul, the fused linear layer, the activations and the losses with kernels of their
own (framework/ops/linalg.py, framework/ops/nn.py).

Fused ops differentiate the composition they fuse (`recompute`): linear is `act(x @ W.T + b)`, cross_entropy is
log_softmax, a pick of the target's entry and smoothing, linear_cross_entropy is the two together."""
import math

from ...ops import elementwise as ew
from ...ops import nn as ops_nn
from ...ops import reduction as red
from ...ops import rnn_step as ops_rnn_step
from ...ops.elementwise import broadcast_shapes
from . import derivative
from .tools import recompute, sum_to, zeros

# ---- matmul and linear ------------------------------------------------------------------------


@derivative("matmul", save=((0, (1,)), (1, (0,))), shapes=True)
def _matmul(ctx, g):
    """Vectors as matrices (`a` a row, `b` a column), batch dims broadcast and summed back."""
    shape_a, shape_b = ctx.shape(0), ctx.shape(1)
    mat_a = shape_a if len(shape_a) > 1 else (1,) + shape_a
    mat_b = shape_b if len(shape_b) > 1 else shape_b + (1,)
    g = g.reshape(broadcast_shapes(mat_a[:-2], mat_b[:-2]) + (mat_a[-2], mat_b[-1]))
    need_a, need_b = ctx.needs_input_grad
    grad_a = grad_b = None
    if need_a:
        grad_a = sum_to(g @ ctx.input(1).reshape(mat_b).mT, mat_a).reshape(shape_a)
    if need_b:
        grad_b = sum_to(ctx.input(0).reshape(mat_a).mT @ g, mat_b).reshape(shape_b)
    return grad_a, grad_b


_ACTIVATIONS = {"relu": lambda z: ew.relu(z), "gelu": lambda z: ops_nn.gelu(z),
                "gelu_tanh": lambda z: ops_nn.gelu(z, "tanh"), "silu": lambda z: ops_nn.silu(z)}


def linear_composition(x, weight, bias, activation):
    z = x @ weight.t()
    if bias is not None:
        z = z + bias
    return z if activation is None else _ACTIVATIONS[activation](z)


@derivative("linear", save=(0, 1, 2), inputs=(2, 0, 1))  # addmm(bias, input, weight.t())
def _linear(ctx, g):
    return recompute(ctx, g, linear_composition, (0, 1, 2))


# ---- activations --------------------------------------------------------------------------------

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_KAPPA = 0.044715


@derivative("gelu", kernel_saves="input")
def _gelu(ctx, g):
    (approximate,) = ctx.params
    x = ctx.input(0)
    if approximate == "tanh":
        inner = ((x + _KAPPA * x * x * x) * _SQRT_2_OVER_PI).tanh()
        slope = x * 0.5 * (1 - inner * inner) * _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * x * x)
        return g * (0.5 * (1 + inner) + slope)
    # Phi(x) + x phi(x): the normal distribution function and density
    cdf = ((x * math.sqrt(0.5)).erf() + 1) * 0.5
    density = (x * x * -0.5).exp() * _INV_SQRT_2PI
    return g * (cdf + x * density)


@derivative("silu", kernel_saves="input")
def _silu(ctx, g):
    x = ctx.input(0)
    s = x.sigmoid()
    return g * s * (1 + x * (1 - s))


@derivative("leaky_relu", kernel_saves="input")
def _leaky_relu(ctx, g):
    (slope,) = ctx.params
    return ew.where(ctx.input(0) > 0, g, g * slope)


@derivative("softplus", kernel_saves="input")
def _softplus(ctx, g):
    beta, threshold = ctx.params
    z = ctx.input(0) * beta
    return ew.where(z > threshold, g, g * z.sigmoid())


@derivative("elu", kernel_saves="input")
def _elu(ctx, g):
    """scale * alpha * exp(x) where x <= 0 (selu is elu with its two constants), scale above; exp reads x
    clamped to 0, so a large x (the other side) cannot overflow into the second derivative."""
    alpha, scale = ctx.params
    x = ctx.input(0)
    return ew.where(x <= 0, g * (scale * alpha) * x.clamp(max=0).exp(), g * scale)


@derivative("celu", kernel_saves="input")
def _celu(ctx, g):
    (alpha,) = ctx.params
    x = ctx.input(0)
    return ew.where(x <= 0, g * (x.clamp(max=0) / alpha).exp(), g)


@derivative("hardtanh", kernel_saves="input")
def _hardtanh(ctx, g):
    """No gradient at the bounds themselves, as the kernels (and PyTorch)."""
    low, high = ctx.params
    x = ctx.input(0)
    return ew.where((x > low) & (x < high), g, 0.0)


@derivative("threshold", kernel_saves="input")
def _threshold(ctx, g):
    threshold, _ = ctx.params
    return ew.where(ctx.input(0) <= threshold, 0.0, g)


@derivative("hardswish", kernel_saves="input")
def _hardswish(ctx, g):
    """0 up to -3, g (x / 3 + 1/2) up to 3 (excluded), g above: the kernels' bounds."""
    x = ctx.input(0)
    return ew.where(x <= -3, 0.0, ew.where(x < 3, g * (x / 3 + 0.5), g))


@derivative("hardsigmoid", kernel_saves="input")
def _hardsigmoid(ctx, g):
    x = ctx.input(0)
    return ew.where((x > -3) & (x < 3), g / 6, 0.0)


@derivative("mish", kernel_saves="input")
def _mish(ctx, g):
    """mish(x) = x tanh(softplus(x)): g (t + x sigmoid(x) (1 - t^2)) with t = tanh(softplus(x))."""
    x = ctx.input(0)
    t = ops_nn.softplus(x).tanh()
    return g * (t + x * x.sigmoid() * (1 - t * t))


@derivative("log_sigmoid", kernel_saves="input")
def _log_sigmoid(ctx, g):
    return g * (-ctx.input(0)).sigmoid()


# ---- losses ---------------------------------------------------------------------------------------

def _class_dim(x):
    return 1 if x.ndim > 1 else 0


def _class_weights(target, weight, ignore_index, like):
    """Per-prediction target classes (ignored ones point at class 0), the valid mask and the weights (0 where
    ignored), as the kernels compute them."""
    valid = target != ignore_index
    classes = ew.where(valid, target, 0)
    picked = weight[classes] if weight is not None else None
    weights = valid.to(like.dtype) if picked is None else ew.where(valid, picked, 0.0)
    return classes, valid, weights


def _reduce(loss, reduction, denominator):
    if reduction == "none":
        return loss
    total = loss.sum()
    return total if reduction == "sum" else total / denominator


def cross_entropy_composition(x, target, weight, ignore_index, label_smoothing, reduction):
    """The loss the fused cross_entropy kernels compute, in framework ops."""
    dim = _class_dim(x)
    n_classes = x.shape[dim]
    logp = red.log_softmax(x, dim)
    eps = label_smoothing
    if not target.dtype.is_floating_point:
        classes, valid, weights = _class_weights(target, weight, ignore_index, x)
        picked = logp.gather(dim, classes.unsqueeze(dim)).squeeze(dim)
        loss = -(picked * weights)
        if eps > 0:
            scaled = logp if weight is None else logp * weight.reshape((-1,) + (1,) * (x.ndim - dim - 1))
            smooth = ew.where(valid, -scaled.sum(dim), 0.0)
            loss = loss * (1 - eps) + smooth * (eps / n_classes)
        unweighted = weight is None and not bool((~valid).any())
        return _reduce(loss, reduction, math.prod(target.shape) if unweighted else weights.sum())
    q = target * (1 - eps) + eps / n_classes if eps > 0 else target
    if weight is not None:
        q = q * weight.reshape((-1,) + (1,) * (x.ndim - dim - 1))
    loss = -(q * logp).sum(dim)
    return _reduce(loss, reduction, math.prod(loss.shape))


@derivative("cross_entropy", save=(0, 1, 2), inputs=(0,))
def _cross_entropy(ctx, g):
    return recompute(ctx, g, cross_entropy_composition, (0, 1))


def _linear_cross_entropy_composition(x, weight, target, bias, ignore_index, label_smoothing, reduction, chunk):
    return cross_entropy_composition(linear_composition(x, weight, bias, None), target, None, ignore_index,
                                     label_smoothing, reduction)


@derivative("linear_cross_entropy", save=(0, 1, 2, 3), inputs=(0, 1, 3))
def _linear_cross_entropy(ctx, g):
    return recompute(ctx, g, _linear_cross_entropy_composition, (0, 1, 3))


@derivative("rnn_step", save=(0, 1, 2, 3, 4))
def _rnn_step(ctx, g):
    """The fused recurrent step differentiates its composition (ops/rnn_step.py)."""
    return recompute(ctx, g, ops_rnn_step.composition, (0, 1, 2, 3, 4))


@derivative("nll_loss", save=(1, 2), shapes=True, inputs=(0,))
def _nll_loss(ctx, g):
    """-weight[t] * g at each prediction's target entry (0 for ignored ones); linear in g, so its own gradient
    needs no formula beyond scatter's and gather's."""
    ignore_index, reduction = ctx.params
    shape = ctx.shape(0)
    target, weight = ctx.input(1), ctx.input(2)
    classes, valid, weights = _class_weights(target, weight, ignore_index, g)
    if reduction == "none":
        scale = g
    else:
        unweighted = weight is None and not bool((~valid).any())
        scale = (g / (math.prod(target.shape) if unweighted else weights.sum())) if reduction == "mean" else g
        scale = scale.expand(target.shape)
    values = ew.where(valid, -(weights * scale), 0.0)  # ignored predictions get 0, even for a mean over nothing
    dim = 1 if len(shape) > 1 else 0
    grad = zeros(shape, g).scatter(dim, classes.unsqueeze(dim), values.unsqueeze(dim))
    return grad, None, None


def _upstream(g, reduction, shape):
    """The gradient reaching each per-element loss of `shape`."""
    if reduction == "none":
        return g
    if reduction == "mean":
        g = g / math.prod(shape)
    return g.expand(shape)


_BCE_EPS = 1e-12


@derivative("binary_cross_entropy", save=(0, 1, 2), inputs=(0, 1))
def _binary_cross_entropy(ctx, g):
    (reduction,) = ctx.params
    x, target, weight = ctx.input(0), ctx.input(1), ctx.input(2)
    need_x, need_t, _ = ctx.needs_input_grad
    scale = _upstream(g, reduction, x.shape)
    if weight is not None:
        scale = scale * weight
    grad_x = scale * (x - target) / ((1 - x) * x).clamp(min=_BCE_EPS) if need_x else None
    grad_t = scale * ((-x).log1p() - x.log()) if need_t else None
    return grad_x, grad_t, None


@derivative("binary_cross_entropy_with_logits", save=(0, 1, 2, 3), inputs=(0, 1))
def _binary_cross_entropy_with_logits(ctx, g):
    (reduction,) = ctx.params
    x, target, weight, pos_weight = (ctx.input(i) for i in range(4))
    need_x, need_t = ctx.needs_input_grad[:2]
    shape = x.shape
    for other in (target, weight, pos_weight):
        if other is not None:
            shape = broadcast_shapes(tuple(shape), tuple(other.shape))
    scale = _upstream(g, reduction, tuple(shape))
    if weight is not None:
        scale = scale * weight
    grad_x = grad_t = None
    if need_x:
        if pos_weight is None:
            grad = x.sigmoid() - target
        else:
            weighted = pos_weight * target
            grad = (weighted + 1 - target) * x.sigmoid() - weighted
        grad_x = sum_to(scale * grad, x.shape)
    if need_t:
        grad = -x if pos_weight is None else -x + (pos_weight - 1) * ops_nn.softplus(-x)  # log_sigmoid = -softplus(-x)
        grad_t = sum_to(scale * grad, target.shape)
    return grad_x, grad_t, None, None
