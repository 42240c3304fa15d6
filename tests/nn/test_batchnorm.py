"""BatchNorm1d/2d/3d (F.batch_norm: one fused op per direction): batch statistics in training, running statistics
(momentum, unbiased variance) and eval, on every device."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (DEVICES, TOLERANCES, assert_close, check_op, random_array, raises_like_torch, requires_torch,
                     torch, torch_name)

TF = torch.nn.functional if torch is not None else None


def np_batch_norm(x, weight=None, bias=None, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    centered = x - x.mean(axis=axes, keepdims=True)
    out = centered * (np.mean(centered * centered, axis=axes, keepdims=True) + eps) ** -0.5
    if weight is not None:
        out = out * weight.reshape(shape)
    return out if bias is None else out + bias.reshape(shape)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_training_function(rng, shape, dtype):
    x = random_array(rng, shape, dtype, low=-3, high=3)
    w, b = random_array(rng, shape[1:2], dtype), random_array(rng, shape[1:2], dtype)
    # The input gradient is a difference of terms of size |w| / std, which cancel to far less when a channel's
    # values are close (two values 0.01 apart: terms ~100, gradient ~0.02): hold it to the terms' scale, as any
    # float implementation (PyTorch's too) can only get it to that (seen: FW_TEST_SEED=324635125185238550).
    axes = (0,) + tuple(range(2, len(shape)))
    term_scale = float(np.max(np.abs(w) / np.sqrt(x.astype(np.float64).var(axis=axes) + 1e-5)))
    check_op(lambda a, c, d: F.batch_norm(a, None, None, c, d, training=True), np_batch_norm,
             TF and (lambda a, c, d: TF.batch_norm(a, None, None, c, d, training=True)), x, w, b, dtype=dtype, rng=rng,
             grad_atol=TOLERANCES[dtype][1] * max(1.0, term_scale))


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_running_statistics_follow_torch(rng, momentum, shape):
    bn = nn.BatchNorm1d(4, momentum=momentum)
    running_mean, running_var = np.zeros(4), np.ones(4)
    axes = (0,) + tuple(range(2, len(shape)))
    n = np.prod(shape) // 4
    t_bn = torch and torch.nn.BatchNorm1d(4, momentum=momentum)
    for step in range(1, 5):
        x = random_array(rng, shape, "float32", low=-2, high=4)
        out = bn(fw.tensor(x, requires_grad=True))
        x64 = x.astype(np.float64)
        factor = 1 / step if momentum is None else momentum
        running_mean = (1 - factor) * running_mean + factor * x64.mean(axis=axes)
        running_var = (1 - factor) * running_var + factor * x64.var(axis=axes) * n / (n - 1)
        assert_close(out, np_batch_norm(x64), "float32")
        assert_close(bn.running_mean, running_mean, "float32")
        assert_close(bn.running_var, running_var, "float32")
        assert bn.num_batches_tracked.item() == step and bn.num_batches_tracked.dtype is fw.int64
        if t_bn is not None:
            t_out = t_bn(torch.tensor(x))
            assert_close(out, t_out, "float32")
            assert_close(bn.running_var, t_bn.running_var, "float32")
    bn.eval()
    x = random_array(rng, shape, "float32")
    stat_shape = (1, 4) + (1,) * (len(shape) - 2)
    expected = (x - running_mean.reshape(stat_shape)) / np.sqrt(running_var.reshape(stat_shape) + 1e-5)
    assert_close(bn(fw.tensor(x)), expected, "float32")
    assert bn.num_batches_tracked.item() == 4  # eval leaves the statistics alone


def test_eval_gradients(rng):
    bn = nn.BatchNorm1d(3).eval()
    with fw.no_grad():
        bn.running_mean.copy_(fw.tensor(random_array(rng, (3,), "float64")))
        bn.running_var.copy_(fw.tensor(rng.uniform(0.5, 2, 3)))
        bn.weight.copy_(fw.tensor(random_array(rng, (3,), "float64")))
    mean, var = bn.running_mean.numpy().astype(np.float64), bn.running_var.numpy().astype(np.float64)
    w = bn.weight.detach().numpy().astype(np.float64)
    check_op(lambda x: bn.to(x.device)(x), lambda a: (a - mean) / np.sqrt(var + 1e-5) * w, None,
             random_array(rng, (5, 3), "float32"), dtype="float32", rng=rng)


def test_without_running_stats_and_affine(rng):
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []
    x = random_array(rng, (6, 3), "float32")
    for mode in (bn.train(), bn.eval()):  # no running statistics: batch statistics even in eval
        assert_close(mode(fw.tensor(x)), np_batch_norm(x.astype(np.float64)), "float32")


def test_state_dict_and_errors():
    bn = nn.BatchNorm1d(5)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        bn(fw.ones(2, 5, 1, 1))
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size "
                                         r"framework.Size\(\[1, 5\]\)"):
        bn(fw.ones(1, 5))
    bn.eval()(fw.ones(1, 5))  # fine in eval


@requires_torch
def test_repr_matches_torch():
    for kwargs in ({}, {"momentum": None, "eps": 1e-3}, {"affine": False}, {"track_running_stats": False}):
        assert torch_name(repr(nn.BatchNorm1d(7, **kwargs))) == repr(torch.nn.BatchNorm1d(7, **kwargs))
    raises_like_torch(lambda: nn.BatchNorm1d(2)(fw.ones(3)), lambda: torch.nn.BatchNorm1d(2)(torch.ones(3)))


# ---- BatchNorm2d/3d and the fused kernels on every device ------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (3, 2, 1, 7), (2, 5, 3), (2, 2, 2, 3, 2)])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_batch_norm_spatial_dtypes_noncontiguous(rng, shape, dtype):
    x = random_array(rng, shape, low=-2, high=3)
    w, b = random_array(rng, shape[1:2], low=0.5, high=1.5), random_array(rng, shape[1:2])
    axes = (0,) + tuple(range(2, len(shape)))
    term_scale = float(np.max(np.abs(w) / np.sqrt(x.astype(np.float64).var(axis=axes) + 1e-5)))
    tolerance = TOLERANCES[dtype][1] * max(1.0, term_scale)
    out = check_op(lambda a, c, d: F.batch_norm(a, None, None, c, d, training=True), np_batch_norm,
                   TF and (lambda a, c, d: TF.batch_norm(a, None, None, c, d, training=True)), x, w, b, dtype=dtype,
                   rng=rng, noncontiguous=True, grad_atol=tolerance)
    assert out.grad_fn.name() == "NativeBatchNormBackward0"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm2d_running_statistics_on_every_device(rng, device, momentum):
    """The kernels' in-place running statistics follow PyTorch's updates step by step; eval uses them, and its
    gradient is the affine map's."""
    bn = nn.BatchNorm2d(3, momentum=momentum).to(device)
    t_bn = torch.nn.BatchNorm2d(3, momentum=momentum) if torch is not None else None
    running_mean, running_var = np.zeros(3), np.ones(3)
    for step in range(1, 4):
        x = random_array(rng, (4, 3, 5, 3), "float32", low=-2, high=5)
        out = bn(fw.tensor(x, device=device))
        x64 = x.astype(np.float64)
        factor = 1 / step if momentum is None else momentum
        n = x.size // 3
        running_mean = (1 - factor) * running_mean + factor * x64.mean(axis=(0, 2, 3))
        running_var = (1 - factor) * running_var + factor * x64.var(axis=(0, 2, 3)) * n / (n - 1)
        assert_close(out.detach().cpu(), np_batch_norm(x64), "float32")
        assert_close(bn.running_mean.cpu(), running_mean, "float32")
        assert_close(bn.running_var.cpu(), running_var, "float32")
        if t_bn is not None:
            t_bn(torch.tensor(x))
            assert_close(bn.running_var.cpu(), t_bn.running_var, "float32")
    bn.eval()
    x = random_array(rng, (2, 3, 4, 4), "float32")
    xt = fw.tensor(x, device=device, requires_grad=True)
    out = bn(xt)
    scale = 1 / np.sqrt(running_var + 1e-5)
    assert_close(out.detach().cpu(), (x - running_mean[None, :, None, None]) * scale[None, :, None, None], "float32")
    g = random_array(rng, x.shape, "float32")
    out.backward(fw.tensor(g, device=device))
    assert_close(xt.grad.cpu(), g * scale[None, :, None, None], "float32")
    assert_close(bn.bias.grad.cpu(), g.astype(np.float64).sum(axis=(0, 2, 3)), "float32")


@pytest.mark.parametrize("device", DEVICES)
def test_half_input_with_float32_parameters(rng, device):
    """Mixed precision: a float16 input with float32 weight, bias and running statistics (PyTorch allows it)."""
    x = random_array(rng, (4, 3, 3, 3), "float16")
    bn = nn.BatchNorm2d(3).to(device)
    out = bn(fw.tensor(x, device=device))
    assert out.dtype is fw.float16 and bn.running_mean.dtype is fw.float32
    assert_close(out.detach().cpu(), np_batch_norm(x.astype(np.float64)), "float16")
    if torch is not None:
        raises_like_torch(lambda: F.batch_norm(fw.zeros(4, 3), fw.zeros(3, dtype=fw.float64),
                                               fw.ones(3, dtype=fw.float64), training=True),
                          lambda: TF.batch_norm(torch.zeros(4, 3), torch.zeros(3, dtype=torch.float64),
                                                torch.ones(3, dtype=torch.float64), training=True))


@requires_torch
def test_batchnorm2d_repr_state_and_errors():
    for kwargs in ({}, {"momentum": None}, {"affine": False}):
        assert torch_name(repr(nn.BatchNorm2d(4, **kwargs))) == repr(torch.nn.BatchNorm2d(4, **kwargs))
        assert list(nn.BatchNorm2d(4, **kwargs).state_dict()) == list(torch.nn.BatchNorm2d(4, **kwargs).state_dict())
    raises_like_torch(lambda: nn.BatchNorm2d(3)(fw.ones(3, 4, 4)), lambda: torch.nn.BatchNorm2d(3)(torch.ones(3, 4, 4)))
    raises_like_torch(lambda: nn.BatchNorm3d(3)(fw.ones(2, 3, 4, 4)),
                      lambda: torch.nn.BatchNorm3d(3)(torch.ones(2, 3, 4, 4)))
    for make in (lambda F_, m: F_.batch_norm(m.ones(4, 3, 2), None, None, training=False),
                 lambda F_, m: F_.batch_norm(m.ones(4, 3, 2), m.zeros(3), None, training=False),
                 lambda F_, m: F_.batch_norm(m.ones(4, 3, 2), m.zeros(4), m.ones(3), training=True),
                 lambda F_, m: F_.batch_norm(m.ones(4, 3, 2), None, None, m.ones(4), training=True),
                 lambda F_, m: F_.batch_norm(m.ones(4, 3, 2).long(), None, None, training=True)):
        message = raises_like_torch(lambda: make(F, fw), lambda: make(TF, torch))
        try:
            make(TF, torch)
        except Exception as error:
            assert message == str(error)
