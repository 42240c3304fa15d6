"""CPU kernels for sorting and selection: sort, topk, kthvalue, median, nanmedian, mode, unique, unique_consecutive.

Every order is that of a stable sort by `sort_keys`: integers whose order is PyTorch's (floats: -0.0 equals 0.0,
NaN above +inf, every NaN equal to every other; descending inverts the keys), ties kept in input order, as the
cuda kernels (triton_kernels/sort.py) order them too. Selections read the sorted rows: kthvalue the k-th,
median the lower middle (a row holding NaN gives its first NaN, as PyTorch), nanmedian the lower middle of the
non-NaN values, mode the smallest of the most frequent values at its last position.

The gradients are PyTorch's: sort and topk scatter the output gradient back to the indices; kthvalue, median(dim),
nanmedian(dim) and mode put it at the index returned; median() and nanmedian() share it evenly among the elements
equal to the result. unique and unique_consecutive have none (PyTorch's error at backward).
"""
import numpy as np

from ...autograd.registry import no_derivative, register
from .common import upcast

_INTEGRAL_KINDS = "biu"


def sort_keys(x, descending=False):
    """int64 keys of `x` whose signed order is PyTorch's sort order (descending: reversed)."""
    if x.dtype.kind in _INTEGRAL_KINDS:
        keys = x.astype(np.int64)
    else:
        wide = upcast(x)
        wide = np.where(wide == 0, wide.dtype.type(0), wide)  # -0.0 sorts with 0.0
        wide = np.where(np.isnan(wide), wide.dtype.type(np.nan), wide)  # one NaN, positive: above +inf
        int_type, shift = (np.int64, 63) if wide.dtype == np.float64 else (np.int32, 31)
        bits = wide.view(int_type)
        keys = (bits ^ ((bits >> shift) & np.iinfo(int_type).max)).astype(np.int64)
    return ~keys if descending else keys


def stable_order(x, axis, descending=False):
    """The indices (int64) that sort `x` along `axis` stably in PyTorch's order."""
    return np.argsort(sort_keys(x, descending), axis=axis, kind="stable").astype(np.int64, copy=False)


def _as_1d(x):
    return x.reshape(x.shape or (1,))


def _scatter_back(g, indices, axis, shape, dtype):
    """A zero gradient of `shape` with `g` written at `indices` along `axis` (g and indices of one shape)."""
    grad = np.zeros(shape or (1,), dtype=dtype)
    if grad.size:
        np.put_along_axis(grad, _as_1d(indices), _as_1d(g), axis)
    return grad.reshape(shape)


def _save_indices(ctx, x, indices, axis):
    if ctx.needs_input_grad:
        ctx.save_for_backward(indices)
        ctx.meta = (x.shape, x.dtype, axis)


def _scatter_backward(ctx, grads):
    (indices,) = ctx.saved_tensors
    shape, dtype, axis = ctx.meta
    return _scatter_back(grads[0], indices, axis, shape, dtype)


# ---- sort, topk ---------------------------------------------------------------------------------------------------

def _sort_forward(ctx, x, axis, descending):
    x1 = _as_1d(x)
    indices = stable_order(x1, axis, descending)
    values = np.take_along_axis(x1, indices, axis).reshape(x.shape)
    indices = indices.reshape(x.shape)
    _save_indices(ctx, x, indices, axis)
    return values, indices


register("sort", "cpu", _sort_forward, _scatter_backward)


def _topk_forward(ctx, x, k, axis, largest):
    if not x.ndim:  # PyTorch returns a 0-d input itself, for k = 0 too
        _save_indices(ctx, x, np.zeros((), np.int64), axis)
        return x.copy(), np.zeros((), np.int64)
    x1 = x
    indices = np.take(stable_order(x1, axis, descending=largest), np.arange(k), axis=axis)
    values = np.take_along_axis(x1, indices, axis)
    _save_indices(ctx, x, indices, axis)
    return values, indices


register("topk", "cpu", _topk_forward, _scatter_backward)


# ---- kthvalue, median, nanmedian, mode: one sorted position per row --------------------------------------------------

def _select(ctx, x, axis, keepdim, positions):
    """(values, indices) at `positions` (one per row, keepdim shape, or an int) of x's stably sorted rows."""
    x1 = _as_1d(x)
    order = stable_order(x1, axis)
    shape = list(x1.shape)
    shape[axis] = 1
    positions = np.broadcast_to(np.asarray(positions, dtype=np.int64), shape)
    indices = np.take_along_axis(order, positions, axis)
    values = np.take_along_axis(x1, indices, axis)
    if not x.ndim:
        values, indices = values.reshape(()), indices.reshape(())
    elif not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    if ctx.needs_input_grad:
        ctx.save_for_backward(indices)
        ctx.meta = (x.shape, x.dtype, axis, keepdim)
    return values, indices


def _select_backward(ctx, grads):
    (indices,) = ctx.saved_tensors
    shape, dtype, axis, keepdim = ctx.meta
    g = grads[0]
    if shape and not keepdim:
        g, indices = np.expand_dims(g, axis), np.expand_dims(indices, axis)
    return _scatter_back(g, indices, axis, shape, dtype)


def _nan_counts(x1, axis):
    if x1.dtype.kind in _INTEGRAL_KINDS:
        return np.zeros([1 if d == axis else s for d, s in enumerate(x1.shape)], np.int64)
    return np.sum(np.isnan(upcast(x1)), axis=axis, keepdims=True, dtype=np.int64)


def _kthvalue_forward(ctx, x, k, axis, keepdim):
    return _select(ctx, x, axis, keepdim, k - 1)


def _median_dim_forward(ctx, x, axis, keepdim):
    """The lower median; a row holding NaN gives its first NaN (stably sorted, the first after the numbers)."""
    x1 = _as_1d(x)
    nans = _nan_counts(x1, axis)
    n = x1.shape[axis]
    return _select(ctx, x, axis, keepdim, np.where(nans > 0, n - nans, (n - 1) // 2))


def _nanmedian_dim_forward(ctx, x, axis, keepdim):
    """The lower median of the non-NaN values; a row of NaN gives NaN."""
    x1 = _as_1d(x)
    numbers = x1.shape[axis] - _nan_counts(x1, axis)
    return _select(ctx, x, axis, keepdim, np.maximum(numbers - 1, 0) // 2)


def _mode_forward(ctx, x, axis, keepdim):
    """The smallest of the most frequent values, at its last position in the row."""
    x1 = _as_1d(x)
    moved = np.moveaxis(x1, axis, -1)
    ordered = upcast(np.take_along_axis(moved, stable_order(moved, -1), -1))
    n = ordered.shape[-1]
    column = np.arange(n)
    starts = np.ones(ordered.shape, bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]  # PyTorch's runs: NaN never equals NaN
    ends = np.ones(ordered.shape, bool)
    ends[..., :-1] = starts[..., 1:]
    run_start = np.maximum.accumulate(np.where(starts, column, 0), axis=-1)
    lengths = np.where(ends, column - run_start + 1, 0)
    best = np.argmax(lengths, axis=-1)[..., None] if n else np.zeros(ordered.shape[:-1] + (1,), np.int64)
    return _select(ctx, x, axis, keepdim, np.moveaxis(best, -1, axis))


register("kthvalue", "cpu", _kthvalue_forward, _select_backward)
register("median_dim", "cpu", _median_dim_forward, _select_backward, "MedianBackward1")
register("nanmedian_dim", "cpu", _nanmedian_dim_forward, _select_backward, "NanmedianBackward1")
register("mode", "cpu", _mode_forward, _select_backward)


def _full_median(ignore_nan):
    """median()/nanmedian() of every element: a 0-d value; the gradient is shared evenly among the elements equal
    to it (among the NaNs when it is NaN), as PyTorch's evenly_distribute_backward. Of nothing: NaN."""

    def forward(ctx, x):
        flat = x.reshape(-1)
        if flat.size == 0:  # NaN, or what casting NaN to an integer dtype gives (PyTorch's result)
            with np.errstate(invalid="ignore"):
                return np.asarray(np.array(np.nan).astype(x.dtype))
        nans = int(_nan_counts(flat, 0)[0])
        count = flat.size - nans if ignore_nan else flat.size
        position = max(count - 1, 0) // 2 if ignore_nan or nans == 0 else count - nans
        out = flat[stable_order(flat, 0)[position]].reshape(())
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, out)
        return out

    def backward(ctx, g):
        x, out = ctx.saved_tensors
        x32, out32 = upcast(x), upcast(out)
        chosen = np.isnan(x32) if np.isnan(out32) else x32 == out32
        grad = np.zeros(x.shape, dtype=x.dtype)
        grad[chosen] = upcast(g) / np.count_nonzero(chosen)
        return grad

    return forward, backward


register("median", "cpu", *_full_median(ignore_nan=False))
register("nanmedian", "cpu", *_full_median(ignore_nan=True))


# ---- unique, unique_consecutive -------------------------------------------------------------------------------------

def _groups(rows_equal_previous):
    """(starts, group ids) of runs of equal consecutive rows: a row starts a group unless it equals the one before."""
    starts = ~rows_equal_previous
    starts[:1] = True
    return starts, np.cumsum(starts) - 1


def _counts(starts, n):
    positions = np.flatnonzero(starts)
    return np.diff(np.append(positions, n)).astype(np.int64)


def _equal_previous(rows):
    """For 2-D `rows` (one slice a row): whether each equals the row before it (element-wise ==: NaN never does)."""
    same = np.zeros(rows.shape[0], bool)
    if rows.shape[0] > 1:
        same[1:] = np.all(upcast(rows[1:]) == upcast(rows[:-1]), axis=1)
    return same


def _unique_forward(ctx, x):
    """(sorted distinct values, inverse of x's shape, counts): `torch.unique` of the flattened input."""
    flat = x.reshape(-1)
    order = stable_order(flat, 0)
    ordered = flat[order]
    starts, groups = _groups(_equal_previous(ordered[:, None]))
    inverse = np.empty(flat.size, np.int64)
    inverse[order] = groups
    return ordered[starts], inverse.reshape(x.shape), _counts(starts, flat.size)


def _unique_dim_forward(ctx, x, axis, consecutive):
    """(distinct slices along `axis`, inverse (one per slice), counts): lexicographically sorted slices unless
    `consecutive`, which only merges runs of equal neighbours."""
    moved = np.moveaxis(x, axis, 0)
    rows = moved.reshape(moved.shape[0], int(np.prod(moved.shape[1:], dtype=np.int64)))
    if consecutive:
        order = np.arange(rows.shape[0])
    else:
        keys = sort_keys(rows)
        order = np.lexsort(keys.T[::-1]) if rows.shape[1] else np.arange(rows.shape[0])
    ordered = rows[order]
    starts, groups = _groups(_equal_previous(ordered))
    inverse = np.empty(rows.shape[0], np.int64)
    inverse[order] = groups
    out = np.moveaxis(moved[order][starts], 0, axis)
    return np.ascontiguousarray(out), inverse, _counts(starts, rows.shape[0])


def _unique_consecutive_forward(ctx, x):
    flat = x.reshape(-1)
    starts, groups = _groups(_equal_previous(flat[:, None]))
    return flat[starts], groups.astype(np.int64).reshape(x.shape), _counts(starts, flat.size)


register("unique", "cpu", _unique_forward, no_derivative("_unique2"), "Unique2Backward0")
register("unique_consecutive", "cpu", _unique_consecutive_forward, no_derivative("unique_consecutive"))
register("unique_dim", "cpu", lambda ctx, x, axis: _unique_dim_forward(ctx, x, axis, False),
         no_derivative("unique_dim"), "UniqueDimBackward0")
register("unique_dim_consecutive", "cpu", lambda ctx, x, axis: _unique_dim_forward(ctx, x, axis, True),
         no_derivative("unique_consecutive"), "UniqueConsecutiveBackward0")
