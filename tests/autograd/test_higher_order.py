"""create_graph=True as PyTorch users meet it: backward(create_graph=True) into `.grad`, gradient penalties,
Hessian-vector products of a network, third derivatives, custom Functions, hooks, retain_grad, freed graphs and
in-place changes."""
import warnings

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from helpers import DEVICES, assert_close, requires_torch, torch

_CYCLE = "Using backward() with create_graph=True will create a reference cycle"


def _pair(rng, shape, device="cpu"):
    """The same float64 values as a framework leaf on `device` and (when importable) a torch leaf."""
    values = rng.standard_normal(shape)
    ours = fw.tensor(values, dtype=fw.float64, device=device, requires_grad=True)
    theirs = torch.tensor(values, requires_grad=True) if torch is not None else None
    return ours, theirs


def test_third_derivative():
    x = fw.tensor([0.5, -1.5, 2.0], dtype=fw.float64, requires_grad=True)
    (g,) = fw.autograd.grad((x ** 4).sum(), x, create_graph=True)
    (h,) = fw.autograd.grad(g.sum(), x, create_graph=True)
    (t,) = fw.autograd.grad(h.sum(), x)
    assert_close(g, 4 * x.detach() ** 3, "float64")
    assert_close(h, 12 * x.detach() ** 2, "float64")
    assert_close(t, 24 * x.detach(), "float64")


@requires_torch
def test_backward_create_graph_fills_grad_with_a_graph(rng):
    x, tx = _pair(rng, (3,))
    for lib, leaf in ((fw, x), (torch, tx)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (leaf ** 3).sum().backward(create_graph=True)
        assert any(_CYCLE in str(w.message) and w.category is UserWarning for w in caught)
        assert leaf.grad.requires_grad and type(leaf.grad.grad_fn).__name__ == "CopyBackwards"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (leaf ** 3).sum().backward(create_graph=True)
        assert type(leaf.grad.grad_fn).__name__ == "AddBackward0"
    assert_close(x.grad, tx.grad, "float64")
    x.grad.sum().backward()  # d/dx of 2 * 3x^2 accumulates into the same .grad
    tx.grad.sum().backward()
    assert_close(x.grad, tx.grad, "float64")


@requires_torch
def test_gradient_of_a_linear_function_needs_no_graph(rng):
    x, tx = _pair(rng, (3,))
    for lib, leaf in ((fw, x), (torch, tx)):
        (g,) = lib.autograd.grad((leaf * 2).sum(), leaf, create_graph=True)
        assert not g.requires_grad and g.grad_fn is None


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_gradient_penalty_matches_pytorch(device, rng):
    """WGAN-GP: the norm of d critic / d input, penalised, then backward to the critic's parameters."""
    shapes = {"w1": (8, 5), "b1": (8,), "w2": (1, 8), "b2": (1,)}
    ours, theirs = {}, {}
    for name, shape in shapes.items():
        ours[name], theirs[name] = _pair(rng, shape, device)
    real, fake = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    alpha = rng.uniform(size=(4, 1))
    results = []
    for lib, p, kwargs in ((fw, ours, {"device": device}), (torch, theirs, {})):
        mixed = lib.tensor(alpha * real + (1 - alpha) * fake, dtype=lib.float64, **kwargs).requires_grad_(True)
        hidden = lib.nn.functional.leaky_relu(lib.nn.functional.linear(mixed, p["w1"], p["b1"]), 0.2)
        critic = lib.nn.functional.linear(hidden, p["w2"], p["b2"])
        (grad,) = lib.autograd.grad(critic, mixed, lib.ones_like(critic), create_graph=True)
        penalty = ((grad.norm(2, dim=1) - 1) ** 2).mean()
        (penalty + critic.mean()).backward()
        results.append([p[name].grad for name in shapes])
    for name, a, b in zip(shapes, *results):
        assert_close(a, b, "float64", rtol=1e-10, atol=1e-10, what=f"gradient of {name}")


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_hessian_vector_product_of_a_network_matches_pytorch(device, rng):
    ours, theirs = {}, {}
    for name, shape in {"w1": (6, 4), "b1": (6,), "w2": (3, 6)}.items():
        ours[name], theirs[name] = _pair(rng, shape, device)
    x, target = rng.standard_normal((5, 4)), rng.integers(0, 3, size=5)
    vectors = {name: rng.standard_normal(t.shape) for name, t in ours.items()}
    results = []
    for lib, p, kwargs in ((fw, ours, {"device": device}), (torch, theirs, {})):
        inputs = lib.tensor(x, dtype=lib.float64, **kwargs)
        hidden = lib.nn.functional.layer_norm(lib.nn.functional.gelu(inputs @ p["w1"].t() + p["b1"]), (6,))
        loss = lib.nn.functional.cross_entropy(hidden @ p["w2"].t(), lib.tensor(target, **kwargs))
        params = list(p.values())
        grads = lib.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * lib.tensor(vectors[n], dtype=lib.float64, **kwargs)).sum() for g, n in zip(grads, p))
        results.append(lib.autograd.grad(dot, params))
    for name, a, b in zip(ours, *results):
        assert_close(a, b, "float64", rtol=1e-9, atol=1e-9, what=f"Hessian-vector product, {name}")


class _Cube(fw.autograd.Function):
    """x^3 with its backward written in Tensor ops (on the saved input), so it differentiates again."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


def test_custom_function_differentiates_twice():
    x = fw.tensor([1.5, -0.5], dtype=fw.float64, requires_grad=True)
    (g,) = fw.autograd.grad(_Cube.apply(x).sum(), x, create_graph=True)
    assert g.requires_grad
    (h,) = fw.autograd.grad(g.sum(), x)
    assert_close(h, 6 * x.detach(), "float64")
    assert fw.autograd.gradgradcheck(_Cube.apply, (x,))


@requires_torch
def test_hooks_see_and_replace_gradients_with_a_graph(rng):
    x, tx = _pair(rng, (2,))
    results = []
    for lib, leaf in ((fw, x), (torch, tx)):
        y = leaf * leaf
        seen = []
        y.register_hook(lambda g, y=y, seen=seen: seen.append(g.requires_grad) or g * y)  # a function of x
        (g,) = lib.autograd.grad(y.sum(), leaf, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), leaf)  # the hook runs again in this pass: y gets a gradient there too
        results.append((g, h, seen))
    assert results[0][2] == results[1][2]
    assert_close(results[0][0], results[1][0], "float64")
    assert_close(results[0][1], results[1][1], "float64")


@requires_torch
def test_retain_grad_keeps_a_graph(rng):
    x, tx = _pair(rng, (3,))
    for leaf in (x, tx):
        y = leaf * 2
        y.retain_grad()
        (y ** 2).sum().backward(create_graph=True)
        assert y.grad.requires_grad and type(y.grad.grad_fn).__name__ == "CloneBackward0"
    assert_close(x.grad, tx.grad, "float64")


def test_backward_with_inputs_and_create_graph():
    x = fw.tensor([1.0, 3.0], dtype=fw.float64, requires_grad=True)
    w = fw.tensor([2.0, 0.5], dtype=fw.float64, requires_grad=True)
    (x * x * w).sum().backward(inputs=[x], create_graph=True)
    assert w.grad is None and x.grad.requires_grad
    x.grad.sum().backward(inputs=[w])  # d(2 x w)/dw
    assert_close(w.grad, 2 * x.detach(), "float64")


def test_create_graph_retains_the_graph_by_default():
    x = fw.tensor([1.0, 2.0], dtype=fw.float64, requires_grad=True)
    y = (x.exp() * x).sum()
    first = fw.autograd.grad(y, x, create_graph=True)[0]
    second = fw.autograd.grad(y, x, create_graph=True)[0]
    assert_close(first, second, "float64")
    fw.autograd.grad(y, x, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        fw.autograd.grad(y, x, create_graph=True)


def test_in_place_change_of_a_saved_value_is_caught():
    x = fw.tensor([1.0, 2.0], dtype=fw.float64, requires_grad=True)
    base = x * 1
    y = (base.exp()).sum()
    base.add_(1)  # exp saved its output, not base: fine, as in PyTorch
    fw.autograd.grad(y, x, create_graph=True)
    z = (base * base).sum()
    base.add_(1)  # mul saved base
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        fw.autograd.grad(z, x, create_graph=True)


def test_a_grad_output_that_requires_grad_joins_the_graph():
    """The double-backward trick behind jvp: the gradient depends on the grad_output fed in."""
    x = fw.tensor([0.5, 1.0, -2.0], dtype=fw.float64, requires_grad=True)
    y = x.sin() * 3
    dummy = fw.zeros(3, dtype=fw.float64, requires_grad=True)
    (g,) = fw.autograd.grad(y, x, dummy, create_graph=True)
    v = fw.tensor([1.0, -1.0, 2.0], dtype=fw.float64)
    (jv,) = fw.autograd.grad(g, dummy, v)
    assert_close(jv, 3 * x.detach().cos() * v, "float64")


def test_autograd_grad_does_not_run_nodes_below_its_inputs():
    x = fw.tensor([1.0, 2.0], dtype=fw.float64, requires_grad=True)
    hidden = x.exp()
    ran = []
    x.register_hook(lambda g: ran.append(True))
    fw.autograd.grad((hidden * 2).sum(), hidden)
    assert not ran


@pytest.mark.parametrize("device", DEVICES)
def test_second_derivative_through_cross_entropy_on_every_device(device, rng):
    logits = rng.standard_normal((4, 5)).astype(np.float32)
    target = rng.integers(0, 5, size=4)
    x = fw.tensor(logits, device=device, requires_grad=True)
    loss = F.cross_entropy(x, fw.tensor(target, device=device))
    (g,) = fw.autograd.grad(loss, x, create_graph=True)
    (h,) = fw.autograd.grad((g * g).sum(), x)
    # by hand: g = (p - onehot) / n; d/dx sum(g^2) = 2/n * (J_softmax^T g) per row
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected_g = (p - np.eye(5)[target]) / 4
    expected_h = 2 / 4 * p * (expected_g - (expected_g * p).sum(1, keepdims=True))
    assert_close(g, expected_g, "float32")
    assert_close(h, expected_h, "float32")


@requires_torch
def test_batched_grad_outputs_match_pytorch(rng):
    x, tx = _pair(rng, (3,))
    batch = rng.standard_normal((4, 3))
    results = []
    for lib, leaf in ((fw, x), (torch, tx)):
        y = leaf.sin() * leaf
        (grads,) = lib.autograd.grad(y, leaf, lib.tensor(batch), is_grads_batched=True, create_graph=True)
        assert tuple(grads.shape) == (4, 3) and grads.requires_grad
        results.append(grads)
    assert_close(results[0], results[1], "float64")
