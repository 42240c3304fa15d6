"""Batch-norm kernels (triton_kernels/batch_norm.py) through Triton's interpreter on HostTensor-wrapped numpy
arrays against float64 formulas: training (Welford statistics, a mean far from 0, running statistics updated with
the unbiased variance) and evaluation, with and without affine parameters, strided inputs, channels longer than
one block; the backward's three gradients in both modes and alone; the launchers' checks; AOT compiles for sm_80
and sm_90 without register spills for every dtype and flag set the launchers pass."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import batch_norm as B
from triton_kernels.host_tensor import HostTensor as H

TOL = {np.float32: 1e-5, ml_dtypes.bfloat16: 2e-2, np.float16: 4e-3, np.float64: 1e-12}
EPS, MOMENTUM = 1e-5, 0.1


def _acc(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def _forward(x, weight, bias, running, training):
    n, c, _ = x.shape
    acc = _acc(x.dtype)
    y = np.full(x.shape, 7, x.dtype)
    mean, invstd = np.full(c, 7, acc), np.full(c, 7, acc)
    rm, rv = running if running is not None else (None, None)
    B.batch_norm_forward(H(x), None if weight is None else H(weight), None if bias is None else H(bias), H(y),
                         H(mean), H(invstd), None if rm is None else H(rm), None if rv is None else H(rv), training,
                         MOMENTUM, EPS)
    return y, mean, invstd


def _close(actual, expected, dtype, what, atol=0.0):
    tol = TOL[dtype]
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=tol, atol=max(tol * 4, atol),
                               err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float64])
@pytest.mark.parametrize("affine", [True, False])
def test_training_forward_and_running_statistics(rng, dtype, affine):
    x = (rng.standard_normal((3, 4, 7)) * 0.5 + 100.0 * (dtype != ml_dtypes.bfloat16)).astype(dtype)
    weight = rng.standard_normal(4).astype(dtype) if affine else None
    bias = rng.standard_normal(4).astype(dtype) if affine else None
    rm, rv = rng.standard_normal(4).astype(dtype), rng.uniform(0.5, 2, 4).astype(dtype)
    old_mean, old_var = rm.astype(np.float64), rv.astype(np.float64)
    y, mean, invstd = _forward(x, weight, bias, (rm, rv), True)
    x64 = x.astype(np.float64)
    mu, var = x64.mean(axis=(0, 2)), x64.var(axis=(0, 2))
    expected = (x64 - mu[:, None]) / np.sqrt(var[:, None] + EPS)
    if affine:
        expected = expected * weight.astype(np.float64)[:, None] + bias.astype(np.float64)[:, None]
    _close(mean, mu, dtype, "mean")
    np.testing.assert_allclose(invstd, 1 / np.sqrt(var + EPS), rtol=1e-4 if dtype != np.float64 else 1e-10)
    # x sits at 100: y = x * scale + shift (scale = weight * invstd, shift = bias - mean * scale, PyTorch's fold)
    # rounds x * scale and the shift, both ~100 * scale, at the compute dtype's epsilon (float32 but for float64):
    # a few of those bound y's error
    scale = 1 / np.sqrt(var + EPS) * (1.0 if weight is None else np.abs(weight.astype(np.float64)))
    eps = np.finfo(np.float64 if dtype == np.float64 else np.float32).eps
    _close(y, expected, dtype, "y", atol=8 * eps * np.abs(x64).max() * scale.max())
    _close(rm, 0.9 * old_mean + 0.1 * mu, dtype, "running_mean")
    _close(rv, 0.9 * old_var + 0.1 * var * 21 / 20, dtype, "running_var (unbiased)")


def test_evaluation_reads_running_statistics_and_strided_input(rng):
    base = rng.standard_normal((2, 6, 10)).astype(np.float32)
    x = base[:, ::2, ::3]  # strides in every dim
    rm, rv = rng.standard_normal(3).astype(np.float32), rng.uniform(0.5, 2, 3).astype(np.float32)
    saved = rm.copy(), rv.copy()
    weight = rng.standard_normal(3).astype(np.float32)
    y, mean, invstd = _forward(x, weight, None, (rm, rv), False)
    expected = (x - rm[:, None]) / np.sqrt(rv[:, None] + EPS) * weight[:, None]
    _close(y, expected, np.float32, "evaluation")
    np.testing.assert_array_equal(rm, saved[0])
    np.testing.assert_array_equal(rv, saved[1])
    _close(invstd, 1 / np.sqrt(rv + EPS), np.float32, "invstd")


def test_channels_longer_than_one_block(rng):
    x = rng.standard_normal((2, 2, B.INTERPRETER_BLOCK_SIZE // 2 + 11)).astype(np.float32) + 3.0
    y, mean, _ = _forward(x, None, None, None, True)
    x64 = x.astype(np.float64)
    _close(mean, x64.mean(axis=(0, 2)), np.float32, "mean")
    _close(y, (x64 - x64.mean(axis=(0, 2))[:, None]) / np.sqrt(x64.var(axis=(0, 2))[:, None] + EPS), np.float32,
           "y")


def _backward_reference(g, x, weight, training):
    g, x = g.astype(np.float64), x.astype(np.float64)
    mu, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    invstd = 1 / np.sqrt(var + EPS)
    xhat = (x - mu[:, None]) * invstd[:, None]
    scale = invstd * (1.0 if weight is None else weight.astype(np.float64))
    if training:
        dx = (g - g.mean(axis=(0, 2))[:, None] - xhat * (g * xhat).mean(axis=(0, 2))[:, None]) * scale[:, None]
    else:
        dx = g * scale[:, None]
    return dx, (g * xhat).sum(axis=(0, 2)), g.sum(axis=(0, 2))


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_backward(rng, dtype, training):
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    weight = rng.standard_normal(4).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 2)).astype(_acc(dtype))
    invstd = (1 / np.sqrt(x64.var(axis=(0, 2)) + EPS)).astype(_acc(dtype))
    dx, dw, db = np.empty(x.shape, dtype), np.empty(4, dtype), np.empty(4, dtype)
    B.batch_norm_backward(H(g), H(x), H(weight), H(mean), H(invstd), H(dx), H(dw), H(db), training)
    for actual, expected, what in zip((dx, dw, db), _backward_reference(g, x, weight, training), ("dx", "dw", "db")):
        _close(actual, expected, dtype, what)
    alone = np.empty(x.shape, dtype)
    B.batch_norm_backward(H(g), H(x), None, H(mean), H(invstd), H(alone), None, None, training)
    _close(alone, _backward_reference(g, x, None, training)[0], dtype, "dx without weight")


def test_launchers_reject_bad_arguments():
    x, c = np.zeros((2, 3, 4), np.float32), np.zeros(3, np.float32)
    with pytest.raises(TypeError, match="unsupported dtype int32"):
        B.batch_norm_forward(H(x.astype(np.int32)), None, None, H(x), H(c), H(c), None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="must be 3-d"):
        B.batch_norm_forward(H(x[0]), None, None, H(x[0]), H(c), H(c), None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"weight must be a float \(3,\) vector"):
        B.batch_norm_forward(H(x), H(np.zeros(4, np.float32)), None, H(x), H(c), H(c), None, None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="bias must be contiguous"):
        B.batch_norm_forward(H(x), None, H(np.zeros(6, np.float32)[::2]), H(x), H(c), H(c), None, None, True, 0.1,
                             1e-5)
    with pytest.raises(ValueError, match="evaluation needs running_mean and running_var"):
        B.batch_norm_forward(H(x), None, None, H(x), H(c), H(c), None, None, False, 0.1, 1e-5)
    with pytest.raises(ValueError, match="grad_x"):
        B.batch_norm_backward(H(x), H(x), None, H(c), H(c), H(x[:1]), None, None, True)


# ---- AOT: the one block config, for each dtype (16-bit data with 16-bit or float32 parameters), training and
# evaluation, every optional pointer present (the most registers) --------------------------------------------
_PAIRS = (("fp32", "fp32"), ("fp64", "fp64"), ("bf16", "bf16"), ("bf16", "fp32"), ("fp16", "fp16"), ("fp16", "fp32"))


def _job(direction, data, param, training, arch):
    acc = "fp64" if data == "fp64" else "fp32"
    if direction == "forward":
        kernel = B.batch_norm_forward_kernel
        pointers = {"x_ptr": data, "y_ptr": data, "weight_ptr": param, "bias_ptr": param, "mean_ptr": acc,
                    "invstd_ptr": acc, "running_mean_ptr": param, "running_var_ptr": param}
        flags = dict(TRAINING=training, HAS_WEIGHT=True, HAS_BIAS=True, UPDATE_RUNNING=training)
        signature = aot.specialize(kernel, dict(flags, BLOCK_SIZE=B.BLOCK_SIZE), pointers, aligned=False)
        signature["signature"].update(momentum="fp32", eps="fp32")
    else:
        kernel = B.batch_norm_backward_kernel
        pointers = {"dy_ptr": data, "x_ptr": data, "dx_ptr": data, "weight_ptr": param, "dweight_ptr": param,
                    "dbias_ptr": param, "mean_ptr": acc, "invstd_ptr": acc}
        flags = dict(TRAINING=training, HAS_WEIGHT=True, COMPUTE_DX=True, COMPUTE_DW=True, COMPUTE_DB=True)
        signature = aot.specialize(kernel, dict(flags, BLOCK_SIZE=B.BLOCK_SIZE), pointers, aligned=False)
    return dict(kernel=kernel, arch=arch, num_warps=4, num_stages=3, **signature)


def aot_jobs():
    return [(f"{direction} {data}/{param} training={training} sm_{arch}", _job(direction, data, param, training,
                                                                                arch))
            for arch in aot.ARCHITECTURES for direction in ("forward", "backward") for data, param in _PAIRS
            for training in (True, False)]


def test_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * 2 * len(_PAIRS) * 2
    aot.assert_no_spills(aot_results)
