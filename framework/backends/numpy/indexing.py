"""CPU kernels for indexing: numpy views for basic indices; gathers whose backward scatter-adds.

Index tensors arrive as kernel inputs (int arrays, already bounds-checked by
framework.ops.indexing); where an index goes is a plain-Python param:
`basic_key` is a tuple of ints, slices and None, `dims` the dims of the basic
view that the index arrays address, in order.
"""
import numpy as np

from ...autograd.registry import not_differentiable, register
from .common import LOW_PRECISION, sum_to_shape


def _scatter_add(shape, dtype, key, values):
    """zeros(shape) with `values` added at `key`; repeated positions accumulate (np.add.at)."""
    acc = np.dtype(np.float32) if dtype in LOW_PRECISION else dtype
    out = np.zeros(shape, acc)
    np.add.at(out, key, values.astype(acc, copy=False))
    return out.astype(dtype, copy=False)


def _advanced_key(ndim, indices, dims):
    key = [slice(None)] * ndim
    for d, index in zip(dims, indices):
        key[d] = index
    return tuple(key)


def _check_writeable(x):
    if not x.flags.writeable:
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation.")


# ---- x[ints, slices, None]: a view ------------------------------------------

def _basic_forward(ctx, x, key):
    ctx.shape, ctx.key = x.shape, key + (Ellipsis,)
    return x[ctx.key]  # the trailing Ellipsis keeps a 0-d result an array view, not a scalar


def _basic_backward(ctx, g):
    out = np.zeros(ctx.shape, g.dtype)
    out[ctx.key] = g
    return out


register("basic_index", "cpu", _basic_forward, _basic_backward, "SliceBackward0")


# ---- x[tensors]: a gather; backward scatter-adds ------------------------------

def _index_forward(ctx, x, *indices_and_dims):
    *indices, dims = indices_and_dims
    ctx.save_for_backward(*indices)
    ctx.shape, ctx.dims = x.shape, dims
    return x[_advanced_key(x.ndim, indices, dims)]


def _index_backward(ctx, g):
    indices = ctx.saved_tensors
    grad = _scatter_add(ctx.shape, g.dtype, _advanced_key(len(ctx.shape), indices, ctx.dims), g)
    return (grad,) + (None,) * len(indices)


register("index", "cpu", _index_forward, _index_backward)


def _take_forward(ctx, x, index):
    ctx.save_for_backward(index)
    ctx.shape = x.shape
    return np.take(x.reshape(-1), index)  # negatives count from the end (bounds checked by the op)


def _take_backward(ctx, g):
    index, = ctx.saved_tensors
    return _scatter_add((int(np.prod(ctx.shape)),), g.dtype, (index,), g).reshape(ctx.shape), None


register("take", "cpu", _take_forward, _take_backward)


# ---- x[key] = value, out of place (autograd) and in place -------------------

def _put(target, value, indices, basic_key, dims, accumulate=False):
    view = target[basic_key + (Ellipsis,)]
    key = _advanced_key(view.ndim, indices, dims) if indices else Ellipsis
    if not accumulate:
        view[key] = value
        return
    # repeated positions add up (np.add.at), in float32 for float16/bfloat16
    acc = view.astype(np.float32) if view.dtype in LOW_PRECISION else view
    np.add.at(acc, key, np.asarray(value).astype(acc.dtype, copy=False))
    if acc is not view:
        view[...] = acc


def _put_params(indices_and_params):
    """(index arrays, basic_key, dims, accumulate) of index_put's arguments; `accumulate` (index_put_'s, a bool)
    is optional: `x[key] = value` passes (basic_key, dims)."""
    if isinstance(indices_and_params[-1], bool):
        *indices, basic_key, dims, accumulate = indices_and_params
    else:
        (*indices, basic_key, dims), accumulate = indices_and_params, False
    return indices, basic_key, dims, accumulate


def _index_put_forward(ctx, x, value, *indices_and_params):
    indices, basic_key, dims, accumulate = _put_params(indices_and_params)
    ctx.save_for_backward(*indices)
    ctx.basic_key, ctx.dims, ctx.accumulate = basic_key, dims, accumulate
    ctx.value_shape = value.shape if isinstance(value, np.ndarray) else None
    out = x.copy()
    _put(out, value, indices, basic_key, dims, accumulate)
    return out


def _index_put_backward(ctx, g):
    indices = ctx.saved_tensors
    grad_x = g.copy()
    view = grad_x[ctx.basic_key + (Ellipsis,)]
    key = _advanced_key(view.ndim, indices, ctx.dims) if indices else Ellipsis
    grad_value = None
    if ctx.value_shape is not None and ctx.needs_input_grad[1]:
        gathered = view[key] if indices else view.copy()  # a basic key reads a view: copy before zeroing
        grad_value = sum_to_shape(gathered, ctx.value_shape)
    if not ctx.accumulate:  # values added in: x's gradient passes through; written over: it stops there
        view[key] = 0
    return (grad_x if ctx.needs_input_grad[0] else None, grad_value) + (None,) * len(indices)


def _index_put_inplace(ctx, x, value, *indices_and_params):
    indices, basic_key, dims, accumulate = _put_params(indices_and_params)
    _check_writeable(x)
    _put(x, value, indices, basic_key, dims, accumulate)
    return x


register("index_put", "cpu", _index_put_forward, _index_put_backward)
register("index_put_", "cpu", _index_put_inplace, not_differentiable)


# ---- index_select, gather, scatter, scatter_add -------------------------------

def _index_select_forward(ctx, x, index, dim):
    ctx.save_for_backward(index)
    ctx.shape, ctx.dim = x.shape, dim
    return np.take(x, index, axis=dim)


def _index_select_backward(ctx, g):
    index, = ctx.saved_tensors
    return _scatter_add(ctx.shape, g.dtype, (slice(None),) * ctx.dim + (index,), g), None


register("index_select", "cpu", _index_select_forward, _index_select_backward)


def _gather_key(index, dim):
    """The numpy key that reads, for every position of `index`, input[..., index[pos], ...] along `dim`."""
    key = list(np.ix_(*[np.arange(s) for s in index.shape]))
    key[dim] = index
    return tuple(key)


def _gather_forward(ctx, x, index, dim):
    ctx.save_for_backward(index)
    ctx.shape, ctx.dim = x.shape, dim
    return x[_gather_key(index, dim)]


def _gather_backward(ctx, g):
    index, = ctx.saved_tensors
    return _scatter_add(ctx.shape, g.dtype, _gather_key(index, ctx.dim), g), None


register("gather", "cpu", _gather_forward, _gather_backward)


def _src_part(src, index):
    """The leading corner of `src` that scatter reads: index.shape elements (src may be larger)."""
    return src[tuple(slice(0, s) for s in index.shape)]


def _scatter_forward(ctx, x, index, src, dim, check=None):  # check: cuda's error (bounds are checked by the op)
    ctx.save_for_backward(index)
    ctx.dim = dim
    ctx.src_shape = src.shape if isinstance(src, np.ndarray) else None
    out = x.copy()
    out[_gather_key(index, dim)] = _src_part(src, index) if ctx.src_shape is not None else src
    return out


def _scatter_src_grad(ctx, g, index):
    if ctx.src_shape is None or not ctx.needs_input_grad[2]:
        return None
    grad = np.zeros(ctx.src_shape, g.dtype)
    grad[tuple(slice(0, s) for s in index.shape)] = g[_gather_key(index, ctx.dim)]
    return grad


def _scatter_backward(ctx, g):
    index, = ctx.saved_tensors
    grad_x = None
    if ctx.needs_input_grad[0]:
        grad_x = g.copy()
        grad_x[_gather_key(index, ctx.dim)] = 0
    return grad_x, None, _scatter_src_grad(ctx, g, index)


def _scatter_add_forward(ctx, x, index, src, dim, check=None):
    ctx.save_for_backward(index)
    ctx.dim, ctx.src_shape = dim, src.shape
    return x + _scatter_add(x.shape, x.dtype, _gather_key(index, dim), _src_part(src, index))


def _scatter_add_backward(ctx, g):
    index, = ctx.saved_tensors
    return g if ctx.needs_input_grad[0] else None, None, _scatter_src_grad(ctx, g, index)


register("scatter", "cpu", _scatter_forward, _scatter_backward)
register("scatter_add", "cpu", _scatter_add_forward, _scatter_add_backward)


# ---- masks ------------------------------------------------------------------------

def _masked_fill_forward(ctx, x, mask, value):
    ctx.save_for_backward(mask)
    ctx.shape = x.shape
    ctx.value_is_array = isinstance(value, np.ndarray)
    return np.where(mask, value, x).astype(x.dtype, copy=False)


def _masked_fill_backward(ctx, g):
    mask, = ctx.saved_tensors
    grad_x = grad_value = None
    if ctx.needs_input_grad[0]:
        grad_x = sum_to_shape(np.where(mask, np.zeros((), g.dtype), g), ctx.shape)
    if ctx.value_is_array and ctx.needs_input_grad[2]:
        acc = np.float32 if g.dtype in LOW_PRECISION else g.dtype
        grad_value = np.asarray(np.where(mask, g, np.zeros((), g.dtype)).sum(dtype=acc), dtype=g.dtype)
    return grad_x, None, grad_value


register("masked_fill", "cpu", _masked_fill_forward, _masked_fill_backward)


def _masked_select_forward(ctx, x, mask):
    shape = np.broadcast_shapes(x.shape, mask.shape)
    mask = np.broadcast_to(mask, shape)
    ctx.save_for_backward(mask)
    ctx.shape = x.shape
    return np.broadcast_to(x, shape)[mask]


def _masked_select_backward(ctx, g):
    mask, = ctx.saved_tensors
    grad = np.zeros(mask.shape, g.dtype)
    grad[mask] = g
    return sum_to_shape(grad, ctx.shape), None


register("masked_select", "cpu", _masked_select_forward, _masked_select_backward)


def _masked_scatter_forward(ctx, x, mask, source):
    """x where not mask, and where mask the source's elements in C order (x and mask broadcast together)."""
    shape = np.broadcast_shapes(x.shape, mask.shape)
    mask = np.broadcast_to(mask, shape)
    count = int(np.count_nonzero(mask))
    if count > source.size:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    out = np.array(np.broadcast_to(x, shape))
    out[mask] = source.reshape(-1)[:count]
    ctx.save_for_backward(mask)
    ctx.shapes = (x.shape, source.shape)
    return out


def _masked_scatter_backward(ctx, g):
    mask, = ctx.saved_tensors
    x_shape, source_shape = ctx.shapes
    grad_x = grad_source = None
    if ctx.needs_input_grad[0]:
        grad_x = sum_to_shape(np.where(mask, np.zeros((), g.dtype), g), x_shape)
    if ctx.needs_input_grad[2]:
        grad_source = np.zeros(int(np.prod(source_shape)), g.dtype)
        selected = g[mask]
        grad_source[:selected.size] = selected
        grad_source = grad_source.reshape(source_shape)
    return grad_x, None, grad_source


register("masked_scatter", "cpu", _masked_scatter_forward, _masked_scatter_backward)
register("nonzero", "cpu", lambda ctx, x: np.argwhere(x), not_differentiable)
