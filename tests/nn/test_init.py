"""framework.nn.init: PyTorch's gains, fans and bounds, fills under no_grad, and (seeded) PyTorch's draws."""
import math

import numpy as np
import pytest

import framework as fw
from framework import nn
from framework.nn import init
from helpers import assert_same_draws, raises_like_torch, requires_torch, torch


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01 ** 2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(2.0 / 6)
    assert init.calculate_gain("leaky_relu", 0) == math.sqrt(2.0)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fans():
    assert init._calculate_fan_in_and_fan_out(fw.empty(30, 50)) == (50, 30)
    assert init._calculate_fan_in_and_fan_out(fw.empty(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed for tensor with fewer than 2 "
                                         "dimensions"):
        init.xavier_uniform_(fw.empty(5))
    with pytest.raises(ValueError, match=r"Mode fan_avg not supported, please use one of \['fan_in', 'fan_out'\]"):
        init.kaiming_uniform_(fw.empty(3, 3), mode="fan_avg")


def test_fills_work_on_parameters_without_recording():
    p = nn.Parameter(fw.empty(4, 6))
    for fill, args in [(init.zeros_, ()), (init.ones_, ()), (init.constant_, (2.5,)), (init.uniform_, (-1, 1)),
                       (init.normal_, (0, 2)), (init.xavier_uniform_, ()), (init.xavier_normal_, (2.0,)),
                       (init.kaiming_uniform_, ()), (init.kaiming_normal_, (0, "fan_out", "relu"))]:
        out = fill(p, *args)
        assert out is p and p.grad_fn is None and p.requires_grad and type(p) is nn.Parameter
    np.testing.assert_array_equal(init.constant_(p, 2.5).detach().numpy(), np.full((4, 6), 2.5, np.float32))
    assert not init.zeros_(p).detach().numpy().any()


@pytest.mark.uses_random
def test_bounds_and_spread():
    fw.manual_seed(0)
    w = fw.empty(200, 300)
    fan_in, fan_out = 300, 200
    checks = [
        (init.uniform_, (-0.3, 0.7), lambda v: v.min() >= -0.3 and v.max() < 0.7 and abs(v.mean() - 0.2) < 0.01),
        (init.normal_, (1.0, 0.5), lambda v: abs(v.mean() - 1) < 0.01 and abs(v.std() - 0.5) < 0.01),
        (init.xavier_uniform_, (), lambda v: np.abs(v).max() <= math.sqrt(6 / (fan_in + fan_out))),
        (init.xavier_normal_, (), lambda v: abs(v.std() - math.sqrt(2 / (fan_in + fan_out))) < 1e-3),
        (init.kaiming_uniform_, (0, "fan_in", "relu"), lambda v: np.abs(v).max() <= math.sqrt(6 / fan_in)),
        (init.kaiming_normal_, (0, "fan_out", "relu"), lambda v: abs(v.std() - math.sqrt(2 / fan_out)) < 1e-3),
    ]
    for fill, args, ok in checks:
        assert ok(fill(w, *args).numpy().astype(np.float64)), fill.__name__


def test_zero_element_tensors_warn():
    for fill in (init.kaiming_uniform_, init.kaiming_normal_):
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
            fill(fw.empty(0, 3))


@pytest.mark.uses_random
@requires_torch
@pytest.mark.parametrize("shape", [(30, 50), (7, 3, 2, 2), (1, 17)])
def test_seeded_fills_equal_torch(shape):
    fills = [("uniform_", (-2.0, 3.0)), ("normal_", (0.5, 2.0)), ("xavier_uniform_", (1.5,)),
             ("xavier_normal_", ()), ("kaiming_uniform_", (math.sqrt(5),)),
             ("kaiming_normal_", (0, "fan_out", "relu")), ("constant_", (0.25,))]
    for dtype in ("float32", "float64"):
        fw.manual_seed(77)
        torch.manual_seed(77)
        for name, args in fills:
            ours = getattr(init, name)(fw.empty(*shape, dtype=getattr(fw, dtype)), *args)
            theirs = getattr(torch.nn.init, name)(torch.empty(*shape, dtype=getattr(torch, dtype)), *args)
            assert_same_draws(ours, theirs, f"{name} {dtype}")


@pytest.mark.uses_random
def test_generator_argument():
    a = init.uniform_(fw.empty(5), generator=fw.Generator().manual_seed(3))
    b = init.uniform_(fw.empty(5), generator=fw.Generator().manual_seed(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@requires_torch
def test_errors_like_torch():
    raises_like_torch(lambda: init.kaiming_normal_(fw.empty(3)), lambda: torch.nn.init.kaiming_normal_(torch.empty(3)))
    raises_like_torch(lambda: init.calculate_gain("swish"), lambda: torch.nn.init.calculate_gain("swish"))
