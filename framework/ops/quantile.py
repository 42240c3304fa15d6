"""quantile and nanquantile, composed as PyTorch composes them: sort, then each quantile read from the sorted
values at rank q * (n - 1), interpolated between its neighbours. Gradients come through sort and gather; the
nodes are PyTorch's (SqueezeBackward4 of LerpBackward1 of GatherBackward0 ...). Ranks and weights are computed in
the input's dtype, as PyTorch.

    linear: below + (above - below) * frac   lower: below   higher: above   nearest: round half to even
    midpoint: (below + above) / 2

quantile gives NaN where the reduced values hold NaN; nanquantile ranks among the non-NaN values only (NaN where
there are none).
"""
import builtins
import numbers

from .. import dtypes
from ..autograd.composite import composite
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
    """PyTorch's steps: the values sorted along the last dim (flattened without `dim`; the reduced dim moved last by
    unsqueeze and transpose unless it is last), viewed as the output's dims (keepdim included) + that last dim."""
    if dim is None:
        ordered = sorting.sort(shape.flatten(input)).values
        out_dims = (1,) * input.ndim if keepdim else ()
    else:
        axis = _wrap_dim(dim, input.ndim)
        if axis == input.ndim - 1:
            ordered = sorting.sort(input).values
        else:
            ordered = sorting.sort(shape.transpose(shape.unsqueeze(input, -1), axis, -1)).values
        out_dims = input.shape[:axis] + ((1,) if keepdim else ()) + input.shape[axis + 1:] if input.ndim else ()
    return shape.view(ordered, out_dims + (ordered.shape[-1],))


@composite("LerpBackward1", inputs=("start", "end", "weight"))
def _lerp(start, end, weight):
    """PyTorch's lerp (one node, as its lerp_): start + weight * (end - start) below weight 0.5,
    end - (end - start) * (1 - weight) from there."""
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
    if not scalar_q:  # the quantiles move to the front, (..., nq) -> (nq, ..., 1), by PyTorch's in-place views
        values = shape._view_op("unsqueeze", values, ((1,) + values.shape,), "UnsqueezeBackward1")
        order = list(range(values.ndim))
        order[0], order[-1] = order[-1], order[0]
        values = shape._view_op("transpose", values, (tuple(order),), "TransposeBackward1")
    return shape._view_op("squeeze", values, (values.shape[:-1],), "SqueezeBackward4")


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles of every element, or along `dim`; `q` a float or a 1-D tensor (quantiles first)."""
    return _quantile(input, q, dim, keepdim, interpolation, ignore_nan=False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """quantile ignoring NaN values."""
    return _quantile(input, q, dim, keepdim, interpolation, ignore_nan=True)


TENSOR_METHODS = ("quantile", "nanquantile")

__all__ = list(TENSOR_METHODS)
