"""Differentiable formulas of the ops that move or pick elements without changing them (framework/ops/rearrange.py,
framework/ops/matrix.py): each is linear in its input, so its gradient is its backward kernel applied to the
incoming gradient, and the gradient of that is the op itself (`transposed`). block_diag, linear in every input,
hands each block its slice of the gradient."""
from . import derivative
from .tools import transposed


def _linear(ctx, g):
    return transposed(ctx, g)


for _op in ("flip", "roll", "rot90", "tril", "triu", "diagonal", "diagonal_copy", "diag_embed", "trace"):
    derivative(_op)(_linear)


@derivative("block_diag", shapes=True)
def _block_diag(ctx, g):
    grads, row, col = [], 0, 0
    for i, need in enumerate(ctx.needs_input_grad):
        rows, cols = ctx.shape(i)  # the op layer made every block 2-D
        grads.append(g[row:row + rows, col:col + cols] if need else None)
        row, col = row + rows, col + cols
    return tuple(grads)
