"""Differentiable backward formulas: one per differentiable registry op, run when a graph of the backward is
asked for (`create_graph=True`).

The registry (autograd/registry.py) pairs every op with raw-array kernels; those stay the first-order path.
Here each op's derivative is written once more, in framework ops (Tensor operations, which record nodes of
their own), so the gradients it returns can be differentiated again: Hessian-vector products, gradient
penalties, `autograd.functional.hessian`. The formulas run on every device, because framework ops do.

    @derivative("exp", kernel_saves="output")
    def _exp(ctx, g):
        return g * ctx.output()

`derivative(op, ...)` declares what the formula reads, PyTorch's derivatives.yaml way, so that recording a
node keeps exactly that: `save` the input positions whose values it needs (a position; `(position, users)`:
saved only when an input at `users` needs a gradient, as the kernels save operands; REST, last: every later
input), `output` whether it needs the op's output(s), `shapes` whether it needs the inputs' shapes. `run`
captures those when it records a node (references to arrays, their version counters for the in-place check,
shapes). Most ops capture nothing more than their kernels already keep: `kernel_saves` ("input"/"output")
reads the one array a unary kernel saves, `operands` the operands a binary kernel keeps with
KernelContext.save_operands. `inputs` lists the positions PyTorch's node shows in `next_functions` (its
differentiable tensor arguments, in its order; default: every tensor argument), `scalars` whether it shows
Python-number operands as (None, 0).

A formula gets a `SavedContext` and the output gradient (a list of them for multi-output ops, None where no
gradient arrives) and returns one gradient (or None) per input. Saved values come back as Tensors attached to
the graph where the originals were, so the formula's own gradient reaches the op's inputs.

New ops plug in by adding one `@derivative` next to the others of their family: tests/autograd/test_derivatives
fails for any differentiable registry op without one, and for one that no case of its table reaches.
`tools` has the shared pieces: sum_to/restore, `transposed` (ops linear in one input), `recompute` (fused ops:
the gradient of the composition they fuse), `kernel_vjp` (a derivative only the kernels can compute).
"""
from typing import Callable, NamedTuple

from .. import function as _function
from ..graph import _SAVED_FREED, FREED_MESSAGE, NO_EDGE, AccumulateGrad, _check_versions


class Derivative(NamedTuple):
    backward: Callable
    save: tuple
    output: bool
    shapes: bool
    inputs: tuple | None
    scalars: object
    operands: bool
    kernel_saves: str | None


# op -> Derivative. Ops that are not in the registry appear too: "to_device" (backends/transfer.py).
DERIVATIVES: dict[str, Derivative] = {}


def derivative(op, *, save=(), output=False, shapes=False, keep=None, inputs=None, scalars=False, operands=False,
               kernel_saves=None):
    """Register the decorated `backward(ctx, grad)` as `op`'s differentiable formula. `keep(inputs)`, instead of
    `shapes`, captures something else small about the inputs (to_copy: the source dtype), read as `ctx.kept`.
    `scalars`: PyTorch wraps this op's Python-number operands in tensors, so its node shows them as (None, 0)
    (x * 2, x / 2, where(c, x, 0.0)); a function of the node says it per node.
    `operands`: a binary op whose kernels keep their operands with KernelContext.save_operands (the same rule on
    every device): the formula reads the operands and their shapes from there, and nothing is captured for
    them (the most frequent ops record at no extra cost).
    `kernel_saves`: "input" or "output": the op's kernels save exactly input 0 (or the output) as their one saved
    array on every device (tests/autograd/test_derivatives checks it): the formula reads it from there."""
    conditions = tuple(item[1] if isinstance(item, tuple) else None for item in save)
    if REST in save and save[-1] is not REST:
        raise ValueError("REST must come last in `save`")
    positions = tuple(item[0] if isinstance(item, tuple) else item for item in save)

    def register(backward):
        DERIVATIVES[op] = Derivative(backward, positions, output, shapes, inputs, scalars, operands, kernel_saves)
        capture = _capture(op, positions, conditions, output, keep or shapes)
        if capture is not None:
            _function.CAPTURES[op] = capture
        return backward
    return register


def shown_edges(node):
    """What PyTorch's node shows in `next_functions` for a KernelNode: the edges of its differentiable tensor
    arguments, in PyTorch's order, with (None, 0) for those that need no gradient."""
    found = DERIVATIVES.get(node._op)
    edges = node._edges
    if found is None:
        return tuple(edge for edge in edges if edge is not None)
    if found.inputs is not None:
        edges = [edges[i] for i in found.inputs if i < len(edges)]
    scalars = found.scalars(node) if callable(found.scalars) else found.scalars
    if scalars:
        return tuple(NO_EDGE if edge is None else edge for edge in edges)
    return tuple(edge for edge in edges if edge is not None)


# ---- what `run` captures when it records a node -----------------------------------------------

_NOT_SAVED = (None, None, None)
REST = "rest"  # in `save`: every input after the listed positions (the index tensors of `index`, ...)


def _keep_outputs(out):
    if type(out) is not tuple:
        counter = out._version_counter
        return ((out._data, counter, counter[0]),)
    return tuple((o._data, o._version_counter, o._version_counter[0]) for o in out)


def _capture(op, save, conditions, output, shapes):
    """The function `run` calls on (inputs, output) when it records a node: (saved inputs aligned by position,
    saved outputs, input shapes), each None when not declared. It runs on every recorded op of the first-order
    path, so it is straight-line code generated for the op's number of inputs (loops in Python would cost as
    much as the op's other bookkeeping); a call with another number of inputs (cat, index) takes the code
    generated for that number."""
    if not (save or output or shapes):
        return None
    by_arity = {}

    def other_arity(inputs, out):
        generated = by_arity.get(len(inputs))
        if generated is None:
            generated = by_arity[len(inputs)] = _generate(len(inputs), save, conditions, output, shapes, other_arity)
            _function.CAPTURES[op] = generated  # the latest arity goes first
        return generated(inputs, out)
    return other_arity


def _generate(arity, save, conditions, output, shapes, fallback):
    names = [f"x{i}" for i in range(arity)]
    wanted = dict(zip(save, conditions))
    if REST in wanted:
        listed = [i for i in save if i is not REST]
        for i in range(listed[-1] + 1 if listed else 0, arity):
            wanted[i] = None
    kept = []
    for i, name in enumerate(names):
        if i not in wanted:
            kept.append("NOT")
            continue
        item = (f"(({name}._data, {name}._version_counter, {name}._version_counter[0]) if isinstance({name}, T) "
                f"else ({name}, None, None))")
        users = wanted[i]
        if users is not None:
            need = " or ".join(f"(isinstance(x{j}, T) and x{j}._requires_grad)" for j in users if j < arity)
            item = f"({item} if {need or 'False'} else NOT)"
        kept.append(item)
    lines = ["def generated(inputs, out):",
             f"    if len(inputs) != {arity}:",
             "        return fallback(inputs, out)"]
    if arity:
        lines.append(f"    {', '.join(names)}, = inputs")
    kept_code = f"({', '.join(kept)},)" if save and arity else "None"
    out_code = "keep_outputs(out)" if output else "None"
    if callable(shapes):
        meta_code = "extra(inputs)"
    elif shapes and arity:
        meta_code = "(" + ", ".join(f"({name}._data.shape if isinstance({name}, T) else None)"
                                    for name in names) + ",)"
    else:
        meta_code = "None"
    lines.append(f"    return ({kept_code}, {out_code}, {meta_code})")
    scope = {"T": _function.Tensor, "NOT": _NOT_SAVED, "keep_outputs": _keep_outputs, "extra": shapes,
             "fallback": fallback}
    exec("\n".join(lines), scope)  # noqa: S102 - code built above from positions, never from input
    return scope["generated"]


# ---- what a formula reads ---------------------------------------------------------------------

class SavedContext:
    """A formula's view of its node: `params`, `needs_input_grad`, and the saved values as Tensors."""

    __slots__ = ("node", "params", "needs_input_grad", "_derivative", "_cache")

    def __init__(self, node, derivative):
        self.node = node
        self.params = node._params
        self.needs_input_grad = node._ctx.needs_input_grad
        self._derivative = derivative
        self._cache = {}

    def _saved(self):
        saved = self.node._saved
        if saved is _SAVED_FREED:
            raise RuntimeError(FREED_MESSAGE)
        return saved

    def input(self, i):
        """Input `i` (declared in `save`): a Tensor attached where the original was, or the Python value."""
        key = ("in", i)
        if key not in self._cache and self._derivative.kernel_saves == "input":
            self._cache[key] = reattach(self.node._ctx.saved_tensors[0], self.node._edges[0])
        if key not in self._cache and self._derivative.operands:
            raw = self.node._ctx.saved_tensors[i]  # its version was checked with the kernel's (apply_graph)
            self._cache[key] = raw if raw is None or isinstance(raw, (bool, int, float)) else \
                reattach(raw, self.node._edges[i])
        if key not in self._cache:
            raw, counter, version = self._saved()[0][i]
            if counter is None:
                self._cache[key] = raw
            else:
                edge = self.node._edges[i]
                tensor = reattach(raw, edge)
                if counter[0] != version:
                    output_of = edge[0].name() if edge[0] is not None and type(edge[0]) is not AccumulateGrad \
                        else None
                    _check_versions(self.node, [(counter, version, tensor.shape, tensor._dtype, output_of)])
                self._cache[key] = tensor
        return self._cache[key]

    def output(self, k=0):
        """Output `k` of the op (`output=True`): a Tensor whose grad_fn is this node."""
        key = ("out", k)
        if key not in self._cache:
            if self._derivative.kernel_saves == "output":  # its version was checked with the kernel's
                tensor = _function.Tensor._from_raw(self.node._ctx.saved_tensors[0])
            else:
                raw, counter, version = self._saved()[1][k]
                tensor = _function.Tensor._from_raw(raw)
                if counter[0] != version:
                    _check_versions(self.node, [(counter, version, tensor.shape, tensor._dtype, self.node.name())])
            if tensor._dtype.is_floating_point:
                tensor.grad_fn, tensor._output_nr, tensor._requires_grad = self.node, k, True
            self._cache[key] = tensor
        return self._cache[key]

    def shape(self, i):
        """Input `i`'s shape (`shapes=True`, or `operands=True`), or None when it was not a tensor."""
        if self._derivative.operands:
            return self.node._ctx.operand_shapes[i]
        return self._saved()[2][i]

    @property
    def kept(self):
        """What the derivative's `keep(inputs)` captured."""
        return self._saved()[2]

    def reduce(self, grad, i):
        """`grad` summed to input `i`'s shape (undoing broadcasting), or None when `i` needs no gradient."""
        if not self.needs_input_grad[i] or grad is None:
            return None
        from .tools import sum_to
        return sum_to(grad, self.shape(i))


def reattach(raw, edge):
    """A Tensor over `raw` that sits in the graph at `edge`: gradients flowing into it reach that edge."""
    tensor = _function.Tensor._from_raw(raw)
    if edge is None or edge[0] is None:
        return tensor
    node, nr = edge
    tensor._requires_grad = True
    if type(node) is AccumulateGrad:
        tensor._accumulator = lambda: node  # a leaf: its gradient accumulates where the original's does
    else:
        tensor.grad_fn, tensor._output_nr = node, nr
    return tensor


def apply_formula(node, grads):
    """Run `node`'s differentiable formula on `grads` (Tensors); one gradient per input, None where none is
    needed."""
    derivative = DERIVATIVES.get(node._op)
    if derivative is None:
        raise RuntimeError(f"the derivative of {node.name()} has no differentiable formula: create_graph=True "
                           "(higher-order gradients) cannot go through it")
    result = derivative.backward(SavedContext(node, derivative), grads)
    if type(result) is not tuple:
        result = (result,)
    needs = node._ctx.needs_input_grad
    result = tuple(g if need else None for g, need in zip(result, needs))
    return result + (None,) * (len(node._edges) - len(result))


def load():
    """Register every family's formulas (framework/__init__ calls this once the ops exist)."""
    from . import elementwise, index_ops, indexing, matrix, nn, normalization, products, reduction, shape  # noqa: F401
    from . import attention, cnn, scan, sorting  # noqa: F401
