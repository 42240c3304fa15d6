"""One-step recurrent cells: `RNNCell`, `LSTMCell`, `GRUCell`, with PyTorch's parameters (weight_ih, weight_hh,
bias_ih, bias_hh), initialisation, checks and errors. A step is the layers' step (rnn.py's `_step`): the input
projection, the recurrent matmul and the gates' update, composed from framework ops on every device."""
import math

from ...creation import empty, zeros
from .. import init
from ..parameter import Parameter
from .module import Module
from .rnn import _input_projection, _step


class RNNCellBase(Module):
    """The shared parameters and checks of the cells."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), device=device, dtype=dtype))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size), device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _prepare(self, name, input, states, what="hidden"):
        """(batched input, batched states, whether the input was batched) after PyTorch's checks."""
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        for index, state in enumerate(states):
            if state is not None and state.ndim not in (1, 2):
                label = what if len(states) == 1 else f"hx[{index}]"
                raise ValueError(f"{name}: Expected {label} to be 1D or 2D, got {state.ndim}D instead")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        states = [zeros((x.shape[0], self.hidden_size), dtype=x.dtype, device=x.device) if state is None
                  else (state if batched else state.unsqueeze(0)) for state in states]
        if x.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {x.shape[1]} expected {self.input_size}")
        for index, state in enumerate(states):
            if state.shape[0] != x.shape[0]:
                raise RuntimeError(f"Input batch size {x.shape[0]} doesn't match hidden{index} batch size "
                                   f"{state.shape[0]}")
            if state.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{index} has inconsistent hidden_size: got {state.shape[1]}, expected "
                                   f"{self.hidden_size}")
        return x, states, batched

    def _cell(self, mode, x, h, c=None):
        gates_x = _input_projection(mode, x, self.weight_ih, self.bias_ih, self.bias_hh)
        return _step(mode, gates_x, h, c, self.weight_hh, self.bias_hh if mode == "GRU" else None, None,
                     fused=False)


class RNNCell(RNNCellBase):
    """h' = tanh (or relu)(x W_ih^T + b_ih + h W_hh^T + b_hh)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare("RNNCell", input, [hx])
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        out, _ = self._cell("RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU", x, h)
        return out if batched else out.squeeze(0)


class LSTMCell(RNNCellBase):
    """(h', c') from (x, (h, c)): gates i, f, g, o in PyTorch's order."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        states = [None, None] if hx is None else list(hx)
        x, (h, c), batched = self._prepare("LSTMCell", input, states)
        h, c = self._cell("LSTM", x, h, c)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """h' from (x, h): gates r, z, n in PyTorch's order."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare("GRUCell", input, [hx])
        out, _ = self._cell("GRU", x, h)
        return out if batched else out.squeeze(0)
