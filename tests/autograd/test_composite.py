"""autograd.composite: a composed op recorded as one PyTorch-named node with edges to its inputs."""
import numpy as np
import pytest

import framework as fw
from framework.autograd.composite import composite
from helpers import DEVICES, assert_close


def _square_error(x, y):
    return ((x - y) ** 2).mean()


@pytest.mark.parametrize("device", DEVICES)
def test_one_named_node_with_edges_to_the_inputs(device):
    x = fw.tensor([1.0, 2.0, 4.0], device=device, requires_grad=True)
    y = fw.tensor([0.5, 0.5, 0.5], device=device)
    w = fw.tensor([3.0], device=device, requires_grad=True)
    hidden = x * 2  # a non-leaf input: its edge is its own node
    out = composite("MseLossBackward0", _square_error, hidden, y)
    assert out.grad_fn.name() == "MseLossBackward0" and repr(out.grad_fn).startswith("<MseLossBackward0 object")
    (edge_x, nr), edge_y = out.grad_fn.next_functions
    assert edge_x is hidden.grad_fn and nr == 0 and edge_y is None
    (out * w).sum().backward()
    expected = 2 * (2 * x.detach() - y) * 2 / 3 * 3
    assert_close(x.grad, expected, "float32")
    assert_close(w.grad, _square_error(hidden.detach(), y).reshape(1), "float32")


def test_without_a_gradient_to_record_it_simply_runs():
    x, y = fw.tensor([1.0, 2.0]), fw.tensor([0.0, 0.0])
    out = composite("MseLossBackward0", _square_error, x, y)
    assert out.grad_fn is None and out.item() == 2.5
    with fw.no_grad():
        assert composite("MseLossBackward0", _square_error, x.requires_grad_(), y).grad_fn is None


def test_retained_graph_runs_twice_and_a_freed_one_refuses():
    x = fw.tensor([1.0, 3.0], requires_grad=True)
    out = composite("HuberLossBackward0", _square_error, x, fw.zeros(2))
    out.backward(retain_graph=True)
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.0, 3.0]))  # twice d/dx mean(x^2) = x
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        out.backward()


def test_in_place_change_of_a_saved_input_is_caught():
    x = fw.tensor([1.0, 3.0], requires_grad=True)
    y = fw.tensor([0.0, 1.0], requires_grad=True)
    out = composite("MseLossBackward0", lambda a, b: (a * b).sum(), x, y)
    with fw.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_autograd_grad_and_hooks_see_the_outer_node():
    x = fw.tensor([1.0, -2.0], requires_grad=True)
    out = composite("SoftMarginLossBackward0", lambda a: (-a).exp().log1p().sum(), x)
    seen = []
    out.register_hook(lambda g: seen.append(g.item()))
    (grad,) = fw.autograd.grad(out, x)
    assert seen == [1.0]
    np.testing.assert_allclose(grad.numpy(), -1 / (1 + np.exp([1.0, -2.0])), rtol=1e-6)
    assert x.grad is None
