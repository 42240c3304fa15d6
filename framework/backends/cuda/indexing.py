"""cuda kernels for indexing: basic indices are CudaArray views; the rest is triton_kernels.indexing.

The kernels check every index they read (triton_kernels/indexing.py): one outside its dim touches nothing and
is recorded on the device, and its error, the CPU's for the op (backends/numpy/indexing.py raises those at once),
is raised at the next synchronising call (device_errors.py). The host never reads indices back.

x[tensors], index_select and embedding are one gather (`_gather_rows`), and their backwards one scatter-add
(`_scatter_add_rows`). The output is laid out as a list of dims, each either an index dim ('i', j) or a kept
dim of the table ('x', d) (numpy's rule: the index dims go where the indexed dims were when those are adjacent,
else first). The kernel then walks the output's positions with the table viewed as (output shape + one
trailing dim that the index addresses): the table's kept dims keep their strides, the index dims get stride
0, and the trailing dim has the indexed dim's stride. Several index tensors first become one tensor of
element offsets (linear_offsets, negative indices wrapped), addressed with stride 1.
"""
import ml_dtypes
import numpy as np

from triton_kernels import indexing as K

from ...autograd.registry import not_differentiable, register
from ..settings import alert_not_deterministic
from . import device_errors
from .array import CudaArray
from .common import copy_into, empty, full, sum_to_shape, zeros
from .shape import _has_self_overlap

_INT64 = np.dtype(np.int64)
# tl.atomic_add has no float16/bfloat16/small-int adds everywhere: those accumulate in a wider copy, cast back
# once (as the CPU kernels accumulate float16/bfloat16 in float32).
_WIDE = {np.dtype(np.float16): np.dtype(np.float32), np.dtype(ml_dtypes.bfloat16): np.dtype(np.float32),
         **{np.dtype(name): _INT64 for name in ("int8", "uint8", "int16", "bool")}}


# How an op's indices are checked on the device: (the error code of an index outside its dim, whether a negative
# index counts from the end). x[index] and x[index] = value wrap negatives, as PyTorch; embedding and
# index_select do not.
_ADVANCED = (device_errors.INDEX_OUT_OF_BOUNDS, True)
_LOOKUP = (device_errors.INDEX_OUT_OF_RANGE, False)
_TAKE = (device_errors.TAKE_OUT_OF_RANGE, True)
# gather/scatter along one dim, by the op whose index they read (the scatter ops' optional `check` param):
# gather, scatter, scatter_add, index_add and scatter_reduce raise gather's error; index_copy and index_fill theirs
_ALONG = {None: (device_errors.GATHER_INDEX_OUT_OF_BOUNDS, False),
          "index_copy": (device_errors.INDEX_COPY_OUT_OF_BOUNDS, False),
          "index_fill": (device_errors.INDEX_OUT_OF_BOUNDS, True)}


def _checked_along(dim, check=None):
    """The launch arguments that make gather/scatter along `dim` check their index as PyTorch's op `check` does."""
    code, wrap = _ALONG[check]
    return dict(errors=device_errors.record(), error_code=code, error_dim=dim, wrap_negative=wrap)


def _alert_atomic_float_adds(caller, dtype):
    """Float atomic adds sum in the order the GPU's programs arrive: PyTorch's error (or warning) in deterministic
    mode. Integer adds are exact in any order."""
    if np.dtype(dtype).kind == "f":
        alert_not_deterministic(caller)


def _scatter_added(shape, dtype, scatter_into, caller):
    """zeros(shape, dtype) after `scatter_into(acc)` scatter-adds into it, in a wider dtype where atomics need one.
    `caller` names the op for the deterministic-mode error."""
    _alert_atomic_float_adds(caller, dtype)
    wide = _WIDE.get(np.dtype(dtype))
    acc = zeros(shape, wide or dtype)
    scatter_into(acc)
    return acc.astype(dtype) if wide is not None else acc


def _one(value, dtype):
    """A one-element device array holding `value` (a Python number or a one-element CudaArray) in `dtype`."""
    if isinstance(value, CudaArray):
        value = value.reshape((1,))
        return value if value.dtype == dtype else value.astype(dtype)
    return full((1,), value, dtype)


def _source(value, shape, dtype):
    """`value` as a source of `shape` for the scatter kernel: a CudaArray as it is (cast if needed); a Python
    number as one element viewed with stride 0."""
    if isinstance(value, CudaArray):
        return value if value.dtype == dtype else value.astype(dtype)
    return _one(value, dtype).as_strided(shape, (0,) * len(shape))


# ---- x[ints, slices, None]: a view ------------------------------------------

def _basic_forward(ctx, x, key):
    ctx.shape, ctx.key = x.shape, key + (Ellipsis,)
    return x[ctx.key]


def _basic_backward(ctx, g):
    out = zeros(ctx.shape, g.dtype)
    copy_into(out[ctx.key], g)
    return out


register("basic_index", "cuda", _basic_forward, _basic_backward, "SliceBackward0")


# ---- gathers along index tensors, and their scatter-adds --------------------------

def _linear(table, indices, dims, check):
    """(index, stride, size, check): what addresses the table's indexed dims, and how the gather checks it. One
    index tensor addresses its dim directly (checked, and negative indices wrapped, by the gather as `check`
    says); several are checked as they become one int64 tensor of element offsets, which need no check then."""
    if len(indices) == 1:
        return indices[0], table.stride()[dims[0]], table.shape[dims[0]], check
    shape = np.broadcast_shapes(*(index.shape for index in indices))
    offsets = zeros(shape, _INT64)
    code, _ = check
    for index, dim in zip(indices, dims):
        K.linear_offsets(offsets, index.broadcast_to(shape), table.shape[dim], table.stride()[dim],
                         errors=device_errors.record(), error_code=code, error_dim=dim)
    span = K.offsets_span([table.shape[d] for d in dims], [table.stride()[d] for d in dims])
    return offsets, 1, span, (0, False)


def _layout(ndim, index_ndim, dims):
    """The output's dims: index dims in place of the indexed dims when these are adjacent, else first."""
    kept = [("x", d) for d in range(ndim) if d not in dims]
    indexed = [("i", j) for j in range(index_ndim)]
    if tuple(dims) == tuple(range(dims[0], dims[0] + len(dims))):
        before = sum(1 for _, d in kept if d < dims[0])
        return kept[:before] + indexed + kept[before:]
    return indexed + kept


def _launch_rows(table, indices, dims, dense, scatter, check, accumulate=False):
    """dense = table[indices] (or table[indices] = / += dense when `scatter`), dense laid out by `_layout`; the
    indices checked as `check` (_ADVANCED or _LOOKUP) says."""
    index, stride, size, (code, wrap) = _linear(table, indices, dims, check)
    layout = _layout(table.ndim, index.ndim, dims)
    shape = tuple(dense.shape)
    table_view = table.as_strided(shape + (size,),
                                  tuple(table.stride()[d] if kind == "x" else 0 for kind, d in layout) + (stride,))
    index_view = index.as_strided(shape + (1,), tuple(index.stride()[j] if kind == "i" else 0
                                                      for kind, j in layout) + (0,))
    dense_view = dense.as_strided(shape + (1,), tuple(dense.stride()) + (0,))
    reporting = dict(wrap_negative=wrap, errors=device_errors.record(), error_code=code, error_dim=dims[0])
    if scatter:
        K.scatter(table_view, index_view, dense_view, len(shape), accumulate=accumulate, **reporting)
    else:
        K.gather(table_view, index_view, dense_view, len(shape), **reporting)


def _rows_shape(shape, indices, dims):
    index_shape = np.broadcast_shapes(*(index.shape for index in indices))
    return tuple(index_shape[j] if kind == "i" else shape[j]
                 for kind, j in _layout(len(shape), len(index_shape), dims))


def _gather_rows(x, indices, dims, check):
    out = empty(_rows_shape(x.shape, indices, dims), x.dtype)
    _launch_rows(x, indices, dims, out, False, check)
    return out


def _scatter_add_rows(shape, indices, dims, g, check, caller):
    return _scatter_added(shape, g.dtype, lambda acc: _launch_rows(acc, indices, dims, g, True, check,
                                                                   accumulate=True), caller)


def _index_forward(ctx, x, *indices_and_dims):
    *indices, dims = indices_and_dims
    ctx.save_for_backward(*indices)
    ctx.shape, ctx.dims = x.shape, dims
    return _gather_rows(x, indices, dims, _ADVANCED)


def _index_backward(ctx, g):
    indices = ctx.saved_tensors
    grad = _scatter_add_rows(ctx.shape, indices, ctx.dims, g, _ADVANCED, "index_backward_cuda")
    return (grad,) + (None,) * len(indices)


register("index", "cuda", _index_forward, _index_backward)


def _take_forward(ctx, x, index):
    """x viewed as 1-d (a copy when its layout cannot be), gathered at `index` (negatives count from the end)."""
    ctx.save_for_backward(index)
    ctx.shape = x.shape
    return _gather_rows(x.reshape((x.size,)), (index,), (0,), _TAKE)


def _take_backward(ctx, g):
    index, = ctx.saved_tensors
    size = int(np.prod(ctx.shape))
    return _scatter_add_rows((size,), (index,), (0,), g, _TAKE, "put_").reshape(ctx.shape), None


register("take", "cuda", _take_forward, _take_backward)


def _index_select_forward(ctx, x, index, dim):
    ctx.save_for_backward(index)
    ctx.shape, ctx.dim = x.shape, dim
    return _gather_rows(x, (index,), (dim,), _LOOKUP)


def _index_select_backward(ctx, g):
    index, = ctx.saved_tensors
    return _scatter_add_rows(ctx.shape, (index,), (ctx.dim,), g, _LOOKUP, "index_select_backward_cuda"), None


register("index_select", "cuda", _index_select_forward, _index_select_backward)


def _embedding_forward(ctx, weight, indices, padding_idx):
    if ctx.needs_input_grad:
        ctx.save_for_backward(indices)
        ctx.meta = (weight.shape, padding_idx)
    return _gather_rows(weight, (indices,), (0,), _LOOKUP)


def _embedding_backward(ctx, g):
    """Scatter-add each looked-up row's gradient; the padding row gets none."""
    (indices,) = ctx.saved_tensors
    shape, padding_idx = ctx.meta

    def scatter_into(acc):
        _launch_rows(acc, (indices,), (0,), g, True, _LOOKUP, accumulate=True)
        if padding_idx is not None and 0 <= padding_idx < shape[0]:
            copy_into(acc[padding_idx], 0)

    return _scatter_added(shape, g.dtype, scatter_into, "embedding_backward_cuda"), None


register("embedding", "cuda", _embedding_forward, _embedding_backward)


# ---- x[key] = value, out of place (autograd) and in place -------------------

def _put(target, value, indices, basic_key, dims, accumulate=False):
    view = target[basic_key + (Ellipsis,)]
    if not indices:
        copy_into(view, value)
        return
    shape = _rows_shape(view.shape, indices, dims)
    src = _source(value, shape, view.dtype)
    if isinstance(value, CudaArray):
        src = src.broadcast_to(shape)
    if not accumulate:
        _launch_rows(view, indices, dims, src, True, _ADVANCED)
        return
    wide = _WIDE.get(view.dtype)  # atomics add in a wider copy for float16/bfloat16 and small integers
    acc = view.astype(wide) if wide is not None else view
    _launch_rows(acc, indices, dims, src, True, _ADVANCED, accumulate=True)
    if wide is not None:
        copy_into(view, acc)


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
    ctx.value_shape = value.shape if isinstance(value, CudaArray) else None
    out = x.copy()
    _put(out, value, indices, basic_key, dims, accumulate)
    return out


def _index_put_backward(ctx, g):
    """x's gradient: g, with the written positions zeroed unless the values were added there; the values': g read
    back at their positions, summed over what broadcasting repeated."""
    indices = ctx.saved_tensors
    grad_x = g.copy()
    grad_value = None
    if ctx.value_shape is not None and ctx.needs_input_grad[1]:
        view = grad_x[ctx.basic_key + (Ellipsis,)]
        gathered = _gather_rows(view, indices, ctx.dims, _ADVANCED) if indices else view.copy()
        grad_value = sum_to_shape(gathered, ctx.value_shape)
    if not ctx.accumulate:
        _put(grad_x, 0, indices, ctx.basic_key, ctx.dims)
    return (grad_x if ctx.needs_input_grad[0] else None, grad_value) + (None,) * len(indices)


def _index_put_inplace(ctx, x, value, *indices_and_params):
    indices, basic_key, dims, accumulate = _put_params(indices_and_params)
    if _has_self_overlap(x):
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation.")
    if isinstance(value, CudaArray) and value.storage is x.storage:
        value = value.copy()  # reading and writing overlapping memory in one launch is unordered
    _put(x, value, indices, basic_key, dims, accumulate)
    return x


register("index_put", "cuda", _index_put_forward, _index_put_backward)
register("index_put_", "cuda", _index_put_inplace, not_differentiable)


# ---- gather, scatter, scatter_add (PyTorch's semantics along one dim) -------------

def _gather_forward(ctx, x, index, dim):
    ctx.save_for_backward(index)
    ctx.shape, ctx.dim = x.shape, dim
    out = empty(index.shape, x.dtype)
    K.gather(x, index, out, dim, **_checked_along(dim))
    return out


def _gather_backward(ctx, g):
    index, = ctx.saved_tensors
    return _scatter_added(ctx.shape, g.dtype, lambda acc: K.scatter(acc, index, g, ctx.dim, accumulate=True,
                                                                    **_checked_along(ctx.dim)),
                          "gather_backward_cuda"), None


register("gather", "cuda", _gather_forward, _gather_backward)


def _scatter_forward(ctx, x, index, src, dim, check=None):
    ctx.save_for_backward(index)
    ctx.dim, ctx.check = dim, check
    ctx.src_shape = src.shape if isinstance(src, CudaArray) else None
    out = x.copy()
    K.scatter(out, index, _source(src, index.shape, x.dtype), dim, **_checked_along(dim, check))
    return out


def _scatter_src_grad(ctx, g, index):
    if ctx.src_shape is None or not ctx.needs_input_grad[2]:
        return None
    grad = zeros(ctx.src_shape, g.dtype)
    K.gather(g, index, grad[tuple(slice(0, s) for s in index.shape)], ctx.dim, **_checked_along(ctx.dim, ctx.check))
    return grad


def _scatter_backward(ctx, g):
    index, = ctx.saved_tensors
    grad_x = None
    if ctx.needs_input_grad[0]:
        grad_x = g.copy()
        K.scatter(grad_x, index, _source(0, index.shape, g.dtype), ctx.dim, **_checked_along(ctx.dim, ctx.check))
    return grad_x, None, _scatter_src_grad(ctx, g, index)


def _scatter_add_forward(ctx, x, index, src, dim, check=None):
    _alert_atomic_float_adds("scatter_add_cuda_kernel", x.dtype)  # index_add runs here too (PyTorch: index_add_cuda_)
    ctx.save_for_backward(index)
    ctx.dim, ctx.check, ctx.src_shape = dim, check, src.shape
    wide = _WIDE.get(x.dtype)
    out = x.astype(wide) if wide is not None else x.copy()
    K.scatter(out, index, src, dim, accumulate=True, **_checked_along(dim, check))
    return out.astype(x.dtype) if wide is not None else out


def _scatter_add_backward(ctx, g):
    index, = ctx.saved_tensors
    return g if ctx.needs_input_grad[0] else None, None, _scatter_src_grad(ctx, g, index)


register("scatter", "cuda", _scatter_forward, _scatter_backward)
register("scatter_add", "cuda", _scatter_add_forward, _scatter_add_backward)
