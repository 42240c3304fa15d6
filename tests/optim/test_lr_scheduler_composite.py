"""SequentialLR and ChainedScheduler: lr sequences against their definitions and PyTorch (bit for bit), state
dicts, argument checks."""
import math
import warnings

import numpy as np
import pytest

import framework as fw
from framework.optim import lr_scheduler
from helpers import torch

BASE_LRS = (0.1, 0.03)
STEPS = 25


def _optimizer(lib, lrs=BASE_LRS):
    params = [lib.nn.Parameter(lib.zeros(2)) for _ in lrs]
    return lib.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0], momentum=0.9)


# name -> (make(lib, optimizer) -> scheduler, the lr at epoch e for a group starting at base)
COMPOSITES = {
    "SequentialLR-warmup-then-exponential": (
        lambda lib, opt: lib.optim.lr_scheduler.SequentialLR(opt, [
            lib.optim.lr_scheduler.ConstantLR(opt, factor=0.1, total_iters=2),
            lib.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)], milestones=[2]),
        lambda base, e: base * 0.1 if e < 2 else base * 0.9 ** (e - 2)),
    "SequentialLR-linear-cosine-step": (
        lambda lib, opt: lib.optim.lr_scheduler.SequentialLR(opt, [
            lib.optim.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=4),
            lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8, eta_min=0.001),
            lib.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)], milestones=[5, 13]),
        lambda base, e: (base * (0.2 + 0.8 * min(e, 4) / 4) if e < 5 else
                         0.001 + (base - 0.001) * (1 + math.cos(math.pi * (e - 5) / 8)) / 2 if e < 13 else
                         base * 0.5 ** ((e - 13) // 3))),
    "ChainedScheduler": (  # PyTorch's docs' example: lr = base * 0.1 (first 2 epochs) * 0.9**e
        lambda lib, opt: lib.optim.lr_scheduler.ChainedScheduler([
            lib.optim.lr_scheduler.ConstantLR(opt, factor=0.1, total_iters=2),
            lib.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)]),
        lambda base, e: base * (0.1 if e < 2 else 1.0) * 0.9 ** e),
    "ChainedScheduler-of-a-sequence": (
        lambda lib, opt: lib.optim.lr_scheduler.ChainedScheduler([
            lib.optim.lr_scheduler.SequentialLR(opt, [
                lib.optim.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=3),
                lib.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)], milestones=[3]),
            lib.optim.lr_scheduler.MultiStepLR(opt, milestones=[6, 9], gamma=0.1)], optimizer=opt),
        None),
}


def _sequence(lib, name, steps=STEPS):
    optimizer = _optimizer(lib)
    scheduler = COMPOSITES[name][0](lib, optimizer)
    lrs = [scheduler.get_last_lr()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(steps):
            optimizer.step()
            scheduler.step()
            lrs.append(scheduler.get_last_lr())
            assert lrs[-1] == [group["lr"] for group in optimizer.param_groups]
    return lrs, scheduler, optimizer


@pytest.mark.parametrize("name", COMPOSITES)
def test_sequence_matches_definition_and_torch(name):
    lrs, _, _ = _sequence(fw, name)
    closed_form = COMPOSITES[name][1]
    if closed_form is not None:
        expected = [[closed_form(base, e) for base in BASE_LRS] for e in range(STEPS + 1)]
        np.testing.assert_allclose(np.array(lrs), np.array(expected), rtol=1e-12, atol=1e-17)
    if torch is not None:
        assert lrs == _sequence(torch, name)[0]


@pytest.mark.parametrize("name", COMPOSITES)
def test_state_dict_round_trip_resumes_the_sequence(name):
    whole, _, _ = _sequence(fw, name)
    _, scheduler, optimizer = _sequence(fw, name, steps=7)
    saved, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    assert all(isinstance(inner, dict) for inner in saved["_schedulers"]) and "optimizer" not in saved
    if torch is not None:
        assert list(saved) == list(_sequence(torch, name, steps=7)[1].state_dict())
    optimizer = _optimizer(fw, lrs=(1.0, 1.0))
    scheduler = COMPOSITES[name][0](fw, optimizer)
    optimizer.load_state_dict(saved_optimizer)
    scheduler.load_state_dict(saved)
    assert "_schedulers" in saved  # the caller's dict is left whole
    rest = []
    for _ in range(STEPS - 7):
        optimizer.step()
        scheduler.step()
        rest.append(scheduler.get_last_lr())
    assert rest == whole[8:]


def _error(call):
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


def _bad_cases(lib):
    opt, other = _optimizer(lib), _optimizer(lib)
    scheduler = lib.optim.lr_scheduler
    constant = scheduler.ConstantLR(opt)
    plateau = scheduler.ReduceLROnPlateau(opt)
    elsewhere = scheduler.ExponentialLR(other, gamma=0.9)
    return other, [
        lambda: scheduler.SequentialLR(opt, [], milestones=[]),
        lambda: scheduler.SequentialLR(opt, [constant, object()], milestones=[2]),
        lambda: scheduler.SequentialLR(opt, [constant, plateau], milestones=[2]),
        lambda: scheduler.SequentialLR(opt, [constant, elsewhere], milestones=[2]),
        lambda: scheduler.SequentialLR(opt, [constant, scheduler.ExponentialLR(opt, gamma=0.9)], milestones=[2, 4]),
        lambda: scheduler.ChainedScheduler([]),
        lambda: scheduler.ChainedScheduler([constant, plateau]),
        lambda: scheduler.ChainedScheduler([constant, elsewhere]),
    ]


EXPECTED_ERRORS = [
    (ValueError, "SequentialLR expects at least one scheduler, but got no scheduler."),
    (TypeError, "SequentialLR at index 1 should have `optimizer` as its attribute."),
    (ValueError, "SequentialLR does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be "
                 "specified when calling `step`, but got one at index 1 in the given schedulers sequence."),
    (ValueError, "SequentialLR expects all schedulers to belong to the same optimizer, but got scheduler "
                 "ExponentialLR at index 1 has {other}, which is different from SGD."),
    (ValueError, "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
                 "milestone points, but got number of schedulers 2 and the number of milestones to be equal to 2"),
    (ValueError, "ChainedScheduler expects at least one scheduler to be chained, but got no scheduler."),
    (ValueError, "ChainedScheduler does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to "
                 "be specified when calling `step`, but got one at index 1 in the given schedulers sequence."),
    (ValueError, "ChainedScheduler expects all schedulers to belong to the same optimizer, but got scheduler "
                 "ExponentialLR at index 1 has {other}, which is different from SGD."),
]


@pytest.mark.parametrize("index", range(len(EXPECTED_ERRORS)))
def test_argument_checks_match_torch(index):
    for lib in (fw, torch) if torch is not None else (fw,):
        other, cases = _bad_cases(lib)
        kind, message = _error(cases[index])
        expected_kind, expected = EXPECTED_ERRORS[index]
        assert (kind, message) == (expected_kind, expected.format(other=repr(other))), lib
