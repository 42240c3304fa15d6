"""Adam and AdamW: every option combination, 25-step trajectories against a float64 rule and PyTorch."""
import itertools

import numpy as np
import pytest

import framework as fw
from helpers import torch

from .trajectory import PATHS, check_trajectories, option_id


def reference_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
                   decoupled_weight_decay=False):
    """Adam (and AdamW) as PyTorch's documentation writes them, in float64."""
    beta1, beta2 = betas

    def rule(params, grads, state):
        for i, (p, g) in enumerate(zip(params, grads)):
            s = state.setdefault(i, {"t": 0, "m": np.zeros_like(p), "v": np.zeros_like(p), "v_max": np.zeros_like(p)})
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
            if amsgrad:
                s["v_max"] = np.maximum(s["v_max"], s["v"])
                v_hat = s["v_max"] / (1 - beta2 ** t)
            else:
                v_hat = s["v"] / (1 - beta2 ** t)
            p -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return rule


# betas=(0.3, 0.8) takes the other branch of exp_avg.lerp_ (weight 1 - beta1 >= 0.5)
ADAM_OPTIONS = [dict(amsgrad=a, weight_decay=w, maximize=m, betas=b) for a, w, m, b in itertools.product(
    (False, True), (0.0, 0.1), (False, True), ((0.9, 0.999), (0.3, 0.8)))]


@pytest.mark.parametrize("dtype,fast_path", PATHS)
@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=option_id)
def test_adam_trajectory(rng, options, dtype, fast_path):
    lr = 0.01
    _, optimizer, params = check_trajectories(
        rng, lambda ps: fw.optim.Adam(ps, lr=lr, **options), lambda ps: torch.optim.Adam(ps, lr=lr, **options),
        reference_adam(lr, **options), dtype=dtype, maximize=options["maximize"], fast_path=fast_path,
        far=True)
    keys = ["step", "exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if options["amsgrad"] else [])
    for p in params:
        state = optimizer.state[p]
        assert list(state) == keys
        # PyTorch's layout: the count is a 0-d float32 tensor on the CPU, the moments are shaped like the parameter
        assert state["step"].shape == () and state["step"].dtype == fw.float32 and state["step"].item() == 25.0
        assert all(state[k].shape == p.shape and state[k].dtype == p.dtype for k in keys[1:])


@pytest.mark.parametrize("dtype,fast_path", PATHS)
@pytest.mark.parametrize("options", [dict(amsgrad=a, maximize=m, weight_decay=w) for a, m, w in itertools.product(
    (False, True), (False, True), (0.0, 0.01, 0.3))], ids=option_id)
def test_adamw_trajectory(rng, options, dtype, fast_path):
    lr = 0.01
    check_trajectories(
        rng, lambda ps: fw.optim.AdamW(ps, lr=lr, **options), lambda ps: torch.optim.AdamW(ps, lr=lr, **options),
        reference_adam(lr, decoupled_weight_decay=True, **options), dtype=dtype, maximize=options["maximize"],
        fast_path=fast_path, far=True)


def test_adamw_defaults_and_equivalence_with_decoupled_adam(rng):
    params = [fw.nn.Parameter(fw.randn(2))]
    adamw = fw.optim.AdamW(params)
    assert adamw.defaults["weight_decay"] == 1e-2 and adamw.defaults["decoupled_weight_decay"] is True
    check_trajectories(rng, lambda ps: fw.optim.Adam(ps, lr=0.01, weight_decay=0.2, decoupled_weight_decay=True),
                       lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.2),
                       reference_adam(0.01, weight_decay=0.2, decoupled_weight_decay=True), far=True)


def test_adamw_stays_decoupled_after_loading_an_adam_state_dict():
    p = fw.nn.Parameter(fw.randn(3))
    adam = fw.optim.Adam([p], weight_decay=0.1)
    adamw = fw.optim.AdamW([p], weight_decay=0.1)
    adamw.load_state_dict(adam.state_dict())
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True


@pytest.mark.parametrize("make", [fw.optim.Adam, fw.optim.AdamW], ids=["Adam", "AdamW"])
def test_adam_validation(make):
    p = [fw.nn.Parameter(fw.randn(2))]
    for kwargs, message in [(dict(lr=-1), "Invalid learning rate: -1"),
                            (dict(eps=-1e-3), "Invalid epsilon value: -0.001"),
                            (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
                            (dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
                            (dict(weight_decay=-1), "Invalid weight_decay value: -1"),
                            (dict(betas=(0.9, fw.tensor(0.99))), "betas must be either both floats or both Tensors")]:
        with pytest.raises(ValueError) as info:
            make(p, **kwargs)
        assert str(info.value) == message
        if torch is not None:
            torch_kwargs = {k: (v[0], torch.tensor(0.99)) if k == "betas" and not isinstance(v[1], float) else v
                            for k, v in kwargs.items()}
            with pytest.raises(ValueError) as torch_info:
                getattr(torch.optim, make.__name__)([torch.nn.Parameter(torch.randn(2))], **torch_kwargs)
            assert str(torch_info.value) == message
