"""CPU kernels for elementwise ops: one (forward, backward) pair per op.

float16 and bfloat16 inputs are computed in float32 and rounded once, as
PyTorch's CPU kernels do.
"""
import numpy as np

from ...autograd.registry import not_differentiable, register
from . import special
from .common import LOW_PRECISION, sum_to_shape, upcast


def _unary(op, fn, grad, saves="input", node_name=None):
    """Register `op` as `fn(x)`; `grad(g, x, out)` gives the input gradient."""

    def forward(ctx, x):
        out = fn(upcast(x))
        out = out.astype(x.dtype, copy=False) if x.dtype in LOW_PRECISION else out
        if ctx.needs_input_grad:
            ctx.save_for_backward(x if saves == "input" else out)
        return out

    def backward(ctx, g):
        (saved,) = ctx.saved_tensors
        x, out = (saved, None) if saves == "input" else (None, saved)
        dtype = saved.dtype
        result = grad(upcast(g), None if x is None else upcast(x), None if out is None else upcast(out))
        return result.astype(dtype, copy=False)

    register(op, "cpu", forward, backward, node_name)


def _stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


_unary("neg", np.negative, lambda g, x, o: -g)
_unary("exp", np.exp, lambda g, x, o: g * o, saves="output")
_unary("log", np.log, lambda g, x, o: g / x)
_unary("log1p", np.log1p, lambda g, x, o: g / (1 + x))
_unary("expm1", np.expm1, lambda g, x, o: g * (o + 1), saves="output")
_unary("sqrt", np.sqrt, lambda g, x, o: g / (2 * o), saves="output")
_unary("rsqrt", lambda x: 1 / np.sqrt(x), lambda g, x, o: -0.5 * g * o * o * o, saves="output")
_unary("sin", np.sin, lambda g, x, o: g * np.cos(x))
_unary("cos", np.cos, lambda g, x, o: -g * np.sin(x))
_unary("tanh", np.tanh, lambda g, x, o: g * (1 - o * o), saves="output")
_unary("sigmoid", _stable_sigmoid, lambda g, x, o: g * o * (1 - o), saves="output")
# np.maximum(a, b) returns b unless a > b: with 0 first, relu(-0.0) is -0.0 and nan stays nan, as in PyTorch
_unary("relu", lambda x: np.maximum(0, x, dtype=x.dtype) if x.dtype != np.bool_ else x,
       lambda g, x, o: g * (o > 0), saves="output")
_unary("abs", np.abs, lambda g, x, o: g * np.sign(x))
_unary("reciprocal", np.reciprocal, lambda g, x, o: -g * o * o, saves="output")
_unary("square", np.square, lambda g, x, o: 2 * g * x, node_name="PowBackward0")


for _name, _fn in (("floor", np.floor), ("ceil", np.ceil), ("round", np.round), ("trunc", np.trunc)):
    _unary(_name, _fn, lambda g, x, o: np.zeros_like(g))


def _sign_forward(ctx, x):
    if x.dtype == np.bool_:
        return x.copy()
    out = np.sign(x)
    # PyTorch: sign(nan) is 0 and sign(-0.0) is +0.0 (numpy gives nan and -0.0)
    floating = x.dtype.kind == "f" or x.dtype in LOW_PRECISION  # bfloat16 is kind "V" in numpy
    return np.where(np.isnan(out) | (out == 0), 0, out).astype(out.dtype, copy=False) if floating else out


def _sign_backward(ctx, g):
    return np.zeros_like(g)


register("sign", "cpu", _sign_forward, _sign_backward)


def _pow_scalar_forward(ctx, x, exponent):
    ctx.exponent = exponent
    if ctx.needs_input_grad:
        ctx.save_for_backward(x)
    out = np.power(upcast(x), exponent)
    return out.astype(x.dtype, copy=False)


def _pow_scalar_backward(ctx, g):
    (x,) = ctx.saved_tensors
    c = ctx.exponent
    if c == 0:
        return np.zeros_like(g)
    return (upcast(g) * c * np.power(upcast(x), c - 1)).astype(x.dtype, copy=False)


register("pow_scalar", "cpu", _pow_scalar_forward, _pow_scalar_backward, "PowBackward0")


def _clamp_forward(ctx, x, low, high):
    if ctx.needs_input_grad:
        ctx.save_for_backward(x)
        ctx.bounds = (low, high)
    out = upcast(x)
    # bound first: x is kept unless strictly outside (clamp(-0.0, min=0.0) is -0.0, as in PyTorch)
    if low is not None:
        out = np.maximum(low, out)
    if high is not None:
        out = np.minimum(high, out)
    return out.astype(x.dtype, copy=False)


def _clamp_backward(ctx, g):
    (x,) = ctx.saved_tensors
    low, high = ctx.bounds
    keep = np.ones(x.shape, dtype=bool)
    if low is not None:
        keep &= x >= low
    if high is not None:
        keep &= x <= high
    return g * keep


register("clamp", "cpu", _clamp_forward, _clamp_backward, "ClampBackward1")


def _clamp_tensor_forward(ctx, x, low, high):
    """clamp with tensor bounds (either may be None): numpy's minimum(high, maximum(low, x)) as the scalar
    clamp, so nan in any operand gives nan and high wins where low > high."""
    out = upcast(x)
    if low is not None:
        out = np.maximum(upcast(low), out)
    if high is not None:
        out = np.minimum(upcast(high), out)
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, low, high)
    return out.astype(x.dtype, copy=False)


def _clamp_tensor_backward(ctx, g):
    """Each of (x, low, high) gets the gradient where it is the result, as PyTorch's clamp_backward and
    clamp_backward_min_max define it (ties go to x; where low > high, to high)."""
    x, low, high = (None if a is None else upcast(a) for a in ctx.saved_tensors)
    keep_x = np.ones(x.shape, dtype=bool)
    keep_low = keep_high = None
    if low is not None:
        keep_x = keep_x & (x >= low)
        keep_low = (x < low) & (low < high) if high is not None else x < low
    if high is not None:
        keep_x = keep_x & (x <= high)
        keep_high = (x > high) | (high < low) if low is not None else x > high
    zero = np.zeros((), dtype=g.dtype)
    return tuple(sum_to_shape(np.where(keep, g, zero), saved.shape) if need else None
                 for keep, saved, need in zip((keep_x, keep_low, keep_high), ctx.saved_tensors, ctx.needs_input_grad))


register("clamp_tensor", "cpu", _clamp_tensor_forward, _clamp_tensor_backward, "ClampBackward0")


# ---- binary ops: inputs already share one dtype; `b` may be a Python scalar ----

def _binary(op, fn, grad_a, grad_b, node_name=None, a_for=(True, True), b_for=(True, True)):
    """Register `op` as `fn(a, b)`; `grad_a(g, a, b)` and `grad_b` give the gradients before
    broadcasting is undone. `a_for` says whether (grad_a, grad_b) read `a`, `b_for` the same
    for `b`: only values a needed gradient reads are saved, so that changing an input in place
    afterwards is an error exactly when PyTorch makes it one."""

    def forward(ctx, a, b):
        dtype = a.dtype if isinstance(a, np.ndarray) else b.dtype
        out = fn(upcast(a), upcast(b))
        if dtype in LOW_PRECISION:
            out = out.astype(dtype)
        if ctx.needs_input_grad:
            ctx.shapes = (np.shape(a), np.shape(b), dtype)
            ctx.save_operands(a, b, a_for, b_for)
        return out

    def backward(ctx, g):
        a, b = ctx.saved_tensors or (None, None)
        shape_a, shape_b, dtype = ctx.shapes
        g32, a32, b32 = upcast(g), upcast(a), upcast(b)
        need_a, need_b = ctx.needs_input_grad
        ga = sum_to_shape(grad_a(g32, a32, b32), shape_a).astype(dtype, copy=False) if need_a else None
        gb = sum_to_shape(grad_b(g32, a32, b32), shape_b).astype(dtype, copy=False) if need_b else None
        return ga, gb

    register(op, "cpu", forward, backward, node_name)


def _pow_grad_exponent(g, a, b):
    grad = g * np.power(a, b) * np.log(a)
    # PyTorch: where the base is 0 and the exponent >= 0 the exponent's gradient is 0
    return np.where((a == 0) & (b >= 0), 0, grad)


def _max_tie(g, a, b):
    return g * ((a > b) + 0.5 * (a == b))


def _min_tie(g, a, b):
    return g * ((a < b) + 0.5 * (a == b))


_NONE = (False, False)
_binary("add", np.add, lambda g, a, b: g, lambda g, a, b: g, a_for=_NONE, b_for=_NONE)
_binary("sub", np.subtract, lambda g, a, b: g, lambda g, a, b: -g, a_for=_NONE, b_for=_NONE)
_binary("mul", np.multiply, lambda g, a, b: g * b, lambda g, a, b: g * a, a_for=(False, True), b_for=(True, False))
_binary("div", np.divide, lambda g, a, b: g / b, lambda g, a, b: -g * a / (b * b), a_for=(False, True))
_binary("pow", np.power, lambda g, a, b: g * b * np.power(a, b - 1), _pow_grad_exponent, "PowBackward1")
_binary("maximum", np.maximum, _max_tie, lambda g, a, b: _max_tie(g, b, a))
_binary("minimum", np.minimum, _min_tie, lambda g, a, b: _min_tie(g, b, a))


def _check_integer_divisor(b):
    if getattr(b, "dtype", None) is not None and b.dtype.kind in "iub" and not np.all(b):
        raise RuntimeError("ZeroDivisionError")
    if isinstance(b, int) and b == 0:
        raise RuntimeError("ZeroDivisionError")


def _python_floor_divide(a, b):
    _check_integer_divisor(b)
    return np.floor_divide(a, b)


def _remainder(a, b):
    _check_integer_divisor(b)
    return np.remainder(a, b)


def _no_grad_binary(op, fn):
    def forward(ctx, a, b):
        dtype = a.dtype if isinstance(a, np.ndarray) else b.dtype
        out = fn(upcast(a), upcast(b))
        return out.astype(dtype, copy=False) if dtype in LOW_PRECISION else out

    register(op, "cpu", forward, not_differentiable)


_binary("floor_divide", _python_floor_divide, lambda g, a, b: np.zeros_like(g), lambda g, a, b: np.zeros_like(g),
        "DivBackward2", a_for=_NONE, b_for=_NONE)
_binary("remainder", _remainder, lambda g, a, b: g, lambda g, a, b: -g * np.floor(a / b), a_for=(False, True),
        b_for=(False, True))
_no_grad_binary("bitwise_and", np.bitwise_and)
_no_grad_binary("bitwise_or", np.bitwise_or)
_no_grad_binary("bitwise_xor", np.bitwise_xor)
for _name, _fn in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                   ("gt", np.greater), ("ge", np.greater_equal), ("logical_and", np.logical_and),
                   ("logical_or", np.logical_or), ("logical_xor", np.logical_xor)):
    register(_name, "cpu", lambda ctx, a, b, _fn=_fn: _fn(upcast(a), upcast(b)), not_differentiable)
register("logical_not", "cpu", lambda ctx, x: np.logical_not(x), not_differentiable)
register("bitwise_not", "cpu", lambda ctx, x: np.invert(x), not_differentiable)
register("isnan", "cpu", lambda ctx, x: np.isnan(upcast(x)), not_differentiable)
register("isinf", "cpu", lambda ctx, x: np.isinf(upcast(x)), not_differentiable)
register("isfinite", "cpu", lambda ctx, x: np.isfinite(upcast(x)), not_differentiable)


def _where_forward(ctx, condition, a, b):
    if ctx.needs_input_grad:
        ctx.save_for_backward(condition)
        ctx.shapes = (np.shape(a), np.shape(b))
    dtype = a.dtype if isinstance(a, np.ndarray) else b.dtype
    return np.where(condition, a, b).astype(dtype, copy=False)


def _where_backward(ctx, g):
    (condition,) = ctx.saved_tensors
    _, need_a, need_b = ctx.needs_input_grad
    shape_a, shape_b = ctx.shapes
    zero = np.zeros((), dtype=g.dtype)
    ga = sum_to_shape(np.where(condition, g, zero), shape_a) if need_a else None
    gb = sum_to_shape(np.where(condition, zero, g), shape_b) if need_b else None
    return None, ga, gb


register("where", "cpu", _where_forward, _where_backward)


# ---- erf, erfc, erfinv, nan_to_num, lerp ----

_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)
_SQRT_PI_OVER_TWO = np.sqrt(np.pi) / 2.0


def _in_float64(fn):
    """A special function of special.py (float64 math) returning the argument's dtype."""
    return lambda x: fn(x).astype(x.dtype, copy=False)


_unary("erf", _in_float64(special.erf), lambda g, x, o: g * _TWO_OVER_SQRT_PI * np.exp(-x * x))
_unary("erfc", _in_float64(special.erfc), lambda g, x, o: -g * _TWO_OVER_SQRT_PI * np.exp(-x * x))
_unary("erfinv", _in_float64(special.erfinv), lambda g, x, o: g * _SQRT_PI_OVER_TWO * np.exp(o * o), saves="output")


def _nan_to_num_forward(ctx, x, nan, posinf, neginf):
    if ctx.needs_input_grad:
        ctx.save_for_backward(x)
    out = np.nan_to_num(upcast(x), nan=nan, posinf=posinf, neginf=neginf)
    return out.astype(x.dtype, copy=False)


def _nan_to_num_backward(ctx, g):
    (x,) = ctx.saved_tensors
    return g * np.isfinite(upcast(x))


register("nan_to_num", "cpu", _nan_to_num_forward, _nan_to_num_backward)


def _lerp(a, b, w):
    """a + w * (b - a), from whichever end is nearer (PyTorch's formula: exact at w = 0 and w = 1)."""
    return np.where(np.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


def _lerp_scalar_forward(ctx, a, b, weight):
    if ctx.needs_input_grad:
        ctx.meta = (a.shape, b.shape, weight)
    out = _lerp(upcast(a), upcast(b), weight)
    return out.astype(a.dtype, copy=False)


def _lerp_scalar_backward(ctx, g):
    shape_a, shape_b, weight = ctx.meta
    need_a, need_b = ctx.needs_input_grad
    g32 = upcast(g)
    ga = sum_to_shape(g32 * (1 - weight), shape_a).astype(g.dtype, copy=False) if need_a else None
    gb = sum_to_shape(g32 * weight, shape_b).astype(g.dtype, copy=False) if need_b else None
    return ga, gb


register("lerp", "cpu", _lerp_scalar_forward, _lerp_scalar_backward)


def _lerp_tensor_forward(ctx, a, b, w):
    if ctx.needs_input_grad:
        need_a, need_b, need_w = ctx.needs_input_grad
        ctx.shapes = (a.shape, b.shape, w.shape)
        ctx.save_for_backward(a if need_w else None, b if need_w else None, w if need_a or need_b else None)
    out = _lerp(upcast(a), upcast(b), upcast(w))
    return out.astype(a.dtype, copy=False)


def _lerp_tensor_backward(ctx, g):
    a, b, w = ctx.saved_tensors
    need_a, need_b, need_w = ctx.needs_input_grad
    shape_a, shape_b, shape_w = ctx.shapes
    g32 = upcast(g)

    def reduced(grad, shape):
        return sum_to_shape(grad, shape).astype(g.dtype, copy=False)

    ga = reduced(g32 * (1 - upcast(w)), shape_a) if need_a else None
    gb = reduced(g32 * upcast(w), shape_b) if need_b else None
    gw = reduced(g32 * (upcast(b) - upcast(a)), shape_w) if need_w else None
    return ga, gb, gw


register("lerp_tensor", "cpu", _lerp_tensor_forward, _lerp_tensor_backward, "LerpBackward1")
