"""Ops over several tensors at once: meshgrid, cartesian_prod, broadcast_tensors, atleast_1d/2d/3d and the stacks
(hstack, vstack/row_stack, dstack, column_stack), and tensor_split. All are views, expands and cats, composed as
PyTorch composes them, so its node names come out (ExpandBackward0, StackBackward0, CatBackward0, ...)."""
import builtins
import numbers
import warnings

from .. import dtypes
from ..tensor import Size, Tensor, _wrap_dim
from . import shape
from .elementwise import broadcast_shapes as _broadcast_pair


def _tensor_list(tensors):
    """f(a, b), f([a, b]) and f((a, b)) alike."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return list(tensors[0])
    return list(tensors)


def meshgrid(*tensors, indexing=None):
    """Coordinate grids: output i varies along dim i ('ij') or, with 'xy', the first two swap roles."""
    tensors = _tensor_list(tensors)
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument."
                      .replace("torch.", "framework."), UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}'
                           .replace("torch.", "framework."))
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}"
                               .replace("torch.", "framework."))
        if t._dtype is not tensors[0]._dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
        if t._device is not tensors[0]._device:
            raise RuntimeError("meshgrid expects all tensors to have the same device")
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        order[0], order[1] = 1, 0  # dim 0 of every grid follows the second tensor
    sizes = [tensors[i].numel() for i in order]
    grids = []
    for i, t in enumerate(tensors):
        position = order.index(i)
        view_shape = [1] * len(tensors)
        view_shape[position] = sizes[position]
        grids.append(shape.expand(shape.view(t, view_shape), sizes))
    return tuple(grids)


def cartesian_prod(*tensors):
    """Every combination of one element from each 1-D input, as rows (a single input comes back as is)."""
    tensors = _tensor_list(tensors)
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return shape.stack([shape.flatten(g) for g in grids], 1)


def broadcast_shapes(*shapes):
    """The shape that tensors of `shapes` (ints, tuples or lists) broadcast to, as a Size (PyTorch's public
    variadic form; framework.ops.elementwise.broadcast_shapes is the cached two-shape one the ops use)."""
    as_tuples = []
    for shape in shapes:
        if isinstance(shape, numbers.Integral):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)):
            raise RuntimeError(f"Input shapes should be of type ints, a tuple of ints, or a list of ints, got {shape}")
        for size in shape:
            if isinstance(size, builtins.bool) or not isinstance(size, numbers.Integral):
                raise TypeError(f"framework.Size() takes an iterable of 'int' (item 0 is '{type(size).__name__}')")
        as_tuples.append(tuple(builtins.int(size) for size in shape))
    result = [1] * builtins.max([len(shape) for shape in as_tuples] + [0])
    for k, shape in enumerate(as_tuples):
        for i in range(-1, -1 - len(shape), -1):
            if shape[i] == 1 or shape[i] == result[i]:
                continue
            if result[i] != 1 or shape[i] < 0:
                raise RuntimeError(f"Attempting to broadcast a dimension of length {shape[i]} at {i}! Mismatching "
                                   f"argument at index {k} had {shape}; but expected shape should be broadcastable to "
                                   f"{result}")
            result[i] = shape[i]
    return Size(result)


def broadcast_tensors(*tensors):
    """The inputs expanded to their common shape (an input already of that shape comes back as is)."""
    tensors = _tensor_list(tensors)
    target = ()
    for t in tensors:
        target = _broadcast_pair(target, t._data.shape)
    return tuple(t if t._data.shape == target else shape.expand(t, target) for t in tensors)


def _raise_rank(rank, t):
    """PyTorch's atleast_nd: 0-d views as all ones; 1-d gains a leading dim; a 2-d gains a trailing one (3d)."""
    if t.ndim >= rank:
        return t
    if t.ndim == 0:
        return shape.reshape(t, (1,) * rank)
    if t.ndim == 1 and rank >= 2:
        t = shape.unsqueeze(t, 0)
    while t.ndim < rank:
        t = shape.unsqueeze(t, -1)
    return t


def atleast_1d(*tensors):
    return _at_least_call(1, tensors)


def atleast_2d(*tensors):
    return _at_least_call(2, tensors)


def atleast_3d(*tensors):
    return _at_least_call(3, tensors)


def _at_least_call(rank, tensors):
    """One tensor in, one out; several tensors (or one list or tuple of them) in, a tuple out."""
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return _raise_rank(rank, tensors[0])
    return tuple(_raise_rank(rank, t) for t in _tensor_list(tensors))


def _check_nonempty(name, tensors):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{name} expects a non-empty TensorList")
    return tensors


def hstack(tensors):
    """Concatenate along dim 1 (dim 0 for 1-D inputs); 0-d inputs count as 1-D."""
    tensors = [_raise_rank(1, t) for t in _check_nonempty("hstack", tensors)]
    return shape.cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Concatenate along dim 0 after making every input at least 2-D (1-D inputs become rows)."""
    return shape.cat([_raise_rank(2, t) for t in _check_nonempty("vstack", tensors)], 0)


row_stack = vstack


def dstack(tensors):
    """Concatenate along dim 2 after making every input at least 3-D."""
    return shape.cat([_raise_rank(3, t) for t in _check_nonempty("dstack", tensors)], 2)


def column_stack(tensors):
    """Inputs of at most 1 dim as columns, then concatenated along dim 1."""
    tensors = _check_nonempty("column_stack", tensors)
    return hstack([shape.reshape(t, t.numel(), 1) if t.ndim <= 1 else t for t in tensors])


def tensor_split(input, indices_or_sections, dim=0):
    """Views of `input` cut along `dim`: into n near-equal pieces (the first size % n one longer), or at indices."""
    if input.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    if isinstance(indices_or_sections, Tensor):
        t = indices_or_sections
        if t._device.type != "cpu":
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to be on cpu, but it's on "
                               f"{t.device}")
        if t._dtype is not dtypes.int64:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to have dtype of long, but got "
                               f"{t._dtype.scalar_name}")
        if t.ndim > 1:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                               f"one-dimensional tensor, but got a tensor with {t.ndim} dims")
        indices_or_sections = t.item() if t.ndim == 0 else t.tolist()
    dim = _wrap_dim(dim, input.ndim)
    size = input._data.shape[dim]
    if isinstance(indices_or_sections, numbers.Integral):
        sections = builtins.int(indices_or_sections)
        if sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
        base, extra = divmod(size, sections)
        bounds, start = [], 0
        for i in range(sections):
            length = base + (1 if i < extra else 0)
            bounds.append((start, start + length))
            start += length
    else:
        cuts = [builtins.int(i) for i in indices_or_sections]
        edges = [0] + cuts + [size]
        bounds = [(a, b) for a, b in zip(edges[:-1], edges[1:])]
    lead = (slice(None),) * dim
    return tuple(input[lead + (slice(a, max(a, b)),)] for a, b in bounds)


TENSOR_METHODS = ("tensor_split",)
__all__ = ["meshgrid", "cartesian_prod", "broadcast_shapes", "broadcast_tensors", "atleast_1d", "atleast_2d",
           "atleast_3d", "hstack", "vstack", "row_stack", "dstack", "column_stack", "tensor_split"]
