"""Indexing: `x[key]`, `x[key] = value`, index_select, gather, scatter, masked_fill, masked_select, nonzero.

`x[key]` follows PyTorch. Ints, slices, None and `...` make one view of `x`
(sharing storage and version counter), whose node is named after the last view
op PyTorch would record (SelectBackward0, SliceBackward0, UnsqueezeBackward0,
AliasBackward0). Integer tensors, lists and bool masks then gather from that
view (IndexBackward0, a copy); their result dims go where the indexed dims were
when those are adjacent in the view, else first (numpy's rule applied to the
view: unlike numpy, ints never count as advanced indices).

`x[key] = value` writes straight into storage when autograd is not involved;
otherwise it runs the out-of-place `index_put` and stores the result with
`inplace.write_`, which moves `x`'s history to the new node, named as PyTorch
names it: CopySlices when the key makes a view first, IndexPutBackward0 for
tensor indices alone, CopyBackwards for `x[...] = value`.
"""
import builtins
import numbers
import operator
import warnings

import numpy as np

from .. import dtypes, scalars
from ..autograd.function import _mixed_devices_message, run
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..autograd.registry import kernels
from ..graphs import recording
from ..tensor import Tensor, _wrap_dim
from . import elementwise, inplace, shape
from .shape import _as_view

_INDEX_DTYPES = (dtypes.int64, dtypes.int32)
_MASK_DTYPES = (dtypes.bool, dtypes.uint8)

# ---- parsing a key -------------------------------------------------------------

_SEQUENCES = (list, tuple, range, np.ndarray)


def _items(key):
    """The key as a tuple of per-dim items. A short list (under 32 items) holding a tensor, a sequence, a slice,
    None or `...` is read as a tuple too (PyTorch's deprecated numpy heuristic); any other list is one index."""
    if isinstance(key, tuple):
        return key
    if isinstance(key, list) and len(key) < 32 and any(
            isinstance(k, (Tensor, slice, str) + _SEQUENCES) or k is None or k is Ellipsis for k in key):
        warnings.warn("Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed in "
                      "pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be interpreted as "
                      "tensor index, x[torch.tensor(seq)], which will result either in an error or a different result",
                      UserWarning, stacklevel=4)
        return tuple(key)
    return (key,)


def _index_tensor(obj, device):
    """An index tensor on `device`. A tensor on another device may only come from the CPU (PyTorch's rule);
    Python data (lists, ranges, numpy arrays) becomes a bool or uint8 mask when that is its type, else int64, as
    PyTorch reads indices (floats truncated, checked; numpy's int8 and int16 widened)."""
    from ..creation import tensor
    if isinstance(obj, Tensor):
        if obj._device is device:
            return obj
        if obj._device.type != "cpu":
            raise RuntimeError(f"indices should be either on cpu or on the same device as the indexed tensor "
                               f"({device})")
        return obj.to(device)
    if isinstance(obj, range):
        obj = np.arange(obj.start, obj.stop, obj.step, dtype=np.int64)
    if isinstance(obj, np.ndarray):
        mask = obj.dtype == np.bool_ or obj.dtype == np.uint8
    else:
        kinds = {type(v) for v in _flat_items(obj)}
        mask = bool(kinds) and kinds <= {builtins.bool, np.bool_}
    return tensor(obj, dtype=None if mask else dtypes.int64, device=device)


def _flat_items(data):
    for item in data:
        if isinstance(item, (list, tuple)):
            yield from _flat_items(item)
        else:
            yield item


def _classify(item, device):
    """One key item as (kind, value): 'int', 'slice', 'none', 'ellipsis', 'tensor' (integer) or 'mask' (bool)."""
    if item is None:
        return "none", None
    if item is Ellipsis:
        return "ellipsis", None
    if isinstance(item, slice):
        return "slice", item
    if isinstance(item, (builtins.bool, np.bool_)):
        return "mask", _index_tensor(np.asarray(builtins.bool(item)), device)
    if isinstance(item, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(item).__name__}'")
    if isinstance(item, Tensor) and item.ndim == 0 and item._dtype not in _MASK_DTYPES:
        if item._dtype.is_floating_point:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return "int", builtins.int(item.item())  # a 0-dim integer tensor selects, on any device (PyTorch's item())
    if isinstance(item, Tensor) and item.ndim == 0:
        item = item.cpu()  # a 0-dim mask is read on the host, whatever its device (PyTorch's item())
    if isinstance(item, (Tensor,) + _SEQUENCES):
        t = _index_tensor(item, device)
        if t._dtype is dtypes.uint8:
            warnings.warn("indexing with dtype framework.uint8 is now deprecated, please use a dtype framework.bool "
                          "instead.", UserWarning, stacklevel=4)
        if t._dtype in _MASK_DTYPES:
            return "mask", t.to(dtypes.bool)
        if t._dtype.is_floating_point or t._dtype not in _INDEX_DTYPES:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return ("int", builtins.int(t.item())) if t.ndim == 0 else ("tensor", t)
    try:
        value = operator.index(item)
    except TypeError:
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
                         f"indices (got {type(item).__name__})") from None
    if not scalars.INT64_MIN <= value <= scalars.INT64_MAX:
        raise scalars.unpack_long_error()
    return "int", value


def _out_of_bounds(index, size, allow_negative=True):
    """The first value of a CPU `index` outside [-size, size) (or [0, size)), or None. Other devices' kernels check
    their indices on the device, and raise the same errors at the next synchronising call
    (backends/cuda/device_errors.py): the host never waits to read an index back."""
    if index._device.type != "cpu":
        return None
    low_allowed = -size if allow_negative else 0
    values = index._data
    if values.size == 0:
        return None
    bad = (values < low_allowed) | (values >= size)
    return builtins.int(values[bad].flat[0]) if bad.any() else None


def check_in_bounds(index, size, error, allow_negative=True):
    """Raise `error(bad)` for the first value of a CPU `index` out of range (`_out_of_bounds`). The check reads
    values, so a graph capture records it (framework.graphs): each replay checks its new indices too."""
    recording.host_op(_raise_out_of_bounds, index, size, error, allow_negative)


def _raise_out_of_bounds(index, size, error, allow_negative):
    bad = _out_of_bounds(index, size, allow_negative)
    if bad is not None:
        raise error(bad)


def _parse(x, key):
    """Split `key` into the basic view's key, its node name, and the (view dim, index tensor) pairs after it.

    Returns (basic_key, node_name or None, advanced, view_shape).
    """
    sizes = x._data.shape
    ndim = len(sizes)
    items = []
    for item in _items(key):  # a loop, not a comprehension: _classify's warnings point at the caller's line
        items.append(_classify(item, x._device))
    consumed = builtins.sum(1 if kind in ("int", "slice", "tensor") else value.ndim if kind == "mask" else 0
                            for kind, value in items)
    if consumed > ndim:
        first = next(kind for kind, value in items if kind != "none" and kind != "ellipsis")
        if ndim == 0 and first == "int":
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` "
                             "in C++ to convert a 0-dim tensor to a number")
        if ndim == 0 and first == "slice":
            raise IndexError("slice() cannot be applied to a 0-dim tensor.")
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    basic, advanced, view_shape = [], [], []
    name, src, seen_ellipsis = None, 0, False
    for kind, value in items:
        if kind == "int":
            size = sizes[src]
            if not -size <= value < size:
                raise IndexError(f"index {value} is out of bounds for dimension {src} with size {size}")
            basic.append(value + size if value < 0 else value)
            name, src = "SelectBackward0", src + 1
        elif kind == "slice":
            if value.step is not None and operator.index(value.step) < 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = value.indices(sizes[src])
            basic.append(slice(start, stop, step))
            view_shape.append(len(range(start, stop, step)))
            raw_start = 0 if value.start is None else operator.index(value.start)
            raw_stop = sizes[src] if value.stop is None else operator.index(value.stop)
            if isinstance(key, slice) or raw_start != 0 or raw_stop < sizes[src] or step != 1:
                name = "SliceBackward0"  # PyTorch skips x[:, 0:n] in a tuple key (n >= size), so do we
            src += 1
        elif kind == "ellipsis":
            if not seen_ellipsis:
                count = ndim - consumed
                basic += [slice(None)] * count
                view_shape += sizes[src:src + count]
                src, seen_ellipsis = src + count, True
        elif kind == "none" or (kind == "mask" and value.ndim == 0):
            if kind == "mask":  # x[True] is x[None][[0]]; x[False] is x[None][[]]
                advanced.append((len(view_shape), _index_tensor(np.arange(builtins.int(value.item())), x._device)))
            basic.append(None)
            view_shape.append(1)
            name = "UnsqueezeBackward0"
        else:
            advanced.append((len(view_shape), value))
            span = value.ndim if kind == "mask" else 1
            basic += [slice(None)] * span
            view_shape += sizes[src:src + span]
            src += span
    view_shape = tuple(view_shape) + sizes[src:]
    return tuple(basic), name, _expand_masks(advanced, view_shape), view_shape


def _expand_masks(advanced, view_shape):
    """Bool masks as the integer indices of their True elements; then PyTorch's broadcast and bounds checks."""
    expanded = []
    for dim, index in advanced:
        if index._dtype is dtypes.bool:
            for j, size in enumerate(index.shape):
                if size != view_shape[dim + j]:
                    raise IndexError(f"The shape of the mask {list(index.shape)} at index {j} does not match the shape "
                                     f"of the indexed tensor {list(view_shape)} at index {dim + j}")
            expanded += [(dim + j, column) for j, column in enumerate(nonzero(index, as_tuple=True))]
        else:
            expanded.append((dim, index))
    shapes = [tuple(index.shape) for _, index in expanded]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                         + ", ".join(str(list(s)) for s in shapes)) from None
    for dim, index in expanded:
        check_in_bounds(index, view_shape[dim], lambda bad, dim=dim: IndexError(
            f"index {bad} is out of bounds for dimension {dim} with size {view_shape[dim]}"))
    return expanded


def _advanced_shape(view_shape, advanced):
    """The shape of view[advanced]: broadcast index dims in place when adjacent, else first."""
    dims = [d for d, _ in advanced]
    broadcast = np.broadcast_shapes(*[tuple(index.shape) for _, index in advanced])
    rest = [s for d, s in enumerate(view_shape) if d not in dims]
    if dims == list(range(dims[0], dims[0] + len(dims))):
        return tuple(rest[:dims[0]]) + broadcast + tuple(rest[dims[0]:])
    return broadcast + tuple(rest)


# ---- x[key] and x[key] = value ---------------------------------------------------

def getitem(x, key):
    basic, name, advanced, _ = _parse(x, key)
    out = x
    if name is not None or not advanced:
        out = _as_view(run("basic_index", (x,), (basic,), name or "AliasBackward0"), x)
    if advanced:
        out = run("index", (out,) + tuple(index for _, index in advanced), (tuple(d for d, _ in advanced),))
    return out


def _setitem_scalar(value, dtype):
    """A Python number stored by `x[key] = value`: PyTorch unpacks an int as a long long, then checks it against the
    dtype (float16/bfloat16 unchecked: an overflowing float becomes inf there, as in PyTorch)."""
    if isinstance(value, numbers.Integral) and not scalars.INT64_MIN <= value <= scalars.INT64_MAX:
        raise scalars.unpack_long_error()
    return scalars.checked(value, dtype, low_precision=False)


def _broadcastable(source, target):
    return len(source) <= len(target) and builtins.all(
        s == 1 or s == t for s, t in zip(reversed(source), reversed(target)))


def _value_for(x, value, view_shape, advanced):
    """A value tensor for x[key] = value, checked against the indexing result's shape (PyTorch drops its leading
    size-1 dims) and cast to x's dtype and device (differentiably)."""
    target = _advanced_shape(view_shape, advanced) if advanced else view_shape
    value_shape = tuple(value.shape)
    while value_shape and value_shape[0] == 1:
        value_shape = value_shape[1:]
    if not _broadcastable(value_shape, target):
        if advanced:
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast to "
                               f"indexing result of shape {list(target)}")
        with no_grad():
            shape.expand(value.reshape(value_shape), target)  # raises expand's error
    if advanced and value._device is not x._device and value.ndim:
        raise RuntimeError(_mixed_devices_message(x._device, value._device))  # index_put_ moves 0-dim values only
    value = value.to(x._device, x._dtype)  # differentiable cast; a no-op when both already match
    return value.reshape(value_shape) if value_shape != tuple(value.shape) else value


def setitem(x, key, value):
    basic, name, advanced, view_shape = _parse(x, key)
    if isinstance(value, Tensor):
        value = _value_for(x, value, view_shape, advanced)
    elif isinstance(value, numbers.Number):
        value = _setitem_scalar(value, x._dtype)
    else:
        kind = type(value)
        kind = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        raise TypeError(f"can't assign a {kind} to a {x.type()}")
    store(x, basic, name, advanced, value)


def store(x, basic, name, advanced, value, accumulate=False):
    """Write `value` (a tensor of x's dtype and device, or a Python number) at the parsed key in x: straight into
    storage when autograd is not involved, else through the out-of-place index_put, whose result `write_` stores
    with its history. With `accumulate` (index_put_'s), values at repeated positions add up."""
    through_view = name is not None  # PyTorch writes into a view of x (CopySlices), else into x itself
    indices = tuple(index for _, index in advanced)
    params = (basic, tuple(d for d, _ in advanced)) + ((True,) if accumulate else ())
    value_requires_grad = isinstance(value, Tensor) and value._requires_grad
    if is_grad_enabled() and (x._requires_grad or value_requires_grad):
        if through_view and x._requires_grad and x.grad_fn is None and x._base is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
        result = run("index_put", (x, value) + indices, params,
                     "CopySlices" if through_view else "IndexPutBackward0" if advanced else "CopyBackwards")
        inplace.write_(x, result)
        return x
    value = value._data if isinstance(value, Tensor) else value
    kernels("index_put_", x._device.type).forward(None, x._data, value, *(i._data for i in indices), *params)
    x._version_counter[0] += 1
    return x


# ---- functions ---------------------------------------------------------------------

def _require_tensor(fn, name, position, value):
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {position}) must be Tensor, not {type(value).__name__}")


def index_select(input, dim, index):
    _require_tensor("index_select", "index", 3, index)
    if index._dtype not in _INDEX_DTYPES:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    dim = _wrap_dim(dim, input.ndim)
    size = input.shape[dim] if input.ndim else 1
    check_in_bounds(index, size, lambda bad: IndexError("index out of range in self"), allow_negative=False)
    return _run_1d("index_select", input, (index.reshape(-1),), (dim,))


def _check_scatter_gather(fn, input, dim, index, src=None):
    """PyTorch's checks shared by gather and scatter; returns the wrapped dim."""
    _require_tensor(fn, "index", 3, index)
    if index._dtype not in _INDEX_DTYPES:
        raise RuntimeError(f"{fn}(): Expected dtype int32/int64 for index")
    dim = _wrap_dim(dim, input.ndim)
    ndim = builtins.max(input.ndim, 1)
    if builtins.max(index.ndim, 1) != ndim:
        what = "input" if fn == "gather" else "self"
        raise RuntimeError(f"Index tensor must have the same number of dimensions as {what} tensor")
    if src is not None and builtins.max(src.ndim, 1) != ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    in_shape, index_shape = input.shape or (1,), index.shape or (1,)
    for d in range(ndim):
        too_big = d != dim and index_shape[d] > in_shape[d]
        if src is None and too_big:
            raise RuntimeError(f"Size does not match at dimension {d} expected index {list(index.shape)} to be no "
                               f"larger than self {list(input.shape)} apart from dimension {dim}")
        if src is not None and (too_big or index_shape[d] > (src.shape or (1,))[d]):
            raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than self {list(input.shape)} "
                               f"apart from dimension {dim} and to be no larger size than src {list(src.shape)}")
    check_in_bounds(index, in_shape[dim], lambda bad: RuntimeError(
        f"index {bad} is out of bounds for dimension {dim} with size {in_shape[dim]}"), allow_negative=False)
    if src is not None and src._dtype is not input._dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    return dim


def _run_1d(op, input, tensors, params, node_name=None):
    """Run `op`, treating a 0-d input (and 0-d companions) as 1-d as PyTorch does."""
    if input.ndim:
        return run(op, (input,) + tensors, params, node_name)
    tensors = tuple(t.reshape(1) if isinstance(t, Tensor) else t for t in tensors)
    return run(op, (input.reshape(1),) + tensors, params, node_name).reshape(())


def gather(input, dim, index, *, sparse_grad=False):
    dim = _check_scatter_gather("gather", input, dim, index)
    return _run_1d("gather", input, (index,), (dim,))


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    if src is None:
        src = value
    if reduce is not None:  # PyTorch's legacy form: its node has no derivative
        if reduce not in ("add", "multiply"):
            raise RuntimeError("reduce argument must be either add or multiply.")
        if not isinstance(src, Tensor):
            from ..creation import full
            src = full(tuple(index.shape), scalars.checked(src, input._dtype), dtype=input._dtype, device=input._device)
        dim = _check_scatter_gather("scatter", input, dim, index, src)
        return _run_1d("scatter_legacy_reduce", input, (index, src), (dim, "sum" if reduce == "add" else "prod", True))
    if isinstance(src, Tensor):
        dim = _check_scatter_gather("scatter", input, dim, index, src)
        return _run_1d("scatter", input, (index, src), (dim,))
    dim = _check_scatter_gather("scatter", input, dim, index)
    return _run_1d("scatter", input, (index, scalars.checked(src, input._dtype)), (dim,),
                    "ScatterBackward1")


def scatter_add(input, dim, index, src):
    _require_tensor("scatter_add", "src", 4, src)
    dim = _check_scatter_gather("scatter", input, dim, index, src)
    return _run_1d("scatter_add", input, (index, src), (dim,))


def take_along_dim(input, indices, dim=None):
    _require_tensor("take_along_dim", "indices", 2, indices)
    if indices._dtype is not dtypes.int64:
        raise RuntimeError(f"framework.take_along_dim(): dtype of indices should be Long but got "
                           f"{indices._dtype.scalar_name}")
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    if input.ndim != indices.ndim:
        raise RuntimeError(f"framework.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {input.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    dim = _wrap_dim(dim, input.ndim)
    others = elementwise.broadcast_shapes(input.shape[:dim] + (1,) + input.shape[dim + 1:],
                                          indices.shape[:dim] + (1,) + indices.shape[dim + 1:])
    return gather(shape.expand(input, others[:dim] + (input.shape[dim],) + others[dim + 1:]), dim,
                  shape.expand(indices, others[:dim] + (indices.shape[dim],) + others[dim + 1:]))


def _check_mask(fn, mask):
    _require_tensor(fn, "mask", 2, mask)
    if mask._dtype is not dtypes.bool:
        if fn == "masked_select":
            raise RuntimeError("masked_select: expected BoolTensor for mask")
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask._dtype.cpp_name}")


def masked_fill(input, mask, value):
    _check_mask("masked_fill", mask)
    elementwise.broadcast_shapes(tuple(mask.shape), tuple(input.shape))
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        if value._device.type == "cpu":
            scalars.checked(value, input._dtype)  # PyTorch reads the value as a Scalar (a host read here)
        value = elementwise._as_operand(value, input._dtype, input._device)  # a CPU value may fill any device
        return run("masked_fill", (input, mask, value), (), "MaskedFillBackward1")
    if not isinstance(value, numbers.Number):
        raise TypeError(f"masked_fill() received an invalid combination of arguments - got (Tensor, Tensor, "
                        f"{type(value).__name__})")
    return run("masked_fill", (input, mask, scalars.checked(value, input._dtype)))


def masked_fill_(input, mask, value):
    return inplace.write_(input, masked_fill(input, mask, value))


def masked_select(input, mask):
    _check_mask("masked_select", mask)
    elementwise.broadcast_shapes(tuple(mask.shape), tuple(input.shape))
    return run("masked_select", (input, mask))


def nonzero(input, *, as_tuple=False):
    if not as_tuple:
        return run("nonzero", (input,))
    out = run("nonzero", (input if input.ndim else input.reshape(1),))  # as_tuple reads a 0-d input as 1-d
    return tuple(out[:, d] for d in range(out.shape[1]))


def argwhere(input):
    return nonzero(input)


def scatter_(input, dim, index, src=None, *, value=None, reduce=None):
    return inplace.write_(input, scatter(input, dim, index, src, value=value, reduce=reduce))


def scatter_add_(input, dim, index, src):
    return inplace.write_(input, scatter_add(input, dim, index, src))


TENSOR_METHODS = (
    "index_select", "gather", "scatter", "scatter_", "scatter_add", "scatter_add_", "take_along_dim",
    "masked_fill", "masked_fill_", "masked_select", "nonzero", "argwhere",
)

__all__ = ["index_select", "gather", "scatter", "scatter_add", "take_along_dim", "masked_fill", "masked_select",
           "nonzero", "argwhere"]

OPERATORS = {"__getitem__": getitem, "__setitem__": setitem}
