"""Building blocks the formulas share.

`sum_to` and `restore` undo broadcasting and reductions. Three ways to differentiate what framework ops do not
spell directly, each recorded so that it can be differentiated again:

- `transposed(ctx, g, constants)`: for an op linear in its first input (gathers, cumsum, basic indexing), the
  gradient is the op's own backward kernel applied to `g` (the first-order values exactly), and the gradient of
  that is the op itself, run on the incoming gradient: linear maps differentiate to their transpose.
- `kernel_vjp(...)`: the input gradient of an elementwise op by its registered kernels, with a second-derivative
  formula in framework ops, for a derivative that framework ops cannot spell (no op uses it at present: the
  exact GELU, its first user, now differentiates through erf).
- `recompute(ctx, grads, compose, positions)`: for a fused op, the gradient of the unfused composition it stands
  for, recomputed from the saved inputs and differentiated with `create_graph=True`.
"""
from .. import function as _function
from ..function import Function, run
from ..graph import KernelContext
from ..registry import KERNELS


def zeros(shape, like):
    from ...creation import zeros as _zeros
    return _zeros(shape, dtype=like.dtype, device=like.device)


def sum_to(grad, shape):
    """`grad` summed over the dims that broadcasting added or stretched to reach it from `shape`."""
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, size in enumerate(shape)
                                      if size == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axes, keepdim=True)
    return grad.reshape(shape)


def restore(grad, axes, keepdim, shape):
    """The gradient of a reduction over `axes` broadcast back to the input's `shape` (a view)."""
    if not keepdim:
        for axis in axes:  # sorted ascending: each unsqueeze lands where the reduced dim was
            grad = grad.unsqueeze(axis)
    return grad.expand(shape)


def _named(base, name, cache={}):
    """A subclass of Function `base` whose graph node prints as `name` (PyTorch's name for the backward op)."""
    key = (base, name)
    if key not in cache:
        cache[key] = type(name.removesuffix("0"), (base,), {"_node_name": name})
    return cache[key]


# ---- linear ops: the backward kernel, and the op as its own double backward -------------------

_TRANSPOSE_NAMES = {"index": "IndexPutBackward0", "gather": "ScatterAddBackward0",
                    "index_select": "IndexAddBackward0", "masked_select": "MaskedScatterBackward0",
                    "take": "PutBackward0"}


class _Transposed(Function):
    @staticmethod
    def forward(ctx, g, node, constants):
        ctx.op, ctx.params, ctx.constants = node._op, node._params, constants
        raw = node._backward(node._ctx, g._data)
        return _function.Tensor._from_raw(raw[0] if type(raw) is tuple else raw)

    @staticmethod
    def backward(ctx, h):
        return run(ctx.op, (h,) + ctx.constants, ctx.params), None, None


def transposed(ctx, g, constants=()):
    """Input 0's gradient for an op linear in input 0, the other inputs (`constants`, Tensors) fixed."""
    node = ctx.node
    name = _TRANSPOSE_NAMES.get(node._op, node.name().replace("Backward", "BackwardBackward"))
    return _named(_Transposed, name).apply(g, node, tuple(constants))


# ---- an elementwise op's derivative by its kernels ---------------------------------------------

class _KernelVJP(Function):
    """g * f'(x) by f's registered kernel pair; `second(h, g, x, params)` is h * g * f''(x)."""

    @staticmethod
    def forward(ctx, g, x, op, params, second):
        ctx.op, ctx.params, ctx.second = op, params, second
        ctx.save_for_backward(g, x)
        forward, backward = KERNELS[op][x.device.type]
        kernel_ctx = KernelContext((True,))
        forward(kernel_ctx, x._data, *params)
        raw = backward(kernel_ctx, g._data)
        return _function.Tensor._from_raw(raw[0] if type(raw) is tuple else raw)

    @staticmethod
    def backward(ctx, h):
        g, x = ctx.saved_tensors
        grad_g = kernel_vjp(ctx.op, h, x, ctx.params, ctx.second) if ctx.needs_input_grad[0] else None
        grad_x = ctx.second(h, g, x, ctx.params) if ctx.needs_input_grad[1] else None
        return grad_g, grad_x, None, None, None


def kernel_vjp(op, g, x, params, second):
    return _named(_KernelVJP, op.title().replace("_", "") + "BackwardBackward0").apply(g, x, op, params, second)


# ---- fused ops: the gradient of what they fuse ---------------------------------------------------

def recompute(ctx, grads, compose, positions):
    """The gradients, for the inputs at `positions` that need one, of `compose(*inputs, *params)` (the
    composition the fused op computes in one kernel) at the saved inputs, as a differentiable graph."""
    from .. import grad as autograd_grad
    needs = ctx.needs_input_grad
    args, entries = [], []
    for i in range(len(ctx.node._edges)):
        value = ctx.input(i)
        if i in positions and needs[i]:
            value = run("alias", (value,))  # a node of its own: the gradient for this position alone arrives here
            entries.append((i, value))
        args.append(value)
    result = [None] * len(args)
    if not entries:
        return tuple(result)
    out = compose(*args, *ctx.params)
    found = autograd_grad(out, [value for _, value in entries], grads, create_graph=True, allow_unused=True)
    for (i, _), grad in zip(entries, found):
        result[i] = grad
    return tuple(result)
