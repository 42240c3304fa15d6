"""quantile and nanquantile, composed as PyTorch composes them: sort, then each quantile read from the sorted
values at rank q * (n - 1), interpolated between its neighbours. Gradients come through sort and gather; the
result's node is PyTorch's (SqueezeBackward4). Ranks and weights are computed in the input's dtype, as PyTorch.

    linear: below + (above - below) * frac   lower: below   higher: above   nearest: round half to even
    midpoint: (below + above) / 2

quantile gives NaN where the reduced values hold NaN; nanquantile ranks among the non-NaN values only (NaN where
there are none).
"""
import builtins
import numbers

from .. import dtypes
from ..creation import full_like, tensor
from ..tensor import Tensor, _wrap_dim
from . import elementwise, indexing, reduction, shape, sorting

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _check(input, q, interpolation):
    """q as a 1-D tensor of the input's dtype, and whether it was a scalar (or 0-d)."""
    if input.numel() == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    if not isinstance(q, Tensor):
        if not isinstance(q, numbers.Real) or not 0 <= q <= 1:
            raise RuntimeError(f"quantile() q must be in the range [0, 1] but got {q}")
    if input._dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError("quantile() input tensor must be either float or double dtype")
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise RuntimeError("quantile() q must be a scalar or 1D tensor")
        if q._dtype is not input._dtype:
            raise RuntimeError("quantile() q tensor must be same dtype as the input tensor")
        if q.device != input.device:
            raise RuntimeError(f"quantile() q tensor must be on the same device as the input tensor")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError("quantile() interpolation must be one of linear, lower, higher, midpoint or nearest, "
                           f"but got {interpolation}")
    if isinstance(q, Tensor):
        if q.numel() and not builtins.bool(((q >= 0) & (q <= 1)).all()):
            raise RuntimeError("quantile() q values must be in the range [0, 1]")
        return q.detach().reshape(-1), q.ndim == 0
    return tensor([builtins.float(q)], dtype=input._dtype, device=input.device), True


def _sorted_rows(input, dim, keepdim):
    """The values to rank, sorted along the last dim; the leading dims are the output's (keepdim included)."""
    if dim is None:
        flat = input.reshape((1,) * input.ndim + (-1,) if keepdim else (-1,))
    else:
        axis = _wrap_dim(dim, input.ndim)
        if input.ndim == 0:
            flat = input.reshape(1)
        elif keepdim:
            flat = shape.transpose(shape.unsqueeze(input, -1), axis, -1)
        else:
            flat = shape.movedim(input, axis, -1)
    return sorting.sort(flat, -1).values


def _lerp(start, end, weight):
    """PyTorch's lerp: start + weight * (end - start) below weight 0.5, end - (end - start) * (1 - weight) above."""
    span = end - start
    return elementwise.where(weight < 0.5, start + weight * span, end - span * (1 - weight))


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan):
    q, scalar_q = _check(input, q, interpolation)
    ordered = _sorted_rows(input, dim, keepdim)
    n = ordered.shape[-1]
    if ignore_nan:
        numbers_per_row = reduction.sum(elementwise.logical_not(elementwise.isnan(ordered)), -1, keepdim=True)
        ranks = q * (numbers_per_row - 1).to(q._dtype)
        ranks = indexing.masked_fill(ranks, ranks < 0, 0)
    else:
        has_nan = reduction.any(elementwise.isnan(ordered), -1, keepdim=True)
        ranks = indexing.masked_fill(shape.expand(q * (n - 1), has_nan.shape[:-1] + q.shape), has_nan, n - 1)
    if interpolation == "lower":
        ranks = elementwise.floor(ranks)
    elif interpolation == "higher":
        ranks = elementwise.ceil(ranks)
    elif interpolation == "nearest":
        ranks = elementwise.round(ranks)
    below_ranks = ranks.to(dtypes.int64)
    values = indexing.gather(ordered, -1, below_ranks)
    if interpolation in ("linear", "midpoint"):
        weights = ranks - below_ranks.to(ranks._dtype) if interpolation == "linear" else full_like(ranks, 0.5)
        above = indexing.gather(ordered, -1, elementwise.ceil(ranks).to(dtypes.int64))
        values = _lerp(values, above, weights)
    if not scalar_q:  # the quantiles move to the front: (..., nq) -> (nq, ..., 1)
        values = shape.transpose(shape.unsqueeze(values, 0), 0, -1)
    return shape._view_op("squeeze", values, (values.shape[:-1],), "SqueezeBackward4")


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles of every element, or along `dim`; `q` a float or a 1-D tensor (quantiles first)."""
    return _quantile(input, q, dim, keepdim, interpolation, ignore_nan=False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """quantile ignoring NaN values."""
    return _quantile(input, q, dim, keepdim, interpolation, ignore_nan=True)


TENSOR_METHODS = ("quantile", "nanquantile")

__all__ = list(TENSOR_METHODS)
