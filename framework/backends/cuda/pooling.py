"""cuda kernels for max pooling (ops/pooling.py: max_pool2d and adaptive_max_pool2d, one op): the cpu kernels'
signatures and results (framework/backends/numpy/pooling.py), computed by triton_kernels.pool from the windows'
row and column tables (uploaded with each call); the backward gathers by the transposed tables (no atomics)."""
import numpy as np

from triton_kernels import pool as pool_kernels

from ...autograd.registry import register
from .common import contiguous, empty, from_numpy


def _forward(ctx, x, maps):
    rows, cols = maps
    h, w = x.shape[-2:]
    planes = contiguous(x).reshape((-1, h, w))
    shape = (planes.shape[0], rows.index.shape[0], cols.index.shape[0])
    out, indices = empty(shape, x.dtype), empty(shape, np.int64)
    pool_kernels.max_pool_forward(planes, from_numpy(rows.index), from_numpy(rows.weight), from_numpy(cols.index),
                                  from_numpy(cols.weight), out, indices)
    if ctx.needs_input_grad:
        ctx.save_for_backward(indices)
        ctx.meta = (x.shape, maps)
    out_shape = tuple(x.shape[:-2]) + shape[1:]
    return out.reshape(out_shape), indices.reshape(out_shape)


def _backward(ctx, grads):
    (indices,) = ctx.saved_tensors
    shape, (rows, cols) = ctx.meta
    g = contiguous(grads[0]).reshape(indices.shape)
    grad = empty((indices.shape[0],) + tuple(shape[-2:]), g.dtype)
    pool_kernels.max_pool_backward(g, indices, from_numpy(rows.back_index), from_numpy(rows.back_weight),
                                   from_numpy(cols.back_index), from_numpy(cols.back_weight), grad)
    return (grad.reshape(shape),)


register("max_pool2d", "cuda", _forward, _backward, "MaxPool2DWithIndicesBackward0")
