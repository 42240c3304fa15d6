"""Sorting and selection: sort, argsort, msort, topk, kthvalue, median, nanmedian, mode. PyTorch's signatures,
dtypes, named results (framework.return_types) and errors, then the registered kernels.

Every kernel sorts stably (ties keep their input order; NaN sorts above +inf, -0.0 with 0.0), so `stable=True`
gives PyTorch's indices exactly and `stable=False` one of the orders PyTorch may return. topk, kthvalue and mode
return, among tied values, the indices of that stable order (PyTorch leaves them unspecified).
"""
import builtins
import numbers

from .. import return_types
from ..autograd.function import run
from .reduction import _single_axis


def _bool_flag(op, name, value):
    if not isinstance(value, (builtins.bool, numbers.Integral)):
        raise TypeError(f"{op}(): argument '{name}' must be bool, not {type(value).__name__}")
    return builtins.bool(value)


def _int_arg(op, name, value):
    if isinstance(value, builtins.bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}(): argument '{name}' must be int, not {type(value).__name__}")
    return builtins.int(value)


def _no_bool(op, input, what):
    if input._dtype.name == "bool":
        raise NotImplementedError(f"\"{what}\" not implemented for 'Bool'")


def _require_rows(op, input, axis):
    """PyTorch's error for selecting from an empty dim (rows of 0 elements)."""
    if input.ndim and input.shape[axis] == 0 and input.numel() == 0 and _others_nonempty(input, axis):
        raise IndexError(f"{op}(): Expected reduction dim {axis} to have non-zero size.")


def _others_nonempty(input, axis):
    return all(size for d, size in enumerate(input.shape) if d != axis)


# ---- sort, argsort, msort --------------------------------------------------------------------------------------------

def sort(input, dim=-1, descending=False, *, stable=False):
    """(values, indices) along `dim`, ascending unless `descending`; always stable (see the module)."""
    axis = _single_axis("sort", input, dim)
    values, indices = run("sort", (input,), (axis, _bool_flag("sort", "descending", descending)),
                          "SortBackward1" if stable else "SortBackward0")
    return return_types.sort(values, indices)


def argsort(input, dim=-1, descending=False, *, stable=False):
    return sort(input, dim, descending, stable=stable).indices


def msort(input):
    """sort(input, dim=0).values."""
    return sort(input, 0).values


# ---- topk, kthvalue --------------------------------------------------------------------------------------------------

def topk(input, k, dim=-1, largest=True, sorted=True):
    """The k largest (smallest unless `largest`) elements along `dim`, in order (also when sorted=False)."""
    k = _int_arg("topk", "k", k)
    axis = _single_axis("topk", input, dim)
    if input._dtype.name == "bool":
        raise RuntimeError(f"topk does not support bool dtypes on {input.device.type.upper()}")
    size = input.shape[axis] if input.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    values, indices = run("topk", (input,), (k, axis, _bool_flag("topk", "largest", largest)))
    return return_types.topk(values, indices)


def kthvalue(input, k, dim=-1, keepdim=False):
    """The k-th smallest element along `dim` (k from 1) and its index."""
    k = _int_arg("kthvalue", "k", k)
    axis = _single_axis("kthvalue", input, dim)
    _no_bool("kthvalue", input, f"kthvalue_{input.device.type}")
    size = input.shape[axis] if input.ndim else 1
    if not 1 <= k <= size and (size or _others_nonempty(input, axis)):
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {axis}")
    values, indices = run("kthvalue", (input,), (k, axis, keepdim))
    return return_types.kthvalue(values, indices)


# ---- median, nanmedian, mode -----------------------------------------------------------------------------------------

def _median_like(op, input, dim, keepdim):
    if dim is None:
        _no_bool(op, input, f"median_{input.device.type}")
        return run(op, (input,))
    axis = _single_axis(op, input, dim)
    _no_bool(op, input, "median_out")
    _require_rows("median", input, axis)  # nanmedian's message names median() too
    values, indices = run(op + "_dim", (input,), (axis, keepdim))
    return getattr(return_types, op)(values, indices)


def median(input, dim=None, keepdim=False):
    """The lower median (of every element, or along `dim` with its index); NaN when the values hold NaN."""
    return _median_like("median", input, dim, keepdim)


def nanmedian(input, dim=None, keepdim=False):
    """median ignoring NaN: the lower median of the other values (NaN when there are none)."""
    return _median_like("nanmedian", input, dim, keepdim)


def mode(input, dim=-1, keepdim=False):
    """The most frequent value along `dim` (the smallest among equally frequent ones) and its last index."""
    axis = _single_axis("mode", input, dim)
    _require_rows("mode", input, axis)
    values, indices = run("mode", (input,), (axis, keepdim))
    return return_types.mode(values, indices)


TENSOR_METHODS = ("sort", "argsort", "msort", "topk", "kthvalue", "median", "nanmedian", "mode")

__all__ = list(TENSOR_METHODS)
