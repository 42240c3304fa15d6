"""The backward engine: walks the graph from the roots without recursion.

Dependencies are counted with an explicit stack, then nodes run once all of
their consumers have delivered gradients, so a chain 100,000 ops deep needs no
Python recursion.
"""
from .grad_mode import set_grad_enabled
from .graph import AccumulateGrad
from .hooks import checked_result


def _collect(roots):
    """Count, for every node reachable from `roots`, how many edges point at it."""
    dependencies = {}
    seen = set(roots)
    stack = list(seen)
    while stack:
        node = stack.pop()
        for edge in node.next_functions:
            if edge is None:
                continue
            child = edge[0]
            dependencies[child] = dependencies.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return dependencies, seen


def _needed(nodes, targets):
    """Nodes with a path to a target: the only ones autograd.grad must run."""
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
                for edge in node.next_functions:
                    if edge is not None and edge[0] not in state:
                        stack.append(edge[0])
                continue
            stack.pop()
            if state[node] == 1:
                continue
            state[node] = 1
            if node in targets or any(e is not None and e[0] in needed for e in node.next_functions):
                needed.add(node)
    return needed


def run_backward(roots, root_grads, retain_graph, create_graph=False, capture=None):
    """Backpropagate `root_grads` (raw arrays) from `roots` (edges `(node, output_nr)`).

    Without `capture`, gradients accumulate into the leaves' `.grad`.
    With `capture` (a list of edges, for `autograd.grad`), the gradients arriving
    at those edges are returned instead, and no `.grad` is touched.
    """
    if create_graph:
        raise NotImplementedError(
            "create_graph=True (higher-order gradients) is not supported: backward kernels run on raw arrays")
    root_nodes = [edge[0] for edge in roots]
    dependencies, nodes = _collect(root_nodes)
    buffers = {}
    for (node, nr), grad in zip(roots, root_grads):
        slots = buffers.setdefault(node, [None] * node.num_outputs)
        slots[nr] = grad if slots[nr] is None else slots[nr] + grad

    captured = None
    if capture is not None:
        targets = {node for node, _ in capture}
        needed = _needed(set(root_nodes), targets)
        captured = {}
    ready = [node for node in buffers if dependencies.get(node, 0) == 0]
    with set_grad_enabled(False):
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None) or [None] * node.num_outputs
            if node._hooks is not None or node._retained is not None:
                grads = _run_hooks(node, grads)
            if capture is not None:
                for edge in capture:
                    if edge[0] is node:
                        captured[edge] = grads[edge[1]]
                if node not in needed:
                    continue
            if type(node) is AccumulateGrad:
                if capture is None and grads[0] is not None:
                    node.accumulate(grads[0])
                continue
            if all(g is None for g in grads):
                outputs = (None,) * len(node.next_functions)
            else:
                outputs = node.apply(grads)
                if not retain_graph:
                    node.release()
            for edge, grad in zip(node.next_functions, outputs):
                if edge is None:
                    continue
                child, nr = edge
                if grad is not None:
                    slots = buffers.get(child)
                    if slots is None:
                        slots = buffers[child] = [None] * child.num_outputs
                    slots[nr] = grad if slots[nr] is None else slots[nr] + grad
                remaining = dependencies[child] - 1
                dependencies[child] = remaining
                if remaining == 0 and (capture is None or child in needed):
                    ready.append(child)
    return captured


def _run_hooks(node, grads):
    grads = list(grads)
    if node._hooks:
        for nr, hooks in node._hooks.items():
            for hook in list(hooks):
                if grads[nr] is None:
                    continue
                grad = _as_tensor(node, nr, grads[nr])
                replaced = checked_result(hook, grad, hook(grad))
                if replaced is not None:
                    grads[nr] = replaced._data
    if node._retained:
        for nr, ref in node._retained.items():
            tensor = ref()
            if tensor is not None and grads[nr] is not None:
                if tensor.grad is None:
                    tensor.grad = tensor._wrap_like(grads[nr].copy())
                else:
                    tensor.grad = tensor.grad + tensor._wrap_like(grads[nr])
    return grads


def _as_tensor(node, nr, grad):
    from ..tensor import Tensor  # late: the engine sits below the Tensor class
    return Tensor._from_raw(grad)
