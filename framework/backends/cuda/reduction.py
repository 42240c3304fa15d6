"""cuda kernels for reductions, cumsum, softmax and log_softmax: the cpu kernels' signatures and results, computed
by triton_kernels.reduction / triton_kernels.softmax.

Every kernel sees its input as rows: the reduced (or softmax/cumsum) dims moved last and merged into one column
dim, the kept dims merged into at most two row groups (`_layout`). Only a layout that does not merge so is
copied, with the reduced dims moved last. Outputs are new contiguous arrays; gradients too.
"""
import numpy as np

from triton_kernels import reduction as kernels
from triton_kernels import softmax as softmax_kernels
from triton_kernels.strided import collapse, numel

from ...autograd.registry import not_differentiable, register
from .common import contiguous, copy_into, empty, zeros

_INT64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)
_UINT8 = np.dtype(np.uint8)


def _integral(dtype):
    return dtype.kind in "biu"


# ---- layouts ---------------------------------------------------------------------------------------------------

class _Rows:
    """An array's (n_rows, n_cols) view: rows split as (n_rows // n_inner, n_inner) with strides (m, i)."""
    __slots__ = ("n_rows", "n_cols", "n_inner", "strides")

    def __init__(self, n_rows, n_cols, n_inner, strides):
        self.n_rows, self.n_cols, self.n_inner, self.strides = n_rows, n_cols, n_inner, strides

    def of(self, k):
        """(stride_m, stride_i, stride_n) of the k-th array."""
        return self.strides[k]


def _layout(shape, axes, *arrays):
    """The joint rows view of `arrays` (all of `shape`) with `axes` moved last, or None when the reduced dims do
    not merge into one or the kept dims into two groups in every array."""
    kept = [d for d in range(len(shape)) if d not in axes]
    n_rows, n_cols = numel(shape[d] for d in kept), numel(shape[d] for d in axes)
    if n_rows == 0 or n_cols == 0:  # nothing is read: any strides do
        return _Rows(n_rows, n_cols, 1, [(0, 0, 0)] * len(arrays))
    row_shape, row_strides = collapse([shape[d] for d in kept], *([a.stride()[d] for d in kept] for a in arrays))
    col_shape, col_strides = collapse([shape[d] for d in axes], *([a.stride()[d] for d in axes] for a in arrays))
    if len(col_shape) > 1 or len(row_shape) > 2:
        return None
    if len(row_shape) == 1:
        row_strides = [(st[0], 0) for st in row_strides]
    return _Rows(n_rows, n_cols, row_shape[-1] if len(row_shape) == 2 else 1,
                 [(*rs, cs[0]) for rs, cs in zip(row_strides, col_strides)])


def _order(ndim, axes):
    return [d for d in range(ndim) if d not in axes] + list(axes)


def _moved_last(x, axes):
    """A contiguous copy of `x` with `axes` moved last (in order), and the new positions of those axes."""
    moved = x.transpose(_order(x.ndim, axes)).copy()
    return moved, tuple(range(x.ndim - len(axes), x.ndim))


def _rows_of(x, axes):
    """(x or a copy of it, axes in that array, its rows view): the input side of a reduction."""
    layout = _layout(x.shape, axes, x)
    if layout is None:
        x, axes = _moved_last(x, axes)
        layout = _layout(x.shape, axes, x)
    return x, layout


def _row_stride(g):
    """The stride of g's elements in row-major order (one per row), g itself or a contiguous copy."""
    shape, (strides,) = collapse(g.shape, g.stride())
    if len(shape) == 1:
        return g, strides[0]
    return contiguous(g), 1


def _kept_shape(shape, axes, keepdim):
    return tuple(1 if d in axes else size for d, size in enumerate(shape) if keepdim or d not in axes)


# ---- forward: reduce rows ----------------------------------------------------------------------------------------

def _reduce(op, x, axes, keepdim, dtype, **params):
    """`op` over `axes` of `x` into a new array of `dtype`."""
    out = empty(_kept_shape(x.shape, axes, keepdim), dtype)
    source, rows = _rows_of(x, axes)
    stride_m, stride_i, stride_n = rows.of(0)
    kernels.reduce_rows(op, source, out, rows.n_rows, rows.n_cols, stride_m, stride_n, n_inner=rows.n_inner,
                        stride_xi=stride_i, **params)
    return out


def _reduce_index(op, x, axes, keepdim, with_values):
    """(values or None, first index of the max/min over `axes`)."""
    index = empty(_kept_shape(x.shape, axes, keepdim), _INT64)
    values = empty(index.shape, x.dtype) if with_values else None
    source, rows = _rows_of(x, axes)
    stride_m, stride_i, stride_n = rows.of(0)
    kernels.reduce_rows(op, source, values, rows.n_rows, rows.n_cols, stride_m, stride_n, n_inner=rows.n_inner,
                        stride_xi=stride_i, index=index)
    return values, index


# ---- backward: the gradient of a row reduction -----------------------------------------------------------------

def _reduce_backward(op, x, g, axes, out=None, index=None, **params):
    """g * d op(x) / dx over `axes` (g of the output's shape, keepdim or not) as a new contiguous array."""
    dx = empty(x.shape, x.dtype)
    rows = _layout(x.shape, axes, x, dx)
    result = dx
    if rows is None:  # a layout that does not merge: work on copies with the reduced dims last
        order = _order(x.ndim, axes)
        x, axes = _moved_last(x, axes)
        dx = empty(x.shape, x.dtype)
        rows = _layout(x.shape, axes, x, dx)
        result = None
    g, stride_g = _row_stride(g)
    (stride_xm, stride_xi, stride_xn), (stride_dm, stride_di, stride_dn) = rows.of(0), rows.of(1)
    kernels.reduce_rows_backward(op, x, g, dx, rows.n_rows, rows.n_cols, stride_xm, stride_xn, stride_dm, stride_dn,
                                 n_inner=rows.n_inner, stride_xi=stride_xi, stride_di=stride_di, stride_g=stride_g,
                                 out=out, index=index, **params)
    if result is None:
        result = dx.transpose(tuple(np.argsort(order))).copy()
    return result


def _save(ctx, *arrays, **meta):
    if ctx.needs_input_grad:
        ctx.save_for_backward(*arrays)
        ctx.meta = meta


# ---- sum, mean, prod ----------------------------------------------------------------------------------------------

def _sum_forward(ctx, x, axes, keepdim):
    if ctx.needs_input_grad:
        ctx.meta = (x.shape, x.dtype, axes, keepdim)
    return _reduce("sum", x, axes, keepdim, _INT64 if _integral(x.dtype) else x.dtype)


def _sum_backward(ctx, g):
    """The output gradient broadcast back over the reduced dims."""
    shape, dtype, axes, keepdim = ctx.meta
    return copy_into(empty(shape, dtype), g.reshape(_kept_shape(shape, axes, True)))


register("sum", "cuda", _sum_forward, _sum_backward)


def _mean_forward(ctx, x, axes, keepdim):
    _save(ctx, x, axes=axes)
    return _reduce("mean", x, axes, keepdim, x.dtype)


def _mean_backward(ctx, g):
    (x,) = ctx.saved_tensors
    return _reduce_backward("mean", x, g, ctx.meta["axes"])


register("mean", "cuda", _mean_forward, _mean_backward)


def _prod_forward(ctx, x, axes, keepdim):
    _save(ctx, x, axes=axes)
    return _reduce("prod", x, axes, keepdim, _INT64 if _integral(x.dtype) else x.dtype)


def _prod_backward(ctx, g):
    (x,) = ctx.saved_tensors
    return _reduce_backward("prod", x, g, ctx.meta["axes"])


register("prod", "cuda", _prod_forward, _prod_backward)


# ---- max, min, amax, amin, argmax, argmin ------------------------------------------------------------------------

def _backward_with_out(op):
    """The backward of a reduction that reads its input and output: for max/min, the gradient is shared evenly
    among the elements equal to the result (the NaNs when it is NaN)."""
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return _reduce_backward(op, x, g, ctx.meta["axes"], out=out)
    return backward


def _full_extreme(op):
    def forward(ctx, x):
        axes = tuple(range(x.ndim))
        out = _reduce(op, x, axes, False, x.dtype)
        _save(ctx, x, out, axes=axes)
        return out

    register(op, "cuda", forward, _backward_with_out(op), op.capitalize() + "Backward1")


_full_extreme("max")
_full_extreme("min")


def _extreme_along(op):
    """max(dim)/min(dim): (values, indices); the gradient goes to the index returned."""
    def forward(ctx, x, axis, keepdim):
        if x.ndim == 0:
            return x.copy(), zeros((), _INT64)
        values, index = _reduce_index(op, x, (axis,), keepdim, with_values=True)
        _save(ctx, x, index, axes=(axis,))
        return values, index

    def backward(ctx, grads):
        g = grads[0]
        if not ctx.saved_tensors:  # 0-d input: the value is the input
            return g.copy()
        x, index = ctx.saved_tensors
        return _reduce_backward(op, x, g, ctx.meta["axes"], index=index)

    register(op + "_dim", "cuda", forward, backward, op.capitalize() + "Backward0")


_extreme_along("max")
_extreme_along("min")


def _amax_like(op, kernel_op):
    def forward(ctx, x, axes, keepdim):
        out = _reduce(kernel_op, x, axes, keepdim, x.dtype)
        _save(ctx, x, out, axes=axes)
        return out

    register(op, "cuda", forward, _backward_with_out(kernel_op))


_amax_like("amax", "max")
_amax_like("amin", "min")


def _arg_extreme(op, kernel_op):
    def forward(ctx, x, axis, keepdim):
        if axis is None:  # over the flattened input
            index = _reduce_index(kernel_op, x, tuple(range(x.ndim)), False, with_values=False)[1]
            return index.reshape((1,) * x.ndim) if keepdim else index
        if x.ndim == 0:
            return zeros((), _INT64)
        return _reduce_index(kernel_op, x, (axis,), keepdim, with_values=False)[1]

    register(op, "cuda", forward, not_differentiable)


_arg_extreme("argmax", "max")
_arg_extreme("argmin", "min")


# ---- var, std, norm, logsumexp ---------------------------------------------------------------------------------

def _spread(op):
    def forward(ctx, x, axes, correction, keepdim):
        out = _reduce(op, x, axes, keepdim, x.dtype, correction=correction)
        _save(ctx, x, out, axes=axes, correction=correction)
        return out

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return _reduce_backward(op, x, g, ctx.meta["axes"], out=out, correction=ctx.meta["correction"])

    register(op, "cuda", forward, backward)


_spread("var")
_spread("std")


def _norm_forward(ctx, x, p, axes, keepdim):
    out = _reduce("norm", x, axes, keepdim, x.dtype, p=p)
    _save(ctx, x, out, axes=axes, p=p)
    return out


def _norm_backward(ctx, g):
    x, out = ctx.saved_tensors
    return _reduce_backward("norm", x, g, ctx.meta["axes"], out=out, p=ctx.meta["p"])


register("norm", "cuda", _norm_forward, _norm_backward, "LinalgVectorNormBackward0")


def _logsumexp_forward(ctx, x, axes, keepdim):
    out = _reduce("logsumexp", x, axes, keepdim, x.dtype)
    _save(ctx, x, out, axes=axes)
    return out


register("logsumexp", "cuda", _logsumexp_forward, _backward_with_out("logsumexp"))


# ---- all, any, count_nonzero ---------------------------------------------------------------------------------------

def _logical(op):
    def forward(ctx, x, axes, keepdim):
        return _reduce(op, x, axes, keepdim, _UINT8 if x.dtype == _UINT8 else _BOOL)  # PyTorch keeps uint8
    return forward


register("all", "cuda", _logical("all"), not_differentiable)
register("any", "cuda", _logical("any"), not_differentiable)
register("count_nonzero", "cuda", lambda ctx, x, axes: _reduce("count_nonzero", x, axes, False, _INT64),
         not_differentiable)


# ---- cumsum, softmax, log_softmax: along one axis ------------------------------------------------------------------

def _along(x, out, axis, *others):
    """The joint rows view of `x`, `out` and `others` along `axis`, making x (then the others) contiguous when
    their layouts do not merge. Returns (x, others, rows)."""
    rows = _layout(x.shape, (axis,), x, out, *others)
    if rows is None:
        x, others = contiguous(x), [contiguous(a) for a in others]
        rows = _layout(x.shape, (axis,), x, out, *others)  # contiguous arrays always merge so
    return x, others, rows


def _cumsum(x, axis, dtype, reverse):
    out = empty(x.shape, dtype)
    x, _, rows = _along(x, out, axis)
    (stride_xm, stride_xi, stride_xn), (stride_om, stride_oi, stride_on) = rows.of(0), rows.of(1)
    kernels.cumsum_rows(x, out, rows.n_rows, rows.n_cols, stride_xm, stride_xn, stride_om, stride_on,
                        n_inner=rows.n_inner, stride_xi=stride_xi, stride_oi=stride_oi, reverse=reverse)
    return out


def _cumsum_forward(ctx, x, axis):
    if ctx.needs_input_grad:
        ctx.meta = (x.dtype, axis)
    dtype = _INT64 if _integral(x.dtype) else x.dtype
    if x.ndim == 0:
        return x.astype(dtype)
    return _cumsum(x, axis, dtype, reverse=False)


def _cumsum_backward(ctx, g):
    """The running sum of the gradient from the end."""
    dtype, axis = ctx.meta
    if g.ndim == 0:
        return g.astype(dtype)
    return _cumsum(g, axis, dtype, reverse=True)


register("cumsum", "cuda", _cumsum_forward, _cumsum_backward)


def _softmax_like(log):
    def forward(ctx, x, axis):
        shape = x.shape
        x = x.reshape(shape or (1,))  # softmax of a scalar runs along its one (implicit) dim
        y = empty(x.shape, x.dtype)
        x, _, rows = _along(x, y, axis)
        (stride_xm, stride_xi, stride_xn), (stride_ym, stride_yi, stride_yn) = rows.of(0), rows.of(1)
        softmax_kernels.softmax_forward(x, y, rows.n_rows, rows.n_cols, stride_xm, stride_xn, stride_ym, stride_yn,
                                        n_inner=rows.n_inner, stride_xi=stride_xi, stride_yi=stride_yi, log=log)
        y = y.reshape(shape)
        _save(ctx, y, axis=axis)
        return y

    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        shape, axis = y.shape, ctx.meta["axis"]
        y, g = y.reshape(shape or (1,)), g.reshape(shape or (1,))
        dx = empty(y.shape, y.dtype)
        y, (g,), rows = _along(y, dx, axis, g)
        (stride_ym, stride_yi, stride_yn), (stride_dm, stride_di, stride_dn) = rows.of(0), rows.of(1)
        stride_gm, stride_gi, stride_gn = rows.of(2)
        softmax_kernels.softmax_backward(y, g, dx, rows.n_rows, rows.n_cols, stride_ym, stride_yn, stride_gm,
                                         stride_gn, stride_dm, stride_dn, n_inner=rows.n_inner, stride_yi=stride_yi,
                                         stride_gi=stride_gi, stride_di=stride_di, log=log)
        return dx.reshape(shape)

    return forward, backward


register("softmax", "cuda", *_softmax_like(log=False))
register("log_softmax", "cuda", *_softmax_like(log=True))
