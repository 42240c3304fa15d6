"""Scans along one dim beside cumsum (reduction.py): cumprod, cummax, cummin, logcumsumexp, and the in-place
cumsum_/cumprod_ methods. PyTorch's signatures, dtypes, named results and errors, then the registered kernels."""
from .. import return_types
from ..autograd.function import run
from . import inplace
from .reduction import _cast, _cast_inside, _single_axis, cumsum


def cumprod(input, dim, *, dtype=None):
    """Running product along `dim`; integer and bool inputs accumulate in int64. `dtype` casts first (inside the
    op, as PyTorch: its node lists the uncast input)."""
    cast = _cast(input, dtype)
    return _cast_inside(input, cast, run("cumprod", (cast,), (_single_axis("cumprod", cast, dim),)))


def _running_extreme(op, input, dim):
    values, indices = run(op, (input,), (_single_axis(op, input, dim),))
    return getattr(return_types, op)(values, indices)


def cummax(input, dim):
    """(running max, index it came from) along `dim`; ties and NaN move the index to the later element."""
    return _running_extreme("cummax", input, dim)


def cummin(input, dim):
    return _running_extreme("cummin", input, dim)


def logcumsumexp(input, dim):
    """log(cumsum(exp(input))) along `dim`, computed without overflow (floating inputs only, as PyTorch)."""
    axis = _single_axis("logcumsumexp", input, dim)
    if not input._dtype.is_floating_point:
        raise NotImplementedError(f"\"logcumsumexp_out_{input.device.type}\" not implemented for "
                                  f"'{input._dtype.scalar_name}'")
    return run("logcumsumexp", (input,), (axis,))


def _in_place(fn):
    def method(input, dim, *, dtype=None):
        return inplace.write_(input, fn(input, dim, dtype=dtype))
    method.__name__ = fn.__name__ + "_"
    return method


cumsum_ = _in_place(cumsum)
cumprod_ = _in_place(cumprod)

TENSOR_METHODS = ("cumprod", "cummax", "cummin", "logcumsumexp", "cumsum_", "cumprod_")

__all__ = ["cumprod", "cummax", "cummin", "logcumsumexp"]
