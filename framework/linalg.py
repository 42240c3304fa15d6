"""`framework.linalg`: the norms, products and views of PyTorch's `torch.linalg` that training code uses.

vector_norm runs the one registered norm op (LinalgVectorNormBackward0, as framework.norm); matrix_norm is the
Frobenius norm by it, and the 1 / inf norms as PyTorch composes them (sums of absolute values, then amax/amin,
whose nodes PyTorch shows). The spectral and nuclear norms need singular values, which framework does not
compute yet: they raise NotImplementedError, as do the other decompositions (not defined here).
"""
import builtins
import math
import numbers

from .ops import elementwise, reduction
from .ops.linalg import matmul, vdot
from .ops.matrix import diagonal as _diagonal
from .ops.products import linalg_cross as cross
from .tensor import Tensor, _wrap_dim

__all__ = ["cross", "diagonal", "matmul", "matrix_norm", "norm", "vecdot", "vector_norm"]


def _floating(name, A, dtype):
    if not (A._dtype.is_floating_point or dtype is not None and dtype.is_floating_point):
        raise RuntimeError(f"linalg.{name}: Expected a floating point or complex tensor as input. "
                           f"Got {A._dtype.scalar_name}")


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """The ord-norm of x over `dim` (every dim when None) as one vector: ord a number, inf or -inf."""
    if isinstance(ord, str) or not isinstance(ord, numbers.Number):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' (position 2) must be Number, not {type(ord).__name__}")
    _floating("vector_norm", x, dtype)
    return reduction.norm(x, p=ord, dim=dim, keepdim=keepdim, out=out, dtype=dtype)


def _matrix_dims(A, dim):
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    if isinstance(dim, (tuple, list)) and len(dim) == 2:
        dims = tuple(_wrap_dim(d, A.ndim) for d in dim)
        if dims[0] == dims[1]:
            raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
        return dims
    got = " ".join(str(d) for d in dim) if isinstance(dim, (tuple, list)) else dim  # PyTorch lists the dims
    raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {got}")


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    """The matrix norm of A over the two dims `dim` (the last two by default): 'fro', 1, -1, inf or -inf."""
    rows, columns = _matrix_dims(A, dim)
    _floating("matrix_norm", A, dtype)
    if ord == "fro":
        return vector_norm(A, 2, (rows, columns), keepdim, dtype=dtype, out=out)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs singular values, which framework does not "
                                  "compute yet; ord='fro', 1, -1, inf and -inf are supported")
    if ord not in (1, -1, math.inf, -math.inf):
        shown = f"{ord:g}" if isinstance(ord, builtins.float) else ord
        raise RuntimeError(f"linalg.matrix_norm: Order {shown} not supported.")
    if dtype is not None:
        A = A.to(dtype)
    # 1-norms: the largest (smallest) column sum; inf-norms: the largest (smallest) row sum, as PyTorch composes them
    summed, extreme = (rows, columns) if abs(ord) == 1 else (columns, rows)
    if not keepdim and summed < extreme:
        extreme -= 1  # the summed dim is gone
    pick = reduction.amax if ord > 0 else reduction.amin
    result = pick(reduction.sum(elementwise.abs(A), summed, keepdim=keepdim), extreme, keepdim=keepdim)
    if out is not None:
        from .ops.inplace import store_out
        return store_out(out, result)
    return result


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    """A vector norm when `dim` is an int (or A is 1-D), a matrix norm when `dim` is a 2-tuple (or A is 2-D); with
    neither ord nor dim, the 2-norm of A flattened."""
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")
    elif ord is not None:
        if A.ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                               f"Got {A.ndim}D.")
        dims = tuple(range(A.ndim))
    else:
        return vector_norm(A, 2, None, keepdim, dtype=dtype, out=out)
    if len(dims) == 2 or isinstance(ord, str):  # a string ord is a matrix norm's: matrix_norm names a bad dim
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype, out=out)
    return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype, out=out)


def vecdot(x, y, *, dim=-1):
    """The dot product of x and y along `dim`, broadcasting the others (real tensors: sum(x * y, dim))."""
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError("linalg_vecdot(): arguments 'x' and 'y' must be Tensor")
    if x._dtype is not y._dtype:
        raise RuntimeError(f"linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
                           f"{x._dtype.scalar_name} and y of type {y._dtype.scalar_name} instead")
    if x.ndim == 1 and y.ndim == 1:  # PyTorch's path for two vectors: vdot (VdotBackward0)
        return vdot(x, y)
    return reduction.sum(elementwise.mul(x, y), dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """The diagonal of each matrix of A (a view): framework.diagonal with linalg's defaults."""
    return _diagonal(A, offset, dim1, dim2)
