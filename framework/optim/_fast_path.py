"""Which arrays an update rule runs on: numpy arrays (the CPU fast path) or Tensors (any device).

Each optimizer writes its rule once, with Python operators (`buf *= momentum`,
`param += grad * -lr`), which numpy arrays and Tensors both spell the same way.
The few steps operators cannot say (sqrt, an in-place maximum, an in-place
copy, a copy kept as new state) are methods of the path object.

Why two paths: a Tensor op costs ~20 us of dispatch (kernel lookup, type
promotion, a copy back for in-place ops), so Adam on a small MLP spent most of
a training step in the optimizer. A numpy ufunc on the same data costs ~1 us.
The numpy path is taken only for CPU float32/float64 tensors, where `_data` is
the numpy array itself; everything else (GPU tensors, half precision, mixed
dtypes) takes the Tensor path, so the rules stay device-agnostic.

The arithmetic order is the same on both paths: PyTorch's single-tensor
(foreach=False) order, with scalars rounded to the tensor's dtype as PyTorch
does (NEP 50 gives numpy the same rule for Python floats).
"""
import numpy as np

from .. import dtypes
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor

# Tests switch this off to run every rule on the Tensor path on the CPU too.
CPU_FAST_PATH = True

_FAST_DTYPES = (dtypes.float32, dtypes.float64)


class _NumpyPath:
    """Rules act on `tensor._data` in place; version counters are bumped by hand afterwards."""

    @staticmethod
    def data(tensor):
        return tensor._data

    @staticmethod
    def new_state(array):
        # np.array copies and turns the numpy scalar a 0-d computation yields back into an array
        return Tensor._from_raw(np.array(array))

    @staticmethod
    def mark_written(*tensors):
        # what an in-place Tensor op does: autograd uses the version to notice saved tensors that changed
        for t in tensors:
            t._version_counter[0] += 1

    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)

    @staticmethod
    def maximum_(out, other):
        np.maximum(out, other, out=out)

    @staticmethod
    def copy_(out, value):
        np.copyto(out, value)


class _TensorPath:
    """Rules act on the Tensors themselves through framework's in-place ops (under no_grad, or recorded by
    autograd for differentiable=True)."""

    @staticmethod
    def data(tensor):
        return tensor

    @staticmethod
    def new_state(value):
        return value.detach().clone()

    @staticmethod
    def mark_written(*tensors):
        pass  # in-place Tensor ops bump the version themselves

    @staticmethod
    def sqrt(x):
        return x.sqrt()

    @staticmethod
    def abs(x):
        return x.abs()

    @staticmethod
    def maximum_(out, other):
        if is_grad_enabled() and (out.requires_grad or other.requires_grad):
            # differentiable=True: maximum's backward reads both inputs, so it must not get `out`, overwritten here
            out.copy_(out.clone().maximum(other))
        else:
            out.maximum_(other)

    @staticmethod
    def copy_(out, value):
        out.copy_(value)


NUMPY_PATH = _NumpyPath()
TENSOR_PATH = _TensorPath()


def path_for(param, grad, differentiable=False):
    """The numpy path when param and grad are CPU arrays of one float32/float64 dtype (and autograd need not
    record the update), else the Tensor path."""
    if (CPU_FAST_PATH and not differentiable and param._device.type == "cpu" and grad._device.type == "cpu"
            and param._dtype is grad._dtype and param._dtype in _FAST_DTYPES):
        return NUMPY_PATH
    return TENSOR_PATH


def parameters_with_grads(params, maximize, differentiable=False):
    """(parameter, path, its data, its gradient's data) for each parameter that has a gradient; the
    gradient negated under `maximize`. The gradient may be p.grad's own array: rules rebind it, never write it."""
    for p in params:
        if p.grad is None:
            continue
        path = path_for(p, p.grad, differentiable)
        grad = path.data(p.grad)
        yield p, path, path.data(p), (-grad if maximize else grad)


def lerp_(path, out, end, weight):
    """`out.lerp_(end, weight)` in PyTorch's two-branch form (exact at both ends of the weight range)."""
    if weight < 0.5:
        out += (end - out) * weight
    else:
        # PyTorch rounds the weight to the tensor's dtype first, then takes 1 - weight exactly
        dtype = out.dtype if isinstance(out, np.ndarray) else out._dtype.np
        path.copy_(out, end - (end - out) * (1.0 - float(np.asarray(weight, dtype=dtype))))


def increment_step(step):
    """`step += 1` on a 0-d step tensor, returning the new count as a Python float.

    The step lives on the CPU (PyTorch keeps it there unless capturable/fused), so the host array is
    bumped directly: a Tensor op here would cost more than the whole update of a small parameter.
    """
    if step._device.type == "cpu":
        data = step._data
        data += 1
        step._version_counter[0] += 1
        return float(data)
    step.add_(1)
    return step.item()


def scale_scalar_state(value, factor):
    """`value *= factor` on a 0-d state tensor (NAdam's mu_product), rounded to its dtype as PyTorch's in-place
    multiply rounds; returns the new value as a Python float. Host arrays are scaled directly (see increment_step)."""
    if value._device.type == "cpu":
        data = value._data
        data *= factor  # a Python float times a 0-d array: the array's dtype (NEP 50), as in PyTorch
        value._version_counter[0] += 1
        return float(data)
    value.mul_(factor)
    return value.item()
