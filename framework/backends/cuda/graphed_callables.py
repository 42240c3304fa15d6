"""`framework.cuda.make_graphed_callables`: a function or Module whose forward and backward each replay a graph.

As PyTorch's: each callable runs `num_warmup_iters` times (forward and autograd.grad) so that lazily made state
exists, then its forward is captured into one CUDAGraph and its backward (autograd.grad of the outputs with
respect to the inputs and parameters that require grad) into another, sharing one memory pool. The returned
callable is an autograd Function: forward copies the arguments into the captured inputs (unless they are the
captured inputs) and replays the forward graph; backward copies the incoming gradients likewise and replays
the backward graph. Outputs and gradients are the graphs' static tensors, overwritten by the next replay.

Several callables are captured in the order given and their backward graphs in reverse, the order a training
step runs them, so that they can share the pool.
"""
from ... import autograd
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from .graphs import CUDAGraph, graph, graph_pool_handle


def make_graphed_callables(callables, sample_args, num_warmup_iters=3, allow_unused_input=False, pool=None):
    just_one = not isinstance(callables, tuple)
    if just_one:
        callables, sample_args = (callables,), (sample_args,)
    if len(callables) != len(sample_args):
        raise ValueError(f"make_graphed_callables got {len(callables)} callables and {len(sample_args)} tuples "
                         f"of sample args: one tuple per callable")
    from ...nn import Module
    surfaces = []
    for func, args in zip(callables, sample_args):
        if not isinstance(args, tuple) or not all(isinstance(a, Tensor) for a in args):
            raise TypeError("In the beta API, sample_args for each callable must be a tuple of Tensors. Other "
                            "types are not allowed.")
        if isinstance(func, Module):
            if func._forward_hooks or func._forward_pre_hooks:
                raise RuntimeError("Modules must not have hooks registered at the time they are passed. However, "
                                   "registering hooks on modules after passing them through make_graphed_callables "
                                   "is allowed.")
            params = tuple(func.parameters())
            if not all(p.requires_grad for p in params):
                raise RuntimeError("In any Module passed to make_graphed_callables, every parameter must require "
                                   "grad (set requires_grad=True on frozen ones or leave them out of the module)")
        else:
            params = ()
        if any(a.device.type != "cuda" for a in args + params):
            raise RuntimeError("make_graphed_callables captures cuda work: every sample arg and parameter must "
                               "be a cuda tensor")
        surfaces.append(args + params)

    for func, args, surface in zip(callables, sample_args, surfaces):
        for _ in range(num_warmup_iters):
            outputs = _as_tuple(func(*args))
            _grad(outputs, surface, None, allow_unused_input)
        del outputs

    pool = graph_pool_handle() if pool is None else pool
    captured = []
    for func, args in zip(callables, sample_args):
        forward_graph = CUDAGraph()
        with graph(forward_graph, pool=pool):
            outputs = func(*args)
        single = not isinstance(outputs, tuple)
        captured.append([forward_graph, _as_tuple(outputs), single])
    for entry, surface in reversed(list(zip(captured, surfaces))):
        outputs = entry[1]
        grad_outputs = tuple(o.new_empty(o.shape) if o.requires_grad else None for o in outputs)
        backward_graph = CUDAGraph()
        with graph(backward_graph, pool=pool):
            grad_inputs = _grad(outputs, surface, grad_outputs, allow_unused_input)
        entry += [backward_graph, grad_outputs, grad_inputs]

    graphed = []
    for func, args, surface, entry in zip(callables, sample_args, surfaces, captured):
        function = _graphed_function(len(args), surface, *entry)
        graphed.append(_wrap(func, function, surface[len(args):]))
    return graphed[0] if just_one else tuple(graphed)


def _as_tuple(outputs):
    if isinstance(outputs, Tensor):
        return (outputs,)
    if isinstance(outputs, tuple) and all(isinstance(o, Tensor) for o in outputs):
        return outputs
    raise TypeError(f"make_graphed_callables: a callable must return a Tensor or a tuple of Tensors, got "
                    f"{type(outputs).__name__}")


def _grad(outputs, surface, grad_outputs, allow_unused):
    """The gradients of `outputs` for each tensor of `surface` (None where it needs none)."""
    differentiable = [i for i, o in enumerate(outputs) if o.requires_grad]
    wanted = [i for i, t in enumerate(surface) if t.requires_grad]
    if not differentiable or not wanted:
        return (None,) * len(surface)
    ones = [outputs[i].new_ones(outputs[i].shape) for i in differentiable] if grad_outputs is None else \
        [grad_outputs[i] for i in differentiable]
    grads = autograd.grad([outputs[i] for i in differentiable], [surface[i] for i in wanted], ones,
                          allow_unused=allow_unused)
    result = [None] * len(surface)
    for i, g in zip(wanted, grads):
        result[i] = g
    return tuple(result)


def _graphed_function(num_args, surface, forward_graph, static_outputs, single, backward_graph, static_grad_outputs,
                      static_grad_inputs):
    class Graphed(autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            for static, given in zip(surface[:num_args], inputs):
                if static.data_ptr() != given.data_ptr():
                    static.copy_(given)
            forward_graph.replay()
            return tuple(o.detach() for o in static_outputs)

        @staticmethod
        def backward(ctx, *grads):
            with no_grad():
                for static, given in zip(static_grad_outputs, grads):
                    if static is not None and given is not None and static.data_ptr() != given.data_ptr():
                        static.copy_(given)
                backward_graph.replay()
            return tuple(None if g is None else g.detach() for g in static_grad_inputs)

    def run(*args):
        outputs = Graphed.apply(*args, *surface[num_args:])
        return outputs[0] if single else outputs
    return run


def _wrap(func, run, params):
    """A Module keeps its identity: its forward replays the graphs while its training flag is the captured one."""
    from ...nn import Module
    if not isinstance(func, Module):
        return run
    training_at_capture = func.training
    eager_forward = func.forward

    def forward(*args):
        if func.training == training_at_capture:
            return run(*args)
        return eager_forward(*args)
    func.forward = forward
    return func
