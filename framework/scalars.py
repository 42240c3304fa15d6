"""Python numbers into a dtype with PyTorch's overflow checks: no value silently wraps where PyTorch refuses it.

PyTorch checks a number when it becomes one element of a tensor's dtype (c10's `checked_convert`): creating a
tensor from Python data (`tensor([300], dtype=int8)`), and every op that takes a fill value (full, fill_,
masked_fill, index_fill, scatter's value, setitem, clamp's bounds, where's scalar, pow's exponent). It does not
check a scalar operand of arithmetic (`int8_tensor + 300` wraps to the dtype), casts of tensors (`.to(int8)`
wraps), or numpy arrays handed to `tensor` (numpy's cast).

The rule (c10::overflows): an integral dtype takes integers within its range, except that an unsigned one also
takes negatives down to -max (two's complement: `tensor([-1], dtype=uint8)` is 255); a float becomes an integer
when it lies within the range (then truncated toward zero), never NaN or an infinity. A floating dtype takes any
infinity or NaN, and a finite number no larger in magnitude than its largest value. bool and
float64 take everything. A Python int outside int64 cannot be unpacked at all where PyTorch reads a `long long`.
"""
import math

import numpy as np

from . import dtypes

# How PyTorch's errors name a type: the C++ type of the Scalar conversion (fill values), or the dtype (creation)
CPP_NAMES = {"uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int", "int64": "int64_t",
             "float16": "c10::Half", "bfloat16": "c10::BFloat16", "float32": "float", "float64": "double",
             "bool": "bool"}
_INT_RANGES = {name: (int(np.iinfo(name).min), int(np.iinfo(name).max))
               for name in ("uint8", "int8", "int16", "int32", "int64")}
_FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38, "float32": 3.4028234663852886e38}
INT64_MIN, INT64_MAX, UINT64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1


def overflow_error(type_name):
    return RuntimeError(f"value cannot be converted to type {type_name} without overflow")


def unpack_long_error():
    return ValueError("Overflow when unpacking long long")


def overflows(value, dtype):
    """Whether c10 refuses the Python number `value` (int, float or bool) as an element of `dtype`."""
    if isinstance(value, bool) or dtype is dtypes.bool or dtype is dtypes.float64:
        return False
    if dtype.is_floating_point:
        return (isinstance(value, int) or math.isfinite(value)) and abs(value) > _FLOAT_MAX[dtype.name]
    low, high = _INT_RANGES[dtype.name]
    if isinstance(value, int):
        return value > high or (value < -high if low == 0 else value < low)
    return not math.isfinite(value) or value < low or value > high


def _number(value):
    """`value` (a Python or numpy number, or a one-element tensor) as a Python bool, int or float."""
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value.item()  # a framework Tensor (its one element)


def checked(value, dtype, type_name=None, low_precision=True):
    """`value` as the Python number `dtype` holds (2.7 -> 2 for an integer dtype, -1 -> 255 for uint8), or PyTorch's
    RuntimeError naming `type_name` (default: the C++ type, `int8_t`) when it does not fit. `low_precision=False`
    leaves float16/bfloat16 unchecked (PyTorch's setitem and where cast a float there, to inf)."""
    value = _number(value)
    if not low_precision and dtype in (dtypes.float16, dtypes.bfloat16) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > UINT64_MAX:
        raise OverflowError("int too big to convert")  # PyTorch's Scalar holds at most a uint64
    if isinstance(value, int) and not isinstance(value, bool) and value > INT64_MAX and not dtype.is_floating_point \
            and dtype is not dtypes.bool:
        raise overflow_error(type_name or CPP_NAMES[dtype.name])  # a uint64 Scalar fits no signed 64-bit integer
    if overflows(value, dtype):
        raise overflow_error(type_name or CPP_NAMES[dtype.name])
    if dtype is dtypes.bool:
        return bool(value)
    if dtype.is_floating_point:
        return float(value)
    value = int(value)  # floats truncate toward zero
    return value + 256 if dtype is dtypes.uint8 and value < 0 else value


def check_array(array, dtype):
    """PyTorch's checks on Python data becoming a tensor of `dtype` (`tensor(data, dtype=...)`), given numpy's
    array of that data (int64, uint64, float64, bool or object): only integral dtypes are checked, each element,
    with the error naming the dtype (`int8`)."""
    if dtype.is_floating_point or dtype is dtypes.bool or array.dtype == np.bool_:
        return
    if array.dtype.kind == "u" and array.size and array.max() > INT64_MAX:
        raise unpack_long_error()
    low, high = _INT_RANGES[dtype.name]
    if array.dtype.kind in "iu":
        if not array.size or (low <= array.min() and array.max() <= high):
            return
        with np.errstate(over="ignore"):
            bad = (array > high) | ((array < -high) if low == 0 else (array < low))
    else:
        values = array.astype(np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (values < low) | (values > high)
    if bad.any():
        raise overflow_error(dtype.name)


def checked_fill(value, dtype, numel, device_type):
    """A fill value (full, fill_) for a tensor of `numel` elements: `checked`, except that PyTorch's CPU fill of a
    single element (its scalar_fill path) casts a float16/bfloat16 value unchecked (`full((1,), 1e5,
    dtype=float16)` is inf, `full((2,), 1e5, dtype=float16)` raises)."""
    if numel == 1 and device_type == "cpu":
        return checked(value, dtype, low_precision=False)
    return checked(value, dtype)
