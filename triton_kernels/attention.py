"""Flash attention (scaled_dot_product_attention) forward and backward: the L_q x L_k score matrix never exists.

Shapes (any strides, 0 included, in elements): q (N, H, L_q, D), k (N, H_kv, L_k, D), v (N, H_kv, L_k, D_v),
an optional additive mask (N, H, L_q, L_k) (broadcast dims have stride 0), out (N, H, L_q, D_v); H_kv divides
H and query head h reads key/value head h // (H / H_kv) (grouped-query attention; H_kv = 1 broadcasts one head).
D and D_v up to MAX_HEAD_DIM (128), any size below it (tiles padded to a power of two, masked).

Forward (one program: BLOCK_M query rows of one (n, h)): loops over BLOCK_N key blocks with the online
(max, sum-exp) recurrence of FlashAttention-2 and writes the rows' log-sum-exp `lse` (fp32, fp64 for fp64):
    s = scale * q k^T + mask (-inf outside the causal band, top-left aligned: key j <= query i);
    out = sum_j softmax(s)_j * keep_j / (1 - p) * v_j.
A row whose every score is -inf (fully masked) gets out = 0 and lse = +inf, so that exp(s - lse) = 0 in the
backward and its gradients are 0: PyTorch's result. Causal programs stop at the diagonal's last key block.

Backward: `delta = rowsum(dO * O)` in a small pre-pass, then one kernel loops over query blocks (and the query
heads of its group) for one key block (dK, dV; and dS into a full buffer when the mask needs a gradient), and
one over key blocks for one query block (dQ). Probabilities are recomputed from q, k and the saved lse:
    P = exp(s - lse),  dV = (P o Z)^T dO,  dP = (dO V^T) o Z,  dS = P o (dP - delta),
    dQ = scale dS K,  dK = scale dS^T Q,  dmask = dS           (Z = keep / (1 - p), the dropout multiplier).

Dropout uses the framework's Philox stream as a bernoulli fill of shape (N, H, L_q, 4 ceil(L_k / 4)) does
(random.py), keeping its first L_k columns: key j of row r = (n H + h) L_q + i keeps iff word j % 4 of counter
offset + r ceil(L_k / 4) + j // 4, as a float32 uniform, is below 1 - p (rows padded to whole counters, so that
a tile draws one counter per four keys). The backward regenerates the same mask from (seed, offset); the caller
advances its generator by `dropout_counters(...)`.

Numbers: fp16/bf16 tiles go to tl.dot in their dtype with an fp32 accumulator, fp32 in IEEE fp32, fp64 in
fp64. Under the interpreter (bf16 is raw bits there) every tile is upcast to the accumulator first.
"""
import triton
import triton.language as tl

from .matmul import dot_settings
from .reduction import cast_for_store
from .strided import dtype_name_of, interpreting

_DTYPES = ("float16", "bfloat16", "float32", "float64")
MAX_HEAD_DIM = 128  # head dims (D and D_v) the kernels take; larger ones spilled registers in every tile
_INT32_MAX = 2**31 - 1


@triton.jit
def _dropout_keep(seed, offset, row_start, rows, start_n, len_k, keep_prob, BLOCK_M: tl.constexpr,
                  BLOCK_N: tl.constexpr):
    # Whether each element of rows x [start_n, start_n + BLOCK_N) survives dropout. Row r's key j takes word j % 4
    # of Philox counter offset + r * ceil(L_k / 4) + j // 4: one counter gives four neighbours (start_n is a
    # multiple of 4), so a tile computes BLOCK_N / 4 counters a row, not one a key.
    quads = start_n // 4 + tl.arange(0, BLOCK_N // 4)
    counters = (tl.cast(offset, tl.int64) + (row_start + rows[:, None]).to(tl.int64) * ((len_k + 3) // 4)
                + quads[None, :])
    r0, r1, r2, r3 = tl.randint4x(seed, counters)
    words = tl.reshape(tl.join(tl.join(r0, r2), tl.join(r1, r3)), (BLOCK_M, BLOCK_N))  # [r0, r1, r2, r3] per quad
    return tl.random.uint_to_uniform_float(words) < keep_prob


@triton.jit
def _scores(q, kt, mask_ptrs, rows, cols, row_ok, col_ok, scale,
            HAS_MASK: tl.constexpr, CAUSAL: tl.constexpr, INPUT_PRECISION: tl.constexpr, ACC: tl.constexpr):
    # s = scale * q k^T (+ mask) for one (BLOCK_M, BLOCK_N) tile, -inf outside the keys (and the causal band).
    s = tl.dot(q, kt, input_precision=INPUT_PRECISION, out_dtype=ACC) * scale
    if HAS_MASK:
        s += tl.load(mask_ptrs, mask=row_ok[:, None] & col_ok[None, :], other=0.0).to(ACC)
    valid = col_ok[None, :]
    if CAUSAL:
        valid = valid & (cols[None, :] <= rows[:, None])
    return tl.where(valid, s, -float("inf"))


@triton.jit(do_not_specialize=["seed", "offset"])
def _attention_forward_kernel(
    # pointers
    q_ptr, k_ptr, v_ptr, mask_ptr, out_ptr, lse_ptr,
    # sizes
    n_heads, kv_group, len_q, len_k, head_dim, value_dim,
    # strides
    stride_qn, stride_qh, stride_qm, stride_qd, stride_kn, stride_kh, stride_km, stride_kd,
    stride_vn, stride_vh, stride_vm, stride_vd, stride_mn, stride_mh, stride_mm, stride_mk,
    stride_on, stride_oh, stride_om, stride_od,
    # scalars
    scale, keep_prob, seed, offset,
    # meta-parameters
    HAS_MASK: tl.constexpr, CAUSAL: tl.constexpr, DROPOUT: tl.constexpr, DOT_FP32: tl.constexpr,
    INPUT_PRECISION: tl.constexpr, ACC: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
):
    # One program: out and lse of BLOCK_M query rows of one (batch, head), over every key block it may see.
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    n = pid_bh // n_heads
    h = pid_bh % n_heads
    hk = h // kv_group
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < len_q
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    d_ok = offs_d < head_dim
    dv_ok = offs_dv < value_dim
    q_base = q_ptr + n.to(tl.int64) * stride_qn + h.to(tl.int64) * stride_qh
    k_base = k_ptr + n.to(tl.int64) * stride_kn + hk.to(tl.int64) * stride_kh
    v_base = v_ptr + n.to(tl.int64) * stride_vn + hk.to(tl.int64) * stride_vh
    m_base = mask_ptr + n.to(tl.int64) * stride_mn + h.to(tl.int64) * stride_mh
    q = tl.load(q_base + rows[:, None].to(tl.int64) * stride_qm + offs_d[None, :] * stride_qd,
                mask=row_ok[:, None] & d_ok[None, :], other=0.0)
    if DOT_FP32:
        q = q.to(ACC)
    m_i = tl.full((BLOCK_M,), -float("inf"), ACC)
    l_i = tl.zeros((BLOCK_M,), ACC)
    acc = tl.zeros((BLOCK_M, BLOCK_DV), ACC)
    hi = len_k
    if CAUSAL:
        hi = tl.minimum(len_k, (pid_m + 1) * BLOCK_M)  # later key blocks lie wholly above the diagonal
    row_start = pid_bh.to(tl.int64) * len_q
    for start_n in range(0, hi, BLOCK_N):
        cols = start_n + tl.arange(0, BLOCK_N)
        col_ok = cols < len_k
        kt = tl.load(k_base + cols[None, :].to(tl.int64) * stride_km + offs_d[:, None] * stride_kd,
                     mask=d_ok[:, None] & col_ok[None, :], other=0.0)
        if DOT_FP32:
            kt = kt.to(ACC)
        mask_ptrs = m_base + rows[:, None].to(tl.int64) * stride_mm + cols[None, :].to(tl.int64) * stride_mk
        s = _scores(q, kt, mask_ptrs, rows, cols, row_ok, col_ok, scale, HAS_MASK, CAUSAL, INPUT_PRECISION, ACC)
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == -float("inf"), 0.0, m_new)  # a row masked so far: exp(-inf - 0) = 0
        p = tl.exp(s - m_safe[:, None])
        alpha = tl.exp(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        if DROPOUT:  # the normaliser sums every probability; only the kept ones reach the output
            keep = _dropout_keep(seed, offset, row_start, rows, start_n, len_k, keep_prob, BLOCK_M, BLOCK_N)
            p = tl.where(keep, p / keep_prob, 0.0)
        v = tl.load(v_base + cols[:, None].to(tl.int64) * stride_vm + offs_dv[None, :] * stride_vd,
                    mask=col_ok[:, None] & dv_ok[None, :], other=0.0)
        if DOT_FP32:
            v = v.to(ACC)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=INPUT_PRECISION, out_dtype=ACC)
        m_i = m_new
    empty_row = l_i == 0.0
    out = acc / tl.where(empty_row, 1.0, l_i)[:, None]
    lse = tl.where(empty_row, float("inf"), m_i + tl.log(l_i))
    o_ptrs = (out_ptr + n.to(tl.int64) * stride_on + h.to(tl.int64) * stride_oh
              + rows[:, None].to(tl.int64) * stride_om + offs_dv[None, :] * stride_od)
    tl.store(o_ptrs, cast_for_store(out, out_ptr), mask=row_ok[:, None] & dv_ok[None, :])
    tl.store(lse_ptr + row_start + rows, lse, mask=row_ok)


@triton.jit
def _attention_delta_kernel(
    # pointers
    out_ptr, dout_ptr, delta_ptr,
    # sizes
    n_heads, len_q, value_dim,
    # strides
    stride_on, stride_oh, stride_om, stride_od, stride_gn, stride_gh, stride_gm, stride_gd,
    # meta-parameters
    ACC: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_DV: tl.constexpr,
):
    # One program: delta = rowsum(dO * O) of BLOCK_M query rows of one (batch, head).
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    n = pid_bh // n_heads
    h = pid_bh % n_heads
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_dv = tl.arange(0, BLOCK_DV)
    mask = (rows[:, None] < len_q) & (offs_dv[None, :] < value_dim)
    o = tl.load(out_ptr + n.to(tl.int64) * stride_on + h.to(tl.int64) * stride_oh
                + rows[:, None].to(tl.int64) * stride_om + offs_dv[None, :] * stride_od, mask=mask, other=0.0)
    g = tl.load(dout_ptr + n.to(tl.int64) * stride_gn + h.to(tl.int64) * stride_gh
                + rows[:, None].to(tl.int64) * stride_gm + offs_dv[None, :] * stride_gd, mask=mask, other=0.0)
    delta = tl.sum(o.to(ACC) * g.to(ACC), axis=1)
    tl.store(delta_ptr + pid_bh.to(tl.int64) * len_q + rows, delta, mask=rows < len_q)


@triton.jit
def _tile_grads(q, kt, vt, do, lse, delta, mask_ptrs, rows, cols, row_ok, col_ok, scale, keep_prob, seed, offset,
                row_start, start_n, len_k, HAS_MASK: tl.constexpr, CAUSAL: tl.constexpr, DROPOUT: tl.constexpr,
                INPUT_PRECISION: tl.constexpr, ACC: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # (P o Z, dS) of one (BLOCK_M, BLOCK_N) tile, P recomputed from the saved log-sum-exp.
    s = _scores(q, kt, mask_ptrs, rows, cols, row_ok, col_ok, scale, HAS_MASK, CAUSAL, INPUT_PRECISION, ACC)
    p = tl.exp(s - lse[:, None])  # 0 off the band, and in fully masked rows (lse = +inf)
    dp = tl.dot(do, vt, input_precision=INPUT_PRECISION, out_dtype=ACC)
    if DROPOUT:
        keep = _dropout_keep(seed, offset, row_start, rows, start_n, len_k, keep_prob, BLOCK_M, BLOCK_N)
        pd = tl.where(keep, p / keep_prob, 0.0)
        dp = tl.where(keep, dp / keep_prob, 0.0)
    else:
        pd = p
    return pd, p * (dp - delta[:, None])


@triton.jit(do_not_specialize=["seed", "offset"])
def _attention_backward_kv_kernel(
    # pointers
    q_ptr, k_ptr, v_ptr, mask_ptr, dout_ptr, lse_ptr, delta_ptr, dk_ptr, dv_ptr, dmask_ptr,
    # sizes
    n_heads, kv_group, len_q, len_k, head_dim, value_dim,
    # strides (dmask is contiguous (N, H, L_q, L_k))
    stride_qn, stride_qh, stride_qm, stride_qd, stride_kn, stride_kh, stride_km, stride_kd,
    stride_vn, stride_vh, stride_vm, stride_vd, stride_mn, stride_mh, stride_mm, stride_mk,
    stride_gn, stride_gh, stride_gm, stride_gd, stride_dkn, stride_dkh, stride_dkm, stride_dkd,
    stride_dvn, stride_dvh, stride_dvm, stride_dvd,
    # scalars
    scale, keep_prob, seed, offset,
    # meta-parameters
    HAS_MASK: tl.constexpr, NEED_DMASK: tl.constexpr, CAUSAL: tl.constexpr, DROPOUT: tl.constexpr,
    DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr, ACC: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
):
    # One program: dK and dV of BLOCK_N keys of one (batch, key/value head), summed over the query heads of its
    # group and every query block that sees them (and dS of each of those tiles, when NEED_DMASK).
    pid_n = tl.program_id(0)
    pid_bkv = tl.program_id(1)
    n_kv_heads = n_heads // kv_group
    n = pid_bkv // n_kv_heads
    hk = pid_bkv % n_kv_heads
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < len_k
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    d_ok = offs_d < head_dim
    dv_ok = offs_dv < value_dim
    kt = tl.load(k_ptr + n.to(tl.int64) * stride_kn + hk.to(tl.int64) * stride_kh
                 + cols[None, :].to(tl.int64) * stride_km + offs_d[:, None] * stride_kd,
                 mask=d_ok[:, None] & col_ok[None, :], other=0.0)
    vt = tl.load(v_ptr + n.to(tl.int64) * stride_vn + hk.to(tl.int64) * stride_vh
                 + cols[None, :].to(tl.int64) * stride_vm + offs_dv[:, None] * stride_vd,
                 mask=dv_ok[:, None] & col_ok[None, :], other=0.0)
    if DOT_FP32:
        kt = kt.to(ACC)
        vt = vt.to(ACC)
    dk = tl.zeros((BLOCK_N, BLOCK_D), ACC)
    dv = tl.zeros((BLOCK_N, BLOCK_DV), ACC)
    lo = 0
    if CAUSAL:
        lo = (pid_n * BLOCK_N // BLOCK_M) * BLOCK_M  # earlier query blocks lie wholly above the diagonal
    for g in range(0, kv_group):
        h = hk * kv_group + g
        bh = n.to(tl.int64) * n_heads + h
        row_start = bh * len_q
        q_base = q_ptr + n.to(tl.int64) * stride_qn + h.to(tl.int64) * stride_qh
        g_base = dout_ptr + n.to(tl.int64) * stride_gn + h.to(tl.int64) * stride_gh
        m_base = mask_ptr + n.to(tl.int64) * stride_mn + h.to(tl.int64) * stride_mh
        for start_m in range(lo, len_q, BLOCK_M):
            rows = start_m + tl.arange(0, BLOCK_M)
            row_ok = rows < len_q
            q = tl.load(q_base + rows[:, None].to(tl.int64) * stride_qm + offs_d[None, :] * stride_qd,
                        mask=row_ok[:, None] & d_ok[None, :], other=0.0)
            do = tl.load(g_base + rows[:, None].to(tl.int64) * stride_gm + offs_dv[None, :] * stride_gd,
                         mask=row_ok[:, None] & dv_ok[None, :], other=0.0)
            if DOT_FP32:
                q = q.to(ACC)
                do = do.to(ACC)
            lse = tl.load(lse_ptr + row_start + rows, mask=row_ok, other=float("inf"))
            delta = tl.load(delta_ptr + row_start + rows, mask=row_ok, other=0.0)
            mask_ptrs = m_base + rows[:, None].to(tl.int64) * stride_mm + cols[None, :].to(tl.int64) * stride_mk
            pd, ds = _tile_grads(q, kt, vt, do, lse, delta, mask_ptrs, rows, cols, row_ok, col_ok, scale, keep_prob,
                                 seed, offset, row_start, pid_n * BLOCK_N, len_k, HAS_MASK, CAUSAL, DROPOUT,
                                 INPUT_PRECISION, ACC, BLOCK_M, BLOCK_N)
            dv += tl.dot(tl.trans(pd).to(do.dtype), do, input_precision=INPUT_PRECISION, out_dtype=ACC)
            dk += tl.dot(tl.trans(ds).to(q.dtype), q, input_precision=INPUT_PRECISION, out_dtype=ACC)
            if NEED_DMASK:
                tl.store(dmask_ptr + (row_start + rows[:, None]) * len_k + cols[None, :], ds,
                         mask=row_ok[:, None] & col_ok[None, :])
    dk = dk * scale
    tl.store(dk_ptr + n.to(tl.int64) * stride_dkn + hk.to(tl.int64) * stride_dkh
             + cols[:, None].to(tl.int64) * stride_dkm + offs_d[None, :] * stride_dkd,
             cast_for_store(dk, dk_ptr), mask=col_ok[:, None] & d_ok[None, :])
    tl.store(dv_ptr + n.to(tl.int64) * stride_dvn + hk.to(tl.int64) * stride_dvh
             + cols[:, None].to(tl.int64) * stride_dvm + offs_dv[None, :] * stride_dvd,
             cast_for_store(dv, dv_ptr), mask=col_ok[:, None] & dv_ok[None, :])


@triton.jit(do_not_specialize=["seed", "offset"])
def _attention_backward_q_kernel(
    # pointers
    q_ptr, k_ptr, v_ptr, mask_ptr, dout_ptr, lse_ptr, delta_ptr, dq_ptr,
    # sizes
    n_heads, kv_group, len_q, len_k, head_dim, value_dim,
    # strides
    stride_qn, stride_qh, stride_qm, stride_qd, stride_kn, stride_kh, stride_km, stride_kd,
    stride_vn, stride_vh, stride_vm, stride_vd, stride_mn, stride_mh, stride_mm, stride_mk,
    stride_gn, stride_gh, stride_gm, stride_gd, stride_dqn, stride_dqh, stride_dqm, stride_dqd,
    # scalars
    scale, keep_prob, seed, offset,
    # meta-parameters
    HAS_MASK: tl.constexpr, CAUSAL: tl.constexpr, DROPOUT: tl.constexpr, DOT_FP32: tl.constexpr,
    INPUT_PRECISION: tl.constexpr, ACC: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
):
    # One program: dQ of BLOCK_M query rows of one (batch, head), over every key block they see.
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    n = pid_bh // n_heads
    h = pid_bh % n_heads
    hk = h // kv_group
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < len_q
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    d_ok = offs_d < head_dim
    dv_ok = offs_dv < value_dim
    row_start = pid_bh.to(tl.int64) * len_q
    q = tl.load(q_ptr + n.to(tl.int64) * stride_qn + h.to(tl.int64) * stride_qh
                + rows[:, None].to(tl.int64) * stride_qm + offs_d[None, :] * stride_qd,
                mask=row_ok[:, None] & d_ok[None, :], other=0.0)
    do = tl.load(dout_ptr + n.to(tl.int64) * stride_gn + h.to(tl.int64) * stride_gh
                 + rows[:, None].to(tl.int64) * stride_gm + offs_dv[None, :] * stride_gd,
                 mask=row_ok[:, None] & dv_ok[None, :], other=0.0)
    if DOT_FP32:
        q = q.to(ACC)
        do = do.to(ACC)
    lse = tl.load(lse_ptr + row_start + rows, mask=row_ok, other=float("inf"))
    delta = tl.load(delta_ptr + row_start + rows, mask=row_ok, other=0.0)
    k_base = k_ptr + n.to(tl.int64) * stride_kn + hk.to(tl.int64) * stride_kh
    v_base = v_ptr + n.to(tl.int64) * stride_vn + hk.to(tl.int64) * stride_vh
    m_base = mask_ptr + n.to(tl.int64) * stride_mn + h.to(tl.int64) * stride_mh
    dq = tl.zeros((BLOCK_M, BLOCK_D), ACC)
    hi = len_k
    if CAUSAL:
        hi = tl.minimum(len_k, (pid_m + 1) * BLOCK_M)
    for start_n in range(0, hi, BLOCK_N):
        cols = start_n + tl.arange(0, BLOCK_N)
        col_ok = cols < len_k
        k = tl.load(k_base + cols[:, None].to(tl.int64) * stride_km + offs_d[None, :] * stride_kd,
                    mask=col_ok[:, None] & d_ok[None, :], other=0.0)
        vt = tl.load(v_base + cols[None, :].to(tl.int64) * stride_vm + offs_dv[:, None] * stride_vd,
                     mask=dv_ok[:, None] & col_ok[None, :], other=0.0)
        if DOT_FP32:
            k = k.to(ACC)
            vt = vt.to(ACC)
        mask_ptrs = m_base + rows[:, None].to(tl.int64) * stride_mm + cols[None, :].to(tl.int64) * stride_mk
        pd, ds = _tile_grads(q, tl.trans(k), vt, do, lse, delta, mask_ptrs, rows, cols, row_ok, col_ok, scale,
                             keep_prob, seed, offset, row_start, start_n, len_k, HAS_MASK, CAUSAL, DROPOUT,
                             INPUT_PRECISION, ACC, BLOCK_M, BLOCK_N)
        dq += tl.dot(ds.to(k.dtype), k, input_precision=INPUT_PRECISION, out_dtype=ACC)
    dq = dq * scale
    tl.store(dq_ptr + n.to(tl.int64) * stride_dqn + h.to(tl.int64) * stride_dqh
             + rows[:, None].to(tl.int64) * stride_dqm + offs_d[None, :] * stride_dqd,
             cast_for_store(dq, dq_ptr), mask=row_ok[:, None] & d_ok[None, :])


# ---- host launchers -------------------------------------------------------------------------------------------
# Tiles per kernel ("forward", "kv": dK/dV, "q": dQ) and dtype class, by the padded head dim (the larger of D and
# D_v, 64 or 128): (BLOCK_M, BLOCK_N, num_warps, num_stages). The Triton tutorial's 128 x 64 forward tiles spill
# here: the additive mask's 64-bit pointer tile and dropout's Philox words take registers the tutorial's kernel
# does not have. These are the largest tiles (of an AOT sweep, every flag on, unaligned) that ptxas compiled
# without a spill for sm_80 and sm_90 under Triton 3.6 and 3.9; tests/triton_kernels/test_attention.py compiles
# every entry. UNMEASURED on a GPU: flag-specific tiles (no mask, no dropout) are the first thing to sweep there.
_CONFIGS = {
    ("forward", "16bit"): {64: (64, 32, 4, 2), 128: (32, 32, 4, 2)},
    ("kv", "16bit"): {64: (32, 32, 8, 2), 128: (16, 32, 8, 1)},
    ("q", "16bit"): {64: (32, 32, 4, 2), 128: (32, 32, 8, 1)},
    ("forward", "float32"): {64: (32, 32, 4, 1), 128: (32, 32, 8, 1)},
    ("kv", "float32"): {64: (16, 16, 8, 1), 128: (16, 16, 4, 1)},
    ("q", "float32"): {64: (32, 32, 4, 1), 128: (16, 32, 4, 1)},
    ("forward", "float64"): {64: (16, 16, 4, 1), 128: (16, 16, 8, 1)},
    ("kv", "float64"): {64: (16, 16, 4, 1), 128: (16, 16, 8, 1)},
    ("q", "float64"): {64: (16, 16, 4, 1), 128: (16, 16, 8, 1)},
}
_INTERPRETER_BLOCK = 64  # the interpreter pays per program instance: few, large tiles
_DELTA_BLOCK_M = 32  # delta's rows a program: 32 x 128 pairs stay in 4 warps' registers


def _dim_block(size):
    return max(16, triton.next_power_of_2(size))


def config(kind, dtype_name, head_dim, value_dim, len_q, len_k):
    """(BLOCK_M, BLOCK_N, BLOCK_D, BLOCK_DV, num_warps, num_stages) of `kind`'s launch."""
    block_d, block_dv = _dim_block(head_dim), _dim_block(value_dim)
    if interpreting():
        return (min(_INTERPRETER_BLOCK, _dim_block(len_q)), min(_INTERPRETER_BLOCK, _dim_block(len_k)),
                block_d, block_dv, 1, 1)
    family = "16bit" if dtype_name in ("float16", "bfloat16") else dtype_name
    widest = max(64, block_d, block_dv)
    block_m, block_n, warps, stages = _CONFIGS[(kind, family)][widest]
    return block_m, block_n, block_d, block_dv, warps, stages


def compute_dtype(q):
    """The dtype of lse, delta and dmask (the accumulator's): float64 for float64 inputs, else float32."""
    return "float64" if dtype_name_of(q) == "float64" else "float32"


def dropout_counters(n, heads, len_q, len_k):
    """How many Philox counters a launch with dropout reads (the generator advances its offset by this)."""
    return n * heads * len_q * -(-len_k // 4)


def _check_array(name, array, shape, dtype):
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"attention: {name} must have shape {tuple(shape)}, got {tuple(array.shape)}")
    if dtype_name_of(array) != dtype:
        raise TypeError(f"attention: {name} must be {dtype}, got {dtype_name_of(array)}")


def _check_flat(name, array, size, dtype):
    _check_array(name, array, (size,), dtype)
    if size > 1 and array.stride()[0] != 1:
        raise ValueError(f"attention: {name} must be contiguous")


def _check(q, k, v, mask, out, dropout_p, seed, offset):
    """The sizes (n, heads, kv_group, len_q, len_k, head_dim, value_dim) of valid arguments; else a clear error."""
    for name, array in (("query", q), ("key", k), ("value", v)):
        if len(array.shape) != 4:
            raise ValueError(f"attention: {name} must be 4-d (N, heads, length, head dim), got shape "
                             f"{tuple(array.shape)}")
    dtype = dtype_name_of(q)
    if dtype not in _DTYPES:
        raise TypeError(f"attention: unsupported dtype {dtype}; expected one of {', '.join(_DTYPES)}")
    if dtype_name_of(k) != dtype or dtype_name_of(v) != dtype:
        raise TypeError(f"attention: query, key and value must share a dtype, got {dtype}, {dtype_name_of(k)} and "
                        f"{dtype_name_of(v)}")
    n, heads, len_q, head_dim = q.shape
    kv_heads, len_k, value_dim = k.shape[1], k.shape[2], v.shape[3]
    if k.shape[0] != n or k.shape[3] != head_dim or tuple(v.shape[:3]) != tuple(k.shape[:3]):
        raise ValueError(f"attention: shapes do not match: query {tuple(q.shape)}, key {tuple(k.shape)}, value "
                         f"{tuple(v.shape)} (key must be (N, H_kv, L_k, D) and value (N, H_kv, L_k, D_v))")
    if kv_heads == 0 or heads % kv_heads:
        raise ValueError(f"attention: the {kv_heads} key/value heads must divide the {heads} query heads")
    if max(head_dim, value_dim) > MAX_HEAD_DIM:
        raise ValueError(f"attention: head dims up to {MAX_HEAD_DIM} are supported, got {head_dim} and {value_dim}")
    if mask is not None:
        if dtype_name_of(mask) not in _DTYPES:
            raise TypeError(f"attention: the mask must be a float array (additive), got {dtype_name_of(mask)}")
        if tuple(mask.shape) != (n, heads, len_q, len_k):
            raise ValueError(f"attention: the mask must have shape {(n, heads, len_q, len_k)} (broadcast it: stride "
                             f"0), got {tuple(mask.shape)}")
    _check_array("out", out, (n, heads, len_q, value_dim), dtype)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"attention: dropout_p must be in [0, 1), got {dropout_p}")
    if not (0 <= int(seed) < 2**64 and 0 <= int(offset) < 2**63):
        raise ValueError(f"attention: seed must be in [0, 2**64) and offset in [0, 2**63), got {seed}, {offset}")
    return n, heads, heads // kv_heads, len_q, len_k, head_dim, value_dim


def _strides(array):
    return tuple(array.stride()) if array is not None else (0, 0, 0, 0)


def _flags(q, mask, causal, dropout_p):
    dot_fp32, precision = dot_settings(dtype_name_of(q), False)
    acc = tl.float64 if dtype_name_of(q) == "float64" else tl.float32
    return dict(HAS_MASK=mask is not None, CAUSAL=bool(causal), DROPOUT=dropout_p > 0, DOT_FP32=dot_fp32,
                INPUT_PRECISION=precision, ACC=acc)


def forward(q, k, v, mask, out, lse, scale, causal=False, dropout_p=0.0, seed=0, offset=0):
    """out = softmax(scale q k^T + mask) v (causal, dropout) into `out`; each row's log-sum-exp into `lse`
    (n * heads * len_q elements, compute_dtype(q)). Returns `out`."""
    n, heads, group, len_q, len_k, head_dim, value_dim = _check(q, k, v, mask, out, dropout_p, seed, offset)
    _check_flat("lse", lse, n * heads * len_q, compute_dtype(q))
    if n * heads * len_q == 0:
        return out
    block_m, block_n, block_d, block_dv, warps, stages = config("forward", dtype_name_of(q), head_dim, value_dim,
                                                                len_q, len_k)
    _attention_forward_kernel[(triton.cdiv(len_q, block_m), n * heads)](
        q, k, v, q if mask is None else mask, out, lse,
        heads, group, len_q, len_k, head_dim, value_dim,
        *_strides(q), *_strides(k), *_strides(v), *_strides(mask), *_strides(out),
        float(scale), 1.0 - float(dropout_p), int(seed), int(offset),
        **_flags(q, mask, causal, dropout_p), BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d, BLOCK_DV=block_dv,
        num_warps=warps, num_stages=stages)
    return out


def backward(q, k, v, mask, out, dout, lse, delta, dq, dk, dv, scale, causal=False, dropout_p=0.0, seed=0,
             offset=0, dmask=None):
    """dq, dk, dv (shaped and typed as q, k, v) of the forward that wrote `out` and `lse`, for the output
    gradient `dout`; `delta` is scratch (like lse). With `dmask` (contiguous (N, H, L_q, L_k), compute_dtype(q),
    zero-filled by the caller: causal launches skip the tiles above the diagonal) also dS, the mask's gradient."""
    n, heads, group, len_q, len_k, head_dim, value_dim = _check(q, k, v, mask, out, dropout_p, seed, offset)
    acc_name = compute_dtype(q)
    _check_flat("lse", lse, n * heads * len_q, acc_name)
    _check_flat("delta", delta, n * heads * len_q, acc_name)
    _check_array("dout", dout, out.shape, dtype_name_of(q))
    for name, grad, like in (("dq", dq, q), ("dk", dk, k), ("dv", dv, v)):
        _check_array(name, grad, like.shape, dtype_name_of(q))
    if dmask is not None:
        _check_array("dmask", dmask, (n, heads, len_q, len_k), acc_name)
        if dmask.size and tuple(dmask.stride()) != (heads * len_q * len_k, len_q * len_k, len_k, 1):
            raise ValueError("attention: dmask must be contiguous")
        if mask is None:
            raise ValueError("attention: dmask needs the mask it is the gradient of")
    dtype = dtype_name_of(q)
    flags = _flags(q, mask, causal, dropout_p)
    scalars = (float(scale), 1.0 - float(dropout_p), int(seed), int(offset))
    sizes = (heads, group, len_q, len_k, head_dim, value_dim)
    inputs = (*_strides(q), *_strides(k), *_strides(v), *_strides(mask), *_strides(dout))
    the_mask = q if mask is None else mask
    if n * heads * len_q:
        block_m = _INTERPRETER_BLOCK if interpreting() else _DELTA_BLOCK_M
        _attention_delta_kernel[(triton.cdiv(len_q, block_m), n * heads)](
            out, dout, delta, heads, len_q, value_dim, *_strides(out), *_strides(dout), ACC=flags["ACC"],
            BLOCK_M=block_m, BLOCK_DV=_dim_block(value_dim))
        block_m, block_n, block_d, block_dv, warps, stages = config("q", dtype, head_dim, value_dim, len_q, len_k)
        _attention_backward_q_kernel[(triton.cdiv(len_q, block_m), n * heads)](
            q, k, v, the_mask, dout, lse, delta, dq, *sizes, *inputs, *_strides(dq), *scalars, **flags,
            BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d, BLOCK_DV=block_dv, num_warps=warps,
            num_stages=stages)
    if n * k.shape[1] * len_k:
        block_m, block_n, block_d, block_dv, warps, stages = config("kv", dtype, head_dim, value_dim, len_q, len_k)
        _attention_backward_kv_kernel[(triton.cdiv(len_k, block_n), n * k.shape[1])](
            q, k, v, the_mask, dout, lse, delta, dk, dv, q if dmask is None else dmask, *sizes, *inputs,
            *_strides(dk), *_strides(dv), *scalars, NEED_DMASK=dmask is not None, **flags,
            BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d, BLOCK_DV=block_dv, num_warps=warps,
            num_stages=stages)
    return dq, dk, dv
