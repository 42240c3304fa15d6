"""tril / triu: the lower or upper triangle of each matrix of a (batch, rows, cols) strided view, zeros elsewhere.

One program writes BLOCK_SIZE elements of the contiguous output in row-major order. An element (b, r, c) is
kept when c - r <= diagonal (lower) or c - r >= diagonal (upper); only kept elements are read, so a triangle
costs about half a copy's reads. Any dtype: the values are moved, never converted.
"""
import triton
import triton.language as tl

from .strided import interpreting, numel

# 1024 elements x 4 warps. AOT (sm_80/sm_90, tests/triton_kernels/test_triangular.py): no spills with 64-bit
# indices. Timing unmeasured (no GPU yet). The interpreter's cost is per program: it takes whole arrays at once.
BLOCK_SIZE = 1024
NUM_WARPS = 4
INTERPRETER_BLOCK_SIZE = 1 << 16


@triton.jit
def _triangle_kernel(
        # pointers
        x_ptr, out_ptr,
        # sizes
        n_elements, n_rows, n_cols, diagonal,
        # strides
        stride_xb, stride_xm, stride_xn,
        # meta-parameters
        UPPER: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # One program writes BLOCK_SIZE elements of out: x's where inside the triangle, else 0.
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE).to(tl.int64)
    mask = offs < n_elements
    col = offs % n_cols
    row_of_all = offs // n_cols
    row = row_of_all % n_rows
    batch = row_of_all // n_rows
    if UPPER:
        keep = col - row >= diagonal
    else:
        keep = col - row <= diagonal
    x = tl.load(x_ptr + batch * stride_xb + row * stride_xm + col * stride_xn, mask=mask & keep, other=0)
    tl.store(out_ptr + offs, x, mask=mask)


def triangle(x, out, diagonal, upper):
    """out[b] = tril(x[b], diagonal) (or triu when `upper`) for (batch, rows, cols) arrays; `out` contiguous."""
    if tuple(x.shape) != tuple(out.shape) or len(x.shape) != 3:
        raise ValueError(f"triangle: x {tuple(x.shape)} and out {tuple(out.shape)} must be one (batch, rows, cols) "
                         "shape")
    if x.dtype != out.dtype:
        raise TypeError(f"triangle: x is {x.dtype} but out is {out.dtype}")
    n = numel(x.shape)
    if n == 0:
        return out
    block = min(INTERPRETER_BLOCK_SIZE, triton.next_power_of_2(n)) if interpreting() else BLOCK_SIZE
    _triangle_kernel[(triton.cdiv(n, block),)](x, out, n, x.shape[1], x.shape[2], int(diagonal), *x.stride(),
                                              UPPER=bool(upper), BLOCK_SIZE=block, num_warps=NUM_WARPS)
    return out
