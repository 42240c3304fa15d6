"""CPU kernels of scatter_reduce (sum, prod, mean, amax, amin; include_self) and of scatter's legacy `reduce=`:
numpy's ufunc.at, which combines repeated positions one after another. The backward is backends/formulas.py's,
shared with cuda."""
import functools

import numpy as np

from ...autograd.registry import register
from ..formulas import identity, scatter_reduce_backward
from .common import LOW_PRECISION
from .indexing import _gather_key, _src_part

_UFUNCS = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def scatter_reduce(x, index, src, dim, reduce, include_self):
    """out = x with src combined into it along `dim` at `index` (PyTorch's scatter_reduce); float16/bfloat16 combine
    in float32, integers in their own dtype (a product wraps, as PyTorch's does)."""
    key = _gather_key(index, dim)
    acc = np.dtype(np.float32) if x.dtype in LOW_PRECISION else x.dtype
    out = x.astype(acc)
    if not include_self:
        out[key] = identity(reduce, acc)
    _UFUNCS[reduce].at(out, key, _src_part(src, index).astype(acc, copy=False))
    if reduce == "mean":
        counts = np.full(x.shape, 1 if include_self else 0, np.int64)
        np.add.at(counts, key, 1)
        counts = np.maximum(counts, 1)  # a position nothing was scattered to keeps its value
        out = np.floor_divide(out, counts) if acc.kind in "iu" else (out / counts).astype(acc, copy=False)
    return out.astype(x.dtype, copy=False)


def _forward(ctx, x, index, src, dim, reduce, include_self):
    out = scatter_reduce(x, index, src, dim, reduce, include_self)
    ctx.params, ctx.src_shape = (dim, reduce, include_self), src.shape
    keep = reduce in ("prod", "amax", "amin")  # sum and mean need only the index
    ctx.save_for_backward(index, x if keep else None, src if keep else None, out if keep else None)
    return out


def _legacy_backward(ctx, g):
    raise RuntimeError("derivative for aten::scatter is not implemented")


register("scatter_reduce", "cpu", _forward, functools.partial(scatter_reduce_backward, "cpu", np.full))
# scatter(..., reduce='add'/'multiply'): PyTorch records a node whose backward raises
register("scatter_legacy_reduce", "cpu", _forward, _legacy_backward, "NotImplemented")
