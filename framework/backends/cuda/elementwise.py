"""cuda kernels for the elementwise ops and the activations: the cpu kernels' signatures and results
(framework/backends/numpy/elementwise.py, nn.py), each a launch of triton_kernels.elementwise.

Forward kernels allocate a contiguous output of the broadcast shape; every operand is read through its
own strides. Backward kernels are the fused formulas of triton_kernels.elementwise (`tanh_backward`,
`div_backward_b`, ...). A gradient that broadcasting must sum is computed in float32 for float16/bfloat16
inputs and rounded once after the sum, as the cpu kernels do.
"""
import numpy as np

from triton_kernels import elementwise as kernels

from ...autograd.registry import not_differentiable, register
from .common import CudaArray, call, empty, scalar, sum_to_shape, zeros

_LOW_PRECISION = frozenset(("float16", "bfloat16"))
_FLOAT32 = np.dtype(np.float32)
_BOOL = np.dtype(np.bool_)


def _shape(x):
    return x.shape if isinstance(x, CudaArray) else ()


def _dtype(a, b):
    """The operands' common dtype (the front end has promoted them): the first array's."""
    return a.dtype if isinstance(a, CudaArray) else b.dtype


def _unary(op, x, dtype=None, **params):
    out = empty(x.shape, x.dtype if dtype is None else dtype)
    return kernels.unary(op, x, out, **params)


def _binary(op, a, b, dtype=None, **params):
    out = empty(np.broadcast_shapes(_shape(a), _shape(b)), _dtype(a, b) if dtype is None else dtype)
    return kernels.binary(op, a, b, out, **params)


def _gradient(kind, op, operands, shape, dtype, **params):
    """`op` of `operands` summed to `shape` (undoing broadcasting), in `dtype`: computed in float32 first for
    float16/bfloat16 when a sum follows."""
    full = np.broadcast_shapes(*(_shape(x) for x in operands))
    if tuple(shape) == full:
        return getattr(kernels, kind)(op, *operands, empty(full, dtype), **params)
    work = _FLOAT32 if str(dtype) in _LOW_PRECISION else dtype
    grad = sum_to_shape(getattr(kernels, kind)(op, *operands, empty(full, work), **params), shape)
    return grad if grad.dtype == dtype else grad.astype(dtype)


def _sum_to(g, shape, dtype):
    grad = sum_to_shape(g, shape)
    return grad if grad.dtype == dtype else grad.astype(dtype)


# ---- unary ops: op -> (what the forward saves: 'input', 'output' or None; the backward: a (kind, op) launch
# on (g, saved), 'zeros', or None for the fused `<op>_backward` formula) ----

_UNARY = {
    "neg": (None, ("unary", "neg")),
    "exp": ("output", ("binary", "mul")),
    "log": ("input", ("binary", "div")),
    "log1p": ("input", None), "expm1": ("output", None), "sqrt": ("output", None), "rsqrt": ("output", None),
    "sin": ("input", None), "cos": ("input", None), "tanh": ("output", None), "sigmoid": ("output", None),
    "relu": ("output", None), "abs": ("input", None), "reciprocal": ("output", None), "square": ("input", None),
    "floor": (None, "zeros"), "ceil": (None, "zeros"), "round": (None, "zeros"), "trunc": (None, "zeros"),
    "sign": (None, "zeros"),
    "erf": ("input", None), "erfc": ("input", None), "erfinv": ("output", None),
}


def _register_unary(op, saves, backward_op):
    def forward(ctx, x):
        out = _unary(op, x)
        if ctx.needs_input_grad and saves is not None:
            ctx.save_for_backward(x if saves == "input" else out)
        ctx.dtype = x.dtype
        return out

    def backward(ctx, g):
        if backward_op == "zeros":
            return zeros(g.shape, g.dtype)
        if backward_op == ("unary", "neg"):
            return _unary("neg", g, ctx.dtype)
        (saved,) = ctx.saved_tensors
        kind, name = backward_op or ("binary", op + "_backward")
        return getattr(kernels, kind)(name, g, saved, empty(g.shape, saved.dtype))

    register(op, "cuda", forward, backward, "PowBackward0" if op == "square" else None)


for _op, (_saves, _backward) in _UNARY.items():
    _register_unary(_op, _saves, _backward)


def _pow_scalar_forward(ctx, x, exponent):
    ctx.exponent = exponent
    if ctx.needs_input_grad:
        ctx.save_for_backward(x)
    return _unary("pow_scalar", x, p0=exponent)


def _pow_scalar_backward(ctx, g):
    (x,) = ctx.saved_tensors
    return kernels.binary("pow_scalar_backward", g, x, empty(g.shape, x.dtype), p0=ctx.exponent)


register("pow_scalar", "cuda", _pow_scalar_forward, _pow_scalar_backward, "PowBackward0")


def _clamp_forward(ctx, x, low, high):
    if ctx.needs_input_grad:
        ctx.save_for_backward(x)
        ctx.bounds = (low, high)
    return _unary("clamp", x, p0=low, p1=high)


def _clamp_backward(ctx, g):
    (x,) = ctx.saved_tensors
    low, high = ctx.bounds
    return kernels.binary("clamp_backward", g, x, empty(g.shape, g.dtype), p0=low, p1=high)


register("clamp", "cuda", _clamp_forward, _clamp_backward, "ClampBackward1")


def _clamp_tensor_forward(ctx, x, low, high):
    if ctx.needs_input_grad:
        ctx.save_for_backward(x, low, high)
    if low is None or high is None:  # numpy's maximum(low, x) / minimum(high, x), as the scalar clamp
        return _binary("maximum" if high is None else "minimum", low if high is None else high, x)
    out = empty(np.broadcast_shapes(x.shape, low.shape, high.shape), x.dtype)
    return kernels.ternary("clamp_tensor", x, low, high, out)


def _clamp_tensor_backward(ctx, g):
    """The cpu kernel's masks (PyTorch's clamp_backward, clamp_backward_min_max) from comparison launches."""
    x, low, high = ctx.saved_tensors
    keep_x = keep_low = keep_high = None
    if low is not None:
        keep_x = call("ge", x, low)
        keep_low = call("lt", x, low)
        if high is not None:
            keep_low = call("logical_and", keep_low, call("lt", low, high))
    if high is not None:
        below_high = call("le", x, high)
        keep_x = below_high if keep_x is None else call("logical_and", keep_x, below_high)
        keep_high = call("gt", x, high)
        if low is not None:
            keep_high = call("logical_or", keep_high, call("lt", high, low))
    return tuple(_gradient("ternary", "where", (keep, g, 0), saved.shape, g.dtype) if need else None
                 for keep, saved, need in zip((keep_x, keep_low, keep_high), (x, low, high), ctx.needs_input_grad))


register("clamp_tensor", "cuda", _clamp_tensor_forward, _clamp_tensor_backward, "ClampBackward0")


# ---- activations (framework/backends/numpy/nn.py): forward(ctx, x, *params) ----

def _register_activation(op, op_of_params, params_of, forward_op=None):
    """`forward_op` names the forward's kernel op when it is not `op_of_params(...)` (hardtanh's is clamp)."""
    def forward(ctx, x, *params):
        if ctx.needs_input_grad:
            ctx.save_for_backward(x)
            ctx.params = params
        name = forward_op or op_of_params(*params)
        return _unary(name, x, **params_of(*params))

    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        name = op_of_params(*ctx.params) + "_backward"
        return kernels.binary(name, g, x, empty(g.shape, x.dtype), **params_of(*ctx.params))

    register(op, "cuda", forward, backward)


_register_activation("gelu", lambda approximate: "gelu_tanh" if approximate == "tanh" else "gelu", lambda a: {})
_register_activation("silu", lambda: "silu", lambda: {})
_register_activation("leaky_relu", lambda slope: "leaky_relu", lambda slope: dict(p0=slope))
_register_activation("softplus", lambda beta, threshold: "softplus", lambda beta, t: dict(p0=beta, p1=t))
_register_activation("elu", lambda alpha, scale: "elu", lambda alpha, scale: dict(p0=alpha, p1=scale))
_register_activation("celu", lambda alpha: "celu", lambda alpha: dict(p0=alpha))
_register_activation("hardtanh", lambda low, high: "hardtanh", lambda low, high: dict(p0=low, p1=high), "clamp")
_register_activation("threshold", lambda threshold, value: "threshold", lambda t, v: dict(p0=t, p1=v))
for _op in ("hardswish", "hardsigmoid", "mish"):
    _register_activation(_op, lambda _op=_op: _op, lambda: {})
_register_activation("log_sigmoid", lambda: "logsigmoid", lambda: {})


# ---- binary ops: inputs share one dtype; either may be a Python scalar ----

def _checked_division(op, a, b):
    """floor_divide/remainder: on integers the cpu kernels raise on a zero divisor, and so does this, reading
    the kernel's flag back (a synchronising copy, for integer division only)."""
    if _dtype(a, b).kind not in "biu":
        return _binary(op, a, b)
    if not isinstance(b, CudaArray):
        if b == 0:
            raise RuntimeError("ZeroDivisionError")
        return _binary(op, a, b)
    flag = zeros((1,), np.int32)
    out = _binary(op, a, b, zero_division_flag=flag)
    if scalar(flag):
        raise RuntimeError("ZeroDivisionError")
    return out


def _register_binary(op, grad_a, grad_b, node_name=None, a_for=(True, True), b_for=(True, True), launch=_binary):
    """`grad_a(g, a, b, shape, dtype)` and `grad_b(...)` give the reduced gradients; `a_for`/`b_for` say
    whether (grad_a, grad_b) read a/b, so that only what a needed gradient reads is saved (as the cpu kernels)."""

    def forward(ctx, a, b):
        out = launch(op, a, b)
        if ctx.needs_input_grad:
            ctx.shapes = (_shape(a), _shape(b), _dtype(a, b))
            ctx.save_operands(a, b, a_for, b_for)
        return out

    def backward(ctx, g):
        a, b = ctx.saved_tensors or (None, None)
        shape_a, shape_b, dtype = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        ga = grad_a(g, a, b, shape_a, dtype) if need_a else None
        gb = grad_b(g, a, b, shape_b, dtype) if need_b else None
        return ga, gb

    register(op, "cuda", forward, backward, node_name)


def _identity(g, a, b, shape, dtype):
    return _sum_to(g, shape, dtype)


def _zeros(g, a, b, shape, dtype):
    return zeros(shape, dtype)


def _via(kind, op, order):
    """A gradient launched as `op` on the named operands ('g', 'a', 'b') in `order`."""
    def grad(g, a, b, shape, dtype):
        values = {"g": g, "a": a, "b": b}
        return _gradient(kind, op, [values[name] for name in order], shape, dtype)
    return grad


_NONE = (False, False)
_register_binary("add", _identity, _identity, a_for=_NONE, b_for=_NONE)
_register_binary("sub", _identity, _via("unary", "neg", "g"), a_for=_NONE, b_for=_NONE)
_register_binary("mul", _via("binary", "mul", "gb"), _via("binary", "mul", "ga"), a_for=(False, True),
                 b_for=(True, False))
_register_binary("div", _via("binary", "div", "gb"), _via("ternary", "div_backward_b", "gab"), a_for=(False, True))
_register_binary("pow", _via("ternary", "pow_backward_a", "gab"), _via("ternary", "pow_backward_b", "gab"),
                 "PowBackward1")
_register_binary("maximum", _via("ternary", "maximum_backward", "gab"), _via("ternary", "maximum_backward", "gba"))
_register_binary("minimum", _via("ternary", "minimum_backward", "gab"), _via("ternary", "minimum_backward", "gba"))
_register_binary("floor_divide", _zeros, _zeros, "DivBackward2", a_for=_NONE, b_for=_NONE, launch=_checked_division)
_register_binary("remainder", _identity, _via("ternary", "remainder_backward_b", "gab"), a_for=(False, True),
                 b_for=(False, True), launch=_checked_division)


# ---- ops without a derivative ----

def _no_grad_binary(op, bool_out):
    register(op, "cuda", lambda ctx, a, b: _binary(op, a, b, _BOOL if bool_out else None), not_differentiable)


for _op in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    _no_grad_binary(_op, False)
for _op in ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"):
    _no_grad_binary(_op, True)
register("bitwise_not", "cuda", lambda ctx, x: _unary("bitwise_not", x), not_differentiable)
for _op in ("logical_not", "isnan", "isinf", "isfinite"):
    register(_op, "cuda", lambda ctx, x, _op=_op: _unary(_op, x, _BOOL), not_differentiable)


# ---- where ----

def _where_forward(ctx, condition, a, b):
    if ctx.needs_input_grad:
        ctx.save_for_backward(condition)
        ctx.shapes = (_shape(a), _shape(b))
    out = empty(np.broadcast_shapes(condition.shape, _shape(a), _shape(b)), _dtype(a, b))
    return kernels.where(condition, a, b, out)


def _where_backward(ctx, g):
    (condition,) = ctx.saved_tensors
    _, need_a, need_b = ctx.needs_input_grad
    shape_a, shape_b = ctx.shapes
    ga = _gradient("ternary", "where", (condition, g, 0), shape_a, g.dtype) if need_a else None
    gb = _gradient("ternary", "where", (condition, 0, g), shape_b, g.dtype) if need_b else None
    return None, ga, gb


register("where", "cuda", _where_forward, _where_backward)


# ---- nan_to_num, lerp ----

def _nan_to_num_forward(ctx, x, nan, posinf, neginf):
    if ctx.needs_input_grad:
        ctx.save_for_backward(x)
    return _binary("nan_to_num", x, neginf, p0=nan, p1=posinf)


def _nan_to_num_backward(ctx, g):
    (x,) = ctx.saved_tensors
    return kernels.binary("nan_to_num_backward", g, x, empty(g.shape, g.dtype))


register("nan_to_num", "cuda", _nan_to_num_forward, _nan_to_num_backward)


def _lerp_scalar_forward(ctx, a, b, weight):
    if ctx.needs_input_grad:
        ctx.meta = (a.shape, b.shape, a.dtype, weight)
    return _binary("lerp_scalar", a, b, p0=weight)


def _lerp_scalar_backward(ctx, g):
    shape_a, shape_b, dtype, weight = ctx.meta
    need_a, need_b = ctx.needs_input_grad
    ga = _gradient("binary", "mul", (g, 1.0 - weight), shape_a, dtype) if need_a else None
    gb = _gradient("binary", "mul", (g, weight), shape_b, dtype) if need_b else None
    return ga, gb


register("lerp", "cuda", _lerp_scalar_forward, _lerp_scalar_backward)


def _lerp_tensor_forward(ctx, a, b, w):
    if ctx.needs_input_grad:
        need_a, need_b, need_w = ctx.needs_input_grad
        ctx.meta = (a.shape, b.shape, w.shape, a.dtype)
        ctx.save_for_backward(a if need_w else None, b if need_w else None, w if need_a or need_b else None)
    out = empty(np.broadcast_shapes(a.shape, b.shape, w.shape), a.dtype)
    return kernels.ternary("lerp", a, b, w, out)


def _lerp_tensor_backward(ctx, g):
    a, b, w = ctx.saved_tensors
    need_a, need_b, need_w = ctx.needs_input_grad
    shape_a, shape_b, shape_w, dtype = ctx.meta
    ga = _gradient("binary", "lerp_backward_self", (g, w), shape_a, dtype) if need_a else None
    gb = _gradient("binary", "mul", (g, w), shape_b, dtype) if need_b else None
    gw = _gradient("ternary", "lerp_backward_weight", (g, a, b), shape_w, dtype) if need_w else None
    return ga, gb, gw


register("lerp_tensor", "cuda", _lerp_tensor_forward, _lerp_tensor_backward, "LerpBackward1")
