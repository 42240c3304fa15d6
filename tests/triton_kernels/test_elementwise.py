"""Elementwise kernels through Triton's interpreter (conftest sets TRITON_INTERPRET=1): every op against float64
numpy references (or numpy in the compute dtype where the numpy backend's exact semantics matter: rounding,
floor division, nan/inf/-0.0), every dtype, broadcast / strided / odd / empty layouts, launcher errors, and
ahead-of-time compiles for sm_80/sm_90 without register spills."""
import itertools
import math
import os

import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import elementwise as E
from triton_kernels.host_tensor import HostTensor

FLOATS = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
INTS = ("int8", "uint8", "int16", "int32", "int64")
# (rtol, atol) per dtype: fp32 math on fp16/bf16 inputs, then one rounding to the output dtype
TOL = {"float32": (2e-5, 2e-6), "float64": (1e-12, 1e-13), "float16": (2e-3, 2e-3), "bfloat16": (1.6e-2, 1.6e-2)}
SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -1e-45, 0.5, 1.5, 2.5, -0.5, -2.5, 3.0, -3.0,
                     1e30, -1e30, 7.25, -7.25], np.float32)

erf64 = np.vectorize(math.erf, otypes=[np.float64])
erfc64 = np.vectorize(math.erfc, otypes=[np.float64])
SQRT_2_OVER_PI, KAPPA = math.sqrt(2 / math.pi), 0.044715


_DRAWS = itertools.count()


def _rng():
    """Inputs from the run's seed (tests/conftest.py: 0 unless FW_TEST_SEED says otherwise; printed with failures)."""
    return np.random.default_rng([int(os.environ.get("FW_TEST_SEED", "0")), next(_DRAWS)])


def H(array):
    return HostTensor(array)


def run(kind, op, operands, out_dtype, shape=None, **kwargs):
    """Launch op on numpy operands (arrays are wrapped, scalars pass through) into a fresh out array."""
    if shape is None:
        shape = np.broadcast_shapes(*(np.shape(x) for x in operands if isinstance(x, np.ndarray)))
    out = np.full(shape, 77, dtype=out_dtype)
    args = [H(x) if isinstance(x, np.ndarray) else x for x in operands]
    getattr(E, kind)(op, *args, H(out), **kwargs)
    return out


def close(got, expected, dtype_name, scale=1.0):
    """Within the dtype's tolerance; `scale` multiplies the absolute part, for a formula whose result cancels from
    terms larger than 1 (elementwise or one number)."""
    rtol, atol = TOL[dtype_name]
    got, expected = got.astype(np.float64), np.asarray(expected, np.float64)
    if np.ndim(scale):  # per element: assert_allclose takes one atol
        bad = ~(np.abs(got - expected) <= atol * scale + rtol * np.abs(expected)) & ~(np.isnan(got) & np.isnan(expected))
        assert not bad.any(), f"at {np.argwhere(bad)[:5].tolist()}: got {got[bad][:5]}, expected {expected[bad][:5]}"
        return
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol * scale)


def same(got, expected):
    """Equal element for element, nan matching nan and zeros matching in sign."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape
    both_nan = np.isnan(got) & np.isnan(expected)
    equal = (got == expected) & (np.signbit(got) == np.signbit(expected))
    bad = ~(both_nan | equal)
    assert not bad.any(), f"mismatch at {np.argwhere(bad)[:5].tolist()}: got {got[bad][:5]}, " \
                          f"expected {expected[bad][:5]}"


def sigmoid64(x):
    return 1 / (1 + np.exp(-x))


# ---- unary ops -------------------------------------------------------------------------------------------

# op: (float64 reference, input sampler, parameters)
UNARY = {
    "neg": (np.negative, None, ()), "exp": (np.exp, None, ()), "log": (np.log, "positive", ()),
    "log1p": (np.log1p, "above_minus_one", ()), "expm1": (np.expm1, None, ()), "sqrt": (np.sqrt, "positive", ()),
    "rsqrt": (lambda x: 1 / np.sqrt(x), "positive", ()), "sin": (np.sin, None, ()), "cos": (np.cos, None, ()),
    "tanh": (np.tanh, None, ()), "sigmoid": (sigmoid64, "wide", ()), "relu": (lambda x: np.maximum(x, 0), None, ()),
    "abs": (np.abs, None, ()), "reciprocal": (lambda x: 1 / x, "away_from_zero", ()), "square": (np.square, None, ()),
    "floor": (np.floor, None, ()), "ceil": (np.ceil, None, ()), "round": (np.round, "halves", ()),
    "trunc": (np.trunc, None, ()), "sign": (np.sign, None, ()), "identity": (lambda x: x, None, ()),
    "pow_scalar": (lambda x, p: np.power(x, p), "positive", (2.5,)),
    "clamp": (lambda x, lo, hi: np.clip(x, lo, hi), None, (-0.75, 1.25)),
    "gelu": (lambda x: 0.5 * x * erfc64(-x / math.sqrt(2)), "wide", ()),
    "gelu_tanh": (lambda x: 0.5 * x * (1 + np.tanh(SQRT_2_OVER_PI * (x + KAPPA * x ** 3))), "wide", ()),
    "silu": (lambda x: x * sigmoid64(x), "wide", ()),
    "softplus": (lambda x, beta, t: np.where(beta * x > t, x, np.log1p(np.exp(beta * x)) / beta), None, (2.0, 3.0)),
    "leaky_relu": (lambda x, slope: np.where(x > 0, x, x * slope), None, (0.2,)),
    "elu": (lambda x, alpha, scale: scale * np.where(x > 0, x, alpha * np.expm1(x)), "wide", (1.7, 1.05)),
    "celu": (lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(x / alpha)), "wide", (0.6,)),
    "hardswish": (lambda x: x * np.clip(x + 3, 0, 6) / 6, "wide", ()),
    "hardsigmoid": (lambda x: np.clip(x + 3, 0, 6) / 6, "wide", ()),
    "mish": (lambda x: x * np.tanh(np.logaddexp(0, x)), "wide", ()),
    "logsigmoid": (lambda x: -np.logaddexp(0, -x), "wide", ()),
    "threshold": (lambda x, t, v: np.where(x <= t, v, x), None, (0.3, -2.5)),
}


def sample(rng, shape, kind, dtype):
    if kind == "positive":
        x = rng.uniform(0.1, 5.0, shape)
    elif kind == "above_minus_one":
        x = rng.uniform(-0.9, 5.0, shape)
    elif kind == "away_from_zero":
        x = rng.uniform(0.25, 4.0, shape) * rng.choice([-1, 1], shape)
    elif kind == "halves":
        x = rng.integers(-20, 20, shape) / 2 + rng.choice([0, 0.25], shape)
    elif kind == "wide":
        x = rng.standard_normal(shape) * 6
    else:
        x = rng.standard_normal(shape) * 2
    return x.astype(dtype)


@pytest.mark.parametrize("dtype_name", list(FLOATS))
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_float(op, dtype_name):
    reference, kind, params = UNARY[op]
    x = sample(_rng(), (7, 13), kind, FLOATS[dtype_name])
    got = run("unary", op, [x], x.dtype, **dict(zip(("p0", "p1"), params)))
    close(got, reference(x.astype(np.float64), *params), dtype_name)


@pytest.mark.parametrize("dtype_name", INTS + ("bool",))
def test_unary_integer_exact(dtype_name):
    """Integer ops compute in int64 and wrap when stored, as numpy's own integer ops do."""
    info = np.iinfo(dtype_name) if dtype_name != "bool" else None
    x = np.array([0, 1, 2, 3, 5, 7], dtype_name) if info is None or info.min == 0 else \
        np.array([info.min, -7, -1, 0, 1, 2, 3, info.max], dtype_name)
    if dtype_name == "bool":
        x = np.array([True, False, True])
    cases = {"identity": x, "relu": np.maximum(x, 0) if dtype_name != "bool" else x, "abs": np.abs(x),
             "sign": np.sign(x) if dtype_name != "bool" else x, "floor": x, "round": x, "trunc": x,
             "logical_not": np.logical_not(x), "bitwise_not": np.invert(x), "isnan": np.zeros(x.shape, bool),
             "isinf": np.zeros(x.shape, bool), "isfinite": np.ones(x.shape, bool)}
    if dtype_name != "bool":
        cases.update(neg=np.negative(x), square=np.square(x), pow_scalar=np.power(x, np.array(3, dtype_name)),
                     clamp=np.clip(x, 1, 3))
    for op, expected in cases.items():
        params = {"pow_scalar": dict(p0=3), "clamp": dict(p0=1, p1=3)}.get(op, {})
        got = run("unary", op, [x], expected.dtype, **params)
        np.testing.assert_array_equal(got, expected, err_msg=f"{op} on {dtype_name}")


def test_unary_edge_values_follow_the_numpy_backend():
    """nan, +-inf, +-0.0, denormals and halves: the numpy backend's results (computed in float32) exactly."""
    x = SPECIALS
    with np.errstate(all="ignore"):
        exact = {
            "neg": -x, "relu": np.maximum(np.float32(0), x), "abs": np.abs(x), "floor": np.floor(x),
            "ceil": np.ceil(x), "round": np.round(x), "trunc": np.trunc(x), "square": np.square(x),
            "sign": np.where(np.isnan(x) | (x == 0), np.float32(0), np.sign(x)), "sqrt": np.sqrt(x),
            "rsqrt": np.float32(1) / np.sqrt(x), "reciprocal": np.reciprocal(x),
            "leaky_relu": np.where(x > 0, x, x * np.float32(0.5)),
            "exp": np.exp(x), "log": np.log(x), "log1p": np.log1p(x), "expm1": np.expm1(x), "sin": np.sin(x),
            "cos": np.cos(x), "tanh": np.tanh(x),
        }
        for op, expected in exact.items():
            got = run("unary", op, [x], np.float32, **({"p0": 0.5} if op == "leaky_relu" else {}))
            same(got, expected)
        for op in ("isnan", "isinf", "isfinite", "logical_not"):
            np.testing.assert_array_equal(run("unary", op, [x], bool), getattr(np, op)(x) if op != "logical_not"
                                          else x == 0)
        # clamp keeps x unless strictly outside, and a nan x stays nan (numpy's maximum/minimum, bound first)
        same(run("unary", "clamp", [x], np.float32, p0=0.0, p1=2.0), np.minimum(2.0, np.maximum(0.0, x)))
        same(run("unary", "clamp", [x], np.float32, p0=-0.0), np.maximum(np.float32(-0.0), x))
        same(run("unary", "clamp", [x], np.float32, p1=-1.0), np.minimum(np.float32(-1.0), x))
        beta, threshold = 1.0, 20.0
        same(run("unary", "softplus", [x], np.float32, p0=beta, p1=threshold),
             np.where(x > threshold, x, np.log1p(np.exp(np.minimum(x, threshold))) / np.float32(beta)))
        gelu = run("unary", "gelu", [x], np.float32)
        assert np.isnan(gelu[2]) and gelu[1] == np.inf and gelu[3] == 0  # -inf * erfc(inf) = -inf * 0


# ---- binary ops --------------------------------------------------------------------------------------------

BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
}


@pytest.mark.parametrize("dtype_name", list(FLOATS))
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_float_broadcast_and_strided(op, dtype_name):
    rng = _rng()
    dtype = FLOATS[dtype_name]
    a = (rng.standard_normal((7, 1, 26)) * 2).astype(dtype)[:, :, ::2]  # broadcast dim + stride 2
    b = (rng.standard_normal((13, 5)) * 2).astype(dtype).T  # transposed
    if op == "pow":
        a = np.abs(a) + dtype(0.25)
    got = run("binary", op, [a, b], dtype)
    with np.errstate(all="ignore"):  # the float64 result rounded to the dtype: overflow to inf is part of the answer
        expected = np.asarray(BINARY[op](a.astype(np.float64), b.astype(np.float64))).astype(dtype)
    close(got, expected, dtype_name)


def _python_semantics(op, a, b, compute):
    """The numpy backend: floor_divide/remainder in the compute dtype (float32 for fp16/bf16), then rounded."""
    with np.errstate(all="ignore"):
        return getattr(np, op)(a.astype(compute), b.astype(compute)).astype(a.dtype)


@pytest.mark.parametrize("dtype_name", list(FLOATS))
@pytest.mark.parametrize("op", ["floor_divide", "remainder"])
def test_floor_divide_and_remainder_float_special_values(op, dtype_name):
    """Python's sign rules with nan, +-inf, +-0.0 and zero divisors, exactly as numpy (and so the CPU backend)."""
    dtype = FLOATS[dtype_name]
    compute = np.float64 if dtype_name == "float64" else np.float32
    with np.errstate(over="ignore"):  # 1e30 is inf in float16
        values = SPECIALS.astype(dtype)
    a, b = np.meshgrid(values, values, indexing="ij")
    same(run("binary", op, [a, b], dtype), _python_semantics(op, a, b, compute))
    rng = _rng()
    a = (rng.standard_normal(500) * 10).astype(dtype)
    b = (rng.standard_normal(500) * 3).astype(dtype)
    same(run("binary", op, [a, b], dtype), _python_semantics(op, a, b, compute))


@pytest.mark.parametrize("dtype_name", INTS)
def test_integer_binary_ops_exact(dtype_name):
    rng = _rng()
    info = np.iinfo(dtype_name)
    low, high = max(info.min, -1000), min(info.max, 1000)
    a = rng.integers(low, high + 1, (9, 11)).astype(dtype_name)
    b = rng.integers(low, high + 1, (11,)).astype(dtype_name)
    b[b == 0] = 3
    a.flat[:2] = info.min, info.max  # wrap-around
    for op in ("add", "sub", "mul", "maximum", "minimum", "floor_divide", "remainder", "bitwise_and", "bitwise_or",
               "bitwise_xor"):
        with np.errstate(all="ignore"):
            expected = getattr(np, {"sub": "subtract", "mul": "multiply"}.get(op, op))(a, b)
        np.testing.assert_array_equal(run("binary", op, [a, b], a.dtype), expected, err_msg=op)
    exponent = rng.integers(0, 5, (11,)).astype(dtype_name)
    np.testing.assert_array_equal(run("binary", "pow", [a, exponent], a.dtype), np.power(a, exponent))


def test_integer_division_by_zero_raises_the_flag():
    a = np.array([7, -7, 7, -7, 0, 5], np.int64)
    b = np.array([2, 2, -2, -2, 3, 0], np.int64)
    for op in ("floor_divide", "remainder"):
        flag = np.zeros(1, np.int32)
        got = run("binary", op, [a, b], np.int64, zero_division_flag=H(flag))
        np.testing.assert_array_equal(got[:5], getattr(np, op)(a[:5], b[:5]))
        assert got[5] == 0 and flag[0] == 1
        flag[0] = 0
        run("binary", op, [a[:5], b[:5]], np.int64, zero_division_flag=H(flag))
        assert flag[0] == 0
    flag = np.zeros(1, np.int32)
    run("binary", "floor_divide", [a, 0], np.int64, zero_division_flag=H(flag))  # a scalar zero divisor
    assert flag[0] == 1


def test_integer_pow_negative_exponents_and_wrapping():
    base = np.array([1, -1, -1, 2, 0, 3, 2], np.int64)
    exponent = np.array([-3, -3, -2, -1, -1, 40, 63], np.int64)
    got = run("binary", "pow", [base, exponent], np.int64)
    with np.errstate(all="ignore"):
        wrapped = np.power(base[5:], exponent[5:])
    np.testing.assert_array_equal(got, [1, -1, 1, 0, 0, *wrapped])  # negative exponents as PyTorch


@pytest.mark.parametrize("dtype_name", ["float32", "float64", "float16"])
def test_maximum_minimum_nan_and_signed_zero(dtype_name):
    dtype = FLOATS[dtype_name]
    compute = np.float64 if dtype_name == "float64" else np.float32  # numpy's float16 maximum differs on ties
    values = np.array([np.nan, 0.0, -0.0, 1.0, -np.inf, np.inf], dtype)
    a, b = np.meshgrid(values, values, indexing="ij")
    for op in ("maximum", "minimum"):
        same(run("binary", op, [a, b], dtype), getattr(np, op)(a.astype(compute), b.astype(compute)))


@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16", "float64", "int32", "uint8", "bool"])
def test_comparisons_and_logical_ops(dtype_name):
    rng = _rng()
    dtype = FLOATS.get(dtype_name, dtype_name)
    a = rng.integers(0, 4, (6, 7)).astype(dtype)
    b = rng.integers(0, 4, (7,)).astype(dtype)
    if dtype_name.startswith(("float", "bfloat")):
        a[0, :3] = np.nan
        b[1] = np.nan
    for op in sorted(E.COMPARISONS):
        expected = getattr(np, {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                                "gt": "greater", "ge": "greater_equal"}.get(op, op))(a, b)
        np.testing.assert_array_equal(run("binary", op, [a, b], bool), expected, err_msg=op)
    if dtype_name == "bool":
        for op in sorted(E.BITWISE_OPS):
            np.testing.assert_array_equal(run("binary", op, [a, b], bool), getattr(np, op)(a, b))
        np.testing.assert_array_equal(run("binary", "add", [a, b], bool), a + b)  # True + True is True


def test_scalar_operands():
    rng = _rng()
    x64 = rng.standard_normal((5, 3))
    same(run("binary", "add", [x64, 0.1], np.float64), x64 + 0.1)  # fp64 scalars are exact
    same(run("binary", "sub", [0.1, x64], np.float64), 0.1 - x64)  # scalar first (rsub)
    x32 = x64.astype(np.float32)
    same(run("binary", "mul", [x32, 0.1], np.float32), x32 * 0.1)  # the scalar rounds to float32, as numpy's
    same(run("binary", "div", [1.0, x32], np.float32), np.float32(1) / x32)
    same(run("binary", "pow", [2.0, x32], np.float32), np.power(np.float32(2), x32))
    same(run("binary", "maximum", [x32, -0.0], np.float32), np.maximum(x32, np.float32(-0.0)))
    x16 = x64.astype(np.float16)
    close(run("binary", "add", [x16, 1e-3], np.float16), x16.astype(np.float64) + 1e-3, "float16")
    i = rng.integers(-100, 100, (4, 4)).astype(np.int32)
    np.testing.assert_array_equal(run("binary", "sub", [i, 3], np.int32), i - 3)
    np.testing.assert_array_equal(run("binary", "pow", [2, np.abs(i) % 10], np.int32), 2 ** (np.abs(i) % 10))
    np.testing.assert_array_equal(run("binary", "lt", [i, 7], bool), i < 7)
    np.testing.assert_array_equal(run("binary", "remainder", [i, -7], np.int32), np.remainder(i, -7))
    np.testing.assert_array_equal(run("binary", "bitwise_and", [i, True], np.int32), i & 1)


# ---- backward formulas ------------------------------------------------------------------------------------

def _gelu_tanh_grad(x):
    inner = np.tanh(SQRT_2_OVER_PI * (x + KAPPA * x ** 3))
    return 0.5 * (1 + inner) + 0.5 * x * (1 - inner ** 2) * SQRT_2_OVER_PI * (1 + 3 * KAPPA * x * x)


# op: (saved value from x, d out / d x in terms of (x, saved), sampler, params)
UNARY_BACKWARD = {
    "log1p_backward": (lambda x: x, lambda x, s: 1 / (1 + x), "above_minus_one", ()),
    "expm1_backward": (np.expm1, lambda x, s: s + 1, None, ()),
    "sqrt_backward": (np.sqrt, lambda x, s: 1 / (2 * s), "positive", ()),
    "rsqrt_backward": (lambda x: 1 / np.sqrt(x), lambda x, s: -0.5 * s ** 3, "positive", ()),
    "sin_backward": (lambda x: x, lambda x, s: np.cos(x), None, ()),
    "cos_backward": (lambda x: x, lambda x, s: -np.sin(x), None, ()),
    "tanh_backward": (np.tanh, lambda x, s: 1 - s * s, None, ()),
    "sigmoid_backward": (sigmoid64, lambda x, s: s * (1 - s), None, ()),
    "relu_backward": (lambda x: np.maximum(x, 0), lambda x, s: (s > 0) * 1.0, None, ()),
    "abs_backward": (lambda x: x, lambda x, s: np.sign(x), None, ()),
    "reciprocal_backward": (lambda x: 1 / x, lambda x, s: -s * s, "away_from_zero", ()),
    "square_backward": (lambda x: x, lambda x, s: 2 * x, None, ()),
    "pow_scalar_backward": (lambda x: x, lambda x, s, p: p * x ** (p - 1), "positive", (2.5,)),
    "clamp_backward": (lambda x: x, lambda x, s, lo, hi: ((x >= lo) & (x <= hi)) * 1.0, None, (-0.5, 0.75)),
    "gelu_backward": (lambda x: x, lambda x, s: 0.5 * (1 + erf64(x / math.sqrt(2))) +
                      x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi), "wide", ()),
    "gelu_tanh_backward": (lambda x: x, lambda x, s: _gelu_tanh_grad(x), "wide", ()),
    "silu_backward": (lambda x: x, lambda x, s: sigmoid64(x) * (1 + x * (1 - sigmoid64(x))), "wide", ()),
    "softplus_backward": (lambda x: x, lambda x, s, beta, t: np.where(beta * x > t, 1.0, sigmoid64(beta * x)),
                          None, (2.0, 3.0)),
    "leaky_relu_backward": (lambda x: x, lambda x, s, slope: np.where(x > 0, 1.0, slope), None, (0.2,)),
    "elu_backward": (lambda x: x, lambda x, s, alpha, scale: scale * np.where(x > 0, 1.0, alpha * np.exp(x)), "wide",
                     (1.7, 1.05)),
    "celu_backward": (lambda x: x, lambda x, s, alpha: np.where(x > 0, 1.0, np.exp(x / alpha)), "wide", (0.6,)),
    "hardtanh_backward": (lambda x: x, lambda x, s, lo, hi: ((x > lo) & (x < hi)) * 1.0, None, (-0.5, 0.75)),
    "hardswish_backward": (lambda x: x, lambda x, s: np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0)),
                           "wide", ()),
    "hardsigmoid_backward": (lambda x: x, lambda x, s: ((x > -3) & (x < 3)) / 6, "wide", ()),
    "mish_backward": (lambda x: x, lambda x, s: np.tanh(np.logaddexp(0, x)) + x * sigmoid64(x) *
                      (1 - np.tanh(np.logaddexp(0, x)) ** 2), "wide", ()),
    "logsigmoid_backward": (lambda x: x, lambda x, s: sigmoid64(-x), "wide", ()),
    "threshold_backward": (lambda x: x, lambda x, s, t, v: (x > t) * 1.0, None, (0.3, -2.5)),
}


@pytest.mark.parametrize("dtype_name", list(FLOATS))
@pytest.mark.parametrize("op", sorted(UNARY_BACKWARD))
def test_unary_backward_formulas(op, dtype_name):
    saved_of, derivative, kind, params = UNARY_BACKWARD[op]
    rng = _rng()
    dtype = FLOATS[dtype_name]
    x = sample(rng, (7, 13), kind, dtype).astype(np.float64)
    saved = saved_of(x).astype(dtype)
    g = rng.standard_normal((7, 13)).astype(dtype)
    got = run("binary", op, [g, saved], dtype, **dict(zip(("p0", "p1"), params)))
    expected = g.astype(np.float64) * derivative(x, saved.astype(np.float64), *params)
    scale = 1.0
    if op == "gelu_tanh_backward":
        # PyTorch's formula, 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 kappa x^2) with t = tanh(...), cancels
        # for x << 0 from terms of size |x| (1 + 3 kappa x^2) (seen: 2e-6 off at x ~ -5, FW_TEST_SEED=
        # 8946126245223145761): the error is bounded by that term, times g
        scale = np.abs(g) * np.maximum(1.0, np.abs(x) * (1 + 3 * KAPPA * x * x))
    close(got, expected, dtype_name, scale)


def test_backward_formula_edges():
    g = np.array([1.0, np.nan, 2.0, 3.0], np.float32)
    o = np.array([0.0, -1.0, 2.0, np.nan], np.float32)
    same(run("binary", "relu_backward", [g, o], np.float32), g * (o > 0))  # nan * 0 stays nan, as numpy
    same(run("binary", "abs_backward", [g, o], np.float32), g * np.sign(o))
    same(run("binary", "pow_scalar_backward", [g, o], np.float32, p0=0.0), np.zeros(4, np.float32))
    same(run("binary", "clamp_backward", [g, o], np.float32, p1=1.0), g * (o <= 1.0))


TERNARY_BACKWARD = {
    "div_backward_b": lambda g, a, b: -g * a / (b * b),
    "pow_backward_a": lambda g, a, b: g * b * a ** (b - 1),
    "pow_backward_b": lambda g, a, b: np.where((a == 0) & (b >= 0), 0.0, g * a ** b * np.log(np.where(a == 0, 1, a))),
    "maximum_backward": lambda g, a, b: g * ((a > b) + 0.5 * (a == b)),
    "minimum_backward": lambda g, a, b: g * ((a < b) + 0.5 * (a == b)),
    "remainder_backward_b": lambda g, a, b: -g * np.floor(a / b),
}


@pytest.mark.parametrize("dtype_name", list(FLOATS))
@pytest.mark.parametrize("op", sorted(TERNARY_BACKWARD))
def test_binary_backward_formulas(op, dtype_name):
    rng = _rng()
    dtype = FLOATS[dtype_name]
    g = rng.standard_normal((6, 9)).astype(dtype)
    a = rng.uniform(0.5, 3.0, (6, 9)).astype(dtype)
    b = rng.uniform(0.5, 3.0, (9,)).astype(dtype)
    a[0, :4] = b[:4]  # ties for maximum/minimum
    if op == "pow_backward_b":
        a[1, :3] = 0
    if op == "remainder_backward_b":
        a = (a * 4).astype(dtype)
    got = run("ternary", op, [g, a, b], dtype)
    with np.errstate(all="ignore"):
        expected = TERNARY_BACKWARD[op](*(v.astype(np.float64) for v in (g, a, b)))
    if op == "remainder_backward_b":  # floor(a / b) of the compute dtype: compare away from integer quotients
        quotient = a.astype(np.float64) / b.astype(np.float64)
        keep = np.abs(quotient - np.round(quotient)) > 1e-2
        got, expected = got[keep], expected[keep]
    close(got, expected, dtype_name)


# ---- where ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16", "float64", "int32", "uint8", "bool"])
def test_where_broadcast_strided_and_scalars(dtype_name):
    rng = _rng()
    dtype = FLOATS.get(dtype_name, dtype_name)
    condition = rng.integers(0, 2, (7, 1)).astype(bool)
    a = rng.integers(0, 100, (13, 7)).astype(dtype).T  # transposed
    b = rng.integers(0, 100, (26,)).astype(dtype)[::2]
    same(run("ternary", "where", [condition, a, b], dtype), np.where(condition, a, b))
    same(run("ternary", "where", [condition, a, 1], dtype), np.where(condition, a, np.array(1, dtype)))
    same(run("ternary", "where", [condition, 0, b], dtype), np.where(condition, np.array(0, dtype), b))
    if dtype_name == "float32":
        same(run("ternary", "where", [condition, -0.0, b], dtype), np.where(condition, np.float32(-0.0), b))


# ---- layouts -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(), (1,), (0,), (3, 0, 5), (1, 1, 1), (7, 13)])
def test_odd_shapes(shape):
    rng = _rng()
    x = rng.standard_normal(shape).astype(np.float32)
    same(run("unary", "neg", [x], np.float32, shape=shape), -x)
    same(run("binary", "add", [x, np.float32(1.5)], np.float32, shape=shape), x + np.float32(1.5))


def test_six_unmergeable_dims_and_too_many():
    rng = _rng()
    base = rng.standard_normal((2, 3, 2, 3, 2, 3)).astype(np.float32)
    x = base.transpose(5, 3, 1, 4, 2, 0)  # no two dims merge
    same(run("unary", "exp", [x], np.float32), np.exp(x))
    out = np.zeros((3, 3, 3, 2, 2, 2), np.float32).transpose(1, 0, 2, 3, 4, 5)  # a strided output
    E.binary("mul", H(x), H(x), H(out))
    same(out, x * x)
    seven = rng.standard_normal((2,) * 7).astype(np.float32)
    same(run("unary", "neg", [seven], np.float32), -seven)  # contiguous: merges into one dim
    with pytest.raises(ValueError, match="at most 6 dims"):
        run("unary", "neg", [seven.transpose(6, 5, 4, 3, 2, 1, 0)], np.float32)


def test_gpu_launch_choices_32_bit_indices(monkeypatch):
    """Under the interpreter, launches take 64-bit indices (it checks every 32-bit add for overflow, slowly) and
    one block per array; run the GPU's choices too: 32-bit indices, BLOCK_SIZE blocks."""
    monkeypatch.setattr(E, "interpreting", lambda: False)
    rng = _rng()
    a = rng.standard_normal((40, 1, 30)).astype(np.float32)
    b = rng.standard_normal((5, 60)).astype(np.float32)[:, ::2]
    same(run("binary", "sub", [a, b], np.float32), a - b)
    condition = rng.integers(0, 2, (1200,)).astype(bool)
    same(run("ternary", "where", [condition, 2.0, a.reshape(-1)], np.float32), np.where(condition, 2.0, a.reshape(-1)))


def test_in_place_output():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    expected = x * 2
    E.binary("mul", H(x), 2.0, H(x))
    same(x, expected)


def test_mixed_dtypes_convert_to_the_compute_dtype():
    """The caller decides promotion: int and fp16 operands compute in float32 and store into out's dtype."""
    a = np.array([1, 2, 3], np.int32)
    b = np.array([0.5, 0.25, 2.0], np.float16)
    np.testing.assert_array_equal(run("binary", "mul", [a, b], np.float32), [0.5, 0.5, 6.0])
    np.testing.assert_array_equal(run("unary", "identity", [b], np.int64), [0, 0, 2])
    np.testing.assert_array_equal(run("unary", "identity", [np.array([2.0, 0.0, np.nan])], bool), [True, False, True])
    same(run("unary", "identity", [np.array([1 / 3, -0.0])], ml_dtypes.bfloat16),
         np.array([1 / 3, -0.0]).astype(np.float32).astype(ml_dtypes.bfloat16))


def test_launcher_errors():
    x = np.zeros((2, 3), np.float32)
    i = np.zeros((2, 3), np.int32)
    with pytest.raises(ValueError, match="unknown op"):
        E.unary("cube", H(x), H(x))
    with pytest.raises(TypeError, match="floating-point"):
        E.unary("exp", H(i), H(i))
    with pytest.raises(TypeError, match="integer or bool"):
        E.binary("bitwise_and", H(x), H(x), H(x))
    with pytest.raises(ValueError, match=r"\(4,\) does not broadcast to the output shape \(2, 3\)"):
        E.binary("add", H(x), H(np.zeros(4, np.float32)), H(x))
    with pytest.raises(ValueError, match="must not be broadcast"):
        E.unary("neg", H(x), H(np.broadcast_to(np.zeros(3, np.float32), (2, 3))))
    with pytest.raises(TypeError, match="unsupported dtype complex64"):
        E.unary("neg", H(np.zeros(3, np.complex64)), H(np.zeros(3, np.complex64)))
    with pytest.raises(TypeError, match="condition must be a bool array"):
        E.where(H(x), H(x), H(x), H(x))
    with pytest.raises(TypeError, match="not an integer"):
        E.binary("add", H(i), 0.5, H(i))
    with pytest.raises(TypeError, match="only scalars"):
        E.binary("add", 1.0, 2.0, H(x))
    with pytest.raises(ValueError, match="needs its parameters p0 = negative slope"):
        E.unary("leaky_relu", H(x), H(x))
    with pytest.raises(ValueError, match="p0 = beta, p1 = threshold"):
        E.binary("softplus_backward", H(x), H(x), H(x), p0=1.0)
    with pytest.raises(TypeError, match="one int32 element"):
        E.binary("floor_divide", H(i), H(i), H(i), zero_division_flag=H(np.zeros(1, np.int64)))


# ---- ahead-of-time compiles ------------------------------------------------------------------------------------

# (op, inputs, dtype, out dtype, compute, NDIM, INDEX_64, flags): the heaviest op of each kind at the shipped config,
# contiguous and at the worst layout (six unmerged dims, 64-bit indices, strided output).
_AOT_CASES = [
    ("gelu_tanh", 1, "bf16", "bf16", "fp32", 1, False, {}),
    ("softplus", 1, "fp64", "fp64", "fp64", 6, True, dict(HAS_P0=True, HAS_P1=True)),
    ("gelu_backward", 2, "bf16", "bf16", "fp32", 6, True, {}),
    ("mish_backward", 2, "fp64", "fp64", "fp64", 6, True, {}),
    ("elu", 1, "fp16", "fp16", "fp32", 6, True, dict(HAS_P0=True, HAS_P1=True)),
    ("floor_divide", 2, "i64", "i64", "i64", 6, True, dict(CHECK_ZERO=True)),
    ("pow", 2, "i32", "i32", "i64", 1, False, dict(Y_SCALAR=True)),
    ("pow_backward_b", 3, "fp32", "fp32", "fp32", 6, True, {}),
    ("where", 3, "fp16", "fp16", "fp32", 3, False, dict(Z_SCALAR=True)),
    # _negate's two paths (Triton < 3.8 compiles a float's -x as 0 - x, so floats multiply by -1 instead)
    ("neg", 1, "fp32", "fp32", "fp32", 1, False, {}),
    ("neg", 1, "i64", "i64", "i64", 1, False, {}),
]


def aot_jobs():
    """(label, job): every case for sm_80 and sm_90."""
    import triton.language as tl
    compute_types = {"fp32": tl.float32, "fp64": tl.float64, "i64": tl.int64}
    jobs = []
    for op, n_inputs, dtype, out_dtype, compute, ndim, index_64, flags in _AOT_CASES:
        constexprs = dict(dict(OP=op, N_INPUTS=n_inputs, COMPUTE=compute_types[compute], X_SCALAR=False,
                               Y_SCALAR=False, Z_SCALAR=False, HAS_P0=False, HAS_P1=False, CHECK_ZERO=False,
                               OUT_CONTIGUOUS=ndim == 1, NDIM=ndim, INDEX_64=index_64, BLOCK_SIZE=E.BLOCK_SIZE),
                          **flags)
        signature = {}
        for name in E._elementwise_kernel.arg_names:
            if name in constexprs:
                signature[name] = "constexpr"
            elif name.endswith("_ptr"):
                signature[name] = {"x_ptr": "*i1" if op == "where" else f"*{dtype}", "out_ptr": f"*{out_dtype}",
                                   "flag_ptr": "*i32"}.get(name, f"*{dtype}")
            elif name.endswith("_value") or name in ("p0", "p1"):
                signature[name] = "i64" if compute == "fp64" else "i32"  # scalars travel as ints (float bits)
            else:
                signature[name] = "i64" if index_64 else "i32"
        for arch in aot.ARCHITECTURES:
            jobs.append((f"{op} {dtype} NDIM={ndim} INDEX_64={index_64}",
                         aot.job(E._elementwise_kernel, signature, constexprs, arch, E.NUM_WARPS)))
    return jobs


def test_aot_shipped_configs_do_not_spill(aot_results):
    assert len(aot_results) == 2 * len(_AOT_CASES)
    aot.assert_no_spills(aot_results)
