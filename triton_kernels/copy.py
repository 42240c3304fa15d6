"""Strided copy with a dtype cast, and fill: the kernels behind contiguous(), casts, cat/stack, clone,
device-side broadcasting and zero_/fill_.

One program copies BLOCK_SIZE elements of `dst` (in its row-major order) from `src`, whose strides may be
anything (0 for broadcast dims), or writes one scalar into them. Arguments follow triton_kernels/strided.py.
"""
import triton
import triton.language as tl

from .strided import MAX_DIMS, collapse, dtype_name_of, interpreting, numel, padded, strided_offsets

# 1024 elements x 8 warps (4 per thread). ptxas (AOT, sm_80/sm_90, bf16 -> bf16): at 4 warps the 6-dim index math
# needs 255 registers and spills 64-168 B; at 8 warps it peaks at 144, no spills. Timing unmeasured (no GPU yet).
# The interpreter's cost is per program, so there one program takes up to 64k elements.
BLOCK_SIZE = 1024
NUM_WARPS = 8
INTERPRETER_BLOCK_SIZE = 1 << 16


@triton.jit
def _copy_kernel(
        # pointers
        src_ptr, dst_ptr,
        # sizes
        n_elements, size1, size2, size3, size4, size5,
        # strides
        stride_s0, stride_s1, stride_s2, stride_s3, stride_s4, stride_s5,
        stride_d0, stride_d1, stride_d2, stride_d3, stride_d4, stride_d5,
        # meta-parameters
        value, FROM_SCALAR: tl.constexpr, SRC_BF16: tl.constexpr, DST_BF16: tl.constexpr, NDIM: tl.constexpr,
        BLOCK_SIZE: tl.constexpr):
    # One program writes BLOCK_SIZE elements of dst: src's elements cast to dst's dtype, or `value`.
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE).to(tl.int64)
    mask = offs < n_elements
    dst_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                               stride_d0, stride_d1, stride_d2, stride_d3, stride_d4, stride_d5, NDIM)
    if FROM_SCALAR:
        if DST_BF16:
            # Rounded here, as copies are: Triton 3.6's interpreter has no bf16 scalars, later ones truncate them.
            x = round_to_bfloat16(tl.full((BLOCK_SIZE,), value, tl.float32))
        else:
            x = tl.full((BLOCK_SIZE,), value, dst_ptr.dtype.element_ty)
    else:
        src_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                                   stride_s0, stride_s1, stride_s2, stride_s3, stride_s4, stride_s5, NDIM)
        x = tl.load(src_ptr + src_offs, mask=mask)
        if SRC_BF16:
            x = x.to(tl.float32)  # the interpreter holds bf16 as raw bits; the widening is exact anyway
        if dst_ptr.dtype.element_ty == tl.int1:
            x = x != 0
        if DST_BF16:
            x = round_to_bfloat16(x.to(tl.float32))
        else:
            x = x.to(dst_ptr.dtype.element_ty)
    tl.store(dst_ptr + dst_offs, x, mask=mask)


@triton.jit
def round_to_bfloat16(x):
    """fp32 -> bf16, rounding to nearest even, in integer arithmetic. A GPU's cvt rounds the same way; Triton's
    interpreter truncates, so exact casts (copies) round here to agree everywhere with numpy/ml_dtypes."""
    bits = x.to(tl.uint32, bitcast=True)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    rounded = tl.where(x != x, 0x7FC0, rounded)  # nan stays a (quiet) nan
    return rounded.to(tl.uint16).to(tl.bfloat16, bitcast=True)


def _block_size():
    return INTERPRETER_BLOCK_SIZE if interpreting() else BLOCK_SIZE


def _launch(src, dst, value, from_scalar):
    n = numel(dst.shape)
    if n == 0:
        return dst
    strides = [dst.stride()] if from_scalar else [src.stride(), dst.stride()]
    shape, strides = collapse(dst.shape, *strides)
    ndim = len(shape)
    shape, strides = padded(shape, strides)
    src_strides, dst_strides = ((0,) * MAX_DIMS, strides[0]) if from_scalar else strides
    block = _block_size()
    _copy_kernel[(triton.cdiv(n, block),)](
        dst if from_scalar else src, dst, n, *shape[1:], *src_strides, *dst_strides, value,
        FROM_SCALAR=from_scalar, SRC_BF16=not from_scalar and dtype_name_of(src) == "bfloat16",
        DST_BF16=dtype_name_of(dst) == "bfloat16", NDIM=ndim,
        BLOCK_SIZE=block, num_warps=NUM_WARPS)
    return dst


def copy(src, dst):
    """dst[...] = src cast to dst's dtype; src's shape must equal dst's (broadcast it with stride-0 dims first).
    `dst` must not overlap `src` unless they are the same elements in the same order."""
    if tuple(src.shape) != tuple(dst.shape):
        raise ValueError(f"copy: source shape {tuple(src.shape)} does not match destination shape {tuple(dst.shape)}")
    return _launch(src, dst, 0, False)


def fill(dst, value):
    """Every element of dst (any strides) = value (a Python number, converted to dst's dtype)."""
    if dtype_name_of(dst) == "bool":
        value = int(bool(value))
    elif dtype_name_of(dst).startswith(("int", "uint")):
        value = int(value)
    else:
        value = float(value)
    return _launch(None, dst, value, True)
