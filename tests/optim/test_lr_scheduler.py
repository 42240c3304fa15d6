"""Learning-rate schedulers with a closed form: 30-step lr sequences against it (float64) and PyTorch (bit for bit),
state dicts, warnings and argument checks. (Cyclic, plateau and composite schedulers: their own test files.)"""
import math
import warnings
from bisect import bisect_right

import numpy as np
import pytest

import framework as fw
from framework.optim import lr_scheduler
from helpers import torch

BASE_LRS = (0.1, 0.03)  # two param groups with their own lr
STEPS = 30


class Decay:
    """A callable object: LambdaLR saves its attributes in the state dict (a plain function is skipped)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, epoch):
        return self.rate ** epoch


def warm_restarts(T_0, T_mult, eta_min):
    """CosineAnnealingWarmRestarts' closed form: the cosine within the period (T_0 * T_mult**k epochs) e falls in."""
    def lr(base, e):
        start, period = 0, T_0
        while e >= start + period:
            start, period = start + period, period * T_mult
        return eta_min + (base - eta_min) * (1 + math.cos(math.pi * (e - start) / period)) / 2
    return lr


# name -> (arguments, the closed form lr(base_lr, epoch) as the docs define it)
SCHEDULES = {
    "StepLR": (dict(step_size=3, gamma=0.5), lambda base, e: base * 0.5 ** (e // 3)),
    "MultiStepLR": (dict(milestones=[2, 5, 5, 11], gamma=0.3),
                    lambda base, e: base * 0.3 ** bisect_right([2, 5, 5, 11], e)),
    "ExponentialLR": (dict(gamma=0.9), lambda base, e: base * 0.9 ** e),
    "CosineAnnealingLR": (dict(T_max=10, eta_min=0.001),  # 30 steps: down, back up, and down again
                          lambda base, e: 0.001 + (base - 0.001) * (1 + math.cos(math.pi * e / 10)) / 2),
    "CosineAnnealingLR-eta0": (dict(T_max=7), lambda base, e: base * (1 + math.cos(math.pi * e / 7)) / 2),
    "LambdaLR": (dict(lr_lambda=lambda e: 1 / (1 + e)), lambda base, e: base / (1 + e)),
    "LambdaLR-per-group": (dict(lr_lambda=[Decay(0.9), Decay(0.8)]), None),
    "LinearLR": (dict(start_factor=0.25, total_iters=8), lambda base, e: base * (0.25 + 0.75 * min(e, 8) / 8)),
    "LinearLR-decay": (dict(start_factor=1.0, end_factor=0.1, total_iters=5),
                       lambda base, e: base * (1.0 - 0.9 * min(e, 5) / 5)),
    "MultiplicativeLR": (dict(lr_lambda=lambda e: 0.9), lambda base, e: base * 0.9 ** e),
    "MultiplicativeLR-per-group": (dict(lr_lambda=[Decay(0.9), Decay(0.8)]), None),
    "ConstantLR": (dict(factor=0.3, total_iters=7), lambda base, e: base * (0.3 if e < 7 else 1.0)),
    "ConstantLR-default": ({}, lambda base, e: base * (1 / 3 if e < 5 else 1.0)),
    "PolynomialLR": (dict(total_iters=12, power=2.0), lambda base, e: base * (1 - min(e, 12) / 12) ** 2),
    "PolynomialLR-default": ({}, lambda base, e: base * (1 - min(e, 5) / 5)),
    "CosineAnnealingWarmRestarts": (dict(T_0=4, eta_min=0.001), warm_restarts(4, 1, 0.001)),
    "CosineAnnealingWarmRestarts-mult": (dict(T_0=3, T_mult=2), warm_restarts(3, 2, 0.0)),
}


def _scheduler_class(lib, name):
    return getattr(lib.optim.lr_scheduler, name.split("-")[0])


def _arguments(name):
    arguments = dict(SCHEDULES[name][0])
    if name.endswith("-per-group"):
        arguments["lr_lambda"] = [Decay(0.9), Decay(0.8)]  # fresh objects: LambdaLR may change their attributes
    return arguments


def _optimizer(lib, lrs=BASE_LRS):
    params = [lib.nn.Parameter(lib.zeros(2)) for _ in lrs]
    return lib.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])


def _lr_sequence(lib, name, steps=STEPS):
    """get_last_lr() at construction and after each of `steps` optimizer + scheduler steps."""
    optimizer = _optimizer(lib)
    scheduler = _scheduler_class(lib, name)(optimizer, **_arguments(name))
    lrs = [scheduler.get_last_lr()]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
        assert lrs[-1] == [group["lr"] for group in optimizer.param_groups]
    return lrs


@pytest.mark.parametrize("name", SCHEDULES)
def test_lr_sequence_matches_closed_form_and_torch(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stepping in the right order warns about nothing
        lrs = _lr_sequence(fw, name)
    closed_form = SCHEDULES[name][1]
    if name == "LambdaLR-per-group":  # one lambda per group: lr = base * lambda(e)
        expected = [[base * rate ** e for base, rate in zip(BASE_LRS, (0.9, 0.8))] for e in range(STEPS + 1)]
    elif closed_form is None:  # MultiplicativeLR, one lambda per group: lr = lr * lambda(e) = base * prod(rate**e)
        expected = [[base * rate ** (e * (e + 1) / 2) for base, rate in zip(BASE_LRS, (0.9, 0.8))]
                    for e in range(STEPS + 1)]
    else:
        expected = [[closed_form(base, e) for base in BASE_LRS] for e in range(STEPS + 1)]
    np.testing.assert_allclose(np.array(lrs), np.array(expected), rtol=1e-12, atol=1e-17)
    if torch is not None:
        assert lrs == _lr_sequence(torch, name)  # the same recursive formulas: the same floats


@pytest.mark.parametrize("name", SCHEDULES)
def test_state_dict_round_trip_resumes_the_sequence(name):
    whole = _lr_sequence(fw, name)
    optimizer = _optimizer(fw)
    scheduler = _scheduler_class(fw, name)(optimizer, **_arguments(name))
    for _ in range(12):
        optimizer.step()
        scheduler.step()
    saved_scheduler, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    assert "optimizer" not in saved_scheduler and saved_scheduler["last_epoch"] == 12
    if torch is not None:
        torch_optimizer = _optimizer(torch)
        torch_keys = list(_scheduler_class(torch, name)(torch_optimizer, **_arguments(name)).state_dict())
        assert list(saved_scheduler) == torch_keys
    # a new run: scheduler constructed on a fresh optimizer, then both states loaded (PyTorch's documented order)
    optimizer = _optimizer(fw, lrs=(1.0, 1.0))
    scheduler = _scheduler_class(fw, name)(optimizer, **_arguments(name))
    scheduler.load_state_dict(saved_scheduler)
    optimizer.load_state_dict(saved_optimizer)
    lrs = []
    for _ in range(STEPS - 12):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
    assert lrs == whole[13:]


def test_lambda_lr_state_dict_saves_callable_objects_not_functions():
    optimizer = _optimizer(fw)
    scheduler = lr_scheduler.LambdaLR(optimizer, [lambda e: 1.0, Decay(0.5)])
    saved = scheduler.state_dict()
    assert saved["lr_lambdas"] == [None, {"rate": 0.5}]
    other = lr_scheduler.LambdaLR(_optimizer(fw), [lambda e: 1.0, Decay(0.7)])
    other.load_state_dict(saved)
    assert other.lr_lambdas[1].rate == 0.5 and "lr_lambdas" in saved


def test_step_with_epoch_uses_the_closed_form_and_warns():
    optimizer = _optimizer(fw)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    optimizer.step()
    with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        scheduler.step(7)
    assert scheduler.last_epoch == 7 and scheduler.get_last_lr() == [0.1 * 0.5 ** 3, 0.03 * 0.5 ** 3]


def test_warnings_follow_torch():
    optimizer = _optimizer(fw)
    scheduler = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
        scheduler.step()
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        scheduler.get_lr()


def test_initial_lr_and_resuming_from_last_epoch():
    optimizer = _optimizer(fw)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    assert [g["initial_lr"] for g in optimizer.param_groups] == list(BASE_LRS) and scheduler.base_lrs == list(BASE_LRS)
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups\\[0\\]"):
        lr_scheduler.StepLR(_optimizer(fw), step_size=1, last_epoch=3)


def test_argument_checks():
    optimizer = _optimizer(fw)
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.StepLR([], step_size=1)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(optimizer, [lambda e: 1.0])
    with pytest.raises(ValueError, match="Starting multiplicative factor expected to be greater than 0"):
        lr_scheduler.LinearLR(optimizer, start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor expected to be between 0 and 1."):
        lr_scheduler.LinearLR(optimizer, end_factor=1.5)


def test_scheduled_lr_drives_the_updates():
    """The lr a scheduler sets is the lr the next step uses."""
    p = fw.nn.Parameter(fw.tensor([1.0]))
    optimizer = fw.optim.SGD([p], lr=1.0)
    scheduler = lr_scheduler.MultiStepLR(optimizer, milestones=[1], gamma=0.25)
    for expected in (0.0, -0.25):  # grad is 1: p -= 1.0, then p -= 0.25
        p.grad = fw.tensor([1.0])
        optimizer.step()
        scheduler.step()
        assert p.item() == expected


def _error(call):
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("name,arguments,expected", [
    ("MultiplicativeLR", dict(lr_lambda=[lambda e: 1.0, 3]),
     (TypeError, "lr_lambda should be a function, but got int")),
    ("MultiplicativeLR", dict(lr_lambda=[lambda e: 1.0]), (ValueError, "Expected 2 lr_lambdas, but got 1")),
    ("ConstantLR", dict(factor=1.5), (ValueError, "Constant multiplicative factor expected to be between 0 and 1.")),
    ("CosineAnnealingWarmRestarts", dict(T_0=0), (ValueError, "Expected positive integer T_0, but got 0")),
    ("CosineAnnealingWarmRestarts", dict(T_0=2.0), (ValueError, "Expected positive integer T_0, but got 2.0")),
    ("CosineAnnealingWarmRestarts", dict(T_0=2, T_mult=0), (ValueError, "Expected integer T_mult >= 1, but got 0")),
    ("CosineAnnealingWarmRestarts", dict(T_0=2, eta_min="0"),
     (ValueError, "Expected float or int eta_min, but got 0 of type <class 'str'>")),
], ids=lambda v: v if isinstance(v, str) else None)
def test_argument_checks_match_torch(name, arguments, expected):
    assert _error(lambda: getattr(lr_scheduler, name)(_optimizer(fw), **arguments)) == expected
    if torch is not None:
        assert _error(lambda: getattr(torch.optim.lr_scheduler, name)(_optimizer(torch), **arguments)) == expected


@pytest.mark.parametrize("T_mult", [1, 3])
def test_warm_restarts_with_fractional_epochs_match_torch(T_mult):
    """The per-batch idiom of PyTorch's docs: step(epoch + i / iters); no deprecation warning, as in PyTorch."""
    def sequence(lib):
        optimizer = _optimizer(lib)
        scheduler = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=2, T_mult=T_mult, eta_min=1e-3)
        lrs = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for epoch in range(9):
                for i in range(3):
                    optimizer.step()
                    scheduler.step(epoch + i / 3)
                    lrs.append((scheduler.get_last_lr(), scheduler.T_cur, scheduler.T_i, scheduler.last_epoch))
        return lrs

    got = sequence(fw)
    assert got[3] == ([1e-3 + (0.1 - 1e-3) * (1 + math.cos(math.pi * 1 / 2)) / 2,
                       1e-3 + (0.03 - 1e-3) * (1 + math.cos(math.pi * 1 / 2)) / 2], 1, 2, 1)
    if torch is not None:
        assert got == sequence(torch)
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(_optimizer(fw), T_0=2)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        scheduler.step(-1)


def test_optimizer_step_replaced_after_the_scheduler_warns():
    optimizer = _optimizer(fw)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=1)
    optimizer.step = lambda closure=None: None  # replaces the scheduler's wrapper
    with pytest.warns(UserWarning, match="Seems like `optimizer.step\\(\\)` has been overridden after learning rate"):
        scheduler.step()


def test_a_tensor_lr_is_filled_in_place():
    """The optimizer keeps its Tensor lr (the scheduler fills it); get_last_lr gives copies, as PyTorch's."""
    def run(lib):
        lr = lib.tensor(0.1, dtype=lib.float64)
        optimizer = lib.optim.SGD([lib.nn.Parameter(lib.zeros(2))], lr=lr)
        scheduler = lib.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
        lrs = []
        for _ in range(3):
            optimizer.step()
            scheduler.step()
            lrs.append(scheduler.get_last_lr()[0])
        assert optimizer.param_groups[0]["lr"] is lr and all(isinstance(v, type(lr)) and v is not lr for v in lrs)
        return [float(v) for v in lrs]

    assert run(fw) == [0.05, 0.025, 0.0125]
    if torch is not None:
        assert run(torch) == [0.05, 0.025, 0.0125]
