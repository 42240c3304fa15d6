"""Tensor factories: tensor, zeros, ones, arange, ..., and the random ones."""
import builtins
import functools
import math
import numbers

import numpy as np

from . import dtypes
from . import random as _random
from . import scalars
from .backends.device_backend import backend_for
from .device import CPU, default_device, device as _device
from .graphs import recording
from .ops.inplace import check_out, store_out
from .tensor import Tensor


def _target(device):
    """`device`, or when None the default device (set_default_device, `with framework.device(...)`), or None."""
    return device if device is not None else default_device()


def _device_of(device):
    """The device a factory places its result on: `device`, else the default device, else the CPU."""
    device = _target(device)
    return CPU if device is None else _device(device)


def _finish(data, dtype, device, requires_grad):
    """Wrap a host numpy array, move it to `device` (None: the default device), set requires_grad."""
    device = _target(device)
    if dtype is not None and data.dtype != dtype.np:
        with np.errstate(invalid="ignore", over="ignore"):  # numpy arrays cast as PyTorch's do: unchecked
            data = data.astype(dtype.np)
    out = Tensor._from_raw(data, CPU)
    if device is not None:
        target = _device(device)
        if target.type != "cpu":
            out = out.to(target)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _supports_out(fn):
    """A factory's `out=`: the result takes out's dtype (a different `dtype=` is PyTorch's error) and device, and
    is written into `out` (resized when the shapes differ), which is returned."""
    @functools.wraps(fn)
    def factory(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        check_out(fn.__name__, out)
        dtype = kwargs.get("dtype")
        if dtype is not None and dtype is not out._dtype:
            raise RuntimeError(f"dtype {dtype.scalar_name} does not match dtype of out parameter "
                               f"({out._dtype.scalar_name})")
        kwargs["dtype"], kwargs["device"] = out._dtype, out._device
        return store_out(out, fn(*args, **kwargs))
    return factory


def _size_args(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    for s in size:
        if not isinstance(s, (builtins.int, np.integer)) or isinstance(s, builtins.bool):
            raise TypeError(f"zeros(): argument 'size' must be tuple of ints, but found element of type "
                            f"{type(s).__name__} at pos 0")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return tuple(builtins.int(s) for s in size)


# ---- from data ----------------------------------------------------------

def _check_nested(data, dim=0):
    """Raise PyTorch's errors for ragged or non-numeric nested sequences."""
    if isinstance(data, (list, tuple)):
        lengths = None
        for position, item in enumerate(data):
            if isinstance(item, (list, tuple)):
                if lengths is None and position > 0:  # a sequence after scalars
                    raise TypeError(f"'{type(item).__name__}' object cannot be interpreted as an integer")
                if lengths is None:
                    lengths = len(item)
                elif len(item) != lengths:
                    raise ValueError(f"expected sequence of length {lengths} at dim {dim + 1} (got {len(item)})")
            elif lengths is not None:
                raise TypeError("not a sequence")
        for item in data:
            _check_nested(item, dim + 1)
    elif not isinstance(data, (numbers.Number, Tensor, np.ndarray, np.generic)):
        raise _cannot_infer(data)


def _infer_dtype(array):
    kind = array.dtype.kind
    if kind == "b":
        return dtypes.bool
    if kind in "iu":
        return dtypes.int64
    if kind == "f":
        return dtypes.get_default_dtype()
    raise TypeError(f"new(): invalid data type '{array.dtype}'")


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    if isinstance(data, Tensor):
        source = data.detach()._host()
        array = np.array(source, copy=True)
        dtype = dtype or data._dtype
        return _finish(array, dtype, _target(device) or data._device, requires_grad)
    if isinstance(data, np.ndarray):
        array = np.array(data, copy=True)
        if dtype is None:
            dtype = dtypes.from_numpy_dtype(array.dtype)
        return _finish(array, dtype, device, requires_grad)
    if _exports_dlpack(data):  # a PyTorch, JAX or CuPy tensor: read through DLPack, then copied like a tensor
        return tensor(_from_dlpack(data), dtype=dtype, device=device, requires_grad=requires_grad)
    if isinstance(data, (list, tuple)):
        _check_nested(data)
        if _contains_tensor(data):
            data = _to_host_tree(data)
    elif not isinstance(data, (numbers.Number, np.generic)):
        raise _cannot_infer(data)
    try:
        array = np.array(data)
    except (ValueError, OverflowError) as error:
        raise RuntimeError(f"Could not infer dtype of {type(data).__name__}: {error}") from None
    if array.size and (array.dtype == object or (array.dtype.kind == "u" and array.max() > scalars.INT64_MAX) or (
            array.dtype == np.float64 and np.abs(array).max() >= 2.0 ** 63)):
        array = _beyond_int64(data, array, dtype)
    if dtype is None:
        dtype = dtypes.from_numpy_dtype(array.dtype) if isinstance(data, np.generic) else _infer_dtype(array)
    scalars.check_array(array, dtype)
    return _finish(array, dtype, device, requires_grad)


def _beyond_int64(data, array, dtype):
    """numpy's array of Python data holding integers outside int64 (uint64, object, or float64 when signs mix).
    PyTorch reads such data as doubles when it holds a float or the dtype is floating (or bool); else it cannot
    unpack the integers: ValueError."""
    values = list(_flat(data))
    floating = any(isinstance(v, (builtins.float, np.floating)) for v in values)
    if not floating and not any(isinstance(v, (builtins.int, np.integer)) and not isinstance(v, builtins.bool)
                                for v in values):
        raise TypeError(f"Could not infer dtype of {type(values[0]).__name__}")
    if floating or (dtype is not None and (dtype.is_floating_point or dtype is dtypes.bool)):
        return array if array.dtype.kind == "f" else np.array(data, dtype=np.float64)
    if array.dtype.kind == "f" and not (np.abs(array) >= 2.0 ** 63).any():
        return array
    raise scalars.unpack_long_error()


def _cannot_infer(data):
    if isinstance(data, str):
        return TypeError(f"new(): invalid data type '{type(data).__name__}'")
    return RuntimeError(f"Could not infer dtype of {type(data).__name__}")


def _flat(data):
    if isinstance(data, (list, tuple)):
        for item in data:
            yield from _flat(item)
    else:
        yield data


def _contains_tensor(data):
    return any(isinstance(v, Tensor) for v in _flat(data))


def _to_host_tree(data):
    """Tensors in a nested list as host arrays of their values (detached, as PyTorch reads them; bfloat16 as
    float32, whose values numpy's array() then infers like Python floats)."""
    if isinstance(data, (list, tuple)):
        return [_to_host_tree(v) for v in data]
    if isinstance(data, Tensor):
        return (data.detach().float() if data._dtype is dtypes.bfloat16 else data.detach())._host()
    return data


def _exports_dlpack(data):
    return hasattr(data, "__dlpack__") and not isinstance(data, (Tensor, np.ndarray, np.generic))


def _from_dlpack(data):
    from .utils.dlpack import from_dlpack
    return from_dlpack(data)


def as_tensor(data, dtype=None, device=None):
    if _exports_dlpack(data):  # shares the memory, as PyTorch's as_tensor shares a NumPy array's
        data = _from_dlpack(data)
    device = _target(device)
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (dtype or device) else data
    if isinstance(data, np.ndarray) and (dtype is None or dtypes.from_numpy_dtype(data.dtype) is dtype) and \
            (device is None or _device(device).type == "cpu"):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(array):
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.from_numpy_dtype(array.dtype)
    if any(s < 0 for s in array.strides):
        raise ValueError("At least one stride in the given numpy array is negative, and tensors with negative "
                         "strides are not currently supported. (You can probably work around this by making a "
                         "copy of your array  with array.copy().) ")
    return Tensor._from_raw(array, CPU)


# ---- filled -------------------------------------------------------------

def _filled(size, value, dtype, device, requires_grad):
    shape = _size_args(size)
    dtype = dtype or dtypes.get_default_dtype()
    target = _device_of(device)
    value = scalars.checked_fill(value, dtype, math.prod(shape), target.type)
    backend = backend_for(target)
    # a graph replay fills again: the step may write into the tensor in place (an accumulator made by zeros())
    out = Tensor._from_raw(recording.host_op(backend.full, shape, value, dtype.np), backend.device)
    return out.requires_grad_(True) if requires_grad else out


@_supports_out
def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    return _filled(size, 0, dtype, device, requires_grad)


@_supports_out
def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    return _filled(size, 1, dtype, device, requires_grad)


@_supports_out
def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False,
          memory_format=None):
    shape = _size_args(size)
    dtype = dtype or dtypes.get_default_dtype()
    backend = backend_for(_device_of(device))
    out = Tensor._from_raw(backend.empty(shape, dtype.np), backend.device)
    return out.requires_grad_(True) if requires_grad else out


@_supports_out
def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = dtypes.scalar_dtype(fill_value)
    return _filled((tuple(size),) if not isinstance(size, builtins.int) else (size,), fill_value, dtype, device,
                   requires_grad)


def _like(fn):
    def like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None, **kwargs):
        return fn(input.shape, dtype=dtype or input._dtype, device=device or input._device,
                  requires_grad=requires_grad, **kwargs)
    like.__name__ = fn.__name__ + "_like"
    return like


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    return full(input.shape, fill_value, dtype=dtype or input._dtype, device=device or input._device,
                requires_grad=requires_grad)


@_supports_out
def arange(start, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        integral = all(isinstance(v, (builtins.int, np.integer)) for v in values)
        dtype = dtypes.int64 if integral else dtypes.get_default_dtype()
    if values[2] == 0:
        raise RuntimeError("step must be nonzero")
    if not (math.isfinite(values[0]) and math.isfinite(values[1])):
        raise RuntimeError(f"unsupported range: {builtins.float(values[0]):g} -> {builtins.float(values[1]):g}")
    # PyTorch reads the bounds in the accumulation type (checked): int64 for integral dtypes, else double
    accumulate = dtypes.float64 if dtype.is_floating_point else dtypes.int64
    start, end, step = (scalars.checked(v, accumulate) for v in values)
    if step == 0:
        raise ValueError("step must be nonzero")  # a float step that truncates to 0 for an integral dtype
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    count = _arange_size(values, start, end, step, dtype)
    if not 0 <= count <= scalars.INT64_MAX:
        raise RuntimeError("invalid size, possible overflow?")
    data = start + np.arange(count, dtype=np.float64 if dtype.is_floating_point else np.int64) * step
    return _finish(np.asarray(data), dtype, device, requires_grad)


def _wrap_int64(value):
    return (value + (1 << 63)) % (1 << 64) - (1 << 63)


def _arange_size(values, start, end, step, dtype):
    """PyTorch's element count: for int64, (end - start + step - sign(step)) / step in int64 arithmetic (whose
    wrap-around it then reports as an invalid size); for every other dtype ceil((end - start) / step) in doubles
    of the bounds as given (so arange(0, 3.5, dtype=int32) has 4 elements, with int64 3)."""
    if dtype is dtypes.int64:
        sign = (step > 0) - (step < 0)
        numerator = _wrap_int64(_wrap_int64(_wrap_int64(end - start) + step) - sign)
        quotient = abs(numerator) // abs(step)  # C++'s division truncates toward zero
        return quotient if (numerator < 0) == (step < 0) else -quotient
    low, high, stride = (builtins.float(v) for v in values)
    return math.ceil((high - low) / stride)


@_supports_out
def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dtype = dtype or dtypes.get_default_dtype()
    scalars.checked(start, dtype)  # PyTorch reads both ends as elements of the dtype
    scalars.checked(end, dtype)
    if steps == 1:
        return _finish(np.array([start], dtype=np.float64), dtype, device, requires_grad)
    index = np.arange(steps, dtype=np.float64)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    halfway = steps // 2
    # PyTorch fills the first half forward from start and the second half backward from end
    data = np.where(index < halfway, start + step * index, end - step * (steps - 1 - index))
    return _finish(data, dtype, device, requires_grad)


@_supports_out
def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    dtype = dtype or dtypes.get_default_dtype()
    return _finish(np.eye(n, n if m is None else m, dtype=dtype.np), None, device, requires_grad)


# ---- random ---------------------------------------------------------------

@_supports_out
def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
         pin_memory=False):
    dtype = dtype or dtypes.get_default_dtype()
    _require_float("rand", dtype)
    return _sampled(device, generator, requires_grad, "rand", _size_args(size), dtype.np)


@_supports_out
def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False):
    dtype = dtype or dtypes.get_default_dtype()
    _require_float("randn", dtype)
    return _sampled(device, generator, requires_grad, "normal", _size_args(size), 0.0, 1.0, dtype.np)


def _sampled(device, generator, requires_grad, sampler, *args):
    """A tensor from `sampler` of the device's random stream: PyTorch's CPU stream, or Philox on cuda (drawn
    there, never on the host)."""
    target = _device_of(device)
    stream = _random.for_device(target, generator)  # checks the generator's device first
    draw = functools.partial(getattr(stream, sampler), generator=generator)
    out = Tensor._from_raw(recording.host_op(draw, *args), backend_for(target).device)  # a graph replay draws again
    return out.requires_grad_(True) if requires_grad else out


def _require_float(name, dtype):
    if not dtype.is_floating_point:
        raise RuntimeError(f"\"{name}\" not implemented for '{dtype.scalar_name}'")



@_supports_out
def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None,
            requires_grad=False):
    if isinstance(high, (tuple, list)) or high is None:  # randint(high, size)
        low, high, size = 0, low, high if size is None else size
    if size is None:
        raise TypeError("randint() missing 1 required positional arguments: \"size\"")
    for bound in (low, high):
        if isinstance(bound, builtins.int) and not scalars.INT64_MIN <= bound <= scalars.INT64_MAX:
            raise scalars.unpack_long_error()
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dtype = dtype or dtypes.int64
    _check_random_bounds(low, high - 1, dtype)
    return _sampled(device, generator, requires_grad, "randint", low, high, _size_args((size,)), dtype.np)


def _check_random_bounds(low, high_inclusive, dtype):
    """PyTorch's random_(from, to) bounds: both within the dtype's range (its largest finite value for floats)."""
    if dtype.is_floating_point:
        limit = builtins.float(np.finfo(dtype.np).max)
        lowest, highest = -limit, limit
    elif dtype is dtypes.bool:
        lowest, highest = 0, 1
    else:
        lowest, highest = (builtins.int(v) for v in (np.iinfo(dtype.np).min, np.iinfo(dtype.np).max))
    for value, name in ((low, "from"), (high_inclusive, "to - 1")):
        if not lowest <= value <= highest:
            raise RuntimeError(f"{name} is out of bounds for {dtype.cpp_name}")


@_supports_out
def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False,
             pin_memory=False):
    if n < 0:
        raise RuntimeError(f"n must be non-negative, got{n}")
    dtype = dtype or dtypes.int64
    return _finish(_random.randperm(n, dtype.np, generator), None, device, requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, **kwargs):
    return rand(input.shape, dtype=dtype or input._dtype, device=device or input._device, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False, **kwargs):
    return randn(input.shape, dtype=dtype or input._dtype, device=device or input._device, requires_grad=requires_grad)


def randint_like(input, low, high=None, *, dtype=None, device=None, requires_grad=False, **kwargs):
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input._dtype, device=device or input._device)


@_supports_out
def normal(mean, std, size=None, *, generator=None, out=None, dtype=None, device=None, requires_grad=False):
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        shape_source = mean if isinstance(mean, Tensor) else std
        noise = randn(shape_source.shape, generator=generator, dtype=shape_source._dtype, device=shape_source._device)
        return noise * std + mean
    dtype = dtype or dtypes.get_default_dtype()
    return _sampled(device, generator, requires_grad, "normal", _size_args((size,)), mean, std, dtype.np)
