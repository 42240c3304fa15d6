"""The backward engine: accumulation, retain_graph, retain_grad, hooks, autograd.grad, errors, deep graphs,
and graph node names."""
import numpy as np
import pytest

import framework as fw
from helpers import assert_close, make_tensor, random_array, raises_like_torch, torch

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after they have "
         "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
         "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if "
         "you need to access saved tensors after calling backward.")


def _leaf(rng, shape=(3,)):
    return make_tensor(random_array(rng, shape, "float64"), requires_grad=True)


# ---- accumulation and retain_graph ----------------------------------------------------

def test_grad_accumulates_over_backward_calls(rng):
    x = _leaf(rng)
    a = x.detach().numpy().copy()
    (x * x).backward(fw.ones(3))
    assert_close(x.grad, 2 * a, "float64")
    first_grad = x.grad
    (x * 3).backward(fw.ones(3))
    assert_close(x.grad, 2 * a + 3, "float64")
    assert x.grad is first_grad  # accumulated in place, as PyTorch does
    x.grad = None
    (x * 3).backward(fw.ones(3))
    assert_close(x.grad, np.full(3, 3.0), "float64")


def test_retain_graph_allows_a_second_backward(rng):
    x = _leaf(rng)
    y = x.sigmoid()
    g = fw.tensor(random_array(rng, (3,), "float64"))
    y.backward(g, retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward(g)
    assert_close(x.grad, 2 * first, "float64")


def test_second_backward_without_retain_graph_raises_pytorchs_error(rng):
    x = _leaf(rng)
    y = x.exp()
    y.backward(fw.ones(3))
    with pytest.raises(RuntimeError) as info:
        y.backward(fw.ones(3))
    assert str(info.value) == FREED
    if torch is not None:
        t = torch.ones(3, requires_grad=True).exp()
        t.backward(torch.ones(3))
        with pytest.raises(RuntimeError) as t_info:
            t.backward(torch.ones(3))
        assert str(t_info.value) == FREED


def test_autograd_grad_frees_the_graph_too(rng):
    x = _leaf(rng)
    y = x * x
    fw.autograd.grad(y, x, fw.ones(3))
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        fw.autograd.grad(y, x, fw.ones(3))


def test_graph_without_saved_values_can_be_walked_twice(rng):
    x = _leaf(rng)
    y = x + 1  # add saves nothing: PyTorch allows the second pass
    y.backward(fw.ones(3))
    y.backward(fw.ones(3))
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


# ---- leaves, retain_grad, non-scalar outputs ----------------------------------------------

def test_only_leaves_that_require_grad_get_grad(rng):
    x = _leaf(rng)
    c = make_tensor(random_array(rng, (3,), "float64"))
    y = x * c
    z = y.exp()
    z.backward(fw.ones(3))
    assert x.grad is not None and c.grad is None and y.grad is None
    assert x.is_leaf and c.is_leaf and not y.is_leaf


def test_retain_grad_keeps_intermediate_gradients(rng):
    x = _leaf(rng)
    y = x * 2
    y.retain_grad()
    assert y.retains_grad
    z = y * y
    g = random_array(rng, (3,), "float64")
    z.backward(fw.tensor(g))
    assert_close(y.grad, 2 * y.detach().numpy() * g, "float64")
    assert_close(x.grad, 2 * y.grad.numpy(), "float64")
    with pytest.raises(RuntimeError, match="can't retain_grad on Tensor that has requires_grad=False"):
        fw.ones(2).retain_grad()


def test_retain_grad_on_a_leaf_is_a_no_op(rng):
    x = _leaf(rng)
    x.retain_grad()
    (x * 2).backward(fw.ones(3))
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_implicit_gradient_needs_a_scalar():
    x = fw.tensor([1.0, 2.0], requires_grad=True)
    message = raises_like_torch(lambda: (x * 2).backward(),
                                lambda: (torch.tensor([1.0, 2.0], requires_grad=True) * 2).backward())
    assert message == "grad can be implicitly created only for scalar outputs"
    (x.sum() * 3).backward()
    assert x.grad.tolist() == [3.0, 3.0]
    (x.view(2, 1)[1:] * 2).backward()  # one element, not 0-d: still implicit
    assert x.grad.tolist() == [3.0, 5.0]


def test_backward_on_a_tensor_without_history_raises():
    message = raises_like_torch(lambda: fw.ones(2).sum().backward(), lambda: torch.ones(2).sum().backward())
    assert message == "element 0 of tensors does not require grad and does not have a grad_fn"


def test_gradient_shape_must_match():
    x = fw.ones(2, requires_grad=True)
    message = raises_like_torch(lambda: (x * 2).backward(fw.ones(3)),
                                lambda: (torch.ones(2, requires_grad=True) * 2).backward(torch.ones(3)))
    assert message == ("Mismatch in shape: grad_output[0] has a shape of framework.Size([3]) and output[0] has a "
                       "shape of framework.Size([2]).")


def test_backward_with_explicit_gradient_matches_vjp(rng):
    a = random_array(rng, (4, 3), "float64")
    x = make_tensor(a, requires_grad=True)
    g = random_array(rng, (4, 3), "float64")
    x.tanh().backward(fw.tensor(g))
    assert_close(x.grad, g * (1 - np.tanh(a) ** 2), "float64")


def test_backward_inputs_limits_accumulation(rng):
    x, w = _leaf(rng), _leaf(rng)
    (x * w).backward(fw.ones(3), inputs=[w])
    assert x.grad is None and w.grad is not None
    assert_close(w.grad, x.detach().numpy(), "float64")


def test_diamond_graph_sums_both_paths_and_runs_shared_nodes_once(rng):
    x = _leaf(rng)
    shared = x.exp()
    calls = []
    shared.register_hook(lambda g: calls.append(1))
    out = shared * 2 + shared.sin()
    out.backward(fw.ones(3))
    a = x.detach().numpy()
    assert_close(x.grad, np.exp(a) * (2 + np.cos(np.exp(a))), "float64")
    assert len(calls) == 1


def test_low_precision_leaves_get_gradients_of_their_dtype(rng):
    for name in ("float16", "bfloat16"):
        x = make_tensor(random_array(rng, (3,), name), requires_grad=True)
        (x * x).backward(fw.ones(3, dtype=getattr(fw, name)))
        assert x.grad.dtype is getattr(fw, name)


# ---- hooks -----------------------------------------------------------------------------

def test_tensor_hooks_see_and_replace_gradients(rng):
    x = _leaf(rng)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.register_hook(lambda g: g * 10)
    y.backward(fw.ones(3))
    assert seen == [[1.0, 1.0, 1.0]]
    assert x.grad.tolist() == [30.0, 30.0, 30.0]


def test_leaf_hook_runs_before_accumulation_and_handle_removes_it(rng):
    x = _leaf(rng)
    handle = x.register_hook(lambda g: g * 0 + 7)
    (x * 2).backward(fw.ones(3))
    assert x.grad.tolist() == [7.0, 7.0, 7.0]
    handle.remove()
    x.grad = None
    (x * 2).backward(fw.ones(3))
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't require gradient"):
        fw.ones(2).register_hook(lambda g: g)


# ---- autograd.grad ------------------------------------------------------------------------

def test_autograd_grad_returns_a_tuple_and_leaves_grad_alone(rng):
    x, w = _leaf(rng), _leaf(rng)
    y = x * w
    gx, gw = fw.autograd.grad(y, (x, w), fw.ones(3), retain_graph=True)
    assert_close(gx, w.detach().numpy(), "float64")
    assert_close(gw, x.detach().numpy(), "float64")
    assert x.grad is None and w.grad is None
    (only,) = fw.autograd.grad(y, w, grad_outputs=fw.ones(3))
    assert_close(only, x.detach().numpy(), "float64")


def test_autograd_grad_allow_unused(rng):
    x, unused = _leaf(rng), _leaf(rng)
    y = (x * 2).sum()
    message = raises_like_torch(lambda: fw.autograd.grad(y, [x, unused], retain_graph=True),
                                lambda: torch.autograd.grad((torch.ones(2, requires_grad=True) * 2).sum(),
                                                            [torch.ones(2, requires_grad=True),
                                                             torch.ones(2, requires_grad=True)]))
    assert "appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior." \
        in message
    gx, gu = fw.autograd.grad(y, [x, unused], allow_unused=True, retain_graph=True)
    assert gx.tolist() == [2.0, 2.0, 2.0] and gu is None
    gx, gu = fw.autograd.grad(y, [x, unused], materialize_grads=True)
    assert gu.tolist() == [0.0, 0.0, 0.0]


def test_autograd_grad_of_input_that_does_not_require_grad_raises(rng):
    x = _leaf(rng)
    message = raises_like_torch(lambda: fw.autograd.grad((x * 2).sum(), fw.ones(3)),
                                lambda: torch.autograd.grad((torch.ones(2, requires_grad=True) * 2).sum(),
                                                            torch.ones(2)))
    assert message == "One of the differentiated Tensors does not require grad"


def test_autograd_grad_with_several_outputs(rng):
    x = _leaf(rng)
    a, b = x * 2, x.exp()
    (g,) = fw.autograd.grad([a, b], x, [fw.ones(3), fw.ones(3)])
    assert_close(g, 2 + np.exp(x.detach().numpy()), "float64")


def test_autograd_grad_of_an_intermediate(rng):
    x = _leaf(rng)
    y = x * 2
    z = (y * y).sum()
    (gy,) = fw.autograd.grad(z, y)
    assert_close(gy, 2 * y.detach().numpy(), "float64")
    assert x.grad is None


def test_tutorial_style_grad_then_backward():
    """The tutorial's autograd cells: grad(..., retain_graph=True) twice, then backward."""
    x1 = fw.tensor([1.1])
    w1 = fw.tensor([2.2], requires_grad=True)
    b = fw.tensor([0.0], requires_grad=True)
    a = (x1 * w1 + b).sigmoid()
    loss = -(a.log())  # binary cross entropy with target 1
    grad_w1 = fw.autograd.grad(loss, w1, retain_graph=True)
    grad_b = fw.autograd.grad(loss, b, retain_graph=True)
    assert isinstance(grad_w1, tuple) and len(grad_w1) == 1
    loss.backward()
    assert_close(w1.grad, grad_w1[0], "float32")
    assert_close(b.grad, grad_b[0], "float32")
    assert round(w1.grad.item(), 4) == -0.0898 and round(b.grad.item(), 4) == -0.0817


# ---- deep graphs -------------------------------------------------------------------------

def test_backward_through_a_chain_100000_ops_deep():
    """An iterative topological sort: no RecursionError, whatever Python's recursion limit."""
    x = fw.tensor([1.5], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y.neg()
    y.backward(fw.ones(1))
    assert x.grad.tolist() == [1.0]
    del y  # freeing the chain must not recurse either


def test_wide_graph(rng):
    x = _leaf(rng)
    total = x * 0
    for i in range(200):
        total = total + x * i
    total.backward(fw.ones(3))
    assert x.grad.tolist() == [float(sum(range(200)))] * 3


# ---- graph node names ----------------------------------------------------------------------

GRAD_FN_NAMES = {
    "AddBackward0": lambda m, x: x + 1,
    "MulBackward0": lambda m, x: x * 2,
    "SubBackward0": lambda m, x: x - 1,
    "DivBackward0": lambda m, x: x / 2,
    "NegBackward0": lambda m, x: -x,
    "SigmoidBackward0": lambda m, x: m.sigmoid(x),
    "TanhBackward0": lambda m, x: x.tanh(),
    "ExpBackward0": lambda m, x: x.exp(),
    "LogBackward0": lambda m, x: x.log(),
    "ReluBackward0": lambda m, x: x.relu(),
    "PowBackward0": lambda m, x: x ** 2,
    "PowBackward1": lambda m, x: x ** x,
    "ClampBackward1": lambda m, x: x.clamp(0, 1),
    "MaximumBackward0": lambda m, x: m.maximum(x, x * 2),
    "WhereBackward0": lambda m, x: m.where(x > 0, x, x * 2),
    "MmBackward0": lambda m, x: x.view(2, 2) @ x.view(2, 2),
    "ViewBackward0": lambda m, x: x.view(2, 2),
    "PermuteBackward0": lambda m, x: x.view(2, 2).permute(1, 0),
    "TransposeBackward0": lambda m, x: x.view(2, 2).transpose(0, 1),
    "TBackward0": lambda m, x: x.view(2, 2).t(),
    "ExpandBackward0": lambda m, x: x.expand(2, 4),
    "UnsqueezeBackward0": lambda m, x: x.unsqueeze(0),
    "CatBackward0": lambda m, x: m.cat([x, x]),
    "StackBackward0": lambda m, x: m.stack([x, x]),
    "CloneBackward0": lambda m, x: x.clone(),
    "ToCopyBackward0": lambda m, x: x.double(),
    "AbsBackward0": lambda m, x: x.abs(),
    "RsubBackward1": lambda m, x: 1 - x,
    "PowBackward2": lambda m, x: 2 ** x,
}


@pytest.mark.parametrize("name", GRAD_FN_NAMES)
def test_grad_fn_names(name):
    x = fw.tensor([0.5, 1.0, 1.5, 2.0], requires_grad=True)
    out = GRAD_FN_NAMES[name](fw, x)
    assert out.grad_fn.name() == name
    assert type(out.grad_fn).__name__ == name
    assert repr(out).endswith(f"grad_fn=<{name}>)")
    if torch is not None:
        t = torch.tensor([0.5, 1.0, 1.5, 2.0], requires_grad=True)
        assert GRAD_FN_NAMES[name](torch, t).grad_fn.name() == name


def test_next_functions_point_at_inputs():
    x = fw.ones(2, requires_grad=True)
    y = x * 2
    edges = y.grad_fn.next_functions
    assert type(edges[0][0]).__name__ == "AccumulateGrad" and edges[0][1] == 0
    assert edges[0][0].variable is x
    z = y.exp()
    assert z.grad_fn.next_functions[0][0] is y.grad_fn


def test_queued_callbacks_run_once_after_the_backward_pass_that_queued_them():
    from framework.autograd.engine import queue_callback
    w = fw.ones(3, requires_grad=True)
    events = []

    def hook(tensor):
        events.append(("grad", tensor.grad.tolist()))
        if len(events) == 1:
            queue_callback(lambda: events.append("callback") or queue_callback(lambda: events.append("chained")))

    w.register_post_accumulate_grad_hook(hook)
    (w * 2).sum().backward()
    assert events == [("grad", [2.0, 2.0, 2.0]), "callback", "chained"]
    (w * 3).sum().backward()  # a second pass: the callbacks of the first do not run again
    assert events[3:] == [("grad", [5.0, 5.0, 5.0])]
    with pytest.raises(RuntimeError, match="^Final callbacks can only be installed during backward pass.$"):
        queue_callback(lambda: None)


def test_a_backward_inside_a_hook_runs_its_own_callbacks_first():
    from framework.autograd.engine import queue_callback
    w, v = fw.ones(2, requires_grad=True), fw.ones(2, requires_grad=True)
    events = []
    v.register_post_accumulate_grad_hook(lambda t: queue_callback(lambda: events.append("inner")))

    def hook(tensor):
        queue_callback(lambda: events.append("outer"))
        with fw.enable_grad():  # hooks run with grad mode off
            (v * 1).sum().backward()
        events.append("inner pass done")

    w.register_post_accumulate_grad_hook(hook)
    w.sum().backward()
    assert events == ["inner", "inner pass done", "outer"]
