"""SGD: every option combination, 25-step trajectories against a float64 rule and PyTorch, on both paths."""
import itertools

import numpy as np
import pytest

import framework as fw
from helpers import torch

from .trajectory import PATHS, check_trajectories, option_id


def reference_sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    """SGD as PyTorch's documentation writes it, in float64."""
    def rule(params, grads, state):
        for i, (p, g) in enumerate(zip(params, grads)):
            g = -g if maximize else g
            if weight_decay != 0:
                g = g + weight_decay * p
            if momentum != 0:
                if i not in state:
                    state[i] = g.copy()
                else:
                    state[i] = momentum * state[i] + (1 - dampening) * g
                g = g + momentum * state[i] if nesterov else state[i]
            p -= lr * g
    return rule


def _sgd_options():
    for momentum, dampening, weight_decay, nesterov, maximize in itertools.product(
            (0.0, 0.9), (0.0, 0.3), (0.0, 0.05), (False, True), (False, True)):
        if nesterov and (momentum == 0 or dampening != 0):
            continue
        yield dict(momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                   maximize=maximize)


SGD_OPTIONS = list(_sgd_options())


@pytest.mark.parametrize("dtype,fast_path", PATHS)
@pytest.mark.parametrize("options", SGD_OPTIONS, ids=option_id)
def test_sgd_trajectory(rng, options, dtype, fast_path):
    lr = 0.1
    _, optimizer, params = check_trajectories(
        rng, lambda ps: fw.optim.SGD(ps, lr=lr, **options), lambda ps: torch.optim.SGD(ps, lr=lr, **options),
        reference_sgd(lr, **options), dtype=dtype, maximize=options["maximize"], fast_path=fast_path)
    if options["momentum"]:
        for p in params:
            buf = optimizer.state[p]["momentum_buffer"]
            assert buf.dtype == p.dtype and buf.shape == p.shape
    else:
        assert len(optimizer.state) == 0  # PyTorch keeps no state without momentum


def test_sgd_skips_parameters_without_gradient(rng):
    used, unused = fw.nn.Parameter(fw.randn(3)), fw.nn.Parameter(fw.randn(2))
    before = unused.detach().clone()
    optimizer = fw.optim.SGD([used, unused], lr=0.1, momentum=0.9)
    (used * used).sum().backward()
    optimizer.step()
    assert unused.grad is None and np.array_equal(unused.detach().numpy(), before.numpy())
    assert set(optimizer.state) == {used}


def test_sgd_update_bumps_the_version_so_stale_saved_tensors_are_caught():
    p = fw.nn.Parameter(fw.tensor([1.0, 2.0]))
    optimizer = fw.optim.SGD([p], lr=0.1)
    y = (p * p).sum()  # saves p for backward
    (p * 3).sum().backward()
    version = p._version
    optimizer.step()
    assert p._version > version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_sgd_gradient_that_requires_grad_is_not_recorded():
    # what backward(create_graph=True) leaves in .grad: the update must neither record it nor keep it in the state
    p = fw.nn.Parameter(fw.tensor([1.0, -2.0, 0.5]))
    optimizer = fw.optim.SGD([p], lr=0.1, momentum=0.5)
    p.grad = fw.tensor([2.0, 4.0, -1.0], requires_grad=True) * 1.5
    assert p.grad.requires_grad
    optimizer.step()
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    np.testing.assert_allclose(p.detach().numpy(), [1.0 - 0.3, -2.0 - 0.6, 0.5 + 0.15], rtol=1e-6)
    assert not optimizer.state[p]["momentum_buffer"].requires_grad


def test_sgd_validation():
    p = [fw.nn.Parameter(fw.randn(2))]
    for kwargs, message in [(dict(lr=-1), "Invalid learning rate: -1"),
                            (dict(momentum=-0.5), "Invalid momentum value: -0.5"),
                            (dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
                            (dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
                            (dict(nesterov=True, momentum=0.9, dampening=0.1),
                             "Nesterov momentum requires a momentum and zero dampening")]:
        with pytest.raises(ValueError) as info:
            fw.optim.SGD(p, **kwargs)
        assert str(info.value) == message
        if torch is not None:
            with pytest.raises(ValueError) as torch_info:
                torch.optim.SGD([torch.nn.Parameter(torch.randn(2))], **kwargs)
            assert str(torch_info.value) == message
