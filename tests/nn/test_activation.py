"""Activations: values and gradients against float64 numpy and PyTorch, extreme inputs, module reprs."""
import math
import warnings

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (DEVICES, FLOAT_NAMES, assert_close, case, check_op, gelu_reference, random_array,
                     raises_like_torch, requires_torch, torch, torch_name)

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


def _clip(x, low, high):
    """np.clip that keeps a complex-step perturbation inside the bounds (the derivative is 1 there, 0 outside)."""
    return np.where(x.real < low, low, np.where(x.real > high, high, x))


# where the piecewise ones switch formula: the derivative jumps there, so inputs keep clear of these
KINKS = {"relu": (0,), "leaky_relu": (0,), "leaky_relu_0.3": (0,), "elu": (0,), "elu_0.4": (0,), "selu": (0,),
         "celu": (0,), "hardtanh": (-1, 1), "hardtanh_range": (-0.5, 2.5), "relu6": (0, 2), "hardswish": (-3, 3),
         "hardsigmoid": (-3, 3), "threshold": (0.1,), "softsign": (0,)}


def away_from_kinks(x, name):
    """`x` with values within 0.05 of a kink of activation `name` moved 0.1 above it (exactly representable
    grid points of float16/bfloat16 land on the kinks often enough to matter)."""
    x = x.copy()
    for kink in KINKS.get(name, ()):
        near = np.abs(x.astype(np.float64) - kink) < 0.05
        x[near] = kink + 0.1
    return x


# PyTorch's float64 hardsigmoid gradient multiplies by 1/6 rounded to float32 (3e-8 relative off the exact
# value, which is ours and numpy's)
LOOSER = {("hardsigmoid", "float64"): dict(grad_rtol=1e-7)}

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
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
    "elu": (F.elu, lambda x: np.where(x.real > 0, x, np.exp(x) - 1), TF and TF.elu),
    "elu_0.4": (lambda x: F.elu(x, 0.4), lambda x: np.where(x.real > 0, x, 0.4 * (np.exp(x) - 1)),
                TF and (lambda x: TF.elu(x, 0.4))),
    "selu": (F.selu, lambda x: SELU_SCALE * np.where(x.real > 0, x, SELU_ALPHA * (np.exp(x) - 1)), TF and TF.selu),
    "celu": (lambda x: F.celu(x, 1.5), lambda x: np.where(x.real > 0, x, 1.5 * (np.exp(x / 1.5) - 1)),
             TF and (lambda x: TF.celu(x, 1.5))),
    "hardtanh": (F.hardtanh, lambda x: _clip(x, -1, 1), TF and TF.hardtanh),
    "hardtanh_range": (lambda x: F.hardtanh(x, -0.5, 2.5), lambda x: _clip(x, -0.5, 2.5),
                       TF and (lambda x: TF.hardtanh(x, -0.5, 2.5))),
    "relu6": (lambda x: F.relu6(x * 3), lambda x: _clip(x * 3, 0, 6), TF and (lambda x: TF.relu6(x * 3))),
    "hardswish": (F.hardswish, lambda x: x * _clip(x + 3, 0, 6) / 6, TF and TF.hardswish),
    "hardsigmoid": (F.hardsigmoid, lambda x: _clip(x + 3, 0, 6) / 6, TF and TF.hardsigmoid),
    "mish": (F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), TF and TF.mish),
    "threshold": (lambda x: F.threshold(x, 0.1, 2.0), lambda x: np.where(x.real <= 0.1, 2.0, x),
                  TF and (lambda x: TF.threshold(x, 0.1, 2.0))),
    "softsign": (F.softsign, lambda x: x / (1 + x * np.sign(x.real)), TF and TF.softsign),
    "tanhshrink": (F.tanhshrink, lambda x: x - np.tanh(x), TF and TF.tanhshrink),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_activation_values_and_gradients(rng, name, dtype):
    fw_fn, np_fn, torch_fn = CASES[name]
    for shape in SHAPES:
        with case(op=name, dtype=dtype, shape=shape):
            x = away_from_kinks(random_array(rng, shape, dtype, low=-4, high=4), name)
            check_op(fw_fn, np_fn, torch_fn, x, dtype=dtype, rng=rng, noncontiguous=shape == (4, 9),
                     **LOOSER.get((name, dtype), {}))


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
    for name in ("gelu", "gelu_tanh", "silu", "softplus", "logsigmoid", "sigmoid", "leaky_relu", "elu", "selu",
                 "celu", "mish", "hardswish", "hardsigmoid", "softsign", "tanhshrink"):
        fn = CASES[name][0]
        with case(op=name):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no overflow warnings from numpy either
                out = fn(x)
                (grad,) = fw.autograd.grad(out.sum(), x)
            assert np.isfinite(out.detach().numpy()).all() and np.isfinite(grad.numpy()).all()
    np.testing.assert_array_equal(F.gelu(x).detach().numpy()[[0, 1, 3]], [0, 0, 0])
    np.testing.assert_array_equal(F.softplus(x).detach().numpy()[-2:], [100, 1e4])
    np.testing.assert_array_equal(F.mish(x).detach().numpy()[-2:], [100, 1e4])
    np.testing.assert_allclose(F.logsigmoid(x).detach().numpy()[:2], [-1e4, -100])


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_and_gradients_at_the_kinks_follow_torch(device, dtype):
    """At a kink PyTorch picks one side's derivative (elu's exp side at 0, none at hardtanh's bounds, ...)."""
    values = [-6.0, -3.0, -1.0, -0.5, 0.0, 0.1, 0.5, 1.0, 2.5, 3.0, 6.0, float("nan")]
    # (relu is not held to this: at a nan input PyTorch passes the gradient, its test being `result <= 0`, where
    # framework's relu kernels multiply by `result > 0`; left to relu's owners)
    for name in sorted(set(CASES) - {"relu"}):
        fw_fn, _, torch_fn = CASES[name]
        x = fw.tensor(values, dtype=getattr(fw, dtype), device=device, requires_grad=True)
        t = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=True)
        out, t_out = fw_fn(x), torch_fn(t)
        (grad,), (t_grad,) = fw.autograd.grad(out.sum(), x), torch.autograd.grad(t_out.sum(), t)
        with case(op=name, device=device):
            assert_close(out, t_out, dtype, what="value")
            assert_close(grad, t_grad, dtype, rtol=1e-7 if name == "hardsigmoid" else None, what="gradient")


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_tanh_gelu_at_the_extremes_follows_torch(device, dtype):
    """GELU(approximate="tanh") where x^3 (and x^2 in the gradient) overflow the dtype, at infinities and nan:
    PyTorch's values and gradients (x, 0; slopes 1 and 0; nan stays nan), never inf * 0."""
    values = [300.0, -300.0, 6e4, -6e4, 1e20, -1e20, 3e38, math.inf, -math.inf, math.nan, 0.0, -0.0, 1.5, -3.0]
    x = fw.tensor(values, dtype=getattr(fw, dtype), device=device, requires_grad=True)
    t = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=True)
    out, expected = F.gelu(x, approximate="tanh"), TF.gelu(t, approximate="tanh")
    out.sum().backward()
    expected.sum().backward()
    assert_close(out, expected, dtype, what="value")
    assert_close(x.grad, t.grad, dtype, what="gradient")


@requires_torch
def test_grad_fn_names_match_torch():
    x, t = fw.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    for name in sorted(CASES):
        fw_fn, _, torch_fn = CASES[name]
        assert fw_fn(x).grad_fn.name() == torch_fn(t).grad_fn.name(), name
        assert len(fw_fn(x).grad_fn.next_functions) == len(torch_fn(t).grad_fn.next_functions), name


def test_inplace_variants(rng):
    values = random_array(rng, (4, 5), "float32")
    for module, plain in ((nn.ReLU(inplace=True), nn.ReLU()), (nn.LeakyReLU(0.2, inplace=True), nn.LeakyReLU(0.2)),
                          (nn.SiLU(inplace=True), nn.SiLU()), (nn.ELU(0.5, True), nn.ELU(0.5)),
                          (nn.CELU(2.0, True), nn.CELU(2.0)), (nn.SELU(True), nn.SELU()),
                          (nn.Hardtanh(-0.5, 0.5, True), nn.Hardtanh(-0.5, 0.5)), (nn.ReLU6(True), nn.ReLU6()),
                          (nn.Hardswish(True), nn.Hardswish()), (nn.Hardsigmoid(True), nn.Hardsigmoid()),
                          (nn.Mish(True), nn.Mish()), (nn.Threshold(0.1, 2.0, True), nn.Threshold(0.1, 2.0))):
        x = fw.tensor(values)
        out = module(x)
        assert out is x
        expected = plain(fw.tensor(values))
        np.testing.assert_allclose(x.numpy(), expected.numpy(), rtol=1e-6)
    leaf = fw.tensor(values, requires_grad=True)
    y = leaf * 1
    nn.ReLU(inplace=True)(y).sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), (values > 0).astype(np.float32))


_INPLACE_FUNCTIONS = [("elu", (0.5,)), ("selu", ()), ("celu", (2.0,)), ("hardtanh", (-0.5, 0.5)), ("relu6", ()),
                      ("hardswish", ()), ("hardsigmoid", ()), ("mish", ()), ("threshold", (0.1, 2.0)),
                      ("leaky_relu", (0.2,)), ("silu", ()), ("relu", ())]


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_inplace_on_a_tensor_with_history_differentiates_as_pytorch(rng, device):
    """The in-place forms read a clone of the overwritten input (its saved value survives the write) and show
    PyTorch's node for the in-place op (elu_: EluBackward1), with the input's old history as its edge."""
    values = random_array(rng, (3, 4), "float64") * 4
    upstream = random_array(rng, (3, 4), "float64")
    for name, args in _INPLACE_FUNCTIONS:
        results = []
        for lib, functional, where in ((fw, F, device), (torch, torch.nn.functional, "cpu")):
            leaf = lib.tensor(values, requires_grad=True, device=where)
            hidden = leaf * 1
            out = getattr(functional, name)(hidden, *args, inplace=True)
            assert out is hidden
            (out * lib.tensor(upstream, device=where)).sum().backward()
            results.append((type(out.grad_fn).__name__, [type(n).__name__ for n, _ in out.grad_fn.next_functions],
                            out.detach().cpu().numpy(), leaf.grad.cpu().numpy()))
        (ours_node, ours_edges, ours_out, ours_grad), (node, edges, out, grad) = results
        assert (ours_node, ours_edges) == (node, edges), name
        assert_close(ours_out, out, "float64", what=f"{name} value")
        # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32 (ours is the float64 quotient)
        assert_close(ours_grad, grad, "float64", rtol=1e-7 if name == "hardsigmoid" else None,
                     what=f"{name} gradient")


def _modules(lib):
    n = lib.nn
    return [n.ReLU(), n.ReLU(True), n.LeakyReLU(), n.LeakyReLU(0.2, True), n.GELU(), n.GELU("tanh"), n.SiLU(),
            n.SiLU(inplace=True), n.Sigmoid(), n.Tanh(), n.Softplus(), n.Softplus(2, 10), n.Softmax(dim=1),
            n.Softmax(), n.LogSoftmax(-1), n.Softmin(0), n.ELU(), n.ELU(0.5, True), n.CELU(), n.CELU(2.0, True),
            n.SELU(), n.SELU(True), n.Hardtanh(), n.Hardtanh(-2, 3, True), n.ReLU6(), n.ReLU6(True), n.Hardswish(),
            n.Hardswish(True), n.Hardsigmoid(True), n.Mish(), n.Mish(True), n.LogSigmoid(), n.Softsign(),
            n.Tanhshrink(), n.Threshold(0.1, 20), n.Threshold(0.1, 20, True), n.PReLU(), n.PReLU(3, 0.1)]


def test_module_forward_equals_functional(rng):
    x = fw.tensor(random_array(rng, (3, 4), "float32"))
    pairs = [(nn.LeakyReLU(0.2), lambda a: F.leaky_relu(a, 0.2)), (nn.GELU("tanh"), lambda a: F.gelu(a, "tanh")),
             (nn.Softplus(2, 10), lambda a: F.softplus(a, 2, 10)), (nn.Softmax(1), lambda a: F.softmax(a, 1)),
             (nn.LogSoftmax(0), lambda a: F.log_softmax(a, 0)), (nn.Sigmoid(), F.sigmoid), (nn.Tanh(), F.tanh),
             (nn.ELU(0.3), lambda a: F.elu(a, 0.3)), (nn.CELU(0.3), lambda a: F.celu(a, 0.3)), (nn.SELU(), F.selu),
             (nn.Hardtanh(-2, 0.5), lambda a: F.hardtanh(a, -2, 0.5)), (nn.ReLU6(), F.relu6),
             (nn.Hardswish(), F.hardswish), (nn.Hardsigmoid(), F.hardsigmoid), (nn.Mish(), F.mish),
             (nn.LogSigmoid(), F.logsigmoid), (nn.Softsign(), F.softsign), (nn.Tanhshrink(), F.tanhshrink),
             (nn.Threshold(0.2, -1.0), lambda a: F.threshold(a, 0.2, -1.0)),
             (nn.PReLU(), lambda a: F.prelu(a, fw.tensor([0.25])))]
    for module, fn in pairs:
        np.testing.assert_array_equal(module(x).detach().numpy(), fn(x).detach().numpy())


@requires_torch
def test_module_reprs_match_torch():
    for ours, theirs in zip(_modules(fw), _modules(torch)):
        assert torch_name(repr(ours)) == repr(theirs)


def test_bad_arguments():
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh."):
        F.gelu(fw.ones(2), approximate="exact")
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        F.silu(fw.tensor([1, 2]))


# ---- PReLU -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_prelu_values_and_gradients(rng, dtype):
    """One weight or one per channel (dim 1); both the input's and the weight's gradients."""
    for shape, n_weights in [((2, 3, 5), 3), ((4, 6), 6), ((3, 4), 1), ((7,), 1), ((), 1), ((2, 3, 2, 2), 3),
                             ((0, 3), 3)]:
        x = random_array(rng, shape, dtype, low=-3, high=3, away_from_zero=0.05)
        w = random_array(rng, (n_weights,), dtype, low=-1, high=1)
        per_channel = (n_weights,) + (1,) * (len(shape) - 2) if n_weights > 1 else ()

        def reference(a, b):
            return np.where(a.real > 0, a, b.reshape(per_channel) * a)
        with case(shape=shape, weights=n_weights):
            out = check_op(F.prelu, reference, TF and TF.prelu, x, w, dtype=dtype, rng=rng,
                           noncontiguous=shape == (4, 6))
            if torch is not None:
                assert out.grad_fn.name() == "PreluKernelBackward0"


def test_prelu_module_initialises_and_learns_like_torch():
    module = nn.PReLU(3, init=0.1)
    assert list(module.state_dict()) == ["weight"] and module.weight.shape == (3,)
    np.testing.assert_array_equal(module.weight.detach().numpy(), np.full(3, 0.1, np.float32))
    out = module(fw.tensor([[-1.0, 2.0, -3.0]]))
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), [[-0.1, 2.0, -0.3]], rtol=1e-6)
    np.testing.assert_array_equal(module.weight.grad.numpy(), [-1.0, 0.0, -3.0])


@requires_torch
def test_prelu_errors_match_torch():
    w3 = np.array([0.25, 0.5, 0.1], np.float32)
    cases = [((2, 4), w3, "Mismatch of parameter numbers and input channel size. Found parameter numbers = 3 and "
                          "channel size = 4."),
             ((3,), w3, "channel size = 1."), ((), w3, "Not allow zero-dim input tensor."),
             ((2, 3), np.ones((3, 1), np.float32), "Expected `weight` to be a scalar or 1D tensor, but got: ndim = 2"),
             ((2, 3), np.ones(3, np.float64), "prelu: Type promoting not supported. Got Float and Double")]
    for shape, weight, message in cases:
        x = np.ones(shape, np.float32)
        text = raises_like_torch(lambda: F.prelu(fw.tensor(x), fw.tensor(weight)),
                                 lambda: TF.prelu(torch.tensor(x), torch.tensor(weight)))
        assert message in text
    raises_like_torch(lambda: F.prelu(fw.tensor([1, 2]), fw.tensor([1])),
                      lambda: TF.prelu(torch.tensor([1, 2]), torch.tensor([1])), match="\"prelu_cpu\" not implemented")


# ---- integer inputs and bad arguments ----------------------------------------------------------------

@requires_torch
def test_integer_inputs_follow_torch():
    x = np.array([-7, -2, -1, 0, 1, 3, 4, 9])
    for name, fw_fn, torch_fn in [("hardtanh", lambda a: F.hardtanh(a, -2.5, 4.5), lambda a: TF.hardtanh(a, -2.5, 4.5)),
                                  ("relu6", F.relu6, TF.relu6),
                                  ("threshold", lambda a: F.threshold(a, 1, 5.7), lambda a: TF.threshold(a, 1, 5.7))]:
        for device in DEVICES:
            out = fw_fn(fw.tensor(x, device=device))
            expected = torch_fn(torch.tensor(x))
            assert out.dtype is fw.int64, name
            np.testing.assert_array_equal(out.cpu().numpy(), expected.numpy(), err_msg=name)
    for name in ("elu", "celu", "selu", "hardswish", "hardsigmoid", "mish", "logsigmoid"):
        raises_like_torch(lambda: getattr(F, name)(fw.tensor(x)), lambda: getattr(TF, name)(torch.tensor(x)),
                          match="not implemented for 'Long'")


@requires_torch
def test_bad_activation_arguments_match_torch():
    x = np.ones(3, np.float32)
    raises_like_torch(lambda: F.celu(fw.tensor(x), alpha=0.0), lambda: TF.celu(torch.tensor(x), alpha=0.0),
                      match="alpha cannot be 0 for CELU")
    raises_like_torch(lambda: F.hardtanh(fw.tensor(x), 1.0, 0.0), lambda: TF.hardtanh(torch.tensor(x), 1.0, 0.0),
                      match="min_val cannot be greater than max_val")
    raises_like_torch(lambda: nn.Hardtanh(1.0, 1.0), lambda: torch.nn.Hardtanh(1.0, 1.0),
                      match="max_val (1.0) must be greater than min_val (1.0)")
    with pytest.warns(FutureWarning, match="`min_value` is deprecated"):
        assert nn.Hardtanh(min_value=-2.0).min_val == -2.0
