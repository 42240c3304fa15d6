"""Recurrent layers: `RNN` (tanh or relu), `LSTM` (with `proj_size`), `GRU`, and their one-step cells, with
PyTorch's parameters (names, shapes, registration order, hence initialisation and state dict), arguments,
shapes and errors. PyTorch's weights load as they are: `weight_ih_l0`, `weight_hh_l0_reverse`, ...

How a layer runs (the same on every device):
* every input goes through one row layout: packed rows (PackedSequence.data) with `batch_sizes[t]` rows at
  step t, the longest sequences first; a padded (T, B, I) batch is the packing where every step has B rows;
* per layer and direction, the input projection of ALL time steps is one matmul (F.linear over the rows, with
  b_ih + b_hh folded in; GRU keeps b_hh for its reset gate);
* then a loop over the time steps (never over elements): one rnn_step op on the step's active rows (the
  recurrent matmul and the gates' update). Forward runs t = 0..T-1, reverse T-1..0; rows past a sequence's
  end keep its final state (forward) or still hold the initial one (reverse), which is how packed batches
  end and start.
Each step is one `rnn_step` op (framework/ops/rnn_step.py): one autograd node per step and direction; on `cuda`
one fused Triton launch forward (the recurrent GEMM with the gates in its epilogue) and one backward (plus W_hh's
gradient GEMM), numpy on the CPU.
"""
import math
import numbers
import warnings

from ...creation import empty, zeros
from ...ops.rnn_step import composition, rnn_step
from ...ops.shape import cat, split, stack
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _step(mode, gates_x, h, c, w_hh, b_hh, w_hr, fused=True):
    """One time step for the active rows: gates_x is their input projection (with the biases, except GRU's
    b_hh); returns the new (h, c) (c is None but for LSTM). `fused`: the layers' one rnn_step op (one kernel
    launch per step on cuda, one autograd node); the cells compose the same equations from framework ops, so
    their outputs' grad_fn is PyTorch's (MulBackward0, AddBackward0, TanhBackward0 as on its CPU)."""
    if fused:
        out = rnn_step(mode, gates_x, h, c, w_hh, b_hh)
    else:
        out = composition(gates_x, h, c, w_hh, b_hh, mode)
    h, c = out if mode == "LSTM" else (out, None)
    return (h if w_hr is None else F.linear(h, w_hr)), c


def _input_projection(mode, rows, w_ih, b_ih, b_hh):
    """All time steps' input projection in one matmul: rows (N, I) -> (N, gates)."""
    if b_ih is None:
        return F.linear(rows, w_ih)
    return F.linear(rows, w_ih, b_ih if mode == "GRU" else b_ih + b_hh)


def _direction(mode, rows, sizes, h, c, weights, reverse):
    """Runs one direction of one layer over packed rows: (output rows (N, H_out), final h, final c)."""
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    projected = _input_projection(mode, rows, w_ih, b_ih, b_hh)
    batch = h.shape[0]
    outputs = [None] * len(sizes)
    # one split, not a slice per step: its backward assembles the steps' gradients once (a slice's backward
    # writes a zero-filled full-size gradient per step, which autograd would then add up: O(steps^2) traffic)
    gates_x = split(projected, list(sizes), 0) if sizes else []
    for t in (reversed(range(len(sizes))) if reverse else range(len(sizes))):
        size = sizes[t]
        active = lambda state: state if size == batch else state[:size]  # noqa: E731
        new_h, new_c = _step(mode, gates_x[t], active(h), None if c is None
                             else active(c), w_hh, b_hh if mode == "GRU" else None, w_hr)
        outputs[t] = new_h
        h = new_h if size == batch else cat([new_h, h[size:]], 0)
        if c is not None:
            c = new_c if size == batch else cat([new_c, c[size:]], 0)
    return cat(outputs, 0), h, c


class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU (PyTorch's RNNBase): parameters, checks, the layer loop."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=2)
        for name, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int):
                raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        out_size = proj_size or hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else out_size * directions
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, out_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                suffix = "_reverse" if direction == 1 else ""
                names = []
                for stem, shape in shapes:  # PyTorch's registration order: its init draws in this order
                    name = f"{stem}_l{layer}{suffix}"
                    setattr(self, name, Parameter(empty(shape, device=device, dtype=dtype)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self):
        """A no-op: PyTorch packs the weights for cuDNN; these layers read them where they are."""

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---- checks ----------------------------------------------------------------------------------------------

    def _check_input(self, input, packed):
        weight_dtype = self.weight_ih_l0.dtype
        if input.dtype is not weight_dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight_dtype}). "
                             f"Convert input: input.to({weight_dtype}), or convert model: model.to({input.dtype})")
        expected = 2 if packed else 3
        if input.ndim != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.ndim}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")

    def _expected_hidden(self, batch, cell=False):
        size = self.hidden_size if cell or not self.proj_size else self.proj_size
        return (self.num_layers * (2 if self.bidirectional else 1), batch, size)

    @staticmethod
    def _check_hidden(hx, expected, message="Expected hidden size {}, got {}"):
        if tuple(hx.shape) != expected:
            raise RuntimeError(message.format(expected, list(hx.shape)))

    # ---- the layer loop --------------------------------------------------------------------------------------

    def _run(self, rows, sizes, h0, c0):
        """Runs every layer over packed rows; returns (output rows, h_n, c_n or None)."""
        directions = 2 if self.bidirectional else 1
        finals_h, finals_c = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                names = self._all_weights[index]
                weights = [getattr(self, name) for name in names[:2]]
                weights += [getattr(self, name) for name in names[2:4]] if self.bias else [None, None]
                weights.append(getattr(self, names[-1]) if self.proj_size else None)
                out, h, c = _direction(self.mode, rows, sizes, h0[index], None if c0 is None
                                       else c0[index], weights, reverse=direction == 1)
                outputs.append(out)
                finals_h.append(h)
                finals_c.append(c)
            rows = outputs[0] if directions == 1 else cat(outputs, 1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                rows = F.dropout(rows, self.dropout, True)
        return rows, stack(finals_h, 0), (stack(finals_c, 0) if c0 is not None else None)

    def forward(self, input, hx=None):
        name = {"LSTM": "LSTM", "GRU": "GRU"}.get(self.mode, "RNN")
        packed = isinstance(input, PackedSequence)
        lstm = self.mode == "LSTM"
        if packed:
            data, sizes = input.data, [int(s) for s in input.batch_sizes.tolist()]
            self._check_input(data, True)
            batch, batched = (sizes[0] if sizes else 0), True
            rows = data
        else:
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                                 + ("tensor instead" if name == "RNN" else "instead"))
            batched = input.ndim == 3
            x = input if batched else input.unsqueeze(1)
            if batched and self.batch_first:
                x = x.transpose(0, 1)
            self._check_input(x, False)
            steps, batch = x.shape[0], x.shape[1]
            sizes = [batch] * steps
            rows = x.reshape((steps * batch, x.shape[2]))
        if hx is not None:
            hx = self._batch_hidden(hx, batched, lstm)
            if packed and input.sorted_indices is not None:
                hx = tuple(h.index_select(1, input.sorted_indices) for h in hx) if lstm else \
                    hx.index_select(1, input.sorted_indices)
        h0, c0 = self._initial_state(hx, batch, rows, lstm)
        out_rows, h_n, c_n = self._run(rows, sizes, h0, c0)
        if packed:
            if input.unsorted_indices is not None:
                h_n = h_n.index_select(1, input.unsorted_indices)
                c_n = c_n.index_select(1, input.unsorted_indices) if c_n is not None else None
            output = PackedSequence(out_rows, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        else:
            output = out_rows.reshape((len(sizes), batch, out_rows.shape[-1]))
            if batched and self.batch_first:
                output = output.transpose(0, 1)
            if not batched:
                output, h_n = output.squeeze(1), h_n.squeeze(1)
                c_n = c_n.squeeze(1) if c_n is not None else None
        return output, ((h_n, c_n) if lstm else h_n)

    def _batch_hidden(self, hx, batched, lstm):
        """hx with a batch dim (unbatched input: hx is 2-D), after PyTorch's dimension checks."""
        if lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise RuntimeError("LSTM: Expected hx to be a tuple of (h_0, c_0)")
            dims = (hx[0].ndim, hx[1].ndim)
            want = 3 if batched else 2
            if dims != (want, want):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                                   f"({dims[0]}-D, {dims[1]}-D) tensors")
            return tuple(h if batched else h.unsqueeze(1) for h in hx)
        want = 3 if batched else 2
        if hx.ndim != want:
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {hx.ndim}-D tensor")
        return hx if batched else hx.unsqueeze(1)

    def _initial_state(self, hx, batch, rows, lstm):
        if hx is None:
            make = lambda shape: zeros(shape, dtype=rows.dtype, device=rows.device)  # noqa: E731
            return make(self._expected_hidden(batch)), (make(self._expected_hidden(batch, cell=True)) if lstm
                                                        else None)
        if lstm:
            self._check_hidden(hx[0], self._expected_hidden(batch), "Expected hidden[0] size {}, got {}")
            self._check_hidden(hx[1], self._expected_hidden(batch, cell=True), "Expected hidden[1] size {}, got {}")
            return hx
        self._check_hidden(hx, self._expected_hidden(batch))
        return hx, None


class RNN(RNNBase):
    """An Elman RNN: h_t = tanh (or relu)(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), stacked and optionally
    bidirectional."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)


class LSTM(RNNBase):
    """A long short-term memory layer (gates i, f, g, o in PyTorch's order); proj_size > 0 projects h."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """A gated recurrent unit layer (gates r, z, n in PyTorch's order; the reset gate scales W_hn h + b_hn)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
