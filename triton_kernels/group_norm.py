"""Group normalization (PyTorch's native_group_norm) forward and backward: one launch forward, two backward.

A contiguous input (N, C, *) is seen as N * G rows, one per (sample, group), each D = C / G channels by HW
positions, contiguous; a row is walked in (BLOCK_D, BLOCK_HW) tiles, so per-channel quantities (the affine
weight, per-channel gradient sums) come from the tile's row index.

    forward   one program per row: the mean, then the variance of the centered values (two passes, no
              cancellation), rstd = 1 / sqrt(var + eps), then y = (x - mean) * rstd * w[c] + b[c].
    backward  one program per row: pass 1 sums dy * (x - mean) and dy per channel (stored per (n, c) when the
              weight or bias needs a gradient) and, weighted by w[c], over the group; pass 2 writes
              dx = rstd (w[c] dy - sum(w dy) / M) - (x - mean) rstd^3 sum(w dy (x - mean)) / M, M the group's
              size: PyTorch's closed form with centered sums (its dy x - mean dy cancels when |mean| >> std).
              A second launch folds the per-(n, c) sums over n: dw[c] = sum_n rstd ds, db[c] = sum_n db.

Statistics and sums are float32 (float64 for float64 inputs); bfloat16 is widened on load and rounded to
nearest even on store. Mean and rstd are saved as (N, G) arrays of the compute dtype.
"""
import triton
import triton.language as tl

from .elementwise import _to_bfloat16
from .random import float64_from_bits, float_bits
from .strided import dtype_name_of, interpreting, is_contiguous, numel

_COMPUTE = {"float32": tl.float32, "float16": tl.float32, "bfloat16": tl.float32, "float64": tl.float64}
# A tile of at most 2048 elements (two accumulators of it in the backward), 4 warps; the parameter reduction
# takes 256 channels a program. Unmeasured on a GPU. The interpreter takes whole rows: it pays per program and
# per loop step.
TILE, NUM_WARPS, BLOCK_C = 2048, 4, 256
INTERPRETER_TILE = 1 << 16


@triton.jit
def _divide(a, b):
    # IEEE division (fp32 `/` is approximate on GPUs)
    if a.dtype == tl.float32:
        result = tl.div_rn(a, b)
    else:
        result = a / b
    return result


@triton.jit
def _widen(values, COMPUTE: tl.constexpr):
    # Loaded values in COMPUTE; bfloat16 through float32 first (the interpreter holds it as raw bits).
    if values.dtype == tl.bfloat16:
        values = values.to(tl.float32)
    return values.to(COMPUTE)


@triton.jit
def _tile(ptr, base, d0, h0, D, HW, COMPUTE: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_HW: tl.constexpr):
    # The (BLOCK_D, BLOCK_HW) tile of a row at channel d0, position h0: pointers' offsets, mask, values.
    offs_d = d0 + tl.arange(0, BLOCK_D)
    offs_h = h0 + tl.arange(0, BLOCK_HW)
    mask = (offs_d[:, None] < D) & (offs_h[None, :] < HW)
    offs = base + offs_d[:, None].to(tl.int64) * HW + offs_h[None, :]
    return offs, mask, _widen(tl.load(ptr + offs, mask=mask, other=0.0), COMPUTE), offs_d


@triton.jit
def _store(ptr, offs, value, mask):
    if ptr.dtype.element_ty == tl.bfloat16:
        tl.store(ptr + offs, _to_bfloat16(value.to(tl.float32)), mask=mask)
    else:
        tl.store(ptr + offs, value.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def _channel_params(ptr, channel, mask, HAS: tl.constexpr, default, COMPUTE: tl.constexpr):
    # Per-channel weight or bias values (a column for the tile), or `default` without one.
    if HAS:
        values = _widen(tl.load(ptr + channel, mask=mask, other=default), COMPUTE)
    else:
        values = tl.full(channel.shape, default, COMPUTE)
    return values[:, None]


@triton.jit(do_not_specialize=["D", "HW", "G", "eps_bits"])
def _group_norm_forward_kernel(
        # pointers
        x_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr,
        # sizes, and eps as float64 bits
        D, HW, G, eps_bits,
        # meta-parameters
        HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr, COMPUTE: tl.constexpr, BLOCK_D: tl.constexpr,
        BLOCK_HW: tl.constexpr):
    # One program normalizes one (sample, group) row of D channels x HW positions.
    row = tl.program_id(0)
    group = row % G
    base = row.to(tl.int64) * D * HW
    count = (D * HW).to(COMPUTE)
    acc = tl.zeros((BLOCK_D, BLOCK_HW), COMPUTE)
    for d0 in range(0, D, BLOCK_D):
        for h0 in range(0, HW, BLOCK_HW):
            _, _, x, _ = _tile(x_ptr, base, d0, h0, D, HW, COMPUTE, BLOCK_D, BLOCK_HW)
            acc += x
    mean = _divide(tl.sum(tl.sum(acc, axis=1), axis=0), count)
    acc = tl.zeros((BLOCK_D, BLOCK_HW), COMPUTE)
    for d0 in range(0, D, BLOCK_D):
        for h0 in range(0, HW, BLOCK_HW):
            _, mask, x, _ = _tile(x_ptr, base, d0, h0, D, HW, COMPUTE, BLOCK_D, BLOCK_HW)
            centered = tl.where(mask, x - mean, 0.0)
            acc += centered * centered
    var = _divide(tl.sum(tl.sum(acc, axis=1), axis=0), count)
    eps = float64_from_bits(eps_bits).to(COMPUTE)
    if COMPUTE == tl.float32:
        rstd = tl.div_rn(1.0, tl.sqrt_rn(var + eps))
    else:
        rstd = 1.0 / tl.sqrt(var + eps)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)
    for d0 in range(0, D, BLOCK_D):
        for h0 in range(0, HW, BLOCK_HW):
            offs, mask, x, offs_d = _tile(x_ptr, base, d0, h0, D, HW, COMPUTE, BLOCK_D, BLOCK_HW)
            channel = group * D + offs_d
            weight = _channel_params(w_ptr, channel, offs_d < D, HAS_WEIGHT, 1.0, COMPUTE)
            bias = _channel_params(b_ptr, channel, offs_d < D, HAS_BIAS, 0.0, COMPUTE)
            _store(y_ptr, offs, (x - mean) * rstd * weight + bias, mask)


@triton.jit(do_not_specialize=["D", "HW", "G"])
def _group_norm_backward_kernel(
        # pointers
        x_ptr, dy_ptr, w_ptr, mean_ptr, rstd_ptr, dx_ptr, ds_ptr, db_ptr,
        # sizes
        D, HW, G,
        # meta-parameters
        HAS_WEIGHT: tl.constexpr, STORE_CHANNEL_SUMS: tl.constexpr, COMPUTE: tl.constexpr,
        BLOCK_D: tl.constexpr, BLOCK_HW: tl.constexpr):
    # One program computes dx for one (sample, group) row (and that row's per-channel sums of dy (x - mean)
    # and dy). Sums are of centered values: dy x less mean dy would cancel when |mean| >> std.
    row = tl.program_id(0)
    group = row % G
    base = row.to(tl.int64) * D * HW
    mean = tl.load(mean_ptr + row)
    rstd = tl.load(rstd_ptr + row)
    ds_group = tl.zeros((), COMPUTE)
    db_group = tl.zeros((), COMPUTE)
    for d0 in range(0, D, BLOCK_D):
        acc_ds = tl.zeros((BLOCK_D, BLOCK_HW), COMPUTE)
        acc_db = tl.zeros((BLOCK_D, BLOCK_HW), COMPUTE)
        for h0 in range(0, HW, BLOCK_HW):
            _, mask, x, offs_d = _tile(x_ptr, base, d0, h0, D, HW, COMPUTE, BLOCK_D, BLOCK_HW)
            _, _, dy, _ = _tile(dy_ptr, base, d0, h0, D, HW, COMPUTE, BLOCK_D, BLOCK_HW)
            acc_ds += dy * tl.where(mask, x - mean, 0.0)
            acc_db += dy
        ds = tl.sum(acc_ds, axis=1)
        db = tl.sum(acc_db, axis=1)
        offs_d = d0 + tl.arange(0, BLOCK_D)
        channel = group * D + offs_d
        if STORE_CHANNEL_SUMS:  # at (n, c) = row // G * (G * D) + channel
            sums_at = (row // G).to(tl.int64) * G * D + channel
            tl.store(ds_ptr + sums_at, ds, mask=offs_d < D)
            tl.store(db_ptr + sums_at, db, mask=offs_d < D)
        weight = tl.sum(_channel_params(w_ptr, channel, offs_d < D, HAS_WEIGHT, 1.0, COMPUTE), axis=1)
        ds_group += tl.sum(ds * weight, axis=0)
        db_group += tl.sum(db * weight, axis=0)
    # dx = rstd (w dy - sum(w dy) / M) - (x - mean) rstd^3 sum(w dy (x - mean)) / M
    count = (D * HW).to(COMPUTE)
    mean_dy = _divide(db_group, count)
    slope = _divide(ds_group * rstd * rstd * rstd, count)
    for d0 in range(0, D, BLOCK_D):
        for h0 in range(0, HW, BLOCK_HW):
            offs, mask, x, offs_d = _tile(x_ptr, base, d0, h0, D, HW, COMPUTE, BLOCK_D, BLOCK_HW)
            _, _, dy, _ = _tile(dy_ptr, base, d0, h0, D, HW, COMPUTE, BLOCK_D, BLOCK_HW)
            weight = _channel_params(w_ptr, group * D + offs_d, offs_d < D, HAS_WEIGHT, 1.0, COMPUTE)
            _store(dx_ptr, offs, rstd * (weight * dy - mean_dy) - (x - mean) * slope, mask)


@triton.jit(do_not_specialize=["N", "C", "D", "G"])
def _group_norm_params_backward_kernel(
        # pointers
        ds_ptr, db_ptr, rstd_ptr, dw_ptr, dbias_ptr,
        # sizes
        N, C, D, G,
        # meta-parameters
        NEED_WEIGHT: tl.constexpr, NEED_BIAS: tl.constexpr, COMPUTE: tl.constexpr, BLOCK_C: tl.constexpr):
    # One program folds BLOCK_C channels' per-sample sums over the N samples: dw = sum_n rstd sum(dy (x - mean)),
    # db = sum_n sum(dy).
    offs_c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = offs_c < C
    group = offs_c // D
    acc_w = tl.zeros((BLOCK_C,), COMPUTE)
    acc_b = tl.zeros((BLOCK_C,), COMPUTE)
    for n in range(0, N):
        if NEED_WEIGHT:
            ds = tl.load(ds_ptr + n * C + offs_c, mask=mask, other=0.0)
            rstd = tl.load(rstd_ptr + n * G + group, mask=mask, other=0.0)
            acc_w += ds * rstd
        if NEED_BIAS:
            acc_b += tl.load(db_ptr + n * C + offs_c, mask=mask, other=0.0)
    if NEED_WEIGHT:
        _store(dw_ptr, offs_c, acc_w, mask)
    if NEED_BIAS:
        _store(dbias_ptr, offs_c, acc_b, mask)


# ---- launchers ------------------------------------------------------------------------------------------------

def _blocks(d, hw, tile=None):
    """(BLOCK_D, BLOCK_HW) for rows of d channels by hw positions: a tile of at most `tile` elements (the
    shipped TILE on a GPU, INTERPRETER_TILE in the interpreter)."""
    if tile is None:
        tile = INTERPRETER_TILE if interpreting() else TILE
    block_hw = min(triton.next_power_of_2(max(hw, 1)), tile)
    block_d = min(triton.next_power_of_2(max(d, 1)), max(1, tile // block_hw))
    return block_d, block_hw


def _check(name, x, groups, like_x=(), per_channel=()):
    """x (N, C, *) float and contiguous, C divisible by `groups`; `like_x` arrays of x's shape and dtype,
    `per_channel` arrays (or None) of C elements of x's dtype: all contiguous (the kernels read densely)."""
    if dtype_name_of(x) not in _COMPUTE:
        raise TypeError(f"{name}: float16, bfloat16, float32 or float64 input expected, got {dtype_name_of(x)}")
    if len(x.shape) < 2 or x.shape[1] % groups:
        raise ValueError(f"{name}: input of shape {tuple(x.shape)} does not split into {groups} groups of channels")
    for what, array, shape in ([("input", x, tuple(x.shape))] + [("an operand", a, tuple(x.shape)) for a in like_x]
                               + [("a weight", a, (x.shape[1],)) for a in per_channel if a is not None]):
        if tuple(array.shape) != shape or dtype_name_of(array) != dtype_name_of(x):
            raise ValueError(f"{name}: {what} of shape {tuple(array.shape)} and dtype {dtype_name_of(array)}, "
                             f"expected {shape} of {dtype_name_of(x)}")
        if numel(array.shape) > 1 and not is_contiguous(array.shape, array.stride()):
            raise ValueError(f"{name}: {what} must be contiguous, got strides {tuple(array.stride())}")


def _sizes(x, groups):
    n, c = x.shape[0], x.shape[1]
    hw = 1
    for s in x.shape[2:]:
        hw *= s
    return n, c, c // groups, hw


def compute_dtype(x):
    """The dtype name of the statistics and sums for input `x`: float64 for float64, else float32."""
    return "float64" if dtype_name_of(x) == "float64" else "float32"


def forward(x, weight, bias, y, mean, rstd, groups, eps):
    """y = group_norm(x) (contiguous, x's dtype and shape); mean and rstd (N * G elements, compute_dtype(x))
    receive the statistics. `weight`/`bias`: C elements of x's dtype, or None."""
    _check("group_norm_forward", x, groups, (y,), (weight, bias))
    n, c, d, hw = _sizes(x, groups)
    if n * c * hw == 0:
        return y
    block_d, block_hw = _blocks(d, hw)
    _group_norm_forward_kernel[(n * groups,)](
        x, x if weight is None else weight, x if bias is None else bias, y, mean, rstd, d, hw, groups, float_bits(eps),
        HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None, COMPUTE=_COMPUTE[dtype_name_of(x)],
        BLOCK_D=block_d, BLOCK_HW=block_hw, num_warps=NUM_WARPS)
    return y


def backward(x, dy, weight, mean, rstd, groups, dx, dw=None, dbias=None, ds=None, db=None):
    """dx (and, given dw / dbias, the weight's and bias's gradients) of group_norm at x for output gradient dy
    (contiguous, x's shape). `ds`, `db`: N * C scratch elements of compute_dtype(x), needed with dw or dbias."""
    _check("group_norm_backward", x, groups, (dy, dx), (weight, dw, dbias))
    n, c, d, hw = _sizes(x, groups)
    need_params = dw is not None or dbias is not None
    if need_params and (ds is None or db is None):
        raise ValueError("group_norm_backward: the weight's and bias's gradients need the ds and db scratch arrays")
    if n * c * hw == 0:
        return dx  # nothing to sum: the caller fills the gradients with zeros
    compute = _COMPUTE[dtype_name_of(x)]
    block_d, block_hw = _blocks(d, hw)
    _group_norm_backward_kernel[(n * groups,)](
        x, dy, x if weight is None else weight, mean, rstd, dx, x if ds is None else ds, x if db is None else db,
        d, hw, groups, HAS_WEIGHT=weight is not None, STORE_CHANNEL_SUMS=need_params, COMPUTE=compute,
        BLOCK_D=block_d, BLOCK_HW=block_hw, num_warps=NUM_WARPS)
    if need_params:
        block_c = triton.next_power_of_2(c) if interpreting() else min(BLOCK_C, triton.next_power_of_2(c))
        _group_norm_params_backward_kernel[(triton.cdiv(c, block_c),)](
            ds, db, rstd, ds if dw is None else dw, ds if dbias is None else dbias, n, c, d, groups,
            NEED_WEIGHT=dw is not None, NEED_BIAS=dbias is not None, COMPUTE=compute, BLOCK_C=block_c,
            num_warps=NUM_WARPS)
    return dx
