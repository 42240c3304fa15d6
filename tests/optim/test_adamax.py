"""Adamax: every option combination, 25-step trajectories against a float64 rule and PyTorch."""
import itertools

import numpy as np
import pytest

import framework as fw
from helpers import torch

from .trajectory import PATHS, check_trajectories, option_id


def reference_adamax(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
    """Adamax as PyTorch's documentation writes it, in float64."""
    beta1, beta2 = betas

    def rule(params, grads, state):
        for i, (p, g) in enumerate(zip(params, grads)):
            s = state.setdefault(i, {"t": 0, "m": np.zeros_like(p), "u": np.zeros_like(p)})
            s["t"] += 1
            g = -g if maximize else g
            if weight_decay != 0:
                g = g + weight_decay * p
            s["m"] = beta1 * s["m"] + (1 - beta1) * g
            s["u"] = np.maximum(beta2 * s["u"], np.abs(g) + eps)
            p -= lr / (1 - beta1 ** s["t"]) * s["m"] / s["u"]
    return rule


# betas=(0.3, 0.8) takes the other branch of exp_avg.lerp_ (weight 1 - beta1 >= 0.5)
ADAMAX_OPTIONS = [dict(weight_decay=w, maximize=m, betas=b) for w, m, b in itertools.product(
    (0.0, 0.1), (False, True), ((0.9, 0.999), (0.3, 0.8)))]


@pytest.mark.parametrize("dtype,fast_path", PATHS)
@pytest.mark.parametrize("options", ADAMAX_OPTIONS, ids=option_id)
def test_adamax_trajectory(rng, options, dtype, fast_path):
    lr = 0.01
    _, optimizer, params = check_trajectories(
        rng, lambda ps: fw.optim.Adamax(ps, lr=lr, **options), lambda ps: torch.optim.Adamax(ps, lr=lr, **options),
        reference_adamax(lr, **options), dtype=dtype, maximize=options["maximize"], fast_path=fast_path, far=True)
    for p in params:
        state = optimizer.state[p]
        assert list(state) == ["step", "exp_avg", "exp_inf"]
        assert state["step"].dtype == fw.float32 and state["step"].item() == 25.0
        assert all(state[k].shape == p.shape and state[k].dtype == p.dtype for k in ("exp_avg", "exp_inf"))


def test_adamax_validation():
    p = [fw.nn.Parameter(fw.randn(2))]
    for kwargs, message in [(dict(lr=-1), "Invalid learning rate: -1"),
                            (dict(eps=-1.0), "Invalid epsilon value: -1.0"),
                            (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
                            (dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
                            (dict(weight_decay=-1), "Invalid weight_decay value: -1")]:
        with pytest.raises(ValueError) as info:
            fw.optim.Adamax(p, **kwargs)
        assert str(info.value) == message
        if torch is not None:
            with pytest.raises(ValueError) as torch_info:
                torch.optim.Adamax([torch.nn.Parameter(torch.randn(2))], **kwargs)
            assert str(torch_info.value) == message
