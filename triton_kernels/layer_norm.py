"""Layer normalization and RMS normalization (PyTorch's native_layer_norm and _fused_rms_norm) forward and
backward over the last N elements of each of M contiguous rows; one flag, RMS, turns the first into the second
(no mean: x / sqrt(mean(x^2) + eps) * w).

    forward   one program per BLOCK_M rows held whole (ONE_BLOCK), or per row walked in BLOCK_N-wide column
              blocks: the mean, then the variance of the centered values (two passes, no cancellation),
              rstd = 1 / sqrt(var + eps), y = (x - mean) rstd w + b; mean (layer norm only) and rstd are saved.
    backward  each program owns a contiguous run of rows: dx = rstd (w dy - mean(w dy) - xhat mean(w dy xhat))
              (RMS: without the mean(w dy) term), xhat = (x - mean) rstd, and its rows' weight and bias
              gradient partials, sum dy xhat and sum dy per column, written to ITS row of a (programs, N)
              scratch; a second small kernel sums the partials over the programs. No atomics: the same
              launch gives the same bits. Wide rows take two passes: the row sums first (kept in a per-row
              scratch), then column block by column block over the program's rows, so that the partials of a
              column block stay in registers.

Statistics and sums are float32 (float64 for float64 inputs); bfloat16 is widened on load and rounded to
nearest even on store. The weight and bias may have their own float dtype (PyTorch's mixed precision: float32
parameters of a bfloat16/float16 input); their gradients come back in it.
"""
import triton
import triton.language as tl

from .group_norm import _COMPUTE, _divide, _store, _widen
from .random import float64_from_bits, float_bits
from .row_settings import INTERPRETER_TILE, MAX_TILE
from .strided import dtype_name_of, interpreting, is_contiguous

# A program's tile: BLOCK_M rows of BLOCK_N = next_power_of_2(N) columns, `tile` elements in all, 8 warps; wider
# rows walk tile-wide column blocks one row at a time. The forward's tile is MAX_TILE (4096) elements; the
# backward holds more per element (x, dy, xhat, w dy and the partials) and takes 2048 (1024 for float64): at 4096
# it spilled on sm_80/sm_90 (bfloat16 looped rows 8 B, float64 up to 736 B, at 255 registers), at these it does
# not. The backward programs each take a run of rows so that at most PARTIAL_PROGRAMS partial rows are summed
# (4 per SM of an H100's 132, rounded up). Unmeasured on a GPU; every tile the launchers can pick compiles without
# spills (tests/triton_kernels/test_layer_norm.py). The interpreter pays per program and per loop step: it takes
# INTERPRETER_TILE-element tiles.
NUM_WARPS, PARTIAL_PROGRAMS, BLOCK_C = 8, 512, 256
FORWARD_TILE, BACKWARD_TILE, BACKWARD_TILE_FLOAT64, MIN_BLOCK_N = MAX_TILE, 2048, 1024, 16
# ptxas of Triton 3.6 spilled 8 B (at 80 registers) for the forward's 8 x 512 tile with 8 warps (bfloat16,
# sm_90); with 4 warps it compiles without spills for every dtype under Triton 3.6 and 3.9.
_FORWARD_WARPS = {(8, 512): 4}


def forward_warps(block_m, block_n):
    return _FORWARD_WARPS.get((block_m, block_n), NUM_WARPS)


@triton.jit
def _rows_tile(ptr, rows, cols, M, N, COMPUTE: tl.constexpr):
    # The (BLOCK_M, BLOCK_N) tile of rows x cols: offsets, mask, values widened to COMPUTE (0 where masked).
    mask = (rows[:, None] < M) & (cols[None, :] < N)
    offs = rows[:, None].to(tl.int64) * N + cols[None, :]
    return offs, mask, _widen(tl.load(ptr + offs, mask=mask, other=0.0), COMPUTE)


@triton.jit
def _params(ptr, cols, N, HAS: tl.constexpr, default, COMPUTE: tl.constexpr):
    # The weight or bias values of columns `cols` (a row for the tile), or `default` without one.
    if HAS:
        values = _widen(tl.load(ptr + cols, mask=cols < N, other=default), COMPUTE)
    else:
        values = tl.full(cols.shape, default, COMPUTE)
    return values[None, :]


@triton.jit
def _rstd(sum_squares, count, eps, COMPUTE: tl.constexpr):
    var = _divide(sum_squares, count)
    if COMPUTE == tl.float32:
        rstd = tl.div_rn(1.0, tl.sqrt_rn(var + eps))
    else:
        rstd = 1.0 / tl.sqrt(var + eps)
    return rstd


@triton.jit(do_not_specialize=["M", "N", "eps_bits"])
def _layer_norm_forward_kernel(
        # pointers
        x_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr,
        # sizes, and eps as float64 bits
        M, N, eps_bits,
        # meta-parameters
        RMS: tl.constexpr, HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr, COMPUTE: tl.constexpr,
        ONE_BLOCK: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # One program normalizes BLOCK_M whole rows (ONE_BLOCK: N <= BLOCK_N), or one row in column blocks.
    count = N.to(COMPUTE)
    eps = float64_from_bits(eps_bits).to(COMPUTE)
    cols = tl.arange(0, BLOCK_N)
    if ONE_BLOCK:
        rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
        offs, mask, x = _rows_tile(x_ptr, rows, cols, M, N, COMPUTE)
        if RMS:
            centered = x
        else:
            mean = _divide(tl.sum(x, axis=1), count)
            centered = tl.where(mask, x - mean[:, None], 0.0)
            tl.store(mean_ptr + rows, mean, mask=rows < M)
        rstd = _rstd(tl.sum(centered * centered, axis=1), count, eps, COMPUTE)
        tl.store(rstd_ptr + rows, rstd, mask=rows < M)
        y = centered * rstd[:, None] * _params(w_ptr, cols, N, HAS_WEIGHT, 1.0, COMPUTE)
        _store(y_ptr, offs, y + _params(b_ptr, cols, N, HAS_BIAS, 0.0, COMPUTE), mask)
    else:
        rows = tl.program_id(0) + tl.arange(0, 1)
        mean = tl.zeros((1,), COMPUTE)
        if not RMS:
            acc = tl.zeros((1, BLOCK_N), COMPUTE)
            for n0 in range(0, N, BLOCK_N):
                acc += _rows_tile(x_ptr, rows, n0 + cols, M, N, COMPUTE)[2]
            mean = _divide(tl.sum(acc, axis=1), count)
            tl.store(mean_ptr + rows, mean)
        acc = tl.zeros((1, BLOCK_N), COMPUTE)
        for n0 in range(0, N, BLOCK_N):
            _, mask, x = _rows_tile(x_ptr, rows, n0 + cols, M, N, COMPUTE)
            centered = tl.where(mask, x - mean[:, None], 0.0)
            acc += centered * centered
        rstd = _rstd(tl.sum(acc, axis=1), count, eps, COMPUTE)
        tl.store(rstd_ptr + rows, rstd)
        for n0 in range(0, N, BLOCK_N):
            offs, mask, x = _rows_tile(x_ptr, rows, n0 + cols, M, N, COMPUTE)
            y = (x - mean[:, None]) * rstd[:, None] * _params(w_ptr, n0 + cols, N, HAS_WEIGHT, 1.0, COMPUTE)
            _store(y_ptr, offs, y + _params(b_ptr, n0 + cols, N, HAS_BIAS, 0.0, COMPUTE), mask)


@triton.jit
def _input_grad(x, dy, w, mean, rstd, c_xhat, c_dy, RMS: tl.constexpr):
    # xhat and dx = rstd (w dy - mean(w dy) - xhat mean(w dy xhat)) for a tile (c_*: the row means as columns)
    xhat = (x - mean[:, None]) * rstd[:, None]
    dx = w * dy - xhat * c_xhat[:, None]
    if not RMS:
        dx -= c_dy[:, None]
    return xhat, dx * rstd[:, None]


@triton.jit(do_not_specialize=["M", "N", "rows_per_program"])
def _layer_norm_backward_kernel(
        # pointers
        x_ptr, dy_ptr, w_ptr, mean_ptr, rstd_ptr, dx_ptr, partial_w_ptr, partial_b_ptr, row_sums_ptr,
        # sizes
        M, N, rows_per_program,
        # meta-parameters
        RMS: tl.constexpr, HAS_WEIGHT: tl.constexpr, NEED_DX: tl.constexpr, NEED_WEIGHT: tl.constexpr,
        NEED_BIAS: tl.constexpr, COMPUTE: tl.constexpr, ONE_BLOCK: tl.constexpr, BLOCK_M: tl.constexpr,
        BLOCK_N: tl.constexpr):
    # One program computes dx for rows [pid * rows_per_program, ...) and its row of the weight's and bias's
    # gradient partials. rows_per_program is a multiple of BLOCK_M.
    pid = tl.program_id(0)
    first = pid * rows_per_program
    last = tl.minimum(first + rows_per_program, M)
    count = N.to(COMPUTE)
    cols = tl.arange(0, BLOCK_N)
    partial_at = pid.to(tl.int64) * N + cols
    if ONE_BLOCK:
        w = _params(w_ptr, cols, N, HAS_WEIGHT, 1.0, COMPUTE)
        acc_w = tl.zeros((BLOCK_N,), COMPUTE)
        acc_b = tl.zeros((BLOCK_N,), COMPUTE)
        for r0 in range(first, last, BLOCK_M):
            rows = r0 + tl.arange(0, BLOCK_M)
            offs, mask, x = _rows_tile(x_ptr, rows, cols, last, N, COMPUTE)
            dy = _rows_tile(dy_ptr, rows, cols, last, N, COMPUTE)[2]
            rstd = tl.load(rstd_ptr + rows, mask=rows < last, other=0.0)
            mean = tl.zeros((BLOCK_M,), COMPUTE)
            if not RMS:
                mean = tl.load(mean_ptr + rows, mask=rows < last, other=0.0)
            xhat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
            if NEED_DX:
                wdy = w * dy
                c_xhat = _divide(tl.sum(wdy * xhat, axis=1), count)
                c_dy = _divide(tl.sum(wdy, axis=1), count)
                _store(dx_ptr, offs, _input_grad(x, dy, w, mean, rstd, c_xhat, c_dy, RMS)[1], mask)
            if NEED_WEIGHT:
                acc_w += tl.sum(dy * xhat, axis=0)
            if NEED_BIAS:
                acc_b += tl.sum(dy, axis=0)
        if NEED_WEIGHT:
            tl.store(partial_w_ptr + partial_at, acc_w, mask=cols < N)
        if NEED_BIAS:
            tl.store(partial_b_ptr + partial_at, acc_b, mask=cols < N)
    else:
        # pass 1: each row's means of w dy xhat and w dy, kept in row_sums (2 M) for pass 2
        if NEED_DX:
            for row in range(first, last):
                rows = row + tl.arange(0, 1)
                rstd = tl.load(rstd_ptr + rows)
                mean = tl.zeros((1,), COMPUTE)
                if not RMS:
                    mean = tl.load(mean_ptr + rows)
                acc_xhat = tl.zeros((1, BLOCK_N), COMPUTE)
                acc_dy = tl.zeros((1, BLOCK_N), COMPUTE)
                for n0 in range(0, N, BLOCK_N):
                    _, mask, x = _rows_tile(x_ptr, rows, n0 + cols, M, N, COMPUTE)
                    dy = _rows_tile(dy_ptr, rows, n0 + cols, M, N, COMPUTE)[2]
                    wdy = _params(w_ptr, n0 + cols, N, HAS_WEIGHT, 1.0, COMPUTE) * dy
                    acc_xhat += wdy * tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
                    acc_dy += wdy
                tl.store(row_sums_ptr + 2 * rows, _divide(tl.sum(acc_xhat, axis=1), count))
                tl.store(row_sums_ptr + 2 * rows + 1, _divide(tl.sum(acc_dy, axis=1), count))
            tl.debug_barrier()  # pass 1's stores are read back by every thread of the program
        # pass 2: column block by column block over the program's rows
        for n0 in range(0, N, BLOCK_N):
            w = _params(w_ptr, n0 + cols, N, HAS_WEIGHT, 1.0, COMPUTE)
            acc_w = tl.zeros((BLOCK_N,), COMPUTE)
            acc_b = tl.zeros((BLOCK_N,), COMPUTE)
            for row in range(first, last):
                rows = row + tl.arange(0, 1)
                offs, mask, x = _rows_tile(x_ptr, rows, n0 + cols, M, N, COMPUTE)
                dy = _rows_tile(dy_ptr, rows, n0 + cols, M, N, COMPUTE)[2]
                rstd = tl.load(rstd_ptr + rows)
                mean = tl.zeros((1,), COMPUTE)
                if not RMS:
                    mean = tl.load(mean_ptr + rows)
                if NEED_DX:
                    c_xhat = tl.load(row_sums_ptr + 2 * rows)
                    c_dy = tl.load(row_sums_ptr + 2 * rows + 1)
                    xhat, dx = _input_grad(x, dy, w, mean, rstd, c_xhat, c_dy, RMS)
                    _store(dx_ptr, offs, dx, mask)
                else:
                    xhat = (x - mean[:, None]) * rstd[:, None]
                if NEED_WEIGHT:
                    acc_w += tl.sum(tl.where(mask, dy * xhat, 0.0), axis=0)
                if NEED_BIAS:
                    acc_b += tl.sum(dy, axis=0)
            if NEED_WEIGHT:
                tl.store(partial_w_ptr + n0 + partial_at, acc_w, mask=n0 + cols < N)
            if NEED_BIAS:
                tl.store(partial_b_ptr + n0 + partial_at, acc_b, mask=n0 + cols < N)


@triton.jit(do_not_specialize=["P", "N"])
def _layer_norm_params_backward_kernel(
        # pointers
        partial_w_ptr, partial_b_ptr, dw_ptr, db_ptr,
        # sizes
        P, N,
        # meta-parameters
        NEED_WEIGHT: tl.constexpr, NEED_BIAS: tl.constexpr, COMPUTE: tl.constexpr, BLOCK_C: tl.constexpr):
    # One program sums BLOCK_C columns of the (P, N) partials over the P programs of the backward, in order.
    cols = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = cols < N
    acc_w = tl.zeros((BLOCK_C,), COMPUTE)
    acc_b = tl.zeros((BLOCK_C,), COMPUTE)
    offs = cols.to(tl.int64)
    for _ in range(0, P):
        if NEED_WEIGHT:
            acc_w += tl.load(partial_w_ptr + offs, mask=mask, other=0.0)
        if NEED_BIAS:
            acc_b += tl.load(partial_b_ptr + offs, mask=mask, other=0.0)
        offs += N
    if NEED_WEIGHT:
        _store(dw_ptr, cols, acc_w, mask)
    if NEED_BIAS:
        _store(db_ptr, cols, acc_b, mask)


# ---- launchers ------------------------------------------------------------------------------------------------

def tile_for(kernel, dtype_name):
    """The tile (elements) of the "forward" or "backward" kernel for an input of `dtype_name` on a GPU."""
    if kernel == "forward":
        return FORWARD_TILE
    return BACKWARD_TILE_FLOAT64 if dtype_name == "float64" else BACKWARD_TILE


def blocks(n_cols, tile):
    """(ONE_BLOCK, BLOCK_M, BLOCK_N) for rows of `n_cols` elements: whole rows packed into a tile of `tile`
    elements (INTERPRETER_TILE in the interpreter), or one row in `tile`-wide blocks. The tile does not shrink
    for few rows, nor BLOCK_N below MIN_BLOCK_N for rows shorter than it (masked lanes cost nothing that matters
    there): a kernel and dtype pick from exactly log2(tile / MIN_BLOCK_N) + 2 configs, every one of them compiled
    ahead of time in the tests."""
    if interpreting():
        tile = INTERPRETER_TILE
    block_n = max(triton.next_power_of_2(max(n_cols, 1)), MIN_BLOCK_N)
    if block_n > tile:
        return False, 1, tile
    return True, tile // block_n, block_n


def compute_dtype(x):
    """The dtype name of the statistics and sums for input `x`: float64 for float64, else float32."""
    return "float64" if dtype_name_of(x) == "float64" else "float32"


def _check(name, x, like_x=(), params=()):
    """x (M, N) float and contiguous; `like_x` arrays of x's shape and dtype; `params` (or None) of N float
    elements: all contiguous (the kernels read densely)."""
    if len(x.shape) != 2 or dtype_name_of(x) not in _COMPUTE:
        raise TypeError(f"{name}: a 2-d float16, bfloat16, float32 or float64 input expected, got "
                        f"{dtype_name_of(x)} of shape {tuple(x.shape)}")
    for what, array, shape in ([("input", x, tuple(x.shape))] + [("an operand", a, tuple(x.shape)) for a in like_x]
                               + [("a parameter", a, (x.shape[1],)) for a in params if a is not None]):
        wrong_dtype = (dtype_name_of(array) not in _COMPUTE if what == "a parameter"
                       else dtype_name_of(array) != dtype_name_of(x))
        if tuple(array.shape) != shape or wrong_dtype:
            raise ValueError(f"{name}: {what} of shape {tuple(array.shape)} and dtype {dtype_name_of(array)}, "
                             f"expected {shape} of {'a float dtype' if what == 'a parameter' else dtype_name_of(x)}")
        if not is_contiguous(array.shape, array.stride()):
            raise ValueError(f"{name}: {what} must be contiguous, got strides {tuple(array.stride())}")


def forward(x, weight, bias, y, mean, rstd, eps, rms=False):
    """y = layer_norm(x) over x's rows (or, with `rms`, rms_norm: `mean` and `bias` are then None); `mean` and
    `rstd` (M elements of compute_dtype(x)) receive the statistics. `weight`/`bias`: N elements, or None."""
    _check("layer_norm_forward", x, (y,), (weight, bias))
    if rms and (mean is not None or bias is not None):
        raise ValueError("layer_norm_forward: rms_norm has no mean and no bias")
    m, n = x.shape
    if m * n == 0:
        return y
    one_block, block_m, block_n = blocks(n, tile_for("forward", dtype_name_of(x)))
    _layer_norm_forward_kernel[(triton.cdiv(m, block_m),)](
        x, x if weight is None else weight, x if bias is None else bias, y, rstd if mean is None else mean, rstd,
        m, n, float_bits(eps), RMS=rms, HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None,
        COMPUTE=_COMPUTE[dtype_name_of(x)], ONE_BLOCK=one_block, BLOCK_M=block_m, BLOCK_N=block_n,
        num_warps=forward_warps(block_m, block_n))
    return y


def backward_blocks(x):
    """blocks() of the backward for input `x` (M, N): whether rows of N need the row_sums scratch (not ONE_BLOCK)."""
    return blocks(x.shape[1], tile_for("backward", dtype_name_of(x)))


def partial_programs(x):
    """(programs, rows_per_program) of the backward for input `x` (M, N): scratch rows for the partials."""
    m = x.shape[0]
    block_m = backward_blocks(x)[1]
    row_blocks = max(1, triton.cdiv(m, block_m))
    per_program = triton.cdiv(row_blocks, min(row_blocks, PARTIAL_PROGRAMS)) * block_m
    return triton.cdiv(m, per_program), per_program


def backward(x, dy, weight, mean, rstd, dx=None, dw=None, db=None, partial_w=None, partial_b=None, row_sums=None,
             rms=False):
    """dx (and, given dw / db, the weight's and bias's gradients, in their own dtypes) of layer_norm (rms_norm
    with `rms`) at x for output gradient dy. Scratch of compute_dtype(x): `partial_w` / `partial_b`,
    partial_programs(x)[0] x N elements, with dw / db; `row_sums`, 2 M elements, with dx when rows are wider
    than one block (backward_blocks(x)[0] is False)."""
    _check("layer_norm_backward", x, (dy,) + ((dx,) if dx is not None else ()), (weight, dw, db))
    m, n = x.shape
    if (dw is not None and partial_w is None) or (db is not None and partial_b is None):
        raise ValueError("layer_norm_backward: the weight's and bias's gradients need their partial scratch arrays")
    one_block, block_m, block_n = backward_blocks(x)
    if dx is not None and not one_block and row_sums is None:
        raise ValueError("layer_norm_backward: rows wider than one block need the row_sums scratch array")
    if m * n == 0:
        return dx  # nothing to sum: the caller fills the gradients with zeros
    programs, per_program = partial_programs(x)
    compute = _COMPUTE[dtype_name_of(x)]
    _layer_norm_backward_kernel[(programs,)](
        x, dy, x if weight is None else weight, rstd if mean is None else mean, rstd, x if dx is None else dx,
        rstd if partial_w is None else partial_w, rstd if partial_b is None else partial_b,
        rstd if row_sums is None else row_sums, m, n, per_program, RMS=rms, HAS_WEIGHT=weight is not None,
        NEED_DX=dx is not None, NEED_WEIGHT=dw is not None, NEED_BIAS=db is not None, COMPUTE=compute,
        ONE_BLOCK=one_block, BLOCK_M=block_m, BLOCK_N=block_n, num_warps=NUM_WARPS)
    if dw is not None or db is not None:
        block_c = triton.next_power_of_2(n) if interpreting() else min(BLOCK_C, triton.next_power_of_2(n))
        _layer_norm_params_backward_kernel[(triton.cdiv(n, block_c),)](
            rstd if partial_w is None else partial_w, rstd if partial_b is None else partial_b,
            rstd if dw is None else dw, rstd if db is None else db, programs, n, NEED_WEIGHT=dw is not None,
            NEED_BIAS=db is not None, COMPUTE=compute, BLOCK_C=block_c, num_warps=4)
    return dx
