"""cuda kernels for searchsorted, histc and bincount: the cpu kernels' signatures and results
(backends/numpy/search.py), computed by triton_kernels.search. Inputs are made contiguous first."""
import numpy as np

from triton_kernels import search as kernels

from ...autograd.registry import no_derivative, not_differentiable, register
from .common import contiguous, empty, zeros

_INT32 = np.dtype(np.int32)
_INT64 = np.dtype(np.int64)


def _searchsorted_forward(ctx, boundaries, values, sorter, right, out_int32):
    out = empty(values.shape, _INT32 if out_int32 else _INT64)
    kernels.searchsorted(contiguous(boundaries), contiguous(values), out,
                         sorter=None if sorter is None else contiguous(sorter), right=right)
    return out


register("searchsorted", "cuda", _searchsorted_forward, not_differentiable)


def _histc_forward(ctx, x, bins, low, high):
    counts = zeros((bins,), _INT32)
    rounded = np.asarray([low, high], np.float64).astype(x.dtype).astype(np.float64)  # the range in x's dtype
    kernels.histc(contiguous(x).reshape((-1,)), counts, bins, float(rounded[0]), float(rounded[1]))
    return counts.astype(x.dtype)


register("histc", "cuda", _histc_forward, not_differentiable)


def _bincount_forward(ctx, x, weights, length):
    if weights is None:
        out = zeros((length,), _INT64)
    else:
        out = zeros((length,), np.dtype(np.float32) if weights.dtype == np.float32 else np.dtype(np.float64))
        weights = contiguous(weights)
    kernels.bincount(contiguous(x), out, weights)
    return out


register("bincount", "cuda", _bincount_forward, no_derivative("aten::bincount"), "NotImplemented")
