"""framework.autograd.functional against torch.autograd.functional: values, the tuple structure of results,
create_graph, strict mode and PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, assert_close, raises_like_torch, requires_torch, torch

pytestmark = requires_torch


def _flatten(value):
    if isinstance(value, (tuple, list)):
        return [item for part in value for item in _flatten(part)]
    return [value]


def _structure(value):
    if isinstance(value, (tuple, list)):
        return tuple(_structure(part) for part in value)
    return tuple(value.shape)


def _run_both(call, arrays, device="cpu"):
    ours = call(fw, *[fw.tensor(a, dtype=fw.float64, device=device) for a in arrays])
    theirs = call(torch, *[torch.tensor(a) for a in arrays])
    assert _structure(ours) == _structure(theirs)
    for a, b in zip(_flatten(ours), _flatten(theirs)):
        assert not a.requires_grad
        assert a.device.type == device
        assert_close(a, b, "float64", rtol=1e-10, atol=1e-10)
    return ours


def _two_inputs(L, x, y):
    return (x.exp() * y).sum(1) ** 2


def _scalar(L, x):
    return (x ** 3).sum() + x.prod() + x.softmax(0).log().sum()


def _scalar_of_two(L, x, y):
    return (x.sin() * y).sum() ** 2


CALLS = {
    "jacobian-tuple": (lambda L, x, y: L.autograd.functional.jacobian(lambda a, b: _two_inputs(L, a, b), (x, y)),
                       [(3,), (2, 3)]),
    "jacobian-single": (lambda L, x: L.autograd.functional.jacobian(lambda a: (a.sin() * a, a.sum()), x), [(3,)]),
    "jacobian-vectorize": (lambda L, x, y: L.autograd.functional.jacobian(lambda a, b: _two_inputs(L, a, b), (x, y),
                                                                          vectorize=True), [(3,), (2, 3)]),
    "jacobian-forward-mode": (lambda L, x: L.autograd.functional.jacobian(lambda a: a.cumsum(0) * a, x,
                                                                          vectorize=True, strategy="forward-mode"),
                              [(4,)]),
    "hessian-single": (lambda L, x: L.autograd.functional.hessian(lambda a: _scalar(L, a), x), [(3,)]),
    "hessian-tuple": (lambda L, x, y: L.autograd.functional.hessian(lambda a, b: _scalar_of_two(L, a, b), (x, y)),
                      [(3,), (2, 3)]),
    "hessian-vectorize": (lambda L, x: L.autograd.functional.hessian(lambda a: _scalar(L, a), x, vectorize=True),
                          [(2, 2)]),
    "vjp": (lambda L, x, y, v: L.autograd.functional.vjp(lambda a, b: _two_inputs(L, a, b), (x, y), v),
            [(3,), (2, 3), (2,)]),
    "vjp-scalar": (lambda L, x: L.autograd.functional.vjp(lambda a: _scalar(L, a), x), [(3,)]),
    "jvp": (lambda L, x, y, u, w: L.autograd.functional.jvp(lambda a, b: _two_inputs(L, a, b), (x, y), (u, w)),
            [(3,), (2, 3), (3,), (2, 3)]),
    "hvp": (lambda L, x, v: L.autograd.functional.hvp(lambda a: _scalar(L, a), x, v), [(3,), (3,)]),
    "hvp-tuple": (lambda L, x, y, u, w: L.autograd.functional.hvp(lambda a, b: _scalar_of_two(L, a, b), (x, y),
                                                                  (u, w)), [(3,), (2, 3), (3,), (2, 3)]),
    "vhp": (lambda L, x, v: L.autograd.functional.vhp(lambda a: _scalar(L, a), x, v), [(3,), (3,)]),
    "vhp-tuple": (lambda L, x, y, u, w: L.autograd.functional.vhp(lambda a, b: _scalar_of_two(L, a, b), (x, y),
                                                                  (u, w)), [(3,), (2, 3), (3,), (2, 3)]),
    "independent-input": (lambda L, x, y: L.autograd.functional.jacobian(lambda a, b: a * 2, (x, y)), [(2,), (3,)]),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_matches_pytorch(name, rng):
    call, shapes = CALLS[name]
    _run_both(call, [rng.uniform(0.5, 1.5, shape) for shape in shapes])


@pytest.mark.parametrize("device", DEVICES)
def test_hessian_and_hvp_on_every_device(device, rng):
    arrays = [rng.uniform(0.5, 1.5, (3,)), rng.standard_normal(3)]
    _run_both(lambda L, x, v: L.autograd.functional.hvp(lambda a: (a.exp() * a).sum(), x, v), arrays, device)
    _run_both(lambda L, x: L.autograd.functional.hessian(lambda a: a.softmax(0).log()[0], x), arrays[:1], device)


def test_create_graph_keeps_results_differentiable(rng):
    values = rng.uniform(0.5, 1.5, (3,))
    results = []
    for lib in (fw, torch):
        x = lib.tensor(values, requires_grad=True)
        hess = lib.autograd.functional.hessian(lambda a: (a ** 4).sum(), x, create_graph=True)
        assert hess.requires_grad
        (third,) = lib.autograd.grad(hess.sum(), x)
        _, hv = lib.autograd.functional.hvp(lambda a: (a ** 3).sum(), x, lib.ones(3, dtype=lib.float64),
                                            create_graph=True)
        assert hv.requires_grad
        results.append((hess, third, hv))
    for a, b in zip(*results):
        assert_close(a, b, "float64")


def test_results_without_create_graph_are_detached(rng):
    x = fw.tensor(rng.standard_normal(3), requires_grad=True)
    out, grads = fw.autograd.functional.vjp(lambda a: (a * a).sum(), x)
    assert not out.requires_grad and not grads.requires_grad


STRICT = {
    "output-independent": lambda L: L.autograd.functional.jacobian(lambda a, b: a * 2, (L.ones(2), L.ones(3)),
                                                                   strict=True),
    "output-without-grad": lambda L: L.autograd.functional.vjp(lambda a: L.ones(2), L.ones(2), L.ones(2),
                                                               strict=True),
    "linear-hessian": lambda L: L.autograd.functional.hessian(lambda a: (a * 2).sum(), L.ones(2), strict=True),
    "hvp-linear": lambda L: L.autograd.functional.hvp(lambda a: (a * 2).sum(), L.ones(2), L.ones(2), strict=True),
    "jvp-independent": lambda L: L.autograd.functional.jvp(lambda a: L.ones(2) * 3, L.ones(2), L.ones(2),
                                                           strict=True),
}


@pytest.mark.parametrize("name", sorted(STRICT))
def test_strict_mode_errors(name):
    message = raises_like_torch(lambda: STRICT[name](fw), lambda: STRICT[name](torch))
    with pytest.raises(Exception) as info:
        STRICT[name](torch)
    assert message == str(info.value)


ERRORS = {
    "inputs-not-tensors": lambda L: L.autograd.functional.jacobian(lambda a: a, (L.ones(2), 3)),
    "input-not-tensor": lambda L: L.autograd.functional.vjp(lambda a: a, [1.0]),
    "output-not-tensor": lambda L: L.autograd.functional.jacobian(lambda a: 3.0, L.ones(2)),
    "v-missing": lambda L: L.autograd.functional.vjp(lambda a: a * 2, L.ones(2)),
    "v-missing-input": lambda L: L.autograd.functional.jvp(lambda a: a * 2, L.ones(2)),
    "v-wrong-size": lambda L: L.autograd.functional.hvp(lambda a: (a * a).sum(), L.ones(2), L.ones(3)),
    "v-wrong-length": lambda L: L.autograd.functional.vhp(lambda a, b: (a * b).sum(), (L.ones(2), L.ones(2)),
                                                          (L.ones(2),)),
    "v-entry-wrong-size": lambda L: L.autograd.functional.jvp(lambda a, b: a * b, (L.ones(2), L.ones(2)),
                                                              (L.ones(2), L.ones(3))),
    "hessian-of-a-vector": lambda L: L.autograd.functional.hessian(lambda a: a * a, L.ones(2)),
    "hessian-of-a-tuple": lambda L: L.autograd.functional.hessian(lambda a: ((a * a).sum(),), L.ones(2)),
    "hvp-of-a-vector": lambda L: L.autograd.functional.hvp(lambda a: a * a, L.ones(2), L.ones(2)),
    "unknown-strategy": lambda L: L.autograd.functional.jacobian(lambda a: a, L.ones(2), strategy="sideways"),
    "forward-mode-without-vectorize": lambda L: L.autograd.functional.jacobian(lambda a: a, L.ones(2),
                                                                               strategy="forward-mode"),
    "forward-mode-with-create-graph": lambda L: L.autograd.functional.jacobian(
        lambda a: a, L.ones(2), create_graph=True, strategy="forward-mode", vectorize=True),
    "vectorize-with-strict": lambda L: L.autograd.functional.jacobian(lambda a: a * a, L.ones(2), strict=True,
                                                                      vectorize=True),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_match_pytorch(name):
    message = raises_like_torch(lambda: ERRORS[name](fw), lambda: ERRORS[name](torch))
    with pytest.raises(Exception) as info:
        ERRORS[name](torch)
    assert message == str(info.value).replace("torch.", "framework.")
