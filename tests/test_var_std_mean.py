"""var_mean and std_mean: (spread, mean) from one op with one node (VarMeanBackward0 / StdMeanBackward0), values
and gradients of both outputs against float64 numpy and torch, every float dtype and device, dims, keepdim,
correction, the legacy `unbiased` forms, empty and size-1 reductions, and PyTorch's errors and warning."""
import warnings

import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, FLOAT_NAMES, case, check_op, random_array, raises_like_torch, requires_torch, torch)


def _reference(root, axis, correction, keepdims):
    def reference(x):
        axes = tuple(range(x.ndim)) if axis is None else axis
        mean = np.mean(x, axis=axes, keepdims=True)
        count = int(np.prod([x.shape[a] for a in np.atleast_1d(axes)])) if x.ndim else 1
        var = np.sum((x - mean) ** 2, axis=axes, keepdims=keepdims) / max(0, count - correction)
        return (np.sqrt(var) if root else var), np.mean(x, axis=axes, keepdims=keepdims)
    return reference


ARGS = [  # (shape, dim, kwargs, numpy axis, correction, keepdims)
    ((4, 5), None, {}, None, 1, False),
    ((4, 5), 1, {}, (1,), 1, False),
    ((2, 3, 4), (0, 2), dict(keepdim=True), (0, 2), 1, True),
    ((2, 3, 4), -1, dict(correction=0), (2,), 0, False),
    ((3, 7), 0, dict(correction=2, keepdim=True), (0,), 2, True),
    ((5,), 0, dict(unbiased=False), (0,), 0, False),
    ((1, 6), [1, 0], {}, (0, 1), 1, False),
]


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("name", ["var_mean", "std_mean"])
def test_values_grads_and_node(name, dtype, rng):
    for shape, dim, kwargs, axis, correction, keepdims in ARGS:
        with case(shape=shape, dim=dim, kwargs=kwargs):
            x = random_array(rng, shape, "float64")
            outs = check_op(lambda t: getattr(fw, name)(t, dim, **kwargs),
                            _reference(name == "std_mean", axis, correction, keepdims),
                            lambda t: getattr(torch, name)(t, dim, **kwargs), x, dtype=dtype, rng=rng)
            node = "VarMeanBackward0" if name == "var_mean" else "StdMeanBackward0"
            assert isinstance(outs, tuple) and outs[0].grad_fn is outs[1].grad_fn
            assert outs[0].grad_fn.name() == node


@pytest.mark.parametrize("name", ["var_mean", "std_mean"])
def test_noncontiguous_and_one_output_used(name, rng):
    x = random_array(rng, (4, 6), "float64")
    check_op(lambda t: getattr(fw, name)(t, 1), _reference(name == "std_mean", (1,), 1, False),
             lambda t: getattr(torch, name)(t, 1), x, dtype="float32", noncontiguous=True, rng=rng)
    for device in DEVICES:
        t = fw.tensor(x, requires_grad=True, device=device)
        getattr(fw, name)(t, 0)[1].sum().backward()  # only the mean's gradient arrives
        np.testing.assert_allclose(t.grad.cpu().numpy(), np.full(x.shape, 1 / 4))


@pytest.mark.parametrize("device", DEVICES)
def test_legacy_unbiased_positional(device, rng):
    x = fw.tensor(random_array(rng, (3, 4), "float32"), device=device)
    var, mean = fw.var_mean(x, False)  # var_mean(input, unbiased)
    np.testing.assert_allclose(var.item(), np.var(x.cpu().numpy()), rtol=1e-5)
    var, mean = fw.var_mean(x, 1, False, True)  # (input, dim, unbiased, keepdim)
    assert var.shape == (3, 1) and mean.shape == (3, 1)


@pytest.mark.parametrize("device", DEVICES)
def test_degrees_of_freedom_warning_and_empty(device):
    with pytest.warns(UserWarning, match=r"std_mean\(\): degrees of freedom is <= 0"):
        std, mean = fw.std_mean(fw.tensor([1.5], device=device))
    assert np.isnan(std.item()) and mean.item() == 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        var, mean = fw.var_mean(fw.zeros(0, 3, device=device), 0)
    assert np.isnan(var.cpu().numpy()).all() and np.isnan(mean.cpu().numpy()).all() and var.shape == (3,)


@requires_torch
def test_errors_match_torch():
    raises_like_torch(lambda: fw.var_mean(fw.tensor([1, 2])), lambda: torch.var_mean(torch.tensor([1, 2])),
                      match="var_mean only support floating point and complex dtypes")
    raises_like_torch(lambda: fw.std_mean(fw.zeros(2, 3), 2), lambda: torch.std_mean(torch.zeros(2, 3), 2))
    raises_like_torch(lambda: fw.std_mean(fw.zeros(2, 3), (0, 0)), lambda: torch.std_mean(torch.zeros(2, 3), (0, 0)))
