"""Linear and Identity: values and gradients, PyTorch's initialisation draw for draw, and the fused
Linear+activation path of Sequential."""
import math

import numpy as np
import pytest

import framework as fw
from framework import nn
from helpers import DEVICES, assert_close, assert_same_draws, case, check_op, random_array, requires_torch, torch, torch_name


def _np_linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("x_shape", [(5, 7), (7,), (2, 3, 7), (1, 7), (0, 7)])
def test_linear_function(rng, dtype, x_shape):
    x, w, b = (random_array(rng, s, dtype) for s in (x_shape, (4, 7), (4,)))
    with case(shape=x_shape, bias=True):
        out = check_op(nn.functional.linear, _np_linear, torch and torch.nn.functional.linear, x, w, b,
                       dtype=dtype, rng=rng)
        # PyTorch runs other ranks as a 2-d addmm and views the result back
        assert out.grad_fn.name() == ("AddmmBackward0" if len(x_shape) == 2 else "ViewBackward0")
    with case(shape=x_shape, bias=False):
        check_op(nn.functional.linear, _np_linear, torch and torch.nn.functional.linear, x, w, dtype=dtype, rng=rng)


def test_linear_module_forward_backward(rng):
    layer = nn.Linear(6, 3)
    x = random_array(rng, (4, 6), "float32")
    out = layer(fw.tensor(x))
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert_close(out, _np_linear(x.astype(np.float64), w, b), "float32")
    g = random_array(rng, (4, 3), "float32")
    out.backward(fw.tensor(g))
    assert_close(layer.weight.grad, g.astype(np.float64).T @ x, "float32")
    assert_close(layer.bias.grad, g.astype(np.float64).sum(0), "float32")


def test_linear_options_and_errors():
    layer = nn.Linear(3, 2, bias=False, dtype=fw.float64)
    assert layer.bias is None and layer.weight.dtype is fw.float64 and "bias" in layer._parameters
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert repr(layer) == "Linear(in_features=3, out_features=2, bias=False)"
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x5 and 3x2\)"):
        nn.Linear(3, 2)(fw.ones(4, 5))


def test_linear_init_bounds():
    layer = nn.Linear(50, 30)
    bound = 1 / math.sqrt(50)
    for p in (layer.weight, layer.bias):
        values = p.detach().numpy()
        assert values.min() >= -bound and values.max() <= bound and values.std() > bound / 3
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        nn.Linear(0, 3)  # fan_in 0: no division by zero, a zero-element weight


@pytest.mark.uses_random
@requires_torch
@pytest.mark.parametrize("seed", [0, 123, 2024])
def test_manual_seed_gives_torch_weights(seed):
    fw.manual_seed(seed)
    ours = [nn.Linear(50, 30), nn.Linear(30, 20, bias=False), nn.Linear(7, 1), nn.Embedding(5, 4, padding_idx=1)]
    torch.manual_seed(seed)
    theirs = [torch.nn.Linear(50, 30), torch.nn.Linear(30, 20, bias=False), torch.nn.Linear(7, 1),
              torch.nn.Embedding(5, 4, padding_idx=1)]
    for a, b in zip(ours, theirs):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert_same_draws(p, q, name)


def test_identity():
    x = fw.ones(2, 3)
    ident = nn.Identity(54, unused="x")
    assert ident(x) is x and repr(ident) == "Identity()"


# ---- the fused Linear+activation path of Sequential -------------------------------------

def _node_names(node):
    names, stack = [], [node]
    while stack:
        node = stack.pop()
        names.append(node.name())
        stack.extend(edge[0] for edge in node.next_functions if edge[0] is not None)
    return names


# activation module -> the node the fused pair's output shows (PyTorch's for the activation)
FUSED_ACTIVATIONS = {
    "relu": (nn.ReLU, "ReluBackward0"),
    "relu-inplace": (lambda: nn.ReLU(inplace=True), "ReluBackward0"),
    "gelu": (nn.GELU, "GeluBackward0"),
    "gelu-tanh": (lambda: nn.GELU(approximate="tanh"), "GeluBackward0"),
    "silu": (nn.SiLU, "SiluBackward0"),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", list(FUSED_ACTIVATIONS))
def test_sequential_linear_activation_fuses_and_matches(rng, activation, dtype, device):
    make, node = FUSED_ACTIVATIONS[activation]
    dt = getattr(fw, dtype)
    model = nn.Sequential(nn.Linear(5, 8), make(), nn.Linear(8, 4), make(), nn.Linear(4, 2)).to(device, dt)
    x = random_array(rng, (6, 5), dtype)
    fused = model(fw.tensor(x, device=device))
    # both pairs ran fused: two activation nodes, and only the last Linear left as an Addmm node
    assert sorted(n for n in _node_names(fused.grad_fn) if n != "AccumulateGrad") == \
        ["AddmmBackward0", node, node]
    g = random_array(rng, (6, 2), dtype)
    fused.backward(fw.tensor(g, device=device))
    fused_grads = [p.grad.cpu().numpy().copy() for p in model.parameters()]
    model.zero_grad()
    unfused = fw.tensor(x, device=device)
    for layer in model:  # one module at a time: the plain activation path
        unfused = layer(unfused)
    unfused.backward(fw.tensor(g, device=device))
    assert_close(fused.detach().cpu(), unfused.detach().cpu(), dtype)
    for a, p in zip(fused_grads, model.parameters()):
        assert_close(a, p.grad.cpu(), dtype)


def test_fusion_is_skipped_when_it_would_change_behaviour():
    out = nn.Sequential(nn.Linear(2, 2), nn.ReLU())(fw.ones(1, 2))
    assert out.grad_fn.name() == "ReluBackward0"  # the fused pair's output prints as PyTorch's
    seen = []
    for activation in (nn.ReLU(), nn.GELU(), nn.SiLU()):
        model = nn.Sequential(nn.Linear(2, 2), activation, nn.Identity())
        model[1].register_forward_hook(lambda m, args, out: seen.append(out))
        model(fw.ones(1, 2))
    assert len(seen) == 3  # a hooked activation runs as itself
    with pytest.raises(RuntimeError, match="approximate"):  # F.gelu's own error, not a silent exact GELU
        nn.Sequential(nn.Linear(2, 2), nn.GELU(approximate="erf"))(fw.ones(1, 2))

    class MyReLU(nn.ReLU):
        def forward(self, input):
            return input * 0

    out = nn.Sequential(nn.Linear(2, 2), MyReLU(), nn.Identity())(fw.ones(1, 2))
    assert not out.detach().numpy().any()  # a subclass keeps its own forward


@requires_torch
def test_sequential_output_values_match_torch(rng):
    fw.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 4), nn.SiLU(),
                          nn.Linear(4, 3))
    t_model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5), torch.nn.GELU(),
                                  torch.nn.Linear(5, 4), torch.nn.SiLU(), torch.nn.Linear(4, 3))
    t_model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    x = random_array(rng, (3, 4), "float32")
    out, t_out = model(fw.tensor(x)), t_model(torch.tensor(x))
    assert_close(out, t_out, "float32")
    assert torch_name(repr(model)) == repr(t_model)
