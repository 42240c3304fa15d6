"""Kernel pairs built from other registered kernel pairs of the same device: one graph node (PyTorch's name)
for what the kernels of two ops compute together. Each backend calls `register_composed(device_type)` once its
own kernels are registered."""
from ..autograd.graph import KernelContext
from ..autograd.registry import KERNELS, register


def _with_mean(op, device_type):
    """`<op>_mean`: (op(x), mean(x)) over the same axes (var_mean, std_mean); the input's gradient is the sum of
    the two kernels' backward results."""
    spread, average = KERNELS[op][device_type], KERNELS["mean"][device_type]

    def forward(ctx, x, axes, correction, keepdim):
        ctx.parts = (KernelContext(ctx.needs_input_grad), KernelContext(ctx.needs_input_grad))
        out = spread.forward(ctx.parts[0], x, axes, correction, keepdim)
        mean = average.forward(ctx.parts[1], x, axes, keepdim)
        if ctx.needs_input_grad:
            ctx.save_for_backward(*ctx.parts[0].saved_tensors, *ctx.parts[1].saved_tensors)  # version checks
        return out, mean

    def backward(ctx, grads):
        grad_spread, grad_mean = grads
        parts = [spread.backward(ctx.parts[0], grad_spread) if grad_spread is not None else None,
                 average.backward(ctx.parts[1], grad_mean) if grad_mean is not None else None]
        parts = [p for p in parts if p is not None]
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]

    register(op + "_mean", device_type, forward, backward)


def register_composed(device_type):
    for op in ("var", "std"):
        _with_mean(op, device_type)
