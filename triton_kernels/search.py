"""Searching and counting: searchsorted (binary search of values among sorted boundaries), histc (counts in equal
bins), bincount (counts, or sums of weights, per non-negative integer).

searchsorted runs PyTorch's binary search step for step (ceil(log2(n + 1)) halvings, every value at once): left
moves right while !(boundary >= value), right while !(boundary > value), so the answer is PyTorch's even for
unsorted boundaries or NaN. An optional `sorter` gives the boundaries' order (positions within each row).

histc maps x in [low, high] to int((x - low) * bins / (high - low)) (x == high to the last bin) as PyTorch's CPU
kernel, each step rounded to the input's dtype (fp16/bf16 emulated in fp32), and adds 1 to that bin atomically.
bincount adds 1 (int64) or the element's weight (float32 or float64) atomically; float sums therefore land in an
order that varies between runs, as PyTorch's CUDA bincount's do.
"""
import numpy as np
import triton
import triton.language as tl

from .copy import round_to_bfloat16
from .strided import dtype_name_of, interpreting, numel

ORDERED_DTYPES = ("uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64")
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INDEX_DTYPES = ("uint8", "int8", "int16", "int32", "int64")
# One element a thread, 1024 a program: the search loop holds a few registers per value. UNMEASURED on a GPU.
BLOCK_SIZE, NUM_WARPS = 1024, 4
INTERPRETER_BLOCK_SIZE = 1 << 16


def _block():
    return INTERPRETER_BLOCK_SIZE if interpreting() else BLOCK_SIZE


@triton.jit
def _wide(x):
    """A loaded element in the type its comparisons are exact in: fp16/bf16 as fp32, integers as int64."""
    if x.dtype == tl.float16 or x.dtype == tl.bfloat16:
        wide = x.to(tl.float32)
    elif x.dtype == tl.float32 or x.dtype == tl.float64:
        wide = x
    else:
        wide = x.to(tl.int64)
    return wide


@triton.jit
def _searchsorted_kernel(
    # pointers
    boundaries_ptr, values_ptr, sorter_ptr, out_ptr,
    # sizes
    n_values, values_per_row, n_boundaries, n_steps,
    # strides (elements): one row of boundaries (and sorter) per `values_per_row` values; 0 shares one row
    stride_b, stride_s,
    # meta-parameters
    RIGHT: tl.constexpr, HAS_SORTER: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program finds the insertion positions of BLOCK_SIZE values (contiguous, row-major).
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_values
    value = _wide(tl.load(values_ptr + offs, mask=mask, other=0))
    row = offs // values_per_row
    low = tl.zeros([BLOCK_SIZE], tl.int64)
    high = tl.zeros([BLOCK_SIZE], tl.int64) + n_boundaries
    for _ in range(n_steps):
        active = mask & (low < high)
        middle = low + ((high - low) >> 1)
        probe = middle
        if HAS_SORTER:
            probe = tl.load(sorter_ptr + row * stride_s + middle, mask=active, other=0)
        boundary = _wide(tl.load(boundaries_ptr + row * stride_b + probe, mask=active, other=0))
        if RIGHT:
            go_right = ~(boundary > value)
        else:
            go_right = ~(boundary >= value)
        low = tl.where(active & go_right, middle + 1, low)
        high = tl.where(active & ~go_right, middle, high)
    tl.store(out_ptr + offs, low.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _round_like(x, DTYPE: tl.constexpr):
    """fp32 `x` rounded to DTYPE and back (fp16/bf16 arithmetic emulated one step at a time)."""
    if DTYPE == tl.float16:
        rounded = x.to(tl.float16).to(tl.float32)
    elif DTYPE == tl.bfloat16:
        rounded = round_to_bfloat16(x).to(tl.float32)
    else:
        rounded = x
    return rounded


@triton.jit(do_not_specialize=["low_bits", "high_bits"])
def _histc_kernel(
    # pointers
    x_ptr, counts_ptr,
    # sizes
    n_elements, bins,
    # the range, already rounded to x's dtype, as float64 bit patterns (a float argument would be fp32)
    low_bits, high_bits,
    # meta-parameters
    BLOCK_SIZE: tl.constexpr,
):
    # One program bins BLOCK_SIZE elements (contiguous) and adds them to the int32 counts.
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    raw = tl.load(x_ptr + offs, mask=mask, other=0)
    x = raw.to(tl.float64) if raw.dtype == tl.float64 else raw.to(tl.float32)
    left = tl.cast(low_bits, tl.int64).to(tl.float64, bitcast=True).to(x.dtype)
    right = tl.cast(high_bits, tl.int64).to(tl.float64, bitcast=True).to(x.dtype)
    inside = mask & (x >= left) & (x <= right)
    scaled = _round_like(_round_like(x - left, raw.dtype) * bins, raw.dtype)
    span = _round_like(right - left, raw.dtype)
    if x.dtype == tl.float32:
        ratio = tl.math.div_rn(scaled, span)  # IEEE division: Triton's fp32 `/` is approximate
    else:
        ratio = scaled / span
    position = _round_like(ratio, raw.dtype).to(tl.int32)
    position = tl.minimum(tl.maximum(position, 0), bins - 1)
    tl.atomic_add(counts_ptr + position, tl.full([BLOCK_SIZE], 1, tl.int32), mask=inside)


@triton.jit
def _bincount_kernel(
    # pointers
    x_ptr, weights_ptr, out_ptr,
    # sizes
    n_elements,
    # meta-parameters
    WEIGHTED: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program adds BLOCK_SIZE elements (contiguous) to their bins: 1 each, or their weight.
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    bins = tl.load(x_ptr + offs, mask=mask, other=0).to(tl.int64)
    if WEIGHTED:
        amount = tl.load(weights_ptr + offs, mask=mask, other=0)
        if amount.dtype == tl.bfloat16 or amount.dtype == tl.float16:
            amount = amount.to(tl.float32)
        amount = amount.to(out_ptr.dtype.element_ty)
    else:
        amount = tl.full([BLOCK_SIZE], 1, out_ptr.dtype.element_ty)
    tl.atomic_add(out_ptr + bins, amount, mask=mask)


def _float_bits(value):
    return int(np.array(float(value), np.float64).view(np.int64))


def _check_contiguous(name, what, array):
    if numel(array.shape) == 0:
        return
    expected = 1
    for size, stride in zip(reversed(tuple(array.shape)), reversed(tuple(array.stride()))):
        if size != 1 and stride != expected:
            raise ValueError(f"{name}: `{what}` must be contiguous, got strides {tuple(array.stride())}")
        expected *= size


def searchsorted(boundaries, values, out, *, sorter=None, right=False):
    """out[i, j] = the insertion position of values[i, j] in boundaries[i] (or in the one row of 1-D `boundaries`).
    `boundaries` (n_rows or 1, n), `values` and `out` (n_rows, m) are contiguous; boundaries and values share a
    dtype; `sorter` (int64, boundaries' shape) orders each row; out is int64 or int32."""
    name = "searchsorted"
    for what, array in (("boundaries", boundaries), ("values", values), ("out", out), ("sorter", sorter)):
        if array is not None:
            _check_contiguous(name, what, array)
    if dtype_name_of(boundaries) not in ORDERED_DTYPES or dtype_name_of(values) != dtype_name_of(boundaries):
        raise TypeError(f"{name}: boundaries and values must share one of {ORDERED_DTYPES}, got "
                        f"{boundaries.dtype} and {values.dtype}")
    if dtype_name_of(out) not in ("int64", "int32") or tuple(out.shape) != tuple(values.shape):
        raise TypeError(f"{name}: out must be int64 or int32 of the values' shape {tuple(values.shape)}")
    if sorter is not None and (dtype_name_of(sorter) != "int64" or tuple(sorter.shape) != tuple(boundaries.shape)):
        raise TypeError(f"{name}: sorter must be int64 of the boundaries' shape {tuple(boundaries.shape)}")
    n = boundaries.shape[-1]
    n_values = numel(values.shape)
    one_row = len(boundaries.shape) == 1
    per_row = n_values if one_row else (values.shape[-1] if len(values.shape) else 1)
    if n_values == 0:
        return out
    block = _block()
    _searchsorted_kernel[(triton.cdiv(n_values, block),)](
        boundaries, values, sorter if sorter is not None else boundaries, out,
        n_values, max(per_row, 1), n, max(n, 1).bit_length(),
        0 if one_row else n, 0 if one_row else n,
        RIGHT=bool(right), HAS_SORTER=sorter is not None, BLOCK_SIZE=block, num_warps=NUM_WARPS)
    return out


def histc(x, counts, bins, low, high):
    """counts[b] += the number of elements of the contiguous float array `x` in bin b of `bins` equal bins over
    [low, high] (already rounded to x's dtype; low < high, both finite). `counts` is int32 of `bins` zeros."""
    name = "histc"
    _check_contiguous(name, "x", x)
    if dtype_name_of(x) not in FLOAT_DTYPES:
        raise TypeError(f"{name}: x must be floating, got {x.dtype}")
    if dtype_name_of(counts) != "int32" or numel(counts.shape) != bins:
        raise TypeError(f"{name}: counts must be int32 with {bins} elements")
    n = numel(x.shape)
    if n:
        block = _block()
        _histc_kernel[(triton.cdiv(n, block),)](x, counts, n, int(bins), _float_bits(low), _float_bits(high),
                                                BLOCK_SIZE=block, num_warps=NUM_WARPS)
    return counts


def bincount(x, out, weights=None):
    """out[v] += 1 (or weights[i]) for every element v = x[i] of the contiguous non-negative integer array `x`;
    `out` (int64 without weights, float32/float64 with) holds zeros and is long enough."""
    name = "bincount"
    _check_contiguous(name, "x", x)
    if dtype_name_of(x) not in INDEX_DTYPES:
        raise TypeError(f"{name}: x must be an integer array, got {x.dtype}")
    wanted = ("int64",) if weights is None else ("float32", "float64")
    if dtype_name_of(out) not in wanted:
        raise TypeError(f"{name}: out must be {' or '.join(wanted)}, got {out.dtype}")
    n = numel(x.shape)
    if n:
        block = _block()
        _bincount_kernel[(triton.cdiv(n, block),)](x, weights if weights is not None else x, out, n,
                                                   WEIGHTED=weights is not None, BLOCK_SIZE=block,
                                                   num_warps=NUM_WARPS)
    return out
