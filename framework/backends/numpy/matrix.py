"""CPU kernels for matrix structure: tril/triu, diagonal (a view), diag_embed, trace, block_diag.

`diagonal(x, offset, dim1, dim2)` is PyTorch's strided view of x's memory: dims dim1 and dim2 go, and a last
dim of the diagonal's length comes, with stride stride1 + stride2. diag_embed and the backward kernels write
into such views of fresh zeros.
"""
import numpy as np

from ...autograd.registry import register
from .common import upcast


def diagonal_length(size1, size2, offset):
    return max(0, min(size1 + min(offset, 0), size2 - max(offset, 0)))


def diagonal_view(x, offset, dim1, dim2):
    """The writable view of x's diagonal `offset` in the plane (dim1, dim2), sharing x's memory; a view made
    over the memory's root array, so that storage offsets and views of views stay what they are in PyTorch."""
    length = diagonal_length(x.shape[dim1], x.shape[dim2], offset)
    keep = [d for d in range(x.ndim) if d not in (dim1, dim2)]
    shape = tuple(x.shape[d] for d in keep) + (length,)
    strides = tuple(x.strides[d] for d in keep) + (x.strides[dim1] + x.strides[dim2],)
    if x.size == 0 or length == 0:
        return np.zeros(shape, dtype=x.dtype)
    start = [0] * x.ndim
    start[dim1], start[dim2] = max(-offset, 0), max(offset, 0)
    root = x
    while isinstance(root.base, np.ndarray):
        root = root.base
    if not root.flags.c_contiguous:  # memory numpy cannot hand out as a buffer: a strided view of x itself
        return np.lib.stride_tricks.as_strided(x[tuple(slice(s, None) for s in start)], shape, strides)
    first = x.__array_interface__["data"][0] + sum(s * st for s, st in zip(start, x.strides))
    return np.ndarray(shape, x.dtype, buffer=root, offset=first - root.__array_interface__["data"][0],
                      strides=strides)


# ---- tril, triu ----------------------------------------------------------------------------------

def _triangle(upper):
    keep = np.triu if upper else np.tril

    def forward(ctx, x, diagonal):
        ctx.diagonal = diagonal
        return keep(x, diagonal)

    register("triu" if upper else "tril", "cpu", forward, lambda ctx, g: keep(g, ctx.diagonal))


_triangle(upper=False)
_triangle(upper=True)


# ---- diagonal, diag_embed, trace ---------------------------------------------------------------------

def _diagonal_forward(ctx, x, offset, dim1, dim2):
    ctx.meta = (x.shape, offset, dim1, dim2)
    return diagonal_view(x, offset, dim1, dim2)


def _diagonal_backward(ctx, g):
    shape, offset, dim1, dim2 = ctx.meta
    grad = np.zeros(shape, dtype=g.dtype)
    diagonal_view(grad, offset, dim1, dim2)[...] = g
    return grad


register("diagonal", "cpu", _diagonal_forward, _diagonal_backward)
register("diagonal_copy", "cpu", lambda ctx, x, *params: _diagonal_forward(ctx, x, *params).copy(),
         _diagonal_backward, "DiagonalBackward0_copy")


def _diag_embed_forward(ctx, x, offset, dim1, dim2):
    """x's last dim laid on the diagonal `offset` of the plane (dim1, dim2) of a new array of zeros."""
    ctx.params = (offset, dim1, dim2)
    n = x.shape[-1] + abs(offset) if x.ndim else 1
    shape = list(x.shape[:-1])
    for d in sorted((dim1, dim2)):
        shape.insert(d, n)
    out = np.zeros(shape, dtype=x.dtype)
    diagonal_view(out, offset, dim1, dim2)[...] = x
    return out


register("diag_embed", "cpu", _diag_embed_forward, lambda ctx, g: diagonal_view(g, *ctx.params))


def _trace_forward(ctx, x):
    ctx.shape = x.shape
    total = np.sum(upcast(np.diagonal(x)), dtype=np.int64 if x.dtype.kind in "biu" else None)
    return np.asarray(total).astype(x.dtype if x.dtype.kind not in "biu" else np.int64)


def _trace_backward(ctx, g):
    grad = np.zeros(ctx.shape, dtype=g.dtype)
    np.fill_diagonal(grad, g)
    return grad


register("trace", "cpu", _trace_forward, _trace_backward)


# ---- block_diag ---------------------------------------------------------------------------------------

def _block_diag_forward(ctx, *blocks):
    """The 2-D blocks (front end made them 2-D and one dtype) along the diagonal of a matrix of zeros."""
    rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)
    out = np.zeros((rows, cols), dtype=blocks[0].dtype if blocks else np.float32)
    r = c = 0
    corners = []
    for b in blocks:
        out[r:r + b.shape[0], c:c + b.shape[1]] = b
        corners.append((r, c, b.shape))
        r, c = r + b.shape[0], c + b.shape[1]
    ctx.corners = corners
    return out


def _block_diag_backward(ctx, g):
    return tuple(g[r:r + shape[0], c:c + shape[1]] if need else None
                 for (r, c, shape), need in zip(ctx.corners, ctx.needs_input_grad))


register("block_diag", "cpu", _block_diag_forward, _block_diag_backward)
