"""Stable row sort: (values, int64 indices) of each row of an (n_rows, n_cols) strided view, ascending or descending.

Every element becomes a (key, index) pair: the key is an integer whose signed order is the order PyTorch sorts by
(floats: -0.0 equals 0.0, every NaN equals every other and sorts above +inf; descending: the key's bits inverted),
the index its column. Pairs are compared key first, then index, so equal keys keep their input order: the result
is PyTorch's `stable=True` sort (a valid `stable=False` one too). The values written are the input's elements at
the sorted indices, read back from the input: exact bits, -0.0 and NaN payloads kept.

A bitonic network sorts the pairs of one block in registers. The block, [BLOCK_M rows, BLOCK_SIZE columns] (a
power of two; columns past the row's end are padding pairs (max key, column) that sort after every real one), is
viewed as a hypercube [2, 2, ..., 2], one axis a bit of the position; a compare-and-swap step across one axis
finds each element's partner as sum(pair) - self along that axis (integer sums wrap, so this is exact; Triton's
own tl.sort uses xor_sum, whose generic reduction the interpreter runs element by element).

Rows longer than one block (`sort_rows` picks the path): the row is padded to N = next_pow2(n_cols) pairs in a
scratch buffer; each block is first sorted alone, in the direction the global bitonic network gives it, then for
each merge level k above the block the steps whose partners lie in other blocks run one launch each
(`_bitonic_step_kernel`), and the steps within a block run in one launch (`_sort_block_kernel` again, merging).
The last launch writes the outputs. No size limit besides int32 column indices.

`topk_rows` writes the first k columns of that sort. Rows longer than one block, with k at most one block, are not
sorted whole: after the first pass (blocks sorted in alternating directions) each pair of blocks, one run up and
one down, is a bitonic sequence whose elementwise smaller pairs (a half-cleaner, `_halve_kernel`) are the block's
worth of its smallest pairs, themselves bitonic; one in-block merge sorts them (alternating again). Halving until
one block is left takes log2(n / block) rounds of O(n) work, where the whole sort takes log2(n)**2 / 2 steps.
"""
import triton
import triton.language as tl

from .reduction import check_view, row_starts
from .row_settings import INTERPRETER_TILE
from .strided import dtype_name_of, interpreting

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INTEGRAL_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64")
_WIDE_KEYS = ("float64", "int64")  # 64-bit keys; every other dtype sorts by 32-bit keys
# Pairs of one block, for 32-bit and 64-bit keys. AOT compiles (sm_90, 8 warps, this 2-core box): 1024 pairs take
# 64 (32-bit keys) / 80 (64-bit) registers, no spills, and 25-30 s to compile; 2048 64-bit pairs did not finish in
# 10 minutes, and compile time grows with the network (log2(block)**2 / 2 steps), so blocks stop at 1024 and longer
# rows merge across blocks. UNMEASURED on a GPU.
MAX_BLOCK = {False: 1024, True: 1024}
STEP_BLOCK = 1024  # pairs a program of a cross-block step compares


def key_is_wide(dtype_name):
    return dtype_name in _WIDE_KEYS


@triton.jit
def _sort_key(x, DESCENDING: tl.constexpr):
    """The integer key of loaded elements `x` (fp16/bf16 already widened to fp32): its signed order is PyTorch's
    sort order; descending inverts it (~k reverses a signed order)."""
    if x.dtype == tl.float32 or x.dtype == tl.float64:
        if x.dtype == tl.float64:
            int_ty: tl.constexpr = tl.int64
            low_bits: tl.constexpr = 0x7FFFFFFFFFFFFFFF
            sign_shift: tl.constexpr = 63
        else:
            int_ty: tl.constexpr = tl.int32
            low_bits: tl.constexpr = 0x7FFFFFFF
            sign_shift: tl.constexpr = 31
        x = tl.where(x == 0, 0.0, x)  # -0.0 sorts with 0.0
        x = tl.where(x != x, float("nan"), x)  # one NaN: a positive quiet NaN, above +inf
        bits = x.to(int_ty, bitcast=True)
        key = bits ^ ((bits >> sign_shift) & low_bits)  # negative floats: magnitude bits reversed
    elif x.dtype == tl.int64:
        key = x
    else:
        key = x.to(tl.int32)
    if DESCENDING:
        key = ~key
    return key


@triton.jit
def _bit(n_dims: tl.constexpr, i: tl.constexpr):
    """0 or 1 along the i-th innermost of `n_dims` hypercube axes: bit i of each position."""
    return tl.reshape(tl.arange(0, 2), [1] * (n_dims - i - 1) + [2] + [1] * i)


@triton.jit
def _compare_swap(keys, idx, flip, i: tl.constexpr, n_dims: tl.constexpr):
    """One step of the network across hypercube axis i (positions p and p ^ 2**i): the lower position keeps the
    smaller (key, index) pair, the upper one the larger; where `flip` is 1 the other way round."""
    axis: tl.constexpr = n_dims - 1 - i
    other_keys = tl.sum(keys, axis, keep_dims=True) - keys
    other_idx = tl.sum(idx, axis, keep_dims=True) - idx
    greater = (keys > other_keys) | ((keys == other_keys) & (idx > other_idx))
    take_other = greater != (flip ^ _bit(n_dims, i)).to(tl.int1)
    return tl.where(take_other, other_keys, keys), tl.where(take_other, other_idx, idx)


@triton.jit
def _bitonic(keys, idx, last_flip, MERGE_ONLY: tl.constexpr, LOG_M: tl.constexpr, LOG_BLOCK: tl.constexpr):
    """Sort each row of the [2**LOG_M, 2**LOG_BLOCK] pairs (keys, idx). Runs of 2**s sorted in alternating
    directions are merged stage by stage; the last stage (the whole block) goes ascending, or descending where
    `last_flip` is 1. MERGE_ONLY: the rows are already bitonic (two sorted halves in opposite directions): only
    the last stage runs."""
    n_dims: tl.constexpr = LOG_M + LOG_BLOCK
    keys = tl.reshape(keys, [2] * n_dims)
    idx = tl.reshape(idx, [2] * n_dims)
    if not MERGE_ONLY:
        for stage in tl.static_range(1, LOG_BLOCK):
            for step in tl.static_range(stage):
                keys, idx = _compare_swap(keys, idx, _bit(n_dims, stage), stage - 1 - step, n_dims)
    for step in tl.static_range(LOG_BLOCK):
        keys, idx = _compare_swap(keys, idx, last_flip, LOG_BLOCK - 1 - step, n_dims)
    return (tl.reshape(keys, [1 << LOG_M, 1 << LOG_BLOCK]), tl.reshape(idx, [1 << LOG_M, 1 << LOG_BLOCK]))


@triton.jit
def _sort_block_kernel(
    # pointers
    x_ptr, values_ptr, indices_ptr, keys_ptr, idx_ptr,
    # sizes: n_out, the columns written (topk's k; n_cols for a sort)
    n_rows, n_cols, n_out, n_inner, n_padded,
    # strides
    stride_xm, stride_xi, stride_xn, stride_vm, stride_vi, stride_vn, stride_im, stride_ii, stride_in,
    # meta-parameters
    level,  # MERGE: the merge level k (runs of 2**k become sorted); the block's direction is bit k of its start
    DESCENDING: tl.constexpr, MERGE: tl.constexpr, FROM_X: tl.constexpr, TO_OUTPUT: tl.constexpr,
    KEY_DTYPE: tl.constexpr, LOG_M: tl.constexpr, LOG_BLOCK: tl.constexpr,
):
    # One program sorts (or, MERGE, finishes merging) BLOCK_M rows, or one block of a long row (BLOCK_M = 1).
    # FROM_X: its pairs come from x, else from the scratch (keys_ptr, idx_ptr: n_rows x n_padded). TO_OUTPUT: it
    # writes values and indices, else the scratch.
    BLOCK_M: tl.constexpr = 1 << LOG_M
    BLOCK_SIZE: tl.constexpr = 1 << LOG_BLOCK
    blocks_per_row = n_padded // BLOCK_SIZE
    pid = tl.program_id(0).to(tl.int64)
    rows = (pid // blocks_per_row) * BLOCK_M + tl.arange(0, BLOCK_M)
    start = (pid % blocks_per_row) * BLOCK_SIZE
    cols = start + tl.arange(0, BLOCK_SIZE)
    row_mask = rows < n_rows
    mask = row_mask[:, None] & (cols[None, :] < n_cols)
    if FROM_X:
        x_rows = x_ptr + row_starts(rows, n_inner, stride_xm, stride_xi)
        x = tl.load(x_rows[:, None] + cols[None, :] * stride_xn, mask=mask, other=0)
        if x.dtype == tl.bfloat16 or x.dtype == tl.float16:
            x = x.to(tl.float32)  # the interpreter holds bf16 as raw bits; widening is exact
        PAD: tl.constexpr = (1 << 63) - 1 if KEY_DTYPE == tl.int64 else (1 << 31) - 1  # sorts after every key
        keys = tl.where(mask, _sort_key(x, DESCENDING), tl.full([BLOCK_M, BLOCK_SIZE], PAD, KEY_DTYPE))
        idx = (cols[None, :] + tl.zeros([BLOCK_M, BLOCK_SIZE], tl.int64)).to(tl.int32)
    else:
        scratch = rows[:, None] * n_padded + cols[None, :]
        keys = tl.load(keys_ptr + scratch, mask=row_mask[:, None], other=0)
        idx = tl.load(idx_ptr + scratch, mask=row_mask[:, None], other=0)
    if MERGE:
        last_flip = ((start >> level) & 1).to(tl.int32)
    else:
        # a long row's first pass: block b's run goes descending when b is odd (the first merge level's pattern)
        last_flip = ((start >> LOG_BLOCK) & 1).to(tl.int32)
    keys, idx = _bitonic(keys, idx, last_flip, MERGE, LOG_M, LOG_BLOCK)
    if TO_OUTPUT:
        out_mask = row_mask[:, None] & (cols[None, :] < n_out)
        x_rows = x_ptr + row_starts(rows, n_inner, stride_xm, stride_xi)
        values = tl.load(x_rows[:, None] + idx.to(tl.int64) * stride_xn, mask=out_mask)
        v_rows = values_ptr + row_starts(rows, n_inner, stride_vm, stride_vi)
        i_rows = indices_ptr + row_starts(rows, n_inner, stride_im, stride_ii)
        tl.store(v_rows[:, None] + cols[None, :] * stride_vn, values, mask=out_mask)
        tl.store(i_rows[:, None] + cols[None, :] * stride_in, idx.to(tl.int64), mask=out_mask)
    else:
        scratch = rows[:, None] * n_padded + cols[None, :]
        tl.store(keys_ptr + scratch, keys, mask=row_mask[:, None])
        tl.store(idx_ptr + scratch, idx, mask=row_mask[:, None])


@triton.jit
def _bitonic_step_kernel(
    # pointers
    keys_ptr, idx_ptr,
    # sizes
    n_padded,
    # the step: partners 2**distance apart, runs of 2**level being formed
    distance, level,
    # meta-parameters
    BLOCK_SIZE: tl.constexpr,
):
    # One program compares BLOCK_SIZE pairs of positions (p, p + 2**distance) of one scratch row and orders each
    # pair ascending, or descending where bit `level` of p is set.
    pairs_per_row = n_padded // 2
    programs_per_row = tl.cdiv(pairs_per_row, BLOCK_SIZE)
    pid = tl.program_id(0).to(tl.int64)
    row = pid // programs_per_row
    pair = (pid % programs_per_row) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = pair < pairs_per_row
    low_bits = pair & ((1 << distance) - 1)
    lo = ((pair - low_bits) << 1) + low_bits + row * n_padded
    hi = lo + (1 << distance)
    key_lo = tl.load(keys_ptr + lo, mask=mask)
    key_hi = tl.load(keys_ptr + hi, mask=mask)
    idx_lo = tl.load(idx_ptr + lo, mask=mask)
    idx_hi = tl.load(idx_ptr + hi, mask=mask)
    descending = ((lo - row * n_padded) >> level) & 1
    greater = (key_lo > key_hi) | ((key_lo == key_hi) & (idx_lo > idx_hi))
    swap = greater != (descending != 0)
    tl.store(keys_ptr + lo, tl.where(swap, key_hi, key_lo), mask=mask)
    tl.store(keys_ptr + hi, tl.where(swap, key_lo, key_hi), mask=mask)
    tl.store(idx_ptr + lo, tl.where(swap, idx_hi, idx_lo), mask=mask)
    tl.store(idx_ptr + hi, tl.where(swap, idx_lo, idx_hi), mask=mask)


@triton.jit
def _halve_kernel(
    # pointers: scratch rows of 2 * n_half pairs in, of n_half out
    keys_ptr, idx_ptr, half_keys_ptr, half_idx_ptr,
    # sizes
    n_half, log_block,
    # meta-parameters
    BLOCK_SIZE: tl.constexpr,
):
    # One program writes BLOCK_SIZE positions q of one output row: block i = q >> log_block of the output keeps,
    # at each offset, the smaller pair of input blocks 2i (sorted up) and 2i + 1 (sorted down) at that offset.
    programs_per_row = tl.cdiv(n_half, BLOCK_SIZE)
    pid = tl.program_id(0).to(tl.int64)
    row = pid // programs_per_row
    q = (pid % programs_per_row) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = q < n_half
    offset = q & ((1 << log_block) - 1)
    up = row * 2 * n_half + ((q - offset) << 1) + offset
    down = up + (1 << log_block)
    key_up = tl.load(keys_ptr + up, mask=mask)
    key_down = tl.load(keys_ptr + down, mask=mask)
    idx_up = tl.load(idx_ptr + up, mask=mask)
    idx_down = tl.load(idx_ptr + down, mask=mask)
    take_down = (key_down < key_up) | ((key_down == key_up) & (idx_down < idx_up))
    tl.store(half_keys_ptr + row * n_half + q, tl.where(take_down, key_down, key_up), mask=mask)
    tl.store(half_idx_ptr + row * n_half + q, tl.where(take_down, idx_down, idx_up), mask=mask)


def _log2(n):
    return max(int(n) - 1, 0).bit_length()


def block_settings(n_rows, n_cols, dtype_name, max_block=None):
    """(LOG_M, LOG_BLOCK, num_warps): rows of up to one block are sorted whole, several to a program (at most one
    block of elements in all); longer rows in blocks of the largest size."""
    wide = key_is_wide(dtype_name)
    limit = max_block or (INTERPRETER_TILE if interpreting() else MAX_BLOCK[wide])
    log_block = min(_log2(max(n_cols, 2)), _log2(limit))
    log_m = max(0, min(_log2(limit) - log_block, _log2(max(n_rows, 1)))) if n_cols <= (1 << log_block) else 0
    elements = 1 << (log_m + log_block)
    return log_m, log_block, 8 if elements >= 1024 else 4


def _check(name, x, values, indices, n_rows, n_cols, n_inner, strides, max_block):
    check_view(name, x, n_rows, n_cols, n_inner, strides, FLOAT_DTYPES + INTEGRAL_DTYPES)
    dtype_name = dtype_name_of(x)
    if dtype_name_of(values) != dtype_name:
        raise TypeError(f"{name}: values must have the input's dtype {dtype_name}, got {values.dtype}")
    if dtype_name_of(indices) != "int64":
        raise TypeError(f"{name}: indices must be int64, got {indices.dtype}")
    if max_block is not None and (max_block < 2 or max_block & (max_block - 1)):
        raise ValueError(f"{name}: max_block must be a power of two >= 2, got {max_block}")


def sort_rows(x, values, indices, n_rows, n_cols, x_strides, values_strides, indices_strides, *, n_inner=1,
              descending=False, scratch=None, max_block=None):
    """Sort each row of the (n_rows, n_cols) view of `x` into the same-shaped views of `values` (x's dtype) and
    `indices` (int64). Strides are (stride_m, stride_i, stride_n) in elements, rows two-level as in reduction.py
    (row r starts at (r // n_inner) * stride_m + (r % n_inner) * stride_i). Ties keep their input order.

    Rows wider than one block need `scratch(shape, dtype)`, an allocator of contiguous device arrays (keys and
    indices of the padded rows). `max_block` caps the block (a power of two; tests use small ones to reach the
    multi-block path with small inputs)."""
    strides = (*x_strides, *values_strides, *indices_strides)
    _check("sort_rows", x, values, indices, n_rows, n_cols, n_inner, strides, max_block)
    _launch("sort_rows", x, values, indices, n_rows, n_cols, n_cols, n_inner, strides, descending, scratch, max_block)


def topk_rows(x, values, indices, n_rows, n_cols, k, x_strides, values_strides, indices_strides, *, n_inner=1,
              largest=True, scratch=None, max_block=None):
    """The first k columns of sort_rows (descending when `largest`) of each row of the (n_rows, n_cols) view of
    `x`, into (n_rows, k) views of `values` and `indices`; strides, `scratch` and `max_block` as sort_rows's.
    Rows longer than one block are halved block by block rather than sorted whole when k fits in one block."""
    strides = (*x_strides, *values_strides, *indices_strides)
    _check("topk_rows", x, values, indices, n_rows, n_cols, n_inner, strides, max_block)
    if not 0 <= k <= n_cols:
        raise ValueError(f"topk_rows: k must be in [0, {n_cols}], got {k}")
    if k:
        _launch("topk_rows", x, values, indices, n_rows, n_cols, k, n_inner, strides, largest, scratch, max_block)


def _launch(name, x, values, indices, n_rows, n_cols, n_out, n_inner, strides, descending, scratch, max_block):
    """The first n_out columns of each sorted row into values and indices (checked arguments)."""
    if n_rows == 0 or n_cols == 0:
        return
    dtype_name = dtype_name_of(x)
    wide = key_is_wide(dtype_name)
    key_dtype = tl.int64 if wide else tl.int32
    log_m, log_block, num_warps = block_settings(n_rows, n_cols, dtype_name, max_block)
    block = 1 << log_block
    outputs = (x, values, indices, values, indices)  # the scratch slots unused on one block
    flags = dict(DESCENDING=bool(descending), KEY_DTYPE=key_dtype, LOG_BLOCK=log_block, num_warps=num_warps)
    if n_cols <= block:
        _sort_block_kernel[(triton.cdiv(n_rows, 1 << log_m),)](
            *outputs, n_rows, n_cols, n_out, n_inner, block, *strides, 0,
            MERGE=False, FROM_X=True, TO_OUTPUT=True, LOG_M=log_m, **flags)
        return
    if scratch is None:
        raise ValueError(f"{name}: rows of {n_cols} columns exceed one block ({block}): pass `scratch`")
    log_n = _log2(n_cols)
    n_padded = 1 << log_n
    keys = scratch((n_rows, n_padded), "int64" if wide else "int32")
    idx = scratch((n_rows, n_padded), "int32")
    _sort_block_kernel[(n_rows * (n_padded // block),)](
        x, values, indices, keys, idx, n_rows, n_cols, n_out, n_inner, n_padded, *strides, 0,
        MERGE=False, FROM_X=True, TO_OUTPUT=False, LOG_M=0, **flags)
    step_block = min(STEP_BLOCK, n_padded // 2)
    if n_out <= block:  # halve to one block of the smallest pairs
        while n_padded > block:
            n_padded //= 2
            half_keys, half_idx = scratch((n_rows, n_padded), "int64" if wide else "int32"), \
                scratch((n_rows, n_padded), "int32")
            _halve_kernel[(n_rows * triton.cdiv(n_padded, step_block),)](
                keys, idx, half_keys, half_idx, n_padded, log_block, BLOCK_SIZE=step_block, num_warps=4)
            keys, idx = half_keys, half_idx
            _sort_block_kernel[(n_rows * (n_padded // block),)](  # level log_block: blocks alternate directions
                x, values, indices, keys, idx, n_rows, n_cols, n_out, n_inner, n_padded, *strides, log_block,
                MERGE=True, FROM_X=False, TO_OUTPUT=n_padded == block, LOG_M=0, **flags)
        return
    blocks = n_rows * (n_padded // block)
    for level in range(log_block + 1, log_n + 1):
        for distance in range(level - 1, log_block - 1, -1):
            _bitonic_step_kernel[(n_rows * triton.cdiv(n_padded // 2, step_block),)](
                keys, idx, n_padded, distance, level, BLOCK_SIZE=step_block, num_warps=4)
        _sort_block_kernel[(blocks,)](
            x, values, indices, keys, idx, n_rows, n_cols, n_out, n_inner, n_padded, *strides, level,
            MERGE=True, FROM_X=False, TO_OUTPUT=level == log_n, LOG_M=0, **flags)
