"""Adagrad: every option combination, 25-step trajectories against a float64 rule and PyTorch."""
import itertools

import numpy as np
import pytest

import framework as fw
from helpers import torch

from .trajectory import PATHS, check_trajectories, option_id


def reference_adagrad(lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    """Adagrad as PyTorch's documentation writes it, in float64."""
    def rule(params, grads, state):
        for i, (p, g) in enumerate(zip(params, grads)):
            s = state.setdefault(i, {"t": 0, "sum": np.full_like(p, initial_accumulator_value)})
            s["t"] += 1
            g = -g if maximize else g
            if weight_decay != 0:
                g = g + weight_decay * p
            clr = lr / (1 + (s["t"] - 1) * lr_decay)
            s["sum"] = s["sum"] + g * g
            p -= clr * g / (np.sqrt(s["sum"]) + eps)
    return rule


ADAGRAD_OPTIONS = [dict(lr_decay=d, weight_decay=w, initial_accumulator_value=a, maximize=m)
                   for d, w, a, m in itertools.product((0.0, 0.05), (0.0, 0.1), (0.0, 0.5), (False, True))]


@pytest.mark.parametrize("dtype,fast_path", PATHS)
@pytest.mark.parametrize("options", ADAGRAD_OPTIONS, ids=option_id)
def test_adagrad_trajectory(rng, options, dtype, fast_path):
    lr = 0.1
    _, optimizer, params = check_trajectories(
        rng, lambda ps: fw.optim.Adagrad(ps, lr=lr, **options), lambda ps: torch.optim.Adagrad(ps, lr=lr, **options),
        reference_adagrad(lr, **options), dtype=dtype, maximize=options["maximize"], fast_path=fast_path, far=True)
    for p in params:
        state = optimizer.state[p]
        assert list(state) == ["step", "sum"]
        assert state["step"].shape == () and state["step"].dtype == fw.float32 and state["step"].item() == 25.0
        assert state["sum"].shape == p.shape and state["sum"].dtype == p.dtype


def test_adagrad_state_exists_from_construction():
    """As in PyTorch: every parameter has its state (step 0, the sums at initial_accumulator_value) before any
    step, filled from the constructor's value even for a group that sets its own."""
    a, b = fw.nn.Parameter(fw.randn(2, 3)), fw.nn.Parameter(fw.randn(4))
    optimizer = fw.optim.Adagrad([{"params": [a]}, {"params": [b], "initial_accumulator_value": 2.0}],
                                 initial_accumulator_value=0.5)
    assert optimizer.param_groups[1]["initial_accumulator_value"] == 2.0
    for p in (a, b):
        assert optimizer.state[p]["step"].item() == 0.0
        np.testing.assert_array_equal(optimizer.state[p]["sum"].numpy(), np.full(p.shape, 0.5, np.float32))
    assert list(optimizer.state_dict()["state"]) == [0, 1]
    late = fw.nn.Parameter(fw.randn(3))
    optimizer.add_param_group({"params": [late]})
    assert late not in optimizer.state  # a group added later gets its state on its first step
    late.grad = fw.ones(3)
    optimizer.step()
    assert optimizer.state[late]["step"].item() == 1.0
    if torch is not None:
        ta, tb = torch.nn.Parameter(torch.randn(2, 3)), torch.nn.Parameter(torch.randn(4))
        expected = torch.optim.Adagrad([{"params": [ta]}, {"params": [tb], "initial_accumulator_value": 2.0}],
                                       initial_accumulator_value=0.5)
        assert float(expected.state[tb]["sum"][0]) == 0.5 and list(expected.state_dict()["state"]) == [0, 1]


def test_adagrad_validation():
    p = [fw.nn.Parameter(fw.randn(2))]
    for kwargs, message in [(dict(lr=-1), "Invalid learning rate: -1"),
                            (dict(lr_decay=-0.5), "Invalid lr_decay value: -0.5"),
                            (dict(weight_decay=-1), "Invalid weight_decay value: -1"),
                            (dict(initial_accumulator_value=-1.0),
                             "Invalid initial_accumulator_value value: -1.0"),
                            (dict(eps=-1e-3), "Invalid epsilon value: -0.001")]:
        with pytest.raises(ValueError) as info:
            fw.optim.Adagrad(p, **kwargs)
        assert str(info.value) == message
        if torch is not None:
            with pytest.raises(ValueError) as torch_info:
                torch.optim.Adagrad([torch.nn.Parameter(torch.randn(2))], **kwargs)
            assert str(torch_info.value) == message
