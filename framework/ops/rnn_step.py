"""rnn_step: one time step of a recurrent layer (nn.RNN, nn.LSTM, nn.GRU) as one op, so that autograd records one
node per step (RnnStepBackward0; PyTorch's layers record one CudnnRnnBackward0 per call with cuDNN, or the
composed ops on its CPU: neither has a per-step node to match, and the layers' outputs keep their own nodes).

    rnn_step(mode, gates_x, h, c, w_hh, b_hh) -> (h_new, c_new) for "LSTM", else h_new

gates_x (B, G*H) is the step's input projection with the biases folded in (GRU: b_ih only; its b_hh sits inside
r * (W_hn h + b_hn) and comes as b_hh); h (B, K) the previous hidden state (K = H, or LSTM's proj_size), c
(B, H) LSTM's cell state (else None), w_hh (G*H, K). h_new is LSTM's o * tanh(c_new) before any projection.
Kernels: numpy (backends/numpy/rnn_step.py), one fused Triton launch per step and direction on cuda
(triton_kernels/rnn_step.py). `composition` is the same step in framework ops: the derivative formula
differentiates it (create_graph=True), and tests hold the kernels to it.
"""
from ..autograd.function import autocast_inputs, run
from . import elementwise as ew
from .linalg import linear
from .shape import chunk

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check(mode, gates_x, h, c, w_hh, b_hh):
    if mode not in _GATES:
        raise ValueError(f"rnn_step: unknown mode {mode!r}")
    if (c is not None) != (mode == "LSTM"):
        raise ValueError("rnn_step: c is LSTM's cell state, and only LSTM's")
    if b_hh is not None and mode != "GRU":
        raise ValueError("rnn_step: b_hh is GRU's; the other modes fold it into gates_x")
    tensors = [t for t in (gates_x, h, c, w_hh, b_hh) if t is not None]
    for t in tensors[1:]:
        if t._dtype is not h._dtype:
            raise RuntimeError(f"rnn_step: expected every tensor to have dtype {h._dtype.scalar_name}, got "
                               f"{t._dtype.scalar_name}")
        if t._device != h._device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{h._device} and {t._device}!")
    batch, inputs = h.shape
    hidden = w_hh.shape[0] // _GATES[mode]
    if tuple(w_hh.shape) != (_GATES[mode] * hidden, inputs) or tuple(gates_x.shape) != (batch, w_hh.shape[0]):
        raise RuntimeError(f"rnn_step: shapes do not fit: gates_x {tuple(gates_x.shape)}, h {tuple(h.shape)}, "
                           f"w_hh {tuple(w_hh.shape)}")


def rnn_step(mode, gates_x, h, c, w_hh, b_hh=None):
    gates_x, h, c, w_hh, b_hh = autocast_inputs("rnn_step", (gates_x, h, c, w_hh, b_hh))  # first: _check compares
    _check(mode, gates_x, h, c, w_hh, b_hh)
    return run("rnn_step", (gates_x, h, c, w_hh, b_hh), (mode,))


def composition(gates_x, h, c, w_hh, b_hh, mode):
    """The step in framework ops (PyTorch's documented equations): what the kernels compute."""
    if mode == "GRU":
        x_r, x_z, x_n = chunk(gates_x, 3, 1)
        h_r, h_z, h_n = chunk(linear(h, w_hh, b_hh), 3, 1)
        r, z = ew.sigmoid(x_r + h_r), ew.sigmoid(x_z + h_z)
        n = ew.tanh(x_n + r * h_n)
        return n + z * (h - n)
    gates = gates_x + linear(h, w_hh)
    if mode == "LSTM":
        i, f, g, o = chunk(gates, 4, 1)
        c_new = ew.sigmoid(f) * c + ew.sigmoid(i) * ew.tanh(g)
        return ew.sigmoid(o) * ew.tanh(c_new), c_new
    return ew.tanh(gates) if mode == "RNN_TANH" else ew.relu(gates)
