"""Cross-entropy (log-softmax + NLL) over rows of logits: forward and backward kernels and their launchers.

Forward: one program per row walks the row in column blocks with the online (max, sum-exp)
recurrence, so no softmax or log-softmax tensor is ever written, and vocabularies up to 256k
(and beyond) need only one block of registers. It writes the row's loss, its log-sum-exp (saved
for the backward) and the weight of its target (0 for `ignore_index`; the mean's denominator).
Reductions 'mean'/'sum' are a second, single-program kernel over those rows (deterministic).

Backward: one pass per row writes `p * a - b` where `p = softmax(x)`, i.e. `(softmax - smoothed
one-hot) * scale_row` for unweighted losses, optionally into the logits' own buffer.

The loss is PyTorch's, with C classes, smoothing eps, class weights w (1 when absent), target t:
    loss_row = (1 - eps) * w[t] * (lse - x[t]) + eps / C * sum_c w[c] * (lse - x[c])
and 0 for rows whose target is `ignore_index`. 'mean' divides the sum by sum_rows w[t] over
non-ignored rows (0/0 = nan when all are ignored, as PyTorch). With a row of class probabilities
as the target (PROBS) instead: loss_row = sum_c q[c] (lse - x[c]), q = ((1 - eps) probs + eps / C) w,
'mean' divides by the number of rows, and the backward can also write d loss / d probs.

Numbers: fp32 math for float32/float16/bfloat16 logits, fp64 for float64 (COMPUTE); the saved rows
(`lse`, target weights) are in that compute dtype (`compute_dtype`).

Launchers take raw buffers (objects with `data_ptr()` and `dtype`), sizes and strides; the caller
allocates every buffer. Class indices are checked on the device: a row whose index is outside [0, C) (and
not `ignore_index`) is treated as ignored, never read with, and reported in the caller's error record
(device_errors.py) when one is given.
"""
import numpy as np
import triton
import triton.language as tl

from .device_errors import check_record, record_error
from .row_settings import row_settings
from .strided import dtype_name_of

# Wider rows loop over column blocks. Liger uses 32768 x 32 warps; compiled here (sm_80/sm_90, all flags on)
# that spilled (ptxas caps 1024 threads at 64 registers), 16384 x 16 warps did not. Unmeasured on a GPU.
MAX_BLOCK_SIZE = 16384
REDUCE_BLOCK_SIZE = 1024
REDUCTIONS = ("none", "mean", "sum")
_FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")


@triton.jit
def _smoothed_probs(probs_row_ptr, weight_ptr, offs, mask, n_cols, label_smoothing, COMPUTE: tl.constexpr,
                    HAS_WEIGHT: tl.constexpr, HAS_SMOOTHING: tl.constexpr):
    """q = ((1 - eps) probs + eps / C) * w on one block of a row (0 past the row's end)."""
    q = tl.load(probs_row_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
    if HAS_SMOOTHING:
        q = tl.where(mask, q * (1.0 - label_smoothing) + label_smoothing / n_cols, 0.0)
    if HAS_WEIGHT:
        q = q * tl.load(weight_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
    return q


@triton.jit
def _skipped_row(target_ptr, row, n_cols, ignore_index, error_ptr, error_code, PROBS: tl.constexpr):
    """(target, skip) of a row: its class index (0 for PROBS), and whether it contributes nothing: its target is
    ignore_index, or outside [0, C), which is never read with and is reported (device_errors.py)."""
    if PROBS:
        target = 0
        skip = False
    else:
        target = tl.load(target_ptr + row).to(tl.int64)
        out_of_bounds = (target != ignore_index) & ((target < 0) | (target >= n_cols))
        if out_of_bounds & (error_code != 0):
            record_error(error_ptr, error_code, target, 0, 0)
        skip = (target == ignore_index) | out_of_bounds
    return target, skip


@triton.jit(do_not_specialize=["error_code"])
def _cross_entropy_forward_kernel(
    # pointers
    x_ptr, target_ptr, weight_ptr, loss_ptr, lse_ptr, target_weight_ptr, error_ptr,
    # sizes
    n_rows, n_cols,
    # strides
    x_row_stride, target_row_stride,
    # meta-parameters
    ignore_index, label_smoothing, label_smoothing_lo, error_code,
    HAS_WEIGHT: tl.constexpr, HAS_SMOOTHING: tl.constexpr, PROBS: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program computes one row: its loss, its log-sum-exp and its target's weight, in one pass.
    # PROBS: the target is a row of class probabilities (target_row_stride apart) and the "target weight"
    # written is 1 (the mean divides by the number of rows). A row whose class index is out of bounds counts as
    # ignored, and is reported with `error_code`.
    COMPUTE: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    label_smoothing = tl.cast(label_smoothing, COMPUTE) + tl.cast(label_smoothing_lo, COMPUTE)  # fp32 args: rejoin
    row = tl.program_id(0).to(tl.int64)
    x_row_ptr = x_ptr + row * x_row_stride
    target, skip = _skipped_row(target_ptr, row, n_cols, ignore_index, error_ptr, error_code, PROBS)
    if skip:
        tl.store(loss_ptr + row, tl.full((), 0.0, loss_ptr.dtype.element_ty))
        tl.store(lse_ptr + row, 0.0)
        tl.store(target_weight_ptr + row, 0.0)
    else:
        row_max = tl.full((), -float("inf"), COMPUTE)
        sum_exp = tl.full((), 0.0, COMPUTE)
        sum_wx = tl.full((), 0.0, COMPUTE)  # sum_c w[c] * x[c] (smoothing); sum_c q[c] * x[c] (PROBS)
        sum_w = tl.full((), 0.0, COMPUTE)  # sum_c w[c] (smoothing); sum_c q[c] (PROBS)
        for start in range(0, n_cols, BLOCK_SIZE):
            offs = start + tl.arange(0, BLOCK_SIZE)
            mask = offs < n_cols
            # Upcast before any arithmetic (and before choosing the fill value): bf16 arrives as raw bits
            # in the interpreter, and fp16/bf16 math is never done in low precision.
            x_or_0 = tl.load(x_row_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
            x = tl.where(mask, x_or_0, -float("inf"))
            new_max = tl.maximum(row_max, tl.max(x, axis=0))
            # A block (or a row) of -inf keeps the running max at -inf: shift by 0 then, not by -inf (nan).
            shift = tl.where(new_max == -float("inf"), 0.0, new_max)
            sum_exp = sum_exp * tl.exp(row_max - shift) + tl.sum(tl.exp(x - shift), axis=0)
            row_max = new_max
            if PROBS:
                q = _smoothed_probs(target_ptr + row * target_row_stride, weight_ptr, offs, mask, n_cols,
                                    label_smoothing, COMPUTE, HAS_WEIGHT, HAS_SMOOTHING)
                sum_wx += tl.sum(q * x_or_0, axis=0)
                sum_w += tl.sum(q, axis=0)
            elif HAS_SMOOTHING:
                if HAS_WEIGHT:
                    w = tl.load(weight_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
                    sum_wx += tl.sum(w * x_or_0, axis=0)
                    sum_w += tl.sum(w, axis=0)
                else:
                    sum_wx += tl.sum(x_or_0, axis=0)
                    sum_w += tl.sum(tl.where(mask, 1.0, 0.0).to(COMPUTE), axis=0)
        lse = row_max + tl.log(sum_exp)
        if PROBS:
            loss = lse * sum_w - sum_wx  # sum_c q[c] (lse - x[c])
            w_target = 1.0
        else:
            x_target = tl.load(x_row_ptr + target).to(COMPUTE)
            if HAS_WEIGHT:
                w_target = tl.load(weight_ptr + target).to(COMPUTE)
            else:
                w_target = 1.0
            loss = w_target * (lse - x_target)
            if HAS_SMOOTHING:
                smooth = lse * sum_w - sum_wx
                loss = (1.0 - label_smoothing) * loss + label_smoothing / n_cols * smooth
        tl.store(loss_ptr + row, loss.to(loss_ptr.dtype.element_ty))
        tl.store(lse_ptr + row, lse)
        tl.store(target_weight_ptr + row, w_target)


@triton.jit
def loss_reduce_kernel(
    # pointers
    loss_ptr, weight_ptr, out_ptr, total_weight_ptr,
    # sizes
    n_rows, weight_offset,
    # meta-parameters
    MEAN: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program sums n_rows losses and, for the mean, the n_rows weights at weight_ptr + weight_offset, in a
    # fixed order (deterministic), and writes sum(loss) / sum(weight) (0 / 0 = nan, as PyTorch) or sum(loss).
    # Also the losses' reducer of nll_loss.py, whose partial sums of losses and weights share one buffer.
    ACC: tl.constexpr = tl.float64 if loss_ptr.dtype.element_ty == tl.float64 else tl.float32
    loss_sum = tl.zeros((BLOCK_SIZE,), ACC)
    weight_sum = tl.zeros((BLOCK_SIZE,), ACC)
    for start in range(0, n_rows, BLOCK_SIZE):
        offs = start + tl.arange(0, BLOCK_SIZE)
        mask = offs < n_rows
        loss_sum += tl.load(loss_ptr + offs, mask=mask, other=0.0).to(ACC)
        if MEAN:
            weight_sum += tl.load(weight_ptr + weight_offset + offs, mask=mask, other=0.0).to(ACC)
    total = tl.sum(loss_sum, axis=0)
    if MEAN:
        total_weight = tl.sum(weight_sum, axis=0)
        total = total / total_weight
        tl.store(total_weight_ptr, total_weight)
    tl.store(out_ptr, total.to(out_ptr.dtype.element_ty))


@triton.jit(do_not_specialize=["error_code"])
def _cross_entropy_backward_kernel(
    # pointers
    x_ptr, target_ptr, weight_ptr, lse_ptr, grad_loss_ptr, total_weight_ptr, grad_x_ptr, grad_target_ptr, error_ptr,
    # sizes
    n_rows, n_cols,
    # strides
    x_row_stride, target_row_stride, grad_x_row_stride, grad_target_row_stride, grad_loss_stride,
    # meta-parameters
    ignore_index, label_smoothing, label_smoothing_lo, error_code,
    HAS_WEIGHT: tl.constexpr, HAS_SMOOTHING: tl.constexpr, PROBS: tl.constexpr, MEAN: tl.constexpr,
    GRAD_TARGET: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program computes one row of d loss / d logits, with p = exp(x - lse) and g the row's upstream
    # gradient (divided by the sum of target weights for 'mean'):
    #   class index t:  g * ((1-eps) w[t] (p - onehot) + eps/C (sum(w) p - w))
    #   PROBS:          g * (p * sum(q) - q),  q = ((1-eps) probs + eps/C) * w;
    #                   and with GRAD_TARGET, d loss / d probs = g * (1-eps) * w * (lse - x).
    COMPUTE: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    label_smoothing = tl.cast(label_smoothing, COMPUTE) + tl.cast(label_smoothing_lo, COMPUTE)  # fp32 args: rejoin
    row = tl.program_id(0).to(tl.int64)
    x_row_ptr = x_ptr + row * x_row_stride
    grad_x_row_ptr = grad_x_ptr + row * grad_x_row_stride
    target, skip = _skipped_row(target_ptr, row, n_cols, ignore_index, error_ptr, error_code, PROBS)
    if skip:
        for start in range(0, n_cols, BLOCK_SIZE):
            offs = start + tl.arange(0, BLOCK_SIZE)
            mask = offs < n_cols
            tl.store(grad_x_row_ptr + offs, tl.full((BLOCK_SIZE,), 0.0, grad_x_ptr.dtype.element_ty), mask=mask)
    else:
        scale = tl.load(grad_loss_ptr + row * grad_loss_stride).to(COMPUTE)  # stride 0: one scalar for all rows
        if MEAN:
            scale = scale / tl.load(total_weight_ptr).to(COMPUTE)
        lse = tl.load(lse_ptr + row).to(COMPUTE)
        if PROBS:
            sum_q = tl.full((), 0.0, COMPUTE)
            for start in range(0, n_cols, BLOCK_SIZE):
                offs = start + tl.arange(0, BLOCK_SIZE)
                mask = offs < n_cols
                q = _smoothed_probs(target_ptr + row * target_row_stride, weight_ptr, offs, mask, n_cols,
                                    label_smoothing, COMPUTE, HAS_WEIGHT, HAS_SMOOTHING)
                sum_q += tl.sum(q, axis=0)
            for start in range(0, n_cols, BLOCK_SIZE):
                offs = start + tl.arange(0, BLOCK_SIZE)
                mask = offs < n_cols
                x = tl.load(x_row_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
                q = _smoothed_probs(target_ptr + row * target_row_stride, weight_ptr, offs, mask, n_cols,
                                    label_smoothing, COMPUTE, HAS_WEIGHT, HAS_SMOOTHING)
                grad = (tl.exp(x - lse) * sum_q - q) * scale
                tl.store(grad_x_row_ptr + offs, grad.to(grad_x_ptr.dtype.element_ty), mask=mask)
                if GRAD_TARGET:
                    if HAS_WEIGHT:
                        w = tl.load(weight_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
                    else:
                        w = 1.0
                    grad_t = (lse - x) * w * ((1.0 - label_smoothing) * scale)
                    tl.store(grad_target_ptr + row * grad_target_row_stride + offs,
                             grad_t.to(grad_target_ptr.dtype.element_ty), mask=mask)
        else:
            if HAS_WEIGHT:
                w_target = tl.load(weight_ptr + target).to(COMPUTE)
            else:
                w_target = 1.0
            # grad = p * coef_p - (coef_target * onehot + coef_w * w)
            coef_target = (1.0 - label_smoothing) * w_target
            coef_p = coef_target
            coef_w = 0.0
            if HAS_SMOOTHING:
                coef_w = label_smoothing / n_cols
                if HAS_WEIGHT:
                    sum_w = tl.full((), 0.0, COMPUTE)
                    for start in range(0, n_cols, BLOCK_SIZE):
                        offs = start + tl.arange(0, BLOCK_SIZE)
                        mask = offs < n_cols
                        sum_w += tl.sum(tl.load(weight_ptr + offs, mask=mask, other=0.0).to(COMPUTE), axis=0)
                    coef_p += coef_w * sum_w
                else:
                    coef_p += label_smoothing
            for start in range(0, n_cols, BLOCK_SIZE):
                offs = start + tl.arange(0, BLOCK_SIZE)
                mask = offs < n_cols
                x = tl.load(x_row_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
                p = tl.exp(x - lse)
                if HAS_WEIGHT:
                    w = tl.load(weight_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
                else:
                    w = 1.0
                grad = p * coef_p - tl.where(offs == target, coef_target, 0.0) - coef_w * w
                tl.store(grad_x_row_ptr + offs, (grad * scale).to(grad_x_ptr.dtype.element_ty), mask=mask)


def float64_parts(value):
    """(hi, lo): two float32 values whose sum is `value` to ~48 bits. Triton passes Python floats to kernels
    as fp32; a kernel computing in fp64 adds the two back (`tl.cast(hi, tl.float64) + tl.cast(lo, tl.float64)`)."""
    hi = float(np.float32(value))
    return hi, float(np.float32(value - hi))


def compute_dtype(logits_dtype_name):
    """The dtype of the `lse`, `target_weight` and `total_weight` buffers (and of a reduced `loss`):
    float64 for float64 logits, else float32."""
    return "float64" if logits_dtype_name == "float64" else "float32"


def _check_common(name, logits, target, weight, n_rows, n_cols, logits_row_stride, reduction, label_smoothing,
                  target_row_stride):
    """Checks the arguments; returns whether `target` holds probabilities (a float dtype) rather than indices."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if n_rows < 0 or n_cols < 1:
        raise ValueError(f"{name}: need n_rows >= 0 and n_cols >= 1, got {n_rows} x {n_cols}")
    if logits_row_stride < n_cols:
        raise ValueError(f"{name}: logits_row_stride {logits_row_stride} < n_cols {n_cols} "
                         "(rows must be contiguous and not overlap)")
    if dtype_name_of(logits) not in _FLOAT_DTYPES:
        raise TypeError(f"{name}: logits must be float32, float16, bfloat16 or float64, got {logits.dtype}")
    probs = dtype_name_of(target) in _FLOAT_DTYPES
    if not probs and "int" not in dtype_name_of(target):
        raise TypeError(f"{name}: target must hold integer class indices or float probabilities, got {target.dtype}")
    if probs and target_row_stride < n_cols:
        raise ValueError(f"{name}: target_row_stride {target_row_stride} < n_cols {n_cols}")
    if weight is not None and dtype_name_of(weight) not in _FLOAT_DTYPES:
        raise TypeError(f"{name}: weight must be float32, float16, bfloat16 or float64, got {weight.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    return probs


def max_block_size(dtype_name, probs):
    """The widest column block: MAX_BLOCK_SIZE, halved for probability targets (their backward holds more
    blocks live), an eighth for float64 (two registers an element). AOT (sm_80/sm_90, all flags on) at
    16384: fp64 spilled 700-2056 B (6.6 KB with probabilities), bf16 probabilities 184 B (backward, sm_90);
    fp64 class indices at 4096 spilled 16 B (forward, sm_90) under Triton 3.6, 2048 under neither 3.6 nor 3.9."""
    if dtype_name == "float64":
        return MAX_BLOCK_SIZE >> 3
    return MAX_BLOCK_SIZE >> (1 if probs else 0)


def _settings(n_cols, block_size, num_warps, dtype_name, probs):
    default_block, default_warps = row_settings(n_cols, max_block_size=max_block_size(dtype_name, probs))
    return block_size or default_block, num_warps or default_warps


def cross_entropy_forward(logits, target, weight, loss, lse, target_weight, n_rows, n_cols, logits_row_stride, *,
                          ignore_index=-100, label_smoothing=0.0, reduction="mean", out=None, total_weight=None,
                          target_row_stride=None, errors=None, error_code=0, block_size=None, num_warps=None):
    """Cross-entropy of `logits` (n_rows x n_cols, unit column stride) against `target`: class indices (n_rows
    integers) or class probabilities (n_rows x n_cols floats, unit column stride, rows `target_row_stride` apart,
    default n_cols).

    Writes `loss` (n_rows; the per-row losses, in its own dtype; of compute_dtype unless reduction='none'),
    `lse` (n_rows, compute_dtype, saved for the backward) and `target_weight` (n_rows, compute_dtype: w[target],
    0 where ignored; 1 for probabilities). For 'mean'/'sum' also writes the reduced loss to `out` (1 element),
    and for 'mean' the sum of target weights to `total_weight` (1 element, compute_dtype: the backward's
    divisor). `weight` (n_cols) or None. A class index outside [0, n_cols) (other than ignore_index) counts as
    ignored and, given an `errors` record and an `error_code`, is reported there (device_errors.py).
    """
    target_row_stride = n_cols if target_row_stride is None else target_row_stride
    check_record("cross_entropy_forward", errors)
    probs = _check_common("cross_entropy_forward", logits, target, weight, n_rows, n_cols, logits_row_stride,
                          reduction, label_smoothing, target_row_stride)
    if reduction != "none":
        if out is None or dtype_name_of(loss) != compute_dtype(dtype_name_of(logits)):
            raise ValueError("cross_entropy_forward: reduction 'mean'/'sum' needs `out` and a `loss` buffer of "
                             f"{compute_dtype(dtype_name_of(logits))}")
        if reduction == "mean" and total_weight is None:
            raise ValueError("cross_entropy_forward: reduction 'mean' needs a `total_weight` buffer")
    block_size, num_warps = _settings(n_cols, block_size, num_warps, dtype_name_of(logits), probs)
    if n_rows > 0:
        _cross_entropy_forward_kernel[(n_rows,)](
            logits, target, weight if weight is not None else lse, loss, lse, target_weight,
            errors if errors is not None else target_weight,
            n_rows, n_cols,
            logits_row_stride, target_row_stride,
            ignore_index, *float64_parts(label_smoothing), error_code if errors is not None else 0,
            HAS_WEIGHT=weight is not None, HAS_SMOOTHING=label_smoothing > 0.0, PROBS=probs, BLOCK_SIZE=block_size,
            num_warps=num_warps,
        )
    if reduction != "none":
        mean = reduction == "mean"
        loss_reduce_kernel[(1,)](
            loss, target_weight, out, total_weight if mean else out,
            n_rows, 0,
            MEAN=mean, BLOCK_SIZE=REDUCE_BLOCK_SIZE,
            num_warps=4,
        )


def cross_entropy_backward(logits, target, weight, lse, grad_loss, grad_logits, n_rows, n_cols, logits_row_stride,
                           grad_logits_row_stride=None, *, ignore_index=-100, label_smoothing=0.0, reduction="mean",
                           grad_loss_stride=None, total_weight=None, in_place=False, target_row_stride=None,
                           grad_target=None, grad_target_row_stride=None, errors=None, error_code=0, block_size=None,
                           num_warps=None):
    """d loss / d logits into `grad_logits` (n_rows x n_cols, its own dtype), or into `logits` itself when
    `in_place` (the logits are dead after the backward; pass grad_logits=None).

    `grad_loss` is the upstream gradient: n_rows values (stride `grad_loss_stride`, default 1) for
    reduction='none', one value otherwise. 'mean' also needs `total_weight` from the forward. For probability
    targets, `grad_target` (n_rows x n_cols, rows `grad_target_row_stride` apart, default n_cols) receives
    d loss / d target when given. Out-of-bounds class indices get a zero gradient and are reported as in the
    forward.
    """
    target_row_stride = n_cols if target_row_stride is None else target_row_stride
    check_record("cross_entropy_backward", errors)
    probs = _check_common("cross_entropy_backward", logits, target, weight, n_rows, n_cols, logits_row_stride,
                          reduction, label_smoothing, target_row_stride)
    if grad_target is not None and not probs:
        raise ValueError("cross_entropy_backward: grad_target needs probability targets")
    if in_place:
        if grad_target is not None:
            raise ValueError("cross_entropy_backward: in_place cannot also compute grad_target (it reads the logits)")
        if grad_logits is not None and grad_logits.data_ptr() != logits.data_ptr():
            raise ValueError("cross_entropy_backward: in_place writes into `logits`; pass grad_logits=None")
        grad_logits, grad_logits_row_stride = logits, logits_row_stride
    elif grad_logits is None:
        raise ValueError("cross_entropy_backward: needs `grad_logits` unless in_place")
    if grad_logits_row_stride is None:
        grad_logits_row_stride = n_cols
    if grad_target_row_stride is None:
        grad_target_row_stride = n_cols
    if grad_logits_row_stride < n_cols or (grad_target is not None and grad_target_row_stride < n_cols):
        raise ValueError(f"cross_entropy_backward: gradient row strides {grad_logits_row_stride}, "
                         f"{grad_target_row_stride} must be >= n_cols {n_cols}")
    if reduction == "none":
        grad_loss_stride = 1 if grad_loss_stride is None else grad_loss_stride
    else:
        grad_loss_stride = 0  # one upstream scalar for every row
    if reduction == "mean" and total_weight is None:
        raise ValueError("cross_entropy_backward: reduction 'mean' needs the forward's `total_weight`")
    if n_rows == 0:
        return
    block_size, num_warps = _settings(n_cols, block_size, num_warps, dtype_name_of(logits), probs)
    _cross_entropy_backward_kernel[(n_rows,)](
        logits, target, weight if weight is not None else lse, lse, grad_loss,
        total_weight if total_weight is not None else lse, grad_logits,
        grad_target if grad_target is not None else grad_logits, errors if errors is not None else lse,
        n_rows, n_cols,
        logits_row_stride, target_row_stride, grad_logits_row_stride, grad_target_row_stride, grad_loss_stride,
        ignore_index, *float64_parts(label_smoothing), error_code if errors is not None else 0,
        HAS_WEIGHT=weight is not None, HAS_SMOOTHING=label_smoothing > 0.0, PROBS=probs, MEAN=reduction == "mean",
        GRAD_TARGET=grad_target is not None, BLOCK_SIZE=block_size,
        num_warps=num_warps,
    )
