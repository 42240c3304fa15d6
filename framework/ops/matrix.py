"""Matrix structure: tril, triu, tril_indices, triu_indices, diagonal (a view), diag, diag_embed, trace,
block_diag, with PyTorch's errors and node names."""
import builtins

import numpy as np

from .. import dtypes
from ..autograd.function import run
from ..tensor import Tensor, _wrap_dim
from .shape import _as_view, reshape


def _triangle(op, input, diagonal):
    if input.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions")
    return run(op, (input,), (builtins.int(diagonal),))


def tril(input, diagonal=0):
    """The lower triangle of the last two dims: elements with column - row <= diagonal, the rest 0."""
    return _triangle("tril", input, diagonal)


def triu(input, diagonal=0):
    """The upper triangle of the last two dims: elements with column - row >= diagonal, the rest 0."""
    return _triangle("triu", input, diagonal)


def _triangle_indices(name, row, col, offset, dtype, device, upper):
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    if dtype not in (dtypes.int64, dtypes.int32):
        raise NotImplementedError(f"\"{name}\" not implemented for '{dtype.scalar_name}'")
    rows, cols = np.triu_indices(row, offset, col) if upper else np.tril_indices(row, offset, col)
    from ..creation import tensor
    return tensor(np.stack([rows, cols]).astype(dtype.np).reshape(2, -1), device=device)


def tril_indices(row, col, offset=0, *, dtype=dtypes.int64, device=None, layout=None):
    """The (row, column) coordinates of the lower triangle of a row x col matrix, row by row: shape (2, N)."""
    return _triangle_indices("tril_indices", row, col, offset, dtype, device, upper=False)


def triu_indices(row, col, offset=0, *, dtype=dtypes.int64, device=None, layout=None):
    return _triangle_indices("triu_indices", row, col, offset, dtype, device, upper=True)


def _diagonal_dims(input, dim1, dim2):
    d1, d2 = _wrap_dim(dim1, input.ndim), _wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


def diagonal(input, offset=0, dim1=0, dim2=1):
    """A view of the diagonal `offset` of the (dim1, dim2) planes, as a new last dim."""
    d1, d2 = _diagonal_dims(input, dim1, dim2)
    return _as_view(run("diagonal", (input,), (builtins.int(offset), d1, d2)), input)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Matrices whose diagonal `offset` in dims (dim1, dim2) holds input's last dim, zeros elsewhere."""
    d1, d2 = (_wrap_dim(d, input.ndim + 1) for d in (dim1, dim2))
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return run("diag_embed", (input,), (builtins.int(offset), d1, d2))


def diag(input, diagonal=0):
    """A 1-D input laid on a matrix's diagonal `diagonal`, or a copy of a 2-D input's diagonal."""
    if input.ndim == 1:
        return run("diag_embed", (input,), (builtins.int(diagonal), 0, 1))
    if input.ndim != 2:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")
    return run("diagonal_copy", (input,), (builtins.int(diagonal), 0, 1))


def trace(input):
    """The sum of a matrix's main diagonal; integers sum to int64."""
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    if input._dtype is dtypes.bool:
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return run("trace", (input,))


def block_diag(*tensors):
    """The inputs (0-d as 1x1, 1-d as one row) along the diagonal of one matrix of their promoted dtype."""
    blocks = []
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                               f"{t.ndim} dimensions".replace("torch.", "framework."))
        blocks.append(t if t.ndim == 2 else reshape(t, 1, -1))
    if not blocks:
        from ..creation import empty
        return empty(1, 0)
    dtype = blocks[0]._dtype
    for t in blocks[1:]:
        dtype = dtypes.promote_types(dtype, t._dtype)
    for t in blocks[1:]:
        if t._device is not blocks[0]._device:
            raise RuntimeError(f"torch.block_diag: input tensors must all be on the same device. Input 0 is on "
                               f"device {blocks[0].device} and input {blocks.index(t)} is on device "
                               f"{t.device}.".replace("torch.", "framework."))
    return run("block_diag", tuple(t if t._dtype is dtype else t.to(dtype) for t in blocks))


TENSOR_METHODS = ("tril", "triu", "diagonal", "diag", "diag_embed", "trace")
__all__ = list(TENSOR_METHODS) + ["tril_indices", "triu_indices", "block_diag"]
