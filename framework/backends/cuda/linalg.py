"""cuda kernels for matrix products: matmul in all its shapes, and the fused linear layer. The cpu kernels'
signatures and results (framework/backends/numpy/linalg.py), computed by triton_kernels.matmul and
triton_kernels.linear.

Operands are read through their strides: transposes (the backward's `b.T`), slices and broadcast batch
dims cost no copy. fp32 products use TF32 tensor cores only when `framework.backends.cuda.matmul.allow_tf32`
is set (PyTorch's flag; default False).
"""
import numpy as np

from triton_kernels import linear as linear_kernels
from triton_kernels import matmul as matmul_kernels

from ...autograd.registry import register
from .common import contiguous, empty, sum_to_shape

_LOW_PRECISION = frozenset(("float16", "bfloat16"))
_FLOAT32 = np.dtype(np.float32)


def _allow_tf32():
    from . import tf32_enabled  # the package defines it after importing this module
    return tf32_enabled()


def _swap(a):
    """The last two dims of `a` swapped: a view."""
    axes = list(range(a.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return a.transpose(axes)


def _batched_matmul(a, b, out_dtype=None):
    """a (..., M, K) @ b (..., K, N), batch dims broadcast; a new contiguous (..., M, N) array."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    out = empty(batch + (a.shape[-2], b.shape[-1]), a.dtype if out_dtype is None else out_dtype)
    a_full = a.broadcast_to(batch + a.shape[-2:])
    b_full = b.broadcast_to(batch + b.shape[-2:])
    try:
        matmul_kernels.matmul(a_full, b_full, out, allow_tf32=_allow_tf32())
    except ValueError as error:
        if "at most" not in str(error):
            raise
        # batch dims that do not merge into two: contiguous copies (broadcasts materialised) merge into one
        matmul_kernels.matmul(contiguous(a_full), contiguous(b_full), out, allow_tf32=_allow_tf32())
    return out


def _as_matrices(shape_a, shape_b):
    """numpy's matmul promotion: a vector `a` is a row (1, K), a vector `b` a column (K, 1)."""
    return (shape_a if len(shape_a) > 1 else (1,) + tuple(shape_a),
            shape_b if len(shape_b) > 1 else tuple(shape_b) + (1,))


def _matmul_forward(ctx, a, b):
    if ctx.needs_input_grad:
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b if ctx.needs_input_grad[0] else None)
        ctx.shapes = (a.shape, b.shape)
    mat_a, mat_b = _as_matrices(a.shape, b.shape)
    out = _batched_matmul(a.reshape(mat_a), b.reshape(mat_b))
    shape = np.broadcast_shapes(mat_a[:-2], mat_b[:-2])
    shape += ((mat_a[-2],) if a.ndim > 1 else ()) + ((mat_b[-1],) if b.ndim > 1 else ())
    return out.reshape(shape)


def _product_gradient(left, right, shape, dtype):
    """left @ right summed to `shape` (undoing batch broadcasting), in `dtype`. A batch that must be summed
    is folded into the product's inner dim when the layouts allow (one matmul, no sum); else the batched
    product is summed, in float32 for 16-bit operands (rounded once, as the cpu kernels do)."""
    full = np.broadcast_shapes(left.shape[:-2], right.shape[:-2]) + (left.shape[-2], right.shape[-1])
    if full == tuple(shape):
        return _batched_matmul(left, right)
    rows, inner, cols = full[-2], left.shape[-1], full[-1]
    if len(shape) == 2 and rows * inner * cols:
        # sum over the batch of left[b] @ right[b] = [left[0] .. left[B-1]] @ [right[0]; ..; right[B-1]]
        lead = full[:-2]
        folded = inner * int(np.prod(lead))
        left_rows = left.broadcast_to(lead + left.shape[-2:]).transpose(
            (len(lead),) + tuple(range(len(lead))) + (len(lead) + 1,))  # (rows, batch..., inner)
        folded_left = left_rows.reshape_view((rows, folded))
        folded_right = right.broadcast_to(lead + right.shape[-2:]).reshape_view((folded, cols))
        if folded_left is not None and folded_right is not None:
            return _batched_matmul(folded_left, folded_right)
    work = _FLOAT32 if str(dtype) in _LOW_PRECISION else None
    grad = sum_to_shape(_batched_matmul(left, right, work), shape)
    return grad if grad.dtype == dtype else grad.astype(dtype)


def _matmul_backward(ctx, g):
    a, b = ctx.saved_tensors
    shape_a, shape_b = ctx.shapes
    mat_a, mat_b = _as_matrices(shape_a, shape_b)
    g = g.reshape(np.broadcast_shapes(mat_a[:-2], mat_b[:-2]) + (mat_a[-2], mat_b[-1]))
    grad_a = grad_b = None
    if ctx.needs_input_grad[0]:
        grad_a = _product_gradient(g, _swap(b.reshape(mat_b)), mat_a, b.dtype).reshape(shape_a)
    if ctx.needs_input_grad[1]:
        grad_b = _product_gradient(_swap(a.reshape(mat_a)), g, mat_b, a.dtype).reshape(shape_b)
    return grad_a, grad_b


register("matmul", "cuda", _matmul_forward, _matmul_backward)


# ---- linear ---------------------------------------------------------------------------------------

def _rows(x):
    """x (..., K) as an (M, K) matrix: a view when the layout allows, else a contiguous copy."""
    return x.reshape((-1, x.shape[-1])) if x.ndim != 2 else x


def _bias_vector(bias, n):
    """The bias as N contiguous values (a one-element bias broadcast)."""
    if bias.size == n:
        return contiguous(bias.reshape((n,)))
    return contiguous(bias.reshape((1,)).broadcast_to((n,)))


def _linear_forward(ctx, x, weight, bias, activation):
    """y = activation(x @ weight.T + bias) over any leading dims of x, in one kernel."""
    if activation is not None and activation not in linear_kernels.ACTIVATIONS:
        raise ValueError(f"unsupported fused activation {activation!r}")
    need = ctx.needs_input_grad
    n, k = weight.shape
    x2 = _rows(x)
    m = x2.shape[0]
    out = empty((m, n), x.dtype)
    bias_vector = None if bias is None else _bias_vector(bias, n)
    # The backward needs act'(pre): ReLU's reads it off the output, the others need the pre-activation.
    pre = empty((m, n), x.dtype) if need and activation not in (None, "relu") else None
    linear_kernels.linear_forward(x2, weight, bias_vector, out, m, n, k, *x2.stride(), *weight.stride(),
                                  *out.stride(), activation="none" if activation is None else activation,
                                  pre=pre, **_pre_strides(pre), allow_tf32=_allow_tf32())
    if need:
        ctx.activation = activation
        ctx.bias_shape = None if bias is None else bias.shape
        ctx.save_for_backward(x2 if need[1] or need[2] else None, weight if need[0] else None,
                              out if activation == "relu" else pre)
        ctx.x_shape = x.shape
    return out.reshape(x.shape[:-1] + (n,))


def _pre_strides(pre):
    """The launchers' stride arguments for the pre-activation buffer (none without one)."""
    return dict(zip(("stride_pm", "stride_pn"), pre.stride())) if pre is not None else {}


def _linear_backward(ctx, g):
    x2, weight, pre = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad
    activation = "none" if ctx.activation is None else ctx.activation
    n = g.shape[-1]
    g2 = _rows(g) if g.ndim else g.reshape((1, 1))
    m = g2.shape[0]
    pre_strides = _pre_strides(pre)
    grad_x = grad_w = grad_b = None
    if need_x:
        k = weight.shape[1]
        grad_x = empty((m, k), g.dtype)
        linear_kernels.linear_backward_input(g2, weight, pre, grad_x, m, n, k, *g2.stride(), *weight.stride(),
                                             *grad_x.stride(), activation=activation, allow_tf32=_allow_tf32(),
                                             **pre_strides)
        grad_x = grad_x.reshape(ctx.x_shape)
    if need_w or need_b:
        k = x2.shape[1]
        grad_w = empty((n, k), g.dtype) if need_w else None
        grad_b = empty((n,), g.dtype) if need_b else None
        linear_kernels.linear_backward_weight(g2, x2, pre, grad_w, grad_b, m, n, k, *g2.stride(), *x2.stride(),
                                              *(grad_w.stride() if need_w else (0, 0)), activation=activation,
                                              allow_tf32=_allow_tf32(), **pre_strides)
        if need_b and tuple(ctx.bias_shape) != (n,):
            grad_b = sum_to_shape(grad_b.reshape((n,)), ctx.bias_shape)
    return grad_x, grad_w, grad_b


register("linear", "cuda", _linear_forward, _linear_backward, "AddmmBackward0")
