"""CPU kernels for searching and counting: searchsorted (bucketize), histc, bincount.

searchsorted runs PyTorch's binary search itself, all values at once (one vectorised step per halving), so its
answer is PyTorch's even where the boundaries are not sorted or hold NaN: left finds the first position whose
boundary is not < value (`!(b >= v)` moves right), right the first whose boundary is not <= value.

histc bins an element as PyTorch's linear-interpolation kernel does, in the input's dtype: bin =
int((x - min) * bins / (max - min)), x == max in the last bin, elements outside [min, max] (and NaN) skipped.
Counts are exact (PyTorch's CPU kernel counts in the input's dtype per thread, so its bfloat16 counts stall at
256 and float16 ones at 2048; below those they agree).
bincount adds the weights in input order, in float32 for float32 weights and float64 otherwise (PyTorch's result
dtypes), so float32 sums round as PyTorch's do.
"""
import numpy as np

from ...autograd.registry import no_derivative, not_differentiable, register
from .common import upcast


def _searchsorted_forward(ctx, boundaries, values, sorter, right, out_int32):
    """Positions of `values` in the rows of `boundaries` (1-D: one row for every value; else the leading dims
    match). Both already in one dtype."""
    n = boundaries.shape[-1]
    b, v = upcast(boundaries), upcast(values)
    if boundaries.ndim == 1:
        rows_b, rows_v = b[None, :], v.reshape(1, -1)
        order = None if sorter is None else sorter[None, :]
    else:
        rows_b, rows_v = b.reshape(-1, n), v.reshape(-1, v.shape[-1] if v.ndim else 1)
        order = None if sorter is None else sorter.reshape(-1, n)
    low = np.zeros(rows_v.shape, np.int64)
    high = np.full(rows_v.shape, n, np.int64)
    for _ in range(max(n, 1).bit_length()):
        active = low < high
        middle = low + ((high - low) >> 1)
        probe = np.minimum(middle, max(n - 1, 0))
        if order is not None:
            probe = np.take_along_axis(order, probe, 1)
        boundary = np.take_along_axis(rows_b, probe, 1) if n else np.zeros(rows_v.shape, rows_b.dtype)
        go_right = ~(boundary > rows_v) if right else ~(boundary >= rows_v)
        low = np.where(active & go_right, middle + 1, low)
        high = np.where(active & ~go_right, middle, high)
    return low.reshape(values.shape).astype(np.int32 if out_int32 else np.int64)


register("searchsorted", "cpu", _searchsorted_forward, not_differentiable)


def _histc_forward(ctx, x, bins, low, high):
    """Counts of x in `bins` equal bins over [low, high] (already chosen, finite, low < high), in x's dtype."""
    flat = x.reshape(-1)
    left, right = np.asarray(low, x.dtype), np.asarray(high, x.dtype)
    inside = (flat >= left) & (flat <= right)
    kept = flat[inside]
    position = ((kept - left) * bins / (right - left)).astype(np.int64)  # each step rounds in x's dtype
    position = np.minimum(position, bins - 1)
    return np.bincount(position, minlength=bins).astype(x.dtype)


register("histc", "cpu", _histc_forward, not_differentiable)


def _bincount_forward(ctx, x, weights, length):
    """Occurrences of each value in [0, length) of the non-negative 1-D integer `x` (weighted: sums)."""
    if weights is None:
        return np.bincount(x.astype(np.int64), minlength=length).astype(np.int64)
    dtype = np.float32 if weights.dtype == np.float32 else np.float64
    out = np.zeros(length, dtype)
    np.add.at(out, x.astype(np.int64), upcast(weights).astype(dtype))  # one by one, in order: PyTorch's rounding
    return out


register("bincount", "cpu", _bincount_forward, no_derivative("aten::bincount"), "NotImplemented")
