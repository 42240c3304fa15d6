"""Graph nodes: what `tensor.grad_fn` holds.

A node takes the gradients of its outputs (raw backend arrays) and returns one
gradient per entry of `next_functions`, each an edge `(node, output_nr)` or
None for inputs that need no gradient.
"""
import weakref

_SAVED_FREED = object()

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they have "
    "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
    "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
    "if you need to access saved tensors after calling backward.")


class KernelContext:
    """`ctx` of a kernel pair: what the forward kernel keeps for the backward kernel."""

    __slots__ = ("saved_tensors", "needs_input_grad", "_versions", "__dict__")

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()
        self._versions = None

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    def save_operands(self, a, b, a_for, b_for):
        """Save the operands of a binary kernel that its backward reads: `a_for` / `b_for` say whether
        (grad_a, grad_b) read `a` / `b`; only the gradients that are needed count. Nothing saved when none is
        read (add, sub): saved arrays cost memory and version checks."""
        need = self.needs_input_grad
        keep_a = (a_for[0] and need[0]) or (a_for[1] and need[1])
        keep_b = (b_for[0] and need[0]) or (b_for[1] and need[1])
        if keep_a or keep_b:
            self.saved_tensors = (a if keep_a else None, b if keep_b else None)


class Node:
    __slots__ = ("next_functions", "_hooks", "_retained", "__weakref__")

    num_outputs = 1

    def __init__(self):
        self._hooks = None
        self._retained = None

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    def register_hook(self, output_nr, hook):
        """A hook on the gradient of output `output_nr`; returns a handle with `remove()`."""
        if self._hooks is None:
            self._hooks = {}
        hooks = self._hooks.setdefault(output_nr, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def retain(self, output_nr, tensor):
        if self._retained is None:
            self._retained = {}
        self._retained[output_nr] = weakref.ref(tensor)

    def release(self):
        """Free what the backward pass needed (the graph is not retained)."""


class _HookHandle:
    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class KernelNode(Node):
    """Node of a registered op: runs the op's backward kernel."""

    __slots__ = ("_ctx", "_backward", "num_outputs", "_tuple_output")

    def __init__(self, ctx, backward, next_functions, num_outputs, tuple_output=False):
        self._hooks = None
        self._retained = None
        self._ctx = ctx
        self._backward = backward
        self.next_functions = next_functions
        self.num_outputs = num_outputs
        self._tuple_output = tuple_output  # the backward kernel takes a list of output gradients

    def apply(self, grads):
        ctx = self._ctx
        if ctx.saved_tensors is _SAVED_FREED:
            raise RuntimeError(FREED_MESSAGE)
        if ctx._versions is not None:
            _check_versions(self, ctx._versions)
        result = self._backward(ctx, grads if self._tuple_output else grads[0])
        return result if type(result) is tuple else (result,)

    def release(self):
        if self._ctx.saved_tensors:
            self._ctx.saved_tensors = _SAVED_FREED


def _check_versions(node, versions):
    for counter, expected, shape, dtype, output_of in versions:
        if counter[0] != expected:
            where = f", which is output 0 of {output_of}," if output_of else ""
            dims = ", ".join(str(s) for s in shape)
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [framework.{dtype.scalar_name}Tensor [{dims}]]{where} is at version "
                f"{counter[0]}; expected version {expected} instead. Hint: the backtrace further above shows the "
                f"operation that failed to compute its gradient ({node.name()}).")


_NODE_CLASSES = {}


def node_class(name):
    """The KernelNode subclass named `name` (e.g. 'AddmmBackward0'), made once."""
    cls = _NODE_CLASSES.get(name)
    if cls is None:
        cls = _NODE_CLASSES[name] = type(name, (KernelNode,), {"__slots__": ()})
    return cls


class AccumulateGrad(Node):
    """The node of a leaf that requires grad: adds incoming gradients into `.grad`."""

    __slots__ = ("variable", "post_hooks")

    def __init__(self, variable):
        self._hooks = None
        self._retained = None
        self.variable = variable
        self.next_functions = ()
        self.post_hooks = None  # register_post_accumulate_grad_hook's, run after each accumulation

    def accumulate(self, grad):
        variable = self.variable
        existing = variable.grad
        if existing is None:
            # A backward kernel may hand the same array to several inputs: own a copy.
            variable.grad = variable._wrap_like(grad.copy())
        else:
            existing.add_(variable._wrap_like(grad))
        if self.post_hooks:
            from .hooks import run_post_accumulate_hooks
            run_post_accumulate_hooks(self.post_hooks, variable)
