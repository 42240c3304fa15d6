"""float64 numpy references for the recurrent layers, written from the equations in PyTorch's documentation (not
from framework's code): one cell step per mode, and a padded (T, B, I) multi-layer, optionally bidirectional
run with per-sequence lengths (a sequence of length L reads steps 0..L-1; its reverse direction starts at L-1)."""
import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def cell(mode, x, h, c, p, suffix=""):
    """One step: p maps 'weight_ih', 'weight_hh', 'bias_ih', 'bias_hh', 'weight_hr' (+ suffix) to arrays."""
    w_ih, w_hh = p["weight_ih" + suffix], p["weight_hh" + suffix]
    b_ih = p.get("bias_ih" + suffix, np.zeros(w_ih.shape[0]))
    b_hh = p.get("bias_hh" + suffix, np.zeros(w_ih.shape[0]))
    gx, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if mode == "LSTM":
        i, f, g, o = np.split(gx + gh, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        if "weight_hr" + suffix in p:
            h = h @ p["weight_hr" + suffix].T
        return h, c
    if mode == "GRU":
        xr, xz, xn = np.split(gx, 3, axis=1)
        hr, hz, hn = np.split(gh, 3, axis=1)
        r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
        n = np.tanh(xn + r * hn)
        return (1 - z) * n + z * h, None
    pre = gx + gh
    return (np.tanh(pre) if mode == "RNN_TANH" else np.maximum(pre, 0)), None


def layers(mode, params, x, h0, c0, num_layers, bidirectional, lengths=None):
    """(output (T, B, D*H_out) zero past each length, h_n, c_n) for a padded batch x (T, B, I)."""
    steps, batch = x.shape[:2]
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    directions = 2 if bidirectional else 1
    h_n, c_n = np.zeros_like(h0), None if c0 is None else np.zeros_like(c0)
    inputs = x
    for layer in range(num_layers):
        outs = []
        for direction in range(directions):
            index = layer * directions + direction
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            out = np.zeros((steps, batch, h0.shape[2]))
            for b in range(batch):
                h, c = h0[index, b:b + 1], None if c0 is None else c0[index, b:b + 1]
                order = range(lengths[b]) if direction == 0 else reversed(range(lengths[b]))
                for t in order:
                    h, c = cell(mode, inputs[t, b:b + 1], h, c, params, suffix)
                    out[t, b] = h[0]
                h_n[index, b] = h[0]
                if c is not None:
                    c_n[index, b] = c[0]
            outs.append(out)
        inputs = np.concatenate(outs, axis=2)
    return inputs, h_n, c_n
