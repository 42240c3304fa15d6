"""Row reductions and cumsum over an (n_rows, n_cols) strided view: one kernel per family, the op a constexpr.

The caller moves the reduced dims last and merges them into one column dim (copying only a view that cannot be
merged), so every reduction is "reduce each row". A program owns BLOCK_M rows and walks their columns
BLOCK_SIZE at a time (`row_settings.tile_settings`): short rows pack many to a program, wide rows loop.

Rows: row r of a view starts at (r // n_inner) * stride_xm + (r % n_inner) * stride_xi (elements), so the kept
dims may form two groups that do not merge: a reduction over dim 1 of a contiguous (A, B, C) array is rows
(A, C) with strides (B*C, 1) and columns of stride C, with no copy. Plain 2-D views pass n_inner=1 (the
default; Triton then specialises the division away).

`reduce_rows` serves sum, prod, mean, max/min (optionally with the first index of the extreme: max(dim),
argmax), all, any, count_nonzero, var/std (two passes: mean, then squared deviations), norm (p = 2, 1, 0, inf,
-inf or any other p) and logsumexp (online (max, sum-exp), no exp of raw values). `cumsum_rows` writes running
sums along each row, or from the end of the row (REVERSE, the backward of cumsum).

Numbers follow PyTorch: float16/bfloat16 accumulate in float32, float64 in float64, integers and bool in int64
(sum, prod and cumsum of integers give int64; the caller's output dtype decides what is stored). NaN
propagates through max/min and counts as the extreme for argmax/argmin (the first NaN's index). An empty row
gives the op's identity (sum 0, prod 1, mean/var nan, logsumexp -inf, all True); max, min and the inf/-inf
norms have none: the caller raises before launching.
"""
import math

import triton
import triton.language as tl

from .copy import round_to_bfloat16
from .row_settings import MAX_TILE, tile_settings
from .strided import dtype_name_of

# op codes: the launchers' names -> the kernels' OP constexpr ('norm' picks one of the _NORM_* by p)
OPS = {"sum": 0, "prod": 1, "max": 2, "min": 3, "all": 4, "any": 5, "count_nonzero": 6, "mean": 7, "var": 8,
       "std": 9, "logsumexp": 10, "norm": None}
_NORM_CODES = {2.0: 11, 1.0: 12, 0.0: 13, math.inf: 14, -math.inf: 15}
_NORM_P_CODE = 16
_SUM = tl.constexpr(OPS["sum"])
_PROD = tl.constexpr(OPS["prod"])
_MAX = tl.constexpr(OPS["max"])
_MIN = tl.constexpr(OPS["min"])
_ALL = tl.constexpr(OPS["all"])
_ANY = tl.constexpr(OPS["any"])
_COUNT_NONZERO = tl.constexpr(OPS["count_nonzero"])
_MEAN = tl.constexpr(OPS["mean"])
_VAR = tl.constexpr(OPS["var"])
_STD = tl.constexpr(OPS["std"])
_LOGSUMEXP = tl.constexpr(OPS["logsumexp"])
_NORM_2 = tl.constexpr(_NORM_CODES[2.0])
_NORM_1 = tl.constexpr(_NORM_CODES[1.0])
_NORM_0 = tl.constexpr(_NORM_CODES[0.0])
_NORM_INF = tl.constexpr(_NORM_CODES[math.inf])
_NORM_NEG_INF = tl.constexpr(_NORM_CODES[-math.inf])
_NORM_P = tl.constexpr(_NORM_P_CODE)
_NO_IDENTITY = (_MAX, _MIN, _NORM_INF, _NORM_NEG_INF)  # an empty row is the caller's error
_FLOAT_ONLY = ("mean", "var", "std", "logsumexp", "norm")
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INTEGRAL_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64")


def accumulator(name):
    """The dtype a kernel computes in for inputs of dtype `name`: fp32 for fp32/fp16/bf16, fp64 for fp64,
    int64 for integers and bool."""
    if name == "float64":
        return tl.float64
    return tl.float32 if name in FLOAT_DTYPES else tl.int64


@triton.jit
def cast_for_store(value, ptr):
    """`value` in the element type of `ptr`; bf16 rounds to nearest even (the interpreter's cast truncates)."""
    if ptr.dtype.element_ty == tl.bfloat16:
        return round_to_bfloat16(value.to(tl.float32))
    return value.to(ptr.dtype.element_ty)


@triton.jit
def row_starts(rows, n_inner, stride_m, stride_i):
    """Offsets (elements) of the first element of `rows` (int64): row r is (r // n_inner, r % n_inner)."""
    return (rows // n_inner) * stride_m + (rows % n_inner) * stride_i


@triton.jit
def _multiply(a, b):
    return a * b


@triton.jit
def _load_block(x_rows, row_mask, start, n_cols, stride_xn, ACC_DTYPE: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """Columns [start, start + BLOCK_SIZE) of the rows starting at `x_rows` ([BLOCK_M] pointers) in ACC_DTYPE, 0
    where masked; the mask; the column indices. Converted before any math: the interpreter holds bf16 as raw bits."""
    cols = start + tl.arange(0, BLOCK_SIZE)
    mask = row_mask[:, None] & (cols[None, :] < n_cols)
    x = tl.load(x_rows[:, None] + cols[None, :].to(tl.int64) * stride_xn, mask=mask, other=0).to(ACC_DTYPE)
    return x, mask, cols


@triton.jit
def _extreme_rows(x_rows, row_mask, n_cols, stride_xn,
                  IS_MAX: tl.constexpr, ABS: tl.constexpr, ACC_DTYPE: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """(max or min of each row, index of its first occurrence), NaN winning at its first position.

    Each lane keeps the best value it has seen and where (a strict comparison keeps the earliest), seeded with
    the row's first element, so no dtype-specific identity is needed. Comparisons with NaN are false, so NaNs are
    tracked apart (their first column) and override the result."""
    first = tl.load(x_rows, mask=row_mask, other=0).to(ACC_DTYPE)
    if ABS:
        first = tl.abs(first)
    best = first[:, None] + tl.zeros([BLOCK_M, BLOCK_SIZE], ACC_DTYPE)
    best_col = tl.zeros([BLOCK_M, BLOCK_SIZE], tl.int32)
    nan_col = tl.zeros([BLOCK_M, BLOCK_SIZE], tl.int32) + n_cols
    for start in range(0, n_cols, BLOCK_SIZE):
        x, mask, cols = _load_block(x_rows, row_mask, start, n_cols, stride_xn, ACC_DTYPE, BLOCK_SIZE)
        if ABS:
            x = tl.abs(x)
        if IS_MAX:
            better = mask & (x > best)
        else:
            better = mask & (x < best)
        best = tl.where(better, x, best)
        best_col = tl.where(better, cols[None, :], best_col)
        nan_col = tl.minimum(nan_col, tl.where(mask & (x != x), cols[None, :], n_cols))
    if IS_MAX:
        value = tl.max(best, axis=1)
    else:
        value = tl.min(best, axis=1)
    index = tl.min(tl.where(best == value[:, None], best_col, n_cols), axis=1)
    first_nan = tl.min(nan_col, axis=1)
    has_nan = first_nan < n_cols
    # The NaN itself, read back: keeps integer rows (which have none) free of float constants.
    nan = tl.load(x_rows + first_nan.to(tl.int64) * stride_xn, mask=row_mask & has_nan,
                  other=0).to(ACC_DTYPE)
    value = tl.where(has_nan, nan, value)
    index = tl.where(has_nan, first_nan, index)
    return value, index


@triton.jit
def online_logsumexp(x_rows, row_mask, n_cols, stride_xn,
                      ACC_DTYPE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """(max, sum of exp(x - shift)) of each row in one pass, shift = max, or 0 where the max is +-inf (so rows of
    -inf give sum 0 and rows holding +inf give sum inf, never inf - inf). NaN reaches the sum, not the max."""
    row_max = tl.full([BLOCK_M], -float("inf"), ACC_DTYPE)
    sum_exp = tl.zeros([BLOCK_M], ACC_DTYPE)
    for start in range(0, n_cols, BLOCK_SIZE):
        x, mask, cols = _load_block(x_rows, row_mask, start, n_cols, stride_xn, ACC_DTYPE, BLOCK_SIZE)
        x = tl.where(mask, x, -float("inf"))
        new_max = tl.maximum(row_max, tl.max(tl.where(x == x, x, -float("inf")), axis=1))
        shift = tl.where(tl.abs(row_max) == float("inf"), 0.0, row_max)
        new_shift = tl.where(tl.abs(new_max) == float("inf"), 0.0, new_max)
        # exp(shift - new_shift) may overflow only when the new max is +inf: the sum is inf then anyway.
        rescaled = tl.where(sum_exp == 0, 0.0, sum_exp * tl.exp(shift - new_shift))
        sum_exp = rescaled + tl.sum(tl.exp(x - new_shift[:, None]), axis=1)
        row_max = new_max
    return row_max, sum_exp


@triton.jit
def _sum_rows(x_rows, row_mask, n_cols, stride_xn, p, OP: tl.constexpr, ACC_DTYPE: tl.constexpr,
              BLOCK_M: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """Sum over each row of x, |x|, x*x, |x|^p or (x != 0) (in int32 lanes, an int64 total), by OP; per-lane
    partial sums, one tree reduction at the end."""
    COUNT: tl.constexpr = (OP == _ALL) or (OP == _ANY) or (OP == _COUNT_NONZERO)
    if COUNT:
        acc = tl.zeros([BLOCK_M, BLOCK_SIZE], tl.int32)
    else:
        acc = tl.zeros([BLOCK_M, BLOCK_SIZE], ACC_DTYPE)
    for start in range(0, n_cols, BLOCK_SIZE):
        x, mask, cols = _load_block(x_rows, row_mask, start, n_cols, stride_xn, ACC_DTYPE, BLOCK_SIZE)
        if COUNT:
            acc += (x != 0).to(tl.int32)
        elif OP == _NORM_0:
            acc += (x != 0).to(ACC_DTYPE)
        elif OP == _NORM_1:
            acc += tl.abs(x)
        elif OP == _NORM_2:
            acc += x * x
        elif OP == _NORM_P:
            # |x|^p as exp2(p log2|x|): 0^p is 0 for p > 0 and inf for p < 0, as pow; masked lanes add 0.
            acc += tl.where(mask, tl.exp2(p * tl.log2(tl.abs(x))), 0.0)
        else:
            acc += x
    if COUNT:
        return tl.sum(acc.to(tl.int64), axis=1)
    return tl.sum(acc, axis=1)


@triton.jit
def _row_reduce_kernel(
    # pointers
    x_ptr, out_ptr, index_ptr,
    # sizes
    n_rows, n_cols, n_inner,
    # strides
    stride_xm, stride_xi, stride_xn,
    # meta-parameters
    param,  # var/std: the correction; norm: p
    OP: tl.constexpr, ACC_DTYPE: tl.constexpr, WRITE_VALUE: tl.constexpr, WRITE_INDEX: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program reduces BLOCK_M rows of x to one value each (and, for max/min, the index of that value).
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < n_rows
    x_rows = x_ptr + row_starts(rows, n_inner, stride_xm, stride_xi)
    index = tl.zeros([BLOCK_M], tl.int32)
    if OP == _MAX or OP == _MIN or OP == _NORM_INF or OP == _NORM_NEG_INF:
        value, index = _extreme_rows(x_rows, row_mask, n_cols, stride_xn, OP == _MAX or OP == _NORM_INF,
                                     OP == _NORM_INF or OP == _NORM_NEG_INF, ACC_DTYPE, BLOCK_M, BLOCK_SIZE)
    elif OP == _LOGSUMEXP:
        row_max, sum_exp = online_logsumexp(x_rows, row_mask, n_cols, stride_xn, ACC_DTYPE, BLOCK_M, BLOCK_SIZE)
        value = tl.log(sum_exp) + tl.where(tl.abs(row_max) == float("inf"), 0.0, row_max)
    elif OP == _PROD:
        acc = tl.full([BLOCK_M, BLOCK_SIZE], 1, ACC_DTYPE)
        for start in range(0, n_cols, BLOCK_SIZE):
            x, mask, cols = _load_block(x_rows, row_mask, start, n_cols, stride_xn, ACC_DTYPE, BLOCK_SIZE)
            acc *= tl.where(mask, x, 1)
        value = tl.reduce(acc, 1, _multiply)
    elif OP == _VAR or OP == _STD:
        mean = _sum_rows(x_rows, row_mask, n_cols, stride_xn, param, _SUM, ACC_DTYPE, BLOCK_M, BLOCK_SIZE) / n_cols
        acc = tl.zeros([BLOCK_M, BLOCK_SIZE], ACC_DTYPE)
        for start in range(0, n_cols, BLOCK_SIZE):
            x, mask, cols = _load_block(x_rows, row_mask, start, n_cols, stride_xn, ACC_DTYPE, BLOCK_SIZE)
            deviation = tl.where(mask, x - mean[:, None], 0.0)
            acc += deviation * deviation
        # n - correction (0 gives inf or nan, as PyTorch), in ACC_DTYPE: fp32 would round n above 2**24
        divisor = tl.maximum(tl.zeros([BLOCK_M], ACC_DTYPE) + n_cols - param, 0.0)
        value = tl.sum(acc, axis=1) / divisor
        if OP == _STD:
            value = tl.sqrt(value)
    else:
        value = _sum_rows(x_rows, row_mask, n_cols, stride_xn, param, OP, ACC_DTYPE, BLOCK_M, BLOCK_SIZE)
        if OP == _ALL:
            value = value == n_cols
        elif OP == _ANY:
            value = value > 0
        elif OP == _MEAN:
            value = value / n_cols  # the mean of nothing is 0 / 0 = nan
        elif OP == _NORM_2:
            value = tl.sqrt(value)
        elif OP == _NORM_P:
            value = tl.exp2(tl.log2(value) / param)
    if WRITE_VALUE:
        tl.store(out_ptr + rows, cast_for_store(value, out_ptr), mask=row_mask)
    if WRITE_INDEX:
        tl.store(index_ptr + rows, index.to(index_ptr.dtype.element_ty), mask=row_mask)


@triton.jit
def _sign(x):
    return tl.where(x > 0, 1.0, tl.where(x < 0, -1.0, 0.0)).to(x.dtype)


@triton.jit
def _row_reduce_backward_kernel(
    # pointers
    x_ptr, out_ptr, g_ptr, index_ptr, dx_ptr,
    # sizes
    n_rows, n_cols, n_inner,
    # strides
    stride_xm, stride_xi, stride_xn, stride_g, stride_dm, stride_di, stride_dn,
    # meta-parameters
    param,  # var/std: the correction; norm: p
    OP: tl.constexpr, SCATTER: tl.constexpr, ACC_DTYPE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program writes dx = g * d(reduction)/dx for BLOCK_M rows: a first pass over each row where the op needs
    # a statistic (the mean, the number of tied extremes, the product of the nonzero elements), then every element.
    # SCATTER (max(dim)/min(dim)): g at the row's saved index, 0 elsewhere.
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < n_rows
    x_rows = x_ptr + row_starts(rows, n_inner, stride_xm, stride_xi)
    dx_rows = dx_ptr + row_starts(rows, n_inner, stride_dm, stride_di)
    g = tl.load(g_ptr + rows * stride_g, mask=row_mask, other=0).to(ACC_DTYPE)
    EXTREME: tl.constexpr = (OP == _MAX) or (OP == _MIN) or (OP == _NORM_INF) or (OP == _NORM_NEG_INF)
    NORM_EXTREME: tl.constexpr = (OP == _NORM_INF) or (OP == _NORM_NEG_INF)
    READS_X: tl.constexpr = not (SCATTER or OP == _SUM or OP == _MEAN or OP == _NORM_0)
    if not SCATTER and (EXTREME or OP == _STD or OP == _NORM_2 or OP == _NORM_P or OP == _LOGSUMEXP):
        out = tl.load(out_ptr + rows, mask=row_mask, other=0).to(ACC_DTYPE)
    coef = g
    if SCATTER:
        index = tl.load(index_ptr + rows, mask=row_mask, other=-1)
    elif OP == _MEAN:
        coef = g / n_cols
    elif OP == _VAR or OP == _STD:
        mean = _sum_rows(x_rows, row_mask, n_cols, stride_xn, param, _SUM, ACC_DTYPE, BLOCK_M, BLOCK_SIZE) / n_cols
        if OP == _STD:
            coef = tl.where(out == 0, 0.0, g / (2 * out))  # d sqrt(v) = dv / (2 std); 0 where std is 0, as PyTorch
        coef = 2 * coef / tl.maximum(tl.zeros([BLOCK_M], ACC_DTYPE) + n_cols - param, 0.0)
    elif EXTREME:
        # The gradient is shared evenly among the elements equal to the result (among the NaNs when it is NaN).
        ties = tl.zeros([BLOCK_M, BLOCK_SIZE], tl.int32)
        for start in range(0, n_cols, BLOCK_SIZE):
            x, mask, cols = _load_block(x_rows, row_mask, start, n_cols, stride_xn, ACC_DTYPE, BLOCK_SIZE)
            if NORM_EXTREME:
                x = tl.abs(x)
            ties += (mask & ((x == out[:, None]) | ((x != x) & (out != out)[:, None]))).to(tl.int32)
        coef = g / tl.sum(ties, axis=1).to(ACC_DTYPE)
    elif OP == _PROD:
        # d prod / dx_j = product of the others: P / x_j without zeros, P at the only zero, 0 with two or more.
        product = tl.full([BLOCK_M, BLOCK_SIZE], 1, ACC_DTYPE)
        zeros = tl.zeros([BLOCK_M, BLOCK_SIZE], tl.int32)
        for start in range(0, n_cols, BLOCK_SIZE):
            x, mask, cols = _load_block(x_rows, row_mask, start, n_cols, stride_xn, ACC_DTYPE, BLOCK_SIZE)
            product *= tl.where(mask & (x != 0), x, 1)
            zeros += (mask & (x == 0)).to(tl.int32)
        nonzero_product = tl.reduce(product, 1, _multiply)
        n_zeros = tl.sum(zeros, axis=1)
    elif OP == _NORM_2:
        coef = tl.where(out == 0, 0.0, g / out)
    elif OP == _NORM_P:
        # d ||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1): for p < 1 written as * ||x||^(1-p) (0 at a zero norm)
        norm_power = tl.exp2((param - 1) * tl.log2(out))
        coef = tl.where(param < 1, g / norm_power, tl.where(out == 0, 0.0, g / norm_power))
    for start in range(0, n_cols, BLOCK_SIZE):
        cols = start + tl.arange(0, BLOCK_SIZE)
        mask = row_mask[:, None] & (cols[None, :] < n_cols)
        if READS_X:
            x, mask, cols = _load_block(x_rows, row_mask, start, n_cols, stride_xn, ACC_DTYPE, BLOCK_SIZE)
        if SCATTER:
            dx = tl.where(cols[None, :] == index[:, None], g[:, None], 0.0)
        elif OP == _SUM or OP == _MEAN:
            dx = coef[:, None] + tl.zeros([BLOCK_M, BLOCK_SIZE], ACC_DTYPE)
        elif OP == _NORM_0:
            dx = tl.zeros([BLOCK_M, BLOCK_SIZE], ACC_DTYPE)
        elif OP == _VAR or OP == _STD:
            dx = coef[:, None] * (x - mean[:, None])
        elif EXTREME:
            if NORM_EXTREME:
                chosen = (tl.abs(x) == out[:, None]) | ((x != x) & (out != out)[:, None])
                dx = tl.where(chosen, coef[:, None], 0.0) * _sign(x)
            else:
                chosen = (x == out[:, None]) | ((x != x) & (out != out)[:, None])
                dx = tl.where(chosen, coef[:, None], 0.0)
        elif OP == _PROD:
            others = tl.where(n_zeros[:, None] == 0, nonzero_product[:, None] / x,
                              tl.where((n_zeros[:, None] == 1) & (x == 0), nonzero_product[:, None], 0.0))
            dx = coef[:, None] * others
        elif OP == _NORM_1:
            dx = coef[:, None] * _sign(x)
        elif OP == _NORM_2:
            dx = coef[:, None] * x
        elif OP == _NORM_P:
            scaled = tl.where(x == 0, 0.0, _sign(x) * tl.exp2((param - 1) * tl.log2(tl.abs(x))))
            dx = coef[:, None] * scaled
        else:  # logsumexp: softmax(x) * g
            dx = coef[:, None] * tl.exp(x - out[:, None])
        tl.store(dx_rows[:, None] + cols[None, :].to(tl.int64) * stride_dn, cast_for_store(dx, dx_ptr), mask=mask)


@triton.jit
def _cumsum_kernel(
    # pointers
    x_ptr, out_ptr,
    # sizes
    n_rows, n_cols, n_inner,
    # strides
    stride_xm, stride_xi, stride_xn, stride_om, stride_oi, stride_on,
    # meta-parameters
    ACC_DTYPE: tl.constexpr, REVERSE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program writes the running sums of BLOCK_M rows, block by block, carrying each row's total so far;
    # REVERSE walks each row from its last column (out[j] = sum of x[j:]).
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < n_rows
    x_rows = x_ptr + row_starts(rows, n_inner, stride_xm, stride_xi)
    out_rows = out_ptr + row_starts(rows, n_inner, stride_om, stride_oi)
    carry = tl.zeros([BLOCK_M], ACC_DTYPE)
    for start in range(0, n_cols, BLOCK_SIZE):
        steps = start + tl.arange(0, BLOCK_SIZE)
        if REVERSE:
            cols = (n_cols - 1 - steps).to(tl.int64)
        else:
            cols = steps.to(tl.int64)
        mask = row_mask[:, None] & (steps[None, :] < n_cols)
        x = tl.load(x_rows[:, None] + cols[None, :] * stride_xn, mask=mask, other=0).to(ACC_DTYPE)
        running = tl.cumsum(x, axis=1) + carry[:, None]
        tl.store(out_rows[:, None] + cols[None, :] * stride_on,
                 cast_for_store(running, out_ptr), mask=mask)
        carry += tl.sum(x, axis=1)


def default_tile(n_rows, n_cols, dtype):
    """(BLOCK_M, BLOCK_SIZE, num_warps) for these kernels: `tile_settings`, halved for float64 (twice the registers
    per element: the packed-rows backward of var/norm took 236-255 registers at 4096 fp64 elements, 130-140 at
    2048; AOT, sm_80/sm_90)."""
    max_tile = MAX_TILE // 2 if str(dtype) == "float64" else MAX_TILE
    return tile_settings(n_rows, n_cols, max_block_size=max_tile, max_tile=max_tile)


def check_view(name, x, n_rows, n_cols, n_inner, strides, dtypes):
    if n_rows < 0 or n_cols < 0:
        raise ValueError(f"{name}: need n_rows >= 0 and n_cols >= 0, got {n_rows} x {n_cols}")
    if n_inner < 1 or n_rows % n_inner:
        raise ValueError(f"{name}: n_inner ({n_inner}) must be >= 1 and divide n_rows ({n_rows})")
    if n_cols >= 2 ** 31:
        raise ValueError(f"{name}: rows of {n_cols} columns exceed the kernels' int32 column index")
    if any(s < 0 for s in strides):
        raise ValueError(f"{name}: strides must be >= 0 (elements), got {tuple(strides)}")
    if dtype_name_of(x) not in dtypes:
        raise TypeError(f"{name}: unsupported input dtype {x.dtype}; expected one of {', '.join(dtypes)}")


def _check_rows_out(name, what, array, n_rows):
    size = math.prod(array.shape)
    if size != n_rows:
        raise ValueError(f"{name}: `{what}` must hold one element per row ({n_rows}), got shape {tuple(array.shape)}")
    if size > 1 and not _is_contiguous(array):
        raise ValueError(f"{name}: `{what}` must be contiguous, got strides {tuple(array.stride())}")


def _is_contiguous(array):
    expected = 1
    for size, stride in zip(reversed(array.shape), reversed(array.stride())):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


def _code_and_param(op, correction, p):
    """The kernel's OP code and its runtime `param` (var/std: the correction; norm: p)."""
    if op == "norm":
        return _NORM_CODES.get(float(p), _NORM_P_CODE), float(p)
    return OPS[op], float(correction) if op in ("var", "std") else 0.0


def reduce_rows(op, x, out, n_rows, n_cols, stride_xm, stride_xn, *, n_inner=1, stride_xi=0, index=None,
                correction=1.0, p=2.0, tile=None):
    """Reduce each row of the (n_rows, n_cols) view of `x` (element strides stride_xm, stride_xn from its
    data_ptr; two-level rows with n_inner, stride_xi: see the module) into `out` (n_rows elements, contiguous,
    any dtype: the result is cast on store).

    op: 'sum', 'prod', 'mean', 'max', 'min', 'all', 'any', 'count_nonzero', 'var', 'std' (with `correction`),
    'norm' (with `p`: 2, 1, 0, inf, -inf or any float) or 'logsumexp'. For 'max'/'min', `index` (n_rows
    int64) receives the first index of each row's extreme (of its first NaN if any); `out` may then be None
    (argmax/argmin). `tile`: (BLOCK_M, BLOCK_SIZE, num_warps), default from `tile_settings`.
    """
    name = "reduce_rows"
    if op not in OPS:
        raise ValueError(f"{name}: unknown op {op!r}; expected one of {', '.join(OPS)}")
    check_view(name, x, n_rows, n_cols, n_inner, (stride_xm, stride_xi, stride_xn),
                FLOAT_DTYPES if op in _FLOAT_ONLY else FLOAT_DTYPES + INTEGRAL_DTYPES)
    code, param = _code_and_param(op, correction, p)
    if index is not None and op not in ("max", "min"):
        raise ValueError(f"{name}: only 'max' and 'min' write an `index`, not {op!r}")
    if out is None and index is None:
        raise ValueError(f"{name}: nothing to write: pass `out` (and/or `index` for max/min)")
    for what, array in (("out", out), ("index", index)):
        if array is not None:
            _check_rows_out(name, what, array, n_rows)
    if index is not None and dtype_name_of(index) != "int64":
        raise TypeError(f"{name}: `index` must be int64, got {index.dtype}")
    if n_cols == 0 and n_rows > 0 and code in _NO_IDENTITY:
        raise ValueError(f"{name}: {op} over rows of 0 columns has no identity (the caller raises PyTorch's error)")
    if n_rows == 0:
        return
    block_m, block_size, num_warps = tile or default_tile(n_rows, n_cols, x.dtype)
    _row_reduce_kernel[(triton.cdiv(n_rows, block_m),)](
        x, out if out is not None else index, index if index is not None else out,
        n_rows, n_cols, n_inner,
        stride_xm, stride_xi, stride_xn,
        param,
        OP=code, ACC_DTYPE=accumulator(dtype_name_of(x)), WRITE_VALUE=out is not None,
        WRITE_INDEX=index is not None,
        BLOCK_M=block_m, BLOCK_SIZE=block_size,
        num_warps=num_warps,
    )


_BACKWARD_NEEDS_OUT = ("max", "min", "std", "logsumexp")


def reduce_rows_backward(op, x, g, dx, n_rows, n_cols, stride_xm, stride_xn, stride_dm, stride_dn, *, n_inner=1,
                         stride_xi=0, stride_di=0, stride_g=1, out=None, index=None, correction=1.0, p=2.0, tile=None):
    """The gradient of `reduce_rows(op, x, out, ...)` into `dx` (the same-shaped view of x's gradient, strides in
    elements): g[row] * d out[row] / d x[row, col], with g one value per row (stride `stride_g`; 0 broadcasts one
    value). op: 'sum', 'mean', 'prod', 'max'/'min' (shared among ties; with `index`, all to the saved index:
    max(dim)), 'var'/'std' (with `correction`), 'norm' (with `p`) or 'logsumexp'. 'max', 'min', 'std',
    'logsumexp' and norms with p not in (0, 1) read the forward's `out` (n_rows, contiguous)."""
    name = "reduce_rows_backward"
    if op not in OPS or op in ("all", "any", "count_nonzero"):
        raise ValueError(f"{name}: no gradient for op {op!r}")
    check_view(name, x, n_rows, n_cols, n_inner, (stride_xm, stride_xi, stride_xn, stride_dm, stride_di, stride_dn),
               FLOAT_DTYPES)
    for what, array in (("g", g), ("dx", dx)):
        if dtype_name_of(array) not in FLOAT_DTYPES:
            raise TypeError(f"{name}: `{what}` must be floating point, got {array.dtype}")
    code, param = _code_and_param(op, correction, p)
    needs_out = op in _BACKWARD_NEEDS_OUT and index is None or op == "norm" and p not in (0.0, 1.0)
    if needs_out and out is None:
        raise ValueError(f"{name}: the gradient of {op!r} needs the forward's `out`")
    if index is not None and op not in ("max", "min"):
        raise ValueError(f"{name}: only 'max' and 'min' take an `index`, not {op!r}")
    for what, array in (("out", out), ("index", index)):
        if array is not None:
            _check_rows_out(name, what, array, n_rows)
    if n_rows == 0 or n_cols == 0:
        return
    block_m, block_size, num_warps = tile or default_tile(n_rows, n_cols, x.dtype)
    _row_reduce_backward_kernel[(triton.cdiv(n_rows, block_m),)](
        x, out if out is not None else g, g, index if index is not None else g, dx,
        n_rows, n_cols, n_inner,
        stride_xm, stride_xi, stride_xn, stride_g, stride_dm, stride_di, stride_dn,
        param,
        OP=code, SCATTER=index is not None, ACC_DTYPE=accumulator(dtype_name_of(x)), BLOCK_M=block_m,
        BLOCK_SIZE=block_size,
        num_warps=num_warps,
    )


def cumsum_rows(x, out, n_rows, n_cols, stride_xm, stride_xn, stride_om, stride_on, *, n_inner=1, stride_xi=0,
                stride_oi=0, reverse=False, tile=None):
    """Running sums along each row of the (n_rows, n_cols) view of `x` into the same-shaped view of `out`
    (strides in elements, two-level rows as `reduce_rows`; out's dtype is what is stored: int64 for integer
    inputs, as PyTorch). With `reverse`, out[i, j] = sum of x[i, j:] (the backward of cumsum)."""
    name = "cumsum_rows"
    check_view(name, x, n_rows, n_cols, n_inner, (stride_xm, stride_xi, stride_xn, stride_om, stride_oi, stride_on),
                FLOAT_DTYPES + INTEGRAL_DTYPES)
    if n_rows == 0 or n_cols == 0:
        return
    block_m, block_size, num_warps = tile or default_tile(n_rows, n_cols, x.dtype)
    _cumsum_kernel[(triton.cdiv(n_rows, block_m),)](
        x, out,
        n_rows, n_cols, n_inner,
        stride_xm, stride_xi, stride_xn, stride_om, stride_oi, stride_on,
        ACC_DTYPE=accumulator(dtype_name_of(x)), REVERSE=reverse, BLOCK_M=block_m, BLOCK_SIZE=block_size,
        num_warps=num_warps,
    )
