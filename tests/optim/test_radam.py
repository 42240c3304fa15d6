"""RAdam: every option combination, 25-step trajectories (through the unrectified first steps and past them)
against a float64 rule and PyTorch."""
import itertools

import numpy as np
import pytest

import framework as fw
from framework.optim.radam import rectification
from helpers import torch

from .trajectory import PATHS, check_trajectories, option_id


def reference_radam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                    maximize=False):
    """RAdam as PyTorch's documentation writes it, in float64."""
    beta1, beta2 = betas
    rho_inf = 2 / (1 - beta2) - 1

    def rule(params, grads, state):
        for i, (p, g) in enumerate(zip(params, grads)):
            s = state.setdefault(i, {"t": 0, "m": np.zeros_like(p), "v": np.zeros_like(p)})
            s["t"] += 1
            t = s["t"]
            g = -g if maximize else g
            if weight_decay != 0:
                if decoupled_weight_decay:
                    p *= 1 - lr * weight_decay
                else:
                    g = g + weight_decay * p
            s["m"] = beta1 * s["m"] + (1 - beta1) * g
            s["v"] = beta2 * s["v"] + (1 - beta2) * g * g
            m_hat = s["m"] / (1 - beta1 ** t)
            rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
            if rho_t > 5:
                adaptive = np.sqrt(1 - beta2 ** t) / (np.sqrt(s["v"]) + eps)
                r_t = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                p -= lr * m_hat * adaptive * r_t
            else:
                p -= lr * m_hat
    return rule


# betas=(0.3, 0.8) takes the other branch of exp_avg.lerp_ and rectifies from step 7 on; 0.999 from step 6 on
RADAM_OPTIONS = [dict(weight_decay=w, decoupled_weight_decay=d, maximize=m, betas=b)
                 for w, d, m, b in itertools.product((0.0, 0.1), (False, True), (False, True),
                                                     ((0.9, 0.999), (0.3, 0.8))) if w or not d]


def test_rectification_starts_when_rho_exceeds_5():
    assert [rectification(0.999, t) is not None for t in range(1, 8)] == [False] * 5 + [True] * 2
    assert rectification(0.8, 6) is None and rectification(0.8, 7) is not None
    assert all(rectification(0.5, t) is None for t in range(1, 100))  # rho_inf = 3: never


@pytest.mark.parametrize("dtype,fast_path", PATHS)
@pytest.mark.parametrize("options", RADAM_OPTIONS, ids=option_id)
def test_radam_trajectory(rng, options, dtype, fast_path):
    lr = 0.01
    _, optimizer, params = check_trajectories(
        rng, lambda ps: fw.optim.RAdam(ps, lr=lr, **options), lambda ps: torch.optim.RAdam(ps, lr=lr, **options),
        reference_radam(lr, **options), dtype=dtype, maximize=options["maximize"], fast_path=fast_path, far=True)
    for p in params:
        state = optimizer.state[p]
        assert list(state) == ["step", "exp_avg", "exp_avg_sq"]
        assert state["step"].item() == 25.0
        assert all(state[k].shape == p.shape and state[k].dtype == p.dtype for k in ("exp_avg", "exp_avg_sq"))


def test_radam_validation():
    p = [fw.nn.Parameter(fw.randn(2))]
    for kwargs, message in [(dict(lr=-1), "Invalid learning rate: -1"),
                            (dict(eps=-1.0), "Invalid epsilon value: -1.0"),
                            (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
                            (dict(betas=(0.9, -1.0)), "Invalid beta parameter at index 1: -1.0"),
                            (dict(weight_decay=-1), "Invalid weight_decay value: -1")]:
        with pytest.raises(ValueError) as info:
            fw.optim.RAdam(p, **kwargs)
        assert str(info.value) == message
        if torch is not None:
            with pytest.raises(ValueError) as torch_info:
                torch.optim.RAdam([torch.nn.Parameter(torch.randn(2))], **kwargs)
            assert str(torch_info.value) == message
