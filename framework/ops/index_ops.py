"""Index functions that write: index_add, index_copy, index_fill, scatter_reduce, index_put, masked_scatter; and
take. PyTorch's checks and messages first (CPU indices are bounds-checked here, on the host; cuda's by the
kernels, raised at the next sync), then registered kernels.

The dim-wise ones are scatters of an index broadcast along the other dims: index_add(x, d, i, s) is
scatter_add(x, d, i viewed along d and expanded to s's shape, s), index_copy a scatter, index_fill a scatter of
one value (or, with a tensor value, a masked_fill through the mask of the filled positions, so the value gets
its gradient), each recorded under PyTorch's node name. scatter_reduce, take and masked_scatter have kernels of
their own. Every `name_` form computes out of place from a copy when `self` has history (its kernels may save
it) and stores the result with `inplace.write_`.
"""
import builtins
import numbers

from .. import dtypes, scalars
from ..autograd.composite import record
from ..autograd.function import run
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..tensor import Tensor, _wrap_dim
from . import elementwise, inplace, shape
from .indexing import _check_scatter_gather, _parse, check_in_bounds, _require_tensor, _run_1d, _value_for, store

_REDUCTIONS = {"sum": "sum", "prod": "prod", "mean": "mean", "amax": "amax", "amin": "amin", "max": "amax",
               "min": "amin"}


def _along(index, dim, like_shape):
    """A 1-d (or 0-d) `index` viewed along `dim` and expanded to `like_shape` (stride 0 elsewhere): the scatter
    index of the dim-wise index functions."""
    view = [1] * len(like_shape)
    view[dim] = -1
    return shape.expand(index.reshape(view), tuple(like_shape))


def _one_d(t):
    return t.reshape(1) if t.ndim == 0 else t


# ---- index_add, index_copy, index_fill --------------------------------------------------------------------

def index_add(input, dim, index, source, *, alpha=1):
    _require_tensor("index_add", "index", 3, index)
    _require_tensor("index_add", "source", 4, source)
    dim = _wrap_dim(dim, input.ndim)
    if index.ndim > 1:
        raise IndexError(f"index_add_(): Index is supposed to be a vector, but got dim: {index.ndim} with type: "
                         f"{index._dtype.scalar_name} and size: {list(index.shape)}")
    if index._dtype not in (dtypes.int64, dtypes.int32):
        raise RuntimeError(f"index_add_(): Expected dtype int32/int64 for index but got: {index._dtype.scalar_name}")
    if source._dtype is not input._dtype:
        raise RuntimeError(f"index_add_(): self ({input._dtype.scalar_name}) and source ({source._dtype.scalar_name}) "
                           "must have the same scalar type")
    if not (dim == 0 or dim < source.ndim):
        raise IndexError(f"index_add_(): Indexing dim {dim} is out of bounds of the source tensor with dim "
                         f"{source.ndim}")
    source_size = source.shape[dim] if source.ndim else 1
    if index.numel() != source_size:
        raise RuntimeError(f"index_add_(): Number of indices ({index.numel()}) should be equal to source.size(dim): "
                           f"({source_size}), for dim: {dim}")
    _check_slices(input, source, dim, "source tensor shape must match self tensor shape, excluding the specified "
                  f"dimension. Got self.shape = {list(input.shape)} source.shape = {list(source.shape)}")
    size = input.shape[dim] if input.ndim else 1
    check_in_bounds(index, size, lambda bad: RuntimeError(
        f"index {bad} is out of bounds for dimension {dim} with size {size}"), allow_negative=False)
    scaled = source if alpha == 1 else elementwise.mul(source, scalars.checked(alpha, input._dtype))
    x, src = _one_d(input), _one_d(scaled)
    out = run("scatter_add", (x, _along(_one_d(index), dim, src.shape), src), (dim,), "IndexAddBackward0")
    return _one_node(out, input, "IndexAddBackward0", (input, source), scaled is not source)


def _one_node(out, input, name, shown, composed=False):
    """`out` with input's shape back (0-d inputs ran as 1-d), recorded as PyTorch's one node `name` showing
    `shown` where more than one node computed it (the reshape, index_add's alpha)."""
    if input.ndim == 0:
        out = out.reshape(())
    return record(name, shown, out) if composed or input.ndim == 0 else out


def _check_slices(input, source, dim, message):
    """The shapes of input and source without `dim` (0-d tensors: no dims) must match: else RuntimeError."""
    input_rest = [s for d, s in enumerate(input.shape) if d != dim or not source.ndim]
    source_rest = [s for d, s in enumerate(source.shape) if d != dim or not input.ndim]
    if input.ndim and source.ndim and input_rest != source_rest:
        raise RuntimeError(message)


def index_copy(input, dim, index, source):
    _require_tensor("index_copy", "index", 3, index)
    _require_tensor("index_copy", "source", 4, source)
    dim = _wrap_dim(dim, input.ndim)
    if index.ndim >= 2:
        raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {index.ndim})")
    count = index.numel()
    if source.ndim == 0 and count != 1:
        raise IndexError(f"index_copy_(): When source is scalar, index should have one element (got {count})")
    if source.ndim != input.ndim and source.ndim and input.ndim:
        raise IndexError("index_copy_(): When source and destination are not scalars, their dimensionality must "
                         f"match. Source dimensionality ({source.ndim}), destination dimensionality ({input.ndim})")
    if index._dtype is not dtypes.int64:
        raise RuntimeError(f"index_copy_(): Expected a long tensor for index, but got {index._dtype.scalar_name}")
    if source._dtype is not input._dtype:
        raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, but got (self) "
                           f"{input._dtype.scalar_name} and (source) {source._dtype.scalar_name}")
    input_rest = [s for d, s in enumerate(input.shape) if d != dim]
    source_rest = [s for d, s in enumerate(source.shape) if d != dim]
    if input_rest != source_rest:
        raise RuntimeError(f"index_copy_(): Source/destination tensor must have same slice shapes. Destination slice "
                           f"shape: {' '.join(map(str, input_rest))} at dimension {dim} and source slice shape: "
                           f"{' '.join(map(str, source_rest))} at dimension 0.")
    if source.ndim and count != source.shape[dim]:
        raise IndexError(f"index_copy_(): Number of indices ({count}) should be equal to source.size(dim) "
                         f"({source.shape[dim]})")
    size = input.shape[dim] if input.ndim else 1
    check_in_bounds(index, size, lambda bad: IndexError(
        f"index_copy_(): index {bad} is out of bounds for dimension {dim} with size {size}"), allow_negative=False)
    x, src = _one_d(input), _one_d(source)
    out = run("scatter", (x, _along(_one_d(index), dim, src.shape), src), (dim, "index_copy"), "IndexCopyBackward0")
    return _one_node(out, input, "IndexCopyBackward0", (input, source))


def index_fill(input, dim, index, value):
    _require_tensor("index_fill", "index", 3, index)
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got tensor with {value.ndim} "
                           "dimension(s).")
    if index._dtype is not dtypes.int64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    dim = _wrap_dim(dim, input.ndim)
    if index.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    if not isinstance(value, (Tensor, numbers.Number)):
        raise TypeError(f"index_fill(): argument 'value' must be Number, not {type(value).__name__}")
    size = input.shape[dim] if input.ndim else 1
    check_in_bounds(index, size, lambda bad: IndexError(  # negative indices count from the end
        f"index {bad} is out of bounds for dimension {dim} with size {size}"))
    x = _one_d(input)
    spread = _along(_one_d(index), dim, x.shape[:dim] + (index.numel(),) + x.shape[dim + 1:])
    if isinstance(value, Tensor):
        if value._device.type == "cpu":
            scalars.checked(value, input._dtype)  # PyTorch reads the value as a Scalar (a host read here)
        from ..creation import zeros
        filled = run("scatter", (zeros(x.shape, dtype=dtypes.bool, device=x._device), spread, True),
                     (dim, "index_fill"))
        operand = elementwise._as_operand(value, input._dtype, input._device)
        out = run("masked_fill", (x, filled, operand), (), "IndexFillBackward1")
        return _one_node(out, input, "IndexFillBackward1", (input, value), operand is not value)
    out = run("scatter", (x, spread, scalars.checked(value, input._dtype)), (dim, "index_fill"), "IndexFillBackward0")
    return _one_node(out, input, "IndexFillBackward0", (input,))


# ---- scatter_reduce -----------------------------------------------------------------------------------------

def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    _require_tensor("scatter_reduce", "src", 4, src)
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    dim = _check_scatter_gather("scatter", input, dim, index, src)
    if reduce == "mean" and input._dtype is dtypes.bool:
        raise NotImplementedError("\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'")
    return _run_1d("scatter_reduce", input, (index, src), (dim, _REDUCTIONS[reduce], builtins.bool(include_self)))


# ---- take, masked_scatter ----------------------------------------------------------------------------------

def take(input, index):
    _require_tensor("take", "index", 2, index)
    if index._dtype is not dtypes.int64:
        raise RuntimeError(f"take(): Expected a long tensor for index, but got {index._dtype.scalar_name}")
    if input.numel() == 0 and index.numel() != 0:
        raise IndexError("take(): tried to take from an empty tensor")
    numel = input.numel()
    check_in_bounds(index, numel, lambda bad: IndexError(
        f"out of range: tried to access index {bad} on a tensor of {numel} elements."))
    return run("take", (input, index))


def masked_scatter(input, mask, source):
    _require_tensor("masked_scatter", "mask", 2, mask)
    _require_tensor("masked_scatter", "source", 3, source)
    if mask._dtype is not dtypes.bool:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with dtype "
                           f"{mask._dtype.scalar_name}")
    if source._dtype is not input._dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got"
                           f"{input._dtype.scalar_name} and {source._dtype.scalar_name}")
    elementwise.broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    return run("masked_scatter", (input, mask, source))


def masked_scatter_(input, mask, source):
    if mask.shape != input.shape and mask.ndim > input.ndim:  # the mask must broadcast to self (expand_inplace)
        raise RuntimeError(f"expand({mask._device.type.upper()}{mask._dtype.scalar_name}Type{{{list(mask.shape)}}}, "
                           f"size={list(input.shape)}): the number of sizes provided ({input.ndim}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({mask.ndim})")
    if mask.shape != input.shape:
        with no_grad():
            shape.expand(mask, input.shape)  # sizes that clash: expand's error
    return _in_place(masked_scatter)(input, mask, source)


# ---- index_put ------------------------------------------------------------------------------------------------

def _put_arguments(input, indices, values):
    """(basic key, node name, advanced indices, value) for index_put(input, indices, values): PyTorch's checks."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put_(): argument 'indices' (position 1) must be tuple of Tensors, not "
                        f"{type(indices).__name__}")
    for position, index in enumerate(indices):
        if not isinstance(index, Tensor):
            raise TypeError(f"expected Tensor as element {position} in argument 0, but got {type(index).__name__}")
    if not isinstance(values, Tensor):
        raise TypeError(f"index_put_(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}")
    if len(indices) > input.ndim:
        raise IndexError(f"too many indices for tensor of dimension {input.ndim} (got {len(indices)})")
    if values._dtype is not input._dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{input._dtype.scalar_name} for the destination and {values._dtype.scalar_name} for the "
                           "source.")
    basic, name, advanced, view_shape = _parse(input, tuple(indices))
    return basic, name, advanced, _value_for(input, values, view_shape, advanced)


def index_put_(input, indices, values, accumulate=False):
    basic, name, advanced, values = _put_arguments(input, indices, values)
    return store(input, basic, name, advanced, values, builtins.bool(accumulate))


def index_put(input, indices, values, accumulate=False):
    basic, _, advanced, values = _put_arguments(input, indices, values)
    params = (basic, tuple(d for d, _ in advanced)) + ((True,) if accumulate else ())
    return run("index_put", (input, values) + tuple(index for _, index in advanced), params, "IndexPutBackward0")


# ---- in-place forms -----------------------------------------------------------------------------------------

def _in_place(fn):
    """fn's in-place form: PyTorch's node (inplace._inplace). scatter_reduce may save self's value for the
    gradient of src: when src needs one and self has no history, it reads a copy of self, which the write
    would otherwise overwrite under the saved value."""
    method = inplace._inplace(fn)

    def in_place(input, *args, **kwargs):
        if input.grad_fn is None and is_grad_enabled() and any(
                isinstance(a, Tensor) and a._requires_grad for a in args + tuple(kwargs.values())):
            return inplace.write_(input, fn(input.detach().clone(), *args, **kwargs))
        return method(input, *args, **kwargs)
    in_place.__name__ = method.__name__
    return in_place


index_add_, index_copy_, index_fill_, scatter_reduce_ = (
    _in_place(f) for f in (index_add, index_copy, index_fill, scatter_reduce))

TENSOR_METHODS = ("index_add", "index_add_", "index_copy", "index_copy_", "index_fill", "index_fill_",
                  "scatter_reduce", "scatter_reduce_", "take", "masked_scatter", "masked_scatter_", "index_put",
                  "index_put_")

__all__ = ["index_add", "index_copy", "index_fill", "scatter_reduce", "take", "masked_scatter", "index_put",
           "index_put_"]
