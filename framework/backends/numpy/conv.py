"""CPU kernels for convolution (ops/conv.py): im2col by sliding windows, then one batched matmul per direction.

The input, channel-last and padded, is viewed as its sliding windows (as_strided: no copy), and the windows are
gathered once into columns `cols` (G, Cg*kh*kw, Ho*Wo*N); then
    forward          y  = W (G, Og, K) @ cols                   -> (N, C_out, Ho, Wo)
    weight gradient  dW = dY (G, Og, Ho*Wo*N) @ cols^T
    input gradient   dcols = W^T @ dY, summed back into the padded input by `_col2im` (one strided add per
                     kernel tap: a loop over the kh*kw taps, never over pixels or channels).
A transposed convolution is the input gradient of a convolution (its forward is `_col2im`, its input gradient
the convolution's forward, its weight gradient the convolution's with input and gradient swapped). 1-d
convolutions run as 2-d ones of height 1. float16/bfloat16 compute in float32 and round once, as PyTorch's CPU
kernels do; the fused activation uses linear's (ops/linalg.py LINEAR_ACTIVATIONS).
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ...autograd.registry import register
from .common import LOW_PRECISION, upcast
from .linalg import _FUSED_ACTIVATIONS


def _as_2d(x, stride, padding, dilation, output_padding):
    """A 1-d problem as a 2-d one of height 1: (N, C, L) -> (N, C, 1, L) and the per-dim arguments."""
    if x.ndim == 4:
        return x, stride, padding, dilation, output_padding
    return (x[:, :, None, :], (1,) + stride, (0,) + padding, (1,) + dilation, (0,) + output_padding)


def _columns(x, kernel, stride, padding, dilation, out_size, groups):
    """The im2col matrix of x (N, C, H, W): (G, Cg*kh*kw, Ho*Wo*N), a contiguous copy of its sliding windows.

    The batch is the innermost dim (of the columns, and of the channel-last copy of x they are read from): with
    stride 1 each window row is then one contiguous run of Wo*N values (640 at LeNet's conv2, batch 64) where
    batch-first layouts give runs of Wo (10), and numpy's strided copies and adds run at the inner run's length
    (LeNet conv2, batch 64, 1 thread: im2col 0.74 -> 0.2 ms, col2im 1.65 -> 0.3 ms)."""
    n, c = x.shape[:2]
    (kh, kw), (ho, wo) = kernel, out_size
    x = np.ascontiguousarray(x.transpose(1, 2, 3, 0))  # (C, H, W, N)
    if any(padding):
        x = np.pad(x, ((0, 0), (padding[0], padding[0]), (padding[1], padding[1]), (0, 0)))
    s = x.strides
    windows = as_strided(x, (groups, c // groups, kh, kw, ho, wo, n),
                         (s[0] * (c // groups), s[0], s[1] * dilation[0], s[2] * dilation[1],
                          s[1] * stride[0], s[2] * stride[1], s[3]), writeable=False)
    return np.ascontiguousarray(windows).reshape(groups, (c // groups) * kh * kw, ho * wo * n)


def _col2im(dcols, shape, kernel, stride, padding, dilation, out_size, groups):
    """Sum columns (G, Cg*kh*kw, Ho*Wo*N) back into an input of `shape` (N, C, H, W): im2col's transpose, one
    strided add per kernel tap into a channel-last (C, H, W, N) sum; returns an (N, C, H, W) view of it."""
    n, c, h, w = shape
    (kh, kw), (ho, wo) = kernel, out_size
    grad = np.zeros((c, h + 2 * padding[0] + stride[0], w + 2 * padding[1] + stride[1], n), dcols.dtype)
    taps = dcols.reshape(c, kh, kw, ho, wo, n)  # (G, Cg) is C
    for i in range(kh):
        for j in range(kw):
            top, left = i * dilation[0], j * dilation[1]
            grad[:, top:top + stride[0] * ho:stride[0], left:left + stride[1] * wo:stride[1]] += taps[:, i, j]
    return grad[:, padding[0]:padding[0] + h, padding[1]:padding[1] + w].transpose(3, 0, 1, 2)


def _weight_matrix(w, groups):
    return w.reshape(groups, w.shape[0] // groups, w.shape[1] * w.shape[2] * w.shape[3])


def _grad_matrix(g, groups):
    """dY (N, O, Ho, Wo) as (G, Og, Ho*Wo*N), the columns' order."""
    n, o, ho, wo = g.shape
    return np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(groups, o // groups, ho * wo * n)


def _from_matrix(y, n, out_size):
    """(G, Og, Ho*Wo*N) -> a contiguous (N, G*Og, Ho, Wo)."""
    groups, og = y.shape[:2]
    y = y.reshape(groups * og, *out_size, n).transpose(3, 0, 1, 2)
    return np.ascontiguousarray(y)


def _conv(x, w, stride, padding, dilation, groups):
    """Convolution of x (N, C, H, W) by w (O, C/G, kh, kw): (N, O, Ho, Wo), and the columns it used."""
    kernel = w.shape[2:]
    out_size = tuple((x.shape[2 + i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                     for i in range(2))
    cols = _columns(x, kernel, stride, padding, dilation, out_size, groups)
    return _from_matrix(_weight_matrix(w, groups) @ cols, x.shape[0], out_size)


def _conv_input_grad(g, w, shape, stride, padding, dilation, groups):
    """dX of shape `shape` for dY = g (N, O, Ho, Wo) and weight w (O, C/G, kh, kw)."""
    wm = _weight_matrix(w, groups)
    dcols = wm.transpose(0, 2, 1) @ _grad_matrix(g, groups)
    return _col2im(dcols, shape, w.shape[2:], stride, padding, dilation, g.shape[2:], groups)


def _conv_weight_grad(x, g, kernel, stride, padding, dilation, groups):
    """dW (O, C/G, kh, kw) for input x and dY = g."""
    cols = _columns(x, kernel, stride, padding, dilation, g.shape[2:], groups)
    dw = _grad_matrix(g, groups) @ cols.transpose(0, 2, 1)
    return dw.reshape(g.shape[1], x.shape[1] // groups, *kernel)


def _out_shape(x, w, stride, padding, dilation, output_padding, groups):
    """A transposed convolution's output shape (N, C_out, H_out, W_out) for x (N, C_in, H, W), w (C_in, C_out/G, ..)."""
    size = tuple((x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1)
                 + output_padding[i] + 1 for i in range(2))
    return (x.shape[0], w.shape[1] * groups) + size


def _forward(ctx, x, w, b, stride, padding, dilation, transposed, output_padding, groups, activation):
    dtype = x.dtype
    x2, stride, padding, dilation, output_padding = _as_2d(upcast(x), stride, padding, dilation, output_padding)
    w2 = upcast(w) if w.ndim == 4 else upcast(w)[:, :, None, :]
    if transposed:
        y = _conv_input_grad(x2, w2, _out_shape(x2, w2, stride, padding, dilation, output_padding, groups), stride,
                             padding, dilation, groups)
        y = np.ascontiguousarray(y)
    else:
        y = _conv(x2, w2, stride, padding, dilation, groups)
    if b is not None:
        y += upcast(b)[:, None, None]
    saved = None
    if activation is not None:
        if ctx.needs_input_grad and activation != "relu":
            saved = y.astype(dtype, copy=False)  # the pre-activation in x's dtype, as the cuda kernel saves it
        y = _FUSED_ACTIVATIONS[activation][0](y)
    if x.ndim == 3:
        y = y[:, :, 0, :]
    out = y.astype(dtype, copy=False) if dtype in LOW_PRECISION else y
    if ctx.needs_input_grad:
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, w if need_x else None, out if activation == "relu" else saved)
        ctx.meta = (x.shape, w.shape, stride, padding, dilation, transposed, groups, activation)
    return out


def _backward(ctx, g):
    x, w, saved = ctx.saved_tensors
    x_shape, w_shape, stride, padding, dilation, transposed, groups, activation = ctx.meta
    need_x, need_w, need_b = ctx.needs_input_grad
    dtype = (x if x is not None else w).dtype
    g = upcast(g)
    if activation is not None:
        g = _FUSED_ACTIVATIONS[activation][1](g, upcast(saved))
    g2 = g if g.ndim == 4 else g[:, :, None, :]
    x2 = None if x is None else (upcast(x) if x.ndim == 4 else upcast(x)[:, :, None, :])
    w2 = None if w is None else (upcast(w) if w.ndim == 4 else upcast(w)[:, :, None, :])
    shape4 = x_shape if len(x_shape) == 4 else (x_shape[0], x_shape[1], 1, x_shape[2])
    grad_x = grad_w = grad_b = None
    if transposed:  # y = conv_input_grad(x): dX = conv(dY), dW = conv_weight_grad(input dY, gradient x)
        if need_x:  # (an output_padding below the dilation can leave conv(dY) a row or column longer than x)
            grad_x = _conv(g2, w2, stride, padding, dilation, groups)[:, :, :shape4[2], :shape4[3]]
        if need_w:
            grad_w = _conv_weight_grad(g2, x2, w_shape[2:] if len(w_shape) == 4 else (1,) + w_shape[2:], stride,
                                       padding, dilation, groups)
    else:
        if need_x:
            grad_x = _conv_input_grad(g2, w2, shape4, stride, padding, dilation, groups)
        if need_w:
            grad_w = _conv_weight_grad(x2, g2, w_shape[2:] if len(w_shape) == 4 else (1,) + w_shape[2:], stride,
                                       padding, dilation, groups)
    if need_b:
        grad_b = g2.sum(axis=(0, 2, 3)).astype(dtype, copy=False)
    if grad_x is not None:
        grad_x = np.ascontiguousarray(grad_x.reshape(x_shape)).astype(dtype, copy=False)
    if grad_w is not None:
        grad_w = grad_w.reshape(w_shape).astype(dtype, copy=False)
    return grad_x, grad_w, grad_b


register("convolution", "cpu", _forward, _backward, "ConvolutionBackward0")
