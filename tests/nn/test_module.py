"""Module: registration, walking the tree, modes, moving, hooks and repr, as PyTorch's Module behaves."""
import copy
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import framework as fw
from framework import nn
from helpers import requires_torch, torch, torch_name


def make_net(lib=fw):
    """The same small model built from framework's nn or torch's."""
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(3, 4)
            self.act = lib.nn.ReLU()
            self.scale = lib.nn.Parameter(lib.ones(4))
            self.register_buffer("steps", lib.zeros(1))
            self.register_buffer("cache", lib.zeros(2), persistent=False)
            self.block = lib.nn.Sequential(lib.nn.Linear(4, 2), lib.nn.Tanh())

        def forward(self, x):
            return self.block(self.act(self.fc(x)) * self.scale)

    return Net()


def make_extra(lib, lines, child):
    class WithExtra(lib.nn.Module):
        def __init__(self):
            super().__init__()
            if child is not None:
                self.child = child

        def extra_repr(self):
            return lines

    return WithExtra()


# ---- registration ---------------------------------------------------------------

def test_attribute_assignment_registers_in_order():
    net = make_net()
    assert list(net._parameters) == ["scale"]
    assert list(net._modules) == ["fc", "act", "block"]
    assert list(net._buffers) == ["steps", "cache"]
    assert [n for n, _ in net.named_parameters()] == ["scale", "fc.weight", "fc.bias", "block.0.weight",
                                                      "block.0.bias"]
    assert net.fc is net._modules["fc"] and net.steps is net._buffers["steps"]
    assert "scale" not in net.__dict__ and "fc" not in net.__dict__


def test_reassignment_moves_between_registries():
    net = make_net()
    net.fc = nn.Parameter(fw.ones(1))  # a module name becomes a parameter
    assert "fc" in net._parameters and "fc" not in net._modules
    net.fc = None  # a parameter may be set to None
    assert net._parameters["fc"] is None and net.fc is None
    net.steps = fw.ones(1)  # a buffer takes any tensor
    assert net._buffers["steps"] is net.steps
    net.plain = 3
    assert net.__dict__["plain"] == 3
    del net.steps, net.block, net.plain
    assert "steps" not in net._buffers and "block" not in net._modules and not hasattr(net, "plain")


@requires_torch
def test_registration_errors_match_torch():
    checks = [
        (lambda m, lib: setattr(m, "weight", lib.ones(2, 2)), TypeError),
        (lambda m, lib: setattr(m, "weight", 3), TypeError),
        (lambda m, lib: m.register_buffer("weight", lib.ones(1)), KeyError),
        (lambda m, lib: m.register_buffer("a.b", lib.ones(1)), KeyError),
        (lambda m, lib: m.register_buffer("", lib.ones(1)), KeyError),
        (lambda m, lib: m.register_buffer("b", 3), TypeError),
        (lambda m, lib: m.register_buffer(1, lib.ones(1)), TypeError),
        (lambda m, lib: m.register_parameter("w", lib.ones(1)), TypeError),
        (lambda m, lib: m.register_parameter("w", lib.nn.Parameter(lib.ones(1)) * 2), TypeError),
        (lambda m, lib: m.register_parameter("a.b", None), KeyError),
        (lambda m, lib: m.add_module("a.b", lib.nn.ReLU()), KeyError),
        (lambda m, lib: m.add_module("x", 3), TypeError),
        (lambda m, lib: m.add_module("weight", lib.nn.ReLU()), KeyError),
        (lambda m, lib: m.missing, AttributeError),
        (lambda m, lib: m.get_submodule("x"), AttributeError),
        (lambda m, lib: m.get_submodule("weight"), AttributeError),
        (lambda m, lib: m.get_parameter("nothing"), AttributeError),
        (lambda m, lib: m.train("yes"), ValueError),
        (lambda m, lib: m.to(lib.int64), TypeError),
    ]
    for i, (call, error) in enumerate(checks):
        with pytest.raises(error) as ours:
            call(fw.nn.Linear(2, 2), fw)
        with pytest.raises(error) as theirs:
            call(torch.nn.Linear(2, 2), torch)
        assert str(ours.value).replace("framework", "torch") == str(theirs.value), f"check {i}"


def test_assignment_before_init_is_an_error():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(fw.ones(1))

    class EarlyModule(nn.Module):
        def __init__(self):
            self.m = nn.ReLU()

    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__\\(\\) call"):
        Early()
    with pytest.raises(AttributeError, match="cannot assign module before Module.__init__\\(\\) call"):
        EarlyModule()
    with pytest.raises(TypeError, match="unexpected keyword argument 'x'"):
        nn.Module(x=1)


def test_non_leaf_parameter_is_rejected():
    p = nn.Parameter(fw.ones(2))
    p.grad_fn = (fw.ones(1, requires_grad=True) * 2).grad_fn  # what an in-place op under grad leaves behind
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'w'"):
        nn.Module().register_parameter("w", p)


def test_get_submodule_parameter_buffer():
    net = make_net()
    assert net.get_submodule("") is net
    assert net.get_submodule("block.0") is net.block[0]
    assert net.get_parameter("block.0.weight") is net.block[0].weight
    assert net.get_buffer("steps") is net.steps
    with pytest.raises(AttributeError, match="`act` is not an nn.Parameter"):
        net.get_parameter("act")


# ---- walking the tree -----------------------------------------------------------

def test_shared_parameters_and_modules_are_listed_once():
    net = nn.Module()
    shared = nn.Linear(2, 2)
    net.a, net.b = shared, shared
    net.c = nn.Linear(2, 2)
    net.c.weight = shared.weight
    assert [n for n, _ in net.named_parameters()] == ["a.weight", "a.bias", "c.bias"]
    names = [n for n, _ in net.named_parameters(remove_duplicate=False)]
    assert names == ["a.weight", "a.bias", "b.weight", "b.bias", "c.weight", "c.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "a", "c"]
    assert [n for n, _ in net.named_modules(remove_duplicate=False)] == ["", "a", "b", "c"]
    assert [n for n, _ in net.named_children()] == ["a", "c"]
    assert len(list(net.parameters())) == 3


def test_prefix_and_recurse():
    net = make_net()
    assert [n for n, _ in net.named_parameters(prefix="model", recurse=False)] == ["model.scale"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "cache"]
    assert [n for n, _ in net.named_modules(prefix="m")] == ["m", "m.fc", "m.act", "m.block", "m.block.0",
                                                             "m.block.1"]
    assert list(net.children()) == [net.fc, net.act, net.block]
    assert len(list(net.modules())) == 6 and len(list(net.buffers(recurse=False))) == 2


def test_apply_visits_children_first():
    net = make_net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "ReLU", "Linear", "Tanh", "Sequential", "Net"]


def test_dir_lists_registered_names():
    names = dir(make_net())
    for name in ("fc", "scale", "steps", "forward", "training"):
        assert name in names


# ---- modes and gradients ----------------------------------------------------------

def test_train_eval_propagate():
    net = make_net()
    assert net.training and net.block[1].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad_(rng):
    net = make_net()
    net(fw.tensor(rng.standard_normal((5, 3)).astype(np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())


# ---- moving and casting -----------------------------------------------------------

def test_to_dtype_keeps_parameter_identity():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    params = list(net.parameters())
    weight_before = net[0].weight.detach().numpy().copy()
    net[0].weight.grad = fw.ones(2, 3)
    assert net.to(fw.float64) is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(type(p) is nn.Parameter and p.dtype is fw.float64 and p.requires_grad for p in params)
    assert net[0].weight.grad.dtype is fw.float64
    np.testing.assert_allclose(net[0].weight.detach().numpy(), weight_before)
    assert net[1].running_mean.dtype is fw.float64
    assert net[1].num_batches_tracked.dtype is fw.int64  # integer buffers keep their dtype
    net.float()
    assert net[0].weight.dtype is fw.float32
    net.half()
    assert net[0].bias.dtype is fw.float16
    net.double()
    assert net[0].bias.dtype is fw.float64
    net.to("cpu", dtype=fw.float32)
    assert net[0].bias.dtype is fw.float32 and net[0].bias.device == fw.device("cpu")
    net.to(fw.zeros(1, dtype=fw.float64))
    assert net[0].weight.dtype is fw.float64
    assert net.cpu() is net


def test_forward_is_required():
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        nn.Module()(fw.ones(1))


def test_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = lin.register_forward_hook(lambda m, args, out: calls.append(out) or out + 1)
    out = lin(fw.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), lin.bias.detach().numpy()[None] + 1, rtol=1e-6)
    assert len(calls) == 1
    pre.remove()
    post.remove()
    assert not lin._forward_hooks and not lin._forward_pre_hooks
    with lin.register_forward_hook(lambda m, args, kwargs, out: out * 0, with_kwargs=True):
        assert not lin(fw.ones(1, 2)).detach().numpy().any()
    assert not lin._forward_hooks


def test_deepcopy_and_pickle_make_independent_models(rng):
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4)).eval()
    x = fw.tensor(rng.standard_normal((2, 3)).astype(np.float32))
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert all(type(p) is nn.Parameter for p in clone.parameters())
        assert not clone.training and list(clone.state_dict()) == list(net.state_dict())
        np.testing.assert_allclose(clone(x).detach().numpy(), net(x).detach().numpy())
        with fw.no_grad():
            clone[0].weight.add_(1)
        assert not np.allclose(clone[0].weight.detach().numpy(), net[0].weight.detach().numpy())


# ---- repr ---------------------------------------------------------------------------

@requires_torch
def test_repr_matches_torch():
    assert torch_name(repr(make_net())) == repr(make_net(torch))
    for lines in ("", "a=1", "a=1\nb=2"):
        for with_child in (False, True):
            ours = make_extra(fw, lines, fw.nn.Linear(2, 3) if with_child else None)
            theirs = make_extra(torch, lines, torch.nn.Linear(2, 3) if with_child else None)
            assert repr(ours) == repr(theirs)
    deep = fw.nn.Sequential(fw.nn.Sequential(fw.nn.Sequential(fw.nn.ReLU())), fw.nn.ModuleList())
    deep_t = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Sequential(torch.nn.ReLU())), torch.nn.ModuleList())
    assert repr(deep) == repr(deep_t)


def test_repr_of_custom_module():
    text = repr(make_net())
    assert text == ("Net(\n"
                    "  (fc): Linear(in_features=3, out_features=4, bias=True)\n"
                    "  (act): ReLU()\n"
                    "  (block): Sequential(\n"
                    "    (0): Linear(in_features=4, out_features=2, bias=True)\n"
                    "    (1): Tanh()\n"
                    "  )\n"
                    ")")


def test_no_warnings_on_plain_use(rng):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = make_net()
        net(fw.tensor(rng.standard_normal((2, 3)).astype(np.float32))).sum().backward()
        net.load_state_dict(net.state_dict())
    assert isinstance(net.state_dict(), OrderedDict)
