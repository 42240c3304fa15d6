"""unique and unique_consecutive: PyTorch's signatures, result tuples and errors, then the registered kernels.

Every kernel returns (values, inverse, counts); these functions return what the flags ask for, in PyTorch's order.
The number of distinct values depends on the data: on `cuda` it is read back to the host once, as PyTorch does.
Values compare with == (NaN is never equal to NaN: each NaN is distinct; -0.0 equals 0.0). `sorted=False` also
returns sorted values (PyTorch's CPU does too). The outputs require grad when the input does, and backward
through them raises PyTorch's "derivative ... is not implemented".
"""
from ..autograd.function import run
from ..tensor import _wrap_dim


def _chosen(values, inverse, counts, return_inverse, return_counts):
    if not return_inverse and not return_counts:
        return values
    return (values,) + ((inverse,) if return_inverse else ()) + ((counts,) if return_counts else ())


def _dim_axis(input, dim):
    """The wrapped `dim` for the slice-wise forms, with PyTorch's errors."""
    if input.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    axis = _wrap_dim(dim, input.ndim)
    if input.numel() == 0 and input.shape[axis] != 0:
        raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
    return axis


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values (sorted), and optionally the inverse (input -> position in the result) and counts.
    With `dim`, the distinct slices along it (sorted lexicographically)."""
    if dim is None:
        values, inverse, counts = run("unique", (input,))
    else:
        values, inverse, counts = run("unique_dim", (input,), (_dim_axis(input, dim),))
    return _chosen(values, inverse, counts, return_inverse, return_counts)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Each run of equal consecutive values (slices along `dim`) once, in order."""
    if dim is None:
        values, inverse, counts = run("unique_consecutive", (input,))
    else:
        values, inverse, counts = run("unique_dim_consecutive", (input,), (_dim_axis(input, dim),))
    return _chosen(values, inverse, counts, return_inverse, return_counts)


TENSOR_METHODS = ("unique", "unique_consecutive")

__all__ = list(TENSOR_METHODS)
