"""In-place ops: compute out of place, write into the tensor's storage, move its history.

`x.add_(y)` runs `add(x, y)`, copies the result into `x`'s memory, bumps the
version counter shared by `x` and its views (so saved tensors notice), and
makes the result's graph node `x`'s `grad_fn`. PyTorch's rules for leaves
and views that require grad are enforced first.
"""
from .. import dtypes, scalars
from ..autograd.composite import edge_of, rename_inplace
from ..autograd.function import run
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.registry import kernels
from ..graphs import recording
from ..backends.device_backend import backend_for
from ..tensor import Tensor
from . import elementwise, matrix, shape


def _check_inplace_allowed(x, result_requires_grad):
    if not is_grad_enabled():
        return
    if x._requires_grad and x.grad_fn is None:
        if x._base is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = x._base
    if base is not None and base._requires_grad and base.grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")


def write_(x, result):
    """Store `result` (broadcastable to `x`, castable to its dtype) in `x` and return `x`."""
    if not isinstance(result, Tensor):
        raise TypeError(f"expected a Tensor result, got {type(result).__name__}")
    if result._data.shape != x._data.shape:
        target = elementwise.broadcast_shapes(x._data.shape, result._data.shape) \
            if len(result._data.shape) <= len(x._data.shape) else None
        if target != x._data.shape:
            raise RuntimeError(f"output with shape {list(x.shape)} doesn't match the broadcast shape "
                               f"{list(elementwise.broadcast_shapes(x._data.shape, result._data.shape))}")
    if result._dtype is not x._dtype and not _can_cast(result._dtype, x._dtype):
        raise RuntimeError(f"result type {result._dtype.scalar_name} can't be cast to the desired output type "
                           f"{x._dtype.scalar_name}")
    record = is_grad_enabled() and (result._requires_grad or x._requires_grad)
    _check_inplace_allowed(x, record)
    if result._device is not x._device:
        result = result.to(x._device)
    if record and x._base is not None:
        return _write_through_view(x, result)
    kernels("copy_", x._device.type).forward(None, x._data, result._data)
    x._version_counter[0] += 1
    if record:
        if result._dtype is not x._dtype:
            result = result.to(x._dtype)
        if result._data.shape != x._data.shape:
            result = shape.expand(result, x.shape)
        if not result._requires_grad:
            # x's old value is overwritten by a constant: its history gets zero gradient
            result = run("overwrite", (x, result))
        x.grad_fn = result.grad_fn
        x._output_nr = result._output_nr
        x._requires_grad = True
    return x


def _write_through_view(x, result):
    """An in-place write to a view whose history is recorded: the base gets the new history
    (its elements at the view's positions replaced, PyTorch's CopySlices), then the view is seen
    through it again."""
    from .indexing import scatter
    base = x._base
    if result._dtype is not x._dtype:
        result = result.to(x._dtype)
    if result._data.shape != x._data.shape:
        result = shape.expand(result, x.shape)
    positions = shape.reshape(shape.view_positions(x), -1)
    updated = scatter(shape.reshape(base, -1), 0, positions, shape.reshape(result, -1))
    write_(base, shape.reshape(updated, base.shape))
    shape.refresh_view_history(x)
    return x


def check_out(name, out, inputs=()):
    """PyTorch's refusal of `out=` where a gradient would be needed: out itself or an input requires grad."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if is_grad_enabled() and any(isinstance(t, Tensor) and t._requires_grad for t in (out,) + tuple(inputs)):
        raise RuntimeError(f"aten::{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")


def store_out(out, result):
    """`out=`: the result written into `out`'s memory (a view's base sees it), or, when the shapes differ, `out`
    resized to hold it (PyTorch resizes out tensors); version bumped; returns `out`."""
    if result._device is not out._device:
        result = result.to(out._device)
    if result._dtype is not out._dtype:
        result = result.to(out._dtype)
    if result._data.shape == out._data.shape:
        kernels("copy_", out._device.type).forward(None, out._data, result._data)
    else:
        if recording.LIVE:
            recording.released(out._data, result._data.shape)  # a captured graph holding the old buffer refuses
        out._data = result._data  # a fresh result: out now holds it (PyTorch's resize of out)
    out._version_counter[0] += 1
    return out


def _can_cast(source, target):
    """PyTorch's canCast: no float to integral, no non-bool to bool."""
    if source.is_floating_point and not target.is_floating_point:
        return False
    if source is not dtypes.bool and target is dtypes.bool:
        return False
    return True


def _source(x):
    """What an in-place op reads: `x` itself, or a clone when its history is recorded, because
    the op may save its input for backward and the write is about to overwrite it."""
    return x.clone() if x.grad_fn is not None and is_grad_enabled() else x


def apply_inplace(self, fn, *args, node_name=None, **kwargs):
    """`self` overwritten with `fn(self, *args, **kwargs)`, as an in-place op: `fn` reads a clone of `self` when
    its history is recorded (so what `fn` saves for backward is not overwritten), and `self`'s node is `fn`'s,
    shown with self's old history, named `node_name` where PyTorch names the in-place form apart (elu_:
    EluBackward1)."""
    source = _source(self)
    result = fn(source, *args, **kwargs)
    if source is self or result.grad_fn is None or self._base is not None:  # a view's history is its base's
        return write_(self, result)
    # the op read a clone of self: PyTorch's node shows self's old history where ours shows the clone
    clone = source.grad_fn
    shown = tuple(clone.next_functions[0] if edge[0] is clone else edge for edge in result.grad_fn.next_functions)
    return rename_inplace(write_(self, result), node_name or result.grad_fn.name(), shown)


def _inplace(fn):
    def method(self, *args, **kwargs):
        return apply_inplace(self, fn, *args, **kwargs)
    method.__name__ = fn.__name__ + "_"
    return method


def copy_(self, src, non_blocking=False):
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' (position 1) must be Tensor, not {type(src).__name__}")
    if src._data.shape != self._data.shape:
        target = elementwise.broadcast_shapes(self._data.shape, src._data.shape)  # PyTorch's error when they clash
        if target != self._data.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                               f"{list(target)}")
        src = shape.expand(src, self.shape)
    if src._dtype is not self._dtype:
        src = src.to(self._dtype)
    if src._requires_grad and is_grad_enabled():
        src = run("overwrite", (self, src), (), "CopyBackwards")  # PyTorch's node: self's old value and src
    return write_(self, src)


def zero_(self):
    return _fill(self, 0, "ZeroBackward0")


def fill_(self, value):
    return _fill(self, value, "FillBackward3" if isinstance(value, Tensor) else "FillBackward2")


def _fill(self, value, node_name):
    from ..creation import full
    shown = (edge_of(self),) + ((edge_of(value),) if isinstance(value, Tensor) else ())  # before the write
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                               "dimensions.")
        write_(self, shape.expand(value.to(self._dtype), self.shape))
    else:
        value = scalars.checked_fill(value, self._dtype, self.numel(), self._device.type)
        write_(self, full((), value, dtype=self._dtype, device=self._device))
    return rename_inplace(self, node_name, shown)


def _random_fill(self, name, *args, generator):
    """Draw values from the device's random stream (PyTorch's order on the CPU, Philox on cuda), then store them."""
    from .. import random
    if not self._dtype.is_floating_point:
        raise RuntimeError(f"\"{name}\" not implemented for '{self._dtype.scalar_name}'")
    stream = random.for_device(self._device, generator)
    values = backend_for(self._device).empty(self._data.shape, self._dtype.np)
    getattr(stream, name)(values, *args, generator)
    return write_(self, Tensor._from_raw(values, self._device))


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    return _random_fill(self, "uniform_", a, b, generator=generator)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    return _random_fill(self, "normal_", mean, std, generator=generator)


_BINARY = ("add", "sub", "mul", "div", "pow", "floor_divide", "remainder", "maximum", "minimum",
           "bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "logical_or", "eq", "ne", "lt", "le", "gt", "ge")
_UNARY = ("exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs",
          "sign", "reciprocal", "neg", "square", "clamp", "clamp_min", "clamp_max", "floor", "ceil", "round", "trunc",
          "logical_not", "bitwise_not")

_SPECIAL = ("erf", "erfc", "erfinv", "nan_to_num", "lerp")

INPLACE_METHODS = {name + "_": _inplace(getattr(elementwise, name)) for name in _BINARY + _UNARY + _SPECIAL}
INPLACE_METHODS.update({name + "_": _inplace(getattr(matrix, name)) for name in ("tril", "triu")})
INPLACE_METHODS.update({"clip_": INPLACE_METHODS["clamp_"], "negative_": INPLACE_METHODS["neg_"],
                        "true_divide_": INPLACE_METHODS["div_"], "copy_": copy_, "zero_": zero_, "fill_": fill_,
                        "uniform_": uniform_, "normal_": normal_})
AUGMENTED = {"__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_", "__itruediv__": "div_",
             "__ifloordiv__": "floor_divide_", "__imod__": "remainder_", "__ipow__": "pow_",
             "__iand__": "bitwise_and_", "__ior__": "bitwise_or_", "__ixor__": "bitwise_xor_"}
