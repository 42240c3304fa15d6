"""cuda kernels for matrix structure (framework/backends/numpy/matrix.py): tril/triu are triton_kernels.triangular;
diagonal is a strided view (metadata); diag_embed, block_diag and the backward kernels write into views of fresh
zeros (triton_kernels.copy); trace sums the diagonal view (the reduction kernel)."""
import numpy as np

from triton_kernels import triangular

from ...autograd.registry import register
from .common import call, copy_into, empty, zeros


def diagonal_length(size1, size2, offset):
    return max(0, min(size1 + min(offset, 0), size2 - max(offset, 0)))


def diagonal_view(x, offset, dim1, dim2):
    """The view of x's diagonal `offset` in the plane (dim1, dim2), as a last dim of stride stride1 + stride2."""
    length = diagonal_length(x.shape[dim1], x.shape[dim2], offset)
    strides = x.stride()
    keep = [d for d in range(x.ndim) if d not in (dim1, dim2)]
    start = x.offset + (max(-offset, 0) * strides[dim1] + max(offset, 0) * strides[dim2] if length else 0)
    return x.as_strided(tuple(x.shape[d] for d in keep) + (length,),
                        tuple(strides[d] for d in keep) + (strides[dim1] + strides[dim2],), start)


# ---- tril, triu ----------------------------------------------------------------------------------

def _batched(x):
    """x as (batch, rows, cols): a view when its batch dims merge, else a contiguous copy's."""
    shape = (int(np.prod(x.shape[:-2], dtype=np.int64)),) + tuple(x.shape[-2:])
    view = x.reshape_view(shape) if x.ndim > 3 else None
    if x.ndim == 2:
        return x.as_strided(shape, (0,) + tuple(x.stride()))
    if x.ndim == 3:
        return x
    return view if view is not None else x.copy().reshape_view(shape)


def triangle(x, diagonal, upper):
    out = empty(x.shape, x.dtype)
    batched = _batched(x)
    triangular.triangle(batched, out.reshape_view(batched.shape), diagonal, upper)
    return out


def _triangle(upper):
    def forward(ctx, x, diagonal):
        ctx.diagonal = diagonal
        return triangle(x, diagonal, upper)

    register("triu" if upper else "tril", "cuda", forward, lambda ctx, g: triangle(g, ctx.diagonal, upper))


_triangle(upper=False)
_triangle(upper=True)


# ---- diagonal, diag_embed, trace ---------------------------------------------------------------------

def _diagonal_forward(ctx, x, offset, dim1, dim2):
    ctx.meta = (x.shape, offset, dim1, dim2)
    return diagonal_view(x, offset, dim1, dim2)


def _diagonal_backward(ctx, g):
    shape, offset, dim1, dim2 = ctx.meta
    grad = zeros(shape, g.dtype)
    copy_into(diagonal_view(grad, offset, dim1, dim2), g)
    return grad


register("diagonal", "cuda", _diagonal_forward, _diagonal_backward)
register("diagonal_copy", "cuda", lambda ctx, x, *params: _diagonal_forward(ctx, x, *params).copy(),
         _diagonal_backward, "DiagonalBackward0_copy")


def _diag_embed_forward(ctx, x, offset, dim1, dim2):
    ctx.params = (offset, dim1, dim2)
    n = x.shape[-1] + abs(offset)
    shape = list(x.shape[:-1])
    for d in sorted((dim1, dim2)):
        shape.insert(d, n)
    out = zeros(shape, x.dtype)
    copy_into(diagonal_view(out, offset, dim1, dim2), x)
    return out


register("diag_embed", "cuda", _diag_embed_forward, lambda ctx, g: diagonal_view(g, *ctx.params))


def _trace_forward(ctx, x):
    ctx.shape = x.shape
    return call("sum", diagonal_view(x, 0, 0, 1), (0,), False)


def _trace_backward(ctx, g):
    grad = zeros(ctx.shape, g.dtype)
    copy_into(diagonal_view(grad, 0, 0, 1), g.reshape((1,)).broadcast_to((min(ctx.shape),)))
    return grad


register("trace", "cuda", _trace_forward, _trace_backward)


# ---- block_diag ---------------------------------------------------------------------------------------

def _block_diag_forward(ctx, *blocks):
    rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)
    out = zeros((rows, cols), blocks[0].dtype)
    r = c = 0
    corners = []
    for b in blocks:
        if b.size:
            copy_into(out[r:r + b.shape[0], c:c + b.shape[1]], b)
        corners.append((r, c, b.shape))
        r, c = r + b.shape[0], c + b.shape[1]
    ctx.corners = corners
    return out


def _block_diag_backward(ctx, g):
    return tuple(g[r:r + shape[0], c:c + shape[1]] if need else None
                 for (r, c, shape), need in zip(ctx.corners, ctx.needs_input_grad))


register("block_diag", "cuda", _block_diag_forward, _block_diag_backward)
