"""rnn_step (framework/ops/rnn_step.py), the recurrent layers' one-op time step, on every device: values and
gradients of every input against float64 numpy equations (complex-step gradients) and PyTorch's composed step,
in float64, float32 and bfloat16, non-contiguous inputs, LSTM's proj-sized state, GRU with and without b_hh,
an empty batch; a gradient for only one of LSTM's outputs; one RnnStepBackward0 node per step in a layer's
graph; its checks. (The kernels' own tests: tests/triton_kernels/test_rnn_step.py; the layers': tests/nn.)"""
import numpy as np
import pytest

import framework as fw
from framework.ops.rnn_step import rnn_step
from helpers import DEVICES, check_op, numpy_vjp, random_array, torch

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _np_sigmoid(u):
    return 1 / (1 + np.exp(-u))


def np_step(mode):
    """The step from PyTorch's documented equations; complex-safe (numpy_vjp differentiates by complex step)."""
    def step(gx, h, *rest):
        if mode == "LSTM":
            c, w = rest
            i, f, g, o = np.split(gx + h @ w.T, 4, axis=1)
            c_new = _np_sigmoid(f) * c + _np_sigmoid(i) * np.tanh(g)
            return _np_sigmoid(o) * np.tanh(c_new), c_new
        if mode == "GRU":
            w, b = rest if len(rest) == 2 else (rest[0], 0)
            x_r, x_z, x_n = np.split(gx, 3, axis=1)
            h_r, h_z, h_n = np.split(h @ w.T + b, 3, axis=1)
            r, z = _np_sigmoid(x_r + h_r), _np_sigmoid(x_z + h_z)
            n = np.tanh(x_n + r * h_n)
            return (1 - z) * n + z * h
        pre = gx + h @ rest[0].T
        return np.tanh(pre) if mode == "RNN_TANH" else np.where(np.real(pre) > 0, pre, 0)
    return step


def torch_step(mode):
    def step(gx, h, *rest):
        if mode == "LSTM":
            c, w = rest
            i, f, g, o = (gx + h @ w.T).chunk(4, 1)
            c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
            return o.sigmoid() * c_new.tanh(), c_new
        if mode == "GRU":
            w, b = rest if len(rest) == 2 else (rest[0], None)
            x_r, x_z, x_n = gx.chunk(3, 1)
            h_r, h_z, h_n = torch.nn.functional.linear(h, w, b).chunk(3, 1)
            r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
            n = (x_n + r * h_n).tanh()
            return n + z * (h - n)
        pre = gx + h @ rest[0].T
        return pre.tanh() if mode == "RNN_TANH" else pre.relu()
    return step


def fw_step(mode):
    def step(gx, h, *rest):
        if mode == "LSTM":
            return rnn_step(mode, gx, h, rest[0], rest[1])
        return rnn_step(mode, gx, h, None, rest[0], rest[1] if len(rest) == 2 else None)
    return step


def _arrays(rng, mode, batch=3, hidden=4, inputs=None, bias=True):
    inputs = hidden if inputs is None else inputs
    gates = GATES[mode]
    arrays = [random_array(rng, (batch, gates * hidden)), random_array(rng, (batch, inputs), low=-1, high=1)]
    if mode == "LSTM":
        arrays.append(random_array(rng, (batch, hidden)))
    arrays.append(random_array(rng, (gates * hidden, inputs), low=-0.8, high=0.8))
    if mode == "GRU" and bias:
        arrays.append(random_array(rng, (gates * hidden,), low=-0.5, high=0.5))
    return arrays


@pytest.mark.parametrize("mode", list(GATES))
@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
def test_values_and_gradients(rng, mode, dtype):
    check_op(fw_step(mode), np_step(mode), torch_step(mode) if torch is not None else None,
             *_arrays(rng, mode), dtype=dtype)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_noncontiguous_inputs_and_odd_sizes(rng, mode):
    # 5 rows, 3 units; LSTM's recurrent input is proj-sized (2 != 3); GRU without b_hh
    arrays = _arrays(rng, mode, batch=5, hidden=3, inputs=2 if mode == "LSTM" else None, bias=False)
    check_op(fw_step(mode), np_step(mode), torch_step(mode) if torch is not None else None, *arrays,
             dtype="float32", noncontiguous=True)


@pytest.mark.parametrize("device", DEVICES)
def test_an_empty_batch(device):
    gx = fw.zeros(0, 8, device=device, requires_grad=True)
    h, c = fw.zeros(0, 2, device=device), fw.zeros(0, 2, device=device)
    w = fw.ones(8, 2, device=device, requires_grad=True)
    h_new, c_new = rnn_step("LSTM", gx, h, c, w)
    assert h_new.shape == (0, 2) and c_new.shape == (0, 2)
    (h_new.sum() + c_new.sum()).backward()
    assert gx.grad.shape == (0, 8) and float(w.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("used", ["h", "c"])
def test_lstm_gradient_through_one_output(rng, device, used):
    gx, h, c, w = _arrays(rng, "LSTM")
    leaves = [fw.tensor(a, device=device, requires_grad=True) for a in (gx, h, c, w)]
    h_new, c_new = rnn_step("LSTM", *leaves)
    (h_new if used == "h" else c_new).sum().backward()
    wrt = [0, 1, 2, 3]
    ones = np.ones((3, 4))
    zeros = np.zeros((3, 4))
    expected = numpy_vjp(np_step("LSTM"), [gx, h, c, w], [ones, zeros] if used == "h" else [zeros, ones], wrt)
    for leaf, reference in zip(leaves, expected):
        np.testing.assert_allclose(leaf.grad.cpu().numpy(), reference, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_a_layer_records_one_node_per_step(device):
    fw.manual_seed(0)
    lstm = fw.nn.LSTM(3, 4).to(device)
    out, _ = lstm(fw.randn(5, 2, 3, device=device))
    steps, stack, seen = 0, [out.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        steps += type(node).__name__ == "RnnStepBackward0"
        stack.extend(edge[0] for edge in node.next_functions)
    assert steps == 5


def test_checks(rng):
    gx, h, c, w = (fw.tensor(a) for a in _arrays(rng, "LSTM"))
    with pytest.raises(ValueError, match="unknown mode 'LSTMX'"):
        rnn_step("LSTMX", gx, h, c, w)
    with pytest.raises(ValueError, match="c is LSTM's cell state"):
        rnn_step("LSTM", gx, h, None, w)
    with pytest.raises(ValueError, match="b_hh is GRU's"):
        rnn_step("RNN_TANH", gx[:, :4], h, None, w[:4], w[:4, 0])
    with pytest.raises(RuntimeError, match="expected every tensor to have dtype Double, got Float"):
        rnn_step("LSTM", gx, h, c, w.float())
    with pytest.raises(RuntimeError, match="shapes do not fit"):
        rnn_step("LSTM", gx[:, :12], h, c, w)


@pytest.mark.parametrize("device", DEVICES)
def test_autocast_runs_the_step_in_the_lower_dtype(device):
    # PyTorch lists its fused recurrent kernels among the lower-precision ops (_cudnn_rnn, mkldnn_rnn_layer)
    fw.manual_seed(0)
    lstm = fw.nn.LSTM(3, 4).to(device)
    with fw.autocast(device, dtype=fw.bfloat16):
        out, (h, c) = lstm(fw.randn(5, 2, 3, device=device))
    assert out.dtype is h.dtype is c.dtype is fw.bfloat16
    out.float().sum().backward()
    assert lstm.weight_hh_l0.grad.dtype is fw.float32 and float(lstm.weight_hh_l0.grad.abs().sum()) > 0
