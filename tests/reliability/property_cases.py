"""The op table that test_properties.py fuzzes: one row per registry op, in three families.

Each row names the registry op, calls it the same way on framework and torch (`call(lib, ...)` with
`lib` either module), gives a float64 numpy reference, the dtypes to draw, and the value domain for
gradcheck (None: not checked, with the reason in a comment). A registry op must have a row here or a
reason in EXCLUDED; test_properties.py fails, naming it, otherwise.

`refuses` is the rule for the inputs PyTorch refuses (a Python scalar where only a tensor is taken, a
reduction without an identity over nothing): it returns the exception type the framework raises there, as
PyTorch does, and None where both compute. With PyTorch importable the test holds the rule to PyTorch's
behaviour on every drawn input; without it, the rule alone says which inputs must raise.
"""
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from hypothesis import strategies as st

FLOATS = ("float16", "bfloat16", "float32", "float64")
INTS = ("uint8", "int8", "int16", "int32", "int64")
ALL = ("bool",) + INTS + FLOATS
SIGNED = ("int8", "int16", "int32", "int64") + FLOATS
NUMERIC = INTS + FLOATS

# Gradcheck domains: where the op is smooth, away from kinks and jumps by at least 0.1.
ANY, POSITIVE, AWAY0, NONINT = "any", "positive", "away0", "nonint"


@dataclass
class Unary:
    op: str
    call: Callable
    ref: Callable
    dtypes: tuple = FLOATS
    params: object = field(default_factory=lambda: st.just(()))
    grad: Optional[str] = ANY
    max_abs: float = 1e30  # largest finite input magnitude drawn for the value check
    signed_zeros: bool = True  # the sign of a zero result must match PyTorch's


@dataclass
class Binary:
    op: str
    call: Callable
    ref: Callable
    dtypes: tuple = NUMERIC
    grad: Optional[str] = ANY
    nonzero_int_divisor: bool = False  # integer division by zero raises in PyTorch: not a property case
    scalar_other: bool = True  # `tensor op python_scalar` is also drawn
    signed_zeros: bool = True  # the sign of a zero result must match PyTorch's
    refuses: Callable = lambda a, b: None  # refuses(a, b): the exception type raised, None where it computes


@dataclass
class Reduction:
    op: str
    call: Callable  # call(lib, x, dim, keepdim, *params)
    ref: Callable  # ref(x, axis, keepdim, *params), axis a tuple of ints
    dims: str = "multi"  # "multi": None, int or tuple; "given": int or tuple; "single": int; "optional": None or int
    dtypes: tuple = FLOATS
    params: object = field(default_factory=lambda: st.just(()))
    grad: Optional[str] = ANY
    cancels: bool = False  # sums of large values of both signs: tolerance scales with sum(|x|)
    max_abs: float = 1e30
    refuses: Callable = lambda x, dim, keepdim, *params: None  # the exception type raised, None where it computes


def _tensor_other_only(a, b):
    """PyTorch's logical_and/or/xor take no Python scalar as `other`: TypeError naming the argument."""
    return None if isinstance(b, np.ndarray) else TypeError


def _one_dtype_only(a, b):
    """lerp takes `end` (and a dimensioned weight) in input's dtype only: RuntimeError naming both otherwise."""
    return None if a.dtype == b.dtype else RuntimeError


def _over_nothing(x, dim):
    """Whether reducing `x` over `dim` (None or (): every dim; an int or a tuple) reduces an empty set."""
    if x.size:
        return False
    if dim is None or dim == ():
        return True
    return any(x.shape[d] == 0 for d in (dim if isinstance(dim, tuple) else (dim,)))


def _no_identity(full_error=IndexError):
    """The rule of a reduction without an identity (max, amax, argmax, ...) over nothing: PyTorch's
    `full_error` when it reduces every dim (dim None), IndexError naming the dim when a given one is empty."""
    def refuses(x, dim, keepdim, *params):
        if not _over_nothing(x, dim):
            return None
        return full_error if dim is None else IndexError
    return refuses


def _norm_refuses(x, dim, keepdim, p):
    """The inf norm (a max) has no identity: RuntimeError over nothing; the p-norms sum, and give 0 there."""
    return RuntimeError if p == math.inf and _over_nothing(x, dim) else None


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x) if np.size(x) else np.asarray(x, np.float64)


def _erfc(x):
    return np.vectorize(math.erfc, otypes=[np.float64])(x) if np.size(x) else np.asarray(x, np.float64)


def _erfinv(y):
    """By bisection on math.erf / math.erfc (1 - |y| is exact above 0.5): +-inf at +-1, nan outside [-1, 1]."""
    y = np.asarray(y, np.float64)
    a = np.abs(y)
    low, high = np.zeros_like(a), np.full_like(a, 30.0)
    for _ in range(200):
        mid = (low + high) / 2
        above = np.where(a > 0.5, _erfc(mid) < 1 - a, _erf(mid) > a)
        low, high = np.where(above, low, mid), np.where(above, mid, high)
    x = np.where(a == 1, np.inf, np.where(a == 0, 0.0, (low + high) / 2))
    return np.where(a > 1, np.nan, np.copysign(x, y))


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


_SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)


def _elu_call(lib, x, kind, alpha):
    return lib.nn.functional.selu(x) if kind == "selu" else lib.nn.functional.elu(x, alpha)


def _elu(x, kind, alpha):
    alpha, scale = _SELU if kind == "selu" else (alpha, 1.0)
    return np.where(x <= 0, scale * alpha * np.expm1(x), scale * x)


def _mish(x):
    with np.errstate(over="ignore", invalid="ignore"):
        return x * np.tanh(np.log1p(np.exp(x)))


def _softplus(x, beta, threshold):
    with np.errstate(over="ignore"):
        return np.where(x * beta > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def _clamp_params():
    bound = st.one_of(st.none(), st.integers(-3, 3).map(float))
    return st.tuples(bound, bound).filter(lambda b: b != (None, None)).map(
        lambda b: (min(b), max(b)) if None not in b else b)


UNARY = [
    Unary("neg", lambda lib, x: lib.neg(x), np.negative, SIGNED),
    Unary("exp", lambda lib, x: lib.exp(x), np.exp, FLOATS + ("int32",)),
    Unary("log", lambda lib, x: lib.log(x), np.log, FLOATS + ("int32",), grad=POSITIVE),
    Unary("log1p", lambda lib, x: lib.log1p(x), np.log1p, grad=POSITIVE),
    Unary("expm1", lambda lib, x: lib.expm1(x), np.expm1),
    Unary("sqrt", lambda lib, x: lib.sqrt(x), np.sqrt, FLOATS + ("int64",), grad=POSITIVE),
    Unary("rsqrt", lambda lib, x: lib.rsqrt(x), lambda x: 1 / np.sqrt(x), grad=POSITIVE),
    Unary("sin", lambda lib, x: lib.sin(x), np.sin, max_abs=1e4),
    Unary("cos", lambda lib, x: lib.cos(x), np.cos, max_abs=1e4),
    Unary("tanh", lambda lib, x: lib.tanh(x), np.tanh),
    Unary("sigmoid", lambda lib, x: lib.sigmoid(x), _sigmoid, FLOATS + ("uint8",)),
    Unary("relu", lambda lib, x: lib.relu(x), lambda x: np.maximum(x, 0).astype(x.dtype), NUMERIC, grad=AWAY0),
    Unary("abs", lambda lib, x: lib.abs(x), np.abs, SIGNED, grad=AWAY0),
    Unary("reciprocal", lambda lib, x: lib.reciprocal(x), lambda x: 1 / x, grad=AWAY0),
    Unary("square", lambda lib, x: lib.square(x), np.square, SIGNED),
    Unary("floor", lambda lib, x: lib.floor(x), np.floor, grad=NONINT),
    Unary("ceil", lambda lib, x: lib.ceil(x), np.ceil, grad=NONINT),
    Unary("round", lambda lib, x: lib.round(x), np.round, grad=NONINT),
    Unary("trunc", lambda lib, x: lib.trunc(x), np.trunc, grad=NONINT),
    Unary("sign", lambda lib, x: lib.sign(x), np.sign, SIGNED, grad=AWAY0),
    Unary("pow_scalar", lambda lib, x, e: lib.pow(x, e), lambda x, e: np.power(x, e),
          # no 0.5: PyTorch's float32 kernel takes sqrt there (pow(-inf, 0.5) is nan, of -0.0 is -0.0) and its
          # float16 one C's pow (+inf, +0.0); no one reference follows both. sqrt has its own row
          params=st.tuples(st.sampled_from([3.0, -1.0, -2.0, 0.0, 1.5, 2.5])), grad=POSITIVE),
    Unary("clamp", lambda lib, x, lo, hi: lib.clamp(x, lo, hi),
          lambda x, lo, hi: np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi),
          params=_clamp_params(), grad=NONINT),  # bounds are integers: NONINT keeps x off them
    Unary("logical_not", lambda lib, x: lib.logical_not(x), np.logical_not, ALL, grad=None),  # bool output
    Unary("bitwise_not", lambda lib, x: lib.bitwise_not(x), np.invert, ("bool",) + INTS, grad=None),  # integers
    Unary("isnan", lambda lib, x: lib.isnan(x), np.isnan, ALL, grad=None),  # bool output
    Unary("isinf", lambda lib, x: lib.isinf(x), np.isinf, ALL, grad=None),  # bool output
    Unary("isfinite", lambda lib, x: lib.isfinite(x), np.isfinite, ALL, grad=None),  # bool output
    Unary("clone", lambda lib, x: lib.clone(x), lambda x: x, ALL),
    Unary("contiguous", lambda lib, x: x.contiguous(), lambda x: x, ALL),
    # a dtype change: gradcheck needs float64 on both sides of the cast, where `to` is a no-op
    Unary("to_copy", lambda lib, x, d: x.to(getattr(lib, d)), lambda x, d: x, ALL, grad=None,
          params=st.tuples(st.sampled_from(FLOATS))),
    Unary("gelu", lambda lib, x, a: lib.nn.functional.gelu(x, approximate=a), _gelu,
          params=st.tuples(st.sampled_from(["none", "tanh"])), signed_zeros=False),  # torch: gelu(-0.0) is 0.0
    Unary("silu", lambda lib, x: lib.nn.functional.silu(x), lambda x: x * _sigmoid(x)),
    Unary("leaky_relu", lambda lib, x, s: lib.nn.functional.leaky_relu(x, s),
          lambda x, s: np.where(x > 0, x, x * s), params=st.tuples(st.sampled_from([0.01, 0.2, 1.5])), grad=AWAY0),
    Unary("softplus", lambda lib, x, b, t: lib.nn.functional.softplus(x, b, t), _softplus,
          params=st.tuples(st.sampled_from([1.0, 2.0, 0.5]), st.sampled_from([20.0, 1.0]))),
    Unary("erf", lambda lib, x: lib.erf(x), _erf, FLOATS + ("int32",)),
    Unary("erfc", lambda lib, x: lib.erfc(x), _erfc, FLOATS + ("int32",)),
    # grad: erfinv is smooth on (-1, 1) only, none of the drawn domains; gradients in test_elementwise_special.py
    Unary("erfinv", lambda lib, x: lib.erfinv(x), _erfinv, FLOATS + ("int32",), grad=None),
    # finite inputs (the numpy reference's) come back unchanged; PyTorch is the oracle for nan and +-inf
    Unary("nan_to_num", lambda lib, x, n, p, m: lib.nan_to_num(x, n, p, m), lambda x, n, p, m: x, ALL,
          params=st.tuples(st.sampled_from([0.0, 1.5]), st.sampled_from([None, 7.0]), st.sampled_from([None, -7.0]))),
    # elu's op also serves selu (PyTorch's constants as alpha and scale); a kink at 0 unless alpha is 1
    Unary("elu", _elu_call, _elu, params=st.tuples(st.sampled_from(["elu", "selu"]), st.sampled_from([1.0, 0.4])),
          grad=AWAY0),
    Unary("celu", lambda lib, x, a: lib.nn.functional.celu(x, a),
          lambda x, a: np.where(x <= 0, a * np.expm1(x / a), x), params=st.tuples(st.sampled_from([1.0, 0.5, 2.0])),
          grad=AWAY0),
    Unary("hardtanh", lambda lib, x, lo, hi: lib.nn.functional.hardtanh(x, lo, hi),
          lambda x, lo, hi: np.minimum(hi, np.maximum(lo, x)),
          params=st.sampled_from([(-1.0, 1.0), (0.0, 6.0), (-2.0, 3.0)]), grad=NONINT),  # integer bounds
    Unary("threshold", lambda lib, x, t, v: lib.nn.functional.threshold(x, t, v),
          lambda x, t, v: np.where(x <= t, v, x), params=st.tuples(st.sampled_from([0.0, 1.0, -2.0]),
                                                                    st.sampled_from([0.5, -3.0])), grad=NONINT),
    Unary("hardswish", lambda lib, x: lib.nn.functional.hardswish(x), lambda x: x * np.clip(x + 3, 0, 6) / 6,
          grad=NONINT),  # kinks at -3 and 3
    Unary("hardsigmoid", lambda lib, x: lib.nn.functional.hardsigmoid(x), lambda x: np.clip(x + 3, 0, 6) / 6,
          grad=NONINT),
    Unary("mish", lambda lib, x: lib.nn.functional.mish(x), _mish),
    Unary("log_sigmoid", lambda lib, x: lib.nn.functional.logsigmoid(x),
          lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))),
]


BINARY = [
    Binary("add", lambda lib, a, b: lib.add(a, b), np.add),
    Binary("sub", lambda lib, a, b: lib.sub(a, b), np.subtract, SIGNED),
    Binary("mul", lambda lib, a, b: lib.mul(a, b), np.multiply),
    Binary("div", lambda lib, a, b: lib.div(a, b), np.true_divide, FLOATS, grad=AWAY0),
    Binary("pow", lambda lib, a, b: lib.pow(a, b), np.power, FLOATS, grad=POSITIVE, scalar_other=False),
    # maximum(0.0, -0.0): PyTorch's scalar loop returns the first, its vector loop the second; unspecified
    Binary("maximum", lambda lib, a, b: lib.maximum(a, b), np.maximum, scalar_other=False, signed_zeros=False),
    Binary("minimum", lambda lib, a, b: lib.minimum(a, b), np.minimum, scalar_other=False, signed_zeros=False),
    # floor(a / b) is piecewise constant: its gradient is zero (PyTorch's DivBackward2 likewise)
    Binary("floor_divide", lambda lib, a, b: lib.floor_divide(a, b), np.floor_divide, NUMERIC, grad=None,
           nonzero_int_divisor=True),
    # grad: jumps wherever a / b is an integer, hard to keep gradcheck off. signed_zeros: PyTorch's fmod-based
    # remainder(-0.0, 1) is -0.0, numpy's (ours) 0.0; known, cosmetic, left as is
    Binary("remainder", lambda lib, a, b: lib.remainder(a, b), np.remainder, NUMERIC, grad=None,
           nonzero_int_divisor=True, signed_zeros=False),
    Binary("bitwise_and", lambda lib, a, b: lib.bitwise_and(a, b), np.bitwise_and, ("bool",) + INTS, grad=None),
    Binary("bitwise_or", lambda lib, a, b: lib.bitwise_or(a, b), np.bitwise_or, ("bool",) + INTS, grad=None),
    Binary("bitwise_xor", lambda lib, a, b: lib.bitwise_xor(a, b), np.bitwise_xor, ("bool",) + INTS, grad=None),
    Binary("logical_and", lambda lib, a, b: lib.logical_and(a, b), np.logical_and, ALL, grad=None,
           refuses=_tensor_other_only),
    Binary("logical_or", lambda lib, a, b: lib.logical_or(a, b), np.logical_or, ALL, grad=None,
           refuses=_tensor_other_only),
    Binary("logical_xor", lambda lib, a, b: lib.logical_xor(a, b), np.logical_xor, ALL, grad=None,
           refuses=_tensor_other_only),
    Binary("lerp", lambda lib, a, b: lib.lerp(a, b, 0.3), lambda a, b: a + 0.3 * (b - a), FLOATS, scalar_other=False,
           refuses=_one_dtype_only),
    Binary("lerp_tensor", lambda lib, a, b: lib.lerp(a, b, lib.full_like(b, 0.7)), lambda a, b: a + 0.7 * (b - a),
           FLOATS, scalar_other=False, refuses=_one_dtype_only),
    # grad: a kink where x equals its bound, which hypothesis draws on purpose; test_elementwise_bounds.py pins
    # PyTorch's gradients there (ties go to x, min > max to max)
    Binary("clamp_tensor", lambda lib, a, b: lib.clamp(a, min=b), lambda a, b: np.maximum(a, b), NUMERIC,
           grad=None, scalar_other=False),
] + [  # comparisons: bool outputs, no derivative
    Binary(name, (lambda n: lambda lib, a, b: getattr(lib, n)(a, b))(name), ref, ALL, grad=None)
    for name, ref in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                      ("gt", np.greater), ("ge", np.greater_equal))
]

# where(condition, a, b) is fuzzed as a binary op with a random broadcast condition (test_properties.py)
TERNARY = ["where"]


def _ref_reduce(fn, **kwargs):
    """numpy's reduction `fn`; over every dim (axis None) the call drops keepdim, as `lib.sum(x)` does."""
    def ref(x, axis, keepdim):
        return fn(x, axis=axis, keepdims=keepdim and axis is not None, **kwargs) if x.ndim else fn(x, **kwargs)
    return ref


def _np_arg(fn):
    def ref(x, axis, keepdim):
        if axis is None or x.ndim == 0:  # argmax(x, None, keepdim=True) keeps every dim, as size 1
            return np.reshape(fn(x), [1] * x.ndim if keepdim else [])
        return fn(x, _np_dim(axis), keepdims=keepdim)
    return ref


def _np_logsumexp(x, axis, keepdim):
    if x.ndim == 0:
        return x
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros([1] * x.ndim)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=axis)


def _np_softmax(x, axis, keepdim, log=False):
    if x.ndim == 0:
        return np.zeros_like(x) if log else np.ones_like(x)
    shifted = x - np.max(x, axis=axis, keepdims=True) if x.size else x
    if log:
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _np_norm(x, axis, keepdim, p):
    a = np.abs(x)
    if p == math.inf:
        return np.max(a, axis=axis, keepdims=keepdim) if x.ndim else a
    return (np.sum(a ** p, axis=axis, keepdims=keepdim) if x.ndim else a ** p) ** (1 / p)


def _sum_dtype(x):
    return x.astype(np.int64) if x.dtype.kind in "biu" else x


def _np_dim(axis):
    return axis[0] if isinstance(axis, tuple) else axis


def _along(fn):
    """A reference `fn(x, axis)` along one dim; a 0-d input is one element along its one implicit dim."""
    def ref(x, axis, keepdim):
        if x.ndim == 0:
            out = fn(x.reshape(1), 0)
            return tuple(o.reshape(()) for o in out) if isinstance(out, tuple) else out.reshape(())
        return fn(x, _np_dim(axis))
    return ref


def _np_running(x, axis, is_max):
    """(running max/min, index it came from): a NaN, or a value >= (<=) the running one after no NaN, takes over."""
    moved = np.moveaxis(x, axis, -1)
    values, indices = np.empty(moved.shape, x.dtype), np.zeros(moved.shape, np.int64)
    for row in np.ndindex(moved.shape[:-1]):
        best, where = None, 0
        for j, v in enumerate(moved[row]):
            if best is None or np.isnan(v) or (not np.isnan(best) and (v >= best if is_max else v <= best)):
                best, where = v, j
            values[row + (j,)], indices[row + (j,)] = best, where
    return np.moveaxis(values, -1, axis), np.moveaxis(indices, -1, axis)


def _np_sort(x, axis, descending):
    """PyTorch's stable sort: NaN last (first descending), -0.0 equal to 0.0, ties in input order."""
    nan = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    value = np.where(nan, 0, x)
    position = np.broadcast_to(np.arange(x.shape[axis]).reshape([-1 if d == axis % x.ndim else 1
                                                                 for d in range(x.ndim)]), x.shape)
    keys = (position, -value, ~nan) if descending else (position, value, nan)
    order = np.lexsort([np.moveaxis(k, axis, -1) for k in keys], axis=-1) if x.size else np.zeros(
        np.moveaxis(x, axis, -1).shape, np.int64)
    order = np.moveaxis(order, -1, axis)
    return np.take_along_axis(x, order, axis), order


REDUCTIONS = [
    Reduction("sum", lambda lib, x, d, k: lib.sum(x, d, k) if d is not None else lib.sum(x),
              lambda x, a, k: _ref_reduce(np.sum)(_sum_dtype(x), a, k), dtypes=ALL, cancels=True),
    Reduction("mean", lambda lib, x, d, k: lib.mean(x, d, k) if d is not None else lib.mean(x),
              _ref_reduce(np.mean), cancels=True),
    Reduction("prod", lambda lib, x, d, k: lib.prod(x, d, k) if d is not None else lib.prod(x),
              lambda x, a, k: _ref_reduce(np.prod)(_sum_dtype(x), a, k), dims="optional", dtypes=FLOATS + ("int32",)),
    Reduction("max", lambda lib, x, d, k: lib.max(x), lambda x, a, k: np.max(x), dims="none", dtypes=NUMERIC,
              refuses=_no_identity(RuntimeError)),
    Reduction("min", lambda lib, x, d, k: lib.min(x), lambda x, a, k: np.min(x), dims="none", dtypes=NUMERIC,
              refuses=_no_identity(RuntimeError)),
    Reduction("max_dim", lambda lib, x, d, k: tuple(lib.max(x, d, k)),
              lambda x, a, k: (_ref_reduce(np.max)(x, a, k), _ref_reduce(np.argmax)(x, _np_dim(a), k)),
              dims="single", dtypes=NUMERIC, refuses=_no_identity()),
    Reduction("min_dim", lambda lib, x, d, k: tuple(lib.min(x, d, k)),
              lambda x, a, k: (_ref_reduce(np.min)(x, a, k), _ref_reduce(np.argmin)(x, _np_dim(a), k)),
              dims="single", dtypes=NUMERIC, refuses=_no_identity()),
    Reduction("amax", lambda lib, x, d, k: lib.amax(x, () if d is None else d, k and d is not None), _ref_reduce(np.max),
              dtypes=NUMERIC, refuses=_no_identity(RuntimeError)),
    Reduction("amin", lambda lib, x, d, k: lib.amin(x, () if d is None else d, k and d is not None), _ref_reduce(np.min),
              dtypes=NUMERIC, refuses=_no_identity(RuntimeError)),
    Reduction("argmax", lambda lib, x, d, k: lib.argmax(x, d, k), _np_arg(np.argmax),
              dims="optional", dtypes=NUMERIC, grad=None, refuses=_no_identity()),  # integer output
    Reduction("argmin", lambda lib, x, d, k: lib.argmin(x, d, k), _np_arg(np.argmin),
              dims="optional", dtypes=NUMERIC, grad=None, refuses=_no_identity()),  # integer output
    Reduction("var", lambda lib, x, d, k, c: lib.var(x, d, keepdim=k and d is not None, correction=c),
              lambda x, a, k, c: _ref_reduce(np.var, ddof=c)(x, a, k), params=st.tuples(st.sampled_from([0, 1])),
              cancels=True, max_abs=1e15),  # reported bug: overflows above ~1e19 (test_numerics.py xfail)
    Reduction("std", lambda lib, x, d, k, c: lib.std(x, d, keepdim=k and d is not None, correction=c),
              lambda x, a, k, c: _ref_reduce(np.std, ddof=c)(x, a, k), params=st.tuples(st.sampled_from([0, 1])),
              cancels=True, max_abs=1e15),  # reported bug: overflows above ~1e19 (test_numerics.py xfail)
    # max_abs: norm squares in the input dtype and overflows above ~1.8e19, as PyTorch's does, except that
    # PyTorch returns |x| for one element (test_numerics.py); kept below the overflow
    Reduction("norm", lambda lib, x, d, k, p: lib.norm(x, p, d, k and d is not None),
              lambda x, a, k, p: _np_norm(x, a, k and a is not None, p),
              params=st.tuples(st.sampled_from([2.0, 1.0, 3.0, math.inf])), grad=AWAY0, max_abs=1e12,
              refuses=_norm_refuses),
    # dim is required (PyTorch's logsumexp(x, ()) on a 1-element tensor errors inside torch itself)
    Reduction("logsumexp", lambda lib, x, d, k: lib.logsumexp(x, d, k), _np_logsumexp, dims="given",
              cancels=True),
    Reduction("all", lambda lib, x, d, k: lib.all(x, d, k) if d is not None else lib.all(x),
              _ref_reduce(np.all), dtypes=ALL, grad=None),  # bool output
    Reduction("any", lambda lib, x, d, k: lib.any(x, d, k) if d is not None else lib.any(x),
              _ref_reduce(np.any), dtypes=ALL, grad=None),  # bool output
    Reduction("count_nonzero", lambda lib, x, d, k: lib.count_nonzero(x, d),
              lambda x, a, k: np.count_nonzero(x, axis=a) if x.ndim else np.count_nonzero(x), dtypes=ALL,
              grad=None),  # integer output
    Reduction("cumsum", lambda lib, x, d, k: lib.cumsum(x, d),
              lambda x, a, k: np.cumsum(_sum_dtype(x), axis=_np_dim(a)) if x.ndim else _sum_dtype(x),
              dims="single", dtypes=ALL, cancels=True),
    Reduction("softmax", lambda lib, x, d, k: lib.softmax(x, d), lambda x, a, k: _np_softmax(x, _np_dim(a), k),
              dims="single"),
    Reduction("log_softmax", lambda lib, x, d, k: lib.log_softmax(x, d),
              lambda x, a, k: _np_softmax(x, _np_dim(a), k, log=True), dims="single", cancels=True),
    # scans and sort along one dim (tests/test_scan.py, test_sorting.py have their gradients through ties and zeros)
    Reduction("cumprod", lambda lib, x, d, k: lib.cumprod(x, d), _along(lambda x, a: np.cumprod(_sum_dtype(x), a)),
              dims="single", dtypes=FLOATS + ("int32",)),
    Reduction("cummax", lambda lib, x, d, k: tuple(lib.cummax(x, d)), _along(lambda x, a: _np_running(x, a, True)),
              dims="single", dtypes=NUMERIC, grad=None),  # an index output; the gradient: test_scan.py
    Reduction("cummin", lambda lib, x, d, k: tuple(lib.cummin(x, d)), _along(lambda x, a: _np_running(x, a, False)),
              dims="single", dtypes=NUMERIC, grad=None),  # an index output; the gradient: test_scan.py
    Reduction("logcumsumexp", lambda lib, x, d, k: lib.logcumsumexp(x, d),
              _along(lambda x, a: np.logaddexp.accumulate(x, a)), dims="single"),
    Reduction("sort", lambda lib, x, d, k: tuple(lib.sort(x, dim=d, descending=k, stable=True)),
              lambda x, a, k: _along(lambda y, b: _np_sort(y, b, k))(x, a, k), dims="single", dtypes=NUMERIC,
              grad=None),  # an index output; the gradient: test_sorting.py
]

# Registry ops with no property case here, each with the reason and where it is tested instead.
EXCLUDED = {
    # not elementwise: shapes are the property, tested in tests/test_linalg.py
    "matmul": "test_linalg.py, test_numerics.py (inner dim 0)",
    "linear": "test_linalg.py, nn/test_linear.py",
    # views and shape ops: the fuzzer builds its non-contiguous inputs with them; tests/test_shape.py
    **{op: "test_shape.py (and every strided input here)" for op in (
        "view", "unsqueeze", "squeeze", "unsafe_view", "permute", "transpose", "t", "expand", "alias",
        "cat", "split", "stack", "repeat")},
    # in-place machinery: tests/test_inplace.py and test_misuse.py
    "copy_": "test_inplace.py", "overwrite": "test_inplace.py",
    # indexing: index tensors are the property, not values; tests/test_indexing.py and test_misuse.py
    **{op: "test_indexing.py, test_misuse.py" for op in (
        "basic_index", "index", "index_put", "index_put_", "index_select", "gather", "scatter", "scatter_add",
        "masked_fill", "masked_select", "nonzero")},
    # index functions that write: tests/test_index_ops.py (values, gradients and errors against PyTorch)
    **{op: "test_index_ops.py" for op in ("take", "masked_scatter", "scatter_reduce", "scatter_legacy_reduce")},
    # losses and embedding: class targets, tested in tests/nn and test_numerics.py at the edges
    **{op: "nn/test_loss*.py, test_numerics.py" for op in (
        "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits")},
    "embedding": "nn/test_sparse.py",
    # selections and counts from sorted rows: ties, NaN and data-dependent sizes are the property
    **{op: "test_sorting.py" for op in ("topk", "kthvalue", "median", "median_dim", "nanmedian", "nanmedian_dim",
                                        "mode")},
    **{op: "test_unique.py" for op in ("unique", "unique_dim", "unique_consecutive", "unique_dim_consecutive")},
    **{op: "test_search.py" for op in ("searchsorted", "histc", "bincount")},
    "group_norm": "nn/test_group_norm.py (per-group statistics: not elementwise)",
    "layer_norm": "nn/test_normalization.py (per-row statistics: not elementwise)",
    "rms_norm": "nn/test_rms_norm.py (per-row statistics: not elementwise)",
    "scaled_dot_product_attention": "nn/test_attention.py, triton_kernels/test_attention.py (rows of a softmax over "
                                    "keys, masks and dropout: not elementwise)",
    "linear_cross_entropy": "nn/test_linear_cross_entropy.py (class targets, a matmul: not elementwise)",
    "rnn_step": "test_rnn_step.py, nn/test_rnn.py (a recurrent step: a matmul and gates, not elementwise)",
    # elements moved, not computed: the property is where each lands; test_rearrange.py and test_matrix.py
    **{op: "test_rearrange.py" for op in ("flip", "roll", "rot90")},
    **{op: "test_matrix.py (matrix structure: shapes and offsets are the property)" for op in (
        "tril", "triu", "diagonal", "diagonal_copy", "diag_embed", "trace", "block_diag")},
    "linalg_cross": "test_products.py (3-vectors along one dim), triton_kernels/test_cross.py",
    **{op: "test_distance.py (row sets, every p), triton_kernels/test_cdist.py" for op in ("cdist", "euclidean_dist")},
    # test_var_std_mean.py. Not fuzzed: with infinite inputs PyTorch's mean output comes from its Welford pass
    # (mean of [inf, inf] is nan there) where ours is torch.mean's (inf); finite inputs agree
    **{op: "test_var_std_mean.py" for op in ("var_mean", "std_mean")},
    # convolutional networks: windows and channels are the property, not values; tests/nn against PyTorch (nan and
    # -inf windows, empty and size-1 dims, every dtype) and tests/triton_kernels for the kernels
    "convolution": "nn/test_conv.py", "max_pool2d": "nn/test_pooling.py",
    "axis_resample": "nn/test_upsampling.py, nn/test_pooling.py, nn/test_padding.py",
    "constant_pad_nd": "nn/test_padding.py", "batch_norm": "nn/test_batchnorm.py",
}


def covered_ops():
    return {c.op for c in UNARY + BINARY + REDUCTIONS} | set(TERNARY)
