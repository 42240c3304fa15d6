"""Flatten and Unflatten: shapes, views, gradients and reprs."""
import numpy as np
import pytest

import framework as fw
from framework import nn
from helpers import requires_torch, torch, torch_name


def test_flatten():
    x = fw.tensor(np.arange(120.0).reshape(2, 3, 4, 5), requires_grad=True)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, -1)(x).shape == (120,)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    out = nn.Flatten()(x)
    out.backward(fw.ones(2, 60))
    assert x.grad.shape == (2, 3, 4, 5)
    np.testing.assert_array_equal(out.detach().numpy(), np.arange(120.0).reshape(2, 60))


def test_unflatten():
    x = fw.tensor(np.arange(24.0).reshape(2, 12))
    assert nn.Unflatten(1, (3, 4))(x).shape == (2, 3, 4)
    assert nn.Unflatten(-1, (2, -1))(x).shape == (2, 2, 6)
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints, but found type int"):
        nn.Unflatten(1, 3)
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints, but found element of type float at "
                                        "pos 1"):
        nn.Unflatten(1, (2, 6.0))


@requires_torch
def test_reprs_match_torch():
    for ours, theirs in [(nn.Flatten(), torch.nn.Flatten()), (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
                         (nn.Unflatten(1, (2, 3)), torch.nn.Unflatten(1, (2, 3)))]:
        assert torch_name(repr(ours)) == repr(theirs)


@requires_torch
def test_unflatten_matches_torch_on_every_device():
    from helpers import DEVICES, raises_like_torch
    values = np.arange(24.0).reshape(2, 12)
    for device in DEVICES:
        x = fw.tensor(values, device=device, requires_grad=True)
        out = nn.Unflatten(1, [3, -1])(x)
        expected = torch.nn.Unflatten(1, [3, -1])(torch.tensor(values))
        assert out.shape == expected.shape and out.device.type == device
        np.testing.assert_array_equal(out.detach().cpu().numpy(), expected.numpy())
        out.sum().backward()
        np.testing.assert_array_equal(x.grad.cpu().numpy(), np.ones((2, 12)))
    assert torch_name(repr(nn.Unflatten(-1, [2, 6]))) == repr(torch.nn.Unflatten(-1, [2, 6]))
    raises_like_torch(lambda: nn.Unflatten(1, (5, 3))(fw.tensor(values)),
                      lambda: torch.nn.Unflatten(1, (5, 3))(torch.tensor(values)))
    raises_like_torch(lambda: nn.Unflatten(1, 3), lambda: torch.nn.Unflatten(1, 3),
                      match="unflattened_size must be a tuple of ints, but found type int")
