"""cuda kernels for views, copies and casts: views are CudaArray metadata; copies are triton_kernels.copy."""
import numpy as np

from ...autograd.registry import not_differentiable, register
from .common import call, copy_into, empty, sum_to_shape, zeros


def _remember_shape(ctx, x):
    if ctx.needs_input_grad:
        ctx.shape = x.shape


def _view_forward(ctx, x, shape):
    _remember_shape(ctx, x)
    view = x.reshape_view(shape)
    if view is None:  # the front end checks viewability first; this is its safety net
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one dimension "
                           "spans across two contiguous subspaces). Use .reshape(...) instead.")
    return view


def _reshape_back(ctx, g):
    return g.reshape(ctx.shape)


register("view", "cuda", _view_forward, _reshape_back)
register("unsqueeze", "cuda", _view_forward, _reshape_back)
register("squeeze", "cuda", _view_forward, _reshape_back, "SqueezeBackward1")
register("unsafe_view", "cuda", lambda ctx, x, shape: (_remember_shape(ctx, x), x.reshape(shape))[1], _reshape_back)


def _permute_forward(ctx, x, dims):
    ctx.dims = dims
    return x.transpose(dims)


def _permute_backward(ctx, g):
    return g.transpose(tuple(np.argsort(ctx.dims)))


register("permute", "cuda", _permute_forward, _permute_backward)
register("transpose", "cuda", _permute_forward, _permute_backward)
register("t", "cuda", _permute_forward, _permute_backward, "TBackward0")


def _expand_forward(ctx, x, shape):
    _remember_shape(ctx, x)
    return x.broadcast_to(shape)


register("expand", "cuda", _expand_forward, lambda ctx, g: sum_to_shape(g, ctx.shape))


def _identity_backward(ctx, g):
    return g


register("clone", "cuda", lambda ctx, x, *_: x.copy(), _identity_backward)
register("contiguous", "cuda", lambda ctx, x: x if x.is_contiguous() else x.copy(), _identity_backward,
         "CloneBackward0")
register("alias", "cuda", lambda ctx, x: x.as_strided(x.shape, x.stride()), _identity_backward)


def _cast_forward(ctx, x, np_dtype):
    ctx.source = x.dtype
    return x.astype(np_dtype)


register("to_copy", "cuda", _cast_forward, lambda ctx, g: g.astype(ctx.source), "ToCopyBackward0")


def _slices(dim, start, length):
    return (slice(None),) * dim + (slice(start, start + length),)


def _cat_forward(ctx, *arrays_and_dim):
    *arrays, dim = arrays_and_dim
    if ctx.needs_input_grad:
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] if a.ndim else 0 for a in arrays]
    kept = [a for a in arrays if not (a.ndim == 1 and a.shape[0] == 0)] or arrays[:1]
    shape = list(kept[0].shape)
    shape[dim] = sum(a.shape[dim] for a in kept)
    out = empty(shape, kept[0].dtype)
    start = 0
    for a in kept:
        copy_into(out[_slices(dim, start, a.shape[dim])], a)
        start += a.shape[dim]
    return out


def _cat_backward(ctx, g):
    pieces, start = [], 0
    for size, need in zip(ctx.sizes, ctx.needs_input_grad):
        pieces.append(g[_slices(ctx.dim, start, size)] if need else None)
        start += size
    return tuple(pieces)


register("cat", "cuda", _cat_forward, _cat_backward)


def _split_forward(ctx, x, sections, dim):
    """Views of consecutive pieces of `x` along `dim`, `sections[i]` long each."""
    if ctx.needs_input_grad:
        ctx.shape, ctx.sections, ctx.dim = x.shape, sections, dim
    pieces, start = [], 0
    for length in sections:
        pieces.append(x[_slices(dim, start, length)])
        start += length
    return tuple(pieces)


def _split_backward(ctx, grads):
    dtype = next(g.dtype for g in grads if g is not None)
    out = zeros(ctx.shape, dtype)
    start = 0
    for g, length in zip(grads, ctx.sections):
        if g is not None:
            copy_into(out[_slices(ctx.dim, start, length)], g)
        start += length
    return out


register("split", "cuda", _split_forward, _split_backward)


def _stack_forward(ctx, *arrays_and_dim):
    *arrays, dim = arrays_and_dim
    ctx.dim = dim
    shape = list(arrays[0].shape)
    shape.insert(dim, len(arrays))
    out = empty(shape, arrays[0].dtype)
    for i, a in enumerate(arrays):
        copy_into(out[(slice(None),) * dim + (i,)], a)
    return out


def _stack_backward(ctx, g):
    return tuple(g[(slice(None),) * ctx.dim + (i,)] if need else None for i, need in enumerate(ctx.needs_input_grad))


register("stack", "cuda", _stack_forward, _stack_backward)


def _repeat_forward(ctx, x, repeats):
    _remember_shape(ctx, x)
    ctx.repeats = repeats
    source = x.reshape((1,) * (len(repeats) - x.ndim) + x.shape)
    # The output seen as (r0, s0, r1, s1, ...) is the source broadcast along every r: one strided copy.
    out = empty([r * s for r, s in zip(repeats, source.shape)], x.dtype)
    split_shape = [n for pair in zip(repeats, source.shape) for n in pair]
    split_stride = [n for r, st in zip(repeats, source.stride()) for n in (0, st)]
    if out.size:
        copy_into(out.reshape_view(split_shape), source.as_strided(split_shape, split_stride))
    return out


def _repeat_backward(ctx, g):
    repeats = ctx.repeats
    if 0 in repeats:
        return zeros(ctx.shape, g.dtype)
    split_shape = []
    for r, size in zip(repeats, g.shape):
        split_shape += [r, size // r]
    summed = call("sum", g.reshape(split_shape), tuple(range(0, 2 * len(repeats), 2)), False)
    return summed.reshape(ctx.shape)


register("repeat", "cuda", _repeat_forward, _repeat_backward)


def _has_self_overlap(a):
    return any(stride == 0 and size > 1 for size, stride in zip(a.shape, a.stride()))


def _copy_into(ctx, destination, source):
    """Write `source` into `destination`'s memory (broadcast, cast); the in-place ops' last step."""
    if _has_self_overlap(destination):
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation.")
    if isinstance(source, np.ndarray):  # a host value written into device memory
        from .array import from_numpy
        source = from_numpy(source)
    elif not hasattr(source, "data_ptr"):
        source = source.item() if hasattr(source, "item") else source
    if hasattr(source, "data_ptr") and source.storage is destination.storage:
        source = source.copy()  # reading and writing overlapping memory in one launch is unordered
    copy_into(destination, source)


register("copy_", "cuda", _copy_into, not_differentiable)


def _overwrite_forward(ctx, old, new):
    """The value `new` takes the place of `old` (a fill or copy onto a tensor with history)."""
    ctx.old_shape = old.shape
    return new.copy()


def _overwrite_backward(ctx, g):
    need_old, need_new = ctx.needs_input_grad
    return (zeros(ctx.old_shape, g.dtype) if need_old else None), (g if need_new else None)


register("overwrite", "cuda", _overwrite_forward, _overwrite_backward, "CopyBackwards")
