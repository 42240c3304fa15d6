"""Resampling along one axis by a table of taps: out[o, j, i] = sum_t weight[j, t] * x[o, index[j, t], i].

One kernel serves every separable linear map of framework's: interpolation (nearest: one tap, linear: two),
average and adaptive-average pooling (the window's taps, weights 1/divisor), reflect/replicate/circular padding
(one tap, no weights: a gather, for any dtype), and, with the transposed tables (for each input position, the
output positions that read it), all of their backwards: a gradient is summed by gathering, never scattered, so
no atomics are needed and the result is deterministic.

x and out are contiguous, seen as (outer, L, inner) and (outer, J, inner) around the resampled dim; `index`
(J, T) int64 and `weight` (J, T) float32 (float64 for float64 data) are contiguous, and every index is within
[0, L) (unused taps point at 0 with weight 0), so no load is out of bounds. Sums are taken in float32 (float64);
the result is stored in out's dtype.
"""
import triton
import triton.language as tl

from .strided import dtype_name_of, interpreting, is_contiguous

_FLOATS = ("float16", "bfloat16", "float32", "float64")
BLOCK_SIZE = 1024  # elements per program: unmeasured (no GPU run yet); the copy kernel's block (copy.py)
INTERPRETER_BLOCK_SIZE = 1 << 16  # the interpreter's cost is per program


@triton.jit
def resample_axis_kernel(
        # Pointers
        x_ptr, index_ptr, weight_ptr, out_ptr,
        # Sizes
        n_elements, L, J, INNER, T,
        # Meta-parameters
        HAS_WEIGHT: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # One program writes BLOCK_SIZE consecutive elements of out (outer, J, inner): each the weighted sum of its
    # T taps along the resampled dim (a plain gather of tap 0 without weights).
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    inner = offs % INNER
    j = (offs // INNER) % J
    outer = offs // (INNER * J)
    x_base = x_ptr + outer * L * INNER + inner
    if HAS_WEIGHT:
        ACC: tl.constexpr = tl.float64 if weight_ptr.dtype.element_ty == tl.float64 else tl.float32
        acc = tl.zeros((BLOCK_SIZE,), dtype=ACC)
        for t in range(0, T):
            source = tl.load(index_ptr + j * T + t, mask=mask, other=0)
            weight = tl.load(weight_ptr + j * T + t, mask=mask, other=0.0)
            value = tl.load(x_base + source * INNER, mask=mask, other=0.0).to(ACC)
            acc += weight * value
        tl.store(out_ptr + offs, acc.to(out_ptr.dtype.element_ty), mask=mask)
    else:
        source = tl.load(index_ptr + j * T, mask=mask, other=0)
        value = tl.load(x_base + source * INNER, mask=mask)
        tl.store(out_ptr + offs, value.to(out_ptr.dtype.element_ty), mask=mask)


def resample_axis(x, index, weight, out, dim):
    """out = x resampled along `dim` by the taps `index` / `weight` (J, T); `weight` None: gather tap 0 (any dtype;
    x and out of one dtype). x and out contiguous, equal but for `dim` (L in x, J in out). Returns out."""
    x_shape, out_shape = tuple(x.shape), tuple(out.shape)
    if len(x_shape) != len(out_shape) or not 0 <= dim < len(x_shape):
        raise ValueError(f"resample: x {x_shape} and out {out_shape} must have the same rank, dim {dim} in it")
    if x_shape[:dim] + x_shape[dim + 1:] != out_shape[:dim] + out_shape[dim + 1:]:
        raise ValueError(f"resample: x {x_shape} and out {out_shape} may differ only in dim {dim}")
    for what, array in (("x", x), ("out", out), ("index", index), ("weight", weight)):
        if array is not None and not is_contiguous(array.shape, array.stride()):
            raise ValueError(f"resample: {what} must be contiguous")
    J, T = index.shape
    if J != out_shape[dim]:
        raise ValueError(f"resample: index has {J} rows for an output dim of {out_shape[dim]}")
    if dtype_name_of(index) != "int64":
        raise TypeError(f"resample: index must be int64, got {index.dtype}")
    if weight is not None:
        if tuple(weight.shape) != (J, T) or dtype_name_of(weight) not in ("float32", "float64"):
            raise ValueError(f"resample: weight must be float32/float64 of shape {(J, T)}, got {weight.dtype} "
                             f"{tuple(weight.shape)}")
        if dtype_name_of(x) not in _FLOATS or dtype_name_of(out) not in _FLOATS:
            raise TypeError(f"resample: weighted taps need float data, got {x.dtype} -> {out.dtype}")
    elif dtype_name_of(x) != dtype_name_of(out):
        raise TypeError(f"resample: a gather keeps the dtype, got {x.dtype} -> {out.dtype}")
    n_elements = 1
    for size in out_shape:
        n_elements *= size
    if n_elements == 0:
        return out
    inner = 1
    for size in x_shape[dim + 1:]:
        inner *= size
    block = INTERPRETER_BLOCK_SIZE if interpreting() else BLOCK_SIZE
    resample_axis_kernel[(triton.cdiv(n_elements, block),)](
        x, index, weight if weight is not None else index, out, n_elements, x_shape[dim], J, inner, T,
        HAS_WEIGHT=weight is not None, BLOCK_SIZE=block, num_warps=4)
    return out

