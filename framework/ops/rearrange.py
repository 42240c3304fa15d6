"""Ops that move elements without changing them: flip, fliplr, flipud, roll, rot90 (copies, as in PyTorch)."""
import builtins

from .. import dtypes
from ..autograd.function import run
from ..tensor import Tensor, _wrap_dim
from . import shape


def _dim_list(dims):
    return [dims] if isinstance(dims, builtins.int) else list(dims)


def _distinct_dims(x, dims):
    wrapped = []
    for d in _dim_list(dims):
        axis = _wrap_dim(d, x.ndim)
        if axis in wrapped:
            raise RuntimeError(f"dim {axis} appears multiple times in the list of dims")
        wrapped.append(axis)
    return tuple(wrapped)


def flip(input, *dims):
    """Reverse the order of elements along `dims` (a copy)."""
    if not dims:
        raise TypeError('flip() missing 1 required positional arguments: "dims"')
    dims = dims[0] if len(dims) == 1 and not isinstance(dims[0], builtins.int) else dims
    return run("flip", (input,), (_distinct_dims(input, dims) if input.ndim else (),))


def fliplr(input):
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input):
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


def roll(input, shifts, dims=None):
    """Shift elements along `dims` by `shifts`, wrapping around; without dims, over the flattened tensor."""
    shifts = _dim_list(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        size = input._data.size
        return run("roll", (input,), ((builtins.int(shifts[0]) % size if size else 0,), None))
    dims = _dim_list(dims)
    if not shifts:
        raise RuntimeError("`shifts` required")
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    if input.ndim == 0:
        raise IndexError(f"Dimension specified as {dims[0]} but tensor has no dimensions")
    total = {}
    for s, d in zip(shifts, dims):  # rolling one dim twice rolls it by the sum
        axis = _wrap_dim(d, input.ndim)
        total[axis] = total.get(axis, 0) + builtins.int(s)
    sizes = input._data.shape
    total = {axis: s % sizes[axis] if sizes[axis] else 0 for axis, s in total.items()}
    return run("roll", (input,), (tuple(total.values()), tuple(total)))


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by k quarter turns in the plane of `dims`, from dims[0] towards dims[1]."""
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = (_wrap_dim(d, input.ndim) for d in dims)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}")
    # PyTorch's decomposition: k = 1 flips dim1 then transposes; 2 flips both; 3 flips dim0 then transposes
    flip_dims, swap = {0: ((), None), 1: ((d1,), (d0, d1)), 2: ((d0, d1), None), 3: ((d0,), (d0, d1))}[k % 4]
    return run("rot90", (input,), (flip_dims, swap))


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element (each slice along `dim`; without dim, of the flattened input) `repeats` times, or with
    a tensor of repeats, slice i repeats[i] times. `repeat_interleave(repeats)` alone gives the indices
    0, 0, 1, ... that the tensor form selects with. The int form is an expand and one copy (ViewBackward0);
    the tensor form an index_select (IndexSelectBackward0)."""
    if repeats is None:
        return _repeat_indices(input, output_size)
    source = input if dim is not None else shape.flatten(input)
    dim = _wrap_dim(0 if dim is None else dim, input.ndim)
    if isinstance(repeats, Tensor):
        count = source._data.shape[dim]
        if repeats.ndim == 0 or (repeats.ndim == 1 and repeats._data.shape[0] == 1):
            repeats = shape.expand(shape.reshape(repeats, 1), count)
        elif repeats.ndim == 1:
            if repeats._data.shape[0] != count:
                raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                                   f"{repeats._data.shape[0]} and input.size({dim}) = {count}")
        else:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        from .indexing import index_select
        return index_select(source, dim, _repeat_indices(repeats, output_size))
    repeats = builtins.int(repeats)
    if repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    sizes = list(source._data.shape)
    if output_size is not None and output_size != repeats * sizes[dim]:
        raise RuntimeError(f"repeat_interleave: Invalid output_size, expected {repeats * sizes[dim]} but got "
                           f"{output_size}")
    expanded = shape.expand(shape.unsqueeze(source, dim + 1), sizes[:dim + 1] + [repeats] + sizes[dim + 1:])
    return shape.flatten(shape.contiguous(expanded), dim, dim + 1)


def _repeat_indices(repeats, output_size):
    """i repeated repeats[i] times, in repeats' dtype: the positions where each run starts get marks, and the
    running count of marks is the index (an int scatter-add and a cumsum, on any device)."""
    if repeats.ndim != 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    if repeats._dtype not in (dtypes.int64, dtypes.int32):
        raise NotImplementedError(f"\"repeat_interleave_cpu\" not implemented for '{repeats._dtype.scalar_name}'")
    if repeats._data.shape[0] == 0:
        return repeats.clone()
    from .indexing import scatter_add
    from .reduction import cumsum
    ends = cumsum(repeats, 0)  # int64: the end of each run
    total = builtins.int(ends[-1].item())
    if builtins.bool((repeats < 0).any()):
        raise RuntimeError("repeats can not be negative")
    if output_size is not None and output_size != total:
        raise RuntimeError("allocated size does not match required size")
    from ..creation import ones, zeros
    marks = zeros(total + 1, dtype=dtypes.int64, device=repeats._device)
    marks = scatter_add(marks, 0, ends, ones(ends._data.shape, dtype=dtypes.int64, device=repeats._device))
    return cumsum(marks[:total], 0).to(repeats._dtype)


TENSOR_METHODS = ("flip", "fliplr", "flipud", "roll", "rot90", "repeat_interleave")
__all__ = list(TENSOR_METHODS)
