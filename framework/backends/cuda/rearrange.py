"""cuda kernels for flip, roll and rot90 (framework/backends/numpy/rearrange.py): each is one strided copy
(triton_kernels.copy) out of a view of the input, so the data moves once. A flip reads its source through
negative strides; a roll copies the two (per rolled dim) pieces of each dim into their new places."""
import itertools

from ...autograd.registry import register
from .common import copy_into, empty


def flipped(x, dims):
    """A view of `x` with `dims` reversed: negative strides, starting at the last element of each."""
    strides = list(x.stride())
    offset = x.offset
    for d in dims:
        if x.shape[d] > 1:
            offset += (x.shape[d] - 1) * strides[d]
            strides[d] = -strides[d]
    return x.as_strided(x.shape, strides, offset)


def flip(x, dims):
    out = empty(x.shape, x.dtype)
    if out.size:
        copy_into(out, flipped(x, dims))
    return out


def _flip_forward(ctx, x, dims):
    ctx.dims = dims
    return flip(x, dims)


register("flip", "cuda", _flip_forward, lambda ctx, g: flip(g, ctx.dims))


def roll(x, shifts, dims):
    """numpy's roll: `shifts[i]` (already in [0, size)) along `dims[i]`; dims None rolls the flattened array."""
    if dims is None:
        return roll(x.reshape((x.size,)), shifts, (0,)).reshape(x.shape)
    out = empty(x.shape, x.dtype)
    if not out.size:
        return out
    # along a dim of size n rolled by s, out[s:] = x[:n - s] and out[:s] = x[n - s:]
    pieces = []
    for d, s in zip(dims, shifts):
        n = x.shape[d]
        pieces.append([(slice(s, n), slice(0, n - s)), (slice(0, s), slice(n - s, n))] if s else
                      [(slice(None), slice(None))])
    for combination in itertools.product(*pieces):
        dst, src = [slice(None)] * x.ndim, [slice(None)] * x.ndim
        for d, (to, source) in zip(dims, combination):
            dst[d], src[d] = to, source
        copy_into(out[tuple(dst)], x[tuple(src)])
    return out


def _roll_forward(ctx, x, shifts, dims):
    ctx.shifts, ctx.dims = shifts, dims
    return roll(x, shifts, dims)


def _roll_backward(ctx, g):
    dims = ctx.dims
    sizes = (g.size,) if dims is None else tuple(g.shape[d] for d in dims)
    return roll(g, tuple((-s) % n if n else 0 for s, n in zip(ctx.shifts, sizes)), dims)


register("roll", "cuda", _roll_forward, _roll_backward)


def _rot90_forward(ctx, x, flip_dims, swap):
    ctx.flip_dims, ctx.swap = flip_dims, swap
    out = flip(x, flip_dims)
    return _swapped(out, swap)


def _swapped(x, swap):
    if not swap:
        return x
    axes = list(range(x.ndim))
    axes[swap[0]], axes[swap[1]] = axes[swap[1]], axes[swap[0]]
    return x.transpose(axes)


register("rot90", "cuda", _rot90_forward, lambda ctx, g: flip(_swapped(g, ctx.swap), ctx.flip_dims))
