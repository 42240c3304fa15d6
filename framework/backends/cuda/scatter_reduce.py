"""cuda kernels of scatter_reduce (sum, prod, mean, amax, amin; include_self) and of scatter's legacy `reduce=`.

sum and mean add with triton_kernels.indexing.scatter's atomics; prod, amax and amin combine with
triton_kernels.scatter_reduce's compare-and-swap loops. Both work in a wider copy where the hardware has no
atomics for the dtype (float16/bfloat16 in float32, small integers and bool in int64), cast back once. Without
include_self, the scattered positions first get the reduction's identity. The indices are checked on the device
(gather's error at the next sync); the backward is backends/formulas.py's, shared with the CPU.
"""
import functools

from triton_kernels import indexing as K
from triton_kernels import scatter_reduce as SR

from ...autograd.registry import register
from ..formulas import identity, scatter_reduce_backward
from .common import full
from .elementwise import _binary
from .indexing import _WIDE, _alert_atomic_float_adds, _checked_along, _source


def _forward(ctx, x, index, src, dim, reduce, include_self):
    _alert_atomic_float_adds("scatter_reduce_cuda", x.dtype)  # PyTorch's word, whatever the reduction
    wide = _WIDE.get(x.dtype)
    out = x.astype(wide) if wide is not None else x.copy()
    checks = _checked_along(dim)
    if not include_self:
        K.scatter(out, index, _source(identity(reduce, out.dtype), index.shape, out.dtype), dim, **checks)
    if reduce in ("sum", "mean"):
        K.scatter(out, index, src, dim, accumulate=True, **checks)
    else:
        SR.scatter_reduce(out, index, src, dim, reduce, **checks)
    if reduce == "mean":
        counts = full(x.shape, 1 if include_self else 0, out.dtype)
        K.scatter(counts, index, _source(1, index.shape, out.dtype), dim, accumulate=True, **checks)
        counts = _binary("maximum", counts, 1)  # a position nothing was scattered to keeps its value
        out = _binary("floor_divide" if out.dtype.kind in "iu" else "div", out, counts)
    out = out.astype(x.dtype) if out.dtype != x.dtype else out
    ctx.params, ctx.src_shape = (dim, reduce, include_self), src.shape
    keep = reduce in ("prod", "amax", "amin")  # sum and mean need only the index
    ctx.save_for_backward(index, x if keep else None, src if keep else None, out if keep else None)
    return out


def _legacy_backward(ctx, g):
    raise RuntimeError("derivative for aten::scatter is not implemented")


register("scatter_reduce", "cuda", _forward, functools.partial(scatter_reduce_backward, "cuda", full))
register("scatter_legacy_reduce", "cuda", _forward, _legacy_backward, "NotImplemented")
