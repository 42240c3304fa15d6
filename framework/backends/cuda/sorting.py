"""cuda kernels for sorting and selection: the cpu kernels' signatures and results (backends/numpy/sorting.py), built
on triton_kernels.sort's stable row sort.

sort is the row sort, topk its first k columns (triton_kernels.sort.topk_rows: long rows are not sorted whole);
kthvalue, median, nanmedian and mode read one sorted position per row, chosen on the device (no host round trip):
kthvalue k - 1; median (n - 1) // 2, or the first NaN's place when the row holds NaN; nanmedian the middle of the
non-NaN values; mode the end of the longest run of equal sorted values (the first such run, i.e. the smallest
value). unique sorts the flattened input (slices: one stable sort per column, last column first), marks where the
sorted values change and compacts; the number of distinct values is read back to the host (one sync), as PyTorch
does.
"""
import numpy as np

from triton_kernels import indexing as index_kernels
from triton_kernels import search as search_kernels
from triton_kernels import sort as sort_kernels

from ...autograd.graph import KernelContext
from ...autograd.registry import no_derivative, register
from .common import call, contiguous, copy_into, empty, full, scalar, zeros
from .reduction import _along, _kept_shape, _reduce_backward

_INT64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)


def _scratch(shape, dtype):
    return empty(shape, np.dtype(dtype))


def sort_along(x, axis, descending=False):
    """(values, int64 indices) of `x` (at least 1-d) stably sorted along `axis`: new contiguous arrays."""
    values = empty(x.shape, x.dtype)
    indices = empty(x.shape, _INT64)
    source, _, rows = _along(x, values, axis, indices)
    sort_kernels.sort_rows(source, values, indices, rows.n_rows, rows.n_cols, rows.of(0), rows.of(1), rows.of(2),
                           n_inner=rows.n_inner, descending=descending, scratch=_scratch)
    return values, indices


def _as_1d(x):
    return x.reshape(x.shape or (1,))


def _scatter_back(g, indices, axis, shape, dtype):
    """zeros(shape) with g written at `indices` along `axis` (each position at most once)."""
    grad = zeros(shape or (1,), dtype)
    if grad.size and g.size:
        index_kernels.scatter(grad, _as_1d(indices), _as_1d(g), axis)
    return grad.reshape(shape)


def _save_indices(ctx, x, indices, axis, keepdim=True):
    if ctx.needs_input_grad:
        ctx.save_for_backward(indices)
        ctx.meta = (x.shape, x.dtype, axis, keepdim)


def _scatter_backward(ctx, grads):
    (indices,) = ctx.saved_tensors
    shape, dtype, axis, keepdim = ctx.meta
    g = grads[0]
    if shape and not keepdim:
        g, indices = g.reshape(_kept_shape(shape, (axis,), True)), indices.reshape(_kept_shape(shape, (axis,), True))
    return _scatter_back(g, indices, axis, shape, dtype)


# ---- sort, topk -----------------------------------------------------------------------------------------------------

def _sort_forward(ctx, x, axis, descending):
    values, indices = sort_along(_as_1d(x), axis, descending)
    values, indices = values.reshape(x.shape), indices.reshape(x.shape)
    _save_indices(ctx, x, indices, axis)
    return values, indices


register("sort", "cuda", _sort_forward, _scatter_backward)


def _topk_forward(ctx, x, k, axis, largest):
    if not x.ndim:  # PyTorch returns a 0-d input itself, for k = 0 too
        values, indices = x.copy(), zeros((), _INT64)
    else:
        shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
        values, indices = empty(shape, x.dtype), empty(shape, _INT64)
        source, _, rows = _along(x, values, axis, indices)  # rows of x's length; the outputs' columns stop at k
        sort_kernels.topk_rows(source, values, indices, rows.n_rows, rows.n_cols, k, rows.of(0), rows.of(1),
                               rows.of(2), n_inner=rows.n_inner, largest=largest, scratch=_scratch)
    _save_indices(ctx, x, indices, axis)
    return values, indices


register("topk", "cuda", _topk_forward, _scatter_backward)


# ---- kthvalue, median, nanmedian, mode ----------------------------------------------------------------------------

def _select(ctx, x, axis, keepdim, positions, ordered=None):
    """(values, indices) at `positions` (an int, or int64 of the keepdim shape) of x's stably sorted rows."""
    x1 = _as_1d(x)
    values_sorted, order = ordered if ordered is not None else sort_along(x1, axis)
    kept = _kept_shape(x1.shape, (axis,), True)
    if not hasattr(positions, "data_ptr"):
        positions = full(kept, positions, _INT64)
    indices = empty(kept, _INT64)
    values = empty(kept, x.dtype)
    if indices.size:
        index_kernels.gather(order, positions, indices, axis)
        index_kernels.gather(values_sorted, positions, values, axis)
    if not x.ndim:
        values, indices = values.reshape(()), indices.reshape(())
    elif not keepdim:
        values = values.reshape(_kept_shape(x.shape, (axis,), False))
        indices = indices.reshape(values.shape)
    _save_indices(ctx, x, indices, axis, keepdim)
    return values, indices


def _nan_counts(x1, axis):
    """The NaNs of each row (int64, keepdim shape)."""
    return call("sum", call("isnan", x1), (axis,), True)


def _kthvalue_forward(ctx, x, k, axis, keepdim):
    return _select(ctx, x, axis, keepdim, k - 1)


def _median_dim_forward(ctx, x, axis, keepdim):
    x1 = _as_1d(x)
    n = x1.shape[axis]
    if x.dtype.kind in "biu" or x1.size == 0:
        return _select(ctx, x, axis, keepdim, max(n - 1, 0) // 2)
    nans = _nan_counts(x1, axis)
    positions = call("where", call("gt", nans, 0), call("sub", n, nans), (n - 1) // 2)
    return _select(ctx, x, axis, keepdim, positions)


def _nanmedian_dim_forward(ctx, x, axis, keepdim):
    x1 = _as_1d(x)
    n = x1.shape[axis]
    if x.dtype.kind in "biu" or x1.size == 0:
        return _select(ctx, x, axis, keepdim, max(n - 1, 0) // 2)
    below_middle = call("maximum", call("sub", n - 1, _nan_counts(x1, axis)), 0)
    return _select(ctx, x, axis, keepdim, call("floor_divide", below_middle, 2))


def _mode_forward(ctx, x, axis, keepdim):
    """The end of the first longest run of equal values in each sorted row: runs start where a value differs
    from the one before (NaN never equals NaN, as PyTorch's comparison); each position's run start is a running
    max of the start positions; a run's length is read at its last position."""
    x1 = _as_1d(x)
    ordered = sort_along(x1, axis)
    values = ordered[0]
    n = x1.shape[axis]
    if x1.size == 0:
        return _select(ctx, x, axis, keepdim, 0, ordered)

    def cols(start, stop):
        return tuple(slice(start, stop) if d == axis else slice(None) for d in range(x1.ndim))

    starts = full(x1.shape, True, _BOOL)
    if n > 1:
        copy_into(starts[cols(1, None)], call("ne", values[cols(1, None)], values[cols(0, n - 1)]))
    ends = full(x1.shape, True, _BOOL)
    if n > 1:
        copy_into(ends[cols(0, n - 1)], starts[cols(1, None)])
    column = call("sub", call("cumsum", full(x1.shape, 1, _INT64), axis), 1)
    run_start = call("cummax", call("where", starts, column, 0), axis)[0]
    lengths = call("where", ends, call("add", call("sub", column, run_start), 1), 0)
    best = call("argmax", lengths, axis, True)
    return _select(ctx, x, axis, keepdim, best, ordered)


register("kthvalue", "cuda", _kthvalue_forward, _scatter_backward)
register("median_dim", "cuda", _median_dim_forward, _scatter_backward, "MedianBackward1")
register("nanmedian_dim", "cuda", _nanmedian_dim_forward, _scatter_backward, "NanmedianBackward1")
register("mode", "cuda", _mode_forward, _scatter_backward)


def _full_median(ignore_nan):
    """median()/nanmedian() of every element: 0-d; the gradient is shared evenly among the elements equal to the
    result (among the NaNs when it is NaN), by the reduction kernels' max backward."""

    def forward(ctx, x, *rest):
        if x.size == 0:  # NaN, or what casting NaN to an integer dtype gives (PyTorch's result)
            with np.errstate(invalid="ignore"):
                return full((), np.array(np.nan).astype(x.dtype).item() if x.dtype.kind in "biu" else np.nan,
                            x.dtype)
        flat = x.reshape((-1,))
        along = _nanmedian_dim_forward if ignore_nan else _median_dim_forward
        out = along(_NO_GRAD_CTX, flat, 0, False)[0].reshape(())
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return _reduce_backward("max", x, g, tuple(range(x.ndim)), out=out)

    return forward, backward


_NO_GRAD_CTX = KernelContext(())

register("median", "cuda", *_full_median(ignore_nan=False))
register("nanmedian", "cuda", *_full_median(ignore_nan=True))


# ---- unique, unique_consecutive -------------------------------------------------------------------------------------

def _count(flags):
    """(block offsets, number of True flags): the count is read back to the host (one sync)."""
    block_offsets = empty((max(1, index_kernels.compaction_blocks(flags.size)),), _INT64)
    total = empty((1,), _INT64)
    index_kernels.count_nonzero(flags, block_offsets, total)
    return block_offsets, int(scalar(total))


def _run_starts(rows):
    """bool (n,): whether each row of the 2-D `rows` differs from the one before (the first always does)."""
    n = rows.shape[0]
    starts = full((n,), True, _BOOL)
    if n > 1:
        differ = call("ne", rows[1:], rows[:n - 1])
        copy_into(starts[1:], call("any", differ, (1,), False) if rows.shape[1] != 1 else differ.reshape((n - 1,)))
    return starts


def _compact(rows, order, starts, inverse_shape):
    """(the first row of each run, inverse, counts) for runs of the 2-D `rows` (already in `order`, which maps
    their positions to the input's; None: the identity)."""
    n, width = rows.shape
    groups = call("sub", call("cumsum", starts, 0), 1)
    block_offsets, total = _count(starts)
    values = empty((total, width), rows.dtype)
    if total:
        keep = starts.reshape((n, 1)).broadcast_to((n, width))
        index_kernels.masked_select_write(rows, keep, _count(keep)[0], values.reshape((total * width,)))
    if order is None:
        inverse = groups
    else:
        inverse = empty((n,), _INT64)
        if n:
            index_kernels.scatter(inverse, order, groups, 0)
    counts = zeros((total,), _INT64)
    search_kernels.bincount(groups, counts)
    return values, inverse.reshape(inverse_shape), counts


def _unique_forward(ctx, x):
    flat = x.reshape((-1,))
    ordered, order = sort_along(flat, 0)
    values, inverse, counts = _compact(ordered.reshape((-1, 1)), order, _run_starts(ordered.reshape((-1, 1))),
                                       x.shape)
    return values.reshape((-1,)), inverse, counts


def _unique_consecutive_forward(ctx, x):
    flat = contiguous(x.reshape((-1,))).reshape((-1, 1))
    values, inverse, counts = _compact(flat, None, _run_starts(flat), x.shape)
    return values.reshape((-1,)), inverse, counts


def _lexicographic_order(rows):
    """The stable order that sorts the rows of a 2-D array lexicographically: one stable sort per column, from the
    last column to the first."""
    n, width = rows.shape
    order = call("sub", call("cumsum", full((n,), 1, _INT64), 0), 1)
    for column in range(width - 1, -1, -1):
        keys = empty((n,), rows.dtype)
        index_kernels.gather(rows[:, column], order, keys, 0)
        by_column = sort_along(keys, 0)[1]
        next_order = empty((n,), _INT64)
        index_kernels.gather(order, by_column, next_order, 0)
        order = next_order
    return order


def _unique_dim(consecutive):
    def forward(ctx, x, axis):
        moved = contiguous(np_moveaxis(x, axis))
        rows = moved.reshape((moved.shape[0], int(np.prod(moved.shape[1:], dtype=np.int64))))
        n, width = rows.shape
        if consecutive or n == 0:
            order, ordered = None, rows
        else:
            order = _lexicographic_order(rows)
            ordered = empty(rows.shape, rows.dtype)
            index_kernels.gather(rows, order.reshape((n, 1)).broadcast_to((n, width)), ordered, 0)
        values, inverse, counts = _compact(ordered, order, _run_starts(ordered), (n,))
        values = values.reshape((values.shape[0],) + moved.shape[1:])
        return contiguous(np_moveaxis(values, 0, axis)), inverse, counts
    return forward


def np_moveaxis(a, source, destination=0):
    """numpy's moveaxis for CudaArrays (a view)."""
    order = [d for d in range(a.ndim) if d != source]
    order.insert(destination, source)
    return a.transpose(order)


register("unique", "cuda", _unique_forward, no_derivative("_unique2"), "Unique2Backward0")
register("unique_consecutive", "cuda", _unique_consecutive_forward, no_derivative("unique_consecutive"))
register("unique_dim", "cuda", _unique_dim(False), no_derivative("unique_dim"), "UniqueDimBackward0")
register("unique_dim_consecutive", "cuda", _unique_dim(True), no_derivative("unique_consecutive"),
         "UniqueConsecutiveBackward0")
