"""CPU kernels for views, copies and casts. Views return numpy views (metadata only)."""
import numpy as np

from ...autograd.registry import not_differentiable, register
from .common import sum_to_shape


def _remember_shape(ctx, x):
    if ctx.needs_input_grad:
        ctx.shape = x.shape


def _view_forward(ctx, x, shape):
    _remember_shape(ctx, x)
    return x.reshape(shape, copy=False)


def _reshape_back(ctx, g):
    return g.reshape(ctx.shape)


register("view", "cpu", _view_forward, _reshape_back)
register("unsqueeze", "cpu", _view_forward, _reshape_back)
register("squeeze", "cpu", _view_forward, _reshape_back, "SqueezeBackward1")
register("unsafe_view", "cpu", lambda ctx, x, shape: (_remember_shape(ctx, x), x.reshape(shape))[1], _reshape_back)


def _permute_forward(ctx, x, dims):
    ctx.dims = dims
    return x.transpose(dims)


def _permute_backward(ctx, g):
    return g.transpose(np.argsort(ctx.dims))


register("permute", "cpu", _permute_forward, _permute_backward)
register("transpose", "cpu", _permute_forward, _permute_backward)
register("t", "cpu", _permute_forward, _permute_backward, "TBackward0")


def _expand_forward(ctx, x, shape):
    _remember_shape(ctx, x)
    return np.broadcast_to(x, shape)


def _expand_backward(ctx, g):
    return sum_to_shape(g, ctx.shape)


register("expand", "cpu", _expand_forward, _expand_backward)


def _copy_forward(ctx, x, *_):
    return x.copy()


def _identity_backward(ctx, g):
    return g


register("clone", "cpu", _copy_forward, _identity_backward)
register("contiguous", "cpu", lambda ctx, x: np.ascontiguousarray(x), _identity_backward, "CloneBackward0")
register("alias", "cpu", lambda ctx, x: x.view(), _identity_backward)


def _cast_forward(ctx, x, np_dtype):
    ctx.source = x.dtype
    return x.astype(np_dtype)


def _cast_backward(ctx, g):
    return g.astype(ctx.source)


register("to_copy", "cpu", _cast_forward, _cast_backward, "ToCopyBackward0")


def _cat_forward(ctx, *arrays_and_dim):
    *arrays, dim = arrays_and_dim
    if ctx.needs_input_grad:
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] if a.ndim else 0 for a in arrays]
    kept = [a for a in arrays if not (a.ndim == 1 and a.shape[0] == 0)] or arrays[:1]
    return np.concatenate(kept, axis=dim)


def _cat_backward(ctx, g):
    bounds = np.cumsum(ctx.sizes)[:-1]
    pieces = np.split(g, bounds, axis=ctx.dim)
    return tuple(p if need else None for p, need in zip(pieces, ctx.needs_input_grad))


register("cat", "cpu", _cat_forward, _cat_backward)


def _split_forward(ctx, x, sections, dim):
    """Views of consecutive pieces of `x` along `dim`, `sections[i]` long each."""
    if ctx.needs_input_grad:
        ctx.shape, ctx.sections, ctx.dim = x.shape, sections, dim
    return tuple(np.split(x, np.cumsum(sections)[:-1], axis=dim))


def _split_backward(ctx, grads):
    dtype = next(g.dtype for g in grads if g is not None)
    out = np.zeros(ctx.shape, dtype=dtype)
    index = [slice(None)] * len(ctx.shape)
    start = 0
    for g, length in zip(grads, ctx.sections):
        if g is not None:
            index[ctx.dim] = slice(start, start + length)
            out[tuple(index)] = g
        start += length
    return out


register("split", "cpu", _split_forward, _split_backward)


def _stack_forward(ctx, *arrays_and_dim):
    *arrays, dim = arrays_and_dim
    ctx.dim = dim
    return np.stack(arrays, axis=dim)


def _stack_backward(ctx, g):
    return tuple(np.take(g, i, axis=ctx.dim) if need else None for i, need in enumerate(ctx.needs_input_grad))


register("stack", "cpu", _stack_forward, _stack_backward)


def _repeat_forward(ctx, x, repeats):
    _remember_shape(ctx, x)
    ctx.repeats = repeats
    padded = x.reshape((1,) * (len(repeats) - x.ndim) + x.shape)
    return np.tile(padded, repeats)


def _repeat_backward(ctx, g):
    repeats = ctx.repeats
    if 0 in repeats:
        return np.zeros(ctx.shape, dtype=g.dtype)
    split_shape = []
    for r, size in zip(repeats, g.shape):
        split_shape += [r, size // r]
    summed = g.reshape(split_shape).sum(axis=tuple(range(0, 2 * len(repeats), 2)))
    return summed.reshape(ctx.shape)


register("repeat", "cpu", _repeat_forward, _repeat_backward)


def _copy_into(ctx, destination, source):
    """Write `source` into `destination`'s memory (broadcast, cast); the in-place ops' last step."""
    if not destination.flags.writeable:
        if any(stride == 0 and size > 1 for stride, size in zip(destination.strides, destination.shape)):
            raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                               "single memory location. Please clone() the tensor before performing the operation.")
        raise RuntimeError("unsupported operation: the written-to tensor's memory is read-only (a read-only NumPy "
                           "array or DLPack capsule). Please clone() the tensor before performing the operation.")
    np.copyto(destination, source, casting="unsafe")


register("copy_", "cpu", _copy_into, not_differentiable)


def _overwrite_forward(ctx, old, new):
    """The value `new` takes the place of `old` (a fill or copy onto a tensor with history)."""
    ctx.old_shape = old.shape
    return new.copy()


def _overwrite_backward(ctx, g):
    need_old, need_new = ctx.needs_input_grad
    return (np.zeros(ctx.old_shape, dtype=g.dtype) if need_old else None), (g if need_new else None)


register("overwrite", "cpu", _overwrite_forward, _overwrite_backward, "CopyBackwards")
