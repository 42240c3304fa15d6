"""searchsorted, bucketize, histc, bincount: PyTorch's signatures, dtypes and errors, then the registered kernels.

histc and bincount size their output from the data when asked to (histc's default range is the input's min and
max; bincount's length is max + 1): on `cuda` those numbers are read back to the host, as PyTorch does.
"""
import builtins
import math

import numpy as np

from .. import dtypes
from ..autograd.function import run
from ..tensor import Tensor

_ORDERED = (dtypes.uint8, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.float16, dtypes.bfloat16,
            dtypes.float32, dtypes.float64)
_INTEGRAL = (dtypes.uint8, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64)


def _as_tensor(value, like):
    from ..creation import tensor
    return tensor(value, device=like.device)


def _check_searchable(dtype, device):
    if dtype not in _ORDERED:
        raise NotImplementedError(f"\"searchsorted_out_{device.type}\" not implemented for '{dtype.scalar_name}'")


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    """For each value, the index where it would be inserted into the innermost dim of `sorted_sequence` to keep it
    sorted: the first such index (left), or the last (right=True / side='right')."""
    name = "torch.searchsorted()"
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"{name}: side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError(f"{name}: side and right can't be set to opposites, got side of left while right "
                               "was True")
        right = side == "right"
    scalar = not isinstance(input, Tensor)
    if scalar:
        input = _as_tensor(input, sorted_sequence)
    if sorted_sequence.ndim == 0:
        raise RuntimeError(f"{name}: boundaries tensor should have positive dimension, but got 0 dimension")
    if sorted_sequence.ndim != 1 and (scalar or sorted_sequence.shape[:-1] != input.shape[:-1]):
        raise RuntimeError(f"{name}: boundaries tensor should be 1 dimension or the first N-1 dimensions of "
                           f"boundaries tensor and input value tensor must match, but we got boundaries tensor "
                           f"{list(sorted_sequence.shape)} and input value tensor {list(input.shape)}")
    if sorter is not None:
        if sorter._dtype is not dtypes.int64:
            raise RuntimeError(f"{name}: sorter must be a tensor of long dtype but got dtype "
                               f"{sorter._dtype.scalar_name}")
        if sorter.shape != sorted_sequence.shape:
            raise RuntimeError(f"{name}: boundary and sorter must have the same size, but got boundary tensor "
                               f"{list(sorted_sequence.shape)}and got sorter tensor {list(sorter.shape)}")
        n = sorted_sequence.shape[-1]
        if sorter.numel() and (builtins.bool((sorter < 0).any()) or builtins.bool((sorter >= n).any())):
            raise RuntimeError(f"{name}: sorter index out of range")
    common = dtypes.promote_types(sorted_sequence._dtype, input._dtype)
    _check_searchable(common, sorted_sequence.device)
    boundaries = sorted_sequence if sorted_sequence._dtype is common else sorted_sequence.to(common)
    values = input if input._dtype is common else input.to(common)
    return run("searchsorted", (boundaries.detach(), values.detach(), sorter),
               (builtins.bool(right), builtins.bool(out_int32)))


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each value among 1-D sorted `boundaries`: searchsorted(boundaries, input, right=right)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input, bins=100, min=0, max=0):
    """Counts of the elements in `bins` equal bins over [min, max] (the data's range when both are equal),
    elements outside it ignored; the result has the input's (floating) dtype."""
    if not input._dtype.is_floating_point:
        raise NotImplementedError(f"\"histogram_{input.device.type}\" not implemented for "
                                  f"'{input._dtype.scalar_name}'")
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    low, high = builtins.float(min), builtins.float(max)
    if low == high and input.numel() > 0:
        low, high = builtins.float(input.detach().min()), builtins.float(input.detach().max())
    if low == high:  # PyTorch widens an empty range: by one, or (float32/float64) to the next float when farther
        low, high = _widened(low, high, input._dtype)
    if math.isinf(low) or math.isinf(high) or math.isnan(low) or math.isnan(high):
        raise RuntimeError(f"torch.histc: range of [{_cpp_float(low)}, {_cpp_float(high)}] is not finite")
    if not low < high:
        raise RuntimeError("torch.histc: max must be larger than min")
    return run("histc", (input.detach(),), (builtins.int(bins), low, high))


def _widened(low, high, dtype):
    if dtype in (dtypes.float32, dtypes.float64):
        kind = dtype.np.type
        below = builtins.float(np.nextafter(kind(low), kind(-np.inf))) if not math.isnan(low) else low
        above = builtins.float(np.nextafter(kind(high), kind(np.inf))) if not math.isnan(high) else high
        return builtins.min(below, low - 1), builtins.max(above, high + 1)
    return low - 1, high + 1


def _cpp_float(value):
    """A double as C++'s stream prints it (PyTorch's messages): 'inf', '-nan', 1 rather than 1.0."""
    if math.isnan(value):
        return "-nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:g}"


def bincount(input, weights=None, minlength=0):
    """Occurrences of each value of the non-negative 1-D integer `input` (sums of `weights` when given), at least
    `minlength` long."""
    if input._dtype not in _INTEGRAL:
        raise NotImplementedError(f"\"bincount_{input.device.type}\" not implemented for "
                                  f"'{input._dtype.scalar_name}'")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if input.ndim != 1 or (input.numel() and builtins.int(input.min()) < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is not None and (weights.ndim != 1 or weights.shape[0] != input.shape[0]):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    length = builtins.max(builtins.int(input.max()) + 1 if input.numel() else 0, builtins.int(minlength))
    if weights is not None and input.numel() == 0:
        weights = None  # PyTorch returns int64 zeros for no input, weighted or not
    return run("bincount", (input, weights), (length,))


TENSOR_METHODS = ("histc", "bincount")

__all__ = ["searchsorted", "bucketize", "histc", "bincount"]
