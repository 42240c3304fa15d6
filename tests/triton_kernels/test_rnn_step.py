"""The fused recurrent step (triton_kernels/rnn_step.py) through Triton's interpreter on HostTensor-wrapped numpy
arrays: the forward against the documented equations in float64 (every mode, every dtype, ragged tiles, strided
inputs, LSTM's projection-sized recurrent input, GRU without b_hh); the backward's gradients against central
differences of that float64 reference (so the reference backward is not a second copy of the kernel's algebra);
the launchers' checks; AOT compiles for sm_80 and sm_90 without register spills."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import rnn_step as R
from triton_kernels.host_tensor import HostTensor as H

TOL = {np.float32: 2e-5, ml_dtypes.bfloat16: 3e-2, np.float16: 4e-3, np.float64: 1e-12}
MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")


def _sigmoid(u):
    return 1 / (1 + np.exp(-u))


def reference(mode, gx, h, c, w_hh, b_hh):
    """(h_new, c_new or None) in float64, from PyTorch's documented equations."""
    gh = h @ w_hh.T + (0 if b_hh is None else b_hh)
    if mode == "LSTM":
        i, f, g, o = np.split(gx + gh, 4, axis=1)
        c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c_new), c_new
    if mode == "GRU":
        x_r, x_z, x_n = np.split(gx, 3, axis=1)
        h_r, h_z, h_n = np.split(gh, 3, axis=1)
        r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
        n = np.tanh(x_n + r * h_n)
        return (1 - z) * n + z * h, None
    pre = gx + gh
    return (np.tanh(pre) if mode == "RNN_TANH" else np.maximum(pre, 0)), None


def _inputs(rng, mode, batch, hidden, inputs, dtype, bias=True):
    gates = R.GATES[mode]
    arrays = dict(gx=rng.standard_normal((batch, gates * hidden)), h=rng.standard_normal((batch, inputs)) * 0.5,
                  c=rng.standard_normal((batch, hidden)) if mode == "LSTM" else None,
                  w_hh=rng.standard_normal((gates * hidden, inputs)) / np.sqrt(inputs),
                  b_hh=rng.standard_normal(gates * hidden) * 0.3 if mode == "GRU" and bias else None)
    return {k: None if v is None else v.astype(dtype) for k, v in arrays.items()}


def _wide(arrays):
    return {k: None if v is None else v.astype(np.float64) for k, v in arrays.items()}


def _forward(mode, a, save=True):
    batch, hidden = a["gx"].shape[0], a["w_hh"].shape[0] // R.GATES[mode]
    dtype = a["h"].dtype
    h_out = np.full((batch, hidden), 7, dtype)
    c_out = np.full((batch, hidden), 7, dtype) if mode == "LSTM" else None
    saved = np.full((batch, R.SAVED_GATES[mode] * hidden), 7, dtype) if save else None
    wrap = lambda x: None if x is None else H(x)  # noqa: E731
    R.rnn_step_forward(mode, H(a["gx"]), H(a["h"]), wrap(a["c"]), H(a["w_hh"]), wrap(a["b_hh"]), H(h_out),
                       wrap(c_out), wrap(saved))
    return h_out, c_out, saved


def _close(actual, expected, dtype, what):
    tol = TOL[dtype]
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=tol, atol=tol, err_msg=what)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float16, np.float64])
def test_forward_matches_the_equations(rng, mode, dtype):
    a = _inputs(rng, mode, 3, 5, 5, dtype)
    h_out, c_out, _ = _forward(mode, a)
    h_ref, c_ref = reference(mode, **_wide(a))
    _close(h_out, h_ref, dtype, "h")
    if mode == "LSTM":
        _close(c_out, c_ref, dtype, "c")


@pytest.mark.parametrize("mode,batch,hidden,inputs", [("LSTM", 70, 3, 2), ("GRU", 2, 67, 67),
                                                      ("RNN_TANH", 1, 1, 1), ("LSTM", 5, 17, 70)])
def test_ragged_tiles_and_projection_sized_state(rng, mode, batch, hidden, inputs):
    # more rows, units or inputs than one interpreter tile (64) covers; LSTM's h may be proj_size wide (K != H)
    a = _inputs(rng, mode, batch, hidden, inputs, np.float64)
    h_out, c_out, _ = _forward(mode, a)
    h_ref, c_ref = reference(mode, **a)
    _close(h_out, h_ref, np.float64, "h")
    if c_ref is not None:
        _close(c_out, c_ref, np.float64, "c")


def test_strided_inputs_and_gru_without_bias(rng):
    a = _inputs(rng, "GRU", 4, 6, 6, np.float32, bias=False)
    a["gx"] = np.asfortranarray(a["gx"])
    a["w_hh"] = np.ascontiguousarray(a["w_hh"].T).T  # column-major view
    a["h"] = np.repeat(a["h"], 2, axis=1)[:, ::2]
    h_out, _, _ = _forward("GRU", a, save=False)
    _close(h_out, reference("GRU", **_wide(a))[0], np.float32, "h")


def _backward(mode, a, dh, dc):
    h_out, c_out, saved = _forward(mode, a)
    batch, hidden = h_out.shape
    gates = R.GATES[mode]
    dtype = a["h"].dtype
    d_gx = np.full((batch, gates * hidden), 7, dtype)
    d_gh = np.full((batch, gates * hidden), 7, dtype) if mode == "GRU" else None
    dh_prev = np.full(a["h"].shape, 7, dtype)
    dc_prev = np.full((batch, hidden), 7, dtype) if mode == "LSTM" else None
    wrap = lambda x: None if x is None else H(x)  # noqa: E731
    lstm, gru = mode == "LSTM", mode == "GRU"
    R.rnn_step_backward(mode, H(dh), wrap(dc), wrap(saved), wrap(a["c"]), wrap(c_out),
                        H(a["h"]) if gru else None, None if lstm or gru else H(h_out), H(a["w_hh"]), H(d_gx),
                        wrap(d_gh), H(dh_prev), wrap(dc_prev))
    return d_gx, d_gh, dh_prev, dc_prev


def _directional(mode, a, dh, dc, name, direction, eps=1e-6):
    """d/de of sum(dh * h_new + dc * c_new) at a[name] + e * direction, by central differences in float64."""
    def loss(e):
        moved = dict(a, **{name: a[name] + e * direction})
        h_new, c_new = reference(mode, **moved)
        return (dh * h_new).sum() + (0 if c_new is None else (dc * c_new).sum())
    return (loss(eps) - loss(-eps)) / (2 * eps)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, ml_dtypes.bfloat16])
def test_backward_matches_central_differences(rng, mode, dtype):
    a = _inputs(rng, mode, 3, 5, 4 if mode == "LSTM" else 5, dtype)
    hidden = a["w_hh"].shape[0] // R.GATES[mode]
    dh = rng.standard_normal((3, hidden)).astype(dtype)
    dc = rng.standard_normal((3, hidden)).astype(dtype) if mode == "LSTM" else None
    d_gx, d_gh, dh_prev, dc_prev = _backward(mode, a, dh, dc)
    wide = _wide(a)
    dh64 = dh.astype(np.float64)
    dc64 = None if dc is None else dc.astype(np.float64)
    d_gh = d_gx if d_gh is None else d_gh
    grads = {"gx": d_gx, "h": dh_prev, "c": dc_prev,
             "w_hh": d_gh.astype(np.float64).T @ a["h"].astype(np.float64)}  # the caller's GEMM
    if a["b_hh"] is not None:
        grads["b_hh"] = d_gh.astype(np.float64).sum(0)
    tol = 1e-6 if dtype == np.float64 else TOL[dtype] * 10
    for name, grad in grads.items():
        if a[name] is None:
            continue
        direction = rng.standard_normal(a[name].shape)
        expected = _directional(mode, wide, dh64, dc64, name, direction)
        actual = float((np.asarray(grad, np.float64) * direction).sum())
        assert abs(actual - expected) <= tol * (1 + abs(expected)), (name, actual, expected)


def test_backward_ragged_rows_and_inputs(rng):
    # several K blocks (only the first stores the gate gradients) and rows past one tile
    a = _inputs(rng, "LSTM", 67, 3, 70, np.float64)
    dh, dc = rng.standard_normal((67, 3)), rng.standard_normal((67, 3))
    d_gx, _, dh_prev, dc_prev = _backward("LSTM", a, dh, dc)
    for name, grad in (("gx", d_gx), ("h", dh_prev), ("c", dc_prev)):
        direction = rng.standard_normal(a[name].shape)
        expected = _directional("LSTM", a, dh, dc, name, direction)
        assert abs((grad * direction).sum() - expected) <= 1e-6 * (1 + abs(expected)), name


def test_launchers_reject_bad_arguments():
    f = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    with pytest.raises(ValueError, match="unknown mode 'LSTMX'"):
        R.rnn_step_forward("LSTMX", H(f(2, 8)), H(f(2, 2)), None, H(f(8, 2)), None, H(f(2, 2)), None, None)
    with pytest.raises(TypeError, match="unsupported dtype int32"):
        i = np.zeros((2, 2), np.int32)
        R.rnn_step_forward("RNN_TANH", H(i), H(i), None, H(i), None, H(i), None, None)
    with pytest.raises(ValueError, match=r"w_hh must be \(4 \* hidden, 2\)"):
        R.rnn_step_forward("LSTM", H(f(2, 8)), H(f(2, 2)), H(f(2, 2)), H(f(7, 2)), None, H(f(2, 2)), H(f(2, 2)),
                           None)
    with pytest.raises(ValueError, match=r"gx must have shape \(2, 8\), got \(2, 6\)"):
        R.rnn_step_forward("LSTM", H(f(2, 6)), H(f(2, 2)), H(f(2, 2)), H(f(8, 2)), None, H(f(2, 2)), H(f(2, 2)),
                           None)
    with pytest.raises(ValueError, match="c and c_out are LSTM's"):
        R.rnn_step_forward("LSTM", H(f(2, 8)), H(f(2, 2)), None, H(f(8, 2)), None, H(f(2, 2)), None, None)
    with pytest.raises(TypeError, match="w_hh has dtype float64, expected float32"):
        R.rnn_step_forward("RNN_TANH", H(f(2, 2)), H(f(2, 2)), None, H(np.zeros((2, 2))), None, H(f(2, 2)), None,
                           None)
    with pytest.raises(ValueError, match="b_hh is GRU's"):
        R.rnn_step_forward("RNN_TANH", H(f(2, 2)), H(f(2, 2)), None, H(f(2, 2)), H(f(2)), H(f(2, 2)), None, None)
    with pytest.raises(ValueError, match="LSTM's backward needs saved"):
        R.rnn_step_backward("LSTM", H(f(2, 2)), H(f(2, 2)), None, H(f(2, 2)), H(f(2, 2)), None, None, H(f(8, 2)),
                            H(f(2, 8)), None, H(f(2, 2)), H(f(2, 2)))
    with pytest.raises(ValueError, match=r"dh_prev must have shape \(2, 3\)"):
        R.rnn_step_backward("RNN_TANH", H(f(2, 2)), None, None, None, None, None, H(f(2, 2)), H(f(2, 3)),
                            H(f(2, 2)), None, H(f(2, 2)), None)


def test_empty_batch_launches_nothing():
    f = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    out = f(0, 3)
    assert R.rnn_step_forward("GRU", H(f(0, 9)), H(f(0, 3)), None, H(f(9, 3)), None, H(out), None, None).array is out


# ---- AOT: both kernels, every mode and dtype, unaligned buffers (the most registers) ----------------------------
_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "fp64": "float64"}


def _job(direction, mode, dtype, arch):
    name = _DTYPES[dtype]
    dot_fp32, precision = False, "ieee"
    config = dict(R.CONFIGS[R.config_name(direction, name)])
    num_warps, num_stages = config.pop("num_warps"), config.pop("num_stages")
    flags = dict(MODE=R.MODES[mode], DOT_FP32=dot_fp32, INPUT_PRECISION=precision, **config)
    if direction == "forward":
        kernel = R.rnn_step_forward_kernel
        flags.update(HAS_BHH=mode == "GRU", SAVE=R.SAVED_GATES[mode] > 0)
    else:
        kernel = R.rnn_step_backward_kernel
    signature = aot.specialize(kernel, flags, dtype, aligned=False)
    return dict(kernel=kernel, arch=arch, num_warps=num_warps, num_stages=num_stages, **signature)


def aot_jobs():
    return [(f"{direction} {mode} {dtype}", _job(direction, mode, dtype, arch))
            for arch in aot.ARCHITECTURES for direction in ("forward", "backward") for mode in MODES
            for dtype in _DTYPES]


def test_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * 2 * len(MODES) * len(_DTYPES)
    aot.assert_no_spills(aot_results)
