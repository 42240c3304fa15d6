"""Differentiable formulas of the convolutional networks' ops: convolution (framework/ops/conv.py), max pooling
(ops/pooling.py), the separable resampling op behind interpolate, average pooling and index padding
(ops/resample.py), constant padding (ops/padding.py) and batch norm (ops/batch_norm.py).

Convolution is bilinear in (input, weight): its input gradient is linear in (grad, weight) and its weight
gradient in (grad, input), so both are computed by the registered backward kernels (the first-order values
exactly) inside one node, ConvolutionBackwardBackward0 as in PyTorch, whose own gradients are a convolution
(for the incoming gradient) and the other first-order gradient (PyTorch's _convolution_double_backward): every
order is convolutions again. A fused activation differentiates the composition (`recompute`).

Max pooling's gradient is its backward kernel (a sum by the saved indices); that is linear in the gradient, and
its transpose gathers by the same indices. Resampling and constant padding are linear: their transposes are
their backward kernels, and the transposes of those the ops themselves (constant padding: with the negated
amounts and value 0, a crop). Batch norm differentiates its composition (mean, variance, rsqrt) in training and
the affine map by the statistics the forward used in evaluation."""
from ... import dtypes
from .. import function as _function
from ..function import Function, run
from ..graph import KernelContext
from ..registry import KERNELS
from . import derivative
from .nn import _ACTIVATIONS
from .tools import _named, recompute, transposed

# ---- convolution ----------------------------------------------------------------------------------------------


def _kernel_meta(x_shape, w_shape, params):
    """The backward kernels' ctx.meta (framework/backends/*/conv.py): a 1-d problem as a height-1 2-d one."""
    stride, padding, dilation, transposed_, _, groups, _ = params
    if len(x_shape) == 3:
        stride, padding, dilation = (1,) + tuple(stride), (0,) + tuple(padding), (1,) + tuple(dilation)
    return (tuple(x_shape), tuple(w_shape), tuple(stride), tuple(padding), tuple(dilation), transposed_, groups, None)


class _ConvolutionBackward(Function):
    """(grad_input, grad_weight) of a convolution without activation, those of `needs` (two flags), by the
    registered kernels: grad_input reads (g, weight), grad_weight (g, input); the other may be None."""
    _node_name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, g, x, w, shapes, params, needs):
        ctx.shapes, ctx.params, ctx.needs = shapes, params, needs
        ctx.save_for_backward(g, x, w)
        need_x, need_w = needs
        kernel_ctx = KernelContext((need_x, need_w, False))
        kernel_ctx.save_for_backward(x._data if need_w else None, w._data if need_x else None, None)
        kernel_ctx.meta = _kernel_meta(*shapes, params)
        grad_x, grad_w, _ = KERNELS["convolution"][g.device.type].backward(kernel_ctx, g._data)
        outputs = tuple(_function.Tensor._from_raw(raw) for raw, need in ((grad_x, need_x), (grad_w, need_w))
                        if need)
        return outputs if len(outputs) > 1 else outputs[0]

    @staticmethod
    def backward(ctx, *grads):
        g, x, w = ctx.saved_tensors
        grads = list(grads)
        h_x = grads.pop(0) if ctx.needs[0] else None  # the gradient reaching grad_input
        h_w = grads.pop(0) if ctx.needs[1] else None  # ... and grad_weight
        need_g, need_x, need_w = ctx.needs_input_grad[:3]
        plain = ctx.params[:6] + (None,)
        grad_g = grad_x = grad_w = None
        if need_g:  # both first-order gradients are linear in g: their transposes are the forward op
            if h_x is not None:
                grad_g = run("convolution", (h_x, w, None), plain)
            if h_w is not None:
                term = run("convolution", (x, h_w, None), plain)
                grad_g = term if grad_g is None else grad_g + term
        if need_x and h_w is not None:  # grad_weight = dW(x; g) is linear in x: its transpose is dX(g; h_w)
            grad_x = convolution_backward(g, None, h_w, ctx.shapes, ctx.params, (True, False))[0]
        if need_w and h_x is not None:  # grad_input = dX(g; w) is linear in w: its transpose is dW(h_x; g)
            grad_w = convolution_backward(g, h_x, None, ctx.shapes, ctx.params, (False, True))[0]
        return grad_g, grad_x, grad_w, None, None, None


def convolution_backward(g, x, w, shapes, params, needs):
    """The first-order gradients `needs` asks for (input, weight), as a tuple of that many Tensors."""
    found = _ConvolutionBackward.apply(g, x, w, tuple(shapes), tuple(params), tuple(needs))
    return found if type(found) is tuple else (found,)


def _convolution_then_activation(x, w, b, *params):
    out = run("convolution", (x, w, b), tuple(params[:6]) + (None,))
    return _ACTIVATIONS[params[6]](out)


@derivative("convolution", save=(0, 1, 2), shapes=True, scalars=True)
def _convolution(ctx, g):
    if ctx.params[6] is not None:  # a fused activation: the gradient of conv, then the activation
        return recompute(ctx, g, _convolution_then_activation, (0, 1, 2))
    need_x, need_w, need_b = ctx.needs_input_grad
    grads = [None, None]
    if need_x or need_w:
        found = list(convolution_backward(g, ctx.input(0), ctx.input(1), (ctx.shape(0), ctx.shape(1)), ctx.params,
                                          (need_x, need_w)))
        grads = [found.pop(0) if need else None for need in (need_x, need_w)]
    grad_b = g.sum((0,) + tuple(range(2, g.ndim))) if need_b else None
    return grads[0], grads[1], grad_b


# ---- max pooling ----------------------------------------------------------------------------------------------

class _MaxPoolBackward(Function):
    """The input gradient of max pooling, by its backward kernel: g summed into the positions its indices name.
    Linear in g; its transpose gathers by the indices."""

    @staticmethod
    def forward(ctx, g, node, indices):
        ctx.indices = indices
        raw = node._backward(node._ctx, (g._data, None))
        return _function.Tensor._from_raw(raw[0] if type(raw) is tuple else raw)

    @staticmethod
    def backward(ctx, h):
        indices = ctx.indices
        lead = tuple(indices.shape[:-2])
        picked = h.reshape(lead + (-1,)).gather(-1, indices.reshape(lead + (-1,)))
        return picked.reshape(tuple(indices.shape)), None, None


@derivative("max_pool2d", output=True)
def _max_pool2d(ctx, grads):
    g = grads[0]  # (the indices output has no gradient)
    name = ctx.node.name().replace("Backward", "BackwardBackward")  # MaxPool2DWithIndicesBackwardBackward0
    return (_named(_MaxPoolBackward, name).apply(g, ctx.node, ctx.output(1)),)


# ---- resampling and padding -----------------------------------------------------------------------------------

@derivative("axis_resample")
def _axis_resample(ctx, g):
    return transposed(ctx, g)  # the transposed tables, by the kernel; its own gradient is the op again


@derivative("constant_pad_nd")
def _constant_pad_nd(ctx, g):
    pad, _ = ctx.params
    return run("constant_pad_nd", (g,), (tuple(-p for p in pad), 0))  # a crop (and the pad of a crop)


# ---- batch norm -----------------------------------------------------------------------------------------------

def _batch_norm_composition(x, weight, bias, training, stats, eps):
    """batch_norm in framework ops: batch statistics (training) or the forward's constants (`stats`: mean and
    invstd as the kernels used them), in float32 for 16-bit data."""
    z = x.float() if x.dtype in (dtypes.float16, dtypes.bfloat16) else x
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        centered = z - z.mean(dims, keepdim=True)
        out = centered * ((centered * centered).mean(dims, keepdim=True) + eps).rsqrt()
    else:
        mean, invstd = (_function.Tensor._from_raw(raw).to(z.dtype).reshape(shape) for raw in stats)
        out = (z - mean) * invstd
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out.to(x.dtype)


@derivative("batch_norm", save=(0, 1, 2), scalars=True)
def _batch_norm(ctx, g):
    _, _, training, _, eps = ctx.params
    stats = None if training else ctx.node._ctx.stats[:2]  # (mean, invstd) of the forward (both backends' ctx)
    return recompute(ctx, g, lambda x, w, b, *params: _batch_norm_composition(x, w, b, training, stats, eps),
                     (0, 1, 2))


__all__ = ["convolution_backward"]
