"""parameters_to_vector and vector_to_parameters against PyTorch: order, views, gradients and errors."""
import numpy as np
import pytest

import framework as fw
from framework.nn.utils import parameters_to_vector, vector_to_parameters
from helpers import DEVICES, requires_cuda, requires_torch, torch


def _model(lib, device="cpu"):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2)).to(device)


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_round_trip_matches_torch(device):
    ours, theirs = _model(fw, device), _model(torch)
    vec = parameters_to_vector(ours.parameters())
    expected = torch.nn.utils.parameters_to_vector(theirs.parameters())
    assert vec.shape == (26,) and vec.device.type == device
    np.testing.assert_array_equal(vec.detach().cpu().numpy(), expected.detach().numpy())
    vec.sum().backward()  # a cat of views: every parameter gets its gradient through it
    assert all(np.all(p.grad.cpu().numpy() == 1) for p in ours.parameters())

    new = np.arange(26, dtype=np.float32)
    vector_to_parameters(fw.tensor(new, device=device), ours.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs.parameters())
    for p, t in zip(ours.parameters(), theirs.parameters()):
        assert p.shape == t.shape and p.requires_grad and isinstance(p, fw.nn.Parameter)
        np.testing.assert_array_equal(p.detach().cpu().numpy(), t.detach().numpy())
    np.testing.assert_array_equal(parameters_to_vector(ours.parameters()).detach().cpu().numpy(), new)


def test_errors():
    with pytest.raises(TypeError, match="expected framework.Tensor, but got: list"):
        vector_to_parameters([1.0, 2.0], _model(fw).parameters())


@requires_cuda
def test_parameters_on_two_devices_are_refused():
    params = [fw.nn.Parameter(fw.ones(2)), fw.nn.Parameter(fw.ones(2, device="cuda"))]
    for call in (lambda: parameters_to_vector(params), lambda: vector_to_parameters(fw.ones(4), params)):
        with pytest.raises(TypeError, match="Found two parameters on different devices, this is currently not "
                                            "supported."):
            call()
