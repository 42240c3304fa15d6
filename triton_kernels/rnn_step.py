"""One time step of a recurrent layer in one launch each way: the recurrent GEMM `h_prev @ W_hh.T` with the
gates' nonlinearities and the state update in its epilogue (forward), and the gates' gradients with the
recurrent GEMM's input gradient `d_gates @ W_hh` (backward).

Shapes (rows b of the batch, hidden units j, recurrent inputs k: K is the hidden size, or LSTM's proj_size):
    gx (B, G*H)      the step's input projection x_t @ W_ih.T + biases (computed for all steps at once by the
                     caller; it holds b_ih + b_hh, except GRU's, which holds b_ih only: b_hn sits inside r * (.))
    h (B, K)         the previous hidden state; c (B, H): LSTM's previous cell state
    w_hh (G*H, K)    gate-major rows, PyTorch's order: LSTM i, f, g, o; GRU r, z, n; RNN one gate
    b_hh (G*H,)      GRU only (may be None)
Modes (MODE): 0 RNN tanh, 1 RNN relu, 2 LSTM, 3 GRU.

Forward: h_out (B, H) (LSTM: o * tanh(c_out), before any projection, which the caller applies), c_out (LSTM)
and `saved` (B, G*H) for the backward: LSTM's activated i, f, g, o; GRU's r, z, n and W_hn h + b_hn (4H). A
program owns a BLOCK_B x BLOCK_H tile of the outputs and accumulates the G gate tiles of that column block over
K together, so h is read once per step of K for all gates.

Backward: for dh (B, H) and LSTM's dc (B, H) (zeros where no gradient arrives), the gradients of the gates'
pre-activations: `d_gx` (B, G*H) (the input projection's: the caller turns it into x's, W_ih's and the biases'
gradients with one GEMM each over all steps) and, for GRU, `d_gh` (B, G*H) (the hidden side's, where n's
differs by the factor r); `dh_prev` (B, K) = d_gh @ W_hh (+ dh * z for GRU) and LSTM's dc_prev = dc_total * f.
A program owns a BLOCK_B x BLOCK_K tile of dh_prev and walks the hidden units by BLOCK_H, recomputing the gate
gradients of its rows from the saved values (elementwise work repeated once per K block: cheap beside the
GEMM); the programs of the first K block also store them. W_hh's gradient, d_gh.T @ h_prev, is the caller's
GEMM. No atomics.

Numbers: fp32 accumulators and gate math (fp64 for float64); stores in the buffers' dtype. On a GPU 16-bit
tiles go to tl.dot as they are (fp32 accumulate), fp32 as IEEE unless allow_tf32; under the interpreter every
tile is upcast first (bf16 is raw bits there).
"""
import triton
import triton.language as tl

from .matmul import dot_settings
from .strided import dtype_name_of, interpreting

MODES = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
SAVED_GATES = {"RNN_TANH": 0, "RNN_RELU": 0, "LSTM": 4, "GRU": 4}
_FLOATS = ("float32", "float16", "bfloat16", "float64")

# Tiles. NOT TIMED (no GPU run yet): tiles that compile for sm_80 and sm_90 without spills in every mode and
# dtype, unaligned (tests/triton_kernels/test_rnn_step.py; Triton 3.9's ptxas, registers / spilled bytes). The
# forward keeps G (up to 4) BLOCK_B x BLOCK_H fp32 accumulators live: 32 x 32 x 32 with 4 warps spilled (GRU fp32
# 255 / 40 B on sm_80; LSTM fp32 with one stage 255 / 1684 B on sm_90); with 8 warps at most 182 / 0. The backward
# keeps LSTM's four saved gates, c, dh, dc and four gate gradients per unit tile beside its accumulator: 32 x 32
# units spilled (LSTM 255 / 452 B bf16 on sm_90, 72 B fp32; GRU 24-56 B), 32 x 16 takes at most 247 / 0. fp64
# (FMA dots, both tiles in registers) gets smaller tiles: its backward at 32 x 16 x 32 took 255 registers.
CONFIGS = {
    "forward": dict(BLOCK_B=32, BLOCK_H=32, BLOCK_K=32, num_warps=8, num_stages=2),
    "forward_fp64": dict(BLOCK_B=16, BLOCK_H=32, BLOCK_K=16, num_warps=4, num_stages=2),
    "backward": dict(BLOCK_B=32, BLOCK_H=16, BLOCK_K=32, num_warps=4, num_stages=1),
    "backward_fp64": dict(BLOCK_B=16, BLOCK_H=16, BLOCK_K=16, num_warps=4, num_stages=1),
}


def config_name(direction, dtype_name):
    return direction + ("_fp64" if dtype_name == "float64" else "")


def _next_power_of_2(n):
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def pick_config(direction, dtype_name, batch, hidden, inputs):
    """The launch tile. Under the interpreter, whose cost is per program and per K step, one tile covers as much
    of the step as 64 x 64 x 64 allows (16 at least: tl.dot's minimum)."""
    if interpreting():
        tile = lambda n: max(16, min(64, _next_power_of_2(n)))  # noqa: E731
        return dict(BLOCK_B=tile(batch), BLOCK_H=tile(hidden), BLOCK_K=tile(inputs), num_warps=4, num_stages=1)
    return CONFIGS[config_name(direction, dtype_name)]


# ----------------------------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------------------------
@triton.jit
def _sigmoid(u):
    return 1.0 / (1.0 + tl.exp(-u))


@triton.jit
def _tanh(u):
    # from exp, saturating correctly: exp overflow to inf gives 1, underflow to 0 gives -1
    return 1.0 - 2.0 / (tl.exp(2.0 * u) + 1.0)


@triton.jit
def _gate_dot(a, w_ptrs, k_mask, acc, DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr, ACC: tl.constexpr):
    b = tl.load(w_ptrs, mask=k_mask, other=0.0)
    if DOT_FP32:
        b = b.to(ACC)
    return tl.dot(a, b, acc, input_precision=INPUT_PRECISION, out_dtype=ACC)


@triton.jit
def rnn_step_forward_kernel(
        gx_ptr, h_ptr, c_ptr, w_ptr, bhh_ptr, h_out_ptr, c_out_ptr, saved_ptr,
        B, H, K,
        stride_gxb, stride_gxn, stride_hb, stride_hk, stride_cb, stride_ch, stride_wn, stride_wk,
        stride_hob, stride_hoh, stride_cob, stride_coh, stride_sb, stride_sn,
        MODE: tl.constexpr, HAS_BHH: tl.constexpr, SAVE: tl.constexpr,
        DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr,
        BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr):
    offs_b = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    offs_j = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    offs_k = tl.arange(0, BLOCK_K)
    # ragged edges: rows past B (units past H) wrap onto valid ones for the GEMM's loads; stores are masked
    h_ptrs = h_ptr + (offs_b % B)[:, None] * stride_hb + offs_k[None, :] * stride_hk
    w_ptrs = w_ptr + offs_k[:, None] * stride_wk + (offs_j % H)[None, :] * stride_wn  # gate 0's W.T tile
    gate_step = H * stride_wn

    ACC: tl.constexpr = tl.float64 if h_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc0 = tl.zeros((BLOCK_B, BLOCK_H), dtype=ACC)
    acc1 = tl.zeros((BLOCK_B, BLOCK_H), dtype=ACC)
    acc2 = tl.zeros((BLOCK_B, BLOCK_H), dtype=ACC)
    acc3 = tl.zeros((BLOCK_B, BLOCK_H), dtype=ACC)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K
        a = tl.load(h_ptrs, mask=offs_k[None, :] < k_left, other=0.0)
        if DOT_FP32:
            a = a.to(ACC)
        k_mask = offs_k[:, None] < k_left
        acc0 = _gate_dot(a, w_ptrs, k_mask, acc0, DOT_FP32, INPUT_PRECISION, ACC)
        if MODE >= 2:
            acc1 = _gate_dot(a, w_ptrs + gate_step, k_mask, acc1, DOT_FP32, INPUT_PRECISION, ACC)
            acc2 = _gate_dot(a, w_ptrs + 2 * gate_step, k_mask, acc2, DOT_FP32, INPUT_PRECISION, ACC)
        if MODE == 2:
            acc3 = _gate_dot(a, w_ptrs + 3 * gate_step, k_mask, acc3, DOT_FP32, INPUT_PRECISION, ACC)
        h_ptrs += BLOCK_K * stride_hk
        w_ptrs += BLOCK_K * stride_wk

    # epilogue, in ACC
    mask_j = offs_j < H
    mask = (offs_b < B)[:, None] & mask_j[None, :]
    gx_ptrs = gx_ptr + offs_b[:, None] * stride_gxb + offs_j[None, :] * stride_gxn
    gx_step = H * stride_gxn
    s_ptrs = saved_ptr + offs_b[:, None] * stride_sb + offs_j[None, :] * stride_sn
    s_step = H * stride_sn
    out_ty = h_out_ptr.dtype.element_ty
    if MODE <= 1:
        pre = tl.load(gx_ptrs, mask=mask, other=0.0).to(ACC) + acc0
        if MODE == 0:
            h_new = _tanh(pre)
        else:
            h_new = tl.maximum(pre, 0.0)
    elif MODE == 2:
        i = _sigmoid(tl.load(gx_ptrs, mask=mask, other=0.0).to(ACC) + acc0)
        f = _sigmoid(tl.load(gx_ptrs + gx_step, mask=mask, other=0.0).to(ACC) + acc1)
        g = _tanh(tl.load(gx_ptrs + 2 * gx_step, mask=mask, other=0.0).to(ACC) + acc2)
        o = _sigmoid(tl.load(gx_ptrs + 3 * gx_step, mask=mask, other=0.0).to(ACC) + acc3)
        c_prev = tl.load(c_ptr + offs_b[:, None] * stride_cb + offs_j[None, :] * stride_ch, mask=mask,
                         other=0.0).to(ACC)
        c_new = f * c_prev + i * g
        h_new = o * _tanh(c_new)
        tl.store(c_out_ptr + offs_b[:, None] * stride_cob + offs_j[None, :] * stride_coh, c_new.to(out_ty),
                 mask=mask)
        if SAVE:
            tl.store(s_ptrs, i.to(out_ty), mask=mask)
            tl.store(s_ptrs + s_step, f.to(out_ty), mask=mask)
            tl.store(s_ptrs + 2 * s_step, g.to(out_ty), mask=mask)
            tl.store(s_ptrs + 3 * s_step, o.to(out_ty), mask=mask)
    else:
        if HAS_BHH:
            acc0 += tl.load(bhh_ptr + offs_j, mask=mask_j, other=0.0).to(ACC)[None, :]
            acc1 += tl.load(bhh_ptr + H + offs_j, mask=mask_j, other=0.0).to(ACC)[None, :]
            acc2 += tl.load(bhh_ptr + 2 * H + offs_j, mask=mask_j, other=0.0).to(ACC)[None, :]
        r = _sigmoid(tl.load(gx_ptrs, mask=mask, other=0.0).to(ACC) + acc0)
        z = _sigmoid(tl.load(gx_ptrs + gx_step, mask=mask, other=0.0).to(ACC) + acc1)
        n = _tanh(tl.load(gx_ptrs + 2 * gx_step, mask=mask, other=0.0).to(ACC) + r * acc2)
        h_prev = tl.load(h_ptr + offs_b[:, None] * stride_hb + offs_j[None, :] * stride_hk, mask=mask,
                         other=0.0).to(ACC)
        h_new = n + z * (h_prev - n)
        if SAVE:
            tl.store(s_ptrs, r.to(out_ty), mask=mask)
            tl.store(s_ptrs + s_step, z.to(out_ty), mask=mask)
            tl.store(s_ptrs + 2 * s_step, n.to(out_ty), mask=mask)
            tl.store(s_ptrs + 3 * s_step, acc2.to(out_ty), mask=mask)
    tl.store(h_out_ptr + offs_b[:, None] * stride_hob + offs_j[None, :] * stride_hoh, h_new.to(out_ty), mask=mask)


@triton.jit
def _back_dot(d, w_ptrs, w_mask, acc, DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr, ACC: tl.constexpr):
    """acc += d (BLOCK_B, BLOCK_H, in ACC) @ the W_hh tile (BLOCK_H, BLOCK_K) at w_ptrs."""
    w = tl.load(w_ptrs, mask=w_mask, other=0.0)
    if DOT_FP32:
        w = w.to(ACC)
    else:
        d = d.to(w.dtype)
    return tl.dot(d, w, acc, input_precision=INPUT_PRECISION, out_dtype=ACC)


@triton.jit
def rnn_step_backward_kernel(
        dh_ptr, dc_ptr, saved_ptr, c_prev_ptr, c_new_ptr, h_prev_ptr, h_new_ptr, w_ptr,
        dgx_ptr, dgh_ptr, dh_prev_ptr, dc_prev_ptr,
        B, H, K,
        stride_dhb, stride_dhh, stride_dcb, stride_dch, stride_sb, stride_sn, stride_cpb, stride_cph,
        stride_cnb, stride_cnh, stride_hpb, stride_hpk, stride_hnb, stride_hnh, stride_wn, stride_wk,
        stride_dgxb, stride_dgxn, stride_dghb, stride_dghn, stride_dhpb, stride_dhpk, stride_dcpb, stride_dcph,
        MODE: tl.constexpr, DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr,
        BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_K: tl.constexpr):
    pid_k = tl.program_id(1)
    offs_b = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    offs_k = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    mask_b = offs_b < B
    mask_k = offs_k < K
    ACC: tl.constexpr = tl.float64 if w_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc = tl.zeros((BLOCK_B, BLOCK_K), dtype=ACC)
    for j0 in range(0, H, BLOCK_H):
        offs_j = j0 + tl.arange(0, BLOCK_H)
        mask_j = offs_j < H
        mask = mask_b[:, None] & mask_j[None, :]  # masked loads give 0: every gradient below is 0 there
        w_ptrs = w_ptr + offs_j[:, None] * stride_wn + offs_k[None, :] * stride_wk
        w_mask = mask_j[:, None] & mask_k[None, :]
        w_step = H * stride_wn
        s_ptrs = saved_ptr + offs_b[:, None] * stride_sb + offs_j[None, :] * stride_sn
        s_step = H * stride_sn
        dgx_ptrs = dgx_ptr + offs_b[:, None] * stride_dgxb + offs_j[None, :] * stride_dgxn
        dgx_step = H * stride_dgxn
        dh = tl.load(dh_ptr + offs_b[:, None] * stride_dhb + offs_j[None, :] * stride_dhh, mask=mask,
                     other=0.0).to(ACC)
        if MODE <= 1:
            h_new = tl.load(h_new_ptr + offs_b[:, None] * stride_hnb + offs_j[None, :] * stride_hnh, mask=mask,
                            other=0.0).to(ACC)
            if MODE == 0:
                d0 = dh * (1.0 - h_new * h_new)
            else:
                d0 = tl.where(h_new > 0.0, dh, 0.0)
            if pid_k == 0:
                tl.store(dgx_ptrs, d0.to(dgx_ptr.dtype.element_ty), mask=mask)
            acc = _back_dot(d0, w_ptrs, w_mask, acc, DOT_FP32, INPUT_PRECISION, ACC)
        elif MODE == 2:
            i = tl.load(s_ptrs, mask=mask, other=0.0).to(ACC)
            f = tl.load(s_ptrs + s_step, mask=mask, other=0.0).to(ACC)
            g = tl.load(s_ptrs + 2 * s_step, mask=mask, other=0.0).to(ACC)
            o = tl.load(s_ptrs + 3 * s_step, mask=mask, other=0.0).to(ACC)
            c_new = tl.load(c_new_ptr + offs_b[:, None] * stride_cnb + offs_j[None, :] * stride_cnh, mask=mask,
                            other=0.0).to(ACC)
            dc = tl.load(dc_ptr + offs_b[:, None] * stride_dcb + offs_j[None, :] * stride_dch, mask=mask,
                         other=0.0).to(ACC)
            tanh_c = _tanh(c_new)
            dc = dc + dh * o * (1.0 - tanh_c * tanh_c)
            d_o = dh * tanh_c * o * (1.0 - o)
            d_i = dc * g * i * (1.0 - i)
            d_g = dc * i * (1.0 - g * g)
            c_prev = tl.load(c_prev_ptr + offs_b[:, None] * stride_cpb + offs_j[None, :] * stride_cph, mask=mask,
                             other=0.0).to(ACC)
            d_f = dc * c_prev * f * (1.0 - f)
            if pid_k == 0:
                ty = dgx_ptr.dtype.element_ty
                tl.store(dgx_ptrs, d_i.to(ty), mask=mask)
                tl.store(dgx_ptrs + dgx_step, d_f.to(ty), mask=mask)
                tl.store(dgx_ptrs + 2 * dgx_step, d_g.to(ty), mask=mask)
                tl.store(dgx_ptrs + 3 * dgx_step, d_o.to(ty), mask=mask)
                tl.store(dc_prev_ptr + offs_b[:, None] * stride_dcpb + offs_j[None, :] * stride_dcph,
                         (dc * f).to(dc_prev_ptr.dtype.element_ty), mask=mask)
            acc = _back_dot(d_f, w_ptrs + w_step, w_mask, acc, DOT_FP32, INPUT_PRECISION, ACC)
            acc = _back_dot(d_i, w_ptrs, w_mask, acc, DOT_FP32, INPUT_PRECISION, ACC)
            acc = _back_dot(d_g, w_ptrs + 2 * w_step, w_mask, acc, DOT_FP32, INPUT_PRECISION, ACC)
            acc = _back_dot(d_o, w_ptrs + 3 * w_step, w_mask, acc, DOT_FP32, INPUT_PRECISION, ACC)
        else:
            r = tl.load(s_ptrs, mask=mask, other=0.0).to(ACC)
            z = tl.load(s_ptrs + s_step, mask=mask, other=0.0).to(ACC)
            n = tl.load(s_ptrs + 2 * s_step, mask=mask, other=0.0).to(ACC)
            hn = tl.load(s_ptrs + 3 * s_step, mask=mask, other=0.0).to(ACC)
            h_prev = tl.load(h_prev_ptr + offs_b[:, None] * stride_hpb + offs_j[None, :] * stride_hpk, mask=mask,
                             other=0.0).to(ACC)
            d_n = dh * (1.0 - z) * (1.0 - n * n)
            d_z = dh * (h_prev - n) * z * (1.0 - z)
            d_r = d_n * hn * r * (1.0 - r)
            d_hn = d_n * r
            if pid_k == 0:
                ty = dgx_ptr.dtype.element_ty
                tl.store(dgx_ptrs, d_r.to(ty), mask=mask)
                tl.store(dgx_ptrs + dgx_step, d_z.to(ty), mask=mask)
                tl.store(dgx_ptrs + 2 * dgx_step, d_n.to(ty), mask=mask)
                dgh_ptrs = dgh_ptr + offs_b[:, None] * stride_dghb + offs_j[None, :] * stride_dghn
                dgh_step = H * stride_dghn
                tl.store(dgh_ptrs, d_r.to(ty), mask=mask)
                tl.store(dgh_ptrs + dgh_step, d_z.to(ty), mask=mask)
                tl.store(dgh_ptrs + 2 * dgh_step, d_hn.to(ty), mask=mask)
            acc = _back_dot(d_r, w_ptrs, w_mask, acc, DOT_FP32, INPUT_PRECISION, ACC)
            acc = _back_dot(d_z, w_ptrs + w_step, w_mask, acc, DOT_FP32, INPUT_PRECISION, ACC)
            acc = _back_dot(d_hn, w_ptrs + 2 * w_step, w_mask, acc, DOT_FP32, INPUT_PRECISION, ACC)
    out_mask = mask_b[:, None] & mask_k[None, :]
    if MODE == 3:  # h_new = n + z * (h_prev - n) reads h_prev directly too (K == H)
        dh_k = tl.load(dh_ptr + offs_b[:, None] * stride_dhb + offs_k[None, :] * stride_dhh, mask=out_mask,
                       other=0.0).to(ACC)
        z_k = tl.load(saved_ptr + offs_b[:, None] * stride_sb + (H + offs_k)[None, :] * stride_sn, mask=out_mask,
                      other=0.0).to(ACC)
        acc += dh_k * z_k
    tl.store(dh_prev_ptr + offs_b[:, None] * stride_dhpb + offs_k[None, :] * stride_dhpk,
             acc.to(dh_prev_ptr.dtype.element_ty), mask=out_mask)


# ----------------------------------------------------------------------------------------------------------------
# Launchers
# ----------------------------------------------------------------------------------------------------------------
def _shape_error(what, array, expected):
    return ValueError(f"rnn_step: {what} must have shape {expected}, got {tuple(array.shape)}")


def _check(mode, dtype_name, named, shapes):
    """Every array present has the dtype and its shape in `shapes` (name -> shape)."""
    if mode not in MODES:
        raise ValueError(f"rnn_step: unknown mode {mode!r}; expected one of {sorted(MODES)}")
    if dtype_name not in _FLOATS:
        raise TypeError(f"rnn_step: unsupported dtype {dtype_name}; expected one of {', '.join(_FLOATS)}")
    for what, array in named.items():
        if array is None:
            continue
        if dtype_name_of(array) != dtype_name:
            raise TypeError(f"rnn_step: {what} has dtype {dtype_name_of(array)}, expected {dtype_name} (as h)")
        if tuple(array.shape) != shapes[what]:
            raise _shape_error(what, array, shapes[what])


def _strides(array, ndim=2):
    return tuple(array.stride()) if array is not None else (0,) * ndim


def rnn_step_forward(mode, gx, h, c, w_hh, b_hh, h_out, c_out, saved, allow_tf32=False):
    """One step forward (module docstring): h_out (B, H), c_out (LSTM, else None) and, when given, `saved`
    (B, SAVED_GATES[mode] * H) for the backward. Returns h_out."""
    if len(getattr(h, "shape", ())) != 2 or len(getattr(w_hh, "shape", ())) != 2:
        raise ValueError("rnn_step: h must be (B, K) and w_hh (G*H, K)")
    dtype_name = dtype_name_of(h)
    batch, inputs = h.shape
    if mode not in MODES:
        raise ValueError(f"rnn_step: unknown mode {mode!r}; expected one of {sorted(MODES)}")
    gates = GATES[mode]
    if w_hh.shape[0] % gates or w_hh.shape[1] != inputs:
        raise ValueError(f"rnn_step: w_hh must be ({gates} * hidden, {inputs}) for {mode}, got {tuple(w_hh.shape)}")
    hidden = w_hh.shape[0] // gates
    lstm, gru = mode == "LSTM", mode == "GRU"
    if (c is None or c_out is None) == lstm:
        raise ValueError("rnn_step: c and c_out are LSTM's, and needed there")
    if b_hh is not None and not gru:
        raise ValueError("rnn_step: b_hh is GRU's (the other modes fold it into gx)")
    if gru and inputs != hidden:
        raise ValueError(f"rnn_step: GRU's h must be (B, hidden={hidden}), got {tuple(h.shape)}")
    shapes = {"gx": (batch, gates * hidden), "c": (batch, hidden), "b_hh": (gates * hidden,), "h_out": (batch, hidden),
              "c_out": (batch, hidden), "saved": (batch, SAVED_GATES[mode] * hidden), "w_hh": tuple(w_hh.shape)}
    _check(mode, dtype_name, dict(gx=gx, c=c, w_hh=w_hh, b_hh=b_hh, h_out=h_out, c_out=c_out, saved=saved), shapes)
    if b_hh is not None and hidden > 0 and b_hh.stride()[0] != 1:
        raise ValueError("rnn_step: b_hh must be contiguous")
    if batch == 0 or hidden == 0:
        return h_out
    if inputs == 0:
        raise ValueError("rnn_step: the recurrent input size is 0")
    dot_fp32, precision = dot_settings(dtype_name, allow_tf32)
    config = dict(pick_config("forward", dtype_name, batch, hidden, inputs))
    num_warps, num_stages = config.pop("num_warps"), config.pop("num_stages")
    grid = (triton.cdiv(batch, config["BLOCK_B"]), triton.cdiv(hidden, config["BLOCK_H"]))
    rnn_step_forward_kernel[grid](
        gx, h, c if lstm else h, w_hh, b_hh if b_hh is not None else w_hh, h_out, c_out if lstm else h_out,
        saved if saved is not None else h_out,
        batch, hidden, inputs,
        *gx.stride(), *h.stride(), *_strides(c), *w_hh.stride(), *h_out.stride(), *_strides(c_out),
        *_strides(saved),
        MODE=MODES[mode], HAS_BHH=b_hh is not None, SAVE=saved is not None and SAVED_GATES[mode] > 0,
        DOT_FP32=dot_fp32, INPUT_PRECISION=precision, num_warps=num_warps, num_stages=num_stages, **config)
    return h_out


def rnn_step_backward(mode, dh, dc, saved, c_prev, c_new, h_prev, h_new, w_hh, d_gx, d_gh, dh_prev, dc_prev,
                      allow_tf32=False):
    """One step backward (module docstring) for dh (B, H) and LSTM's dc (B, H): writes d_gx (B, G*H), GRU's d_gh
    (B, G*H), dh_prev (B, K) and LSTM's dc_prev (B, H). What each mode reads: RNN h_new; LSTM saved, c_prev and
    c_new; GRU saved and h_prev. Returns (d_gx, d_gh, dh_prev, dc_prev)."""
    if mode not in MODES:
        raise ValueError(f"rnn_step: unknown mode {mode!r}; expected one of {sorted(MODES)}")
    if len(getattr(w_hh, "shape", ())) != 2 or len(getattr(dh, "shape", ())) != 2:
        raise ValueError("rnn_step: dh must be (B, H) and w_hh (G*H, K)")
    gates = GATES[mode]
    dtype_name = dtype_name_of(w_hh)
    batch, hidden = dh.shape
    inputs = w_hh.shape[1]
    if w_hh.shape[0] != gates * hidden:
        raise ValueError(f"rnn_step: w_hh must be ({gates} * {hidden}, K) for {mode}, got {tuple(w_hh.shape)}")
    lstm, gru = mode == "LSTM", mode == "GRU"
    needed = {"saved": lstm or gru, "c_prev": lstm, "c_new": lstm, "dc": lstm, "dc_prev": lstm, "h_prev": gru,
              "h_new": not (lstm or gru), "d_gh": gru}
    named = dict(dh=dh, dc=dc, saved=saved, c_prev=c_prev, c_new=c_new, h_prev=h_prev, h_new=h_new, w_hh=w_hh,
                 d_gx=d_gx, d_gh=d_gh, dh_prev=dh_prev, dc_prev=dc_prev)
    for what, need in needed.items():
        if need and named[what] is None:
            raise ValueError(f"rnn_step: {mode}'s backward needs {what}")
    state = (batch, hidden)
    shapes = {"dh": state, "dc": state, "saved": (batch, SAVED_GATES[mode] * hidden), "c_prev": state,
              "c_new": state, "h_prev": (batch, inputs), "h_new": state, "w_hh": tuple(w_hh.shape),
              "d_gx": (batch, gates * hidden), "d_gh": (batch, gates * hidden), "dh_prev": (batch, inputs),
              "dc_prev": state}
    _check(mode, dtype_name, named, shapes)
    if d_gx is None or dh_prev is None:
        raise ValueError("rnn_step: the backward writes d_gx and dh_prev: both are needed")
    if batch == 0 or hidden == 0 or inputs == 0:
        return d_gx, d_gh, dh_prev, dc_prev
    dot_fp32, precision = dot_settings(dtype_name, allow_tf32)
    config = dict(pick_config("backward", dtype_name, batch, hidden, inputs))
    num_warps, num_stages = config.pop("num_warps"), config.pop("num_stages")
    grid = (triton.cdiv(batch, config["BLOCK_B"]), triton.cdiv(inputs, config["BLOCK_K"]))
    any_ = dh  # a placeholder for the pointers a mode never reads
    rnn_step_backward_kernel[grid](
        dh, dc if lstm else any_, saved if saved is not None else any_, c_prev if lstm else any_,
        c_new if lstm else any_, h_prev if h_prev is not None else any_, h_new if h_new is not None else any_, w_hh,
        d_gx, d_gh if gru else d_gx, dh_prev, dc_prev if lstm else any_,
        batch, hidden, inputs,
        *dh.stride(), *_strides(dc), *_strides(saved), *_strides(c_prev), *_strides(c_new), *_strides(h_prev),
        *_strides(h_new), *w_hh.stride(), *d_gx.stride(), *_strides(d_gh), *dh_prev.stride(), *_strides(dc_prev),
        MODE=MODES[mode], DOT_FP32=dot_fp32, INPUT_PRECISION=precision, num_warps=num_warps, num_stages=num_stages,
        **config)
    return d_gx, d_gh, dh_prev, dc_prev
