"""Views, copies and casts. Views share storage and the version counter with their base."""
import builtins
import math

import numpy as np

from .. import dtypes
from ..autograd.composite import composite
from ..autograd.function import run
from ..device import device as _device
from ..tensor import Size, Tensor, _wrap_dim


def _as_view(out, source):
    """Make `out` a view of `source`: one storage, one version counter."""
    out._version_counter = source._version_counter
    base = out._base = source._base if source._base is not None else source
    out._base_grad_fn = base.grad_fn
    return out


def _memory_offsets(x):
    """The storage offset of every element of `x`, an integer array of `x`'s shape."""
    offsets = np.full((), x.storage_offset(), dtype=np.int64)
    for size, stride in zip(x._data.shape, x.stride()):
        offsets = offsets[..., None] + np.arange(size, dtype=np.int64) * stride
    return offsets


def view_positions(view):
    """For each element of `view`, its index in `view._base.reshape(-1)` (the base in C order)."""
    base_offsets = _memory_offsets(view._base).reshape(-1)
    by_offset = np.argsort(base_offsets, kind="stable")
    found = by_offset[np.searchsorted(base_offsets[by_offset], _memory_offsets(view))]
    return Tensor._from_raw(found).to(view._device)


def refresh_view_history(view):
    """Give `view` a history through its base's current one, after the base changed in place
    (PyTorch regenerates a view's grad_fn the same way): the view's values are the base's
    elements at `view_positions`."""
    from .indexing import gather
    base = view._base
    flat = gather(reshape(base, -1), 0, reshape(view_positions(view), -1))
    regathered = reshape(flat, view._data.shape)
    view.grad_fn = regathered.grad_fn
    view._output_nr = 0
    view._requires_grad = regathered._requires_grad
    view._base_grad_fn = base.grad_fn


def _view_op(op, x, params, node_name=None):
    return _as_view(run(op, (x,), params, node_name), x)


def storage_offset(x):
    """Elements between the start of the memory `x` views and `x`'s first element."""
    if x._device.type != "cpu":
        return x._data.offset
    root = x._data
    while isinstance(root.base, np.ndarray):
        root = root.base
    start = x._data.__array_interface__["data"][0]
    origin = root.__array_interface__["data"][0]
    return (start - origin) // x._dtype.itemsize


def _shape_args(shape):
    """Accept f(2, 3), f((2, 3)), f([2, 3]) and f(Size)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(builtins.int(s) for s in shape)


def _infer_shape(shape, numel):
    """Resolve one -1 in `shape`, or raise PyTorch's error when the sizes do not fit."""
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for s in shape:
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s}")
    known = math.prod(s for s in shape if s != -1)
    if unknown:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = shape[:unknown[0]] + (numel // known,) + shape[unknown[0] + 1:]
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _viewable(x, shape):
    """PyTorch's rule for view: can `shape` be expressed with strides over `x`'s memory?"""
    try:
        x._data.reshape(shape, copy=False)
        return True
    except ValueError:
        return False


def view(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
        raise NotImplementedError("view(dtype) is not supported")
    shape = _infer_shape(_shape_args(shape), x._data.size)
    if not _viewable(x, shape):
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one dimension spans "
            "across two contiguous subspaces). Use .reshape(...) instead.")
    return _view_op("view", x, (shape,))


def view_as(x, other):
    return view(x, other.shape)


def reshape(x, *shape):
    shape = _infer_shape(_shape_args(shape), x._data.size)
    if _viewable(x, shape):
        return _view_op("view", x, (shape,))
    return run("unsafe_view", (contiguous(x),), (shape,))


def reshape_as(x, other):
    return reshape(x, other.shape)


def flatten(x, start_dim=0, end_dim=-1):
    if x._data.ndim == 0:
        return reshape(x, 1)
    start, end = _wrap_dim(start_dim, x.ndim), _wrap_dim(end_dim, x.ndim)
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if start == end:
        return x
    shape = x._data.shape
    return reshape(x, shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


def unflatten(x, dim, sizes):
    dim = _wrap_dim(dim, x.ndim)
    shape = x._data.shape
    sizes = tuple(builtins.int(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    try:
        sizes = _infer_shape(sizes, shape[dim])
    except RuntimeError as error:
        if "invalid for input of size" not in str(error):
            raise RuntimeError(f"unflatten got an unexpected error:\n{error}") from None
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                           f"({shape[dim]}) in the input tensor") from None
    return view(x, shape[:dim] + sizes + shape[dim + 1:])


def permute(x, *dims):
    dims = _shape_args(dims)
    if len(dims) != x._data.ndim:
        raise RuntimeError("permute(): number of dimensions in the tensor input does not match the length of the "
                           f"desired ordering of dimensions i.e. input.dim() = {x.ndim} is not equal to "
                           f"len(dims) = {len(dims)}")
    dims = tuple(_wrap_dim(d, x.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return _view_op("permute", x, (dims,))


def transpose(x, dim0, dim1):
    ndim = x._data.ndim
    dim0, dim1 = _wrap_dim(dim0, ndim), _wrap_dim(dim1, ndim)
    dims = list(range(ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return _view_op("transpose", x, (tuple(dims),))


swapaxes = swapdims = transpose


def t(x):
    if x._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return _view_op("t", x, (tuple(range(x._data.ndim - 1, -1, -1)),))


def adjoint(x):
    return transpose(x, -2, -1)


def movedim(x, source, destination):
    source = [source] if isinstance(source, builtins.int) else list(source)
    destination = [destination] if isinstance(destination, builtins.int) else list(destination)
    if len(source) != len(destination):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({source} dims) should contain the "
                           f"same number of dims as destination ({destination} dims)")
    given = (list(source), list(destination))
    source = [_wrap_dim(d, x.ndim) for d in source]
    destination = [_wrap_dim(d, x.ndim) for d in destination]
    for name, dims, original in (("source", source, given[0]), ("destination", destination, given[1])):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({original})")
    order = [d for d in range(x.ndim) if d not in source]
    for dst, src in sorted(zip(destination, source)):
        order.insert(dst, src)
    return permute(x, *order)


moveaxis = movedim


def squeeze(x, dim=None):
    shape = x._data.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        dims = {_wrap_dim(d, x.ndim) for d in ((dim,) if isinstance(dim, builtins.int) else dim)}
        dims = {d for d in dims if x.ndim and shape[d] == 1}
    new_shape = tuple(s for i, s in enumerate(shape) if i not in dims)
    return _view_op("squeeze", x, (new_shape,), "SqueezeBackward0" if dim is None else None)


def unsqueeze(x, dim):
    dim = _wrap_dim(dim, x._data.ndim + 1)
    shape = x._data.shape
    return _view_op("unsqueeze", x, (shape[:dim] + (1,) + shape[dim:],))


def expand(x, *sizes):
    sizes = _shape_args(sizes)
    shape = x._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand({x.type()}{{{list(shape)}}}, size={list(sizes)}): the number of sizes provided "
                           f"({len(sizes)}) must be greater or equal to the number of dimensions in the tensor "
                           f"({len(shape)})")
    lead = len(sizes) - len(shape)
    result = []
    for i, size in enumerate(sizes):
        if i < lead:
            if size < 0:
                raise RuntimeError(f"The expanded size of the tensor ({size}) isn't allowed in a leading, "
                                   "non-existing dimension 0")
            result.append(size)
            continue
        current = shape[i - lead]
        if size == -1:
            size = current
        elif current != 1 and size != current:
            raise RuntimeError(f"The expanded size of the tensor ({size}) must match the existing size ({current}) "
                               f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                               f"{list(shape)}")
        result.append(size)
    return _view_op("expand", x, (tuple(result),))


def expand_as(x, other):
    return expand(x, other.shape)


def broadcast_to(x, shape):
    return expand(x, shape)


def contiguous(x, memory_format=None):
    if x._data.flags.c_contiguous:
        return x
    return run("contiguous", (x,))


def clone(x, *, memory_format=None):
    return run("clone", (x,))


def detach(x):
    """Same storage and version counter, no history; not a view for autograd's in-place rules."""
    out = Tensor._from_raw(x._data, x._device)
    out._version_counter = x._version_counter
    return out


def repeat(x, *repeats):
    repeats = _shape_args(repeats)
    if len(repeats) < x._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    return run("repeat", (x,), (repeats,))


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("framework.cat(): expected a non-empty list of Tensors")
    for t_ in tensors:
        if not isinstance(t_, Tensor):
            raise TypeError(f"expected Tensor as element {tensors.index(t_)} in argument 0, but got {type(t_).__name__}")
    reference = next((t_ for t_ in tensors if not (t_.ndim == 1 and t_.numel() == 0)), tensors[0])
    if reference.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    dim = _wrap_dim(dim, reference.ndim)
    for i, t_ in enumerate(tensors):
        if t_.ndim == 1 and t_.numel() == 0:
            continue
        if t_.ndim != reference.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {reference.ndim} and {t_.ndim}")
        for d in range(reference.ndim):
            if d != dim and t_.shape[d] != reference.shape[d]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {dim}. Expected size "
                                   f"{reference.shape[d]} but got size {t_.shape[d]} for tensor number {i} in the list.")
    dtype = tensors[0]._dtype
    for t_ in tensors[1:]:
        dtype = dtypes.promote_types(dtype, t_._dtype)
    tensors = [t_ if t_._dtype is dtype else t_.to(dtype) for t_ in tensors]
    return run("cat", tuple(tensors), (dim,))


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    dim = _wrap_dim(dim, tensors[0].ndim + 1)
    for i, t_ in enumerate(tensors):
        if t_.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at entry 0 "
                               f"and {list(t_.shape)} at entry {i}")
    dtype = tensors[0]._dtype
    for t_ in tensors[1:]:
        dtype = dtypes.promote_types(dtype, t_._dtype)
    tensors = [t_ if t_._dtype is dtype else t_.to(dtype) for t_ in tensors]
    return run("stack", tuple(tensors), (dim,))


def narrow(x, dim, start, length):
    """A view of `length` elements of `dim` from `start` (negative starts count from the end)."""
    if x.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    dim = _wrap_dim(dim, x.ndim)
    size = x._data.shape[dim]
    start = builtins.int(start)
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
    start = start + size if start < 0 else start
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    index = [slice(None)] * dim + [slice(start, start + length)]
    return x[tuple(index)]


def select(x, dim, index):
    dim = _wrap_dim(dim, x.ndim)
    return x[(slice(None),) * dim + (index,)]


def split(x, split_size_or_sections, dim=0):
    if x.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    dim = _wrap_dim(dim, x.ndim)
    size = x._data.shape[dim]
    if isinstance(split_size_or_sections, builtins.int):
        step = split_size_or_sections
        if step < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        if step <= 0 and size:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}")
        sections = [step] * (size // step) + ([size % step] if size % step else []) if step else [0]
    else:
        sections = [builtins.int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sections):
            raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative entries, but got "
                               f"split_sizes={sections}")
        if sum(sections) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size at "
                               f"dimension {dim}), but got split_sizes={sections}")
    name = "SplitBackward0" if isinstance(split_size_or_sections, builtins.int) else "SplitWithSizesBackward0"
    pieces = run("split", (x,), (tuple(sections), dim), name)
    return tuple(_as_view(piece, x) for piece in pieces)


def chunk(x, chunks, dim=0):
    if x.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    size = x._data.shape[_wrap_dim(dim, x.ndim)]
    if size == 0:  # PyTorch: `chunks` empty pieces
        return split(x, [0] * chunks, dim)
    return split(x, -(-size // chunks), dim)


@composite("UnbindBackward0", inputs=("x",))
def unbind(x, dim=0):
    dim = _wrap_dim(dim, x.ndim)
    return tuple(select(x, dim, i) for i in range(x._data.shape[dim]))


def to(x, *args, **kwargs):
    """`to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other)`, with `dtype=`, `device=`, `copy=`."""
    dtype = kwargs.pop("dtype", None)
    target = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for arg in args:
        if isinstance(arg, dtypes.dtype):
            dtype = arg
        elif isinstance(arg, Tensor):
            dtype, target = arg._dtype, arg._device
        elif isinstance(arg, (str, _device, builtins.int)):
            target = arg
        elif isinstance(arg, builtins.bool):
            copy = arg
        else:
            raise TypeError(f"to() received an invalid combination of arguments - got ({type(arg).__name__})")
    out = x
    if target is not None:
        target = _device(target)
        if target.type == "cuda" and target.index is None:
            target = _device("cuda", 0)
        if target != x._device:
            from ..backends import transfer
            out = transfer.to_device(out, target)
            copy = False
    if dtype is not None and dtype is not out._dtype:
        out = run("to_copy", (out,), (dtype.np,))
        copy = False
    if copy:
        out = clone(out)
    return out


TENSOR_METHODS = (
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute", "transpose", "swapaxes",
    "swapdims", "t", "adjoint", "movedim", "moveaxis", "squeeze", "unsqueeze", "expand", "expand_as",
    "broadcast_to", "contiguous", "clone", "repeat", "narrow", "select", "split", "chunk", "unbind",
)

__all__ = list(TENSOR_METHODS) + ["cat", "concat", "concatenate", "stack", "t"]
