"""Reductions, cumsum, softmax and log_softmax: PyTorch's signatures, dtype rules and errors, then the
registered kernels.

`dim` is an int or a tuple/list of ints (negative dims wrap); None, () and [] reduce every dim.
"""
import builtins
import math
import numbers
import warnings

from .. import dtypes, return_types
from ..autograd.composite import record
from ..autograd.function import run
from ..tensor import Tensor, _wrap_dim
from .elementwise import maximum, minimum

# PyTorch names scalar types in errors by their ScalarType spelling

_RETURN_TYPES = {"max": return_types.max, "min": return_types.min}


def _int_dim(op, dim):
    if isinstance(dim, builtins.bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    return builtins.int(dim)


def _reduces_everything(dim):
    return dim is None or isinstance(dim, (tuple, list)) and not dim


def _reduced_axes(op, input, dim):
    """`dim` as a sorted tuple of distinct wrapped axes; every axis when `dim` is None or empty."""
    ndim = input._data.ndim
    if _reduces_everything(dim):
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = []
    for d in dims:
        axis = _wrap_dim(_int_dim(op, d), ndim)
        if axis in axes:
            raise RuntimeError(f"dim {axis} appears multiple times in the list of dims")
        axes.append(axis)
    return tuple(sorted(axes)) if ndim else ()


def _single_axis(op, input, dim):
    return _wrap_dim(_int_dim(op, dim), input._data.ndim)


def _cast(input, dtype):
    return input if dtype is None or input._dtype is dtype else input.to(dtype)


def _cast_inside(original, cast, out):
    """PyTorch casts inside a reduction given `dtype=`: its node lists the uncast input, not a ToCopyBackward0."""
    if cast is original or out.grad_fn is None:
        return out
    return record(out.grad_fn.name(), (original,), out)


def _dim_node(name, dim):
    """PyTorch's node names tell a full reduction (…Backward0) from one over dims (…Backward1)."""
    return f"{name}Backward{0 if dim is None else 1}"


def _dims_as_given(dim):
    return list(dim) if isinstance(dim, (tuple, list)) else [dim]


def _empty_dim(input, dims):
    """The first of `dims` (as the user wrote them: PyTorch's errors quote them so) with size 0, or None."""
    shape = input._data.shape
    return next((d for d in dims if input._data.ndim and shape[_wrap_dim(d, input._data.ndim)] == 0), None)


def _require_nonempty(op, input, dims, full, error=IndexError):
    """PyTorch's errors for a reduction without an identity (max, amax, argmax, ...) over nothing."""
    if input._data.size:
        return
    if full:
        raise error(f"{op}(): Expected reduction dim to be specified for input.numel() == 0." +
                    (" Specify the reduction dim with the 'dim' argument." if error is RuntimeError else ""))
    empty = _empty_dim(input, dims)
    if empty is not None:
        raise IndexError(f"{op}(): Expected reduction dim {empty} to have non-zero size.")


# ---- sum, mean, prod --------------------------------------------------------

def sum(input, dim=None, keepdim=False, *, dtype=None):
    """Integer and bool inputs sum to int64; `dtype` casts the input first."""
    cast = _cast(input, dtype)
    out = run("sum", (cast,), (_reduced_axes("sum", cast, dim), keepdim), _dim_node("Sum", dim))
    return _cast_inside(input, cast, out)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None and not dtype.is_floating_point:
        raise RuntimeError("mean(): could not infer output dtype. Optional dtype must be either a floating point or "
                           f"complex dtype. Got: {dtype.scalar_name}")
    if dtype is None and not input._dtype.is_floating_point:
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating point or "
                           f"complex dtype. Got: {input._dtype.scalar_name}")
    cast = _cast(input, dtype)
    out = run("mean", (cast,), (_reduced_axes("mean", cast, dim), keepdim), _dim_node("Mean", dim))
    return _cast_inside(input, cast, out)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """Product of every element, or along one dim (an int, as in PyTorch)."""
    cast = _cast(input, dtype)
    axes = tuple(range(cast._data.ndim)) if dim is None else (_single_axis("prod", cast, dim),)
    out = run("prod", (cast,), (axes if cast._data.ndim else (), keepdim), _dim_node("Prod", dim))
    return _cast_inside(input, cast, out)


# ---- max, min, amax, amin, argmax, argmin -----------------------------------

def _extreme(op, input, dim, keepdim, other):
    """max/min in PyTorch's three forms: of everything, along `dim` (values, indices), or against `other`."""
    if other is not None or isinstance(dim, Tensor):
        return (maximum if op == "max" else minimum)(input, dim if other is None else other)
    if dim is None:
        if keepdim:
            raise TypeError(f"{op}() received an invalid combination of arguments - got (keepdim=bool, ), but "
                            "expected one of: (), (Tensor other), (int dim, bool keepdim = False)")
        _require_nonempty(op, input, (), full=True, error=RuntimeError)
        return run(op, (input,))
    axis = _single_axis(op, input, dim)
    _require_nonempty(op, input, (axis,), full=False)
    values, indices = run(op + "_dim", (input,), (axis, keepdim))
    return _RETURN_TYPES[op](values, indices)


def max(input, dim=None, keepdim=False, *, other=None):
    return _extreme("max", input, dim, keepdim, other)


def min(input, dim=None, keepdim=False, *, other=None):
    return _extreme("min", input, dim, keepdim, other)


def _amax_like(op, input, dim, keepdim):
    axes = _reduced_axes(op, input, dim)
    _require_nonempty(op, input, _dims_as_given(dim), full=_reduces_everything(dim), error=RuntimeError)
    return run(op, (input,), (axes, keepdim))


def amax(input, dim=(), keepdim=False):
    return _amax_like("amax", input, dim, keepdim)


def amin(input, dim=(), keepdim=False):
    return _amax_like("amin", input, dim, keepdim)


def _arg_extreme(op, input, dim, keepdim):
    axis = None if dim is None else _single_axis(op, input, dim)
    _require_nonempty(op, input, () if axis is None else (axis,), full=axis is None)
    return run(op, (input,), (axis, keepdim))


def argmax(input, dim=None, keepdim=False):
    return _arg_extreme("argmax", input, dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    return _arg_extreme("argmin", input, dim, keepdim)


# ---- var, std, norm, logsumexp ----------------------------------------------

def _spread(op, input, dim, unbiased, keepdim, correction):
    if isinstance(dim, builtins.bool):  # legacy var(input, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}() received an invalid combination of arguments: give either 'unbiased' or "
                        "'correction', not both")
    if not input._dtype.is_floating_point:
        raise RuntimeError(f"{op} only support floating point and complex dtypes" if op.endswith("_mean") else
                           "std and var only support floating point and complex dtypes")
    correction = (1 if unbiased is None or unbiased else 0) if correction is None else correction
    axes = _reduced_axes(op, input, dim)
    if _count_over(input, axes) - correction <= 0:
        warnings.warn(f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction "
                      "factor (input numel divided by output numel).", UserWarning, stacklevel=3)
    return run(op, (input,), (axes, correction, keepdim))


def _count_over(input, axes):
    return math.prod(input._data.shape[a] for a in axes)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _spread("var", input, dim, unbiased, keepdim, correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _spread("std", input, dim, unbiased, keepdim, correction)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over `dim` in one op (one graph node, VarMeanBackward0)."""
    return _spread("var_mean", input, dim, unbiased, keepdim, correction)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over `dim` in one op (one graph node, StdMeanBackward0)."""
    return _spread("std_mean", input, dim, unbiased, keepdim, correction)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """The vector norm over `dim` (every dim by default): p is 'fro' (2), a number, inf or -inf."""
    if isinstance(p, str):
        if p == "nuc":
            raise NotImplementedError("norm(p='nuc') (the nuclear matrix norm) is not supported")
        if p != "fro":
            raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
        p = 2
    p = 2.0 if p is None else builtins.float(p)
    if not (input._dtype.is_floating_point or dtype is not None and dtype.is_floating_point):
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {input._dtype.scalar_name}")
    original, input = input, _cast(input, dtype)
    axes = _reduced_axes("norm", input, dim)
    if (p < 0 or p == math.inf) and input._data.size == 0:
        if _reduces_everything(dim):
            raise RuntimeError(f"linalg.vector_norm cannot compute the {p:g} norm on an empty tensor because the "
                               "operation does not have an identity")
        empty = _empty_dim(input, _dims_as_given(dim))
        if empty is not None:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {p:g} norm on the dimension {empty}because "
                               "this dimension is empty and the operation does not have an identity")
    if out is not None:
        from .inplace import check_out, store_out
        check_out("norm", out, (original,))
    result = _cast_inside(original, input, run("norm", (input,), (p, axes, keepdim)))
    return result if out is None else store_out(out, result)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over `dim`, computed with the max subtracted; integers compute as floats."""
    if not input._dtype.is_floating_point:
        input = input.to(dtypes.get_default_dtype())
    return run("logsumexp", (input,), (_reduced_axes("logsumexp", input, dim), keepdim))


# ---- all, any, count_nonzero ------------------------------------------------

def all(input, dim=None, keepdim=False):
    return run("all", (input,), (_reduced_axes("all", input, dim), keepdim))


def any(input, dim=None, keepdim=False):
    return run("any", (input,), (_reduced_axes("any", input, dim), keepdim))


def count_nonzero(input, dim=None):
    return run("count_nonzero", (input,), (_reduced_axes("count_nonzero", input, dim),))


# ---- cumsum, softmax, log_softmax ---------------------------------------------

def cumsum(input, dim, *, dtype=None):
    """Running sum along `dim`; integer and bool inputs accumulate in int64."""
    cast = _cast(input, dtype)
    return _cast_inside(input, cast, run("cumsum", (cast,), (_single_axis("cumsum", cast, dim),)))


def _softmax_like(op, input, dim, dtype):
    input = _cast(input, dtype)
    if not input._dtype.is_floating_point:
        raise NotImplementedError(f"\"{op}_kernel_impl\" not implemented for '{input._dtype.scalar_name}'")
    axis = _single_axis(op, input, dim)
    return run(op, (input,), (axis,))


def softmax(input, dim, dtype=None):
    """exp(x - max) / sum(exp(x - max)) along `dim`; a row of only -inf gives nan, as in PyTorch."""
    return _softmax_like("softmax", input, dim, dtype)


def log_softmax(input, dim, dtype=None):
    """(x - max) - log(sum(exp(x - max))) along `dim`."""
    return _softmax_like("log_softmax", input, dim, dtype)


TENSOR_METHODS = (
    "sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std", "norm",
    "logsumexp", "all", "any", "count_nonzero", "cumsum", "softmax", "log_softmax",
)

__all__ = list(TENSOR_METHODS) + ["var_mean", "std_mean"]
