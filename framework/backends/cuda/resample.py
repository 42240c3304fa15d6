"""cuda kernels for resampling along axes (ops/resample.py: interpolate, average pooling, reflect / replicate /
circular padding) and constant padding: the cpu kernels' signatures and results
(framework/backends/numpy/resample.py), computed by triton_kernels.resample (one launch per resampled dim; a
gradient goes back through the transposed tables, gathered, never scattered) and triton_kernels.copy.

Between two passes of a float op the intermediate is float32 (float64 for float64), so 16-bit data is rounded
once, at the end, as on the cpu. The tables are built on the host and uploaded with each call (a few KB).
"""
import numpy as np

from triton_kernels import resample as resample_kernels

from ...autograd.registry import register
from .common import contiguous, copy_into, empty, from_numpy, full


def _accumulate_dtype(dtype):
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _apply(x, steps, dtype):
    """x resampled by each (dim, index, weight) of `steps` in turn; the result in `dtype`."""
    current = contiguous(x)
    for i, (dim, index, weight) in enumerate(steps):
        last = i == len(steps) - 1
        shape = list(current.shape)
        shape[dim] = index.shape[0]
        out = empty(shape, dtype if last or weight is None else _accumulate_dtype(dtype))
        resample_kernels.resample_axis(current, from_numpy(index), None if weight is None else from_numpy(weight),
                                       out, dim)
        current = out
    return current


def _resample_forward(ctx, x, maps):
    if ctx.needs_input_grad:
        ctx.meta = (maps, x.dtype)
    return _apply(x, [(m.dim, m.index, m.weight) for m in maps], x.dtype)


def _resample_backward(ctx, g):
    maps, dtype = ctx.meta
    return (_apply(g, [(m.dim, m.back_index, m.back_weight) for m in reversed(maps)], dtype),)


register("axis_resample", "cuda", _resample_forward, _resample_backward)


def constant_pad(x, pad, value):
    """x padded by the (left, right) pairs `pad` (last dim first; negative amounts crop) with `value`: a fill and a
    strided copy."""
    shape, source, target = list(x.shape), [slice(None)] * x.ndim, [slice(None)] * x.ndim
    kept_any = True
    for i in range(len(pad) // 2):
        dim = x.ndim - 1 - i
        left, right, size = pad[2 * i], pad[2 * i + 1], x.shape[dim]
        kept = max(size - max(-left, 0) - max(-right, 0), 0)
        kept_any = kept_any and kept > 0
        source[dim] = slice(max(-left, 0), max(-left, 0) + kept)
        target[dim] = slice(max(left, 0), max(left, 0) + kept)
        shape[dim] = size + left + right
    out = full(shape, value, x.dtype)
    if kept_any and x.size:
        copy_into(out[tuple(target)], x[tuple(source)])
    return out


def _constant_pad_forward(ctx, x, pad, value):
    if ctx.needs_input_grad:
        ctx.pad = pad
    return constant_pad(x, pad, value)


def _constant_pad_backward(ctx, g):
    return (constant_pad(g, tuple(-p for p in ctx.pad), 0),)


register("constant_pad_nd", "cuda", _constant_pad_forward, _constant_pad_backward, "ConstantPadNdBackward0")
