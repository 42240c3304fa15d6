"""Negative log-likelihood of log-probabilities: forward and backward kernels and their launchers.

Layout: the input `x` is seen as (N, C, D): N samples, C classes, D positions per sample (the product
of PyTorch's d1..dk; D = 1 for (N, C) inputs, and (C,) is (1, C, 1)); the target as (N, D) class
indices; any strides (array arguments, triton_kernels/strided.py). Prediction p = (n, d) reads the one
element x[n, target[n, d], d]:
    loss[n, d] = -w[t] * x[n, t, d]   (t = target[n, d]; w = 1 when no weight; 0 where t == ignore_index)
'mean' divides the sum by sum w[t] over non-ignored predictions (0 / 0 = nan when all are ignored, as
PyTorch); 'sum' does not divide.

Forward: one program per block of predictions writes their losses ('none') or the block's partial sums of
loss and weight ('mean'/'sum'); then one program adds the partials in a fixed order (deterministic, no
atomics: cross_entropy.loss_reduce_kernel). Backward: one program per (predictions x classes) tile writes
-w[t] * g into the target's column and 0 elsewhere: the whole gradient in one pass.

Numbers: fp32 math for float32/float16/bfloat16 inputs, fp64 for float64 (`COMPUTE`, from the input's
dtype); partial sums in the dtype of the `partials` buffer the caller allocates (`partials_dtype`).
Class indices are checked on the device: the kernels never read with an index outside [0, C) (such a
prediction counts as ignored) and report one that is not ignore_index in the caller's error record
(device_errors.py) when one is given.
"""
import triton
import triton.language as tl

from .cross_entropy import REDUCE_BLOCK_SIZE, REDUCTIONS, loss_reduce_kernel
from .device_errors import check_record, report_bad_lanes
from .strided import dtype_name_of, interpreting

BLOCK_SIZE = 1024  # predictions per forward program: unmeasured starting point (a gather, bandwidth-bound)
# Gradient tile, 4 warps: unmeasured. 32 x 128 spilled 388-2880 B (sm_80/sm_90, fp32-fp64, AOT): its int64
# addresses take two registers per element; 8 x 128 takes 91-128 registers and does not spill.
BACKWARD_BLOCK_P, BACKWARD_BLOCK_C = 8, 128
INTERPRETER_BLOCK = 1 << 14  # the interpreter's cost is per program: big blocks there
_FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
_INDEX_DTYPES = ("int64", "int32", "int16", "int8", "uint8")


@triton.jit
def _predictions(target_ptr, offs, mask, n_inner, n_classes, stride_tn, stride_td, ignore_index, error_ptr,
                 error_code, BLOCK: tl.constexpr):
    """(n, d, target, valid) of the predictions `offs`: valid where in range and not ignored, with a class in
    [0, C), so that nothing is ever read with an out-of-range index; a class outside it is reported."""
    n = offs // n_inner
    d = offs % n_inner
    target = tl.load(target_ptr + n * stride_tn + d * stride_td, mask=mask, other=0).to(tl.int64)
    in_bounds = (target >= 0) & (target < n_classes)
    counted = mask & (target != ignore_index)
    report_bad_lanes(error_ptr, error_code, counted & ~in_bounds, target, 0, 0, BLOCK)
    return n, d, target, counted & in_bounds


@triton.jit(do_not_specialize=["error_code"])
def _nll_loss_forward_kernel(
    # pointers
    x_ptr, target_ptr, weight_ptr, loss_ptr, partial_ptr, error_ptr,
    # sizes
    n_preds, n_classes, n_inner,
    # strides
    stride_xn, stride_xc, stride_xd, stride_tn, stride_td, stride_ln, stride_ld,
    # meta-parameters
    ignore_index, error_code,
    HAS_WEIGHT: tl.constexpr, REDUCE: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program computes the losses of BLOCK_SIZE predictions: stored as they are ('none'), or summed into
    # partial_ptr[pid] (losses) and partial_ptr[n_programs + pid] (weights).
    COMPUTE: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_preds
    n, d, target, valid = _predictions(target_ptr, offs, mask, n_inner, n_classes, stride_tn, stride_td, ignore_index,
                                       error_ptr, error_code, BLOCK_SIZE)
    x = tl.load(x_ptr + n * stride_xn + target * stride_xc + d * stride_xd, mask=valid, other=0.0).to(COMPUTE)
    if HAS_WEIGHT:
        w = tl.load(weight_ptr + target, mask=valid, other=0.0).to(COMPUTE)
    else:
        w = tl.where(valid, 1.0, 0.0).to(COMPUTE)
    loss = tl.where(valid, -(w * x), 0.0)
    if REDUCE:
        tl.store(partial_ptr + pid, tl.sum(loss, axis=0))
        tl.store(partial_ptr + tl.num_programs(0) + pid, tl.sum(w, axis=0))
    else:
        tl.store(loss_ptr + n * stride_ln + d * stride_ld, loss.to(loss_ptr.dtype.element_ty), mask=mask)


@triton.jit(do_not_specialize=["error_code"])
def _nll_loss_backward_kernel(
    # pointers
    target_ptr, weight_ptr, grad_loss_ptr, total_weight_ptr, grad_x_ptr, error_ptr,
    # sizes
    n_preds, n_classes, n_inner,
    # strides
    stride_tn, stride_td, stride_gn, stride_gd, stride_dxn, stride_dxc, stride_dxd,
    # meta-parameters
    ignore_index, error_code,
    HAS_WEIGHT: tl.constexpr, MEAN: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
):
    # One program writes a BLOCK_P x BLOCK_C tile of d loss / d x: -w[t] * g (g the prediction's upstream
    # gradient, divided by the total weight for 'mean') in column t, zero elsewhere and in ignored rows.
    COMPUTE: tl.constexpr = tl.float64 if grad_x_ptr.dtype.element_ty == tl.float64 else tl.float32
    offs_p = tl.program_id(0).to(tl.int64) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_c = tl.program_id(1).to(tl.int64) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_p = offs_p < n_preds
    n, d, target, valid = _predictions(target_ptr, offs_p, mask_p, n_inner, n_classes, stride_tn, stride_td,
                                       ignore_index, error_ptr, error_code, BLOCK_P)
    g = tl.load(grad_loss_ptr + n * stride_gn + d * stride_gd, mask=valid, other=0.0).to(COMPUTE)
    if MEAN:
        g = g / tl.load(total_weight_ptr).to(COMPUTE)
    if HAS_WEIGHT:
        g = g * tl.load(weight_ptr + target, mask=valid, other=0.0).to(COMPUTE)
    hit = valid[:, None] & (offs_c[None, :] == target[:, None])
    grad = tl.where(hit, -g[:, None], 0.0)
    mask = mask_p[:, None] & (offs_c[None, :] < n_classes)
    grad_ptrs = grad_x_ptr + n[:, None] * stride_dxn + offs_c[None, :] * stride_dxc + d[:, None] * stride_dxd
    tl.store(grad_ptrs, grad.to(grad_x_ptr.dtype.element_ty), mask=mask)


# ----------------------------------------------------------------------------------------------
# Host launchers
# ----------------------------------------------------------------------------------------------
def _block_size():
    return INTERPRETER_BLOCK if interpreting() else BLOCK_SIZE


def n_partials(n_preds):
    """How many partial sums the forward writes for 'mean'/'sum': the `partials` buffer holds twice that."""
    return max(1, triton.cdiv(n_preds, _block_size()))


def partials_dtype(x_dtype_name):
    """The dtype of the `partials` (and `total_weight`) buffers: float64 for float64 input, else float32."""
    return "float64" if x_dtype_name == "float64" else "float32"


def _check(name, x, target, weight, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if len(x.shape) != 3:
        raise ValueError(f"{name}: input must be seen as (N, C, D), got shape {tuple(x.shape)}")
    n, n_classes, n_inner = x.shape
    if tuple(target.shape) != (n, n_inner):
        raise ValueError(f"{name}: target has shape {tuple(target.shape)}, expected {(n, n_inner)} for input "
                         f"{tuple(x.shape)}")
    if dtype_name_of(x) not in _FLOAT_DTYPES:
        raise TypeError(f"{name}: input must be float32, float16, bfloat16 or float64, got {x.dtype}")
    if dtype_name_of(target) not in _INDEX_DTYPES:
        raise TypeError(f"{name}: target must hold integer class indices, got {target.dtype}")
    if weight is not None:
        if tuple(weight.shape) != (n_classes,) or weight.stride()[0] != 1:
            raise ValueError(f"{name}: weight must be contiguous of shape ({n_classes},), got {tuple(weight.shape)}")
        if dtype_name_of(weight) not in _FLOAT_DTYPES:
            raise TypeError(f"{name}: weight must be a float tensor, got {weight.dtype}")
    return n, n_classes, n_inner


def nll_loss_forward(x, target, weight, *, ignore_index=-100, reduction="mean", loss=None, partials=None, out=None,
                     total_weight=None, errors=None, error_code=0):
    """NLL of log-probabilities `x` (N, C, D) against class indices `target` (N, D); `weight` (C,) or None.

    reduction='none' writes `loss` (N, D, any strides, its own dtype). 'mean'/'sum' write the result to `out`
    (1 element) using `partials` (2 * n_partials(N * D) elements of partials_dtype); 'mean' also writes the
    sum of target weights to `total_weight` (1 element of partials_dtype), the backward's divisor. A class index
    outside [0, C) counts as ignored and, given an `errors` record and an `error_code`, is reported there."""
    n, n_classes, n_inner = _check("nll_loss_forward", x, target, weight, reduction)
    check_record("nll_loss_forward", errors)
    reduce = reduction != "none"
    if reduce and (out is None or partials is None or (reduction == "mean" and total_weight is None)):
        raise ValueError("nll_loss_forward: reduction 'mean'/'sum' needs `partials` and `out` buffers "
                         "('mean' also `total_weight`)")
    if not reduce and (loss is None or tuple(loss.shape) != (n, n_inner)):
        raise ValueError(f"nll_loss_forward: reduction 'none' needs a `loss` buffer of shape {(n, n_inner)}")
    n_preds = n * n_inner
    block_size = _block_size()
    programs = n_partials(n_preds)
    if reduce and partials.shape[0] < 2 * programs:
        raise ValueError(f"nll_loss_forward: `partials` needs {2 * programs} elements, got {partials.shape[0]}")
    loss_strides = loss.stride() if loss is not None else (0, 0)
    _nll_loss_forward_kernel[(programs,)](
        x, target, weight if weight is not None else x, loss if loss is not None else partials,
        partials if partials is not None else loss, errors if errors is not None else target,
        n_preds, n_classes, n_inner,
        *x.stride(), *target.stride(), *loss_strides,
        ignore_index, error_code if errors is not None else 0,
        HAS_WEIGHT=weight is not None, REDUCE=reduce, BLOCK_SIZE=block_size,
        num_warps=4,
    )
    if reduce:
        mean = reduction == "mean"
        loss_reduce_kernel[(1,)](
            partials, partials, out, total_weight if mean else out,
            programs, programs,
            MEAN=mean, BLOCK_SIZE=REDUCE_BLOCK_SIZE,
            num_warps=4,
        )


def nll_loss_backward(target, weight, grad_loss, grad_x, *, ignore_index=-100, reduction="mean", total_weight=None,
                      errors=None, error_code=0):
    """d loss / d x into `grad_x` (N, C, D, any strides, its own dtype), every element written.

    `grad_loss` is the upstream gradient: (N, D) values (any strides) for reduction='none', one element
    otherwise. 'mean' also needs the forward's `total_weight`. Out-of-bounds class indices get no gradient and
    are reported as in the forward."""
    n, n_classes, n_inner = _check("nll_loss_backward", grad_x, target, weight, reduction)
    check_record("nll_loss_backward", errors)
    if reduction == "none":
        if tuple(grad_loss.shape) != (n, n_inner):
            raise ValueError(f"nll_loss_backward: grad_loss has shape {tuple(grad_loss.shape)}, expected "
                             f"{(n, n_inner)}")
        grad_strides = grad_loss.stride()
    else:
        grad_strides = (0, 0)  # one upstream scalar for every prediction
    if reduction == "mean" and total_weight is None:
        raise ValueError("nll_loss_backward: reduction 'mean' needs the forward's `total_weight`")
    n_preds = n * n_inner
    if n_preds == 0 or n_classes == 0:
        return
    if interpreting():
        block_c = min(INTERPRETER_BLOCK, triton.next_power_of_2(n_classes))
        block_p = max(1, min(INTERPRETER_BLOCK // block_c, triton.next_power_of_2(n_preds)))
    else:
        block_p, block_c = BACKWARD_BLOCK_P, BACKWARD_BLOCK_C
    grid = (triton.cdiv(n_preds, block_p), triton.cdiv(n_classes, block_c))
    _nll_loss_backward_kernel[grid](
        target, weight if weight is not None else grad_x, grad_loss,
        total_weight if total_weight is not None else grad_loss, grad_x, errors if errors is not None else target,
        n_preds, n_classes, n_inner,
        *target.stride(), *grad_strides, *grad_x.stride(),
        ignore_index, error_code if errors is not None else 0,
        HAS_WEIGHT=weight is not None, MEAN=reduction == "mean", BLOCK_P=block_p, BLOCK_C=block_c,
        num_warps=4,
    )
