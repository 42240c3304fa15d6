"""2-d convolution as implicit GEMM: forward, input gradient (also the transposed convolution's forward) and
weight gradient with the bias gradient fused, plus the fused activation's backward.

Three layers, as for every GPU op: the `@triton.jit` kernels (the three GEMMs in conv_gemm.py, two small ones
here); host launchers that check buffers and sizes, pick a tile config and launch; the autograd kernels in
framework/backends/cuda/conv.py. Nothing here imports `framework` or torch. Buffers are NCHW with any strides
(`stride()` in elements); the weight is (C_out, C_in/G, KH, KW); 1-d convolutions come as H = 1.

The three kernels are the matmul tutorial's tiled GEMM (grouped program order for L2 reuse, an fp32 accumulator,
fp64 for float64) over the same index maps; the im2col matrix is never formed: each K step computes the input
addresses of its tile and loads them with masks (padding, out-of-range rows) that keep every read in bounds.
    forward      Y[(n,oh,ow), co]      = sum over k = (ci, kh, kw) of X[n, ci, oh*s-p+kh*d, ...] * W[co, ci, kh, kw]
    input grad   dX[(n,ih,iw), ci]     = sum over k = (co, kh, kw) of dY[n, co, (ih+p-kh*d)/s, ...] * W[co, ci, kh, kw]
                                         (only where the division is exact and in range)
    weight grad  dW[co, (ci,kh,kw)]    = sum over m = (n, oh, ow) of dY[n, co, oh, ow] * X[n, ci, oh*s-p+kh*d, ...]
each within one group (program axis 1). The weight gradient splits its long reduction (N*Ho*Wo) over SPLIT
programs that write float32 partial sums; a second small kernel adds them in a fixed order (no atomics:
deterministic). Its programs of the first column tile also sum dY over m: the bias gradient, from the tiles they load
anyway. A transposed convolution's forward is the input-gradient kernel with the bias in its epilogue; its
input gradient is the forward kernel, its weight gradient the weight-gradient kernel with input and gradient
swapped (framework/backends/cuda/conv.py).

Activations (linear.py's ids and helpers) run in the forward's epilogue, after the bias; with SAVE_PRE the
forward also writes the pre-activation, which `activation_backward` turns into dY * act'(pre) once before the
gradient GEMMs (the input-gradient GEMM reads each dY element KH*KW times: forming act' once is cheaper).

Numbers: 16-bit tiles go to tl.dot in their dtype (tensor cores, fp32 accumulation); fp32 tiles in IEEE fp32, or
TF32 when `allow_tf32` (PyTorch's torch.backends.cudnn.allow_tf32); fp64 in fp64. Under Triton's interpreter
every tile is upcast first (DOT_FP32; bf16 is raw bits there). Offsets are 32-bit: the launchers refuse buffers
spanning more than 2**31 - 1 elements.
"""
import triton
import triton.language as tl

from .conv_gemm import conv_forward_kernel, conv_input_grad_kernel, conv_weight_grad_kernel
from .linear import ACTIVATIONS, _activation_grad
from .matmul import dot_settings
from .strided import dtype_name_of, interpreting

_DTYPES = ("float32", "float16", "bfloat16", "float64")
_INT32_MAX = 2**31 - 1
KERNEL_NAMES = ("forward", "input_grad", "weight_grad")


# ----------------------------------------------------------------------------------------------------------------
# Tile configs. NONE IS MEASURED: no GPU run has timed them yet. A config's BLOCK_M x BLOCK_N is the output tile
# (forward: pixels x output channels; input grad: pixels x input channels; weight grad: output channels x input
# channels at one tap, or (channel, tap) pairs with FLAT_K) and BLOCK_K the reduction step. They were chosen as
# the largest tiles that compile for sm_80 and sm_90 without register spills for all three kernels, both loop
# forms (tap-outer and FLAT_K), the heaviest flags (forward: bias, exact-erf GELU, saved pre-activation; input
# grad: bias, a non-unit stride; weight grad: dW and db) and unaligned buffers (odd sizes and strides: no
# vectorised address arithmetic, the most registers); tests/triton_kernels/test_conv.py compiles every one (AOT)
# and checks tensor-core instructions for the 16-bit and TF32 tiles (mma.sync on sm_80, wgmma on sm_90).
# Evidence for the cuts (Triton 3.9's ptxas, registers / spilled bytes, unaligned): the gathers' index and mask
# tiles cost far more registers than a plain GEMM's, so the matmul tiles spill: 16-bit 128x128x32 (8 warps)
# 255/1324 (forward, sm_80), 255/336 (weight grad, sm_90); 64x64x32 (4 warps) 255/32 (weight grad, sm_80).
# 128x64x32 (8 warps) takes 249-255, no spill, but 255/20 in the FLAT_K input grad on sm_90, which gets
# 128x64x16. TF32 128x64x32: weight grad 255/128 (sm_80); 64x64x32 (4 warps) 255/384; 128x64x16 at most 223.
# IEEE fp32 (an FMA dot, both tiles in registers) 64x64x16 with 4 warps: weight grad 255/216 (sm_80); with 8
# warps at most 199 under Triton 3.9, but 8-64 B spilled under Triton 3.6 (sm_80), as did 64x32x16 and 32x64x16
# (8 warps) on sm_90 and 32x32x16 with 4 warps; 32x32x16 with 8 warps spills under neither. (IEEE fp32 runs only
# with cudnn.allow_tf32 off: the default is the TF32 tile.) fp64 64x64x16 (8 warps): input grad 128/8 (sm_90); 64x32x16 with 4 warps at most 190 under
# Triton 3.9 but 40-48 B spilled in the weight grad under Triton 3.6 (sm_80), with 8 warps none under either.
# ----------------------------------------------------------------------------------------------------------------
def _config(block_m, block_n, block_k, num_warps, num_stages, group_size_m=8):
    return dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, GROUP_SIZE_M=group_size_m, num_warps=num_warps,
                num_stages=num_stages)


CONFIGS = {
    "16bit": _config(128, 64, 32, 8, 2),
    "16bit_flat": _config(128, 64, 16, 8, 2),
    "tf32": _config(128, 64, 16, 8, 2),
    "fp32": _config(32, 32, 16, 8, 2),
    "fp64": _config(64, 32, 16, 8, 2),
}
SM_COUNT_GUESS = 132  # an H100 SXM: "enough programs to fill the GPU"


def _next_power_of_2(n):
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def config_name(dtype_name, allow_tf32, flat=False):
    """The config of a launch: by dtype class, and for 16-bit data by loop form (FLAT_K needs fewer registers)."""
    if dtype_name == "float64":
        return "fp64"
    if dtype_name == "float32":
        return "tf32" if allow_tf32 else "fp32"
    return "16bit_flat" if flat else "16bit"


def flat_k(channels):
    """Whether a launch walks (channel, tap) pairs as one flat reduction index (conv_gemm.py's FLAT_K): when a
    tap has fewer channels than tl.dot's smallest K step."""
    return channels < 16


def pick_config(dtype_name, allow_tf32, rows, cols, reduction, flat=False):
    """The launch config. Under the interpreter, whose cost is per program and per K step, one tile covers as
    much of the problem as 128 x 64 x 64 allows (16 at least: tl.dot's minimum)."""
    if interpreting():
        tile = lambda n, most: max(16, min(most, _next_power_of_2(n)))  # noqa: E731
        return _config(tile(rows, 128), tile(cols, 64), tile(reduction, 64), 4, 1, group_size_m=4)
    return CONFIGS[config_name(dtype_name, allow_tf32, flat)]


# ----------------------------------------------------------------------------------------------------------------
# Kernels: the three GEMMs are in conv_gemm.py; two small ones here.
# ----------------------------------------------------------------------------------------------------------------
@triton.jit
def sum_splits_kernel(partials_ptr, out_ptr, n_splits, n_elements, BLOCK_SIZE: tl.constexpr):
    # One program adds BLOCK_SIZE elements of the n_splits rows of `partials` (split, n_elements), in split order.
    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    total = tl.load(partials_ptr + offs, mask=mask, other=0.0)
    for split in range(1, n_splits):
        total += tl.load(partials_ptr + split * n_elements + offs, mask=mask, other=0.0)
    tl.store(out_ptr + offs, total.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def activation_backward_kernel(dy_ptr, pre_ptr, out_ptr, n_elements, ACTIVATION: tl.constexpr,
                               BLOCK_SIZE: tl.constexpr):
    # One program writes BLOCK_SIZE elements of dY * act'(pre) (contiguous buffers; ReLU's `pre` may be its output).
    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    ACC: tl.constexpr = tl.float64 if dy_ptr.dtype.element_ty == tl.float64 else tl.float32
    dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(ACC)
    pre = tl.load(pre_ptr + offs, mask=mask, other=0.0).to(ACC)
    tl.store(out_ptr + offs, (dy * _activation_grad(pre, ACTIVATION)).to(out_ptr.dtype.element_ty), mask=mask)


# ----------------------------------------------------------------------------------------------------------------
# Host launchers. Every buffer is an array argument (triton_kernels/strided.py: data_ptr(), dtype, shape,
# stride()); 4-d NCHW for activations, (C_out, C_in/G, KH, KW) for the weight.
# ----------------------------------------------------------------------------------------------------------------
def _dtype_name(buffer, what):
    name = dtype_name_of(buffer)
    if name not in _DTYPES:
        raise TypeError(f"conv: {what} has dtype {buffer.dtype}; expected one of {', '.join(_DTYPES)}")
    return name


def _check(expected_dtype, **buffers):
    for what, buffer in buffers.items():
        if buffer is None:
            continue
        if what in ("bias", "grad_bias"):
            if len(buffer.shape) != 1 or (buffer.shape[0] > 1 and buffer.stride()[0] != 1):
                raise ValueError(f"conv: {what} must be a contiguous vector, got shape {tuple(buffer.shape)} and "
                                 f"strides {buffer.stride()}")
        elif len(buffer.shape) != 4:
            raise ValueError(f"conv: {what} must be 4-d, got shape {tuple(buffer.shape)}")
        if _dtype_name(buffer, what) != expected_dtype:
            raise TypeError(f"conv: {what} has dtype {buffer.dtype}, expected {expected_dtype}")
        extent = sum((size - 1) * abs(stride) for size, stride in zip(buffer.shape, buffer.stride()) if size)
        if extent > _INT32_MAX:
            raise ValueError(f"conv: {what} (shape {tuple(buffer.shape)}, strides {buffer.stride()}) spans more "
                             "than 2**31 - 1 elements; the kernels use 32-bit offsets")


def _geometry(x_shape, w_shape, y_shape, stride, padding, dilation, groups):
    """The size arguments shared by the three kernels, after checking that the shapes agree."""
    n, c_in, h, w = x_shape
    c_out, cg, kh, kw = w_shape
    if c_in != cg * groups or c_out % groups or y_shape[:2] != (n, c_out):
        raise ValueError(f"conv: shapes do not agree: input {tuple(x_shape)}, weight {tuple(w_shape)}, output "
                         f"{tuple(y_shape)}, groups {groups}")
    for i, (size, out) in enumerate(zip((h, w), y_shape[2:])):
        span = (out - 1) * stride[i] + dilation[i] * ((kh, kw)[i] - 1) + 1
        if out < 0 or (out and span > size + 2 * padding[i]):
            raise ValueError(f"conv: an output of size {out} along dim {2 + i} does not fit an input of {size} with "
                             f"kernel {(kh, kw)[i]}, stride {stride[i]}, padding {padding[i]}, dilation "
                             f"{dilation[i]}")
    return (n, h, w, y_shape[2], y_shape[3], kh, kw, cg, c_out // groups, stride[0], stride[1], padding[0],
            padding[1], dilation[0], dilation[1])


def _launch_meta(config):
    meta = dict(config)
    return meta.pop("num_warps"), meta.pop("num_stages"), meta


def conv_forward(x, weight, bias, y, stride, padding, dilation, groups, activation="none", pre=None,
                 allow_tf32=False, config=None):
    """y = act(conv2d(x, weight) + bias); `pre` (y's shape and strides), when given, receives the
    pre-activation. Returns y."""
    dtype_name = _dtype_name(x, "input")
    _check(dtype_name, input=x, weight=weight, bias=bias, output=y)
    if pre is not None:
        _check(_dtype_name(pre, "pre"), pre=pre)
    if activation not in ACTIVATIONS:
        raise ValueError(f"conv: unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    sizes = _geometry(x.shape, weight.shape, y.shape, stride, padding, dilation, groups)
    n, _, _, h_out, w_out, kh, kw, cg, og = sizes[:9]
    m = n * h_out * w_out
    if m == 0 or og == 0:
        return y
    dot_fp32, precision = dot_settings(dtype_name, allow_tf32)
    flat = flat_k(cg)
    num_warps, num_stages, meta = _launch_meta(config or pick_config(dtype_name, allow_tf32, m, og, cg * kh * kw,
                                                                     flat))
    grid = (triton.cdiv(m, meta["BLOCK_M"]) * triton.cdiv(og, meta["BLOCK_N"]), groups)
    conv_forward_kernel[grid](
        x, weight, bias if bias is not None else x, y, pre if pre is not None else y,
        *sizes, *x.stride(), *weight.stride(), *y.stride(),
        HAS_BIAS=bias is not None, ACTIVATION=ACTIVATIONS[activation], SAVE_PRE=pre is not None, FLAT_K=flat,
        DOT_FP32=dot_fp32, INPUT_PRECISION=precision, num_warps=num_warps, num_stages=num_stages, **meta)
    return y


def conv_input_grad(grad_out, weight, grad_input, stride, padding, dilation, groups, bias=None, allow_tf32=False,
                    config=None):
    """grad_input = the input gradient of conv2d(input, weight) for grad_out (+ bias per input channel: the
    forward of a transposed convolution, whose input is `grad_out`). Returns grad_input."""
    dtype_name = _dtype_name(grad_out, "grad_output")
    _check(dtype_name, grad_output=grad_out, weight=weight, grad_input=grad_input, bias=bias)
    sizes = _geometry(grad_input.shape, weight.shape, grad_out.shape, stride, padding, dilation, groups)
    n, h, w, _, _, kh, kw, cg, og = sizes[:9]
    m = n * h * w
    if m == 0 or cg == 0:
        return grad_input
    dot_fp32, precision = dot_settings(dtype_name, allow_tf32)
    flat = flat_k(og)
    num_warps, num_stages, meta = _launch_meta(config or pick_config(dtype_name, allow_tf32, m, cg, og * kh * kw,
                                                                     flat))
    grid = (triton.cdiv(m, meta["BLOCK_M"]) * triton.cdiv(cg, meta["BLOCK_N"]), groups)
    conv_input_grad_kernel[grid](
        grad_out, weight, bias if bias is not None else weight, grad_input,
        *sizes, *grad_out.stride(), *weight.stride(), *grad_input.stride(),
        HAS_BIAS=bias is not None, UNIT_STRIDE=tuple(stride) == (1, 1), FLAT_K=flat, DOT_FP32=dot_fp32,
        INPUT_PRECISION=precision, num_warps=num_warps, num_stages=num_stages, **meta)
    return grad_input


def weight_grad_splits(tiles, m, block_k):
    """How many programs share the reduction over the m = N*Ho*Wo output pixels: enough to give ~2 programs per
    SM when the output has few tiles, each with at least 8 steps of block_k; 1 under the interpreter."""
    if interpreting():
        return 1
    steps = triton.cdiv(m, block_k)
    return max(1, min(triton.cdiv(2 * SM_COUNT_GUESS, max(tiles, 1)), steps // 8))


def conv_weight_grad(x, grad_out, grad_weight, grad_bias, weight_shape, stride, padding, dilation, groups,
                     workspace=None, allow_tf32=False, config=None, splits=None):
    """grad_weight (`weight_shape` = (C_out, C_in/G, KH, KW), contiguous) = the weight gradient of conv2d(x, weight)
    for grad_out, and grad_bias (C_out,) = grad_out summed over (n, h, w), in one launch (either may be None, not
    both). With more than one split (`weight_grad_splits`), `workspace(shape, dtype_name)` must allocate the partial
    sums (float32; float64 for float64). Returns (grad_weight, grad_bias)."""
    dtype_name = _dtype_name(x, "input")
    if grad_weight is None and grad_bias is None:
        raise ValueError("conv: conv_weight_grad needs grad_weight or grad_bias")
    _check(dtype_name, input=x, grad_output=grad_out, grad_weight=grad_weight, grad_bias=grad_bias)
    weight_shape = tuple(weight_shape)
    _, cg, kh, kw = weight_shape
    if grad_weight is not None and (tuple(grad_weight.shape) != weight_shape
                                    or tuple(grad_weight.stride()) != (cg * kh * kw, kh * kw, kw, 1)):
        raise ValueError(f"conv: grad_weight must be a contiguous {weight_shape}")
    sizes = _geometry(x.shape, weight_shape, grad_out.shape, stride, padding, dilation, groups)
    n, _, _, h_out, w_out, kh, kw, cg, og = sizes[:9]
    c_out, kcols, m = og * groups, cg * kh * kw, n * h_out * w_out
    if c_out == 0:
        return grad_weight, grad_bias
    compute_dw = grad_weight is not None and kcols > 0
    if not compute_dw and grad_bias is None:
        return grad_weight, grad_bias
    flat = flat_k(cg)
    taps = kh * kw
    # the tiled columns: (channel, tap) pairs with FLAT_K, else the channels of one tap (a grid axis of taps)
    n_cols = (kcols if flat else cg) if compute_dw else 1
    tap_programs = taps if compute_dw and not flat else 1
    dot_fp32, precision = dot_settings(dtype_name, allow_tf32)
    num_warps, num_stages, meta = _launch_meta(config or pick_config(dtype_name, allow_tf32, og, n_cols, m, flat))
    tiles = triton.cdiv(og, meta["BLOCK_M"]) * triton.cdiv(n_cols, meta["BLOCK_N"])
    splits = splits or weight_grad_splits(tiles * tap_programs * groups, m, meta["BLOCK_K"])
    steps = triton.cdiv(triton.cdiv(m, meta["BLOCK_K"]), splits)
    acc_dtype = "float64" if dtype_name == "float64" else "float32"
    if splits > 1:
        if workspace is None:
            raise ValueError("conv: a split weight gradient needs a workspace allocator")
        dw_out = workspace((splits, c_out, kcols), acc_dtype) if compute_dw else None
        db_out = workspace((splits, c_out), acc_dtype) if grad_bias is not None else None
    else:
        dw_out, db_out = grad_weight if compute_dw else None, grad_bias
    conv_weight_grad_kernel[(tiles * tap_programs, groups, splits)](
        x, grad_out, dw_out if dw_out is not None else x, db_out if db_out is not None else x,
        *sizes, n_cols, steps, *x.stride(), *grad_out.stride(), c_out * kcols, c_out,
        COMPUTE_DW=compute_dw, COMPUTE_DB=grad_bias is not None, FLAT_K=flat, DOT_FP32=dot_fp32,
        INPUT_PRECISION=precision, num_warps=num_warps, num_stages=num_stages, **meta)
    if splits > 1:
        if dw_out is not None:
            _sum_splits(dw_out, grad_weight, splits, c_out * kcols)
        if db_out is not None:
            _sum_splits(db_out, grad_bias, splits, c_out)
    return grad_weight, grad_bias


def _sum_splits(partials, out, splits, count):
    block = 1 << 16 if interpreting() else 1024
    sum_splits_kernel[(triton.cdiv(count, block),)](partials, out, splits, count, BLOCK_SIZE=block, num_warps=4)


def activation_backward(grad_out, pre, out, activation):
    """out = grad_out * act'(pre), three contiguous buffers of one shape (ReLU's `pre` may be its output)."""
    if activation not in ACTIVATIONS or activation == "none":
        raise ValueError(f"conv: activation_backward needs one of {sorted(set(ACTIVATIONS) - {'none'})}, got "
                         f"{activation!r}")
    count = 1
    for size in out.shape:
        count *= size
    if count == 0:
        return out
    block = 1 << 16 if interpreting() else 1024
    activation_backward_kernel[(triton.cdiv(count, block),)](grad_out, pre, out, count,
                                                              ACTIVATION=ACTIVATIONS[activation], BLOCK_SIZE=block,
                                                              num_warps=4)
    return out
