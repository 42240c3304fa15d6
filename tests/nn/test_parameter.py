"""Parameter: a leaf Tensor subclass sharing its data's storage, printed as PyTorch prints it."""
import copy
import pickle

import numpy as np
import pytest

import framework as fw
from framework import nn
from helpers import random_array, requires_torch, torch, torch_name


def test_parameter_shares_storage_and_requires_grad(rng):
    data = fw.tensor(random_array(rng, (3, 4), "float32"))
    p = nn.Parameter(data)
    assert isinstance(p, fw.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert not data.requires_grad  # the source is left alone
    with fw.no_grad():
        p.mul_(2)
    np.testing.assert_array_equal(data.numpy(), p.detach().numpy())  # one storage
    assert data._version == p._version  # one version counter


def test_parameter_options():
    assert not nn.Parameter(fw.ones(2), requires_grad=False).requires_grad
    empty = nn.Parameter()
    assert empty.shape == (0,) and empty.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(fw.tensor([1, 2]))
    assert not nn.Parameter(fw.tensor([1, 2]), requires_grad=False).requires_grad


def test_parameter_from_non_leaf_is_a_leaf():
    x = fw.ones(3, requires_grad=True)
    p = nn.Parameter(x * 2)
    assert p.is_leaf and p.grad_fn is None and p.requires_grad


@requires_torch
def test_parameter_repr_matches_torch(rng):
    values = random_array(rng, (2, 3), "float32")
    for requires_grad in (True, False):
        ours = repr(nn.Parameter(fw.tensor(values), requires_grad=requires_grad))
        theirs = repr(torch.nn.Parameter(torch.tensor(values), requires_grad=requires_grad))
        assert torch_name(ours) == theirs
    assert repr(nn.Parameter(fw.tensor(values))).startswith("Parameter containing:\ntensor([[")


def test_parameter_math_and_grad(rng):
    p = nn.Parameter(fw.tensor(random_array(rng, (3,), "float64")))
    (p * p).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), 2 * p.detach().numpy())
    assert type(p * 2) is fw.Tensor  # results of ops are plain tensors


def test_parameter_deepcopy_and_pickle(rng):
    p = nn.Parameter(fw.tensor(random_array(rng, (2, 2), "float32")), requires_grad=False)
    for clone in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert type(clone) is nn.Parameter and clone.requires_grad is False
        np.testing.assert_array_equal(clone.detach().numpy(), p.detach().numpy())
        with fw.no_grad():
            clone.add_(1)
        assert not np.array_equal(clone.detach().numpy(), p.detach().numpy())  # independent storage
