"""CPU kernels that move elements without changing them: flip, roll, rot90 (each a copy, as in PyTorch)."""
import numpy as np

from ...autograd.registry import register


def _flip_forward(ctx, x, dims):
    ctx.dims = dims
    return np.flip(x, dims).copy() if dims else x.copy()


def _flip_backward(ctx, g):
    return np.flip(g, ctx.dims) if ctx.dims else g


register("flip", "cpu", _flip_forward, _flip_backward)


def _roll_forward(ctx, x, shifts, dims):
    """`shifts[i]` places along `dims[i]` (one entry per distinct dim, shifts already summed); dims None rolls
    the flattened array by shifts[0]."""
    ctx.shifts, ctx.dims = shifts, dims
    return np.roll(x, shifts[0]) if dims is None else np.roll(x, shifts, dims)


def _roll_backward(ctx, g):
    back = tuple(-s for s in ctx.shifts)
    return np.roll(g, back[0]) if ctx.dims is None else np.roll(g, back, ctx.dims)


register("roll", "cpu", _roll_forward, _roll_backward)


def _rot90_forward(ctx, x, flip_dims, swap):
    """rot90 as PyTorch computes it: a flipped copy, then (odd quarter turns) a transposed view of it."""
    ctx.flip_dims, ctx.swap = flip_dims, swap
    out = _flip_forward(ctx, x, flip_dims)
    return out.swapaxes(*swap) if swap else out


def _rot90_backward(ctx, g):
    return np.flip(g.swapaxes(*ctx.swap) if ctx.swap else g, ctx.flip_dims)


register("rot90", "cpu", _rot90_forward, _rot90_backward)
