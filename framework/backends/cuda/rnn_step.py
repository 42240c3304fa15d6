"""cuda kernels for rnn_step (framework/ops/rnn_step.py): each direction is one fused Triton launch
(triton_kernels/rnn_step.py). Forward: the recurrent GEMM with the gates and the state update in its epilogue.
Backward: one launch for the gates' gradients and h's (the recurrent GEMM's input gradient), then W_hh's gradient
as one matmul (d_gates_h.T @ h) and GRU's b_hh's as one sum, only where those are asked for."""
from triton_kernels import rnn_step as K

from ...autograd.registry import register
from .common import call, empty, zeros
from .linalg import _allow_tf32


def _forward(ctx, gx, h, c, w_hh, b_hh, mode):
    batch, hidden = gx.shape[0], w_hh.shape[0] // K.GATES[mode]
    lstm = mode == "LSTM"
    h_out = empty((batch, hidden), h.dtype)
    c_out = empty((batch, hidden), h.dtype) if lstm else None
    keep = bool(ctx.needs_input_grad) and K.SAVED_GATES[mode] > 0
    saved = empty((batch, K.SAVED_GATES[mode] * hidden), h.dtype) if keep else None
    K.rnn_step_forward(mode, gx, h, c, w_hh, b_hh, h_out, c_out, saved, allow_tf32=_allow_tf32())
    if ctx.needs_input_grad:
        ctx.mode, ctx.has_bias = mode, b_hh is not None
        ctx.save_for_backward(h, c, w_hh, saved, c_out, None if lstm or mode == "GRU" else h_out)
    return (h_out, c_out) if lstm else h_out


def _backward(ctx, grads):
    h, c, w_hh, saved, c_new, h_new = ctx.saved_tensors
    mode = ctx.mode
    lstm, gru = mode == "LSTM", mode == "GRU"
    g_h, g_c = grads if lstm else (grads, None)
    batch, inputs = h.shape
    hidden = w_hh.shape[0] // K.GATES[mode]
    dh = g_h if g_h is not None else zeros((batch, hidden), h.dtype)
    dc = (g_c if g_c is not None else zeros((batch, hidden), h.dtype)) if lstm else None
    d_gx = empty((batch, K.GATES[mode] * hidden), h.dtype)
    d_gh = empty(d_gx.shape, h.dtype) if gru else None
    dh_prev = empty((batch, inputs), h.dtype)
    dc_prev = empty((batch, hidden), h.dtype) if lstm else None
    K.rnn_step_backward(mode, dh, dc, saved, c if lstm else None, c_new, h if gru else None, h_new, w_hh, d_gx,
                        d_gh, dh_prev, dc_prev, allow_tf32=_allow_tf32())
    d_gh = d_gh if gru else d_gx
    need_gx, need_h, need_c, need_w, need_b = ctx.needs_input_grad
    return (d_gx if need_gx else None, dh_prev if need_h else None, dc_prev if need_c else None,
            call("matmul", d_gh.T, h) if need_w else None,
            call("sum", d_gh, (0,), False) if need_b and ctx.has_bias else None)


register("rnn_step", "cuda", _forward, _backward)
