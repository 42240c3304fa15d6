"""Differentiable formulas of views, copies, casts and joins (framework/ops/shape.py, backends/transfer.py)."""
from ...ops import shape as sh
from . import derivative
from .tools import sum_to, zeros


def _reshape_back(ctx, g):
    return g.reshape(ctx.shape(0))


for _op in ("view", "unsqueeze", "squeeze", "unsafe_view"):
    derivative(_op, shapes=True)(_reshape_back)


def _permute_back(ctx, g):
    (dims,) = ctx.params
    inverse = [0] * len(dims)
    for position, dim in enumerate(dims):
        inverse[dim] = position
    return g.permute(inverse)


for _op in ("permute", "transpose", "t"):
    derivative(_op)(_permute_back)


@derivative("expand", shapes=True)
def _expand(ctx, g):
    return sum_to(g, ctx.shape(0))


for _op in ("clone", "contiguous", "alias"):
    derivative(_op)(lambda ctx, g: g)


@derivative("to_copy", keep=lambda inputs: inputs[0]._dtype)
def _to_copy(ctx, g):
    return g.to(ctx.kept)


@derivative("to_device")
def _to_device(ctx, g):
    (source,) = ctx.params
    return g.to(source)


@derivative("overwrite", shapes=True)
def _overwrite(ctx, g):
    need_old, need_new = ctx.needs_input_grad
    return (zeros(ctx.shape(0), g) if need_old else None), (g if need_new else None)


@derivative("cat", shapes=True)
def _cat(ctx, g):
    (dim,) = ctx.params
    grads, start = [], 0
    for i, need in enumerate(ctx.needs_input_grad):
        shape = ctx.shape(i)
        skipped = len(shape) == 1 and shape[0] == 0 and g.ndim != 1  # cat leaves out 1-d empty tensors
        size = 0 if skipped else shape[dim]
        if not need:
            grads.append(None)
        elif skipped:
            grads.append(zeros(shape, g))
        else:
            grads.append(sh.narrow(g, dim, start, size))
        start += size
    return tuple(grads)


@derivative("stack")
def _stack(ctx, g):
    (dim,) = ctx.params
    return tuple(sh.select(g, dim, i) if need else None for i, need in enumerate(ctx.needs_input_grad))


@derivative("split", shapes=True)
def _split(ctx, grads):
    sections, dim = ctx.params
    shape = ctx.shape(0)
    like = next(g for g in grads if g is not None)
    pieces = [g if g is not None else zeros(shape[:dim] + (size,) + shape[dim + 1:], like)
              for g, size in zip(grads, sections)]
    return sh.cat(pieces, dim)


@derivative("repeat", shapes=True)
def _repeat(ctx, g):
    (repeats,) = ctx.params
    shape = ctx.shape(0)
    if 0 in repeats:
        return zeros(shape, g)
    padded = (1,) * (len(repeats) - len(shape)) + tuple(shape)
    split_shape = []
    for count, size in zip(repeats, padded):
        split_shape += [count, size]
    summed = g.reshape(split_shape).sum(tuple(range(0, 2 * len(repeats), 2)))
    return summed.reshape(shape)
