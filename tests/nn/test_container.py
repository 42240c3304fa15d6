"""Sequential, ModuleList and ModuleDict: list/dict behaviour, renumbering, reprs as PyTorch prints them."""
from collections import OrderedDict

import numpy as np
import pytest

import framework as fw
from framework import nn
from helpers import requires_torch, torch, torch_name


def _layers():
    return [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Sigmoid()]


def test_sequential_indexing_and_slicing():
    layers = _layers()
    seq = nn.Sequential(*layers)
    assert len(seq) == 4 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[3]
    part = seq[1:3]
    assert type(part) is nn.Sequential and list(part) == layers[1:3] and list(part._modules) == ["1", "2"]
    assert list(seq[::-1]) == layers[::-1]
    with pytest.raises(IndexError, match="index 4 is out of range"):
        seq[4]
    with pytest.raises(IndexError, match="index -5 is out of range"):
        seq[-5]
    seq[1] = nn.Tanh()
    assert type(seq[1]) is nn.Tanh


def test_sequential_editing_renumbers():
    layers = _layers()
    seq = nn.Sequential(*layers)
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and list(seq) == [layers[0], layers[2], layers[3]]
    del seq[0:2]
    assert list(seq._modules) == ["0"] and seq[0] is layers[3]
    extra = nn.Identity()
    assert seq.append(extra) is seq and seq[1] is extra
    seq.insert(0, layers[0])
    assert list(seq) == [layers[0], layers[3], extra]
    seq.insert(-1, layers[1])
    assert list(seq) == [layers[0], layers[3], layers[1], extra]
    seq.extend([layers[2]])
    assert seq[-1] is layers[2] and len(seq) == 5
    assert seq.pop(0) is layers[0] and len(seq) == 4
    with pytest.raises(IndexError, match="Index out of range: 9"):
        seq.insert(9, nn.ReLU())


def test_sequential_from_ordered_dict_and_arithmetic():
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named._modules) == ["fc", "act"] and named.fc is named[0]
    both = named + nn.Sequential(nn.Tanh())
    assert len(both) == 3 and list(both._modules) == ["0", "1", "2"]
    twice = named * 2
    assert len(twice) == 4 and twice[2] is named[0]
    named += nn.Sequential(nn.Tanh())
    assert len(named) == 3
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
        named + nn.ReLU()


def test_sequential_forward_chains(rng):
    seq = nn.Sequential(*_layers())
    x = fw.tensor(rng.standard_normal((5, 2)).astype(np.float32))
    expected = x
    for layer in seq:
        expected = layer(expected)
    np.testing.assert_allclose(seq(x).detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    assert nn.Sequential()(x) is x


def test_module_list():
    layers = _layers()
    ml = nn.ModuleList(layers[:2])
    ml.append(layers[2])
    ml.extend([layers[3]])
    assert list(ml) == layers and len(ml) == 4 and ml[-1] is layers[3]
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(ml[1:3]) == layers[1:3] and type(ml[1:3]) is nn.ModuleList
    ml.insert(1, nn.Identity())
    assert type(ml[1]) is nn.Identity and ml[2] is layers[1]
    del ml[1]
    assert list(ml) == layers and list(ml._modules) == ["0", "1", "2", "3"]
    assert ml.pop(-1) is layers[3]
    combined = ml + nn.ModuleList([nn.Tanh()])
    assert len(combined) == 4
    ml[0] = nn.Tanh()
    assert type(ml[0]) is nn.Tanh
    with pytest.raises(IndexError, match="index 7 is out of range"):
        ml[7]
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable, but got Linear"):
        ml.extend(nn.Linear(1, 1))
    with pytest.raises(NotImplementedError):
        ml(fw.ones(1))


def test_module_dict():
    md = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Linear(1, 2)})
    md["c"] = nn.Tanh()
    md.update([("d", nn.Identity())])
    assert list(md) == ["a", "b", "c", "d"] and list(md.keys()) == ["a", "b", "c", "d"]
    assert "b" in md and len(md) == 4 and md["b"].out_features == 2
    assert [n for n, _ in md.named_parameters()] == ["b.weight", "b.bias"]
    assert type(md.pop("a")) is nn.ReLU and "a" not in md
    del md["c"]
    assert [k for k, _ in md.items()] == ["b", "d"] and len(list(md.values())) == 2
    md.clear()
    assert len(md) == 0
    with pytest.raises(ValueError, match="ModuleDict update sequence element #0 has length 1; 2 is required"):
        md.update([(1,)])


@requires_torch
def test_container_reprs_match_torch():
    def build(lib):
        n = lib.nn
        return [
            n.Sequential(),
            n.Sequential(n.Linear(2, 3), n.ReLU()),
            n.Sequential(OrderedDict([("fc", n.Linear(2, 2)), ("block", n.Sequential(n.ReLU(), n.Tanh()))])),
            n.ModuleList(),
            n.ModuleList([n.Linear(2, 2) for _ in range(3)] + [n.ReLU(), n.ReLU(), n.Linear(2, 2)]),
            n.ModuleList([n.Sequential(n.Linear(2, 2), n.ReLU()) for _ in range(2)]),
            n.ModuleDict({"x": n.ReLU(), "y": n.Sequential(n.Tanh())}),
        ]
    for ours, theirs in zip(build(fw), build(torch)):
        assert torch_name(repr(ours)) == repr(theirs)


def test_module_list_repr_groups_repeats():
    ml = nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh()])
    assert repr(ml) == "ModuleList(\n  (0-1): 2 x ReLU()\n  (2): Tanh()\n)"
