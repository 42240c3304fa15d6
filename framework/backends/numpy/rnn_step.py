"""CPU kernels for rnn_step (framework/ops/rnn_step.py): one time step of a recurrent layer, the recurrent matmul
and the gates' update, as whole-array numpy (float32 arithmetic for float16/bfloat16, float64 for float64).

The math is triton_kernels/rnn_step.py's, written once more for numpy: the forward keeps the activated gates
(LSTM i, f, g, o; GRU r, z, n and W_hn h + b_hn) for the backward, which forms the gates' pre-activation
gradients and from them every input's gradient: gx's (the caller's input projection), h's and c's, W_hh's
(d_gates_h.T @ h) and GRU's b_hh's.
"""
import numpy as np

from ...autograd.registry import register
from .common import upcast


def _sigmoid(u):
    return 0.5 * (1.0 + np.tanh(0.5 * u))  # no overflow warning for large negative u


def _forward(ctx, gx, h, c, w_hh, b_hh, mode):
    dtype = h.dtype
    hp = upcast(h)
    gh = hp @ upcast(w_hh).T.astype(hp.dtype, copy=False)
    if b_hh is not None:
        gh += upcast(b_hh)
    gxa = upcast(gx)
    saved = c_new = None
    if mode == "LSTM":
        i, f, g, o = np.split(gxa + gh, 4, axis=1)
        i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
        c_new = f * upcast(c) + i * g
        h_new = o * np.tanh(c_new)
        saved = (i, f, g, o)
    elif mode == "GRU":
        x_r, x_z, x_n = np.split(gxa, 3, axis=1)
        h_r, h_z, h_n = np.split(gh, 3, axis=1)
        r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
        n = np.tanh(x_n + r * h_n)
        h_new = n + z * (hp - n)
        saved = (r, z, n, h_n)
    else:
        pre = gxa + gh
        h_new = np.tanh(pre) if mode == "RNN_TANH" else np.maximum(pre, 0)
    if ctx.needs_input_grad:
        ctx.mode, ctx.dtype, ctx.has_bias = mode, dtype, b_hh is not None
        ctx.gates = saved
        ctx.save_for_backward(h, c, w_hh)
        ctx.states = (h_new, c_new)  # in float32/float64: the backward's derivatives read them
    h_out = h_new.astype(dtype, copy=False)
    return (h_out, c_new.astype(dtype, copy=False)) if mode == "LSTM" else h_out


def _backward(ctx, grads):
    h, c, w_hh = ctx.saved_tensors
    mode, dtype = ctx.mode, ctx.dtype
    h_new, c_new = ctx.states
    if mode == "LSTM":
        g_h, g_c = grads
    else:
        g_h, g_c = grads, None
    dh = np.zeros_like(h_new) if g_h is None else upcast(g_h).astype(h_new.dtype, copy=False)
    dc_prev = None
    if mode == "LSTM":
        i, f, g, o = ctx.gates
        tanh_c = np.tanh(c_new)
        dc = (0 if g_c is None else upcast(g_c)) + dh * o * (1 - tanh_c * tanh_c)
        d_gx = np.concatenate([dc * g * i * (1 - i), dc * upcast(c) * f * (1 - f), dc * i * (1 - g * g),
                               dh * tanh_c * o * (1 - o)], axis=1)
        d_gh = d_gx
        dc_prev = dc * f
    elif mode == "GRU":
        r, z, n, h_n = ctx.gates
        d_n = dh * (1 - z) * (1 - n * n)
        d_z = dh * (upcast(h) - n) * z * (1 - z)
        d_r = d_n * h_n * r * (1 - r)
        d_gx = np.concatenate([d_r, d_z, d_n], axis=1)
        d_gh = np.concatenate([d_r, d_z, d_n * r], axis=1)
    else:
        d_gx = dh * (1 - h_new * h_new) if mode == "RNN_TANH" else np.where(h_new > 0, dh, 0)
        d_gh = d_gx
    need_gx, need_h, need_c, need_w, need_b = ctx.needs_input_grad
    cast = lambda a: a.astype(dtype, copy=False)  # noqa: E731
    grad_h = None
    if need_h:
        grad_h = d_gh @ upcast(w_hh).astype(d_gh.dtype, copy=False)
        if mode == "GRU":
            grad_h += dh * ctx.gates[1]
        grad_h = cast(grad_h)
    return (cast(d_gx) if need_gx else None, grad_h,
            cast(dc_prev) if need_c and dc_prev is not None else None,
            cast(d_gh.T @ upcast(h).astype(d_gh.dtype, copy=False)) if need_w else None,
            cast(d_gh.sum(0)) if need_b and ctx.has_bias else None)


register("rnn_step", "cpu", _forward, _backward)
