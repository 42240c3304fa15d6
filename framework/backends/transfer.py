"""Moving tensors between devices: a differentiable copy whose backward moves the gradient back."""
from ..autograd.function import _edge
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.graph import KernelContext, node_class
from .device_backend import backend_for


def move_raw(data, source, target):
    """A backend array on `source` as a backend array on `target` (a copy)."""
    if source.type == target.type:
        return data
    # through the host: a device's backend loads (checking the device is usable) on the first transfer to it
    return backend_for(target).from_host(backend_for(source).to_host(data))


def _backward(ctx, grad):
    return move_raw(grad, ctx.target, ctx.source)


def to_device(x, target):
    """A copy of `x` on `target`, differentiable (ToCopyBackward0)."""
    from ..tensor import Tensor
    out = Tensor._from_raw(move_raw(x._data, x._device, target), target)
    if x._requires_grad and is_grad_enabled():
        ctx = KernelContext((True,))
        ctx.source, ctx.target = x._device, target
        # op "to_device": its differentiable formula (autograd/derivatives) moves the gradient back with `to`
        out.grad_fn = node_class("ToCopyBackward0")(ctx, _backward, (_edge(x),), 1, False, "to_device", (x._device,))
        out._requires_grad = True
    return out
