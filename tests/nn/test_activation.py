"""Activations: values and gradients against float64 numpy and PyTorch, extreme inputs, module reprs."""
import math
import warnings

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import FLOAT_NAMES, case, check_op, gelu_reference, random_array, requires_torch, torch, torch_name

TF = torch.nn.functional if torch is not None else None
SHAPES = [(7,), (4, 9), (2, 3, 5), (1, 1), (0, 3)]

def _softplus(beta, threshold):
    def reference(x):
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(x.real * beta > threshold, x, np.log1p(np.exp(beta * x)) / beta)
    return reference


def _softmax(x, axis):
    e = np.exp(x - x.real.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


K = math.sqrt(2 / math.pi)
# name: (framework function, float64 numpy reference, torch function)
CASES = {
    "relu": (F.relu, lambda x: np.where(x.real > 0, x, 0), TF and TF.relu),
    "leaky_relu": (F.leaky_relu, lambda x: np.where(x.real > 0, x, 0.01 * x), TF and TF.leaky_relu),
    "leaky_relu_0.3": (lambda x: F.leaky_relu(x, 0.3), lambda x: np.where(x.real > 0, x, 0.3 * x),
                       TF and (lambda x: TF.leaky_relu(x, 0.3))),
    "gelu": (F.gelu, gelu_reference, TF and TF.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(K * (x + 0.044715 * x ** 3))),
                  TF and (lambda x: TF.gelu(x, approximate="tanh"))),
    "silu": (F.silu, lambda x: x / (1 + np.exp(-x)), TF and TF.silu),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), TF and torch.sigmoid),
    "tanh": (F.tanh, np.tanh, TF and torch.tanh),
    "softplus": (F.softplus, _softplus(1.0, 20.0), TF and TF.softplus),
    "softplus_beta": (lambda x: F.softplus(x, 2.0, 1.5), _softplus(2.0, 1.5),
                      TF and (lambda x: TF.softplus(x, 2.0, 1.5))),
    "logsigmoid": (F.logsigmoid, lambda x: -np.log1p(np.exp(-x)), TF and TF.logsigmoid),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_activation_values_and_gradients(rng, name, dtype):
    fw_fn, np_fn, torch_fn = CASES[name]
    for shape in SHAPES:
        with case(op=name, dtype=dtype, shape=shape):
            x = random_array(rng, shape, dtype, low=-4, high=4)
            check_op(fw_fn, np_fn, torch_fn, x, dtype=dtype, rng=rng, noncontiguous=shape == (4, 9))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_functions(rng, dim, log):
    x = random_array(rng, (3, 5), "float64", low=-5, high=5)
    np_fn = (lambda a: np.log(_softmax(a, dim))) if log else (lambda a: _softmax(a, dim))
    fw_fn = (lambda a: F.log_softmax(a, dim)) if log else (lambda a: F.softmax(a, dim))
    t_fn = TF and ((lambda a: TF.log_softmax(a, dim)) if log else (lambda a: TF.softmax(a, dim)))
    check_op(fw_fn, np_fn, t_fn, x, rng=rng)
    check_op(lambda a: F.softmin(a, dim), lambda a: _softmax(-a, dim), TF and (lambda a: TF.softmin(a, dim)), x,
             rng=rng)


def test_softmax_without_dim_warns_and_picks_torch_dim():
    x = fw.tensor(np.arange(24.0).reshape(2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax has been deprecated"):
        out = nn.Softmax()(x)
    np.testing.assert_allclose(out.numpy(), _softmax(x.numpy(), 0))  # 3-d input: dim 0, as PyTorch picks
    with pytest.warns(UserWarning, match="log_softmax"):
        out = F.log_softmax(fw.ones(2, 3))
    np.testing.assert_allclose(out.numpy(), np.log(np.full((2, 3), 1 / 3)), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_inputs_stay_finite(dtype):
    x = fw.tensor([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype=getattr(fw, dtype), requires_grad=True)
    for name in ("gelu", "gelu_tanh", "silu", "softplus", "logsigmoid", "sigmoid", "leaky_relu"):
        fn = CASES[name][0]
        with case(op=name):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no overflow warnings from numpy either
                out = fn(x)
                (grad,) = fw.autograd.grad(out.sum(), x)
            assert np.isfinite(out.detach().numpy()).all() and np.isfinite(grad.numpy()).all()
    np.testing.assert_array_equal(F.gelu(x).detach().numpy()[[0, 1, 3]], [0, 0, 0])
    np.testing.assert_array_equal(F.softplus(x).detach().numpy()[-2:], [100, 1e4])


@requires_torch
def test_grad_fn_names_match_torch():
    x, t = fw.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    for name in ("relu", "leaky_relu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "softplus"):
        fw_fn, _, torch_fn = CASES[name]
        assert fw_fn(x).grad_fn.name() == torch_fn(t).grad_fn.name(), name


def test_inplace_variants(rng):
    values = random_array(rng, (4, 5), "float32")
    for module, plain in ((nn.ReLU(inplace=True), nn.ReLU()), (nn.LeakyReLU(0.2, inplace=True), nn.LeakyReLU(0.2)),
                          (nn.SiLU(inplace=True), nn.SiLU())):
        x = fw.tensor(values)
        out = module(x)
        assert out is x
        expected = plain(fw.tensor(values))
        np.testing.assert_allclose(x.numpy(), expected.numpy(), rtol=1e-6)
    leaf = fw.tensor(values, requires_grad=True)
    y = leaf * 1
    nn.ReLU(inplace=True)(y).sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), (values > 0).astype(np.float32))


def _modules(lib):
    n = lib.nn
    return [n.ReLU(), n.ReLU(True), n.LeakyReLU(), n.LeakyReLU(0.2, True), n.GELU(), n.GELU("tanh"), n.SiLU(),
            n.SiLU(inplace=True), n.Sigmoid(), n.Tanh(), n.Softplus(), n.Softplus(2, 10), n.Softmax(dim=1),
            n.Softmax(), n.LogSoftmax(-1), n.Softmin(0)]


def test_module_forward_equals_functional(rng):
    x = fw.tensor(random_array(rng, (3, 4), "float32"))
    pairs = [(nn.LeakyReLU(0.2), lambda a: F.leaky_relu(a, 0.2)), (nn.GELU("tanh"), lambda a: F.gelu(a, "tanh")),
             (nn.Softplus(2, 10), lambda a: F.softplus(a, 2, 10)), (nn.Softmax(1), lambda a: F.softmax(a, 1)),
             (nn.LogSoftmax(0), lambda a: F.log_softmax(a, 0)), (nn.Sigmoid(), F.sigmoid), (nn.Tanh(), F.tanh)]
    for module, fn in pairs:
        np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())


@requires_torch
def test_module_reprs_match_torch():
    for ours, theirs in zip(_modules(fw), _modules(torch)):
        assert torch_name(repr(ours)) == repr(theirs)


def test_bad_arguments():
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh."):
        F.gelu(fw.ones(2), approximate="exact")
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        F.silu(fw.tensor([1, 2]))
