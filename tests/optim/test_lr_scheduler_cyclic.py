"""OneCycleLR and CyclicLR: lr and momentum sequences against the closed forms of PyTorch's docs (float64) and
PyTorch (bit for bit), with SGD's momentum and the Adam family's beta1; state dicts; argument checks."""
import math
import warnings

import numpy as np
import pytest

import framework as fw
from framework.optim import lr_scheduler
from helpers import torch

BASE_LRS = (0.1, 0.03)


def _optimizer(lib, name="SGD", lrs=BASE_LRS):
    params = [lib.nn.Parameter(lib.zeros(2)) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    if name == "SGD":
        return lib.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    return getattr(lib.optim, name)(groups, lr=lrs[0])


def _momentums(optimizer):
    return [group["betas"][0] if "betas" in group else group.get("momentum") for group in optimizer.param_groups]


def _sequence(lib, scheduler_name, arguments, optimizer_name="SGD", steps=None):
    """(lrs, momentums) at construction and after each optimizer + scheduler step."""
    optimizer = _optimizer(lib, optimizer_name)
    scheduler = getattr(lib.optim.lr_scheduler, scheduler_name)(optimizer, **arguments)
    steps = arguments.get("total_steps", 24) - 1 if steps is None else steps
    records = [(scheduler.get_last_lr(), _momentums(optimizer))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stepped in the right order: no warning
        for _ in range(steps):
            optimizer.step()
            scheduler.step()
            records.append((scheduler.get_last_lr(), _momentums(optimizer)))
    return records, scheduler, optimizer


def _check(got, expected):
    lrs, momentums = (np.array([r[i] for r in got], dtype=float) for i in (0, 1))
    np.testing.assert_allclose(lrs, np.array([e[0] for e in expected]), rtol=1e-12, atol=1e-17)
    np.testing.assert_allclose(momentums, np.array([e[1] for e in expected]), rtol=1e-12)


# ---- OneCycleLR -------------------------------------------------------------------------------------------------

def one_cycle(total, max_lrs, pct_start=0.3, anneal="cos", base_m=0.85, max_m=0.95, div=25.0, final_div=1e4,
              three_phase=False):
    """The docs' schedule: (lrs, momentums) per step, each phase annealing from its start to its end."""
    def anneal_fn(start, end, pct):
        if anneal == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start
    records = []
    for step in range(total):
        lrs, moms = [], []
        for max_lr in max_lrs:
            initial, minimum = max_lr / div, max_lr / div / final_div
            up = pct_start * total - 1
            if three_phase:
                phases = [(up, initial, max_lr, max_m, base_m), (2 * pct_start * total - 2, max_lr, initial, base_m,
                                                                 max_m), (total - 1, initial, minimum, max_m, max_m)]
            else:
                phases = [(up, initial, max_lr, max_m, base_m), (total - 1, max_lr, minimum, base_m, max_m)]
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(phases):
                if step <= end or i == len(phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(anneal_fn(lr0, lr1, pct))
                    moms.append(anneal_fn(m0, m1, pct))
                    break
                start = end
        records.append((lrs, moms))
    return records


ONE_CYCLE = {
    "cos": (dict(max_lr=1.0, total_steps=24), dict(max_lrs=(1.0, 1.0))),
    "linear-per-group": (dict(max_lr=[1.0, 0.5], total_steps=20, anneal_strategy="linear", pct_start=0.25),
                         dict(max_lrs=(1.0, 0.5), anneal="linear", pct_start=0.25)),
    "three-phase": (dict(max_lr=0.8, total_steps=30, three_phase=True, div_factor=10.0, final_div_factor=100.0),
                    dict(max_lrs=(0.8, 0.8), three_phase=True, div=10.0, final_div=100.0)),
    "epochs": (dict(max_lr=0.5, epochs=4, steps_per_epoch=5, base_momentum=0.8, max_momentum=0.9),
               dict(max_lrs=(0.5, 0.5), base_m=0.8, max_m=0.9)),
}


@pytest.mark.parametrize("optimizer_name", ["SGD", "Adam", "NAdam"])
@pytest.mark.parametrize("case", ONE_CYCLE)
def test_one_cycle_sequence(case, optimizer_name):
    arguments, reference = ONE_CYCLE[case]
    total = arguments.get("total_steps") or arguments["epochs"] * arguments["steps_per_epoch"]
    got, _, optimizer = _sequence(fw, "OneCycleLR", arguments, optimizer_name, steps=total - 1)
    _check(got, one_cycle(total, **reference))
    group = optimizer.param_groups[0]
    assert group["max_lr"] == reference["max_lrs"][0] and group["initial_lr"] == group["max_lr"] / reference.get(
        "div", 25.0) and "base_momentum" in group and "max_momentum" in group
    if optimizer_name != "SGD":
        assert group["betas"][1] == 0.999  # only beta1 cycles
    if torch is not None:
        expected, _, torch_optimizer = _sequence(torch, "OneCycleLR", arguments, optimizer_name, steps=total - 1)
        assert got == expected
        assert optimizer.param_groups[1].keys() == torch_optimizer.param_groups[1].keys()


def test_one_cycle_without_momentum_cycling_and_past_the_end():
    optimizer = _optimizer(fw, "Adagrad")  # no momentum, no betas: only the lr cycles
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=3, cycle_momentum=False)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total steps is 3"):
        scheduler.step()


# ---- CyclicLR -------------------------------------------------------------------------------------------------

class Halving:
    """A callable scale: CyclicLR saves its attributes in the state dict (a plain function is skipped)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, x):
        return self.rate ** x


def cyclic(steps, base_lrs, max_lrs, up=2000, down=None, mode="triangular", gamma=1.0, scale_fn=None,
           scale_mode="cycle", base_m=0.8, max_m=0.9):
    """The docs' triangle: from base_lr up to max_lr in `up` iterations, down in `down`, its height scaled."""
    down = up if down is None else down
    if scale_fn is None:
        scale_fn, scale_mode = {"triangular": (lambda c: 1.0, "cycle"), "triangular2": (lambda c: 0.5 ** (c - 1),
                                                                                           "cycle"),
                                "exp_range": (lambda i: gamma ** i, "iterations")}[mode]
    records = []
    for i in range(steps):
        cycle = math.floor(1 + i / (up + down))
        position = i - (cycle - 1) * (up + down)
        height = position / up if position <= up else 1 - (position - up) / down
        scale = scale_fn(cycle if scale_mode == "cycle" else i)
        records.append(([b + (m - b) * height * scale for b, m in zip(base_lrs, max_lrs)],
                        [max_m - (max_m - base_m) * height * scale] * len(base_lrs)))
    return records


CYCLIC = {
    "triangular": (dict(base_lr=0.01, max_lr=0.1, step_size_up=4), dict(up=4)),
    "triangular2-asymmetric": (dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.05], step_size_up=3, step_size_down=5,
                                    mode="triangular2"), dict(up=3, down=5, mode="triangular2")),
    "exp_range": (dict(base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range", gamma=0.9),
                  dict(up=3, mode="exp_range", gamma=0.9)),
    "custom-cycle": (dict(base_lr=0.01, max_lr=0.1, step_size_up=2, scale_fn=Halving(0.7)),
                     dict(up=2, scale_fn=Halving(0.7))),
    "custom-iterations": (dict(base_lr=0.01, max_lr=0.1, step_size_up=2, scale_fn=Halving(0.95),
                               scale_mode="iterations", base_momentum=0.7, max_momentum=0.95),
                          dict(up=2, scale_fn=Halving(0.95), scale_mode="iterations", base_m=0.7, max_m=0.95)),
}


def _cyclic_reference(arguments, reference, steps):
    base = arguments["base_lr"] if isinstance(arguments["base_lr"], list) else [arguments["base_lr"]] * 2
    top = arguments["max_lr"] if isinstance(arguments["max_lr"], list) else [arguments["max_lr"]] * 2
    return cyclic(steps, base, top, **reference)


@pytest.mark.parametrize("optimizer_name", ["SGD", "Adam"])
@pytest.mark.parametrize("case", CYCLIC)
def test_cyclic_sequence(case, optimizer_name):
    arguments, reference = CYCLIC[case]
    got, _, _ = _sequence(fw, "CyclicLR", dict(arguments), optimizer_name, steps=23)
    _check(got, _cyclic_reference(arguments, reference, 24))
    if torch is not None:
        expected, _, _ = _sequence(torch, "CyclicLR", dict(arguments), optimizer_name, steps=23)
        assert got == expected


def test_cyclic_without_momentum_cycling_keeps_the_momentum():
    got, _, optimizer = _sequence(fw, "CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2,
                                                       cycle_momentum=False), steps=5)
    assert all(m == [0.9, 0.9] for _, m in got) and "max_momentum" not in optimizer.param_groups[0]


# ---- both: state dicts and argument checks -------------------------------------------------------------------

@pytest.mark.parametrize("name,arguments", [
    ("OneCycleLR", dict(max_lr=1.0, total_steps=24)),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], total_steps=24, three_phase=True, anneal_strategy="linear")),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range", gamma=0.95)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=Halving(0.5))),
])
def test_state_dict_round_trip_resumes_the_sequence(name, arguments):
    def make(lib, loading=False):
        chosen = dict(arguments)
        if "scale_fn" in chosen:
            chosen["scale_fn"] = Halving(0.9 if loading else 0.5)  # loading restores the saved rate, 0.5
        optimizer = _optimizer(lib, "Adam")
        return optimizer, getattr(lib.optim.lr_scheduler, name)(optimizer, **chosen)

    whole, _, _ = _sequence(fw, name, arguments, "Adam", steps=23)
    optimizer, scheduler = make(fw)
    for _ in range(10):
        optimizer.step()
        scheduler.step()
    saved_scheduler, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    assert "_scale_fn_ref" not in saved_scheduler and "optimizer" not in saved_scheduler
    if "scale_fn" in arguments:
        assert saved_scheduler["_scale_fn_custom"] == {"rate": 0.5}
    if torch is not None:
        assert list(saved_scheduler) == list(make(torch)[1].state_dict())
    optimizer, scheduler = make(fw, loading=True)
    optimizer.load_state_dict(saved_optimizer)
    scheduler.load_state_dict(saved_scheduler)
    rest = []
    for _ in range(13):
        optimizer.step()
        scheduler.step()
        rest.append((scheduler.get_last_lr(), _momentums(optimizer)))
    assert rest == whole[11:]


def _error(call):
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("name,optimizer_name,arguments,expected", [
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=0),
     (ValueError, "Expected positive integer total_steps, but got 0")),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=2.0),
     (ValueError, "Expected positive integer total_steps, but got 2.0")),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, epochs=0, steps_per_epoch=3),
     (ValueError, "Expected positive integer epochs, but got 0")),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, epochs=2, steps_per_epoch=-1),
     (ValueError, "Expected positive integer steps_per_epoch, but got -1")),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, epochs=2),
     (ValueError, "You must define either total_steps OR (epochs AND steps_per_epoch)")),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=9, pct_start=1),
     (ValueError, "Expected float between 0 and 1 pct_start, but got 1")),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=9, anneal_strategy="exp"),
     (ValueError, "anneal_strategy must be one of 'cos' or 'linear', instead got exp")),
    ("OneCycleLR", "SGD", dict(max_lr=[1.0, 2.0, 3.0], total_steps=9),
     (ValueError, "max_lr must have the same length as optimizer.param_groups. max_lr has 3 values, param_groups "
                  "has 2.")),
    ("OneCycleLR", "Adagrad", dict(max_lr=1.0, total_steps=9),
     (ValueError, "optimizer must support momentum or beta1 with `cycle_momentum` option enabled")),
    ("OneCycleLR", "SGD", dict(max_lr=1.0, total_steps=9, base_momentum=[0.8], max_momentum=[0.9]),
     (ValueError, "max_momentum must have the same length as optimizer.param_groups. max_momentum has 1 values, "
                  "param_groups has 2.")),
    ("CyclicLR", "SGD", dict(base_lr=0.1, max_lr=1.0, mode="sine"),
     (ValueError, "mode is invalid and scale_fn is None")),
    ("CyclicLR", "Adagrad", dict(base_lr=0.1, max_lr=1.0),
     (ValueError, "optimizer must support momentum or beta1 with `cycle_momentum` option enabled")),
    ("CyclicLR", "SGD", dict(base_lr=[0.1], max_lr=1.0),
     (ValueError, "base_lr must have the same length as optimizer.param_groups. base_lr has 1 values, param_groups "
                  "has 2.")),
    ("CyclicLR", "SGD", dict(base_lr=0.1, max_lr=1.0, base_momentum=[0.8], max_momentum=[0.9]),
     (ValueError, "base_momentum must have the same length as optimizer.param_groups. base_momentum has 1 values, "
                  "param_groups has 2.")),
])
def test_argument_checks_match_torch(name, optimizer_name, arguments, expected):
    assert _error(lambda: getattr(lr_scheduler, name)(_optimizer(fw, optimizer_name), **arguments)) == expected
    if torch is not None:
        assert _error(lambda: getattr(torch.optim.lr_scheduler, name)(_optimizer(torch, optimizer_name),
                                                                      **arguments)) == expected
    assert _error(lambda: getattr(lr_scheduler, name)([], **arguments)) == (TypeError, "list is not an Optimizer")
