"""The cross product of 3-vectors: out[o, :, i] = a[o, :, i] x b[o, :, i] over (outer, 3, inner) strided views.

One program computes BLOCK_SIZE vectors: it loads the six components it needs, writes the three of the result, so
the data moves once (reading a and b, writing out). Broadcast operands have stride 0 where they repeat. Floats
compute in fp32 (fp64 for fp64), integers in int64 (wrapping when stored, as the CPU's integer arithmetic does).
"""
import triton
import triton.language as tl

from .reduction import cast_for_store
from .strided import collapse, dtype_name_of, interpreting, numel

# 1024 vectors x 8 warps. AOT (sm_80/sm_90, tests/triton_kernels/test_cross.py): no spills. Unmeasured on a GPU.
BLOCK_SIZE = 1024
NUM_WARPS = 8
INTERPRETER_BLOCK_SIZE = 1 << 14
_COMPUTE = {"float64": tl.float64, "float32": tl.float32, "float16": tl.float32, "bfloat16": tl.float32}


@triton.jit
def _load(ptr, offs, mask, COMPUTE: tl.constexpr):
    x = tl.load(ptr + offs, mask=mask, other=0)
    if ptr.dtype.element_ty == tl.bfloat16:
        x = x.to(tl.float32)  # the interpreter holds bf16 as raw bits: widen before anything else
    return x.to(COMPUTE)


@triton.jit
def _cross_kernel(
        # pointers
        a_ptr, b_ptr, out_ptr,
        # sizes
        n_vectors, n_inner,
        # strides (outer, component, inner) of a, b and out
        stride_ao, stride_ac, stride_ai, stride_bo, stride_bc, stride_bi, stride_oo, stride_oc, stride_oi,
        # meta-parameters
        COMPUTE: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # One program computes BLOCK_SIZE cross products (all three components of each).
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE).to(tl.int64)
    mask = offs < n_vectors
    outer = offs // n_inner
    inner = offs % n_inner
    a_offs = outer * stride_ao + inner * stride_ai
    b_offs = outer * stride_bo + inner * stride_bi
    a0 = _load(a_ptr, a_offs, mask, COMPUTE)
    a1 = _load(a_ptr, a_offs + stride_ac, mask, COMPUTE)
    a2 = _load(a_ptr, a_offs + 2 * stride_ac, mask, COMPUTE)
    b0 = _load(b_ptr, b_offs, mask, COMPUTE)
    b1 = _load(b_ptr, b_offs + stride_bc, mask, COMPUTE)
    b2 = _load(b_ptr, b_offs + 2 * stride_bc, mask, COMPUTE)
    o_offs = outer * stride_oo + inner * stride_oi
    tl.store(out_ptr + o_offs, cast_for_store(a1 * b2 - a2 * b1, out_ptr), mask=mask)
    tl.store(out_ptr + o_offs + stride_oc, cast_for_store(a2 * b0 - a0 * b2, out_ptr), mask=mask)
    tl.store(out_ptr + o_offs + 2 * stride_oc, cast_for_store(a0 * b1 - a1 * b0, out_ptr), mask=mask)


def _merged(sizes, strides_per_operand):
    """The dims `sizes` merged into one for every operand, as (size, strides), or None when they do not merge."""
    if not sizes:
        return 1, [0] * len(strides_per_operand)
    merged, strides = collapse(sizes, *strides_per_operand)
    if len(merged) > 1:
        return None
    return merged[0], [st[0] for st in strides]


def cross(a, b, out, axis):
    """out = a x b along `axis` (of size 3). `a` and `b` must already have out's shape (broadcast them with
    stride-0 dims first) and one dtype with out; raises ValueError when the dims around `axis` cannot be
    merged (make the operands contiguous then)."""
    shape = tuple(out.shape)
    if tuple(a.shape) != shape or tuple(b.shape) != shape:
        raise ValueError(f"cross: a {tuple(a.shape)} and b {tuple(b.shape)} must have out's shape {shape}")
    if shape[axis] != 3:
        raise ValueError(f"cross: dim {axis} of shape {shape} must have size 3")
    if not dtype_name_of(a) == dtype_name_of(b) == dtype_name_of(out):
        raise TypeError(f"cross: a, b and out must share one dtype, got {a.dtype}, {b.dtype}, {out.dtype}")
    n = numel(shape) // 3
    if n == 0:
        return out
    operands = (a, b, out)
    outer = _merged(shape[:axis], [x.stride()[:axis] for x in operands])
    inner = _merged(shape[axis + 1:], [x.stride()[axis + 1:] for x in operands])
    if outer is None or inner is None:
        raise ValueError("cross: the dims before and after the vector dim must each merge into one in every operand")
    strides = []
    for k, x in enumerate(operands):
        strides += [outer[1][k], x.stride()[axis], inner[1][k]]
    compute = _COMPUTE.get(dtype_name_of(out), tl.int64)
    block = min(INTERPRETER_BLOCK_SIZE, triton.next_power_of_2(n)) if interpreting() else BLOCK_SIZE
    _cross_kernel[(triton.cdiv(n, block),)](a, b, out, n, inner[0], *strides, COMPUTE=compute, BLOCK_SIZE=block,
                                           num_warps=NUM_WARPS)
    return out
