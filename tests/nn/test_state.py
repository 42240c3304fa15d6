"""state_dict / load_state_dict: keys, detaching, persistence, and PyTorch's error messages."""
from collections import OrderedDict

import numpy as np
import pytest

import framework as fw
from framework import nn
from helpers import random_array, requires_torch, torch


def _model(lib=fw):
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.BatchNorm1d(4),
                             lib.nn.Sequential(lib.nn.Dropout(0.1), lib.nn.LayerNorm(4)))


KEYS = ["0.weight", "0.bias", "2.weight", "2.bias", "2.running_mean", "2.running_var", "2.num_batches_tracked",
        "3.1.weight", "3.1.bias"]


def test_state_dict_keys_values_and_detaching():
    model = _model()
    state = model.state_dict()
    assert type(state) is OrderedDict and list(state) == KEYS
    weight = state["0.weight"]
    assert type(weight) is fw.Tensor and not weight.requires_grad and weight.grad_fn is None
    with fw.no_grad():
        model[0].weight.add_(1)
    np.testing.assert_array_equal(weight.numpy(), model[0].weight.detach().numpy())  # same storage
    kept = model.state_dict(keep_vars=True)
    assert kept["0.weight"] is model[0].weight and kept["2.running_mean"] is model[2].running_mean
    assert state._metadata[""] == {"version": 1} and state._metadata["2"] == {"version": 2}
    assert list(model.state_dict(prefix="net.")) == ["net." + k for k in KEYS]


def test_non_persistent_buffers_are_left_out():
    module = nn.Module()
    module.register_buffer("kept", fw.ones(1))
    module.register_buffer("dropped", fw.ones(1), persistent=False)
    module.register_buffer("none", None)
    assert list(module.state_dict()) == ["kept"]
    assert [n for n, _ in module.named_buffers()] == ["kept", "dropped"]
    module.load_state_dict({"kept": fw.zeros(1)})  # the non-persistent one is not missing
    assert module.kept.item() == 0


def test_round_trip_copies_values_in_place(rng):
    source, target = _model(), _model()
    with fw.no_grad():
        for p in source.parameters():
            p.copy_(fw.tensor(random_array(rng, tuple(p.shape), "float32")))
    params = list(target.parameters())
    result = target.load_state_dict(source.state_dict())
    assert repr(result) == "<All keys matched successfully>" and result.missing_keys == []
    assert [id(p) for p in target.parameters()] == [id(p) for p in params]
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_strict_false_returns_incompatible_keys():
    model = nn.Linear(2, 2)
    result = model.load_state_dict({"weight": fw.zeros(2, 2), "extra": fw.zeros(1), "sub.x": fw.zeros(1)},
                                   strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra", "sub.x"]
    assert repr(result) == "_IncompatibleKeys(missing_keys=['bias'], unexpected_keys=['extra', 'sub.x'])"
    assert not model.weight.detach().numpy().any()


def test_error_messages():
    model = nn.Linear(2, 2)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict({"weight": fw.zeros(3, 2)})
    assert str(info.value) == (
        'Error(s) in loading state_dict for Linear:\n\tMissing key(s) in state_dict: "bias". \n\t'
        "size mismatch for weight: copying a param with shape framework.Size([3, 2]) from checkpoint, the shape "
        "in current model is framework.Size([2, 2]).")
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict({"weight": fw.zeros(2, 2), "bias": fw.zeros(2), "a": fw.zeros(1), "b": fw.zeros(1)})
    assert str(info.value) == ('Error(s) in loading state_dict for Linear:\n\t'
                               'Unexpected key(s) in state_dict: "a", "b". ')
    with pytest.raises(RuntimeError, match='expected framework.Tensor or Tensor-like object from checkpoint but '
                                           "received <class 'list'>"):
        model.load_state_dict({"weight": [[0, 0], [0, 0]], "bias": fw.zeros(2)})
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like, got <class 'list'>."):
        model.load_state_dict([])


@requires_torch
def test_messages_match_torch():
    cases = [
        lambda lib: {"0.weight": lib.zeros(4, 2)},
        lambda lib: {**_model(lib).state_dict(), "3.0.weight": lib.zeros(1), "9.x": lib.zeros(1), "top": lib.zeros(1)},
        lambda lib: {k: v for k, v in _model(lib).state_dict().items() if "running" not in k},
        lambda lib: {**_model(lib).state_dict(), "2.running_var": lib.zeros(5), "3.1.bias": lib.zeros(4, 1)},
    ]
    for i, make in enumerate(cases):
        for strict in (True, False):
            outcomes = []
            for lib in (fw, torch):
                try:
                    outcomes.append(repr(_model(lib).load_state_dict(make(lib), strict=strict)))
                except RuntimeError as error:
                    outcomes.append(str(error).replace("framework.", "torch."))
            assert outcomes[0] == outcomes[1], f"case {i} strict={strict}"


def test_load_casts_and_accepts_old_scalar_layout():
    bn = nn.BatchNorm1d(2)
    state = {k: v.double() if v.is_floating_point() else v for k, v in bn.state_dict().items()}
    state["num_batches_tracked"] = fw.tensor([7])  # a 1-element 1-dim tensor loads into a 0-dim buffer
    bn.load_state_dict(state)
    assert bn.running_mean.dtype is fw.float32 and bn.num_batches_tracked.item() == 7
    del state["num_batches_tracked"]
    state = OrderedDict(state)
    state._metadata = {"": {"version": 1}}  # a version-1 checkpoint predates num_batches_tracked
    bn.load_state_dict(state)


def test_assign_replaces_parameters():
    model = nn.Linear(2, 2)
    new_weight = fw.ones(2, 2)
    model.load_state_dict({"weight": new_weight, "bias": fw.zeros(2)}, assign=True)
    assert type(model.weight) is nn.Parameter and model.weight.requires_grad
    assert model.weight.detach().numpy().all()
