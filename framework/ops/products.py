"""Products beyond matmul: tensordot, kron and cross (linalg.cross), with PyTorch's rules, errors and nodes."""
import builtins
import math
import numbers
import warnings

from .. import dtypes
from ..autograd.function import run
from ..tensor import Tensor, _wrap_dim
from . import elementwise, linalg, reduction, shape


def _tensordot_dims(a, b, dims):
    """(dims of a, dims of b) to contract, from an int n (a's last n with b's first n) or two lists."""
    if isinstance(dims, Tensor):
        dims = dims.item() if dims.ndim == 0 else dims.tolist()
    if isinstance(dims, numbers.Integral):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > a.ndim or dims > b.ndim:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        return list(range(a.ndim - dims, a.ndim)), list(range(dims))
    dims_a, dims_b = dims
    dims_a = [dims_a] if isinstance(dims_a, numbers.Integral) else list(dims_a)
    dims_b = [dims_b] if isinstance(dims_b, numbers.Integral) else list(dims_b)
    if len(dims_a) != len(dims_b):
        raise RuntimeError("both dimension lists should have same length")
    return [_wrap_dim(d, a.ndim) for d in dims_a], [_wrap_dim(d, b.ndim) for d in dims_b]


def tensordot(a, b, dims=2, out=None):
    """Sum of a * b over the paired dims: one matmul of a (free, contracted) by b (contracted, free). A paired dim
    of size 1 on one side broadcasts: the other side's is summed first, as PyTorch does."""
    dims_a, dims_b = _tensordot_dims(a, b, dims)
    if a._dtype is not b._dtype:
        raise RuntimeError("both inputs should have same dtype")
    left, right = a, b
    k = 1
    for da, db in zip(dims_a, dims_b):
        size_a, size_b = a._data.shape[da], b._data.shape[db]
        if size_b == 1:
            left = reduction.sum(left, da, keepdim=True)
        elif size_a == 1:
            right = reduction.sum(right, db, keepdim=True)
        elif size_a != size_b:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {size_a} in dim {da} and "
                               f"second has size {size_b} in dim {db}")
        else:
            k *= size_a
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    sizes_a = [left._data.shape[d] for d in free_a]
    sizes_b = [right._data.shape[d] for d in free_b]
    left, right = shape.permute(left, free_a + dims_a), shape.permute(right, dims_b + free_b)
    size_a, size_b = math.prod(sizes_a), math.prod(sizes_b)
    if size_a == 1 and size_b == 1:  # one number: PyTorch takes the dot product of the flattened operands
        product = linalg.dot(shape.flatten(left), shape.flatten(right))
    else:
        product = linalg.mm(shape.reshape(left, size_a, k), shape.reshape(right, k, size_b))
    return shape.reshape(product, sizes_a + sizes_b)


def kron(input, other):
    """The Kronecker product: block (i, j, ...) is input[i, j, ...] * other; dims padded to the larger rank."""
    ndim = builtins.max(input.ndim, other.ndim)
    a_shape = (1,) * (ndim - input.ndim) + tuple(input._data.shape)
    b_shape = (1,) * (ndim - other.ndim) + tuple(other._data.shape)
    # a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...): the product is the result, interleaved
    a_view = shape.reshape(input, [n for size in a_shape for n in (size, 1)])
    b_view = shape.reshape(other, [n for size in b_shape for n in (1, size)])
    product = elementwise.mul(a_view, b_view)
    return run("unsafe_view", (shape.contiguous(product),), (tuple(p * q for p, q in zip(a_shape, b_shape)),))


def cross(input, other, dim=None):
    """The cross product of 3-vectors along `dim` (by default, with PyTorch's deprecation warning, the first dim
    of size 3); the inputs broadcast."""
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
                      "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree "
                      "with that of linalg.cross in a future release.".replace("torch.", "framework."), UserWarning,
                      stacklevel=2)
        sizes = elementwise.broadcast_shapes(input._data.shape, other._data.shape)
        dim = next((d for d, size in enumerate(sizes) if size == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return linalg_cross(input, other, dim=dim)


def linalg_cross(input, other, *, dim=-1):
    if input._dtype is not other._dtype:
        raise RuntimeError(f"expected scalar type {input._dtype.scalar_name} but found {other._dtype.scalar_name}")
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    axis = _wrap_dim(dim, input.ndim)
    if input._data.shape[axis] != 3 or other._data.shape[axis] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{input._data.shape[axis]} and {other._data.shape[axis]}")
    elementwise.broadcast_shapes(input._data.shape, other._data.shape)
    if input._dtype is dtypes.bool:
        raise NotImplementedError("\"cross\" not implemented for 'Bool'")
    return run("linalg_cross", (input, other), (axis,))


TENSOR_METHODS = ("kron", "cross")
__all__ = ["tensordot", "kron", "cross"]
