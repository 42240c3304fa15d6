"""Scans along the rows of an (n_rows, n_cols) strided view: cumprod, cummax/cummin (with the index each value came
from), logcumsumexp, and the gradient of cumprod. (cumsum lives in reduction.py.)

One program owns BLOCK_M rows and walks their columns BLOCK_SIZE at a time (reduction.default_tile), scanning each
block (tl.cumprod, or tl.associative_scan with the op's combine function) and folding in the carry from the blocks
before, so rows of any length work. REVERSE walks each row from its end. Rows may be two-level (n_inner, stride_*i),
as in reduction.py.

    cumprod:       running product (integers and bool in int64, fp16/bf16 in fp32, fp64 in fp64).
    cummax/cummin: running max/min and its index: an element takes over when it is NaN, or when no NaN came before
                   and it is >= (<=) the running value, so ties move to the later index (PyTorch's rule).
    logcumsumexp:  running log(sum(exp)): m + log1p(exp(-|a - b|)) with m = max(a, b); -inf stays -inf, +inf
                   wins, NaN propagates.
    cumprod's gradient: with y = cumprod(x) and g the output gradient, dx[k] = y[k-1] * (g[k] + v[k]),
                   v[k] = x[k+1] * (g[k+1] + v[k+1]) (a reverse scan of affine maps): no division, so zeros in x
                   need no special case.

The interpreter runs tl.associative_scan element by element (about 1 ms each): its tests keep rows short.
"""
import triton
import triton.language as tl

from .interpreter import libdevice
from .reduction import FLOAT_DTYPES, INTEGRAL_DTYPES, accumulator, cast_for_store, check_view, row_starts
from .row_settings import MAX_TILE, tile_settings
from .strided import dtype_name_of

OPS = {"cumprod": 0, "cummax": 1, "cummin": 2, "logcumsumexp": 3}
_CUMPROD = tl.constexpr(OPS["cumprod"])
_CUMMAX = tl.constexpr(OPS["cummax"])
_CUMMIN = tl.constexpr(OPS["cummin"])
_LOGCUMSUMEXP = tl.constexpr(OPS["logcumsumexp"])


@triton.jit
def _takes_max(running, x):
    return (x != x) | ((running == running) & (x >= running))


@triton.jit
def _takes_min(running, x):
    return (x != x) | ((running == running) & (x <= running))


@triton.jit
def _running_max(v1, i1, v2, i2):
    take = _takes_max(v1, v2)
    return tl.where(take, v2, v1), tl.where(take, i2, i1)


@triton.jit
def _running_min(v1, i1, v2, i2):
    take = _takes_min(v1, v2)
    return tl.where(take, v2, v1), tl.where(take, i2, i1)


@triton.jit
def _log_add_exp(a, b):
    top = tl.where(a > b, a, b)
    bottom = tl.where(a > b, b, a)
    both = top + libdevice.log1p(tl.exp(bottom - top))
    both = tl.where(top == float("inf"), top, tl.where(top == -float("inf"), top, both))
    return tl.where((a != a) | (b != b), a + b, both)  # NaN in either propagates


@triton.jit
def _compose_affine(a1, b1, a2, b2):
    # (a2, b2) after (a1, b1): v -> a2 * (a1 * v + b1) + b2
    return a2 * a1, a2 * b1 + b2


@triton.jit
def _last_lane(values, BLOCK_SIZE: tl.constexpr):
    """The last column of a [BLOCK_M, BLOCK_SIZE] block, bit for bit (NaN and -0.0 kept): its bits summed with
    zeros everywhere else."""
    last = (tl.arange(0, BLOCK_SIZE) == BLOCK_SIZE - 1)[None, :]
    if values.dtype == tl.float64:
        bits = values.to(tl.int64, bitcast=True)
        return tl.sum(tl.where(last, bits, 0), axis=1).to(tl.float64, bitcast=True)
    elif values.dtype == tl.float32:
        bits = values.to(tl.int32, bitcast=True)
        return tl.sum(tl.where(last, bits, 0), axis=1).to(tl.float32, bitcast=True)
    else:
        return tl.sum(tl.where(last, values, 0), axis=1).to(values.dtype)


@triton.jit
def _scan_kernel(
    # pointers
    x_ptr, out_ptr, index_ptr,
    # sizes
    n_rows, n_cols, n_inner,
    # strides
    stride_xm, stride_xi, stride_xn, stride_om, stride_oi, stride_on, stride_im, stride_ii, stride_in,
    # meta-parameters
    OP: tl.constexpr, ACC_DTYPE: tl.constexpr, REVERSE: tl.constexpr, BLOCK_M: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
):
    # One program scans BLOCK_M rows, block by block, carrying each row's running value (and index) across blocks.
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < n_rows
    x_rows = x_ptr + row_starts(rows, n_inner, stride_xm, stride_xi)
    out_rows = out_ptr + row_starts(rows, n_inner, stride_om, stride_oi)
    index_rows = index_ptr + row_starts(rows, n_inner, stride_im, stride_ii)
    carry = tl.zeros([BLOCK_M], ACC_DTYPE)
    carry_index = tl.zeros([BLOCK_M], tl.int64)
    if OP == _CUMPROD:
        carry += 1
    elif OP == _LOGCUMSUMEXP:
        carry -= float("inf")
    for start in range(0, n_cols, BLOCK_SIZE):
        steps = start + tl.arange(0, BLOCK_SIZE)
        if REVERSE:
            cols = (n_cols - 1 - steps).to(tl.int64)
        else:
            cols = steps.to(tl.int64)
        mask = row_mask[:, None] & (steps[None, :] < n_cols)
        if OP == _CUMPROD:
            # padding multiplies by 1 (`other=1` would be raw bits for bf16 under the interpreter)
            x = tl.load(x_rows[:, None] + cols[None, :] * stride_xn, mask=mask, other=0).to(ACC_DTYPE)
            x = tl.where(mask, x, 1)
            running = tl.cumprod(x, axis=1) * carry[:, None]
        elif OP == _LOGCUMSUMEXP:
            x = tl.load(x_rows[:, None] + cols[None, :] * stride_xn, mask=mask, other=0).to(ACC_DTYPE)
            x = tl.where(mask, x, -float("inf"))  # padding adds nothing
            running = _log_add_exp(carry[:, None], tl.associative_scan(x, 1, _log_add_exp))
        else:
            x = tl.load(x_rows[:, None] + cols[None, :] * stride_xn, mask=mask, other=0).to(ACC_DTYPE)
            index = cols[None, :] + tl.zeros([BLOCK_M, BLOCK_SIZE], tl.int64)
            if OP == _CUMMAX:
                running, running_index = tl.associative_scan((x, index), 1, _running_max)
                take = _takes_max(carry[:, None], running)
            else:
                running, running_index = tl.associative_scan((x, index), 1, _running_min)
                take = _takes_min(carry[:, None], running)
            take = take | (start == 0)  # the first block has nothing before it
            running = tl.where(take, running, carry[:, None])
            running_index = tl.where(take, running_index, carry_index[:, None])
            tl.store(index_rows[:, None] + cols[None, :] * stride_in, running_index, mask=mask)
            carry_index = tl.sum(tl.where((tl.arange(0, BLOCK_SIZE) == BLOCK_SIZE - 1)[None, :], running_index, 0),
                                 axis=1)
        tl.store(out_rows[:, None] + cols[None, :] * stride_on, cast_for_store(running, out_ptr), mask=mask)
        carry = _last_lane(running, BLOCK_SIZE)


@triton.jit
def _cumprod_backward_kernel(
    # pointers
    x_ptr, y_ptr, g_ptr, dx_ptr,
    # sizes
    n_rows, n_cols, n_inner,
    # strides
    stride_xm, stride_xi, stride_xn, stride_ym, stride_yi, stride_yn, stride_gm, stride_gi, stride_gn,
    stride_dm, stride_di, stride_dn,
    # meta-parameters
    ACC_DTYPE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program writes dx for BLOCK_M rows, walking each row from its end: v[k] = x[k+1] * (g[k+1] + v[k+1]) is a
    # scan of affine maps v -> a * v + b with (a, b) = (x[k+1], x[k+1] * g[k+1]); dx[k] = y[k-1] * (g[k] + v[k]).
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_mask = rows < n_rows
    x_rows = x_ptr + row_starts(rows, n_inner, stride_xm, stride_xi)
    y_rows = y_ptr + row_starts(rows, n_inner, stride_ym, stride_yi)
    g_rows = g_ptr + row_starts(rows, n_inner, stride_gm, stride_gi)
    dx_rows = dx_ptr + row_starts(rows, n_inner, stride_dm, stride_di)
    carry = tl.zeros([BLOCK_M], ACC_DTYPE)  # v at the column after this block
    for start in range(0, n_cols, BLOCK_SIZE):
        steps = start + tl.arange(0, BLOCK_SIZE)
        cols = (n_cols - 1 - steps).to(tl.int64)
        mask = row_mask[:, None] & (steps[None, :] < n_cols)
        has_next = mask & (cols[None, :] + 1 < n_cols)
        x_next = tl.load(x_rows[:, None] + (cols[None, :] + 1) * stride_xn, mask=has_next, other=0).to(ACC_DTYPE)
        g_next = tl.load(g_rows[:, None] + (cols[None, :] + 1) * stride_gn, mask=has_next, other=0).to(ACC_DTYPE)
        scale, shift = tl.associative_scan((x_next, x_next * g_next), 1, _compose_affine)
        v = scale * carry[:, None] + shift
        has_previous = mask & (cols[None, :] > 0)
        y_previous = tl.load(y_rows[:, None] + (cols[None, :] - 1) * stride_yn, mask=has_previous, other=0)
        y_previous = tl.where(has_previous, y_previous.to(ACC_DTYPE), 1)  # y[-1] = 1: the empty product
        g = tl.load(g_rows[:, None] + cols[None, :] * stride_gn, mask=mask, other=0).to(ACC_DTYPE)
        dx = y_previous * (g + v)
        tl.store(dx_rows[:, None] + cols[None, :] * stride_dn, cast_for_store(dx, dx_ptr), mask=mask)
        carry = _last_lane(v, BLOCK_SIZE)


def default_tile(n_rows, n_cols, dtype):
    """(BLOCK_M, BLOCK_SIZE, num_warps): tile_settings at half the reductions' tile (a quarter for 64-bit
    accumulators: float64, and integers, which scan in int64). AOT (sm_90, 8 warps): cummin of float64 over packed
    rows of 128 x 16 took 128 registers and spilled 16 bytes; the scans' (value, index) pairs hold more live state
    than a reduction's accumulator."""
    wide = str(dtype) == "float64" or str(dtype) in INTEGRAL_DTYPES
    max_tile = MAX_TILE // 4 if wide else MAX_TILE // 2
    return tile_settings(n_rows, n_cols, max_block_size=max_tile, max_tile=max_tile)


def _strides3(strides, name, what):
    if len(strides) != 3:
        raise ValueError(f"{name}: {what} strides must be (stride_m, stride_i, stride_n), got {tuple(strides)}")
    return tuple(strides)


def scan_rows(op, x, out, n_rows, n_cols, x_strides, out_strides, *, index=None, index_strides=(0, 0, 0),
              n_inner=1, reverse=False, tile=None):
    """`op` ('cumprod', 'cummax', 'cummin', 'logcumsumexp') along each row of the (n_rows, n_cols) view of `x` into
    the same-shaped view of `out` (its dtype is what is stored: int64 for an integer cumprod). cummax/cummin also
    write `index` (int64). Strides are (stride_m, stride_i, stride_n) in elements; rows two-level as reduction.py.
    `reverse` scans from each row's end (logcumsumexp's gradient)."""
    name = "scan_rows"
    if op not in OPS:
        raise ValueError(f"{name}: unknown op {op!r}; expected one of {', '.join(OPS)}")
    x_strides, out_strides = _strides3(x_strides, name, "x"), _strides3(out_strides, name, "out")
    index_strides = _strides3(index_strides, name, "index")
    check_view(name, x, n_rows, n_cols, n_inner, x_strides + out_strides + index_strides,
               FLOAT_DTYPES if op == "logcumsumexp" else FLOAT_DTYPES + INTEGRAL_DTYPES)
    extreme = op in ("cummax", "cummin")
    if extreme and (index is None or dtype_name_of(index) != "int64"):
        raise TypeError(f"{name}: {op} needs an int64 `index` output")
    if n_rows == 0 or n_cols == 0:
        return
    block_m, block_size, num_warps = tile or default_tile(n_rows, n_cols, x.dtype)
    _scan_kernel[(triton.cdiv(n_rows, block_m),)](
        x, out, index if extreme else out,
        n_rows, n_cols, n_inner,
        *x_strides, *out_strides, *(index_strides if extreme else out_strides),
        OP=OPS[op], ACC_DTYPE=accumulator(dtype_name_of(x)), REVERSE=reverse, BLOCK_M=block_m,
        BLOCK_SIZE=block_size, num_warps=num_warps,
    )


def cumprod_backward_rows(x, y, g, dx, n_rows, n_cols, x_strides, y_strides, g_strides, dx_strides, *, n_inner=1,
                          tile=None):
    """dx = the gradient of y = cumprod(x) along each row, for output gradient g (all floating, same-shaped views;
    strides (stride_m, stride_i, stride_n))."""
    name = "cumprod_backward_rows"
    strides = tuple(_strides3(s, name, w) for s, w in ((x_strides, "x"), (y_strides, "y"), (g_strides, "g"),
                                                        (dx_strides, "dx")))
    check_view(name, x, n_rows, n_cols, n_inner, sum(strides, ()), FLOAT_DTYPES)
    if n_rows == 0 or n_cols == 0:
        return
    block_m, block_size, num_warps = tile or default_tile(n_rows, n_cols, x.dtype)
    _cumprod_backward_kernel[(triton.cdiv(n_rows, block_m),)](
        x, y, g, dx, n_rows, n_cols, n_inner, *sum(strides, ()),
        ACC_DTYPE=accumulator(dtype_name_of(x)), BLOCK_M=block_m, BLOCK_SIZE=block_size, num_warps=num_warps,
    )
