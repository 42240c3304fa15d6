"""Running ops and recording the graph.

`run(op, inputs)` is the one path every built-in op takes: it looks up the
op's kernel pair for the inputs' device, runs the forward kernel, and, when a
gradient is needed, records a node that will run the backward kernel.

`Function` is PyTorch's contract for user-defined ops (`forward(ctx, ...)`,
`backward(ctx, *grads)`, `Function.apply`), recorded in the same graph.
"""
import weakref

from .grad_mode import is_grad_enabled, no_grad
from .graph import _SAVED_FREED, FREED_MESSAGE, NO_EDGE, KernelContext, Node, _check_versions, node_class
from .registry import KERNELS, NODE_NAMES

# op -> what its differentiable formula reads, taken when a node is recorded (filled by `derivatives`)
CAPTURES = {}

Tensor = None  # set by framework.tensor once the class exists (the tensor module imports this one)
# While an autocast region is open (framework/amp/autocast_mode.py): (op, inputs) -> inputs cast by the op's policy
AUTOCAST = None


def autocast_inputs(op, inputs):
    """`inputs` as `op` takes them in an autocast region; unchanged outside one. `run` calls it; so do the few ops
    that compare their inputs' dtypes before `run` (matmul, linear), so that they compare the cast ones."""
    return inputs if AUTOCAST is None else AUTOCAST(op, inputs)


def _edge(tensor):
    if tensor._base is not None and tensor._base_grad_fn is not tensor._base.grad_fn:
        tensor._refresh_view_history()  # its base was changed in place since this view's history was made
    if tensor.grad_fn is not None:
        return (tensor.grad_fn, tensor._output_nr)
    if tensor._requires_grad:
        return (tensor._grad_accumulator(), 0)
    return None


def _edges(inputs):
    """One entry per input: its edge, NO_EDGE for a tensor that needs no gradient, None for a non-tensor."""
    return tuple((_edge(x) or NO_EDGE) if isinstance(x, Tensor) else None for x in inputs)


def run(op, inputs, params=(), node_name=None):
    """Run the registered op `op` on `inputs` (Tensors or Python scalars).

    Returns a Tensor, or a tuple of Tensors when the kernel returns a tuple.
    """
    if AUTOCAST is not None:
        inputs = AUTOCAST(op, inputs)
    device = None
    requires_grad = False
    raws = []
    for x in inputs:
        if isinstance(x, Tensor):
            if x._base is not None and x._base_grad_fn is not x._base.grad_fn:
                x._refresh_view_history()  # its base was changed in place since this view's history was made
            raws.append(x._data)
            if device is None:
                device = x._device
            elif x._device is not device:
                raise RuntimeError(_mixed_devices_message(device, x._device))
            if x._requires_grad:
                requires_grad = True
        else:
            raws.append(x)
    forward, backward = KERNELS[op][device.type]
    record = requires_grad and is_grad_enabled()
    ctx = KernelContext(tuple(isinstance(x, Tensor) and x._requires_grad for x in inputs) if record else None)
    result = forward(ctx, *raws, *params)
    if type(result) is not tuple:
        out = Tensor._from_raw(result, device)
        if record and out._dtype.is_floating_point:
            capture = CAPTURES.get(op)
            edges = tuple((_edge(x) or NO_EDGE) if isinstance(x, Tensor) else None for x in inputs)  # _edges, inline
            node = node_class(node_name or NODE_NAMES[op])(ctx, backward, edges, 1, False, op, params,
                                                           None if capture is None else capture(inputs, out))
            out.grad_fn = node
            out._requires_grad = True
            if ctx.saved_tensors:
                _track_versions(ctx, inputs, (out,), node)
        return out
    outs = tuple(Tensor._from_raw(r, device) for r in result)
    if record:
        capture = CAPTURES.get(op)
        node = node_class(node_name or NODE_NAMES[op])(ctx, backward, _edges(inputs), len(outs), True, op, params,
                                                       None if capture is None else capture(inputs, outs))
        for nr, out in enumerate(outs):
            if out._dtype.is_floating_point:
                out.grad_fn = node
                out._output_nr = nr
                out._requires_grad = True
        if ctx.saved_tensors:
            _track_versions(ctx, inputs, outs, node)
    return outs


def _mixed_devices_message(first, second):
    if first.type == "cpu":  # PyTorch names the accelerator first
        first, second = second, first
    return f"Expected all tensors to be on the same device, but found at least two devices, {first} and {second}!"


def _track_versions(ctx, inputs, outputs, node):
    """Remember the version of every saved input or output, to catch in-place changes before backward."""
    versions = []
    for saved in ctx.saved_tensors:
        for t in inputs:
            if isinstance(t, Tensor) and t._data is saved:
                output_of = t.grad_fn.name() if t.grad_fn is not None else None
                versions.append((t._version_counter, t._version_counter[0], t.shape, t._dtype, output_of))
                break
        else:
            for t in outputs:
                if t._data is saved:
                    versions.append((t._version_counter, t._version_counter[0], t.shape, t._dtype, node.name()))
                    break
    ctx._versions = versions or None


# ---- user-defined Functions (PyTorch's torch.autograd.Function) ------------

class FunctionCtx:
    """`ctx` of a user-defined Function."""

    def __init__(self):
        self.needs_input_grad = ()
        self._saved = ()
        self._saved_versions = ()
        self.materialize_grads = True
        self._non_differentiable = ()

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._saved_versions = tuple(t._version_counter[0] if t is not None else None for t in tensors)

    @property
    def saved_tensors(self):
        if self._saved is _SAVED_FREED:
            raise RuntimeError(FREED_MESSAGE)
        for t, expected in zip(self._saved, self._saved_versions):
            if t is not None and t._version_counter[0] != expected:
                _check_versions(self._node(), [(t._version_counter, expected, t.shape, t._dtype, None)])
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = value

    def mark_dirty(self, *tensors):
        pass


class FunctionNode(Node):
    __slots__ = ("_cls", "_ctx", "num_outputs", "_output_meta")

    def __init__(self, cls, ctx, edges, output_meta):
        self._hooks = None
        self._retained = None
        self._cls = cls
        self._ctx = ctx
        self._edges = edges
        self.num_outputs = len(output_meta)
        self._output_meta = output_meta

    def name(self):
        return getattr(self._cls, "_node_name", None) or f"{self._cls.__name__}Backward"

    def __repr__(self):
        return f"<torch.autograd.function.{self.name()} object at {hex(id(self))}>".replace("torch.", "framework.")

    def apply(self, grads):
        grads = [None if grad is None else Tensor._from_raw(grad, device)
                 for grad, (_, _, device) in zip(grads, self._output_meta)]
        return tuple(g._data if isinstance(g, Tensor) else None for g in self._call_backward(grads))

    def apply_graph(self, grads):
        """The user's backward, written in Tensor ops, runs with grad mode on: its result is recorded."""
        return tuple(g if isinstance(g, Tensor) else None for g in self._call_backward(grads))

    def _call_backward(self, grads):
        grad_tensors = []
        for grad, (shape, dtype, device) in zip(grads, self._output_meta):
            if grad is None and self._ctx.materialize_grads:
                grad = Tensor._zeros(shape, dtype, device)
            grad_tensors.append(grad)
        result = self._cls.backward(self._ctx, *grad_tensors)
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) < len(self._edges):
            raise RuntimeError(
                f"function {self.name()} returned an incorrect number of gradients (expected "
                f"{len(self._edges)}, got {len(result)})")
        return result[:len(self._edges)]

    def release(self):
        if self._ctx._saved:
            self._ctx._saved = _SAVED_FREED


class _FunctionMeta(type):
    def __repr__(cls):
        return f"<class '{cls.__module__}.{cls.__qualname__}'>"


class Function(metaclass=_FunctionMeta):
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, *grads)`; call `.apply(*args)`."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        tensors = [a for a in args if isinstance(a, Tensor)]
        record = is_grad_enabled() and any(t._requires_grad for t in tensors)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        if not record:
            return result
        outputs = result if isinstance(result, tuple) else (result,)
        meta = tuple((o.shape, o._dtype, o._device) for o in outputs)
        node = FunctionNode(cls, ctx, _edges(args), meta)
        ctx._node = weakref.ref(node)  # the node holds ctx: a strong reference back would make a cycle
        wrapped = []
        for nr, out in enumerate(outputs):
            if any(out is t for t in tensors):
                out = Tensor._from_raw(out._data, out._device)  # an input returned as is gets a new identity
            if out._dtype.is_floating_point and not any(out is t for t in ctx._non_differentiable):
                out.grad_fn = node
                out._output_nr = nr
                out._requires_grad = True
            wrapped.append(out)
        return tuple(wrapped) if isinstance(result, tuple) else wrapped[0]
