"""Ops that move elements without changing them: flip, fliplr, flipud, roll, rot90 (copies, as in PyTorch)."""
import builtins

from ..autograd.function import run
from ..tensor import _wrap_dim


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


TENSOR_METHODS = ("flip", "fliplr", "flipud", "roll", "rot90")
__all__ = list(TENSOR_METHODS)
