"""cuda kernels for convolution (ops/conv.py): the cpu kernels' signatures and results
(framework/backends/numpy/conv.py), computed by triton_kernels.conv's implicit-GEMM kernels.

    convolution            forward: conv_forward (bias and activation in its epilogue, the pre-activation saved
                           for GELU/SiLU); backward: dY' = dY * act'(pre) once when fused, then conv_input_grad
                           and conv_weight_grad (the bias gradient in the same launch)
    transposed convolution forward: conv_input_grad with the bias; backward: conv_forward for the input,
                           conv_weight_grad with input and gradient swapped for the weight, a channel sum for
                           the bias
1-d problems run as height-1 views. Inputs are read through their strides (no copies). float32 uses TF32
tensor cores when `framework.backends.cudnn.allow_tf32` (PyTorch's switch for convolutions; default True).
"""
from triton_kernels import conv as conv_kernels

from ...autograd.registry import register
from .. import cudnn
from .common import call, contiguous, empty


def _as_2d(a):
    """(N, C, L) as a (N, C, 1, L) view; 4-d arrays as they are."""
    if a.ndim == 4:
        return a
    stride = a.stride()
    return a.as_strided((a.shape[0], a.shape[1], 1, a.shape[2]), (stride[0], stride[1], 0, stride[2]))


def _lift(stride, padding, dilation, output_padding):
    """A 1-d problem's arguments for its height-1 view."""
    return (1,) + stride, (0,) + padding, (1,) + dilation, (0,) + output_padding


def _workspace(shape, dtype_name):
    return empty(shape, dtype_name)


def _forward(ctx, x, w, b, stride, padding, dilation, transposed, output_padding, groups, activation):
    need = ctx.needs_input_grad
    if x.ndim == 3:
        stride, padding, dilation, output_padding = _lift(stride, padding, dilation, output_padding)
    x4, w4 = _as_2d(x), _as_2d(w)
    b = None if b is None else contiguous(b)  # (the kernels read the bias as a contiguous vector)
    tf32 = cudnn.allow_tf32
    n, _, h, wd = x4.shape
    kh, kw = w4.shape[2:]
    if transposed:
        size = tuple((s_in - 1) * s - 2 * p + d * (k - 1) + op + 1
                     for s_in, k, s, p, d, op in zip((h, wd), (kh, kw), stride, padding, dilation, output_padding))
        y = empty((n, w4.shape[1] * groups) + size, x.dtype)
        conv_kernels.conv_input_grad(x4, w4, y, stride, padding, dilation, groups, bias=b, allow_tf32=tf32)
        pre = None
    else:
        size = tuple((s_in + 2 * p - d * (k - 1) - 1) // s + 1
                     for s_in, k, s, p, d in zip((h, wd), (kh, kw), stride, padding, dilation))
        y = empty((n, w4.shape[0]) + size, x.dtype)
        pre = empty(y.shape, x.dtype) if need and activation not in (None, "relu") else None
        conv_kernels.conv_forward(x4, w4, b, y, stride, padding, dilation, groups,
                                  activation="none" if activation is None else activation, pre=pre, allow_tf32=tf32)
    out = y if x.ndim == 4 else y.reshape((n, y.shape[1], size[1]))
    if need:
        ctx.save_for_backward(x if need[1] else None, w if need[0] else None,
                              out if activation == "relu" else pre)
        ctx.meta = (x.shape, w.shape, stride, padding, dilation, transposed, groups, activation)
    return out


def _backward(ctx, g):
    x, w, saved = ctx.saved_tensors
    x_shape, w_shape, stride, padding, dilation, transposed, groups, activation = ctx.meta
    need_x, need_w, need_b = ctx.needs_input_grad
    tf32 = cudnn.allow_tf32
    if activation is not None:
        g = conv_kernels.activation_backward(contiguous(g), contiguous(saved), empty(g.shape, g.dtype), activation)
    g4 = _as_2d(g)
    shape4 = x_shape if len(x_shape) == 4 else (x_shape[0], x_shape[1], 1, x_shape[2])
    w_shape4 = w_shape if len(w_shape) == 4 else (w_shape[0], w_shape[1], 1, w_shape[2])
    grad_x = grad_w = grad_b = None
    if need_x:
        grad_x = empty(shape4, g.dtype)
        if transposed:
            conv_kernels.conv_forward(g4, _as_2d(w), None, grad_x, stride, padding, dilation, groups,
                                      allow_tf32=tf32)
        else:
            conv_kernels.conv_input_grad(g4, _as_2d(w), grad_x, stride, padding, dilation, groups, allow_tf32=tf32)
        grad_x = grad_x.reshape(x_shape)
    if transposed:
        if need_w:
            grad_w = empty(w_shape4, g.dtype)
            conv_kernels.conv_weight_grad(g4, _as_2d(x), grad_w, None, w_shape4, stride, padding, dilation, groups,
                                          workspace=_workspace, allow_tf32=tf32)
        if need_b:
            grad_b = call("sum", g4, (0, 2, 3), False)
    elif need_w:  # the bias gradient from the tiles of dY the weight gradient loads anyway
        grad_w = empty(w_shape4, g.dtype)
        grad_b = empty((w_shape4[0],), g.dtype) if need_b else None
        conv_kernels.conv_weight_grad(_as_2d(x), g4, grad_w, grad_b, w_shape4, stride, padding, dilation, groups,
                                      workspace=_workspace, allow_tf32=tf32)
    elif need_b:
        grad_b = call("sum", g4, (0, 2, 3), False)
    if grad_w is not None:
        grad_w = grad_w.reshape(w_shape)
    return grad_x, grad_w, grad_b


register("convolution", "cuda", _forward, _backward, "ConvolutionBackward0")
