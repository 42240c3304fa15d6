"""Strided elementwise kernels: unary, binary and ternary ops, their forward and backward formulas.

One kernel serves every op: one program computes BLOCK_SIZE elements of `out` (in its row-major order),
loading up to three operands at the same index through their own strides (0 for broadcast dims; see
triton_kernels/strided.py), converting each to the compute dtype, applying the op (a `tl.constexpr`
string) and storing the result converted to `out`'s dtype. Any operand but `out` may instead be a Python
scalar (a constexpr flag plus a scalar argument).

Type promotion is the caller's: operands of any dtype are read and converted to the compute dtype, which
is float64 when a float64 operand is present, float32 when any other float is (fp16/bf16 compute in
fp32, as PyTorch's and the numpy backend's kernels do), else int64 (integers and bool; results wrap
when stored in a narrower integer dtype, as numpy's do). The numerics follow the numpy backend
(framework/backends/numpy/elementwise.py and nn.py): numpy's `maximum`/`minimum` (nan propagates, ties
return the second operand), its `floor_divide`/`remainder` (Python's sign rules, inf/nan/-0.0 cases
included), PyTorch's `sign` (sign(nan) = 0); division and square roots are IEEE-rounded (Triton's
default fp32 `/` and `sqrt` are approximate), transcendental functions come from libdevice. Integer
division by zero gives 0 and, when the caller passes a flag buffer, sets it to 1 (the numpy backend
raises; the caller reads the flag and raises the same error). bfloat16 results are rounded to nearest
even (ml_dtypes' and the GPU's rounding) by integer ops, which the interpreter also gets right.

Under TRITON_INTERPRET=1 the libdevice calls run as numpy (interpreter.HostLibdevice), launches use 64-bit
indices (the interpreter checks every 32-bit add for overflow, at more than the op's cost) and one
block per array.
"""
import math

import numpy as np
import triton
import triton.language as tl

from .interpreter import libdevice
from .strided import collapse, dtype_name_of, interpreting, numel, padded, strided_offsets


# Float-only ops (inputs must already be floats); the `*_backward` ones take (grad, saved) where `saved`
# is the forward's input x or output o, as the numpy backend saves it.
UNARY_FLOAT_OPS = frozenset((
    "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "reciprocal",
    "gelu", "gelu_tanh", "silu", "softplus", "leaky_relu", "elu", "celu", "hardswish", "hardsigmoid", "mish",
    "logsigmoid", "threshold", "erf", "erfc", "erfinv"))
UNARY_OPS = UNARY_FLOAT_OPS | frozenset((
    "identity", "neg", "relu", "abs", "square", "floor", "ceil", "round", "trunc", "sign", "pow_scalar",
    "clamp", "logical_not", "bitwise_not", "isnan", "isinf", "isfinite"))
BINARY_BACKWARD_OPS = frozenset((
    "log1p_backward", "expm1_backward", "sqrt_backward", "rsqrt_backward", "sin_backward", "cos_backward",
    "tanh_backward", "sigmoid_backward", "relu_backward", "abs_backward", "reciprocal_backward",
    "square_backward", "pow_scalar_backward", "clamp_backward", "gelu_backward", "gelu_tanh_backward",
    "silu_backward", "softplus_backward", "leaky_relu_backward", "elu_backward", "celu_backward",
    "hardtanh_backward", "hardswish_backward", "hardsigmoid_backward", "mish_backward", "logsigmoid_backward",
    "threshold_backward", "erf_backward", "erfc_backward", "erfinv_backward", "nan_to_num_backward",
    "lerp_backward_self"))
COMPARISONS = frozenset(("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"))
BITWISE_OPS = frozenset(("bitwise_and", "bitwise_or", "bitwise_xor"))
# nan_to_num(a = x, b = the value for -inf; p0 = the value for nan, p1 = for +inf); lerp_scalar(a = input,
# b = end; p0 = weight)
BINARY_OPS = BINARY_BACKWARD_OPS | COMPARISONS | BITWISE_OPS | frozenset((
    "add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "maximum", "minimum",
    "nan_to_num", "lerp_scalar"))
# (grad, a, b) -> gradient of the binary op; maximum/minimum_backward give a's (swap a and b for b's)
TERNARY_BACKWARD_OPS = frozenset((
    "div_backward_b", "pow_backward_a", "pow_backward_b", "maximum_backward", "minimum_backward",
    "remainder_backward_b", "lerp_backward_weight"))
# lerp(input, end, weight); clamp_tensor(input, min, max)
TERNARY_OPS = TERNARY_BACKWARD_OPS | frozenset(("where", "lerp", "clamp_tensor"))
FLOAT_OPS = UNARY_FLOAT_OPS | BINARY_BACKWARD_OPS | TERNARY_BACKWARD_OPS | frozenset((
    "div", "nan_to_num", "lerp_scalar", "lerp"))
INTEGER_OPS = BITWISE_OPS | frozenset(("bitwise_not",))

SUPPORTED_DTYPES = ("float16", "bfloat16", "float32", "float64", "bool", "uint8", "int8", "int16", "int32",
                    "int64")
# 1024 elements x 8 warps (4 per thread). AOT-compiled (tests/triton_kernels/test_elementwise.py), 4 warps
# spilled 64-228 bytes on sm_80/sm_90 for 6-dim int64-indexed layouts of the heavier ops (gelu/softplus
# backward, floor_divide, integer pow); 8 warps spill nothing (<= 164 registers). Unmeasured on a GPU.
# The interpreter's cost is per program, so it takes whole arrays at once.
BLOCK_SIZE = 1024
NUM_WARPS = 8
INTERPRETER_BLOCK_SIZE = 1 << 16
_COMPUTE = {"float32": tl.float32, "float64": tl.float64, "int64": tl.int64}
_SQRT_HALF = tl.constexpr(math.sqrt(0.5))
_SQRT_2_OVER_PI = tl.constexpr(math.sqrt(2.0 / math.pi))
_INV_SQRT_2PI = tl.constexpr(1.0 / math.sqrt(2.0 * math.pi))
_KAPPA = tl.constexpr(0.044715)
_TWO_OVER_SQRT_PI = tl.constexpr(2.0 / math.sqrt(math.pi))
_SQRT_PI_OVER_TWO = tl.constexpr(math.sqrt(math.pi) / 2.0)


# ---- exact building blocks ---------------------------------------------------------------------------

@triton.jit
def _div(a, b):
    """IEEE-rounded a / b: Triton's fp32 `/` is the approximate div.full.f32 (fp64's is div.rn already)."""
    if b.dtype == tl.float32:
        return tl.math.div_rn(a, b)
    else:
        return a / b


@triton.jit
def _sqrt(x):
    """IEEE-rounded square root (tl.sqrt on fp32 is sqrt.approx.ftz)."""
    if x.dtype == tl.float32:
        return tl.sqrt_rn(x)
    else:
        return tl.sqrt(x)


@triton.jit
def _maximum(a, b):
    # numpy's maximum: a nan in either propagates; on ties (0.0 vs -0.0) the second operand is returned
    return tl.where((a > b) | (a != a), a, b)


@triton.jit
def _minimum(a, b):
    return tl.where((a < b) | (a != a), a, b)


@triton.jit
def _sigmoid(x):
    # the numpy backend's stable form: exp of a non-positive number only
    e = libdevice.exp(-tl.abs(x))
    return tl.where(x >= 0, _div(1.0, 1.0 + e), _div(e, 1.0 + e))


@triton.jit
def _like(x, value):
    # `value` as a block like x, for _div (which reads its divisor's dtype)
    return tl.zeros_like(x) + value


@triton.jit
def _relu6(x):
    # min(max(x, 0), 6) as PyTorch's std::min/std::max: nan stays nan
    y = tl.where(x < 0, 0.0, x)
    return tl.where(y > 6.0, 6.0, y)


@triton.jit
def _int_pow(base, exponent):
    """base ** exponent in int64 (wrapping), by squaring; negative exponents as PyTorch: 1, +-1 or 0."""
    e = tl.where(exponent < 0, 0, exponent)
    result = tl.full(base.shape, 1, tl.int64)
    square = base
    while tl.max(e, axis=0) > 0:
        result = tl.where((e & 1) != 0, result * square, result)
        square = square * square
        e = e >> 1
    negative = tl.where(base == 1, 1, tl.where(base == -1, 1 - 2 * (exponent & 1), 0))
    return tl.where(exponent < 0, negative, result)


@triton.jit
def _pow(a, b):
    if a.dtype.is_floating():
        return libdevice.pow(a, b)
    else:
        return _int_pow(a, b)


@triton.jit
def _floor_divide(a, b):
    """numpy's floor_divide: Python's a // b (integers: 0 where b == 0; the caller reports those)."""
    if a.dtype.is_floating():
        # npy_floor_divide: the quotient of a - fmod(a, b), snapped to an integer, sign of zero kept
        mod = libdevice.fmod(a, b)
        quotient = _div(a - mod, b)
        quotient = tl.where((mod != 0) & ((b < 0) != (mod < 0)), quotient - 1.0, quotient)
        floor = tl.floor(quotient)
        floor = tl.where(quotient - floor > 0.5, floor + 1.0, floor)
        true_quotient = _div(a, b)
        result = tl.where(quotient != 0, floor, libdevice.copysign(tl.zeros_like(a), true_quotient))
        return tl.where(b == 0, true_quotient, result)
    else:
        divisor = tl.where(b == 0, 1, b)
        quotient = a // divisor  # truncates
        rest = a - quotient * divisor
        quotient = tl.where((rest != 0) & ((rest < 0) != (divisor < 0)), quotient - 1, quotient)
        return tl.where(b == 0, 0, quotient)


@triton.jit
def _remainder(a, b):
    """numpy's remainder: the sign of b, as Python's a % b (integers: 0 where b == 0)."""
    if a.dtype.is_floating():
        mod = libdevice.fmod(a, b)  # nan for b == 0
        mod = tl.where((mod != 0) & ((b < 0) != (mod < 0)), mod + b, mod)
        return tl.where(mod == 0, libdevice.copysign(tl.zeros_like(a), b), mod)
    else:
        divisor = tl.where(b == 0, 1, b)
        rest = a - (a // divisor) * divisor
        rest = tl.where((rest != 0) & ((rest < 0) != (divisor < 0)), rest + divisor, rest)
        return tl.where(b == 0, 0, rest)


@triton.jit
def _giles(central, c_central, c_tail):
    return tl.where(central, c_central, c_tail)


@triton.jit
def _erfinv(y):
    """The numpy backend's erfinv (framework/backends/numpy/special.py): M. Giles' single-precision start, then
    Newton steps on erf(x) - |y| (|y| <= 0.5) or on log(erfc(x)) - log(1 - |y|) (beyond: no cancellation, and
    the Gaussian tail is nearly quadratic in the logarithm). fp32 needs two steps; fp64 four (Giles' start is
    12% off at 1 - 1e-16, far outside its fp32 range)."""
    a = tl.abs(y)
    inside = a < 1.0
    a_in = tl.where(inside, a, 0.5)
    w = -libdevice.log((1.0 - a_in) * (1.0 + a_in))
    central = w < 5.0
    t = tl.where(central, w - 2.5, _sqrt(w) - 3.0)
    p = _giles(central, 2.81022636e-08, -0.000200214257)
    p = p * t + _giles(central, 3.43273939e-07, 0.000100950558)
    p = p * t + _giles(central, -3.5233877e-06, 0.00134934322)
    p = p * t + _giles(central, -4.39150654e-06, -0.00367342844)
    p = p * t + _giles(central, 0.00021858087, 0.00573950773)
    p = p * t + _giles(central, -0.00125372503, -0.0076224613)
    p = p * t + _giles(central, -0.00417768164, 0.00943887047)
    p = p * t + _giles(central, 0.246640727, 1.00167406)
    p = p * t + _giles(central, 1.50140941, 2.83297682)
    x = p * a_in
    tail = a_in > 0.5
    log_rest = libdevice.log(1.0 - a_in)  # 1 - |y| is exact for |y| in [0.5, 1]
    if y.dtype == tl.float64:
        STEPS: tl.constexpr = 4
    else:
        STEPS: tl.constexpr = 2
    for _ in tl.static_range(STEPS):
        slope = _TWO_OVER_SQRT_PI * libdevice.exp(-x * x)
        complement = libdevice.erfc(x)
        x = tl.where(tail, x + _div((libdevice.log(complement) - log_rest) * complement, slope),
                     x - _div(libdevice.erf(x) - a_in, slope))
    x = tl.where(inside, x, tl.where(a == 1.0, float("inf"), float("nan")))
    return tl.where(y == 0, y, libdevice.copysign(x, y))  # erfinv(-0.0) is -0.0


@triton.jit
def _lerp(a, b, w):
    """a + w * (b - a) from whichever end is nearer (PyTorch's formula: exact at w = 0 and w = 1)."""
    return tl.where(tl.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1.0 - w))


# ---- the ops ------------------------------------------------------------------------------------------

@triton.jit
def _negate(x):
    # -x with IEEE signs (-(+0.0) = -0.0): Triton < 3.8 compiles a float's `-x` as `0 - x`, which gives +0.0.
    if x.dtype.is_floating():
        y = x * -1.0
    else:
        y = -x
    return y


@triton.jit
def _unary(x, p0, p1, OP: tl.constexpr, HAS_P0: tl.constexpr, HAS_P1: tl.constexpr):
    if OP == "identity":
        y = x
    elif OP == "neg":
        y = _negate(x)
    elif OP == "exp":
        y = libdevice.exp(x)
    elif OP == "log":
        y = libdevice.log(x)
    elif OP == "log1p":
        y = libdevice.log1p(x)
    elif OP == "expm1":
        y = libdevice.expm1(x)
    elif OP == "sqrt":
        y = _sqrt(x)
    elif OP == "rsqrt":
        y = _div(1.0, _sqrt(x))
    elif OP == "sin":
        y = libdevice.sin(x)
    elif OP == "cos":
        y = libdevice.cos(x)
    elif OP == "tanh":
        y = libdevice.tanh(x)
    elif OP == "sigmoid":
        y = _sigmoid(x)
    elif OP == "relu":
        y = tl.where(x < 0, 0, x)  # numpy's maximum(0, x): nan stays nan, -0.0 stays -0.0
    elif OP == "abs":
        y = tl.abs(x)
    elif OP == "reciprocal":
        y = _div(1.0, x)
    elif OP == "square":
        y = x * x
    elif OP == "floor":
        y = tl.floor(x)
    elif OP == "ceil":
        y = tl.ceil(x)
    elif OP == "round":
        y = libdevice.rint(x)  # half to even, as numpy
    elif OP == "trunc":
        y = libdevice.trunc(x)
    elif OP == "sign":
        y = tl.where(x > 0, 1, tl.where(x < 0, -1, 0)).to(x.dtype)  # PyTorch: sign(nan) = 0, sign(-0.0) = 0.0
    elif OP == "pow_scalar":
        y = _pow(x, p0)
    elif OP == "clamp":
        y = x
        if HAS_P0:
            y = _maximum(p0, y)  # numpy's maximum(low, x): x kept unless strictly below (and nan kept)
        if HAS_P1:
            y = _minimum(p1, y)
    elif OP == "logical_not":
        y = x == 0
    elif OP == "bitwise_not":
        y = ~x
    elif OP == "isnan":
        y = x != x
    elif OP == "isinf":
        if x.dtype.is_floating():
            y = tl.abs(x) == float("inf")
        else:
            y = x != x
    elif OP == "isfinite":
        if x.dtype.is_floating():
            y = tl.abs(x) < float("inf")
        else:
            y = x == x
    elif OP == "gelu":
        y = 0.5 * x * libdevice.erfc(-x * _SQRT_HALF)
    elif OP == "gelu_tanh":
        y = 0.5 * x * (1.0 + libdevice.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x)))
    elif OP == "silu":
        y = x * _sigmoid(x)
    elif OP == "softplus":  # p0 = beta, p1 = threshold
        z = x * p0
        y = tl.where(z > p1, x, _div(libdevice.log1p(libdevice.exp(_minimum(z, p1))), p0))
    elif OP == "leaky_relu":  # p0 = negative slope
        y = tl.where(x > 0, x, x * p0)
    elif OP == "erf":
        y = libdevice.erf(x)
    elif OP == "erfc":
        y = libdevice.erfc(x)
    elif OP == "erfinv":
        y = _erfinv(x)
    elif OP == "elu":  # p0 = alpha, p1 = scale (selu: PyTorch's constants); PyTorch's test, x <= 0 (nan: not)
        y = tl.where(x <= 0, p1 * p0 * libdevice.expm1(x), p1 * x)
    elif OP == "celu":  # p0 = alpha
        y = tl.where(x <= 0, p0 * libdevice.expm1(_div(x, p0)), x)
    elif OP == "hardswish":
        y = _div(x * _relu6(x + 3.0), _like(x, 6.0))
    elif OP == "hardsigmoid":
        y = _div(_relu6(x + 3.0), _like(x, 6.0))
    elif OP == "mish":  # x tanh(softplus(x)); exp overflowing to inf still gives x
        y = x * libdevice.tanh(libdevice.log1p(libdevice.exp(x)))
    elif OP == "logsigmoid":  # min(x, 0) - log1p(exp(-|x|)): exp of a non-positive number only
        y = tl.where(x < 0, x, 0.0) - libdevice.log1p(libdevice.exp(-tl.abs(x)))
    elif OP == "threshold":  # p0 = threshold, p1 = value
        y = tl.where(x <= p0, p1, x)
    else:
        tl.static_assert(False, "unknown unary op")
    return y


@triton.jit
def _binary(a, b, p0, p1, OP: tl.constexpr, HAS_P0: tl.constexpr, HAS_P1: tl.constexpr):
    if OP == "add":
        y = a + b
    elif OP == "sub":
        y = a - b
    elif OP == "mul":
        y = a * b
    elif OP == "div":
        y = _div(a, b)
    elif OP == "floor_divide":
        y = _floor_divide(a, b)
    elif OP == "remainder":
        y = _remainder(a, b)
    elif OP == "pow":
        y = _pow(a, b)
    elif OP == "maximum":
        y = _maximum(a, b)
    elif OP == "minimum":
        y = _minimum(a, b)
    elif OP == "eq":
        y = a == b
    elif OP == "ne":
        y = a != b
    elif OP == "lt":
        y = a < b
    elif OP == "le":
        y = a <= b
    elif OP == "gt":
        y = a > b
    elif OP == "ge":
        y = a >= b
    elif OP == "logical_and":
        y = (a != 0) & (b != 0)
    elif OP == "logical_or":
        y = (a != 0) | (b != 0)
    elif OP == "logical_xor":
        y = (a != 0) != (b != 0)
    elif OP == "bitwise_and":
        y = a & b
    elif OP == "bitwise_or":
        y = a | b
    elif OP == "bitwise_xor":
        y = a ^ b
    # ---- gradients of unary ops: a = upstream gradient g, b = the saved input x or output o ----
    elif OP == "log1p_backward":
        y = _div(a, 1.0 + b)
    elif OP == "expm1_backward":
        y = a * (b + 1.0)
    elif OP == "sqrt_backward":
        y = _div(a, 2.0 * b)
    elif OP == "rsqrt_backward":
        y = -0.5 * a * b * b * b
    elif OP == "sin_backward":
        y = a * libdevice.cos(b)
    elif OP == "cos_backward":
        y = -a * libdevice.sin(b)
    elif OP == "tanh_backward":
        y = a * (1.0 - b * b)
    elif OP == "sigmoid_backward":
        y = a * b * (1.0 - b)
    elif OP == "relu_backward":
        y = a * (b > 0).to(a.dtype)  # a product, not a select: nan * 0 stays nan, as numpy
    elif OP == "abs_backward":  # numpy's sign: nan for nan
        y = a * tl.where(b > 0, 1.0, tl.where(b < 0, -1.0, tl.where(b == 0, 0.0, b)))
    elif OP == "reciprocal_backward":
        y = -a * b * b
    elif OP == "square_backward":
        y = 2.0 * a * b
    elif OP == "pow_scalar_backward":  # p0 = the exponent
        y = tl.where(p0 == 0, 0.0, a * p0 * libdevice.pow(b, p0 - 1.0))
    elif OP == "clamp_backward":  # p0 = min, p1 = max
        keep = b == b
        if HAS_P0:
            keep = keep & (b >= p0)
        if HAS_P1:
            keep = keep & (b <= p1)
        y = a * keep.to(a.dtype)
    elif OP == "gelu_backward":
        cdf = 0.5 * libdevice.erfc(-b * _SQRT_HALF)
        y = a * (cdf + b * libdevice.exp(-0.5 * b * b) * _INV_SQRT_2PI)
    elif OP == "gelu_tanh_backward":
        inner = libdevice.tanh(_SQRT_2_OVER_PI * (b + _KAPPA * b * b * b))
        slope = 0.5 * b * (1.0 - inner * inner) * _SQRT_2_OVER_PI * (1.0 + 3.0 * _KAPPA * b * b)
        y = a * (0.5 * (1.0 + inner) + slope)
    elif OP == "silu_backward":
        s = _sigmoid(b)
        y = a * s * (1.0 + b * (1.0 - s))
    elif OP == "softplus_backward":  # p0 = beta, p1 = threshold
        z = b * p0
        e = libdevice.exp(_minimum(z, p1))
        y = tl.where(z > p1, a, _div(a * e, e + 1.0))
    elif OP == "leaky_relu_backward":  # p0 = negative slope
        y = tl.where(b > 0, a, a * p0)
    elif OP == "nan_to_num":  # b = the value for -inf, p0 = for nan, p1 = for +inf
        y = tl.where(a != a, p0, tl.where(a == float("inf"), p1, tl.where(a == float("-inf"), b, a)))
    elif OP == "lerp_scalar":  # p0 = weight
        y = _lerp(a, b, p0)
    elif OP == "erf_backward":
        y = a * _TWO_OVER_SQRT_PI * libdevice.exp(-b * b)
    elif OP == "erfc_backward":
        y = -a * _TWO_OVER_SQRT_PI * libdevice.exp(-b * b)
    elif OP == "erfinv_backward":  # b = the output
        y = a * _SQRT_PI_OVER_TWO * libdevice.exp(b * b)
    elif OP == "nan_to_num_backward":
        y = a * (tl.abs(b) < float("inf")).to(a.dtype)
    elif OP == "lerp_backward_self":  # b = weight
        y = a * (1.0 - b)
    elif OP == "elu_backward":  # p0 = alpha, p1 = scale; PyTorch's x <= 0: x = 0 on the exp side, nan on the other
        y = tl.where(b <= 0, a * p1 * p0 * libdevice.exp(b), a * p1)
    elif OP == "celu_backward":  # p0 = alpha
        y = tl.where(b <= 0, a * libdevice.exp(_div(b, p0)), a)
    elif OP == "hardtanh_backward":  # p0 = min, p1 = max: no gradient at the bounds (clamp passes it there)
        y = tl.where((b <= p0) | (b >= p1), 0.0, a)
    elif OP == "hardswish_backward":
        y = tl.where(b <= -3.0, 0.0, tl.where(b < 3.0, a * (_div(b, _like(b, 3.0)) + 0.5), a))  # PyTorch's bounds
    elif OP == "hardsigmoid_backward":
        y = tl.where((b > -3.0) & (b < 3.0), _div(a, _like(a, 6.0)), 0.0)
    elif OP == "mish_backward":
        t = libdevice.tanh(libdevice.log1p(libdevice.exp(b)))
        y = a * (t + b * _sigmoid(b) * (1.0 - t * t))
    elif OP == "logsigmoid_backward":
        z = libdevice.exp(-tl.abs(b))
        side = _div(z, 1.0 + z)
        y = a * tl.where(b < 0, 1.0 - side, side)
    elif OP == "threshold_backward":  # p0 = threshold
        y = tl.where(b <= p0, 0.0, a)
    else:
        tl.static_assert(False, "unknown binary op")
    return y


@triton.jit
def _ternary(x, a, b, OP: tl.constexpr):
    if OP == "where":
        y = tl.where(x, a, b)
    # ---- gradients of binary ops: x = upstream gradient g ----
    elif OP == "div_backward_b":
        y = _div(_negate(x) * a, b * b)
    elif OP == "pow_backward_a":
        y = x * b * libdevice.pow(a, b - 1.0)
    elif OP == "pow_backward_b":  # PyTorch: 0 where the base is 0 and the exponent >= 0
        y = tl.where((a == 0) & (b >= 0), 0.0, x * libdevice.pow(a, b) * libdevice.log(a))
    elif OP == "maximum_backward":  # ties split the gradient
        y = x * ((a > b).to(x.dtype) + 0.5 * (a == b).to(x.dtype))
    elif OP == "minimum_backward":
        y = x * ((a < b).to(x.dtype) + 0.5 * (a == b).to(x.dtype))
    elif OP == "remainder_backward_b":
        y = -x * tl.floor(_div(a, b))
    elif OP == "lerp":  # x = input, a = end, b = weight
        y = _lerp(x, a, b)
    elif OP == "clamp_tensor":  # x = input, a = min, b = max: as clamp, nan from any of them
        y = _minimum(b, _maximum(a, x))
    elif OP == "lerp_backward_weight":  # x = grad, a = input, b = end
        y = x * (b - a)
    else:
        tl.static_assert(False, "unknown ternary op")
    return y


# ---- loads, stores and the kernel -----------------------------------------------------------------

@triton.jit
def _scalar(value, DTYPE: tl.constexpr):
    """A scalar argument as DTYPE: floats arrive as their IEEE bits in an integer (exact for fp64)."""
    if DTYPE == tl.float64:
        return value.to(tl.int64).to(tl.float64, bitcast=True)
    elif DTYPE == tl.float32:
        return value.to(tl.int32).to(tl.float32, bitcast=True)
    else:
        return value.to(DTYPE)


@triton.jit
def _to_bfloat16(x):
    """fp32 -> bf16 rounded to nearest even, as ml_dtypes and the GPU's cvt.rn do; written out in integer
    ops because Triton's interpreter truncates. nan stays a (quiet) nan."""
    bits = x.to(tl.uint32, bitcast=True)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    rounded = tl.where(x != x, bits | 0x400000, rounded)
    return (rounded >> 16).to(tl.uint16).to(tl.bfloat16, bitcast=True)


@triton.jit
def _operand(ptr, value, offs, mask, size1, size2, size3, size4, size5,
             stride0, stride1, stride2, stride3, stride4, stride5,
             DTYPE: tl.constexpr, SCALAR: tl.constexpr, NDIM: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """One operand's BLOCK_SIZE elements at the flat indices `offs`, as DTYPE (or the scalar, broadcast)."""
    if SCALAR:
        result = tl.broadcast_to(_scalar(value, DTYPE), (BLOCK_SIZE,))
    else:
        if NDIM == 1:  # the common case, spelled out: the interpreter's cost is per jit-function call
            ptrs = ptr + offs * stride5
        else:
            ptrs = ptr + strided_offsets(offs, size1, size2, size3, size4, size5,
                                         stride0, stride1, stride2, stride3, stride4, stride5, NDIM)
        result = tl.load(ptrs, mask=mask, other=0)
        if ptr.dtype.element_ty == tl.bfloat16:
            result = result.to(tl.float32)  # the interpreter holds bf16 as raw bits: widen before anything else
        result = result.to(DTYPE)
    return result


@triton.jit(do_not_specialize=["x_value", "y_value", "z_value", "p0", "p1"])
def _elementwise_kernel(
        # pointers
        x_ptr, y_ptr, z_ptr, out_ptr, flag_ptr,
        # sizes
        n_elements, size1, size2, size3, size4, size5,
        # strides
        stride_x0, stride_x1, stride_x2, stride_x3, stride_x4, stride_x5,
        stride_y0, stride_y1, stride_y2, stride_y3, stride_y4, stride_y5,
        stride_z0, stride_z1, stride_z2, stride_z3, stride_z4, stride_z5,
        stride_o0, stride_o1, stride_o2, stride_o3, stride_o4, stride_o5,
        # scalar operands and op parameters
        x_value, y_value, z_value, p0, p1,
        # meta-parameters
        OP: tl.constexpr, N_INPUTS: tl.constexpr, COMPUTE: tl.constexpr,
        X_SCALAR: tl.constexpr, Y_SCALAR: tl.constexpr, Z_SCALAR: tl.constexpr,
        HAS_P0: tl.constexpr, HAS_P1: tl.constexpr, CHECK_ZERO: tl.constexpr, OUT_CONTIGUOUS: tl.constexpr,
        NDIM: tl.constexpr, INDEX_64: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # One program computes BLOCK_SIZE elements of out: OP of the N_INPUTS operands at the same indices.
    if INDEX_64:
        offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE).to(tl.int64)
    else:
        offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    if OP == "where":
        x = _operand(x_ptr, x_value, offs, mask, size1, size2, size3, size4, size5,
                     stride_x0, stride_x1, stride_x2, stride_x3, stride_x4, stride_x5,
                     tl.int1, X_SCALAR, NDIM, BLOCK_SIZE)
    else:
        x = _operand(x_ptr, x_value, offs, mask, size1, size2, size3, size4, size5,
                     stride_x0, stride_x1, stride_x2, stride_x3, stride_x4, stride_x5,
                     COMPUTE, X_SCALAR, NDIM, BLOCK_SIZE)
    if N_INPUTS >= 2:
        y = _operand(y_ptr, y_value, offs, mask, size1, size2, size3, size4, size5,
                     stride_y0, stride_y1, stride_y2, stride_y3, stride_y4, stride_y5,
                     COMPUTE, Y_SCALAR, NDIM, BLOCK_SIZE)
    # parameters as blocks too: the interpreter mishandles bool scalars broadcast against blocks
    param0 = x
    param1 = x
    if HAS_P0:
        param0 = tl.broadcast_to(_scalar(p0, COMPUTE), (BLOCK_SIZE,))
    if HAS_P1:
        param1 = tl.broadcast_to(_scalar(p1, COMPUTE), (BLOCK_SIZE,))
    if N_INPUTS == 1:
        result = _unary(x, param0, param1, OP, HAS_P0, HAS_P1)
    elif N_INPUTS == 2:
        result = _binary(x, y, param0, param1, OP, HAS_P0, HAS_P1)
        if CHECK_ZERO:  # integer division by zero: raise the flag (every writer stores the same 1)
            tl.store(flag_ptr + offs * 0, tl.full((BLOCK_SIZE,), 1, tl.int32), mask=mask & (y == 0))
    else:
        z = _operand(z_ptr, z_value, offs, mask, size1, size2, size3, size4, size5,
                     stride_z0, stride_z1, stride_z2, stride_z3, stride_z4, stride_z5,
                     COMPUTE, Z_SCALAR, NDIM, BLOCK_SIZE)
        result = _ternary(x, y, z, OP)
    if OUT_CONTIGUOUS:
        out_offs = offs
    else:
        out_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                                   stride_o0, stride_o1, stride_o2, stride_o3, stride_o4, stride_o5, NDIM)
    out_ty = out_ptr.dtype.element_ty
    if out_ty == tl.int1:
        result = result != 0
    elif out_ty == tl.bfloat16:
        result = _to_bfloat16(result.to(tl.float32))
    tl.store(out_ptr + out_offs, result.to(out_ty), mask=mask)


# ---- launchers ----------------------------------------------------------------------------------------

# the ops whose parameters are required (clamp's bounds are optional)
_PARAMETERS = {"pow_scalar": ("exponent",), "leaky_relu": ("negative slope",), "softplus": ("beta", "threshold"),
               "elu": ("alpha", "scale"), "celu": ("alpha",), "hardtanh": ("min", "max"),
               "threshold": ("threshold", "value")}


def compute_dtype(*dtype_names):
    """The dtype the kernel computes in for operands of these dtypes: float64, float32 or int64."""
    if "float64" in dtype_names:
        return "float64"
    if any(name.startswith(("float", "bfloat")) for name in dtype_names):
        return "float32"
    return "int64"


def _encode(value, compute, what):
    """A Python scalar as the kernel's scalar argument for `compute`: float bits, or an int."""
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if compute == "float64":
        return int(np.array(float(value), np.float64).view(np.int64))
    if compute == "float32":
        return int(np.array(float(value), np.float32).view(np.int32))
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise TypeError(f"{what} {value!r} is not an integer, but the op computes in int64")
    return int(value)


def _broadcast_strides(shape, array, what):
    """`array`'s strides as an operand of an output of `shape` (0 on broadcast dims)."""
    own, own_strides = tuple(array.shape), tuple(array.stride())
    lead = len(shape) - len(own)
    if lead < 0 or any(o not in (1, s) for o, s in zip(own, shape[lead:])):
        raise ValueError(f"{what} of shape {own} does not broadcast to the output shape {tuple(shape)}")
    return (0,) * lead + tuple(0 if o == 1 else st for o, st in zip(own, own_strides))


def _is_array(x):
    return hasattr(x, "data_ptr")


# Launch plans, by everything but the data: op, flags, and each operand's dtype, shape and strides. A training
# loop repeats a few hundred such launches, so the checks, the dim merging and the kernel's meta-parameters are
# worked out once each; what is left per call is the pointers and the scalars. Measured under the interpreter
# with the kernel stubbed out (host time only): `x + x` on a 32x50 cuda tensor went from ~100-130 us to ~45 us.
_PLANS = {}
_MAX_PLANS = 4096  # a program that keeps making new layouts (e.g. growing sequence lengths) starts over


def _describe(x):
    return (x.dtype, tuple(x.shape), tuple(x.stride())) if _is_array(x) else type(x)


def _plan(op, n_inputs, inputs, out, p0, p1, zero_division_flag):
    """(compute dtype, grid, positional size/stride arguments, meta-parameters) for a launch, after every check
    of the operands; None when the output is empty."""
    name = dtype_name_of(out)
    needed = _PARAMETERS.get(op.removesuffix("_backward"), ())
    if any(p is None for p, _ in zip((p0, p1), needed)):
        names = ", ".join(f"{p} = {what}" for p, what in zip(("p0", "p1"), needed))
        raise ValueError(f"{op}: needs its parameters {names}")
    for x in (*inputs, out):
        if _is_array(x) and dtype_name_of(x) not in SUPPORTED_DTYPES:
            raise TypeError(f"{op}: unsupported dtype {x.dtype} (supported: {', '.join(SUPPORTED_DTYPES)})")
    arrays = [x for x in inputs if _is_array(x)]
    values = [x for x in (inputs[1:] if op == "where" else inputs) if _is_array(x)]
    if op == "where":
        if not _is_array(inputs[0]) or dtype_name_of(inputs[0]) != "bool":
            got = getattr(inputs[0], "dtype", inputs[0])
            raise TypeError(f"where: the condition must be a bool array, got {got!r}")
    elif not arrays:
        raise TypeError(f"{op}: needs at least one array operand, got only scalars")
    compute = compute_dtype(*(dtype_name_of(x) for x in values)) if values else compute_dtype(name)
    if op in FLOAT_OPS and compute == "int64":
        raise TypeError(f"{op}: expects floating-point operands, got {', '.join(dtype_name_of(x) for x in values)}")
    if op in INTEGER_OPS and compute != "int64":
        raise TypeError(f"{op}: expects integer or bool operands, got {', '.join(dtype_name_of(x) for x in values)}")
    shape = tuple(out.shape)
    n = numel(shape)
    if n == 0:
        return None
    out_strides = tuple(out.stride())
    if any(size > 1 and stride == 0 for size, stride in zip(shape, out_strides)):
        raise ValueError(f"{op}: the output (shape {shape}, strides {out_strides}) must not be broadcast")
    strides = [_broadcast_strides(shape, x, f"{op}: operand {i}") if _is_array(x) else (0,) * len(shape)
               for i, x in enumerate(inputs)]
    strides += [(0,) * len(shape)] * (3 - n_inputs) + [out_strides]
    dims, strides = collapse(shape, *strides)
    ndim = len(dims)
    out_contiguous = all(strides[3][i] == numel(dims[i + 1:]) for i in range(ndim))
    dims, strides = padded(dims, strides)
    block = min(INTERPRETER_BLOCK_SIZE, triton.next_power_of_2(n)) if interpreting() else BLOCK_SIZE
    reach = max(sum((size - 1) * st for size, st in zip(dims, s)) for s in strides)
    index_64 = interpreting() or max(reach, n) + block >= 2 ** 31
    check_zero = zero_division_flag is not None and op in ("floor_divide", "remainder") and compute == "int64"
    sizes = (n, *dims[1:], *strides[0], *strides[1], *strides[2], *strides[3])
    meta = dict(OP=op, N_INPUTS=n_inputs, COMPUTE=_COMPUTE[compute],
                X_SCALAR=not _is_array(inputs[0]), Y_SCALAR=n_inputs >= 2 and not _is_array(inputs[1]),
                Z_SCALAR=n_inputs >= 3 and not _is_array(inputs[2]),
                HAS_P0=p0 is not None, HAS_P1=p1 is not None, CHECK_ZERO=check_zero, OUT_CONTIGUOUS=out_contiguous,
                NDIM=ndim, INDEX_64=index_64, BLOCK_SIZE=block, num_warps=NUM_WARPS)
    return compute, (triton.cdiv(n, block),), sizes, meta


def _launch(op, n_inputs, inputs, out, p0=None, p1=None, zero_division_flag=None):
    key = (op, n_inputs, p0 is None, p1 is None, zero_division_flag is None, _describe(out), *map(_describe, inputs))
    plan = _PLANS.get(key, False)
    if plan is False:
        plan = _plan(op, n_inputs, inputs, out, p0, p1, zero_division_flag)
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[key] = plan
    if plan is None:
        return out
    compute, grid, sizes, meta = plan
    scalars = [0 if _is_array(x) else _encode(x, compute, f"{op}: scalar operand") for x in inputs]
    scalars += [0] * (3 - n_inputs)
    pointers = [x if _is_array(x) else out for x in inputs] + [out] * (3 - n_inputs)
    _elementwise_kernel[grid](
        *pointers, out, zero_division_flag if meta["CHECK_ZERO"] else out, *sizes,
        *scalars, *(0 if p is None else _encode(p, compute, f"{op}: parameter") for p in (p0, p1)), **meta)
    return out


def unary(op, x, out, p0=None, p1=None):
    """out[...] = op(x), x broadcast to out's shape. Parameters: pow_scalar(p0 = exponent), clamp(p0 = min or
    None, p1 = max or None), softplus(p0 = beta, p1 = threshold), leaky_relu(p0 = negative slope), elu(p0 = alpha,
    p1 = scale), celu(p0 = alpha), threshold(p0 = threshold, p1 = value). (Hardtanh's forward is clamp.)

    Ops that are the identity on some dtypes (floor/ceil/round/trunc on integers, relu/abs/sign on bool,
    bitwise_not on bool = logical_not) are mapped here, so the kernel sees only meaningful pairs."""
    if op not in UNARY_OPS:
        raise ValueError(f"unary: unknown op {op!r}")
    if dtype_name_of(x) == "bool" and op in ("relu", "abs", "sign", "bitwise_not"):
        op = "logical_not" if op == "bitwise_not" else "identity"
    elif compute_dtype(dtype_name_of(x)) == "int64" and op in ("floor", "ceil", "round", "trunc"):
        op = "identity"
    return _launch(op, 1, (x,), out, p0, p1)


def binary(op, a, b, out, p0=None, p1=None, zero_division_flag=None):
    """out[...] = op(a, b), broadcast to out's shape; `a` or `b` may be a Python scalar. Comparisons and
    logical ops give bools (store them in a bool `out`). `*_backward` ops take (grad, saved) and the
    forward's parameters: pow_scalar_backward(p0 = exponent), clamp_backward(p0 = min or None, p1 = max or
    None), softplus_backward(p0 = beta, p1 = threshold), leaky_relu_backward(p0 = slope), elu_backward and
    celu_backward (as their forwards), hardtanh_backward(p0 = min, p1 = max), threshold_backward(p0 = threshold,
    p1 = value).

    `zero_division_flag`: an int32 array of one element, zeroed by the caller; integer floor_divide and
    remainder set it to 1 when a divisor is 0 (and give 0 there)."""
    if op not in BINARY_OPS:
        raise ValueError(f"binary: unknown op {op!r}")
    flag = zero_division_flag
    if flag is not None and (dtype_name_of(flag) != "int32" or numel(flag.shape) != 1):
        raise TypeError(f"binary: zero_division_flag must be one int32 element, got {zero_division_flag.dtype} "
                        f"of shape {tuple(zero_division_flag.shape)}")
    return _launch(op, 2, (a, b), out, p0, p1, zero_division_flag)


def ternary(op, x, a, b, out):
    """out[...] = op(x, a, b), broadcast to out's shape: where(condition, a, b) (a or b may be a Python
    scalar) or a binary op's gradient (grad, a, b)."""
    if op not in TERNARY_OPS:
        raise ValueError(f"ternary: unknown op {op!r}")
    return _launch(op, 3, (x, a, b), out)


def where(condition, a, b, out):
    """out[...] = a where condition else b (condition a bool array; a, b arrays or Python scalars)."""
    return ternary("where", condition, a, b, out)
