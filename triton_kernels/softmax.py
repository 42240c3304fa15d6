"""softmax and log_softmax along the rows of an (n_rows, n_cols) strided view: forward and backward kernels.

Forward: a row that fits one block (ONE_BLOCK) is read once and written once. A wider row is walked twice:
first the online (max, sum-exp) recurrence (`reduction.online_logsumexp`), then each block is written as
exp(x - max) / sum or x - max - log(sum). As in PyTorch, a row of -inf, or holding +inf or NaN, gives NaN.

Backward, with y the forward's output and g the upstream gradient (per row):
    softmax:     dx = y * (g - sum(g * y))
    log_softmax: dx = g - exp(y) * sum(g)

Strides are in elements; the caller moves the softmax dim last (column stride may be anything) and allocates
every output. Rows may be two-level (n_inner, stride_*i), as in reduction.py: softmax over dim 1 of a
contiguous (A, B, C) array needs no copy. fp16/bf16 compute in fp32, fp64 in fp64; results are stored in the
output's dtype.
"""
import triton
import triton.language as tl

from .reduction import FLOAT_DTYPES, accumulator, cast_for_store, check_view, online_logsumexp, row_starts
from .row_settings import tile_settings
from .strided import dtype_name_of

# Rows up to this many columns are held in registers whole (one read); wider rows are read twice. Liger's softmax
# keeps rows up to 65536; here 16384 x 16 warps spilled in AOT compiles and 8192 x 8 did not (see row_settings).
# UNMEASURED on a GPU.
MAX_BLOCK_SIZE = 8192


@triton.jit
def _softmax_forward_kernel(
    # pointers
    x_ptr, y_ptr,
    # sizes
    n_rows, n_cols, n_inner,
    # strides
    stride_xm, stride_xi, stride_xn, stride_ym, stride_yi, stride_yn,
    # meta-parameters
    LOG: tl.constexpr, ONE_BLOCK: tl.constexpr, ACC_DTYPE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program writes softmax (or log_softmax, LOG) of BLOCK_M rows.
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < n_rows
    x_rows = x_ptr + row_starts(rows, n_inner, stride_xm, stride_xi)
    y_rows = y_ptr + row_starts(rows, n_inner, stride_ym, stride_yi)[:, None]
    if ONE_BLOCK:
        cols = tl.arange(0, BLOCK_SIZE)
        mask = row_mask[:, None] & (cols[None, :] < n_cols)
        x = tl.load(x_rows[:, None] + cols[None, :].to(tl.int64) * stride_xn, mask=mask, other=0).to(ACC_DTYPE)
        x = tl.where(mask, x, -float("inf"))
        row_max = tl.max(tl.where(x == x, x, -float("inf")), axis=1)
        shifted = x - row_max[:, None]  # nan where the max is +-inf and x equals it: the row's sum is nan then
        exps = tl.exp(shifted)
        sum_exp = tl.sum(exps, axis=1)
        if LOG:
            y = shifted - tl.log(sum_exp)[:, None]
        else:
            y = exps / sum_exp[:, None]
        tl.store(y_rows + cols[None, :].to(tl.int64) * stride_yn, cast_for_store(y, y_ptr), mask=mask)
    else:
        row_max, sum_exp = online_logsumexp(x_rows, row_mask, n_cols, stride_xn, ACC_DTYPE, BLOCK_M, BLOCK_SIZE)
        infinite = tl.abs(row_max) == float("inf")
        shift = tl.where(infinite, 0.0, row_max)
        sum_exp = tl.where(infinite, float("nan"), sum_exp)  # as the one-block path: inf - inf poisons the row
        log_sum = tl.log(sum_exp)
        for start in range(0, n_cols, BLOCK_SIZE):
            cols = start + tl.arange(0, BLOCK_SIZE)
            mask = row_mask[:, None] & (cols[None, :] < n_cols)
            x = tl.load(x_rows[:, None] + cols[None, :].to(tl.int64) * stride_xn, mask=mask,
                        other=0).to(ACC_DTYPE)
            shifted = x - shift[:, None]
            if LOG:
                y = shifted - log_sum[:, None]
            else:
                y = tl.exp(shifted) / sum_exp[:, None]
            tl.store(y_rows + cols[None, :].to(tl.int64) * stride_yn, cast_for_store(y, y_ptr), mask=mask)


@triton.jit
def _softmax_backward_kernel(
    # pointers
    y_ptr, g_ptr, dx_ptr,
    # sizes
    n_rows, n_cols, n_inner,
    # strides
    stride_ym, stride_yi, stride_yn, stride_gm, stride_gi, stride_gn, stride_dm, stride_di, stride_dn,
    # meta-parameters
    LOG: tl.constexpr, ONE_BLOCK: tl.constexpr, ACC_DTYPE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program writes the input gradient of BLOCK_M rows: y * (g - sum(g * y)), or g - exp(y) * sum(g) (LOG).
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < n_rows
    y_rows = y_ptr + row_starts(rows, n_inner, stride_ym, stride_yi)[:, None]
    g_rows = g_ptr + row_starts(rows, n_inner, stride_gm, stride_gi)[:, None]
    dx_rows = dx_ptr + row_starts(rows, n_inner, stride_dm, stride_di)[:, None]
    if ONE_BLOCK:
        cols = tl.arange(0, BLOCK_SIZE).to(tl.int64)
        mask = row_mask[:, None] & (cols[None, :] < n_cols)
        y = tl.load(y_rows + cols[None, :] * stride_yn, mask=mask, other=0).to(ACC_DTYPE)
        g = tl.load(g_rows + cols[None, :] * stride_gn, mask=mask, other=0).to(ACC_DTYPE)
        if LOG:
            dx = g - tl.exp(y) * tl.sum(g, axis=1)[:, None]
        else:
            dx = y * (g - tl.sum(g * y, axis=1)[:, None])
        tl.store(dx_rows + cols[None, :] * stride_dn, cast_for_store(dx, dx_ptr), mask=mask)
    else:
        acc = tl.zeros([BLOCK_M, BLOCK_SIZE], ACC_DTYPE)
        for start in range(0, n_cols, BLOCK_SIZE):
            cols = (start + tl.arange(0, BLOCK_SIZE)).to(tl.int64)
            mask = row_mask[:, None] & (cols[None, :] < n_cols)
            g = tl.load(g_rows + cols[None, :] * stride_gn, mask=mask, other=0).to(ACC_DTYPE)
            if LOG:
                acc += g
            else:
                acc += g * tl.load(y_rows + cols[None, :] * stride_yn, mask=mask, other=0).to(ACC_DTYPE)
        total = tl.sum(acc, axis=1)[:, None]
        for start in range(0, n_cols, BLOCK_SIZE):
            cols = (start + tl.arange(0, BLOCK_SIZE)).to(tl.int64)
            mask = row_mask[:, None] & (cols[None, :] < n_cols)
            y = tl.load(y_rows + cols[None, :] * stride_yn, mask=mask, other=0).to(ACC_DTYPE)
            g = tl.load(g_rows + cols[None, :] * stride_gn, mask=mask, other=0).to(ACC_DTYPE)
            if LOG:
                dx = g - tl.exp(y) * total
            else:
                dx = y * (g - total)
            tl.store(dx_rows + cols[None, :] * stride_dn, cast_for_store(dx, dx_ptr), mask=mask)


def _settings(n_rows, n_cols, tile):
    block_m, block_size, num_warps = tile or tile_settings(n_rows, n_cols, max_block_size=MAX_BLOCK_SIZE)
    return block_m, block_size, num_warps, n_cols <= block_size


def softmax_forward(x, y, n_rows, n_cols, stride_xm, stride_xn, stride_ym, stride_yn, *, n_inner=1, stride_xi=0,
                    stride_yi=0, log=False, tile=None):
    """softmax (or log_softmax when `log`) of each row of the (n_rows, n_cols) view of `x` into the view of `y`.
    `tile`: (BLOCK_M, BLOCK_SIZE, num_warps), default from `tile_settings`."""
    name = "log_softmax_forward" if log else "softmax_forward"
    check_view(name, x, n_rows, n_cols, n_inner, (stride_xm, stride_xi, stride_xn, stride_ym, stride_yi, stride_yn),
                FLOAT_DTYPES)
    if dtype_name_of(y) not in FLOAT_DTYPES:
        raise TypeError(f"{name}: output dtype must be floating point, got {y.dtype}")
    if n_rows == 0 or n_cols == 0:
        return
    block_m, block_size, num_warps, one_block = _settings(n_rows, n_cols, tile)
    _softmax_forward_kernel[(triton.cdiv(n_rows, block_m),)](
        x, y,
        n_rows, n_cols, n_inner,
        stride_xm, stride_xi, stride_xn, stride_ym, stride_yi, stride_yn,
        LOG=log, ONE_BLOCK=one_block, ACC_DTYPE=accumulator(dtype_name_of(x)), BLOCK_M=block_m,
        BLOCK_SIZE=block_size,
        num_warps=num_warps,
    )


def softmax_backward(y, g, dx, n_rows, n_cols, stride_ym, stride_yn, stride_gm, stride_gn, stride_dm, stride_dn, *,
                     n_inner=1, stride_yi=0, stride_gi=0, stride_di=0, log=False, tile=None):
    """The input gradient `dx` of softmax (log_softmax when `log`) from its output `y` and the upstream gradient
    `g`, all (n_rows, n_cols) views with element strides (g may broadcast: stride 0)."""
    name = "log_softmax_backward" if log else "softmax_backward"
    strides = (stride_ym, stride_yi, stride_yn, stride_gm, stride_gi, stride_gn, stride_dm, stride_di, stride_dn)
    check_view(name, y, n_rows, n_cols, n_inner, strides, FLOAT_DTYPES)
    for what, array in (("g", g), ("dx", dx)):
        if dtype_name_of(array) not in FLOAT_DTYPES:
            raise TypeError(f"{name}: `{what}` must be floating point, got {array.dtype}")
    if n_rows == 0 or n_cols == 0:
        return
    block_m, block_size, num_warps, one_block = _settings(n_rows, n_cols, tile)
    _softmax_backward_kernel[(triton.cdiv(n_rows, block_m),)](
        y, g, dx,
        n_rows, n_cols, n_inner,
        *strides,
        LOG=log, ONE_BLOCK=one_block, ACC_DTYPE=accumulator(dtype_name_of(y)), BLOCK_M=block_m,
        BLOCK_SIZE=block_size,
        num_warps=num_warps,
    )
