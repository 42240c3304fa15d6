"""Composed ops that show as PyTorch's one node: `composite("HuberLossBackward0", fn, input, target)`.

An op PyTorch keeps whole (huber_loss, soft_margin_loss, prelu) can be written here as a few framework
ops, so that every device that runs those runs it, without a kernel pair of its own. Recorded plainly, its
`grad_fn` would name the last of those ops (`MeanBackward0`, `WhereBackward0`) and its `next_functions`
would lead to the inner ops. `composite` records one node instead, named as PyTorch names it, whose edges
lead to the op's inputs as PyTorch's do; its backward runs the inner graph's backward (kept, privately, for
that) and hands each input its gradient. Without a gradient to record, `fn` simply runs.
"""
from .engine import run_backward
from .function import _edge
from .grad_mode import is_grad_enabled
from .graph import _SAVED_FREED, FREED_MESSAGE, Node

class CompositeNode(Node):
    """The node of a composed op: its backward differentiates the inner graph from `out` to `leaves`."""

    __slots__ = ("_inner",)

    def __init__(self, out, leaves, next_functions):
        self._hooks = None
        self._retained = None
        self._inner = (out, leaves)
        self.next_functions = next_functions

    def apply(self, grads):
        if self._inner is _SAVED_FREED:
            raise RuntimeError(FREED_MESSAGE)
        out, leaves = self._inner
        wanted = [_edge(leaf) for leaf in leaves if leaf is not None]
        # the inner graph is kept while this node is: a retained outer graph can run its backward again
        captured = run_backward([_edge(out)], [grads[0]], retain_graph=True, capture=wanted)
        return tuple(None if leaf is None else captured.get(_edge(leaf)) for leaf in leaves)

    def release(self):
        self._inner = _SAVED_FREED


_CLASSES = {}


def _node_class(name):
    cls = _CLASSES.get(name)
    if cls is None:
        cls = _CLASSES[name] = type(name, (CompositeNode,), {"__slots__": ()})
    return cls


def composite(node_name, fn, *inputs):
    """`fn(*inputs)` (one Tensor out), recorded as one node named `node_name` with an edge to each input."""
    from ..tensor import Tensor  # late: the tensor module imports autograd
    if not is_grad_enabled() or not any(isinstance(x, Tensor) and x._requires_grad for x in inputs):
        return fn(*inputs)
    # fresh leaves over the same storage and version counter: in-place changes to an input are still caught
    args = tuple(x.detach().requires_grad_(x._requires_grad) if isinstance(x, Tensor) else x for x in inputs)
    out = fn(*args)
    if out.grad_fn is None:  # nothing differentiable came out (an integer result, say)
        return out
    leaves = tuple(a if isinstance(a, Tensor) and a._requires_grad else None for a in args)
    edges = tuple(_edge(x) if leaf is not None else None for x, leaf in zip(inputs, leaves))
    result = Tensor._from_raw(out._data, out._device)
    result._version_counter = out._version_counter  # one storage: in-place changes reach the inner checks
    result.grad_fn = _node_class(node_name)(out, leaves, edges)
    result._requires_grad = True
    return result
