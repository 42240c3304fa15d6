"""Binary cross-entropy, elementwise: on logits (sigmoid fused, stable for any logit) and on probabilities.

The input is an (n_rows x n_cols) contiguous block (any leading dims flattened into rows).
`weight` broadcasts through two strides (weight_row_stride, weight_col_stride; 0 for a broadcast
dim), `pos_weight` (logits only) runs along the last dim: one value per column, like PyTorch's
pos_weight of shape (C,).

    with logits:  loss = (1 - y) x + (1 + (pw - 1) y) (log1p(exp(-|x|)) + max(-x, 0))    (* w)
                  (= max(x, 0) - x y + log1p(exp(-|x|)) when pw = 1)
                  d/dx = sigmoid(x) (1 + (pw - 1) y) - pw y                            (* w * g)
                  d/dy = (pw - 1) log(1 + exp(-x)) - x                                 (* w * g)
    on probs:     loss = -(y max(log p, -100) + (1 - y) max(log(1 - p), -100))        (* w)
                  d/dp = (p - y) / max(p (1 - p), 1e-12)                               (* w * g)
                  d/dy = log(1 - p) - log(p)                                           (* w * g)

One pass each way. 'mean'/'sum' reduce without atomics: each program writes its block's partial
sum and one small program adds the partials in a fixed order (deterministic); 'mean' divides by
n_rows * n_cols as PyTorch (weights do not normalise).

Numbers: fp32 math for float32/float16/bfloat16, fp64 for float64 (COMPUTE); partial sums in the
dtype of the `partials` buffer (`partials_dtype`); 'mean' divides by an integer count in-kernel.

Launchers take raw buffers (objects with `data_ptr()` and `dtype`) and sizes; the caller
allocates every buffer (the partial-sum scratch included: `n_partials(n_rows, n_cols)` floats). The forward on
probabilities checks that inputs and targets lie in [0, 1] on the device and reports a violation in the caller's
error record (device_errors.py).
"""
import triton
import triton.language as tl

from .device_errors import check_record, record_error
from .strided import dtype_name_of

BLOCK_SIZE = 2048  # elements per program (8 per thread): a starting point, unmeasured on a GPU; sweep on an H100.
# AOT (sm_80/sm_90, every flag on): 4096 x 8 warps took 166-192 registers (no spills), too few warps per SM
# for a bandwidth-bound kernel; 2048 x 8 warps halves the per-thread footprint.
NUM_WARPS = 8
REDUCE_BLOCK_SIZE = 1024
REDUCTIONS = ("none", "mean", "sum")
_FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
# tl.constexpr: a compiled kernel may read no other module global (only the interpreter allowed plain floats,
# so the probability form did not compile for a GPU until its AOT configs were added).
LOG_CLAMP = tl.constexpr(-100.0)  # PyTorch clamps log(p) and log(1 - p) at -100 in binary_cross_entropy
BACKWARD_EPS = tl.constexpr(1e-12)  # PyTorch's floor on p (1 - p) in binary_cross_entropy's backward


@triton.jit
def _log1p(z):
    # log(1 + z) accurate for small |z| (Goldberg's trick): libdevice's log1p is not available
    # in the interpreter. Exact where 1 + z rounds to 1; relative error a few ulp elsewhere.
    u = 1.0 + z
    return tl.where(u == 1.0, z, tl.log(u) * (z / (u - 1.0)))


@triton.jit
def _load_operands(x_ptr, y_ptr, weight_ptr, pos_weight_ptr, offs, mask, n_cols, weight_row_stride,
                   weight_col_stride, COMPUTE: tl.constexpr, HAS_WEIGHT: tl.constexpr, HAS_POS_WEIGHT: tl.constexpr):
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
    y = tl.load(y_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
    if HAS_WEIGHT:
        w = tl.load(weight_ptr + (offs // n_cols) * weight_row_stride + (offs % n_cols) * weight_col_stride,
                    mask=mask, other=0.0).to(COMPUTE)
    else:
        w = 1.0
    if HAS_POS_WEIGHT:
        pw = tl.load(pos_weight_ptr + offs % n_cols, mask=mask, other=1.0).to(COMPUTE)
    else:
        pw = 1.0
    return x, y, w, pw


@triton.jit
def _softplus_neg(x):
    # log(1 + exp(-x)) = -log(sigmoid(x)), stable for any x
    return _log1p(tl.exp(-tl.abs(x))) + tl.maximum(-x, 0.0)


@triton.jit(do_not_specialize=["error_code"])
def _bce_forward_kernel(
    # pointers
    x_ptr, y_ptr, weight_ptr, pos_weight_ptr, loss_ptr, partial_ptr, error_ptr,
    # sizes
    n_rows, n_cols,
    # strides
    weight_row_stride, weight_col_stride,
    # meta-parameters
    error_code, FROM_LOGITS: tl.constexpr, HAS_WEIGHT: tl.constexpr, HAS_POS_WEIGHT: tl.constexpr, REDUCE: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
):
    # One program computes the loss of BLOCK_SIZE consecutive elements: stored as is, or summed into one partial.
    # On probabilities it also checks that inputs, then targets, lie in [0, 1] (nan does not), and reports the
    # first operand that does not with `error_code` (device_errors.py; arg0: 0 input, 1 target).
    COMPUTE: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_rows * n_cols
    x, y, w, pw = _load_operands(x_ptr, y_ptr, weight_ptr, pos_weight_ptr, offs, mask, n_cols, weight_row_stride,
                                 weight_col_stride, COMPUTE, HAS_WEIGHT, HAS_POS_WEIGHT)
    if FROM_LOGITS:
        softplus_neg = _softplus_neg(x)
        if HAS_POS_WEIGHT:
            loss = (1.0 - y) * x + (1.0 + (pw - 1.0) * y) * softplus_neg
        else:
            loss = (1.0 - y) * x + softplus_neg
    else:
        if error_code != 0:
            bad_x = tl.max((mask & ~((x >= 0.0) & (x <= 1.0))).to(tl.int32), axis=0)
            bad_y = tl.max((mask & ~((y >= 0.0) & (y <= 1.0))).to(tl.int32), axis=0)
            if (bad_x | bad_y) != 0:
                record_error(error_ptr, error_code, 0, tl.where(bad_x != 0, 0, 1), 0)
        log_p = tl.maximum(tl.log(x), LOG_CLAMP)
        log_1mp = tl.maximum(_log1p(-x), LOG_CLAMP)
        loss = -(y * log_p + (1.0 - y) * log_1mp)
    loss = loss * w
    if REDUCE:
        tl.store(partial_ptr + pid, tl.sum(tl.where(mask, loss, 0.0), axis=0))
    else:
        tl.store(loss_ptr + offs, loss.to(loss_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _sum_partials_kernel(
    # pointers
    partial_ptr, out_ptr,
    # sizes
    n_partials, divisor,
    # meta-parameters
    BLOCK_SIZE: tl.constexpr,
):
    # One program adds every partial sum, in a fixed order, and writes total / divisor (0 / 0 = nan, as PyTorch's
    # mean of nothing).
    acc = tl.zeros((BLOCK_SIZE,), partial_ptr.dtype.element_ty)
    for start in range(0, n_partials, BLOCK_SIZE):
        offs = start + tl.arange(0, BLOCK_SIZE)
        mask = offs < n_partials
        acc += tl.load(partial_ptr + offs, mask=mask, other=0.0)
    total = tl.sum(acc, axis=0) / tl.cast(divisor, partial_ptr.dtype.element_ty)
    tl.store(out_ptr, total.to(out_ptr.dtype.element_ty))


@triton.jit
def _bce_backward_kernel(
    # pointers
    x_ptr, y_ptr, weight_ptr, pos_weight_ptr, grad_loss_ptr, grad_x_ptr, grad_y_ptr,
    # sizes
    n_rows, n_cols, divisor,
    # strides
    weight_row_stride, weight_col_stride, grad_loss_stride,
    # meta-parameters
    FROM_LOGITS: tl.constexpr, HAS_WEIGHT: tl.constexpr, HAS_POS_WEIGHT: tl.constexpr, GRAD_X: tl.constexpr,
    GRAD_Y: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program computes d loss / d input (GRAD_X) and d loss / d target (GRAD_Y) for BLOCK_SIZE consecutive
    # elements; g is the upstream gradient divided by `divisor` (the element count for 'mean', else 1).
    COMPUTE: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_rows * n_cols
    x, y, w, pw = _load_operands(x_ptr, y_ptr, weight_ptr, pos_weight_ptr, offs, mask, n_cols, weight_row_stride,
                                 weight_col_stride, COMPUTE, HAS_WEIGHT, HAS_POS_WEIGHT)
    g = tl.load(grad_loss_ptr + offs * grad_loss_stride, mask=mask, other=0.0).to(COMPUTE)
    g = g / tl.cast(divisor, COMPUTE) * w
    if GRAD_X:
        if FROM_LOGITS:
            z = tl.exp(-tl.abs(x))
            sigmoid = tl.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
            if HAS_POS_WEIGHT:
                grad = sigmoid * (1.0 + (pw - 1.0) * y) - pw * y
            else:
                grad = sigmoid - y
        else:
            grad = (x - y) / tl.maximum(x * (1.0 - x), BACKWARD_EPS)
        tl.store(grad_x_ptr + offs, (grad * g).to(grad_x_ptr.dtype.element_ty), mask=mask)
    if GRAD_Y:
        if FROM_LOGITS:
            grad_y = (pw - 1.0) * _softplus_neg(x) - x  # -x - (pw - 1) log(sigmoid(x))
        else:
            grad_y = _log1p(-x) - tl.log(x)
        tl.store(grad_y_ptr + offs, (grad_y * g).to(grad_y_ptr.dtype.element_ty), mask=mask)


def n_partials(n_rows, n_cols, block_size=BLOCK_SIZE):
    """How many partial sums the forward writes for reduction 'mean'/'sum' (size of `partials`)."""
    return max(1, triton.cdiv(n_rows * n_cols, block_size))


def partials_dtype(x_dtype_name):
    """The dtype of the `partials` buffer: float64 for float64 input, else float32."""
    return "float64" if x_dtype_name == "float64" else "float32"


def _check(name, x, y, weight, pos_weight, n_rows, n_cols, reduction, from_logits):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if n_rows < 0 or n_cols < 1:
        raise ValueError(f"{name}: need n_rows >= 0 and n_cols >= 1, got {n_rows} x {n_cols}")
    for label, buffer in (("input", x), ("target", y), ("weight", weight), ("pos_weight", pos_weight)):
        if buffer is not None and dtype_name_of(buffer) not in _FLOAT_DTYPES:
            raise TypeError(f"{name}: {label} must be float32, float16, bfloat16 or float64, got {buffer.dtype}")
    if pos_weight is not None and not from_logits:
        raise ValueError(f"{name}: pos_weight applies to the logits form only")


def bce_forward(x, y, weight, pos_weight, loss, partials, n_rows, n_cols, *, from_logits=True, reduction="mean",
                weight_row_stride=None, weight_col_stride=1, out=None, errors=None, error_code=0, block_size=BLOCK_SIZE,
                num_warps=NUM_WARPS):
    """Binary cross-entropy of `x` (logits if `from_logits`, else probabilities) against targets `y`, both
    n_rows x n_cols contiguous. reduction='none' writes `loss` (n_rows x n_cols, its own dtype); 'mean'/'sum'
    write per-block sums to `partials` (`n_partials(...)` elements of `partials_dtype`) and the result to `out`
    (1 element). `weight` (strides weight_row_stride, default n_cols, and weight_col_stride; 0 to broadcast)
    and `pos_weight` (n_cols values, logits only) may be None. On probabilities, an input or target outside
    [0, 1] is reported in the `errors` record, when one is given with an `error_code` (device_errors.py): the
    loss is then whatever the formula gives, never a read out of bounds.
    """
    _check("bce_forward", x, y, weight, pos_weight, n_rows, n_cols, reduction, from_logits)
    check_record("bce_forward", errors)
    reduce = reduction != "none"
    if reduce and (out is None or partials is None):
        raise ValueError("bce_forward: reduction 'mean'/'sum' needs `partials` and `out` buffers")
    if not reduce and loss is None:
        raise ValueError("bce_forward: reduction 'none' needs a `loss` buffer")
    n_elements = n_rows * n_cols
    n_programs = triton.cdiv(n_elements, block_size)
    if n_programs > 0:
        _bce_forward_kernel[(n_programs,)](
            x, y, weight if weight is not None else x, pos_weight if pos_weight is not None else x,
            loss if loss is not None else partials, partials if partials is not None else loss,
            errors if errors is not None else x,
            n_rows, n_cols,
            n_cols if weight_row_stride is None else weight_row_stride, weight_col_stride,
            error_code if errors is not None and not from_logits else 0, FROM_LOGITS=from_logits, HAS_WEIGHT=weight is not None, HAS_POS_WEIGHT=pos_weight is not None,
            REDUCE=reduce, BLOCK_SIZE=block_size,
            num_warps=num_warps,
        )
    if reduce:
        _sum_partials_kernel[(1,)](
            partials, out,
            n_programs, n_elements if reduction == "mean" else 1,
            BLOCK_SIZE=REDUCE_BLOCK_SIZE,
            num_warps=4,
        )


def bce_backward(x, y, weight, pos_weight, grad_loss, grad_x, n_rows, n_cols, *, from_logits=True, reduction="mean",
                 weight_row_stride=None, weight_col_stride=1, grad_y=None, block_size=BLOCK_SIZE,
                 num_warps=NUM_WARPS):
    """d loss / d x into `grad_x` (n_rows x n_cols contiguous, its own dtype; may be `x`'s own buffer) and, when
    given, d loss / d y into `grad_y` (likewise; either may be None, not both). `grad_loss` is the upstream
    gradient: n_rows x n_cols contiguous values for reduction='none', one otherwise."""
    _check("bce_backward", x, y, weight, pos_weight, n_rows, n_cols, reduction, from_logits)
    if grad_x is None and grad_y is None:
        raise ValueError("bce_backward: needs grad_x or grad_y")
    n_elements = n_rows * n_cols
    if n_elements == 0:
        return
    _bce_backward_kernel[(triton.cdiv(n_elements, block_size),)](
        x, y, weight if weight is not None else x, pos_weight if pos_weight is not None else x, grad_loss,
        grad_x if grad_x is not None else grad_y, grad_y if grad_y is not None else grad_x,
        n_rows, n_cols, n_elements if reduction == "mean" else 1,
        n_cols if weight_row_stride is None else weight_row_stride, weight_col_stride,
        1 if reduction == "none" else 0,
        FROM_LOGITS=from_logits, HAS_WEIGHT=weight is not None, HAS_POS_WEIGHT=pos_weight is not None,
        GRAD_X=grad_x is not None, GRAD_Y=grad_y is not None, BLOCK_SIZE=block_size,
        num_warps=num_warps,
    )
