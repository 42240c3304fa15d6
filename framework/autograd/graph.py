"""Graph nodes: what `tensor.grad_fn` holds.

A node's `_edges` hold one entry per input: an edge `(node, output_nr)`, `(None, 0)` for a tensor that
needs no gradient, or None for an argument that is not a tensor (a Python scalar, an absent optional
tensor). `apply` takes the gradients of its outputs as raw backend arrays and returns one gradient per
edge (the first-order path); `apply_graph` takes and returns Tensors and records what it computes, for
`create_graph=True` (it runs the op's formula from `derivatives`).

`next_functions` is what PyTorch shows: the edges of the inputs its node has, `(None, 0)` for a tensor
that needs no gradient.
"""
import weakref

from ..graphs import recording

_SAVED_FREED = object()

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they have "
    "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
    "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or "
    "if you need to access saved tensors after calling backward.")


class KernelContext:
    """`ctx` of a kernel pair: what the forward kernel keeps for the backward kernel."""

    __slots__ = ("saved_tensors", "needs_input_grad", "_versions", "operand_shapes", "__dict__")

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()
        self._versions = None

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays

    def save_operands(self, a, b, a_for, b_for):
        """Save the operands of a binary kernel that its backward reads: `a_for` / `b_for` say whether
        (grad_a, grad_b) read `a` / `b`; only the gradients that are needed count. Nothing saved when none is
        read (add, sub): saved arrays cost memory and version checks. The operands' shapes are kept too: the
        differentiable formulas of binary ops (autograd/derivatives, `operands=True`) read both from here."""
        self.operand_shapes = (getattr(a, "shape", None), getattr(b, "shape", None))
        need = self.needs_input_grad
        keep_a = (a_for[0] and need[0]) or (a_for[1] and need[1])
        keep_b = (b_for[0] and need[0]) or (b_for[1] and need[1])
        if keep_a or keep_b:
            self.saved_tensors = (a if keep_a else None, b if keep_b else None)


NO_EDGE = (None, 0)  # the edge of a tensor input that needs no gradient, as PyTorch shows it


class Node:
    __slots__ = ("_edges", "_hooks", "_retained", "__weakref__")

    num_outputs = 1

    def __init__(self):
        self._hooks = None
        self._retained = None

    def name(self):
        return type(self).__name__

    @property
    def next_functions(self):
        return tuple(edge for edge in self._edges if edge is not None)

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
    """Node of a registered op: runs the op's backward kernel, or its differentiable formula.

    `_op` and `_params` are the registry op and its plain-Python parameters; `_saved` is what the
    op's formula captured at record time (derivatives.Derivative.capture), or None."""

    __slots__ = ("_ctx", "_backward", "num_outputs", "_tuple_output", "_op", "_params", "_saved")

    def __init__(self, ctx, backward, edges, num_outputs, tuple_output=False, op=None, params=(), saved=None):
        self._hooks = None
        self._retained = None
        self._ctx = ctx
        self._backward = backward
        self._edges = edges
        self.num_outputs = num_outputs
        self._tuple_output = tuple_output  # the backward kernel takes a list of output gradients
        self._op = op
        self._params = params
        self._saved = saved

    @property
    def next_functions(self):
        from .derivatives import shown_edges
        return shown_edges(self)

    def apply(self, grads):
        ctx = self._ctx
        if ctx.saved_tensors is _SAVED_FREED:
            raise RuntimeError(FREED_MESSAGE)
        if ctx._versions is not None:
            _check_versions(self, ctx._versions)
        result = self._backward(ctx, grads if self._tuple_output else grads[0])
        return result if type(result) is tuple else (result,)

    def apply_graph(self, grads):
        from .derivatives import apply_formula
        if self._ctx.saved_tensors is _SAVED_FREED:
            raise RuntimeError(FREED_MESSAGE)
        if self._ctx._versions is not None:
            _check_versions(self, self._ctx._versions)
        result = apply_formula(self, grads if self._tuple_output else grads[0])
        return result if type(result) is tuple else (result,)

    def release(self):
        if self._ctx.saved_tensors:
            self._ctx.saved_tensors = _SAVED_FREED
        if self._saved is not None:
            self._saved = _SAVED_FREED


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
        self._edges = ()
        self.post_hooks = None  # register_post_accumulate_grad_hook's, run after each accumulation

    def accumulate(self, grad):
        variable = self.variable
        existing = variable.grad
        if existing is None:
            # A backward kernel may hand the same array to several inputs: own a copy.
            variable.grad = recording.first_gradient(variable, grad)  # a copy, which a graph capture records
        else:
            existing.add_(variable._wrap_like(grad))
        self._run_post_hooks()

    def accumulate_graph(self, grad):
        """`.grad` as a differentiable function of `grad` (create_graph=True): a copy the first time,
        then `.grad + grad`, out of place, as PyTorch does when grad mode is on."""
        accumulate_graph(self.variable, grad)
        self._run_post_hooks()

    def _run_post_hooks(self):
        if self.post_hooks:
            from .hooks import run_post_accumulate_hooks
            run_post_accumulate_hooks(self.post_hooks, self.variable)


def accumulate_graph(variable, grad):
    existing = variable.grad
    if existing is None:
        from ..creation import zeros_like
        variable.grad = zeros_like(grad).copy_(grad)  # PyTorch's clone_obey_contract: a CopyBackwards node
    else:
        variable.grad = existing + grad
