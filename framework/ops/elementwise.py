"""Elementwise ops: type promotion and broadcasting checks, then the registered kernels."""
import builtins
import functools
import numbers

import numpy as np

from .. import dtypes, scalars
from ..autograd.composite import composite
from ..autograd.function import run
from ..autograd.grad_mode import is_grad_enabled
from ..graphs import recording
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


def _common_device(*operands):
    """The device an elementwise op runs on: that of its tensors, where a 0-dim CPU tensor joins a tensor on any
    other device (PyTorch's CPU scalars); None when every tensor is a 0-dim CPU one, or there is none."""
    for x in operands:
        if isinstance(x, Tensor) and (x._device.type != "cpu" or x._data.ndim != 0):
            return x._device
    return None


def _as_operand(x, dtype, device=None):
    """`x` cast to `dtype`: Tensors through the differentiable cast, scalars as Python numbers. A 0-dim CPU tensor
    with an operand on another `device` is read on the host as a Python number (a numpy read: the device is not
    waited for), or, when its gradient is wanted, copied there by the differentiable `to`."""
    if isinstance(x, Tensor):
        if device is not None and x._device is not device and x._data.ndim == 0 and x._device.type == "cpu":
            if x._requires_grad and is_grad_enabled():
                return x.to(device, dtype)
            if recording.ACTIVE is not None:  # the number read now would be a constant of every replay
                recording.refuse_host_read("a 0-dim CPU tensor used as a number with a tensor on another device")
            x = x._data.astype(dtype.np).item() if dtype is not dtypes.bfloat16 else builtins.float(x._data)
            return _as_operand(x, dtype)
        return x if x._dtype is dtype else x.to(dtype)
    if isinstance(x, builtins.bool) or dtype is dtypes.bool:
        return builtins.bool(x) if dtype is dtypes.bool else builtins.int(x)
    if not isinstance(x, numbers.Number):
        raise TypeError(f"unsupported operand type: {type(x).__name__}")
    if dtype.is_floating_point:
        return builtins.float(x)
    value = builtins.int(x)
    if not -(1 << 63) <= value < (1 << 64):
        raise OverflowError("int too big to convert")  # PyTorch's Scalar holds at most a uint64
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
    device = _common_device(a, b)
    return run(op, (_as_operand(a, dtype, device), _as_operand(b, dtype, device)), (), node_name)


def _scalar_first(op, scalar, tensor, node_name):
    """`scalar - tensor`, `scalar ** tensor`: PyTorch names these nodes after the reversed op."""
    if op == "sub" and (_is_bool(scalar) or _is_bool(tensor)):
        return sub(scalar, tensor)
    dtype = dtypes.result_type(scalar, tensor)
    device = _common_device(scalar, tensor)
    return run(op, (_as_operand(scalar, dtype, device), _as_operand(tensor, dtype, device)), (), node_name)


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
    if dtype.is_floating_point:
        return trunc(div(input, other))
    # integers: exact (a float quotient rounds large int64s), and a zero divisor raises as floor_divide does
    quotient = floor_divide(input, other)
    inexact = ne(remainder(input, other), 0)
    if dtype is dtypes.uint8 or dtype is dtypes.bool:
        return quotient
    negative = logical_xor(lt(_tensor_of(input, quotient), 0), lt(_tensor_of(other, quotient), 0))
    return add(quotient, logical_and(inexact, negative).to(dtype))


def _tensor_of(x, like):
    """A Python number as a 0-dim tensor on `like`'s device (logical_xor takes tensors only)."""
    if isinstance(x, Tensor):
        return x
    from ..creation import tensor
    return tensor(x, device=like._device)


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
        if dtype not in (dtypes.float32, dtypes.float64):  # PyTorch reads the exponent as a dtype element there
            scalars.checked(exponent, dtype)
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
erf, erfc, erfinv = (_float_unary(n) for n in ("erf", "erfc", "erfinv"))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """nan -> `nan`, +inf -> `posinf`, -inf -> `neginf` (by default the dtype's largest and lowest finite
    values); integer and bool tensors come back as copies."""
    if not input._dtype.is_floating_point:
        return input.clone()
    info = np.finfo(input._dtype.np)
    posinf = builtins.float(info.max) if posinf is None else builtins.float(posinf)
    neginf = builtins.float(info.min) if neginf is None else builtins.float(neginf)
    return run("nan_to_num", (input,), (builtins.float(nan), posinf, neginf))


def lerp(input, end, weight):
    """input + weight * (end - input); input, end and a dimensioned weight share one floating dtype (a
    0-dim weight of another dtype is converted, as PyTorch's scalar weights are)."""
    for name, x in (("input", input), ("end", end)):
        if not isinstance(x, Tensor):
            raise TypeError(f"lerp(): argument '{name}' must be Tensor, not {type(x).__name__}")
    if end._dtype is not input._dtype:
        raise RuntimeError(f"expected dtype {input._dtype.cpp_name} for `end` but got dtype {end._dtype.cpp_name}")
    if isinstance(weight, Tensor) and weight.ndim and weight._dtype is not input._dtype:
        raise RuntimeError(f"expected dtype {input._dtype.cpp_name} for `weight` but got dtype "
                           f"{weight._dtype.cpp_name}")
    if not input._dtype.is_floating_point:
        kind = "tensor" if isinstance(weight, Tensor) else "scalar"
        raise NotImplementedError(f"\"lerp_kernel_{kind}\" not implemented for '{input._dtype.scalar_name}'")
    shape = broadcast_shapes(input._data.shape, end._data.shape)
    if isinstance(weight, Tensor):
        broadcast_shapes(shape, weight._data.shape)
        return run("lerp_tensor", (input, end, weight if weight._dtype is input._dtype else weight.to(input._dtype)))
    if not isinstance(weight, numbers.Number):
        raise TypeError(f"lerp(): argument 'weight' must be Number or Tensor, not {type(weight).__name__}")
    return run("lerp", (input, end), (builtins.float(weight),))


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
    return _clamp(input, min, max, "clamp")


def clip(input, min=None, max=None):
    return _clamp(input, min, max, "clip")


def _clamp(input, min, max, name):
    """clamp (clip, the same op under the name its errors show): tensor bounds, or number bounds."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None".replace("torch", "framework"))
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_tensor(input, min, max, "ClampBackward0", name)
    return _clamp_scalar(input, min, max, "ClampBackward1")


def _clamp_scalar(input, min, max, node_name):
    dtype = dtypes.result_type(input, *(v for v in (min, max) if v is not None))
    low = None if min is None else scalars.checked(min, dtype)  # bounds are elements of the dtype: checked
    high = None if max is None else scalars.checked(max, dtype)
    return run("clamp", (_as_operand(input, dtype),), (low, high), node_name)


def _clamp_tensor(input, min, max, node_name, name="clamp"):
    """clamp with tensor bounds: min(max(input, min), max), nan from any operand; where min > max the
    result is max. Each of input, min and max gets the gradient where it is the result (PyTorch's rules)."""
    if any(bound is not None and not isinstance(bound, Tensor) for bound in (min, max)):
        got = ", ".join(type(a).__name__ if not isinstance(a, Tensor) else "Tensor" for a in (input, min, max))
        raise TypeError(f"{name}() received an invalid combination of arguments - got ({got}), but expected one of:\n"
                        " * (Tensor input, Tensor min = None, Tensor max = None, *, Tensor out = None)\n"
                        " * (Tensor input, Number min = None, Number max = None, *, Tensor out = None)\n")
    bounds = [b for b in (min, max) if b is not None]
    for bound in bounds:
        broadcast_shapes(input._data.shape, bound._data.shape)
    dtype = dtypes.result_type(input, *bounds)
    if dtype is dtypes.bool and len(bounds) == 2:
        raise NotImplementedError("\"clamp_cpu\" not implemented for 'Bool'")
    device = _common_device(input, *bounds)
    # a 0-dim CPU operand beside tensors on another device (PyTorch's CPU scalars) is copied there: the kernel
    # takes three tensors
    operands = tuple(None if x is None else _as_operand(
        x.to(device) if device is not None and x._device is not device else x, dtype) for x in (input, min, max))
    return run("clamp_tensor", operands, (), node_name)


def clamp_min(input, min):
    if isinstance(min, Tensor):
        return _clamp_tensor(input, min, None, "ClampMinBackward1")
    return _clamp_scalar(input, min, None, "ClampMinBackward0")


def clamp_max(input, max):
    if isinstance(max, Tensor):
        return _clamp_tensor(input, None, max, "ClampMaxBackward1")
    return _clamp_scalar(input, None, max, "ClampMaxBackward0")


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
    input, other = (scalars.checked(x, dtype, low_precision=False) if isinstance(x, numbers.Number) else x
                    for x in (input, other))
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):  # two scalars: the kernels need an array
        from ..creation import full
        input = full((), input, dtype=dtype, device=condition._device)
    device = _common_device(condition, input, other)
    if device is not None and condition._device is not device and condition._data.ndim == 0:
        condition = condition.to(device)  # a 0-dim CPU mask: copied to the device (no wait for it)
    return run("where", (condition, _as_operand(input, dtype, device), _as_operand(other, dtype, device)))


def equal(input, other):
    """True when both have the same shape and elements (PyTorch's torch.equal)."""
    return input.shape == other.shape and builtins.bool(eq(input, other).all())


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + |rtol * other|, elementwise, on tensors of one dtype (PyTorch's rules:
    equal values are close, infinities only to themselves, nan only with `equal_nan`)."""
    if input._dtype is not other._dtype:
        raise RuntimeError(f"{input._dtype.scalar_name} did not match {other._dtype.scalar_name}")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value < 0:
            raise RuntimeError(f"{name} must be greater than or equal to zero, but got {value:g}")
    close = eq(input, other)
    if equal_nan and input._dtype.is_floating_point:
        close = close | (isnan(input) & isnan(other))
    if rtol == 0 and atol == 0:
        return close
    if not input._dtype.is_floating_point:  # PyTorch compares integers (and bools) in the default float dtype
        input, other = input.to(dtypes.get_default_dtype()), other.to(dtypes.get_default_dtype())
    actual = abs(sub(input, other))
    return close | (isfinite(actual) & le(actual, add(abs(mul(other, rtol)), atol)))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return builtins.bool(isclose(input, other, rtol, atol, equal_nan).all())


TENSOR_METHODS = (
    "add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "pow", "square",
    "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
    "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "exp", "log", "log1p", "expm1", "sqrt",
    "rsqrt", "sin", "cos", "tanh", "sigmoid", "reciprocal", "floor", "ceil", "round", "trunc", "fix", "neg", "negative", "abs", "sign", "relu",
    "isnan", "isinf", "isfinite", "clamp", "clip", "clamp_min", "clamp_max", "equal", "isclose", "allclose",
    "erf", "erfc", "erfinv", "nan_to_num", "lerp",
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
