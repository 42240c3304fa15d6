"""Dropout: PyTorch's scaling and masks (seeded, draw for draw), identity in eval, gradients through the mask."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import random_array, requires_torch, torch, torch_name


@pytest.mark.uses_random
def test_dropout_zeroes_and_scales(rng):
    x = fw.tensor(rng.uniform(1, 2, (200, 50)).astype(np.float32), requires_grad=True)
    out = F.dropout(x, 0.3)
    kept = out.detach().numpy() != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(out.detach().numpy()[kept], x.detach().numpy()[kept] / np.float32(0.7), rtol=1e-6)
    assert out.grad_fn.name() == "MulBackward0"
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / np.float32(0.7), rtol=1e-6)


def test_identity_cases():
    x = fw.ones(3, 4)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert nn.Dropout(0.9).eval()(x) is x
    assert not F.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got -0.1"):
        nn.Dropout(-0.1)


@pytest.mark.uses_random
def test_inplace():
    x = fw.ones(4, 5) * 1
    out = F.dropout(x, 0.5, inplace=True)
    assert out is x and set(np.unique(x.numpy())) <= {0.0, 2.0}


@pytest.mark.uses_random
@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5,), (40, 30), (3, 7, 11)])
def test_seeded_masks_equal_torch(rng, dtype, shape):
    x = random_array(rng, shape, dtype)
    fw.manual_seed(11)
    ours = nn.Dropout(0.3)(fw.tensor(x))
    torch.manual_seed(11)
    theirs = torch.nn.Dropout(0.3)(torch.tensor(x))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@requires_torch
def test_repr_matches_torch():
    for args in ((), (0.2,), (0.1, True)):
        assert torch_name(repr(nn.Dropout(*args))) == repr(torch.nn.Dropout(*args))
