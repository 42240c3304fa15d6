"""`framework.autograd`: backward, grad, Function, grad mode and gradcheck."""
from ..backends.device_backend import backend_for
from .engine import run_backward
from .function import Function, FunctionCtx, _edge
from .graph import accumulate_graph
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Function", "FunctionCtx", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "inference_mode", "gradcheck", "gradgradcheck", "functional"]


def _ones_like_raw(out):
    data = out._data
    return backend_for(out._device).full(data.shape, 1, data.dtype)


def _make_grads(outputs, grad_outputs, create_graph=False):
    """The root gradients: raw arrays for the first-order engine, Tensors (which may carry a graph of
    their own) with `create_graph`."""
    grads = []
    for out, grad in zip(outputs, grad_outputs):
        if grad is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not out._dtype.is_floating_point:
                raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got {out._dtype}")
            ones = _ones_like_raw(out)  # raw data: the first-order engine never needs it as a Tensor
            grads.append(out._wrap_like(ones) if create_graph else ones)
            continue
        if grad.shape != out.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {grad.shape} and output[0] has a "
                               f"shape of {out.shape}.")
        grads.append(grad if create_graph else grad._data)
    return grads


def _roots(outputs):
    edges = []
    for i, out in enumerate(outputs):
        edge = _edge(out)
        if edge is None:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        edges.append(edge)
    return edges


def _as_tuple(x):
    if x is None:
        return None
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's `.grad`."""
    tensors = _as_tuple(tensors)
    grad_tensors = _as_tuple(grad_tensors) or (None,) * len(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    roots = _roots(tensors)
    grads = _make_grads(tensors, grad_tensors, create_graph)
    if inputs is not None:
        inputs = _as_tuple(inputs)
        captured = run_backward(roots, grads, retain_graph, create_graph, capture=[_edge(t) for t in inputs])
        for t in inputs:
            grad = captured.get(_edge(t))
            if grad is None:
                continue
            if create_graph:
                accumulate_graph(t, grad)
            elif t.grad is None:
                t.grad = t._wrap_like(grad.copy())
            else:
                t.grad.add_(t._wrap_like(grad))
        return
    run_backward(roots, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of `outputs` with respect to `inputs`, as a tuple; `.grad` is left alone."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    grad_outputs = _as_tuple(grad_outputs) or (None,) * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    if is_grads_batched:
        return _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                             materialize_grads)
    for i, t in enumerate(inputs):
        if not t._requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors does not require grad")
    roots = _roots(outputs)
    edges = [_edge(t) for t in inputs]
    captured = run_backward(roots, _make_grads(outputs, grad_outputs, create_graph), retain_graph, create_graph,
                            capture=edges)
    result = []
    for t, edge in zip(inputs, edges):
        raw = captured.get(edge)
        if raw is None:
            if materialize_grads:
                from ..creation import zeros_like
                result.append(zeros_like(t))
                continue
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
            result.append(None)
        else:
            result.append(raw if create_graph else t._wrap_like(raw))
    return tuple(result)


def _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused, materialize_grads):
    """is_grads_batched: the first dim of every grad_output indexes independent backward passes (PyTorch vmaps
    them); here they run one after another and the results are stacked."""
    from ..ops.shape import stack
    if any(g is None for g in grad_outputs):
        raise RuntimeError("grad_outputs must be given (one batch of them per output) when is_grads_batched=True")
    sizes = {g.shape[0] if g.ndim else None for g in grad_outputs}
    if len(sizes) != 1 or None in sizes:
        raise RuntimeError("is_grads_batched=True expects every grad_output to have the same batch size in its first "
                           f"dimension, got shapes {[list(g.shape) for g in grad_outputs]}")
    (batch,) = sizes
    passes = [grad(outputs, inputs, [g[i] for g in grad_outputs], retain_graph=True if i < batch - 1 else retain_graph,
                   create_graph=create_graph, allow_unused=allow_unused, materialize_grads=materialize_grads)
              for i in range(batch)]
    result = []
    for j, t in enumerate(inputs):
        found = [p[j] for p in passes]
        if all(g is None for g in found):
            result.append(None)
            continue
        from ..creation import zeros_like
        result.append(stack([zeros_like(t) if g is None else g for g in found]) if batch else
                      zeros_like(t).expand((0,) + tuple(t.shape)))
    return tuple(result)


from .gradcheck import gradcheck, gradgradcheck  # noqa: E402
from . import derivatives  # noqa: E402,F401


def __getattr__(name):
    if name == "functional":  # loads on first use: it needs the ops, which load after this package
        import importlib
        return importlib.import_module(".functional", __name__)
    raise AttributeError(f"module 'framework.autograd' has no attribute '{name}'")
