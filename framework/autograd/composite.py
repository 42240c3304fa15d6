"""Composite ops recorded as one graph node with PyTorch's name.

An op written as a composition of framework ops (mse_loss, layer_norm, batch_norm, ...) records one node per
piece, so its output would show the last piece's name (`MeanBackward0` for mse_loss). PyTorch shows one node
(`MseLossBackward0`) whose `next_functions` are the op's tensor arguments. `@composite(name, inputs)` gives the
output that node:

    @composite("MseLossBackward0", inputs=("input", "target"))
    def mse_loss(input, target, reduction="mean"):
        return ((input - target) ** 2).mean()

The pieces run and record as before (so the first-order path keeps their kernels, and `create_graph=True` their
differentiable formulas); the output then gets a `CompositeNode` named `name`: it passes each gradient straight
to the node of the composition's output, and shows the edges of the arguments named in `inputs` (`(None, 0)`
for a tensor that needs no gradient or an absent optional one, as PyTorch does). Costs: one identity node per
call, forward and backward.

`name` may be a function of the op's arguments (a dict, defaults filled in) returning the name, or None to
keep the composition's own nodes (PyTorch composes some calls itself: a weighted mse_loss shows DivBackward0).

An in-place op names the node it leaves on its tensor with `rename_inplace` (fill_ shows FillBackward2).
"""
import functools
import inspect

from . import function as _function
from .grad_mode import is_grad_enabled
from .graph import NO_EDGE, Node

_CLASSES = {}


class CompositeNode(Node):
    """Shows a composite op's arguments; passes gradients on to the composition's output nodes unchanged."""

    __slots__ = ("num_outputs", "_shown")

    def __init__(self, edges, shown):
        self._hooks = None
        self._retained = None
        self._edges = edges  # one per output: the node that computed it inside the composition
        self.num_outputs = len(edges)
        self._shown = shown

    @property
    def next_functions(self):
        return self._shown

    def apply(self, grads):
        return tuple(grads)

    apply_graph = apply

    def release(self):
        pass


def composite_class(name):
    """The CompositeNode subclass named `name`, made once (type(out.grad_fn).__name__ is PyTorch's name)."""
    cls = _CLASSES.get(name)
    if cls is None:
        cls = _CLASSES[name] = type(name, (CompositeNode,), {"__slots__": ()})
    return cls


def record(name, shown, output):
    """`output` (a Tensor or tuple of Tensors from a composition) with one node named `name` whose
    next_functions show the tensors in `shown` (None for an absent optional tensor). Outputs that are not
    in the graph (no grad_fn) are returned as they are."""
    outputs = output if isinstance(output, tuple) else (output,)
    inner = [isinstance(out, _function.Tensor) and out.grad_fn is not None and not any(out is t for t in shown)
             for out in outputs]  # an argument returned as it is keeps its own history
    if not any(inner):
        return output
    edges = tuple(_function._edge(out) if keep else None for out, keep in zip(outputs, inner))
    shown_edges = tuple(edge_of(t) for t in shown)
    node = composite_class(name)(edges, shown_edges)
    wrapped = []
    for nr, (out, edge) in enumerate(zip(outputs, edges)):
        if edge is None:
            wrapped.append(out)
            continue
        result = _function.Tensor._from_raw(out._data, out._device)
        result._version_counter = out._version_counter  # the same storage
        result._base, result._base_grad_fn = out._base, out._base_grad_fn  # a view stays a view
        result.grad_fn, result._output_nr, result._requires_grad = node, nr, True
        wrapped.append(result)
    return tuple(wrapped) if isinstance(output, tuple) else wrapped[0]


def composite(name, inputs=()):
    """Decorate a composite op so that its output records as one node named `name` (see the module doc).
    `inputs` names the op's tensor parameters PyTorch's node lists, in PyTorch's order."""
    def decorate(fn):
        signature = inspect.signature(fn)
        parameters = list(signature.parameters)
        getters = tuple((parameters.index(p), p, signature.parameters[p].default) for p in inputs)

        @functools.wraps(fn)
        def op(*args, **kwargs):
            if _function.AUTOCAST is not None:  # the composition takes the op's autocast policy as a whole
                args = _function.AUTOCAST(fn.__name__, args)
                if kwargs:
                    names = tuple(kwargs)
                    kwargs = dict(zip(names, _function.AUTOCAST(fn.__name__, tuple(kwargs[n] for n in names))))
            out = fn(*args, **kwargs)
            if not is_grad_enabled():
                return out
            node_name = name
            if callable(name):
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                node_name = name(bound.arguments)
            if node_name is None:
                return out
            shown = [args[i] if i < len(args) else kwargs.get(p, default) for i, p, default in getters]
            return record(node_name, shown, out)
        return op
    return decorate


def rename_inplace(tensor, name, shown):
    """After an in-place op recorded `tensor`'s new history, show it as one node named `name` whose
    next_functions are `shown` (edges taken before the op: `edge_of(tensor)`)."""
    if tensor.grad_fn is None or not is_grad_enabled():
        return tensor
    node = composite_class(name)(((tensor.grad_fn, tensor._output_nr),), tuple(shown))
    tensor.grad_fn, tensor._output_nr = node, 0
    return tensor


def edge_of(tensor):
    """What a node shows for `tensor`: its edge, or (None, 0) when it needs no gradient or is absent."""
    return (_function._edge(tensor) or NO_EDGE) if isinstance(tensor, _function.Tensor) else NO_EDGE
