"""Batch normalisation: one kernel for the forward (statistics, normalisation, affine, running-statistics update)
and one for the backward (input, weight and bias gradients).

One program owns one channel c of x seen as (N, C, S) (S: the spatial dims, merged): it streams the channel's
N*S values. The forward's statistics (training) are Welford's: every lane of the block keeps a count, mean and
sum of squared deviations of the values it saw, and the lanes are merged at the end (Chan et al.'s pairwise
formula, in closed form over the block): no cancellation, whatever the mean. A second pass writes
y = (x - mean) * invstd * weight + bias. The program also writes mean and invstd (float32; float64 for float64)
for the backward, and updates running_mean / running_var in place (momentum, unbiased variance n / (n - 1)), as
PyTorch does. In evaluation the running statistics are read instead, and one pass writes y.

The backward, training: a first pass sums dy and dy * xhat (xhat = (x - mean) * invstd); they are the bias and
weight gradients, and a second pass writes dx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)). In
evaluation the statistics are constants: dx = dy * weight * invstd.

Parallelism is one program per channel (C programs, each a long loop): simple and deterministic (no cross-
program reduction); it leaves SMs idle when C is small next to their count (perf/report.py measures it).
"""
import triton
import triton.language as tl

from .strided import dtype_name_of, interpreting

BLOCK_SIZE = 1024  # values per step: unmeasured (no GPU run yet)
INTERPRETER_BLOCK_SIZE = 1 << 14
_FLOATS = ("float16", "bfloat16", "float32", "float64")


@triton.jit
def batch_norm_forward_kernel(
        # Pointers
        x_ptr, weight_ptr, bias_ptr, y_ptr, mean_ptr, invstd_ptr, running_mean_ptr, running_var_ptr,
        # Sizes
        N, S,
        # Strides
        stride_xn, stride_xc, stride_xs, stride_yn, stride_yc, stride_ys,
        # Scalars
        momentum, eps,
        # Meta-parameters
        TRAINING: tl.constexpr, HAS_WEIGHT: tl.constexpr, HAS_BIAS: tl.constexpr, UPDATE_RUNNING: tl.constexpr,
        BLOCK_SIZE: tl.constexpr):
    # One program normalises channel program_id(0) of x (N, C, S).
    c = tl.program_id(0)
    count = N * S
    ACC: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    x_channel = x_ptr + c * stride_xc
    y_channel = y_ptr + c * stride_yc
    lanes = tl.arange(0, BLOCK_SIZE)
    if TRAINING:
        lane_count = tl.zeros((BLOCK_SIZE,), dtype=ACC)
        lane_mean = tl.zeros((BLOCK_SIZE,), dtype=ACC)
        lane_m2 = tl.zeros((BLOCK_SIZE,), dtype=ACC)
        for start in range(0, count, BLOCK_SIZE):
            offs = start + lanes
            mask = offs < count
            x = tl.load(x_channel + (offs // S) * stride_xn + (offs % S) * stride_xs, mask=mask, other=0.0).to(ACC)
            lane_count += tl.where(mask, 1.0, 0.0)
            delta = tl.where(mask, x - lane_mean, 0.0)
            lane_mean += delta / tl.maximum(lane_count, 1.0)
            lane_m2 += delta * tl.where(mask, x - lane_mean, 0.0)
        total = tl.sum(lane_count, axis=0)
        mean = tl.sum(lane_count * lane_mean, axis=0) / total
        spread = lane_mean - mean
        m2 = tl.sum(lane_m2 + lane_count * spread * spread, axis=0)
        var = m2 / total
        invstd = 1.0 / tl.sqrt(var + eps)
        tl.store(mean_ptr + c, mean)
        tl.store(invstd_ptr + c, invstd)
        if UPDATE_RUNNING:
            unbiased = var * total / (total - 1.0)
            old_mean = tl.load(running_mean_ptr + c).to(ACC)
            old_var = tl.load(running_var_ptr + c).to(ACC)
            tl.store(running_mean_ptr + c, (momentum * mean + (1.0 - momentum) * old_mean).to(
                running_mean_ptr.dtype.element_ty))
            tl.store(running_var_ptr + c, (momentum * unbiased + (1.0 - momentum) * old_var).to(
                running_var_ptr.dtype.element_ty))
    else:
        mean = tl.load(running_mean_ptr + c).to(ACC)
        invstd = 1.0 / tl.sqrt(tl.load(running_var_ptr + c).to(ACC) + eps)
        tl.store(mean_ptr + c, mean)
        tl.store(invstd_ptr + c, invstd)
    scale = invstd
    shift = -mean * invstd
    if HAS_WEIGHT:
        w = tl.load(weight_ptr + c).to(ACC)
        scale = scale * w
        shift = shift * w
    if HAS_BIAS:
        shift += tl.load(bias_ptr + c).to(ACC)
    for start in range(0, count, BLOCK_SIZE):
        offs = start + lanes
        mask = offs < count
        n = offs // S
        s = offs % S
        x = tl.load(x_channel + n * stride_xn + s * stride_xs, mask=mask, other=0.0).to(ACC)
        tl.store(y_channel + n * stride_yn + s * stride_ys, (x * scale + shift).to(y_ptr.dtype.element_ty),
                 mask=mask)


@triton.jit
def batch_norm_backward_kernel(
        # Pointers
        dy_ptr, x_ptr, weight_ptr, mean_ptr, invstd_ptr, dx_ptr, dweight_ptr, dbias_ptr,
        # Sizes
        N, S,
        # Strides
        stride_dyn, stride_dyc, stride_dys, stride_xn, stride_xc, stride_xs, stride_dxn, stride_dxc, stride_dxs,
        # Meta-parameters
        TRAINING: tl.constexpr, HAS_WEIGHT: tl.constexpr, COMPUTE_DX: tl.constexpr, COMPUTE_DW: tl.constexpr,
        COMPUTE_DB: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # One program computes the gradients of channel program_id(0).
    c = tl.program_id(0)
    count = N * S
    ACC: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    lanes = tl.arange(0, BLOCK_SIZE)
    mean = tl.load(mean_ptr + c).to(ACC)
    invstd = tl.load(invstd_ptr + c).to(ACC)
    dy_channel = dy_ptr + c * stride_dyc
    x_channel = x_ptr + c * stride_xc
    sum_dy = tl.zeros((BLOCK_SIZE,), dtype=ACC)
    sum_dy_xhat = tl.zeros((BLOCK_SIZE,), dtype=ACC)
    if TRAINING or COMPUTE_DW or COMPUTE_DB:
        for start in range(0, count, BLOCK_SIZE):
            offs = start + lanes
            mask = offs < count
            n = offs // S
            s = offs % S
            dy = tl.load(dy_channel + n * stride_dyn + s * stride_dys, mask=mask, other=0.0).to(ACC)
            x = tl.load(x_channel + n * stride_xn + s * stride_xs, mask=mask, other=0.0).to(ACC)
            sum_dy += dy
            sum_dy_xhat += dy * (x - mean) * invstd
    total_dy = tl.sum(sum_dy, axis=0)
    total_dy_xhat = tl.sum(sum_dy_xhat, axis=0)
    if COMPUTE_DW:
        tl.store(dweight_ptr + c, total_dy_xhat.to(dweight_ptr.dtype.element_ty))
    if COMPUTE_DB:
        tl.store(dbias_ptr + c, total_dy.to(dbias_ptr.dtype.element_ty))
    if COMPUTE_DX:
        scale = invstd
        if HAS_WEIGHT:
            scale = scale * tl.load(weight_ptr + c).to(ACC)
        mean_dy = total_dy / count
        mean_dy_xhat = total_dy_xhat / count
        dx_channel = dx_ptr + c * stride_dxc
        for start in range(0, count, BLOCK_SIZE):
            offs = start + lanes
            mask = offs < count
            n = offs // S
            s = offs % S
            dy = tl.load(dy_channel + n * stride_dyn + s * stride_dys, mask=mask, other=0.0).to(ACC)
            if TRAINING:
                x = tl.load(x_channel + n * stride_xn + s * stride_xs, mask=mask, other=0.0).to(ACC)
                dx = (dy - mean_dy - (x - mean) * invstd * mean_dy_xhat) * scale
            else:
                dx = dy * scale
            tl.store(dx_channel + n * stride_dxn + s * stride_dxs, dx.to(dx_ptr.dtype.element_ty), mask=mask)


def _block():
    return INTERPRETER_BLOCK_SIZE if interpreting() else BLOCK_SIZE


def _check(x, *others):
    if dtype_name_of(x) not in _FLOATS:
        raise TypeError(f"batch_norm: unsupported dtype {x.dtype}")
    if len(x.shape) != 3:
        raise ValueError(f"batch_norm: x must be 3-d (N, C, S), got shape {tuple(x.shape)}")
    channels = x.shape[1]
    for what, array in others:
        if array is not None and (tuple(array.shape) != (channels,) or dtype_name_of(array) not in _FLOATS):
            raise ValueError(f"batch_norm: {what} must be a float ({channels},) vector, got {array.dtype} "
                             f"{tuple(array.shape)}")
        if array is not None and len(array.shape) == 1 and channels > 1 and array.stride()[0] != 1:
            raise ValueError(f"batch_norm: {what} must be contiguous")


def batch_norm_forward(x, weight, bias, y, mean, invstd, running_mean, running_var, training, momentum, eps):
    """y (N, C, S) = batch_norm(x); mean, invstd (C,) receive the statistics used. Training: batch statistics,
    and running_mean / running_var (C,) updated in place when given; evaluation: the running ones. Returns y."""
    _check(x, ("weight", weight), ("bias", bias), ("mean", mean), ("invstd", invstd),
           ("running_mean", running_mean), ("running_var", running_var))
    if tuple(y.shape) != tuple(x.shape):
        raise ValueError(f"batch_norm: y {tuple(y.shape)} must have x's shape {tuple(x.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation needs running_mean and running_var")
    n, channels, s = x.shape
    if channels == 0:
        return y
    update = training and running_mean is not None
    batch_norm_forward_kernel[(channels,)](
        x, weight if weight is not None else x, bias if bias is not None else x, y, mean, invstd,
        running_mean if running_mean is not None else mean, running_var if running_var is not None else invstd,
        n, s, *x.stride(), *y.stride(), float(momentum), float(eps),
        TRAINING=bool(training), HAS_WEIGHT=weight is not None, HAS_BIAS=bias is not None, UPDATE_RUNNING=update,
        BLOCK_SIZE=_block(), num_warps=4)
    return y


def batch_norm_backward(grad_out, x, weight, mean, invstd, grad_x, grad_weight, grad_bias, training):
    """grad_x (N, C, S), grad_weight, grad_bias (C,) (each may be None) of batch_norm for grad_out."""
    _check(x, ("weight", weight), ("mean", mean), ("invstd", invstd), ("grad_weight", grad_weight),
           ("grad_bias", grad_bias))
    for what, array in (("grad_out", grad_out), ("grad_x", grad_x)):
        if array is not None and tuple(array.shape) != tuple(x.shape):
            raise ValueError(f"batch_norm: {what} {tuple(array.shape)} must have x's shape {tuple(x.shape)}")
    n, channels, s = x.shape
    if channels == 0:
        return grad_x, grad_weight, grad_bias
    batch_norm_backward_kernel[(channels,)](
        grad_out, x, weight if weight is not None else x, mean, invstd, grad_x if grad_x is not None else x,
        grad_weight if grad_weight is not None else mean, grad_bias if grad_bias is not None else mean,
        n, s, *grad_out.stride(), *x.stride(), *(grad_x.stride() if grad_x is not None else (0, 0, 0)),
        TRAINING=bool(training), HAS_WEIGHT=weight is not None, COMPUTE_DX=grad_x is not None,
        COMPUTE_DW=grad_weight is not None, COMPUTE_DB=grad_bias is not None, BLOCK_SIZE=_block(), num_warps=4)
    return grad_x, grad_weight, grad_bias
