"""ReduceLROnPlateau: every mode and threshold mode, patience, cooldown, min_lr (one or per group) and eps, over
metric sequences with plateaus, against a reference written from PyTorch's docs and against PyTorch (bit for
bit); state dicts, warnings, argument checks."""
import itertools
import math

import numpy as np
import pytest

import framework as fw
from framework.optim import lr_scheduler
from helpers import torch

BASE_LRS = (0.1, 0.03)


def _optimizer(lib, lrs=BASE_LRS):
    params = [lib.nn.Parameter(lib.zeros(2)) for _ in lrs]
    return lib.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])


def reference(metrics, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel", cooldown=0,
              min_lr=0, eps=1e-8):
    """The lrs after each metric, as the docs describe the rule."""
    min_lrs = min_lr if isinstance(min_lr, list) else [min_lr] * len(BASE_LRS)
    lrs, best, bad, cooling = list(BASE_LRS), math.inf if mode == "min" else -math.inf, 0, 0
    sequence = []
    for metric in metrics:
        if mode == "min":
            better = metric < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
        else:
            better = metric > (best * (1 + threshold) if threshold_mode == "rel" else best + threshold)
        best, bad = (metric, 0) if better else (best, bad + 1)
        if cooling > 0:
            cooling, bad = cooling - 1, 0
        if bad > patience:
            lrs = [lr if lr - max(lr * factor, low) <= eps else max(lr * factor, low) for lr, low in zip(lrs, min_lrs)]
            cooling, bad = cooldown, 0
        sequence.append(list(lrs))
    return sequence


def _metrics(rng, mode, n=60):
    """A noisy curve that improves, stalls on plateaus (repeated values), and worsens for a while."""
    trend = np.concatenate([np.linspace(10, 5, 15), np.full(12, 5.0), np.linspace(5, 4.9995, 8), np.full(10, 4.9995),
                            np.linspace(4.9995, 6, 15)])[:n]
    noise = np.where(rng.random(n) < 0.5, 0.0, rng.normal(0, 0.2, n))
    values = trend + noise
    return [float(v) for v in (values if mode == "min" else -values)]


def _run(lib, metrics, as_tensor=False, **options):
    optimizer = _optimizer(lib)
    scheduler = lib.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    assert scheduler.get_last_lr() == list(BASE_LRS)
    sequence, internals = [], []
    for metric in metrics:
        optimizer.step()
        scheduler.step(lib.tensor(metric, dtype=lib.float64) if as_tensor else metric)
        sequence.append(scheduler.get_last_lr())
        assert sequence[-1] == [group["lr"] for group in optimizer.param_groups]
        internals.append((scheduler.best, scheduler.num_bad_epochs, scheduler.cooldown_counter, scheduler.last_epoch))
    return sequence, internals


OPTIONS = [dict(mode=m, threshold_mode=t, patience=p, cooldown=c, factor=f)
           for (m, t), p, c, f in itertools.product(itertools.product(("min", "max"), ("rel", "abs")), (0, 3),
                                                     (0, 2), (0.5,))] + [
    dict(patience=2, min_lr=0.02, factor=0.3),
    dict(patience=1, min_lr=[0.05, 0.001], factor=0.2, threshold=0.1),
    dict(patience=1, threshold=0.5, threshold_mode="abs", eps=0.02, factor=0.5),  # steps below eps are skipped
    dict(patience=4, cooldown=3, threshold=0.0, factor=0.9),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_plateau_sequence(rng, options):
    metrics = _metrics(rng, options.get("mode", "min"))
    got, internals = _run(fw, metrics, **options)
    np.testing.assert_allclose(np.array(got), np.array(reference(metrics, **options)), rtol=1e-12)
    assert got[-1] != list(BASE_LRS)  # the curve's plateaus reduce the lr
    if torch is not None:
        assert (got, internals) == _run(torch, metrics, **options)


def test_metric_may_be_a_zero_dim_tensor(rng):
    metrics = _metrics(rng, "min", 30)
    assert _run(fw, metrics, as_tensor=True, patience=2) == _run(fw, metrics, patience=2)


def test_state_dict_round_trip_resumes_and_matches_torchs_keys(rng):
    metrics = _metrics(rng, "max")
    options = dict(mode="max", patience=2, cooldown=1, min_lr=[0.01, 0.001])
    whole, _ = _run(fw, metrics, **options)
    optimizer = _optimizer(fw)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, **options)
    for metric in metrics[:25]:
        optimizer.step()
        scheduler.step(metric)
    saved, saved_optimizer = scheduler.state_dict(), optimizer.state_dict()
    if torch is not None:
        assert list(saved) == list(torch.optim.lr_scheduler.ReduceLROnPlateau(_optimizer(torch), **options)
                                   .state_dict())
    optimizer = _optimizer(fw)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer)  # every option comes from the state dict
    optimizer.load_state_dict(saved_optimizer)
    scheduler.load_state_dict(saved)
    rest = []
    for metric in metrics[25:]:
        optimizer.step()
        scheduler.step(metric)
        rest.append(scheduler.get_last_lr())
    assert rest == whole[25:]


def test_epoch_argument_warns_and_sets_last_epoch():
    optimizer = _optimizer(fw)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer)
    optimizer.step()
    with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        scheduler.step(1.0, epoch=7)
    assert scheduler.last_epoch == 7


def test_a_group_added_later():
    """A scalar min_lr extends to the new group; a per-group list must be updated, as PyTorch says."""
    for min_lr, error in ((0.0, None), ([0.0, 0.0], "The number of param groups in the `optimizer` \\(3\\) differs")):
        optimizer = _optimizer(fw)
        scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, min_lr=min_lr)
        optimizer.add_param_group({"params": [fw.nn.Parameter(fw.zeros(1))], "lr": 1.0})
        scheduler.step(1.0)
        if error is None:
            scheduler.step(2.0)
            assert scheduler.get_last_lr() == [0.1 * 0.1, 0.03 * 0.1, 0.1] and scheduler.min_lrs == [0.0] * 3
        else:
            with pytest.raises(RuntimeError, match=error):
                scheduler.step(2.0)


def _error(call):
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("arguments,expected", [
    (dict(factor=1.0), (ValueError, "Factor should be < 1.0.")),
    (dict(mode="avg"), (ValueError, "mode avg is unknown!")),
    (dict(threshold_mode="pct"), (ValueError, "threshold mode pct is unknown!")),
    (dict(min_lr=[0.1]), (ValueError, "expected 2 min_lrs, got 1")),
])
def test_argument_checks_match_torch(arguments, expected):
    assert _error(lambda: lr_scheduler.ReduceLROnPlateau(_optimizer(fw), **arguments)) == expected
    if torch is not None:
        assert _error(lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(_optimizer(torch), **arguments)) == expected
    assert _error(lambda: lr_scheduler.ReduceLROnPlateau(None)) == (TypeError, "NoneType is not an Optimizer")
