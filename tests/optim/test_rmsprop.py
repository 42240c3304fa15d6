"""RMSprop: every option combination, 25-step trajectories against a float64 rule and PyTorch."""
import itertools

import numpy as np
import pytest

import framework as fw
from helpers import torch

from .trajectory import PATHS, check_trajectories, option_id


def reference_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    """RMSprop as PyTorch's documentation writes it, in float64."""
    def rule(params, grads, state):
        for i, (p, g) in enumerate(zip(params, grads)):
            s = state.setdefault(i, {"v": np.zeros_like(p), "g_avg": np.zeros_like(p), "buf": np.zeros_like(p)})
            g = -g if maximize else g
            if weight_decay != 0:
                g = g + weight_decay * p
            s["v"] = alpha * s["v"] + (1 - alpha) * g * g
            v = s["v"]
            if centered:
                s["g_avg"] = alpha * s["g_avg"] + (1 - alpha) * g
                v = v - s["g_avg"] ** 2
            if momentum > 0:
                s["buf"] = momentum * s["buf"] + g / (np.sqrt(v) + eps)
                p -= lr * s["buf"]
            else:
                p -= lr * g / (np.sqrt(v) + eps)
    return rule


# alpha=0.3 takes the other branch of grad_avg.lerp_ (weight 1 - alpha >= 0.5)
RMSPROP_OPTIONS = [dict(centered=c, momentum=m, weight_decay=w, maximize=x, alpha=a)
                   for c, m, w, x, a in itertools.product((False, True), (0.0, 0.9), (0.0, 0.1), (False, True),
                                                          (0.99, 0.3))]


@pytest.mark.parametrize("dtype,fast_path", PATHS)
@pytest.mark.parametrize("options", RMSPROP_OPTIONS, ids=option_id)
def test_rmsprop_trajectory(rng, options, dtype, fast_path):
    lr = 0.01
    # centered: sqrt(square_avg - grad_avg**2) cancels when the gradient barely varies (alpha=0.3 forgets fast),
    # so float32 rounding there is amplified; the float64 runs hold the tight line
    loose = dtype == "float32" and options["centered"]
    tolerance = dict(ref_rtol=2e-4, ref_atol=2e-4, torch_rtol=2e-4, torch_atol=2e-4) if loose else {}
    _, optimizer, params = check_trajectories(
        rng, lambda ps: fw.optim.RMSprop(ps, lr=lr, **options), lambda ps: torch.optim.RMSprop(ps, lr=lr, **options),
        reference_rmsprop(lr, **options), dtype=dtype, maximize=options["maximize"], fast_path=fast_path,
        far=True, **tolerance)
    keys = ["step", "square_avg"] + (["momentum_buffer"] if options["momentum"] else []) \
        + (["grad_avg"] if options["centered"] else [])
    for p in params:
        state = optimizer.state[p]
        assert list(state) == keys
        assert state["step"].dtype == fw.float32 and state["step"].item() == 25.0


def test_rmsprop_validation():
    p = [fw.nn.Parameter(fw.randn(2))]
    for kwargs, message in [(dict(lr=-0.5), "Invalid learning rate: -0.5"),
                            (dict(eps=-1.0), "Invalid epsilon value: -1.0"),
                            (dict(momentum=-1), "Invalid momentum value: -1"),
                            (dict(weight_decay=-1), "Invalid weight_decay value: -1"),
                            (dict(alpha=-0.1), "Invalid alpha value: -0.1")]:
        with pytest.raises(ValueError) as info:
            fw.optim.RMSprop(p, **kwargs)
        assert str(info.value) == message
        if torch is not None:
            with pytest.raises(ValueError) as torch_info:
                torch.optim.RMSprop([torch.nn.Parameter(torch.randn(2))], **kwargs)
            assert str(torch_info.value) == message
