"""trapezoid (trapz) and cumulative_trapezoid: the trapezoid rule along one dim, composed of slices, sums and
cumsum exactly as PyTorch composes them (so its numbers and node names come out)."""
import builtins
import numbers

from .. import dtypes
from ..autograd.function import run
from ..tensor import Tensor, _wrap_dim
from . import elementwise as ew
from . import reduction, shape


def _slices(y, dim):
    """y without its last and without its first sample along `dim` (PyTorch's y.slice(dim, 0, -1), slice(dim, 1))."""
    lead = (slice(None),) * dim
    return y[lead + (slice(0, -1),)], y[lead + (slice(1, None),)]


def _spacing(name, y, x, dim):
    """x's differences along `dim`, laid out to broadcast against y's (PyTorch: a 1-d x lines up with `dim`)."""
    if x._dtype is dtypes.bool or y._dtype is dtypes.bool:
        raise RuntimeError(f"{name}: received a bool input for `x` or `y`, but bool is not supported")
    if x.ndim == 1:
        if x._data.shape[0] != y._data.shape[dim]:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
        x = shape.view(x, [x._data.shape[0] if d == dim else 1 for d in range(y.ndim)])
    elif x.ndim < y.ndim:
        x = shape.view(x, (1,) * (y.ndim - x.ndim) + tuple(x._data.shape))
    left, right = _slices(x, dim)
    return ew.sub(right, left)


def _check_x(name, x):
    if x is not None and not isinstance(x, Tensor):
        raise TypeError(f"{name}() received an invalid combination of arguments - got (Tensor, {type(x).__name__}), "
                        "but expected one of:\n * (Tensor y, Tensor x, *, int dim = -1)\n"
                        " * (Tensor y, *, Number dx = 1, int dim = -1)\n")


def _by_scalar(op, t, value, node_name):
    """t op value with PyTorch's Scalar-overload node (MulBackward1, DivBackward1), as its composite ops record."""
    dtype = dtypes.result_type(t, value)
    return run(op, (t if t._dtype is dtype else t.to(dtype), ew._as_operand(value, dtype)), (), node_name)


def _check_scalar_spacing(name, y, dx):
    if y._dtype is dtypes.bool:
        raise RuntimeError(f"{name}: received a bool input for `y`, but bool is not supported")
    if isinstance(dx, builtins.bool) or not isinstance(dx, numbers.Real):
        raise RuntimeError(f"{name}: Currently, we only support dx as a real number.")


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The integral of samples `y` along `dim` by the trapezoid rule, at points `x` or `dx` apart (default 1)."""
    if x is not None and dx is not None:
        raise TypeError("trapezoid() received an invalid combination of arguments: give either `x` or `dx`")
    _check_x("trapezoid", x)
    dim = _wrap_dim(dim, y.ndim)
    if y._data.shape[dim] == 0:
        from ..creation import zeros
        return zeros(tuple(s for d, s in enumerate(y._data.shape) if d != dim), dtype=y._dtype, device=y._device)
    if x is not None:
        left, right = _slices(y, dim)
        total = reduction.sum(ew.mul(ew.add(left, right), _spacing("trapezoid", y, x, dim)), dim)
        return _by_scalar("div", total, 2.0, "DivBackward1")
    dx = 1 if dx is None else dx
    _check_scalar_spacing("trapezoid", y, dx)
    ends = _by_scalar("mul", ew.add(shape.select(y, dim, 0), shape.select(y, dim, -1)), 0.5, "MulBackward1")
    inner = ew.sub(reduction.sum(y, dim), ends)
    return _by_scalar("mul", inner, dx, "MulBackward1")


trapz = trapezoid


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoid-rule integral of `y` along `dim` (one element shorter than y there)."""
    if x is not None and dx is not None:
        raise TypeError("cumulative_trapezoid() received an invalid combination of arguments: give either `x` "
                        "or `dx`")
    _check_x("cumulative_trapezoid", x)
    dim = _wrap_dim(dim, y.ndim)
    if x is not None:
        spacing = _spacing("cumulative_trapezoid", y, x, dim)
        left, right = _slices(y, dim)
        return _by_scalar("div", reduction.cumsum(ew.mul(ew.add(left, right), spacing), dim), 2.0, "DivBackward1")
    dx = 1 if dx is None else dx
    _check_scalar_spacing("cumulative_trapezoid", y, dx)
    left, right = _slices(y, dim)
    return reduction.cumsum(_by_scalar("mul", ew.add(left, right), builtins.float(dx) / 2.0, "MulBackward1"), dim)


__all__ = ["trapezoid", "trapz", "cumulative_trapezoid"]
