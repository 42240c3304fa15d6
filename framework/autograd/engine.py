"""The backward engine: walks the graph from the roots without recursion.

Dependencies are counted with an explicit stack, then nodes run once all of
their consumers have delivered gradients, so a chain 100,000 ops deep needs no
Python recursion.

Two modes share the walk. The first-order one passes raw backend arrays and runs
each node's backward kernel with grad mode off. With `create_graph`, gradients
are Tensors, grad mode stays on and each node runs its differentiable formula
(`Node.apply_graph`), so the gradients carry a graph of their own.
"""
import warnings

import operator

from ..graphs import recording
from .grad_mode import set_grad_enabled
from .graph import AccumulateGrad
from .hooks import checked_result

_CYCLE_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the parameter and its gradient "
    "which can cause a memory leak. We recommend using autograd.grad when creating the graph to avoid this. If you "
    "have to use this function, make sure to reset the .grad fields of your parameters to None after use to break "
    "the cycle and avoid the leak.")

# One list per backward pass running (a hook may start another): callbacks queued during it run when it ends.
_callback_lists = []


def queue_callback(callback):
    """Run `callback()` once the backward pass now running has finished (PyTorch's
    `Variable._execution_engine.queue_callback`): DistributedDataParallel waits for its
    gradient reductions there. Callbacks queued by a callback run too, in order."""
    if not _callback_lists:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    _callback_lists[-1].append(callback)


def _collect(roots):
    """Count, for every node reachable from `roots`, how many edges point at it."""
    dependencies = {}
    seen = set(roots)
    stack = list(seen)
    while stack:
        node = stack.pop()
        for edge in node._edges:
            if edge is None:
                continue
            child = edge[0]
            if child is None:
                continue
            dependencies[child] = dependencies.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return dependencies, seen


def _needed(nodes, targets):
    """Nodes with a path (of one edge or more) to a target: the only ones autograd.grad must run.
    A target itself runs only when another target lies below it."""
    needed = set()
    state = {}
    for start in nodes:
        if start in state:
            continue
        stack = [start]
        while stack:
            node = stack[-1]
            if node not in state:
                state[node] = 0
                for edge in node._edges:
                    if edge is not None and edge[0] is not None and edge[0] not in state:
                        stack.append(edge[0])
                continue
            stack.pop()
            if state[node] == 1:
                continue
            state[node] = 1
            if any(e is not None and (e[0] in targets or e[0] in needed) for e in node._edges):
                needed.add(node)
    return needed


def run_backward(roots, root_grads, retain_graph, create_graph=False, capture=None):
    """Backpropagate (see _run_backward), then run the callbacks queued meanwhile."""
    callbacks = []
    _callback_lists.append(callbacks)
    try:
        captured = _run_backward(roots, root_grads, retain_graph, create_graph, capture)
        for callback in callbacks:  # a list that may grow while it is read
            callback()
    finally:
        _callback_lists.pop()
    return captured


def _run_backward(roots, root_grads, retain_graph, create_graph=False, capture=None):
    """Backpropagate `root_grads` from `roots` (edges `(node, output_nr)`).

    `root_grads` are raw arrays, or Tensors with `create_graph` (then every gradient is a Tensor
    and what computes it is recorded).
    Without `capture`, gradients accumulate into the leaves' `.grad`.
    With `capture` (a list of edges, for `autograd.grad`), the gradients arriving
    at those edges are returned instead, and no `.grad` is touched.
    """
    root_nodes = [edge[0] for edge in roots]
    dependencies, nodes = _collect(root_nodes)
    add = operator.add if create_graph else recording.add  # raw sums are recorded by a graph capture
    buffers = {}
    for (node, nr), grad in zip(roots, root_grads):
        slots = buffers.setdefault(node, [None] * node.num_outputs)
        slots[nr] = grad if slots[nr] is None else add(slots[nr], grad)

    captured = None
    wanted = None
    if capture is not None:
        targets = {node for node, _ in capture}
        needed = _needed(set(root_nodes), targets)
        wanted = needed | targets
        captured = {}
    ready = [node for node in buffers if dependencies.get(node, 0) == 0]
    warned = False
    with set_grad_enabled(create_graph):
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None) or [None] * node.num_outputs
            if node._hooks is not None or node._retained is not None:
                grads = _run_hooks(node, grads, create_graph)
            if capture is not None:
                for edge in capture:
                    if edge[0] is node:
                        captured[edge] = grads[edge[1]]
                if node not in needed:
                    continue
            if type(node) is AccumulateGrad:
                if capture is None and grads[0] is not None:
                    if create_graph:
                        if not warned:
                            warnings.warn(_CYCLE_WARNING, UserWarning, stacklevel=4)
                            warned = True
                        node.accumulate_graph(grads[0])
                    else:
                        node.accumulate(grads[0])
                continue
            if all(g is None for g in grads):
                outputs = (None,) * len(node._edges)
            else:
                outputs = node.apply_graph(grads) if create_graph else node.apply(grads)
                if not retain_graph:
                    node.release()
            for edge, grad in zip(node._edges, outputs):
                if edge is None:
                    continue
                child, nr = edge
                if child is None:
                    continue
                if grad is not None:
                    slots = buffers.get(child)
                    if slots is None:
                        slots = buffers[child] = [None] * child.num_outputs
                    slots[nr] = grad if slots[nr] is None else add(slots[nr], grad)
                remaining = dependencies[child] - 1
                dependencies[child] = remaining
                if remaining == 0 and (capture is None or child in wanted):
                    ready.append(child)
    return captured


def _run_hooks(node, grads, create_graph):
    """Tensor hooks on the node's outputs (they may replace a gradient), then retain_grad's `.grad`."""
    grads = list(grads)
    if node._hooks:
        for nr, hooks in node._hooks.items():
            for hook in list(hooks):
                if grads[nr] is None:
                    continue
                grad = grads[nr] if create_graph else _as_tensor(grads[nr])
                replaced = checked_result(hook, grad, hook(grad))
                if replaced is not None:
                    grads[nr] = replaced if create_graph else replaced._data
    if node._retained:
        for nr, ref in node._retained.items():
            tensor = ref()
            if tensor is None or grads[nr] is None:
                continue
            if create_graph:
                tensor.grad = grads[nr].clone() if tensor.grad is None else tensor.grad + grads[nr]
            elif tensor.grad is None:
                tensor.grad = recording.first_gradient(tensor, grads[nr])  # a copy, which a graph capture records
            else:
                tensor.grad = tensor.grad + tensor._wrap_like(grads[nr])
    return grads


def _as_tensor(grad):
    from ..tensor import Tensor  # late: the engine sits below the Tensor class
    return Tensor._from_raw(grad)
