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


# ---- channel dropout: Dropout1d, Dropout2d ---------------------------------------------------------------------

@pytest.mark.uses_random
@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,shape", [("Dropout2d", (4, 6, 3, 5)), ("Dropout1d", (4, 6, 7)), ("Dropout1d", (6, 7))])
def test_channel_dropout_seeded_masks_equal_torch(rng, dtype, name, shape):
    """Whole channels zeroed (one draw per (n, c)), the rest scaled by 1/(1-p): PyTorch's values, seed for seed."""
    x = random_array(rng, shape, dtype, low=1, high=2)
    fw.manual_seed(5)
    ours = getattr(nn, name)(0.4)(fw.tensor(x, requires_grad=True))
    torch.manual_seed(5)
    theirs = getattr(torch.nn, name)(0.4)(torch.tensor(x))
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.numpy())
    zeroed = ours.detach().numpy() == 0
    assert (zeroed.all(axis=-1) | ~zeroed.any(axis=-1)).all()  # a channel is kept or dropped whole
    assert ours.grad_fn.name() == ("SqueezeBackward1" if len(shape) == 2 else "MulBackward0")
    ours.sum().backward()


def test_channel_dropout_cases():
    x = fw.ones(2, 3, 4, 4)
    assert F.dropout2d(x, 0.5, training=False) is x and F.dropout2d(x, 0.0) is x
    assert not F.dropout2d(x, 1.0).numpy().any()
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        F.dropout2d(fw.ones(2, 3, 4))
    with pytest.warns(UserWarning, match="Received a 5-D input to dropout2d"):
        F.dropout2d(fw.ones(1, 2, 3, 4, 4))
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(x)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        F.dropout2d(x, 1.5)
    y = fw.ones(2, 3, 4, 4)
    assert F.dropout2d(y, 0.5, inplace=True) is y


@pytest.mark.skipif("cuda" not in __import__("helpers").DEVICES, reason="no cuda device")
def test_channel_dropout_on_cuda(rng):
    x = fw.tensor(rng.uniform(1, 2, (8, 16, 3, 3)).astype(np.float32), device="cuda", requires_grad=True)
    out = F.dropout2d(x, 0.5)
    values = out.detach().cpu().numpy()
    dropped = (values == 0).all(axis=(2, 3))
    kept = (values != 0).all(axis=(2, 3))
    assert (dropped | kept).all() and 0 < dropped.mean() < 1
    np.testing.assert_allclose(values[kept], (x.detach().cpu().numpy() * 2)[kept], rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.broadcast_to(np.where(kept[:, :, None, None], 2.0, 0.0), x.shape),
                               rtol=1e-6)


@requires_torch
def test_channel_dropout_repr():
    for name in ("Dropout1d", "Dropout2d"):
        for args in ((), (0.2,), (0.1, True)):
            assert torch_name(repr(getattr(nn, name)(*args))) == repr(getattr(torch.nn, name)(*args))
