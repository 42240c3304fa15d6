"""User-defined ops: `framework.autograd.Function` with PyTorch's contract (ctx.save_for_backward,
ctx.saved_tensors, ctx.needs_input_grad, Function.apply)."""
import numpy as np
import pytest

import framework as fw
from framework.autograd import Function
from helpers import assert_close, gradcheck, make_tensor, random_array, torch


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


class ScaledMul(Function):
    """a * b * scale, with a non-tensor argument and needs_input_grad checks."""

    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        ctx.seen_needs = ctx.needs_input_grad
        return a * b * scale

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad * b * ctx.scale if ctx.needs_input_grad[0] else None
        grad_b = grad * a * ctx.scale if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


class SplitSinCos(Function):
    """Two outputs."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx, grad_sin, grad_cos):
        (x,) = ctx.saved_tensors
        return grad_sin * x.cos() - grad_cos * x.sin()


def test_apply_forward_backward(rng):
    a = random_array(rng, (3, 4), "float64")
    x = make_tensor(a, requires_grad=True)
    y = Cube.apply(x)
    assert_close(y, a ** 3, "float64")
    assert y.requires_grad and not y.is_leaf
    assert y.grad_fn.name() == "CubeBackward"
    g = random_array(rng, (3, 4), "float64")
    y.backward(fw.tensor(g))
    assert_close(x.grad, 3 * a ** 2 * g, "float64")


def test_forward_runs_without_recording(rng):
    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            Probe.grad_enabled = fw.is_grad_enabled()
            out = x * 2
            Probe.inner_requires_grad = out.requires_grad
            return out

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x = fw.ones(2, requires_grad=True)
    y = Probe.apply(x)
    assert Probe.grad_enabled is False and Probe.inner_requires_grad is False
    assert y.grad_fn.name() == "ProbeBackward"


def test_needs_input_grad_and_non_tensor_arguments(rng):
    a = make_tensor(random_array(rng, (3,), "float64"), requires_grad=True)
    b = make_tensor(random_array(rng, (3,), "float64"))
    out = ScaledMul.apply(a, b, 2.5)
    assert out.grad_fn._ctx.seen_needs == (True, False, False)
    out.backward(fw.ones(3))
    assert_close(a.grad, 2.5 * b.numpy(), "float64")
    assert b.grad is None


def test_gradcheck_custom_functions(rng):
    gradcheck(Cube.apply, random_array(rng, (2, 3), "float64"))
    gradcheck(lambda a, b: ScaledMul.apply(a, b, 0.5), random_array(rng, (3,), "float64"),
              random_array(rng, (3,), "float64"))
    gradcheck(SplitSinCos.apply, random_array(rng, (4,), "float64"))


def test_multiple_outputs(rng):
    a = random_array(rng, (4,), "float64")
    x = make_tensor(a, requires_grad=True)
    s, c = SplitSinCos.apply(x)
    assert s.grad_fn is c.grad_fn
    (s * 2 + c * 3).backward(fw.ones(4))
    assert_close(x.grad, 2 * np.cos(a) - 3 * np.sin(a), "float64")
    x.grad = None
    s, c = SplitSinCos.apply(x)
    s.backward(fw.ones(4))  # the unused output's gradient arrives as zeros (materialize_grads)
    assert_close(x.grad, np.cos(a), "float64")


def test_no_graph_when_nothing_requires_grad_or_under_no_grad():
    x = fw.ones(2)
    assert Cube.apply(x).grad_fn is None
    with fw.no_grad():
        y = Cube.apply(fw.ones(2, requires_grad=True))
    assert y.grad_fn is None and not y.requires_grad


def test_saved_tensors_are_freed_after_backward(rng):
    x = make_tensor(random_array(rng, (3,), "float64"), requires_grad=True)
    y = Cube.apply(x)
    y.backward(fw.ones(3))
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward(fw.ones(3))
    z = Cube.apply(x)
    z.backward(fw.ones(3), retain_graph=True)
    z.backward(fw.ones(3))
    assert_close(x.grad, 9 * x.detach().numpy() ** 2, "float64")


def test_modifying_a_saved_input_is_detected(rng):
    x = make_tensor(random_array(rng, (3,), "float64"), requires_grad=True)
    h = x * 1
    y = Cube.apply(h)
    with fw.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward(fw.ones(3))


def test_wrong_number_of_gradients_raises():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, k):
            return a * k

        @staticmethod
        def backward(ctx, grad):
            return grad

    x = fw.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        Bad.apply(x, fw.ones(2, requires_grad=True)).backward(fw.ones(2))
    assert str(info.value) == "function BadBackward returned an incorrect number of gradients (expected 2, got 1)"
    if torch is not None:
        class TorchBad(torch.autograd.Function):
            forward = staticmethod(lambda ctx, a, k: a * k)
            backward = staticmethod(lambda ctx, grad: grad)
        with pytest.raises(RuntimeError, match="returned an incorrect number of gradients"):
            TorchBad.apply(torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)).backward(
                torch.ones(2))


def test_mark_non_differentiable():
    class SortLike(Function):
        @staticmethod
        def forward(ctx, x):
            index = fw.tensor([1.0, 0.0])
            ctx.mark_non_differentiable(index)
            return x * 2, index

        @staticmethod
        def backward(ctx, grad, grad_index):
            return grad * 2

    x = fw.ones(2, requires_grad=True)
    out, index = SortLike.apply(x)
    assert out.requires_grad and not index.requires_grad
    out.backward(fw.ones(2))
    assert x.grad.tolist() == [2.0, 2.0]


def test_returning_an_input_gives_a_new_tensor():
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 5

    x = fw.ones(2, requires_grad=True)
    y = Identity.apply(x)
    assert y is not x and x.is_leaf and x.grad_fn is None and y.grad_fn is not None
    y.backward(fw.ones(2))
    assert x.grad.tolist() == [5.0, 5.0]


def test_custom_function_inside_a_larger_graph(rng):
    a = random_array(rng, (2, 3), "float64")
    w = random_array(rng, (3, 2), "float64")
    x = make_tensor(a, requires_grad=True)
    weight = make_tensor(w, requires_grad=True)
    out = Cube.apply(x @ weight).sigmoid()
    g = random_array(rng, (2, 2), "float64")
    out.backward(fw.tensor(g))
    z = a @ w
    s = 1 / (1 + np.exp(-z ** 3))
    dz = g * s * (1 - s) * 3 * z ** 2
    assert_close(x.grad, dz @ w.T, "float64")
    assert_close(weight.grad, a.T @ dz, "float64")


def test_function_repr_and_class_identity():
    y = Cube.apply(fw.ones(1, requires_grad=True))
    assert "CubeBackward" in repr(y.grad_fn)
    assert repr(y).endswith("grad_fn=<CubeBackward>)")
