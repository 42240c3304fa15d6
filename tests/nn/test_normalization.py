"""LayerNorm: values and gradients (input, weight, bias) against float64 numpy and PyTorch."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import FLOAT_NAMES, case, check_op, random_array, raises_like_torch, requires_torch, torch, torch_name

TF = torch.nn.functional if torch is not None else None


def np_layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    centered = x - x.mean(axis=axes, keepdims=True)
    out = centered * (np.mean(centered * centered, axis=axes, keepdims=True) + eps) ** -0.5
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


CASES = [((4, 6), (6,)), ((2, 3, 5), (5,)), ((2, 3, 5), (3, 5)), ((7,), (7,)), ((3, 1), (1,)), ((0, 4), (4,))]


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
def test_layer_norm(rng, dtype, affine):
    for shape, normalized in CASES:
        x = random_array(rng, shape, dtype, low=-3, high=3)
        params = [random_array(rng, normalized, dtype) for _ in range({"none": 0, "weight": 1, "both": 2}[affine])]
        with case(shape=shape, normalized=normalized):
            check_op(lambda a, *p: F.layer_norm(a, normalized, *p, eps=1e-3),
                     lambda a, *p: np_layer_norm(a, normalized, *p, eps=1e-3),
                     TF and (lambda a, *p: TF.layer_norm(a, list(normalized), *p, eps=1e-3)),
                     x, *params, dtype=dtype, rng=rng)


def test_layer_norm_module(rng):
    ln = nn.LayerNorm([3, 4])
    assert ln.normalized_shape == (3, 4) and ln.weight.shape == (3, 4)
    assert ln.weight.detach().numpy().all() and not ln.bias.detach().numpy().any()
    x = random_array(rng, (2, 3, 4), "float32")
    np.testing.assert_allclose(ln(fw.tensor(x)).detach().numpy(), np_layer_norm(x.astype(np.float64), (3, 4)),
                               rtol=1e-5, atol=1e-5)
    assert list(dict(nn.LayerNorm(4).named_parameters())) == ["weight", "bias"]
    assert list(dict(nn.LayerNorm(4, bias=False).named_parameters())) == ["weight"]
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    assert nn.LayerNorm(4, dtype=fw.float64).weight.dtype is fw.float64


@requires_torch
def test_layer_norm_reprs_and_errors_match_torch():
    for args, kwargs in [((5,), {}), (([5, 4],), {"eps": 1e-3}), ((3,), {"elementwise_affine": False}),
                         ((3,), {"bias": False})]:
        assert torch_name(repr(nn.LayerNorm(*args, **kwargs))) == repr(torch.nn.LayerNorm(*args, **kwargs))
    message = raises_like_torch(lambda: F.layer_norm(fw.ones(3, 5), (4,)),
                                lambda: TF.layer_norm(torch.ones(3, 5), (4,)))
    assert message == "Given normalized_shape=[4], expected input with shape [*, 4], but got input of size[3, 5]"
