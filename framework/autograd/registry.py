"""The op registry: for every op, one (forward kernel, backward kernel) pair per device.

Kernel contract (the same on every device):

    forward(ctx, *inputs, *params) -> output, or a tuple of outputs
    backward(ctx, grad_output) -> one gradient (or None) per input

`inputs` are the backend's raw arrays (numpy arrays on the CPU) or Python
scalars; `params` are plain Python values. A forward kernel saves what its
backward needs with `ctx.save_for_backward(...)`; saving an input or the output
array itself lets the engine detect later in-place changes to it. The backward
reads `ctx.needs_input_grad` and computes only those gradients; it returns
gradients already reduced to each input's shape (broadcasting undone).
Ops without a derivative (comparisons, argmax, ...) register `not_differentiable`
as their backward, so the table stays complete. Ops whose outputs require grad
although PyTorch implements no derivative for them (unique, weighted bincount)
register `no_derivative(name)`: backward raises PyTorch's error.
"""
import re
from typing import Callable, NamedTuple


class KernelPair(NamedTuple):
    forward: Callable
    backward: Callable


def not_differentiable(ctx, *grads):
    raise RuntimeError("this op has no derivative; its outputs never require grad")


def no_derivative(name):
    """The backward of an op whose outputs require grad but whose derivative PyTorch does not implement: PyTorch's
    error. `name` as PyTorch's message names the op: NotImplementedError for the ops its derivatives.yaml marks
    not implemented ('_unique2'), RuntimeError for those it lists nowhere ('aten::bincount', node NotImplemented)."""
    if name.startswith("aten::"):
        error, message = RuntimeError, f"derivative for {name} is not implemented"
    else:
        error, message = NotImplementedError, f"the derivative for '{name}' is not implemented."

    def backward(ctx, grads):
        raise error(message)
    return backward


# op name -> the PyTorch name of its graph node (what `grad_fn` prints)
NODE_NAMES: dict[str, str] = {}
# op name -> {device type -> KernelPair}
KERNELS: dict[str, dict[str, KernelPair]] = {}


def register(op, device_type, forward, backward, node_name=None):
    """Register `op`'s kernel pair for `device_type` ('cpu', 'cuda')."""
    if node_name is not None:
        NODE_NAMES[op] = node_name
    elif op not in NODE_NAMES:
        NODE_NAMES[op] = default_node_name(op)
    KERNELS.setdefault(op, {})[device_type] = KernelPair(forward, backward)


def default_node_name(op):
    """PyTorch's generated node name for `op`: CamelCase, a letter after a digit upper-cased (log1p: Log1PBackward0)."""
    camel = "".join(part.capitalize() for part in op.split("_"))
    return re.sub(r"(?<=[0-9])[a-z]", lambda m: m.group(0).upper(), camel) + "Backward0"


def kernels(op, device_type):
    try:
        return KERNELS[op][device_type]
    except KeyError:
        raise NotImplementedError(
            f"Could not run '{op}' with arguments from the '{device_type}' backend: "
            f"no kernel is registered for it") from None


def is_differentiable(op):
    pair = next(iter(KERNELS[op].values()))
    return pair.backward is not not_differentiable
