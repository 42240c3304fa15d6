"""Differentiable formulas of indexing (framework/ops/indexing.py) and embedding.

Formulas run ops at the registry's level (`run`), on the inputs as the node saw them: the op layer's
argument checks and its 0-d-as-1-d reshapes happened before the node was recorded."""
from ...ops import elementwise as ew
from ..function import run
from . import REST, derivative
from .tools import sum_to, transposed, zeros


@derivative("basic_index")
def _basic_index(ctx, g):
    return transposed(ctx, g)  # zeros with g at the key; its gradient reads the key again


@derivative("index", save=(1, REST), inputs=(0,))
def _index(ctx, g):
    indices = tuple(ctx.input(i) for i in range(1, len(ctx.node._edges)))
    return (transposed(ctx, g, indices),) + (None,) * len(indices)


@derivative("index_select", save=(1,), inputs=(0,))
def _index_select(ctx, g):
    return transposed(ctx, g, (ctx.input(1),)), None


@derivative("gather", save=(1,), inputs=(0,))
def _gather(ctx, g):
    return transposed(ctx, g, (ctx.input(1),)), None


@derivative("masked_select", save=(1,), inputs=(0,))
def _masked_select(ctx, g):
    return transposed(ctx, g, (ctx.input(1),)), None


@derivative("index_put", save=(2, REST), shapes=True, inputs=(0, 1), scalars=True)
def _index_put(ctx, g):
    """x[key] = value: x gets g with the written positions zeroed, value the gradient read back at them."""
    basic_key, dims = ctx.params[:2]
    accumulate = len(ctx.params) > 2 and ctx.params[2]  # index_put(accumulate=True): the values were added to x
    need_x, need_value = ctx.needs_input_grad[:2]
    indices = tuple(ctx.input(i) for i in range(2, len(ctx.node._edges)))
    grad_x = None
    if need_x:
        grad_x = g if accumulate else run("index_put", (g, 0.0) + indices, (basic_key, dims))
    grad_value = None
    if need_value:
        grad_value = run("basic_index", (g,), (basic_key,))
        if indices:
            grad_value = run("index", (grad_value,) + indices, (dims,))
        grad_value = sum_to(grad_value, ctx.shape(1))
    return (grad_x, grad_value) + (None,) * len(indices)


def _source_gradient(g, index, dim, src_shape):
    """What scatter/scatter_add read from `src`: g at the scattered positions, in src's leading corner."""
    picked = run("gather", (g, index), (dim,))
    if tuple(picked.shape) == tuple(src_shape):
        return picked
    corner = tuple(slice(0, size) for size in index.shape)
    return run("index_put", (zeros(src_shape, g), picked), (corner, ()))


@derivative("scatter", save=(1,), shapes=True, inputs=(0, 2))
def _scatter(ctx, g):
    dim = ctx.params[0]  # then, for index_copy and index_fill, which op's bounds error cuda's kernels raise
    need_x, _, need_src = ctx.needs_input_grad
    index = ctx.input(1)
    grad_x = run("scatter", (g, index, 0.0), ctx.params) if need_x else None
    grad_src = _source_gradient(g, index, dim, ctx.shape(2)) if need_src else None
    return grad_x, None, grad_src


@derivative("scatter_add", save=(1,), shapes=True, inputs=(0, 2))
def _scatter_add(ctx, g):
    dim = ctx.params[0]
    need_x, _, need_src = ctx.needs_input_grad
    grad_src = _source_gradient(g, ctx.input(1), dim, ctx.shape(2)) if need_src else None
    return (g if need_x else None), None, grad_src


@derivative("masked_fill", save=(1,), shapes=True, inputs=(0, 2))
def _masked_fill(ctx, g):
    need_x, _, need_value = ctx.needs_input_grad
    mask = ctx.input(1)
    grad_x = sum_to(ew.where(mask, 0.0, g), ctx.shape(0)) if need_x else None
    grad_value = ew.where(mask, g, 0.0).sum() if need_value else None
    return grad_x, None, grad_value


@derivative("embedding", save=(1,), shapes=True, inputs=(0,))
def _embedding(ctx, g):
    """Each looked-up row's gradient added into its row of the table; the padding row gets none."""
    (padding_idx,) = ctx.params
    indices = ctx.input(1)
    shape = ctx.shape(0)
    flat = indices.reshape(-1, 1)
    rows = g.reshape(flat.shape[0], shape[1])
    if padding_idx is not None:
        rows = ew.where(flat != padding_idx, rows, 0.0)
    spread = flat.expand(flat.shape[0], shape[1]).contiguous()
    return run("scatter_add", (zeros(shape, g), spread, rows), (0,)), None
