"""Tensor.new_zeros/new_ones/new_full/new_empty/new_tensor: this tensor's dtype and device unless given, every
size form, requires_grad, copies (never shared memory), PyTorch's warning and errors."""
import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, DTYPE_NAMES, raises_like_torch, requires_torch, torch


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_dtype_and_device_follow_the_tensor(dtype, device):
    x = fw.zeros(3, dtype=getattr(fw, dtype), device=device)
    for out, fill in ((x.new_zeros(2, 3), 0), (x.new_ones((2, 3)), 1), (x.new_full([2, 3], 1), 1),
                      (x.new_empty([2, 3]), None), (x.new_tensor([[1, 0, 1], [1, 1, 0]]), None)):
        assert out.dtype is x.dtype and out.device == x.device and out.shape == (2, 3) and not out.requires_grad
        if fill is not None:
            assert (out.cpu().numpy() == fill).all()


@pytest.mark.parametrize("device", DEVICES)
def test_overrides_sizes_and_values(device):
    x = fw.zeros(2, dtype=fw.float64, device=device)
    assert x.new_zeros(2, dtype=fw.int8).dtype is fw.int8
    assert x.new_ones(2, device="cpu").device.type == "cpu"
    assert x.new_zeros(()).shape == () and x.new_empty(0).shape == (0,) and x.new_full([], 2).item() == 2.0
    grad = x.new_ones(2, requires_grad=True)
    assert grad.requires_grad and grad.is_leaf
    i = fw.zeros(2, dtype=fw.int32, device=device)
    assert i.new_tensor([1.7, -2.5]).tolist() == [1, -2] and i.new_full((2,), 7.9).tolist() == [7, 7]
    assert x.new_tensor(3).tolist() == 3.0 and x.new_tensor([1, 2], dtype=fw.int64).dtype is fw.int64
    assert fw.tensor([True]).new_full((2,), 5).tolist() == [True, True]


@pytest.mark.parametrize("device", DEVICES)
def test_new_tensor_copies_with_a_warning(device):
    x = fw.zeros(2, dtype=fw.float64, device=device)
    source = fw.tensor([1, 2], device=device)
    with pytest.warns(UserWarning, match="To copy construct from a tensor, it is recommended to use"):
        out = x.new_tensor(source, requires_grad=True)
    assert out.dtype is fw.float64 and out.requires_grad and out.is_leaf and out.tolist() == [1.0, 2.0]
    host = np.array([1.0, 2.0])
    copy = fw.zeros(1, dtype=fw.float64).new_tensor(host)
    host[0] = 9
    assert copy.tolist() == [1.0, 2.0]


@requires_torch
@pytest.mark.parametrize("call", [lambda m: m.zeros(2).new_full(2, 3), lambda m: m.zeros(2).new_zeros(-1),
                                  lambda m: m.zeros(2).new_ones(2, -3)])
def test_errors_match_torch(call):
    message = raises_like_torch(lambda: call(fw), lambda: call(torch))
    try:
        call(torch)
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error)
