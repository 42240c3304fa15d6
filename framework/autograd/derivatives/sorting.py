"""Differentiable formulas of sorting and selection (framework/ops/sorting.py), and of the ops whose derivative
PyTorch does not implement (unique, weighted bincount).

sort, topk, kthvalue, median(dim), nanmedian(dim) and mode put the gradient at the indices they return, as max(dim)
does (reduction._along: PyTorch's value_selecting_reduction_backward). median() and nanmedian() share it evenly
among the elements equal to the result, as max() does.
"""
from ..registry import KERNELS
from . import derivative
from .reduction import _along, _evenly

_along("sort", lambda params: (params[0], True))  # (axis, descending)
_along("topk", lambda params: (params[1], True))  # (k, axis, largest)
_along("kthvalue", lambda params: params[1:])  # (k, axis, keepdim)
_along("median_dim")  # (axis, keepdim)
_along("nanmedian_dim")
_along("mode")
_evenly("median")
_evenly("nanmedian")


def _not_implemented(op, inputs=None):
    """PyTorch implements no derivative for `op` (its outputs require grad all the same): the formula raises the
    error its kernels' backward raises (registry.no_derivative), so create_graph=True fails as PyTorch does."""
    kernel_backward = next(iter(KERNELS[op].values())).backward
    derivative(op, inputs=inputs)(lambda ctx, grads: kernel_backward(ctx, grads))


_not_implemented("unique")
_not_implemented("unique_dim")
_not_implemented("unique_consecutive")
_not_implemented("unique_dim_consecutive")
_not_implemented("bincount", inputs=(1,))  # PyTorch's node shows the weights alone
