"""CPU kernels for resampling along axes (ops/resample.py: interpolate, avg and adaptive-avg pooling, reflect /
replicate / circular padding) and for constant padding (ops/padding.py).

"axis_resample" applies one AxisMap per dim: output position j along `dim` is sum_t weight[j, t] *
x[..., index[j, t], ...] (a gather, np.take, and a weighted sum over the taps); its backward applies the
transposed maps (back_index, back_weight) to the gradient in reverse order. float16/bfloat16 compute in
float32 and round once.
"""
import numpy as np

from ...autograd.registry import register
from .common import upcast


def _apply(x, dim, index, weight):
    """x resampled along `dim`: out[..., j, ...] = sum_t weight[j, t] * x[..., index[j, t], ...]."""
    if weight is None and index.shape[1] == 1:
        return np.take(x, index[:, 0], axis=dim)  # a gather (padding): any dtype, exact
    taps = np.take(upcast(x), index, axis=dim)  # x.shape[:dim] + (J, T) + x.shape[dim + 1:]
    if weight is None:
        return taps.sum(axis=dim + 1)
    return np.einsum(taps, list(range(taps.ndim)), weight, [dim, dim + 1],
                     [i for i in range(taps.ndim) if i != dim + 1])


def _resample_forward(ctx, x, maps):
    out = x
    for m in maps:
        out = _apply(out, m.dim, m.index, m.weight)
    if ctx.needs_input_grad:
        ctx.meta = (maps, x.dtype)
    return out.astype(x.dtype, copy=False)


def _resample_backward(ctx, g):
    maps, dtype = ctx.meta
    grad = upcast(g)
    for m in reversed(maps):
        grad = _apply(grad, m.dim, m.back_index, m.back_weight)
    return (grad.astype(dtype, copy=False),)


register("axis_resample", "cpu", _resample_forward, _resample_backward)


def constant_pad(x, pad, value):
    """x padded by the (left, right) pairs `pad` (last dim first; negative amounts crop) with `value`."""
    shape, source, target = list(x.shape), [slice(None)] * x.ndim, [slice(None)] * x.ndim
    for i in range(len(pad) // 2):
        dim = x.ndim - 1 - i
        left, right, size = pad[2 * i], pad[2 * i + 1], x.shape[dim]
        kept = max(size - max(-left, 0) - max(-right, 0), 0)
        source[dim] = slice(max(-left, 0), max(-left, 0) + kept)
        target[dim] = slice(max(left, 0), max(left, 0) + kept)
        shape[dim] = size + left + right
    out = np.full(shape, value, dtype=x.dtype)
    out[tuple(target)] = x[tuple(source)]
    return out


def _constant_pad_forward(ctx, x, pad, value):
    if ctx.needs_input_grad:
        ctx.pad = pad
    return constant_pad(x, pad, value)


def _constant_pad_backward(ctx, g):
    return (constant_pad(g, tuple(-p for p in ctx.pad), 0),)


register("constant_pad_nd", "cpu", _constant_pad_forward, _constant_pad_backward, "ConstantPadNdBackward0")
