"""Pooling: max_pool1d/2d (with indices), avg_pool1d/2d, adaptive_avg_pool1d/2d, adaptive_max_pool1d/2d against
float64 numpy and PyTorch on every device (values, gradients, indices, every option, dtypes, non-contiguous,
nan and -inf windows), the layers' repr, and PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (DEVICES, assert_close, case, check_op, random_array, raises_like_torch, requires_torch, torch,
                     torch_name)

from . import conv_reference as ref

TF = torch.nn.functional if torch is not None else None

MAX_POOL_CASES = [
    ((2, 3, 7, 6), dict(kernel_size=2)),
    ((2, 3, 9, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 9, 10), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 1))),
    ((2, 2, 5, 7), dict(kernel_size=3, stride=1, padding=1, dilation=1)),
    ((3, 5, 6), dict(kernel_size=2, stride=2, ceil_mode=True)),  # unbatched (C, H, W), odd sizes
    ((0, 2, 4, 4), dict(kernel_size=2)),
]


@pytest.mark.parametrize("shape,kwargs", MAX_POOL_CASES, ids=[str(c) for c in MAX_POOL_CASES])
def test_max_pool2d(rng, shape, kwargs):
    x = random_array(rng, shape)
    out = check_op(lambda t: F.max_pool2d(t, **kwargs), lambda a: ref.max_pool2d(a, **kwargs)[0],
                   TF and (lambda t: TF.max_pool2d(t, **kwargs)), x, dtype="float64", rng=rng)
    assert out.grad_fn.name() == "MaxPool2DWithIndicesBackward0"
    for device in DEVICES:
        values, indices = F.max_pool2d(fw.tensor(x, device=device), return_indices=True, **kwargs)
        assert indices.dtype is fw.int64 and indices.device.type == device
        np.testing.assert_array_equal(indices.cpu().numpy(), ref.max_pool2d(x, **kwargs)[1])


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_max_pool2d_dtypes_and_noncontiguous(rng, dtype):
    x = random_array(rng, (2, 3, 7, 8))
    kwargs = dict(kernel_size=3, stride=2, padding=1)
    check_op(lambda t: F.max_pool2d(t, **kwargs), lambda a: ref.max_pool2d(a, **kwargs)[0],
             TF and (lambda t: TF.max_pool2d(t, **kwargs)), x, dtype=dtype, rng=rng, noncontiguous=True)


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_max_pool_nan_inf_and_ints_match_torch(rng, device):
    """A nan wins its window (the last nan's index); an all -inf window keeps its first position; integers pool."""
    x = random_array(rng, (1, 2, 6, 6), "float32")
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = np.nan
    x[0, 1, :3, :3] = -np.inf
    for kwargs in (dict(kernel_size=3, stride=3), dict(kernel_size=2, stride=1, padding=1)):
        values, indices = F.max_pool2d(fw.tensor(x, device=device), return_indices=True, **kwargs)
        t_values, t_indices = TF.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)
        np.testing.assert_array_equal(values.cpu().numpy(), t_values.numpy())
        np.testing.assert_array_equal(indices.cpu().numpy(), t_indices.numpy())
    ints = rng.integers(-50, 50, (2, 3, 5, 5)).astype(np.int32)
    np.testing.assert_array_equal(F.max_pool2d(fw.tensor(ints, device=device), 2).cpu().numpy(),
                                  TF.max_pool2d(torch.tensor(ints), 2).numpy())


def test_max_pool1d(rng):
    x = random_array(rng, (2, 3, 11))
    kwargs = dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)

    def reference(a):
        return ref.max_pool2d(a[:, :, None], (1, 3), (1, 2), (0, 1), (1, 2), True)[0][:, :, 0]
    out = check_op(lambda t: F.max_pool1d(t, **kwargs), reference, TF and (lambda t: TF.max_pool1d(t, **kwargs)), x,
                   dtype="float32", rng=rng)
    assert out.grad_fn.name() == "SqueezeBackward1"
    for device in DEVICES:
        _, indices = F.max_pool1d(fw.tensor(x, device=device), return_indices=True, **kwargs)
        assert tuple(indices.shape) == tuple(out.shape)


AVG_POOL_CASES = [
    ((2, 3, 7, 6), dict(kernel_size=2)),
    ((2, 3, 9, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 9, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((1, 2, 7, 9), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), divisor_override=5)),
    ((3, 5, 6), dict(kernel_size=2, stride=1)),
]


@pytest.mark.parametrize("shape,kwargs", AVG_POOL_CASES, ids=[str(c) for c in AVG_POOL_CASES])
def test_avg_pool2d(rng, shape, kwargs):
    out = check_op(lambda t: F.avg_pool2d(t, **kwargs), lambda a: ref.avg_pool2d(a, **kwargs),
                   TF and (lambda t: TF.avg_pool2d(t, **kwargs)), random_array(rng, shape), dtype="float64", rng=rng)
    assert out.grad_fn.name() == "AvgPool2DBackward0"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_avg_pool1d_and_dtypes(rng, dtype):
    kwargs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)

    def reference(a):
        return ref.avg_pool2d(a[:, :, None], (1, 3), (1, 2), (0, 1), True, False)[:, :, 0]
    check_op(lambda t: F.avg_pool1d(t, **kwargs), reference, TF and (lambda t: TF.avg_pool1d(t, **kwargs)),
             random_array(rng, (2, 3, 10)), dtype=dtype, rng=rng, noncontiguous=True)


@pytest.mark.parametrize("shape,size", [((2, 3, 7, 9), (3, 4)), ((2, 3, 5, 5), (7, 2)), ((3, 6, 5), (6, None)),
                                        ((2, 2, 4, 6), 1)])
def test_adaptive_avg_pool2d(rng, shape, size):
    resolved = tuple(shape[-2 + i] if s is None else s for i, s in enumerate((size, size) if isinstance(size, int)
                                                                                   else size))
    out = check_op(lambda t: F.adaptive_avg_pool2d(t, size), lambda a: ref.adaptive_avg_pool2d(a, resolved),
                   TF and (lambda t: TF.adaptive_avg_pool2d(t, size)), random_array(rng, shape), dtype="float64",
                   rng=rng)
    assert out.grad_fn.name() == ("MeanBackward1" if resolved == (1, 1) else "AdaptiveAvgPool2DBackward0")


@pytest.mark.parametrize("shape,size", [((2, 3, 7, 9), (3, 4)), ((2, 3, 5, 5), (7, 2)), ((3, 6, 5), 2)])
def test_adaptive_max_pool2d(rng, shape, size):
    resolved = (size, size) if isinstance(size, int) else size
    x = random_array(rng, shape)
    out = check_op(lambda t: F.adaptive_max_pool2d(t, size), lambda a: ref.adaptive_max_pool2d(a, resolved),
                   TF and (lambda t: TF.adaptive_max_pool2d(t, size)), x, dtype="float32", rng=rng)
    assert out.grad_fn.name() == "AdaptiveMaxPool2DBackward0"
    if torch is not None:
        for device in DEVICES:
            _, indices = F.adaptive_max_pool2d(fw.tensor(x, device=device), size, return_indices=True)
            np.testing.assert_array_equal(indices.cpu().numpy(),
                                          TF.adaptive_max_pool2d(torch.tensor(x), size, return_indices=True)[1])


def test_adaptive_pools_1d(rng):
    x = random_array(rng, (2, 3, 10))
    out = check_op(lambda t: F.adaptive_avg_pool1d(t, 4),
                   lambda a: ref.adaptive_avg_pool2d(a[:, :, None], (1, 4))[:, :, 0],
                   TF and (lambda t: TF.adaptive_avg_pool1d(t, 4)), x, dtype="float32", rng=rng)
    assert out.grad_fn.name() == "SqueezeBackward1"
    check_op(lambda t: F.adaptive_max_pool1d(t, 3), lambda a: ref.adaptive_max_pool2d(a[:, :, None], (1, 3))[:, :, 0],
             TF and (lambda t: TF.adaptive_max_pool1d(t, 3)), x, dtype="bfloat16", rng=rng)


@requires_torch
def test_pool_errors_match_torch():
    x, tx = fw.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8)
    x1, tx1 = fw.zeros(2, 3, 8), torch.zeros(2, 3, 8)
    cases = [
        lambda F_, m, x, x1: F_.max_pool2d(x, 2, padding=-1),
        lambda F_, m, x, x1: F_.max_pool2d(x, 2, padding=2),
        lambda F_, m, x, x1: F_.max_pool2d(x, 2, stride=0),
        lambda F_, m, x, x1: F_.max_pool2d(x, 0),
        lambda F_, m, x, x1: F_.max_pool2d(x, 2, stride=-1),
        lambda F_, m, x, x1: F_.max_pool2d(m.zeros(8, 8), 2),
        lambda F_, m, x, x1: F_.max_pool2d(m.zeros(1, 3, 1, 1), 2),
        lambda F_, m, x, x1: F_.max_pool2d(x, 2, dilation=0),
        lambda F_, m, x, x1: F_.max_pool2d(m.zeros(2, 0, 8, 8), 2),
        lambda F_, m, x, x1: F_.max_pool2d(x, (2, 2, 2)),
        lambda F_, m, x, x1: F_.avg_pool2d(x, 2, padding=-1),
        lambda F_, m, x, x1: F_.avg_pool2d(x, 2, padding=2),
        lambda F_, m, x, x1: F_.avg_pool2d(m.zeros(1, 3, 1, 1), 2),
        lambda F_, m, x, x1: F_.avg_pool2d(x, 2, divisor_override=0),
        lambda F_, m, x, x1: F_.avg_pool2d(m.zeros(8, 8), 2),
        lambda F_, m, x, x1: F_.avg_pool2d(m.zeros(1, 2, 3, 8, 8), 2),
        lambda F_, m, x, x1: F_.max_pool1d(m.zeros(8), 2),
        lambda F_, m, x, x1: F_.max_pool1d(x1, 2, padding=2),
        lambda F_, m, x, x1: F_.max_pool1d(x1, 0),
        lambda F_, m, x, x1: F_.max_pool1d(m.zeros(2, 3, 1), 2),
        lambda F_, m, x, x1: F_.avg_pool1d(m.zeros(8), 2),
        lambda F_, m, x, x1: F_.avg_pool1d(x1, 2, padding=2),
        lambda F_, m, x, x1: F_.adaptive_avg_pool2d(m.zeros(8, 8), 2),
        lambda F_, m, x, x1: F_.adaptive_avg_pool2d(x, -1),
        lambda F_, m, x, x1: F_.adaptive_avg_pool2d(m.zeros(2, 3, 0, 4), 2),
        lambda F_, m, x, x1: F_.adaptive_avg_pool2d(x, (1, 2, 3)),
        lambda F_, m, x, x1: F_.adaptive_max_pool2d(m.zeros(8, 8), 2),
        lambda F_, m, x, x1: F_.adaptive_max_pool2d(m.zeros(2, 3, 0, 4), 2),
        lambda F_, m, x, x1: F_.adaptive_avg_pool1d(m.zeros(8), 2),
        lambda F_, m, x, x1: F_.adaptive_avg_pool2d(x.long(), 2),
    ]
    for i, make in enumerate(cases):
        with case(error_case=i):
            message = raises_like_torch(lambda: make(F, fw, x, x1), lambda: make(TF, torch, tx, tx1))
            try:
                make(TF, torch, tx, tx1)
            except Exception as error:
                assert torch_name(message).split("\n")[0] == str(error).split("\n")[0]


@requires_torch
def test_layers_repr_and_outputs(rng):
    layers = [("MaxPool2d", (2,), {}), ("MaxPool2d", (3, 2, 1, 2, True, True), {}), ("MaxPool1d", (2,), {}),
              ("AvgPool2d", (2,), {}), ("AvgPool2d", (3, 2, 1, True, False, 2), {}), ("AvgPool1d", (3,), {}),
              ("AdaptiveAvgPool2d", ((5, None),), {}), ("AdaptiveAvgPool1d", (3,), {}),
              ("AdaptiveMaxPool2d", (2,), {}), ("AdaptiveMaxPool2d", (2, True), {}), ("AdaptiveMaxPool1d", (2,), {})]
    for name, args, kwargs in layers:
        layer, t_layer = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        with case(layer=repr(t_layer)):
            assert torch_name(repr(layer)) == repr(t_layer)
            x = random_array(rng, (2, 3, 9) if "1d" in name else (2, 3, 9, 8), "float32")
            got, expected = layer(fw.tensor(x)), t_layer(torch.tensor(x))
            if isinstance(expected, tuple):
                np.testing.assert_array_equal(got[1].numpy(), expected[1].numpy())
                got, expected = got[0], expected[0]
            assert_close(got, expected, "float32")
