"""Differentiable formulas of the elementwise ops (framework/ops/elementwise.py), each PyTorch's
derivatives.yaml entry written in framework ops. Ties and edge cases follow the first-order kernels
(backends/numpy/elementwise.py), so a gradient is the same with or without `create_graph`.

The unary ops read the one array their kernels save (`kernel_saves`), the binary ones their kernels' operands
(`operands`): recording them costs nothing beyond the kernels' own saves."""
import math

from ...ops import elementwise as ew
from . import derivative
from .tools import zeros


# ---- unary -----------------------------------------------------------------------------------

@derivative("neg")
def _neg(ctx, g):
    return -g


@derivative("exp", kernel_saves="output")
def _exp(ctx, g):
    return g * ctx.output()


@derivative("log", kernel_saves="input")
def _log(ctx, g):
    return g / ctx.input(0)


@derivative("log1p", kernel_saves="input")
def _log1p(ctx, g):
    return g / (ctx.input(0) + 1)


@derivative("expm1", kernel_saves="output")
def _expm1(ctx, g):
    return g * (ctx.output() + 1)


@derivative("sqrt", kernel_saves="output")
def _sqrt(ctx, g):
    return g / (2 * ctx.output())


@derivative("rsqrt", kernel_saves="output")
def _rsqrt(ctx, g):
    return -0.5 * g * ctx.output().pow(3)


@derivative("sin", kernel_saves="input")
def _sin(ctx, g):
    return g * ctx.input(0).cos()


@derivative("cos", kernel_saves="input")
def _cos(ctx, g):
    return g * -ctx.input(0).sin()


@derivative("tanh", kernel_saves="output")
def _tanh(ctx, g):
    y = ctx.output()
    return g * (1 - y * y)


@derivative("sigmoid", kernel_saves="output")
def _sigmoid(ctx, g):
    y = ctx.output()
    return g * (1 - y) * y


@derivative("relu", kernel_saves="output")
def _relu(ctx, g):
    return ew.where(ctx.output() > 0, g, 0.0)  # PyTorch's threshold_backward: 0 where the output is not positive


@derivative("abs", kernel_saves="input")
def _abs(ctx, g):
    return g * ctx.input(0).sign()


@derivative("reciprocal", kernel_saves="output")
def _reciprocal(ctx, g):
    y = ctx.output()
    return -g * (y * y)


@derivative("square", kernel_saves="input")
def _square(ctx, g):
    return g * (ctx.input(0) * 2)


for _op in ("floor", "ceil", "round", "trunc", "sign"):
    derivative(_op)(lambda ctx, g: zeros(g.shape, g))


@derivative("pow_scalar", kernel_saves="input")
def _pow_scalar(ctx, g):
    (exponent,) = ctx.params
    if exponent == 0:
        return zeros(g.shape, g)
    return g * (exponent * ctx.input(0).pow(exponent - 1))


@derivative("clamp", kernel_saves="input")
def _clamp(ctx, g):
    x = ctx.input(0)
    low, high = ctx.params
    keep = None
    if low is not None:
        keep = x >= low
    if high is not None:
        keep = x <= high if keep is None else keep & (x <= high)
    return ew.where(keep, g, 0.0)


@derivative("clamp_tensor", save=(0, 1, 2), shapes=True, scalars=lambda node: node.name() == "ClampBackward0")
def _clamp_tensor(ctx, g):
    """PyTorch's clamp_backward_min_max: each of x, min and max gets g where it is the result (ties go to x;
    where min > max, to max). ClampBackward0 shows an absent bound as (None, 0); ClampMin/MaxBackward1 do not."""
    x, low, high = ctx.input(0), ctx.input(1), ctx.input(2)
    keep_x = keep_low = keep_high = None
    if low is not None:
        keep_x = x >= low
        keep_low = x < low if high is None else (x < low) & (low < high)
    if high is not None:
        keep_x = x <= high if keep_x is None else keep_x & (x <= high)
        keep_high = x > high if low is None else (x > high) | (high < low)
    return tuple(ctx.reduce(ew.where(keep, g, 0.0), i) if keep is not None else None
                 for i, keep in enumerate((keep_x, keep_low, keep_high)))


# ---- special functions ------------------------------------------------------------------------

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@derivative("erf", kernel_saves="input")
def _erf(ctx, g):
    x = ctx.input(0)
    return g * ((x * x).neg().exp() * _TWO_OVER_SQRT_PI)


@derivative("erfc", kernel_saves="input")
def _erfc(ctx, g):
    x = ctx.input(0)
    return g * ((x * x).neg().exp() * -_TWO_OVER_SQRT_PI)


@derivative("erfinv", kernel_saves="output")
def _erfinv(ctx, g):
    y = ctx.output()
    return g * ((y * y).exp() * (math.sqrt(math.pi) / 2))


@derivative("nan_to_num", kernel_saves="input")
def _nan_to_num(ctx, g):
    return ew.where(ctx.input(0).isfinite(), g, 0.0)  # replaced values are constants


@derivative("lerp", shapes=True)
def _lerp(ctx, g):
    (weight,) = ctx.params
    return ctx.reduce(g * (1 - weight), 0), ctx.reduce(g * weight, 1)


@derivative("lerp_tensor", save=((0, (2,)), (1, (2,)), (2, (0, 1))), shapes=True)
def _lerp_tensor(ctx, g):
    need_a, need_b, need_w = ctx.needs_input_grad
    w = ctx.input(2) if need_a or need_b else None
    return (ctx.reduce(g * (1 - w), 0) if need_a else None, ctx.reduce(g * w, 1) if need_b else None,
            ctx.reduce(g * (ctx.input(1) - ctx.input(0)), 2) if need_w else None)


# ---- binary: `b` (and for pow `a`) may be a Python scalar. Their kernels keep the operands a needed
# gradient reads (KernelContext.save_operands): the formulas read those (operands=True) ------------------

def _shows_scalar(node):
    """PyTorch wraps a Python number operand in a tensor (AddBackward0 shows it as (None, 0)); its Scalar
    overloads, which its composite ops call (AddBackward1, MulBackward1, RsubBackward1, ...), show only the
    tensor."""
    return not node.name().endswith("Backward1")


@derivative("add", operands=True, scalars=_shows_scalar)
def _add(ctx, g):
    return ctx.reduce(g, 0), ctx.reduce(g, 1)


@derivative("sub", operands=True, scalars=_shows_scalar)
def _sub(ctx, g):
    return ctx.reduce(g, 0), ctx.reduce(-g, 1) if ctx.needs_input_grad[1] else None


@derivative("mul", operands=True, scalars=_shows_scalar)
def _mul(ctx, g):
    need_a, need_b = ctx.needs_input_grad
    return (ctx.reduce(g * ctx.input(1), 0) if need_a else None,
            ctx.reduce(g * ctx.input(0), 1) if need_b else None)


@derivative("div", operands=True, scalars=_shows_scalar)
def _div(ctx, g):
    need_a, need_b = ctx.needs_input_grad
    b = ctx.input(1)
    grad_a = ctx.reduce(g / b, 0) if need_a else None
    grad_b = ctx.reduce(-g * ((ctx.input(0) / b) / b), 1) if need_b else None
    return grad_a, grad_b


@derivative("pow", operands=True, output=True)
def _pow(ctx, g):
    need_a, need_b = ctx.needs_input_grad
    a, b = ctx.input(0), ctx.input(1)
    grad_a = grad_b = None
    if need_a:  # PyTorch: 0 where the exponent is 0 (the kernels give nan for 0 ** 0 there)
        grad_a = ctx.reduce(ew.where(b == 0, 0.0, g * (b * a.pow(b - 1))), 0)
    if need_b:
        out = ctx.output()
        # PyTorch: no gradient to the exponent where the base is 0 and the exponent non-negative
        if isinstance(a, (int, float)):  # scalar ** tensor (PowBackward2)
            grad = g * out * (math.log(a) if a > 0 else -math.inf if a == 0 else math.nan)
            grad = ew.where(b >= 0, 0.0, grad) if a == 0 else grad
        else:
            grad = ew.where((a == 0) & (b >= 0), 0.0, g * out * a.log())
        grad_b = ctx.reduce(grad, 1)
    return grad_a, grad_b


def _tie_share(winner, tie, g):
    """g where `winner`, half of it where tied (the first-order kernels' rule for maximum/minimum)."""
    return g * (winner.to(g.dtype) + tie.to(g.dtype) * 0.5)


@derivative("maximum", operands=True)
def _maximum(ctx, g):
    a, b = ctx.input(0), ctx.input(1)
    need_a, need_b = ctx.needs_input_grad
    return (ctx.reduce(_tie_share(a > b, a == b, g), 0) if need_a else None,
            ctx.reduce(_tie_share(b > a, a == b, g), 1) if need_b else None)


@derivative("minimum", operands=True)
def _minimum(ctx, g):
    a, b = ctx.input(0), ctx.input(1)
    need_a, need_b = ctx.needs_input_grad
    return (ctx.reduce(_tie_share(a < b, a == b, g), 0) if need_a else None,
            ctx.reduce(_tie_share(b < a, a == b, g), 1) if need_b else None)


@derivative("remainder", operands=True)
def _remainder(ctx, g):
    need_a, need_b = ctx.needs_input_grad
    grad_b = None
    if need_b:
        a, b = ctx.input(0), ctx.input(1)
        grad_b = ctx.reduce(-g * ew.floor(a / b), 1)
    return ctx.reduce(g, 0) if need_a else None, grad_b


@derivative("floor_divide", operands=True, scalars=True)
def _floor_divide(ctx, g):
    need_a, need_b = ctx.needs_input_grad
    return (zeros(ctx.shape(0), g) if need_a else None), (zeros(ctx.shape(1), g) if need_b else None)


@derivative("where", save=(0,), shapes=True, inputs=(1, 2), scalars=True)
def _where(ctx, g):
    _, need_a, need_b = ctx.needs_input_grad
    condition = ctx.input(0)
    return (None, ctx.reduce(ew.where(condition, g, 0.0), 1) if need_a else None,
            ctx.reduce(ew.where(condition, 0.0, g), 2) if need_b else None)
