"""CPU kernels for max pooling (ops/pooling.py: max_pool2d and adaptive_max_pool2d, one op "max_pool2d").

Each window is the product of a row window and a column window (two AxisMaps: the taps' input positions, weight
1 inside the input, 0 for padding). The windows are gathered at once, (planes, Ho, Wo, taps); the value is
their max, the index PyTorch's: the first maximal tap in row-major order, the last nan when there is one, and
the first tap inside the input when every value is the lowest (all -inf), as its CPU kernel scans. The backward
adds each output gradient to the input position its index names (np.bincount: no loop).
"""
import numpy as np

from ...autograd.registry import register


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" or dtype.name == "bfloat16" else np.iinfo(dtype).min


def _max_pool_forward(ctx, x, maps):
    rows, cols = maps
    h, w = x.shape[-2:]
    planes = x.reshape(-1, h, w)
    ho, th = rows.index.shape
    wo, tw = cols.index.shape
    values = planes[:, rows.index[:, :, None, None], cols.index[None, None, :, :]]  # (P, Ho, Th, Wo, Tw)
    values = values.transpose(0, 1, 3, 2, 4).reshape(planes.shape[0], ho, wo, th * tw)
    inside = ((rows.weight != 0)[:, None, :, None] & (cols.weight != 0)[None, :, None, :]).reshape(ho, wo, th * tw)
    lowest = _lowest(x.dtype)
    values = np.where(inside, values, np.array(lowest, dtype=x.dtype))
    best = values.max(axis=-1) if values.shape[-1] else np.full(values.shape[:-1], lowest, x.dtype)
    tap = np.argmax(values, axis=-1)
    if x.dtype.kind == "f" or x.dtype.name == "bfloat16":
        nan = np.isnan(values)
        if nan.any():
            last_nan = nan.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
            tap = np.where(nan.any(axis=-1), last_nan, tap)
    tap = np.where(best == lowest, np.argmax(inside, axis=-1), tap)
    row = rows.index[np.arange(ho)[:, None], tap // tw]
    col = cols.index[np.arange(wo)[None, :], tap % tw]
    indices = (row * w + col).astype(np.int64)
    out_shape = x.shape[:-2] + (ho, wo)
    if ctx.needs_input_grad:
        ctx.meta = (x.shape, x.dtype)
        ctx.save_for_backward(indices)
    return best.reshape(out_shape), indices.reshape(out_shape)


def _max_pool_backward(ctx, grads):
    g = grads[0]  # (the indices output has no gradient)
    (indices,) = ctx.saved_tensors
    shape, dtype = ctx.meta
    h, w = shape[-2:]
    planes = indices.shape[0]
    flat = (indices + (np.arange(planes) * (h * w))[:, None, None]).reshape(-1)
    grad = np.bincount(flat, weights=np.asarray(g, np.float64).reshape(-1), minlength=planes * h * w)
    return (grad.reshape(shape).astype(dtype, copy=False),)


register("max_pool2d", "cpu", _max_pool_forward, _max_pool_backward, "MaxPool2DWithIndicesBackward0")
