"""Binary losses against float64 numpy references and PyTorch: BCE (weights, the -100 log clamp) and
BCE with logits (weight, pos_weight, stability at extreme logits), target gradients, PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from helpers import case, check_op, random_array, raises_like_torch, requires_torch, torch

from .test_loss import REDUCTIONS, TF, _both, _reduce


def np_bce_logits(x, t, weight=None, reduction="mean", pos_weight=None):
    log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
    loss = (1 - t) * x + log_weight * np.log1p(np.exp(-x))
    return _reduce(loss if weight is None else loss * weight, reduction)


def np_bce(x, t, weight=None, reduction="mean"):
    loss = -(t * np.log(x) + (1 - t) * np.log(1 - x))
    return _reduce(loss if weight is None else loss * weight, reduction)


# ---- binary losses ------------------------------------------------------------------

BIN_SHAPES = [(6,), (3, 4), (2, 1, 3), (1,)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(rng, reduction, weighted):
    for shape in BIN_SHAPES:
        x = rng.uniform(0.05, 0.95, shape)
        t = rng.uniform(0, 1, shape)
        kwargs = dict(reduction=reduction)
        if weighted:
            kwargs["weight"] = rng.uniform(0.2, 2.0, shape[-1:])  # broadcast over the leading dims
        fw_fn, torch_fn = _both("binary_cross_entropy", **kwargs)
        with case(shape=shape, **kwargs):
            out = check_op(fw_fn, lambda a, b: np_bce(a, b, **kwargs), torch_fn, x, t, rng=rng)
            assert out.grad_fn.name() == "BinaryCrossEntropyBackward0"
            check_op(fw_fn, lambda a, b: np_bce(a, b, **kwargs), torch_fn, x.astype(np.float32), t,
                     dtype="float32", rng=rng, grad=False)


def test_binary_cross_entropy_clamps_log_at_minus_100():
    x = fw.tensor([0.0, 1.0, 0.5], dtype=fw.float64, requires_grad=True)
    t = fw.tensor([1.0, 0.0, 0.5], dtype=fw.float64)
    loss = F.binary_cross_entropy(x, t, reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [100.0, 100.0, np.log(2)])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1e12, 1e12, 0.0])  # PyTorch floors x(1-x) at 1e-12


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,pos_weighted", [(False, False), (True, False), (False, True), (True, True)])
def test_binary_cross_entropy_with_logits(rng, reduction, weighted, pos_weighted):
    for shape in BIN_SHAPES:
        x = random_array(rng, shape, "float64", low=-6, high=6)
        t = rng.uniform(0, 1, shape)
        kwargs = dict(reduction=reduction)
        if weighted:
            kwargs["weight"] = rng.uniform(0.2, 2.0, shape)
        if pos_weighted:
            kwargs["pos_weight"] = rng.uniform(0.5, 3.0, shape[-1:])
        fw_fn, torch_fn = _both("binary_cross_entropy_with_logits", **kwargs)
        with case(shape=shape, **{k: v for k, v in kwargs.items() if k == "reduction"}):
            out = check_op(fw_fn, lambda a, b: np_bce_logits(a, b, **kwargs), torch_fn, x, t, rng=rng)
            assert out.grad_fn.name() == "BinaryCrossEntropyWithLogitsBackward0"


@requires_torch
def test_weights_that_require_grad_are_refused_like_torch():
    x, t = np.zeros((2, 3), np.float32), np.full((2, 3), 0.5, np.float32)
    target = [1, 2]
    calls = [
        ("binary_cross_entropy_with_logits", lambda F_, lib, w: F_.binary_cross_entropy_with_logits(
            lib.tensor(x, requires_grad=True), lib.tensor(t), pos_weight=w)),
        ("binary_cross_entropy_with_logits", lambda F_, lib, w: F_.binary_cross_entropy_with_logits(
            lib.tensor(x, requires_grad=True), lib.tensor(t), weight=w)),
        ("binary_cross_entropy", lambda F_, lib, w: F_.binary_cross_entropy(
            lib.tensor(t, requires_grad=True), lib.tensor(t), weight=w)),
        ("nll_loss_forward", lambda F_, lib, w: F_.cross_entropy(
            lib.tensor(x, requires_grad=True), lib.tensor(target), weight=w)),
        ("nll_loss_forward", lambda F_, lib, w: F_.nll_loss(
            lib.tensor(x, requires_grad=True), lib.tensor(target), weight=w)),
    ]
    for name, call in calls:
        message = raises_like_torch(lambda: call(F, fw, fw.ones(3, requires_grad=True)),
                                    lambda: call(TF, torch, torch.ones(3, requires_grad=True)))
        assert f"The function '{name}' is not differentiable with respect to argument" in message
        with fw.no_grad():
            call(F, fw, fw.ones(3, requires_grad=True))  # without grad mode there is nothing to refuse


def test_bce_with_logits_is_stable():
    x = fw.tensor([-1e4, -100.0, 100.0, 1e4], requires_grad=True)
    t = fw.tensor([0.0, 1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [0.0, 100.0, 100.0, 0.0], atol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, -1.0, 1.0, 0.0], atol=1e-6)


@requires_torch
def test_binary_errors_match_torch():
    half, bad = np.full(3, 0.5, np.float32), np.array([0.5, 1.5, 0.2], np.float32)
    for fw_call, torch_call, message in [
        (lambda: F.binary_cross_entropy(fw.tensor(half), fw.tensor(half[:2])),
         lambda: TF.binary_cross_entropy(torch.tensor(half), torch.tensor(half[:2])),
         "Using a target size (framework.Size([2])) that is different to the input size (framework.Size([3]))"),
        (lambda: F.binary_cross_entropy(fw.tensor(bad), fw.tensor(half)),
         lambda: TF.binary_cross_entropy(torch.tensor(bad), torch.tensor(half)),
         "all elements of input should be between 0 and 1"),
        (lambda: F.binary_cross_entropy(fw.tensor(half), fw.tensor(bad)),
         lambda: TF.binary_cross_entropy(torch.tensor(half), torch.tensor(bad)),
         "all elements of target should be between 0 and 1"),
        (lambda: F.binary_cross_entropy_with_logits(fw.tensor(half), fw.tensor(half[:2])),
         lambda: TF.binary_cross_entropy_with_logits(torch.tensor(half), torch.tensor(half[:2])),
         "Target size (framework.Size([2])) must be the same as input size (framework.Size([3]))"),
    ]:
        assert message in raises_like_torch(fw_call, torch_call)
