"""ParameterList, ParameterDict (and ModuleDict): list/dict behaviour, registration, state_dict keys,
conversion of plain tensors, reprs as PyTorch prints them, errors, and training through them."""
from collections import OrderedDict

import numpy as np
import pytest

import framework as fw
from framework import nn
from helpers import DEVICES, raises_like_torch, requires_torch, torch, torch_name


def _list(lib):
    return lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2, 3)), lib.zeros(4), "not a tensor",
                                 lib.nn.Parameter(lib.zeros(1, dtype=lib.float64), requires_grad=False)])


def _dict(lib):
    return lib.nn.ParameterDict({"b": lib.ones(2), "a": lib.nn.Parameter(lib.zeros(1, 2, dtype=lib.float64)),
                                 "c": 3})


@requires_torch
def test_reprs_state_dicts_and_parameters_match_torch():
    for make in (_list, _dict):
        ours, theirs = make(fw), make(torch)
        assert torch_name(repr(ours)) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        assert [p.requires_grad for p in ours.parameters()] == [p.requires_grad for p in theirs.parameters()]
        holder, torch_holder = nn.Module(), torch.nn.Module()
        holder.params, torch_holder.params = ours, theirs
        assert torch_name(repr(holder)) == repr(torch_holder)
        assert list(holder.state_dict()) == list(torch_holder.state_dict())
    empty = (nn.ParameterList(), nn.ParameterDict())
    assert [repr(m) for m in empty] == ["ParameterList()", "ParameterDict()"]


def test_parameter_list_behaves_as_a_list():
    a, b, c = (nn.Parameter(fw.full((2,), float(i))) for i in range(3))
    plist = nn.ParameterList([a, b])
    assert len(plist) == 2 and plist[0] is a and plist[-1] is b and list(plist) == [a, b]
    plist.append(c)
    plist += [fw.ones(3)]
    assert len(plist) == 4 and isinstance(plist[3], nn.Parameter) and plist[3].requires_grad
    part = plist[1:3]
    assert type(part) is nn.ParameterList and list(part) == [b, c]
    assert list(plist[::-2]) == [plist[3], b]
    plist[0] = fw.zeros(5)
    assert isinstance(plist[0], nn.Parameter) and plist[0].shape == (5,)
    assert "0" not in dir(plist) and "append" in dir(plist)
    with pytest.raises(IndexError, match="index 4 is out of range"):
        plist[4]
    with pytest.raises(IndexError, match="index -5 is out of range"):
        plist[-5] = fw.ones(1)
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable, but got Tensor"):
        plist.extend(fw.ones(2))
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        plist(fw.ones(2))


def test_parameter_dict_behaves_as_a_dict():
    pdict = nn.ParameterDict(OrderedDict([("z", fw.ones(1)), ("y", fw.zeros(2))]))  # an OrderedDict keeps its order
    assert list(pdict) == ["z", "y"] and list(reversed(pdict)) == ["y", "z"]
    assert list(nn.ParameterDict({"z": fw.ones(1), "y": fw.ones(1)}).keys()) == ["y", "z"]  # a dict is sorted
    pdict.update([("x", fw.ones(3))])
    assert list(pdict.keys()) == ["z", "y", "x"] and isinstance(pdict["x"], nn.Parameter)
    assert "x" in pdict and "w" not in pdict and pdict.get("w", 7) == 7 and len(pdict) == 3
    assert pdict.setdefault("w", fw.ones(4)).shape == (4,) and pdict.setdefault("w") is pdict["w"]
    assert [k for k, _ in pdict.items()] == list(pdict.keys()) and len(list(pdict.values())) == 4
    copy = pdict.copy()
    assert list(copy.keys()) == list(pdict.keys()) and copy["z"] is pdict["z"]
    assert pdict.pop("z").shape == (1,) and "z" not in pdict and "z" not in pdict.state_dict()
    key, value = pdict.popitem()
    assert key == "w" and value.shape == (4,) and list(pdict) == ["y", "x"]
    merged = pdict | nn.ParameterDict({"q": fw.ones(1)})
    assert list(merged) == ["y", "x", "q"] and list(pdict) == ["y", "x"]
    pdict |= nn.ParameterDict({"r": fw.ones(1)})
    assert list(pdict) == ["y", "x", "r"]
    assert list(pdict.fromkeys(["m", "n"])) == ["m", "n"]
    del pdict["y"]
    pdict.clear()
    assert len(pdict) == 0 and not list(pdict.parameters())
    with pytest.raises(TypeError, match="Index given to ParameterDict cannot be used as a key as it is not a string "
                                        r"\(type is 'int'\)"):
        pdict[1]
    with pytest.raises(TypeError, match="ParametersDict.update should be called with an iterable of key/value pairs, "
                                        "but got int"):
        pdict.update(3)
    with pytest.raises(ValueError, match="ParameterDict update sequence element #0 has length 3; 2 is required"):
        pdict.update([("a", 1, 2)])
    with pytest.raises(RuntimeError, match="ParameterDict should not be called."):
        pdict(fw.ones(1))


@requires_torch
def test_errors_match_torch():
    raises_like_torch(lambda: nn.ParameterDict().update([3]), lambda: torch.nn.ParameterDict().update([3]),
                      match="ParameterDict update sequence element #0 should be Iterable; isint")
    raises_like_torch(lambda: nn.ParameterList([fw.ones(1)])[2], lambda: torch.nn.ParameterList([torch.ones(1)])[2],
                      match="index 2 is out of range")


@pytest.mark.parametrize("device", DEVICES)
def test_training_through_the_containers(device):
    """Parameters held in the containers move with `to`, get gradients and are stepped by an optimizer."""
    model = nn.Module()
    model.weights = nn.ParameterList([fw.ones(3), fw.full((3,), 2.0)])
    model.scales = nn.ParameterDict({"s": fw.full((1,), 0.5)})
    model.to(device)
    assert all(p.device.type == device for p in model.parameters()) and len(list(model.parameters())) == 3
    optimizer = fw.optim.SGD(model.parameters(), lr=0.1)
    loss = ((model.weights[0] * model.weights[1]).sum() * model.scales["s"]).sum()
    loss.backward()
    optimizer.step()
    np.testing.assert_allclose(model.weights[0].detach().cpu().numpy(), 1 - 0.1 * 2 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(model.scales["s"].detach().cpu().numpy(), 0.5 - 0.1 * 6, rtol=1e-6)
    state = model.state_dict()
    assert list(state) == ["weights.0", "weights.1", "scales.s"]
    fresh = nn.Module()
    fresh.weights = nn.ParameterList([fw.zeros(3), fw.zeros(3)])
    fresh.scales = nn.ParameterDict({"s": fw.zeros(1)})
    fresh.load_state_dict({k: v.cpu() for k, v in state.items()})
    np.testing.assert_allclose(fresh.weights[1].detach().numpy(), model.weights[1].detach().cpu().numpy())


def _module_dicts(lib):
    n = lib.nn
    return n.ModuleDict({"b": n.Linear(2, 3), "a": n.ReLU()}), n.ModuleDict([("x", n.Tanh()), ("y", n.Identity())])


@requires_torch
def test_module_dict_matches_torch():
    for ours, theirs in zip(_module_dicts(fw), _module_dicts(torch)):
        assert torch_name(repr(ours)) == repr(theirs)
        assert list(ours.keys()) == list(theirs.keys())  # a plain dict keeps its order here (unlike ParameterDict)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    ours, theirs = _module_dicts(fw)[0], _module_dicts(torch)[0]
    ours["c"], theirs["c"] = nn.Sigmoid(), torch.nn.Sigmoid()
    assert ours.pop("b").__class__.__name__ == theirs.pop("b").__class__.__name__
    assert list(ours) == list(theirs) and "a" in ours and len(ours) == len(theirs)
    raises_like_torch(lambda: nn.ModuleDict([("a", nn.ReLU(), 1)]),
                      lambda: torch.nn.ModuleDict([("a", torch.nn.ReLU(), 1)]), match="has length 3; 2 is required")
    raises_like_torch(lambda: nn.ModuleDict(3), lambda: torch.nn.ModuleDict(3),
                      match="ModuleDict.update should be called with an iterable of key/value pairs, but got int")
