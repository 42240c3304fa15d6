"""Elementwise ops: type promotion and broadcasting checks, then the registered kernels."""
import builtins
import functools
import numbers

import numpy as np

from .. import dtypes
from ..autograd.composite import composite
from ..autograd.function import run
from ..tensor import Tensor

_INT_LIMITS = {name: (int(np.iinfo(name).min), int(np.iinfo(name).max))
               for name in ("uint8", "int8", "int16", "int32", "int64")}


@functools.lru_cache(maxsize=4096)
def broadcast_shapes(shape_a, shape_b):
    """The broadcast shape of two shapes, or PyTorch's error naming the sizes that clash."""
    if shape_a == shape_b:
        return shape_a
    ndim = max(len(shape_a), len(shape_b))
    result = []
    for i in range(-ndim, 0):
        a = shape_a[i] if -i <= len(shape_a) else 1
        b = shape_b[i] if -i <= len(shape_b) else 1
        if a != b and a != 1 and b != 1:
            raise RuntimeError(f"The size of tensor a ({a}) must match the size of tensor b ({b}) at "
                               f"non-singleton dimension {i + ndim}")
        result.append(a if b == 1 else b)
    return tuple(result)


def _as_operand(x, dtype):
    """`x` cast to `dtype`: Tensors through the differentiable cast, scalars as Python numbers."""
    if isinstance(x, Tensor):
        return x if x._dtype is dtype else x.to(dtype)
    if isinstance(x, builtins.bool) or dtype is dtypes.bool:
        return builtins.bool(x) if dtype is dtypes.bool else builtins.int(x)
    if not isinstance(x, numbers.Number):
        raise TypeError(f"unsupported operand type: {type(x).__name__}")
    if dtype.is_floating_point:
        return builtins.float(x)
    value = builtins.int(x)
    limits = _INT_LIMITS[dtype.name]
    if not limits[0] <= value <= limits[1]:  # PyTorch wraps out-of-range integer scalars to the dtype
        return np.array(value).astype(dtype.np)[()]
    return value


def _binary(op, a, b, compute_dtype=None, node_name=None):
    """Run binary `op` on tensors or scalars after PyTorch's type promotion."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a._data.shape != b._data.shape:
            broadcast_shapes(a._data.shape, b._data.shape)
        dtype = a._dtype if a._dtype is b._dtype else dtypes.result_type(a, b)
    else:
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            raise TypeError(f"{op}(): expected at least one Tensor argument")
        dtype = dtypes.result_type(a, b)
    if compute_dtype is not None:
        dtype = compute_dtype(dtype)
    return run(op, (_as_operand(a, dtype), _as_operand(b, dtype)), (), node_name)


def _scalar_first(op, scalar, tensor, node_name):
    """`scalar - tensor`, `scalar ** tensor`: PyTorch names these nodes after the reversed op."""
    if op == "sub" and (_is_bool(scalar) or _is_bool(tensor)):
        return sub(scalar, tensor)
    dtype = dtypes.result_type(scalar, tensor)
    return run(op, (_as_operand(scalar, dtype), _as_operand(tensor, dtype)), (), node_name)


def _to_float(dtype):
    return dtype if dtype.is_floating_point else dtypes.get_default_dtype()


def add(input, other, *, alpha=1):
    if alpha != 1:
        return _add_scaled(input, other, alpha)
    return _binary("add", input, other)


@composite("AddBackward0", inputs=("input", "other"))  # PyTorch scales `other` inside its add node
def _add_scaled(input, other, alpha):
    return _binary("add", input, mul(other, alpha))


@composite("SubBackward0", inputs=("input", "other"))
def _sub_scaled(input, other, alpha):
    return _binary("sub", input, mul(other, alpha))


def _is_bool(x):
    return x._dtype is dtypes.bool if isinstance(x, Tensor) else isinstance(x, (builtins.bool, np.bool_))


def sub(input, other, *, alpha=1):
    if _is_bool(input) or _is_bool(other):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    if alpha != 1:
        return _sub_scaled(input, other, alpha)
    return _binary("sub", input, other)


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def mul(input, other):
    return _binary("mul", input, other)


def div(input, other, *, rounding_mode=None):
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        return _div_trunc(input, other)
    if rounding_mode is not None:
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")
    return _binary("div", input, other, _to_float)


@composite("DivBackward2", inputs=("input", "other"))
def _div_trunc(input, other):
    dtype = dtypes.result_type(input, other)
    result = trunc(div(input, other))
    return result if dtype.is_floating_point else result.to(dtype)


def true_divide(input, other):
    return div(input, other)


def floor_divide(input, other):
    return _binary("floor_divide", input, other)


def remainder(input, other):
    # PyTorch's overloads: remainder.Scalar records RemainderBackward0, remainder.Tensor RemainderBackward1
    return _binary("remainder", input, other, node_name="RemainderBackward1" if isinstance(other, Tensor) else None)


def pow(input, exponent):
    if _integer_negative_power(input, exponent):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        dtype = dtypes.result_type(input, exponent)
        base = _as_operand(input, dtype)
        if exponent == 2:
            return run("square", (base,))
        return run("pow_scalar", (base,), (_as_operand(exponent, dtype),))
    return _binary("pow", input, exponent)


def _integer_negative_power(base, exponent):
    base_dtype = base._dtype if isinstance(base, Tensor) else dtypes.scalar_dtype(base)
    if base_dtype.is_floating_point:
        return False
    if isinstance(exponent, Tensor):
        return not exponent._dtype.is_floating_point and builtins.bool((exponent._data < 0).any()) \
            if exponent._device.type == "cpu" else False
    return isinstance(exponent, numbers.Integral) and exponent < 0


def square(input):
    return pow(input, 2)


def maximum(input, other):
    _require_tensors("maximum", input, other)
    return _binary("maximum", input, other)


def minimum(input, other):
    _require_tensors("minimum", input, other)
    return _binary("minimum", input, other)


def _require_tensors(name, *args):
    for arg in args:
        if not isinstance(arg, Tensor):
            raise TypeError(f"{name}(): argument 'other' (position 2) must be Tensor, not {type(arg).__name__}")


def _comparison(op):
    def compare(input, other):
        return _binary(op, input, other)
    compare.__name__ = op
    return compare


eq, ne, lt, le, gt, ge = (_comparison(name) for name in ("eq", "ne", "lt", "le", "gt", "ge"))
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def _logical(op):
    def logical(input, other):
        _require_tensors(op, input, other)  # PyTorch takes no Python scalar here
        return _binary(op, input, other)
    logical.__name__ = op
    return logical


logical_and, logical_or, logical_xor = (_logical(n) for n in ("logical_and", "logical_or", "logical_xor"))


def _bitwise(op):
    def bitwise(input, other):
        for x in (input, other):
            if isinstance(x, Tensor) and x._dtype.is_floating_point:
                raise NotImplementedError(f"\"{op}_cpu\" not implemented for '{x._dtype.scalar_name}'")
        return _binary(op, input, other)
    bitwise.__name__ = op
    return bitwise


bitwise_and, bitwise_or, bitwise_xor = (_bitwise(n) for n in ("bitwise_and", "bitwise_or", "bitwise_xor"))


def logical_not(input):
    return run("logical_not", (input,))


def bitwise_not(input):
    if input._dtype.is_floating_point:
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return run("bitwise_not", (input,))


def _float_unary(op):
    """A math function: integer inputs compute in the default float dtype, as in PyTorch."""
    def unary(input):
        if not input._dtype.is_floating_point:
            input = input.to(dtypes.get_default_dtype())
        return run(op, (input,))
    unary.__name__ = op
    return unary


exp, log, log1p, expm1, sqrt, rsqrt, sin, cos, tanh, sigmoid, reciprocal = (
    _float_unary(n) for n in ("exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh",
                              "sigmoid", "reciprocal"))


def _rounding(op):
    """floor/ceil/round/trunc: identity on integers, zero gradient on floats."""
    def rounding(input):
        return input.clone() if not input._dtype.is_floating_point else run(op, (input,))
    rounding.__name__ = op
    return rounding


floor, ceil, round, trunc = (_rounding(n) for n in ("floor", "ceil", "round", "trunc"))
fix = trunc


def neg(input):
    if input._dtype is dtypes.bool:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return run("neg", (input,))


negative = neg


def abs(input):
    return run("abs", (input,))


def sign(input):
    return run("sign", (input,))


def relu(input):
    return run("relu", (input,))


def isnan(input):
    return run("isnan", (input,))


def isinf(input):
    return run("isinf", (input,))


def isfinite(input):
    return run("isfinite", (input,))


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None".replace("torch", "framework"))
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_by_tensors(input, min, max)
    dtype = dtypes.result_type(input, *(v for v in (min, max) if v is not None))
    low = None if min is None else _as_operand(min, dtype)
    high = None if max is None else _as_operand(max, dtype)
    return run("clamp", (_as_operand(input, dtype),), (low, high))


clip = clamp


@composite("ClampBackward0", inputs=("input", "min", "max"))
def _clamp_by_tensors(input, min, max):
    out = input
    if min is not None:
        out = maximum(out, min if isinstance(min, Tensor) else min)
    if max is not None:
        out = minimum(out, max if isinstance(max, Tensor) else max)
    return out


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def where(condition, input=None, other=None):
    if input is None and other is None:
        from .indexing import nonzero
        return nonzero(condition, as_tuple=True)
    if not isinstance(condition, Tensor) or condition._dtype is not dtypes.bool:
        got = condition._dtype if isinstance(condition, Tensor) else type(condition).__name__
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {got}"
                           .replace("dtype framework.", "dtype "))
    shape = condition._data.shape
    for x in (input, other):
        if isinstance(x, Tensor):
            shape = broadcast_shapes(shape, x._data.shape)
    dtype = dtypes.result_type(input, other)
    return run("where", (condition, _as_operand(input, dtype), _as_operand(other, dtype)))


def equal(input, other):
    """True when both have the same shape and elements (PyTorch's torch.equal)."""
    return input.shape == other.shape and builtins.bool(eq(input, other).all())


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other|, elementwise (infinities close only to themselves)."""
    close = le(abs(sub(input, other)), add(mul(abs(other), rtol), atol)) | eq(input, other)
    if equal_nan:
        close = close | (isnan(input) & isnan(other))
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return builtins.bool(isclose(input, other, rtol, atol, equal_nan).all())


TENSOR_METHODS = (
    "add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "pow", "square",
    "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
    "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "exp", "log", "log1p", "expm1", "sqrt",
    "rsqrt", "sin", "cos", "tanh", "sigmoid", "reciprocal", "floor", "ceil", "round", "trunc", "fix", "neg", "negative", "abs", "sign", "relu",
    "isnan", "isinf", "isfinite", "clamp", "clip", "clamp_min", "clamp_max", "equal", "isclose", "allclose",
)

__all__ = list(TENSOR_METHODS) + ["broadcast_shapes", "rsub", "fix", "negative", "true_divide", "where"]

OPERATORS = {
    # scalar + tensor and scalar * tensor run as tensor + scalar, as in PyTorch (the node lists the tensor first)
    "__add__": add, "__radd__": lambda self, other: add(self, other),
    "__sub__": sub, "__rsub__": lambda self, other: _scalar_first("sub", other, self, "RsubBackward1"),
    "__mul__": mul, "__rmul__": lambda self, other: mul(self, other),
    # PyTorch's scalar / tensor is reciprocal(tensor) * scalar (its rounding and its MulBackward0 node)
    "__truediv__": div, "__rtruediv__": lambda self, other: mul(reciprocal(self), other),
    "__floordiv__": floor_divide, "__rfloordiv__": lambda self, other: floor_divide(other, self),
    "__mod__": remainder, "__rmod__": lambda self, other: remainder(other, self),
    "__pow__": pow, "__rpow__": lambda self, other: _scalar_first("pow", other, self, "PowBackward2"),
    "__neg__": neg, "__pos__": lambda self: self, "__abs__": abs,
    "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__and__": bitwise_and, "__rand__": lambda self, other: bitwise_and(other, self),
    "__or__": bitwise_or, "__ror__": lambda self, other: bitwise_or(other, self),
    "__xor__": bitwise_xor, "__rxor__": lambda self, other: bitwise_xor(other, self),
    "__invert__": bitwise_not,
    # as a method, `x.where(condition, y)` takes x as the values chosen where condition holds
    "where": lambda self, condition, other: where(condition, self, other),
}
