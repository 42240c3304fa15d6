"""NAdam: every option combination, 25-step trajectories against a float64 rule and PyTorch."""
import itertools

import numpy as np
import pytest

import framework as fw
from helpers import torch

from .trajectory import PATHS, check_trajectories, option_id


def reference_nadam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                    decoupled_weight_decay=False, maximize=False):
    """NAdam as PyTorch's documentation writes it, in float64, except that the product of the mu's is rounded
    to float32 after each step: PyTorch keeps it in a tensor of the default dtype, whatever the parameters'."""
    beta1, beta2 = betas

    def mu(t):
        return beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))

    def rule(params, grads, state):
        for i, (p, g) in enumerate(zip(params, grads)):
            s = state.setdefault(i, {"t": 0, "mu_product": 1.0, "m": np.zeros_like(p), "v": np.zeros_like(p)})
            s["t"] += 1
            t = s["t"]
            g = -g if maximize else g
            if weight_decay != 0:
                if decoupled_weight_decay:
                    p *= 1 - lr * weight_decay
                else:
                    g = g + weight_decay * p
            s["mu_product"] = float(np.float32(s["mu_product"] * mu(t)))
            s["m"] = beta1 * s["m"] + (1 - beta1) * g
            s["v"] = beta2 * s["v"] + (1 - beta2) * g * g
            m_hat = (mu(t + 1) * s["m"] / (1 - s["mu_product"] * mu(t + 1))
                     + (1 - mu(t)) * g / (1 - s["mu_product"]))
            v_hat = s["v"] / (1 - beta2 ** t)
            p -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return rule


# betas=(0.3, 0.8) takes the other branch of exp_avg.lerp_ (weight 1 - beta1 >= 0.5)
NADAM_OPTIONS = [dict(weight_decay=w, decoupled_weight_decay=d, maximize=m, betas=b, momentum_decay=md)
                 for w, d, m, b, md in itertools.product((0.0, 0.1), (False, True), (False, True),
                                                         ((0.9, 0.999), (0.3, 0.8)), (4e-3, 0.3))
                 if w or not d]


@pytest.mark.parametrize("dtype,fast_path", PATHS)
@pytest.mark.parametrize("options", NADAM_OPTIONS, ids=option_id)
def test_nadam_trajectory(rng, options, dtype, fast_path):
    lr = 0.01
    _, optimizer, params = check_trajectories(
        rng, lambda ps: fw.optim.NAdam(ps, lr=lr, **options), lambda ps: torch.optim.NAdam(ps, lr=lr, **options),
        reference_nadam(lr, **options), dtype=dtype, maximize=options["maximize"], fast_path=fast_path, far=True)
    for p in params:
        state = optimizer.state[p]
        assert list(state) == ["step", "mu_product", "exp_avg", "exp_avg_sq"]
        assert state["step"].item() == 25.0 and state["mu_product"].shape == ()
        assert state["mu_product"].dtype == fw.float32 and state["mu_product"].device.type == "cpu"
        assert all(state[k].shape == p.shape and state[k].dtype == p.dtype for k in ("exp_avg", "exp_avg_sq"))


def test_nadam_validation():
    p = [fw.nn.Parameter(fw.randn(2))]
    for kwargs, message in [(dict(lr=-1), "Invalid learning rate: -1"),
                            (dict(eps=-1.0), "Invalid epsilon value: -1.0"),
                            (dict(betas=(-0.1, 0.999)), "Invalid beta parameter at index 0: -0.1"),
                            (dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
                            (dict(weight_decay=-1), "Invalid weight_decay value: -1"),
                            (dict(momentum_decay=-0.2), "Invalid momentum_decay value: -0.2")]:
        with pytest.raises(ValueError) as info:
            fw.optim.NAdam(p, **kwargs)
        assert str(info.value) == message
        if torch is not None:
            with pytest.raises(ValueError) as torch_info:
                torch.optim.NAdam([torch.nn.Parameter(torch.randn(2))], **kwargs)
            assert str(torch_info.value) == message
