"""autograd.composite: `@composite(name, inputs)` records a composed op as one PyTorch-named node showing its
tensor arguments, while gradients (first order and create_graph=True) flow through the composition's own nodes."""
import numpy as np
import pytest

import framework as fw
from framework.autograd.composite import composite
from helpers import DEVICES, assert_close


@composite("MseLossBackward0", inputs=("input", "target"))
def _square_error(input, target):
    return ((input - target) ** 2).mean()


@composite(lambda args: "SoftMarginLossBackward0" if args["named"] else None, inputs=("input",))
def _soft_margin(input, named=True):
    return (-input).exp().log1p().sum()


@pytest.mark.parametrize("device", DEVICES)
def test_one_named_node_showing_the_arguments(device):
    x = fw.tensor([1.0, 2.0, 4.0], device=device, requires_grad=True)
    y = fw.tensor([0.5, 0.5, 0.5], device=device)
    w = fw.tensor([3.0], device=device, requires_grad=True)
    hidden = x * 2  # a non-leaf argument: its edge is its own node
    out = _square_error(hidden, y)
    assert out.grad_fn.name() == "MseLossBackward0" and repr(out.grad_fn).startswith("<MseLossBackward0 object")
    (edge_x, nr), edge_y = out.grad_fn.next_functions
    assert edge_x is hidden.grad_fn and nr == 0 and edge_y == (None, 0)
    (out * w).sum().backward()
    assert_close(x.grad, 2 * (2 * x.detach() - y) * 2 / 3 * 3, "float32")
    assert_close(w.grad, ((hidden.detach() - y) ** 2).mean().reshape(1), "float32")


def test_without_a_gradient_to_record_it_simply_runs():
    x, y = fw.tensor([1.0, 2.0]), fw.tensor([0.0, 0.0])
    out = _square_error(x, y)
    assert out.grad_fn is None and out.item() == 2.5
    with fw.no_grad():
        assert _square_error(x.requires_grad_(), y).grad_fn is None


def test_a_name_function_returning_none_keeps_the_composition_nodes():
    x = fw.tensor([1.0, -2.0], requires_grad=True)
    assert type(_soft_margin(x).grad_fn).__name__ == "SoftMarginLossBackward0"
    assert type(_soft_margin(x, named=False).grad_fn).__name__ == "SumBackward0"


def test_retained_graph_runs_twice_and_a_freed_one_refuses():
    x = fw.tensor([1.0, 3.0], requires_grad=True)
    out = _square_error(x, fw.zeros(2))
    out.backward(retain_graph=True)
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.0, 3.0]))  # twice d/dx mean(x^2) = x
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        out.backward()


def test_in_place_change_of_a_saved_argument_is_caught():
    x = fw.tensor([1.0, 3.0], requires_grad=True)
    y = fw.tensor([0.0, 1.0], requires_grad=True)
    hidden = y * 1
    out = _square_error(x * hidden, fw.zeros(2))
    with fw.no_grad():
        hidden.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_autograd_grad_and_hooks_see_the_outer_node():
    x = fw.tensor([1.0, -2.0], requires_grad=True)
    out = _soft_margin(x)
    seen = []
    out.register_hook(lambda g: seen.append(g.item()))
    (grad,) = fw.autograd.grad(out, x)
    assert seen == [1.0]
    np.testing.assert_allclose(grad.numpy(), -1 / (1 + np.exp([1.0, -2.0])), rtol=1e-6)
    assert x.grad is None


@pytest.mark.parametrize("device", DEVICES)
def test_create_graph_differentiates_through_the_composition(device):
    x = fw.tensor([1.0, -2.0, 0.5], dtype=fw.float64, device=device, requires_grad=True)
    (grad,) = fw.autograd.grad(_soft_margin(x), x, create_graph=True)  # -sigmoid(-x)
    (second,) = fw.autograd.grad(grad.sum(), x)  # sigmoid(-x) (1 - sigmoid(-x))
    s = 1 / (1 + np.exp([1.0, -2.0, 0.5]))
    np.testing.assert_allclose(second.cpu().numpy(), s * (1 - s), rtol=1e-12)
