"""CPU kernels for matrix products: matmul in all its shapes, and the fused linear layer."""
import math

import numpy as np

from ...autograd.registry import register
from .common import LOW_PRECISION, sum_to_shape, upcast
from .nn import _gelu, _gelu_grad, _sigmoid, _silu_grad


def _matmul_forward(ctx, a, b):
    if ctx.needs_input_grad:
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
        ctx.shapes = (a.shape, b.shape, a.dtype)
    out = np.matmul(upcast(a), upcast(b))
    return out.astype(a.dtype, copy=False) if a.dtype in LOW_PRECISION else out


def _matmul_backward(ctx, g):
    a, b = ctx.saved_tensors
    shape_a, shape_b, dtype = ctx.shapes
    # Vectors become matrices (`a` a row, `b` a column), so one rule covers every case.
    mat_a = shape_a if len(shape_a) > 1 else (1,) + shape_a
    mat_b = shape_b if len(shape_b) > 1 else shape_b + (1,)
    g = upcast(g).reshape(np.broadcast_shapes(mat_a[:-2], mat_b[:-2]) + (mat_a[-2], mat_b[-1]))
    grad_a = grad_b = None
    if ctx.needs_input_grad[0]:
        grad_a = np.matmul(g, np.swapaxes(upcast(b).reshape(mat_b), -1, -2))
        grad_a = sum_to_shape(grad_a, mat_a).reshape(shape_a).astype(dtype, copy=False)
    if ctx.needs_input_grad[1]:
        grad_b = np.matmul(np.swapaxes(upcast(a).reshape(mat_a), -1, -2), g)
        grad_b = sum_to_shape(grad_b, mat_b).reshape(shape_b).astype(dtype, copy=False)
    return grad_a, grad_b


register("matmul", "cpu", _matmul_forward, _matmul_backward)


def _relu_grad(g, out):
    return g * (out > 0)  # relu'(pre) read off the output: no pre-activation saved


# activation -> (act(pre), g * act'(pre)), on float32/float64 arrays; `pre` is x @ W.T + b.
_FUSED_ACTIVATIONS = {
    "relu": (lambda z: np.maximum(z, 0, out=z), _relu_grad),
    "gelu": (lambda z: _gelu(z, "none"), lambda g, z: _gelu_grad(g, z, "none")),
    "gelu_tanh": (lambda z: _gelu(z, "tanh"), lambda g, z: _gelu_grad(g, z, "tanh")),
    "silu": (lambda z: z * _sigmoid(z), _silu_grad),
}


def _linear_forward(ctx, x, weight, bias, activation):
    """y = activation(x @ weight.T + bias) over any leading dims of x."""
    need = ctx.needs_input_grad
    y = np.matmul(upcast(x), upcast(weight).T)
    if bias is not None:
        y += upcast(bias)
    saved = None
    if activation is not None:
        if activation not in _FUSED_ACTIVATIONS:
            raise ValueError(f"unsupported fused activation {activation!r}")
        if need and activation != "relu":
            # the pre-activation in x's dtype, as the cuda kernel saves it; no copy needed for float32/64:
            # these activations return new arrays (only ReLU works in place, and it saves its output instead)
            saved = y.astype(x.dtype, copy=False)
        y = _FUSED_ACTIVATIONS[activation][0](y)
    out = y.astype(x.dtype, copy=False) if x.dtype in LOW_PRECISION else y
    if need:
        ctx.activation = activation
        ctx.save_for_backward(x if need[1] else None, weight if need[0] else None,
                              out if activation == "relu" else saved)
    return out


def _linear_backward(ctx, g):
    x, weight, saved = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad
    g = upcast(g)
    if ctx.activation is not None:
        g = _FUSED_ACTIVATIONS[ctx.activation][1](g, upcast(saved))
    dtype = (x if x is not None else weight).dtype
    rows = g.size // g.shape[-1] if g.shape[-1] else math.prod(g.shape[:-1])  # (-1 cannot be inferred at size 0)
    g2 = g.reshape(rows, g.shape[-1])
    grad_x = grad_w = grad_b = None
    if need_x:
        grad_x = np.matmul(g, upcast(weight)).astype(dtype, copy=False)
    if need_w:
        grad_w = np.matmul(g2.T, upcast(x).reshape(rows, x.shape[-1])).astype(dtype, copy=False)
    if need_b:
        grad_b = g2.sum(axis=0).astype(dtype, copy=False)
    return grad_x, grad_w, grad_b


register("linear", "cpu", _linear_forward, _linear_backward, "AddmmBackward0")
