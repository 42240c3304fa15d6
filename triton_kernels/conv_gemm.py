"""The three implicit-GEMM kernels of 2-d convolution (launched by triton_kernels/conv.py, which documents them).

Each reduces over (channel, kernel tap) pairs. The usual loop ("tap-outer") walks the kernel taps, and within a tap
a block of BLOCK_K channels: the tap's input rows are one vector of BLOCK_M addresses and validity flags
(padding, image edges), shared by the tile's BLOCK_K channels, so a step costs a few vector operations besides
its loads. With fewer than 16 channels per group (an RGB input layer, a depthwise convolution) a tap's channels
would fill a fraction of tl.dot's K; FLAT_K then walks (channel, tap) pairs as one flat index, BLOCK_K of them
per step, at the price of per-element index arithmetic.

Every address computed for a masked-out element is never dereferenced: loads are masked by the validity flags,
so no read leaves its buffer.
"""
import triton
import triton.language as tl

from .linear import _apply_activation
from .matmul import grouped_tile


@triton.jit
def _dot(a, b, acc, DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr):
    """acc + a @ b; under the interpreter (DOT_FP32) on tiles upcast to the accumulator's dtype. out_dtype is
    given: Triton 3.6 asserts that an fp64 accumulator matches the default fp32 out_dtype."""
    if DOT_FP32:
        return tl.dot(a.to(acc.dtype), b.to(acc.dtype), acc, input_precision=INPUT_PRECISION, out_dtype=acc.dtype)
    return tl.dot(a, b, acc, input_precision=INPUT_PRECISION, out_dtype=acc.dtype)


@triton.jit
def conv_forward_kernel(
        # Pointers
        x_ptr, w_ptr, b_ptr, y_ptr, pre_ptr,
        # Sizes
        N, H, W, H_OUT, W_OUT, KH, KW, CG, OG, STRIDE_H, STRIDE_W, PAD_H, PAD_W, DIL_H, DIL_W,
        # Strides
        stride_xn, stride_xc, stride_xh, stride_xw, stride_wo, stride_wc, stride_wh, stride_ww,
        stride_yn, stride_yc, stride_yh, stride_yw,
        # Meta-parameters
        HAS_BIAS: tl.constexpr, ACTIVATION: tl.constexpr, SAVE_PRE: tl.constexpr, FLAT_K: tl.constexpr,
        DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
        BLOCK_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr):
    # One program computes BLOCK_M output pixels (n, oh, ow) x BLOCK_N output channels of group program_id(1):
    # act(X (*) W + b), reducing over the CG input channels and KH * KW taps.
    group = tl.program_id(1)
    M = N * H_OUT * W_OUT
    pid_m, pid_n = grouped_tile(tl.program_id(0), M, OG, BLOCK_M, BLOCK_N, GROUP_SIZE_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    mask_m = offs_m < M
    mask_n = offs_n < OG
    ow = offs_m % W_OUT
    oh = (offs_m // W_OUT) % H_OUT
    n = offs_m // (W_OUT * H_OUT)
    ih0 = oh * STRIDE_H - PAD_H
    iw0 = ow * STRIDE_W - PAD_W
    # int32 offsets from the buffers' (group's) first element: a 64-bit address exists only at each load
    x_group = x_ptr + (group * CG) * stride_xc
    w_group = w_ptr + (group * OG) * stride_wo
    x_rows = n * stride_xn + ih0 * stride_xh + iw0 * stride_xw
    w_cols = offs_n * stride_wo
    taps = KH * KW

    ACC: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    if FLAT_K:
        for k0 in range(0, CG * taps, BLOCK_K):
            k = k0 + offs_k
            mask_k = k < CG * taps
            c = k // taps
            kh = (k % taps) // KW
            kw = k % KW
            ih = ih0[:, None] + (kh * DIL_H)[None, :]
            iw = iw0[:, None] + (kw * DIL_W)[None, :]
            inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W) & mask_m[:, None] & mask_k[None, :]
            x_offsets = c * stride_xc + kh * DIL_H * stride_xh + kw * DIL_W * stride_xw
            x = tl.load(x_group + (x_rows[:, None] + x_offsets[None, :]), mask=inside, other=0.0)
            w_offsets = c * stride_wc + kh * stride_wh + kw * stride_ww
            w = tl.load(w_group + (w_cols[None, :] + w_offsets[:, None]), mask=mask_k[:, None] & mask_n[None, :],
                        other=0.0)
            acc = _dot(x, w, acc, DOT_FP32, INPUT_PRECISION)
    else:
        blocks = tl.cdiv(CG, BLOCK_K)
        for step in range(0, taps * blocks):
            tap = step // blocks
            c = (step - tap * blocks) * BLOCK_K + offs_k
            kh = tap // KW
            kw = tap - kh * KW
            ih = ih0 + kh * DIL_H
            iw = iw0 + kw * DIL_W
            row_ok = mask_m & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            mask_k = c < CG
            tap_offset = kh * DIL_H * stride_xh + kw * DIL_W * stride_xw
            x = tl.load(x_group + (x_rows[:, None] + (tap_offset + c * stride_xc)[None, :]),
                        mask=row_ok[:, None] & mask_k[None, :], other=0.0)
            w = tl.load(w_group + (w_cols[None, :] + (c * stride_wc + kh * stride_wh + kw * stride_ww)[:, None]),
                        mask=mask_k[:, None] & mask_n[None, :], other=0.0)
            acc = _dot(x, w, acc, DOT_FP32, INPUT_PRECISION)

    channel = group * OG + offs_n
    if HAS_BIAS:
        acc += tl.load(b_ptr + channel, mask=mask_n, other=0.0).to(ACC)[None, :]
    mask = mask_m[:, None] & mask_n[None, :]
    out_offsets = (n * stride_yn + oh * stride_yh + ow * stride_yw)[:, None] + (channel * stride_yc)[None, :]
    if SAVE_PRE:
        tl.store(pre_ptr + out_offsets, acc.to(pre_ptr.dtype.element_ty), mask=mask)
    acc = _apply_activation(acc, ACTIVATION)
    tl.store(y_ptr + out_offsets, acc.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _output_of(th, tw, H_OUT, W_OUT, STRIDE_H, STRIDE_W, UNIT_STRIDE: tl.constexpr):
    """For input position + padding - tap offset (th, tw): the output (oh, ow) whose window tap reads it, and
    whether there is one (a whole multiple of the stride, in range)."""
    if UNIT_STRIDE:
        oh = th
        ow = tw
        hit = (th >= 0) & (th < H_OUT) & (tw >= 0) & (tw < W_OUT)
    else:
        oh = th // STRIDE_H
        ow = tw // STRIDE_W
        hit = (th >= 0) & (tw >= 0) & (oh * STRIDE_H == th) & (ow * STRIDE_W == tw) & (oh < H_OUT) & (ow < W_OUT)
    return oh, ow, hit


@triton.jit
def conv_input_grad_kernel(
        # Pointers
        dy_ptr, w_ptr, b_ptr, dx_ptr,
        # Sizes
        N, H, W, H_OUT, W_OUT, KH, KW, CG, OG, STRIDE_H, STRIDE_W, PAD_H, PAD_W, DIL_H, DIL_W,
        # Strides
        stride_dyn, stride_dyc, stride_dyh, stride_dyw, stride_wo, stride_wc, stride_wh, stride_ww,
        stride_dxn, stride_dxc, stride_dxh, stride_dxw,
        # Meta-parameters
        HAS_BIAS: tl.constexpr, UNIT_STRIDE: tl.constexpr, FLAT_K: tl.constexpr, DOT_FP32: tl.constexpr,
        INPUT_PRECISION: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
        GROUP_SIZE_M: tl.constexpr):
    # One program computes BLOCK_M input pixels (n, ih, iw) x BLOCK_N input channels of group program_id(1) of
    # dX = dY (*)^T W (+ b: a transposed convolution's bias), reducing over the OG output channels and KH * KW
    # taps. Tap (kh, kw) of output (oh, ow) reads input (oh*s - p + kh*d, ...), so input ih gets output
    # oh = (ih + p - kh*d) / s where that is a whole number in [0, H_OUT).
    group = tl.program_id(1)
    M = N * H * W
    pid_m, pid_n = grouped_tile(tl.program_id(0), M, CG, BLOCK_M, BLOCK_N, GROUP_SIZE_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    mask_m = offs_m < M
    mask_n = offs_n < CG
    iw = offs_m % W
    ih = (offs_m // W) % H
    n = offs_m // (W * H)
    th0 = ih + PAD_H
    tw0 = iw + PAD_W
    dy_rows = dy_ptr + n * stride_dyn + (group * OG) * stride_dyc
    w_cols = w_ptr + (group * OG) * stride_wo + offs_n * stride_wc
    taps = KH * KW

    ACC: tl.constexpr = tl.float64 if dy_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    if FLAT_K:
        for k0 in range(0, OG * taps, BLOCK_K):
            k = k0 + offs_k
            mask_k = k < OG * taps
            o = k // taps
            kh = (k % taps) // KW
            kw = k % KW
            oh, ow, hit = _output_of(th0[:, None] - (kh * DIL_H)[None, :], tw0[:, None] - (kw * DIL_W)[None, :],
                                     H_OUT, W_OUT, STRIDE_H, STRIDE_W, UNIT_STRIDE)
            hit = hit & mask_m[:, None] & mask_k[None, :]
            dy = tl.load(dy_rows[:, None] + (o * stride_dyc)[None, :] + oh * stride_dyh + ow * stride_dyw, mask=hit,
                         other=0.0)
            w = tl.load(w_cols[None, :] + (o * stride_wo + kh * stride_wh + kw * stride_ww)[:, None],
                        mask=mask_k[:, None] & mask_n[None, :], other=0.0)
            acc = _dot(dy, w, acc, DOT_FP32, INPUT_PRECISION)
    else:
        blocks = tl.cdiv(OG, BLOCK_K)
        for step in range(0, taps * blocks):
            tap = step // blocks
            o = (step - tap * blocks) * BLOCK_K + offs_k
            kh = tap // KW
            kw = tap - kh * KW
            oh, ow, hit = _output_of(th0 - kh * DIL_H, tw0 - kw * DIL_W, H_OUT, W_OUT, STRIDE_H, STRIDE_W,
                                     UNIT_STRIDE)
            hit = hit & mask_m
            mask_k = o < OG
            dy = tl.load(dy_rows[:, None] + (oh * stride_dyh + ow * stride_dyw)[:, None] + (o * stride_dyc)[None, :],
                         mask=hit[:, None] & mask_k[None, :], other=0.0)
            w = tl.load(w_cols[None, :] + (o * stride_wo + kh * stride_wh + kw * stride_ww)[:, None],
                        mask=mask_k[:, None] & mask_n[None, :], other=0.0)
            acc = _dot(dy, w, acc, DOT_FP32, INPUT_PRECISION)

    channel = group * CG + offs_n
    if HAS_BIAS:
        acc += tl.load(b_ptr + channel, mask=mask_n, other=0.0).to(ACC)[None, :]
    out_offsets = (n * stride_dxn + ih * stride_dxh + iw * stride_dxw)[:, None] + (channel * stride_dxc)[None, :]
    tl.store(dx_ptr + out_offsets, acc.to(dx_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_n[None, :])


@triton.jit
def conv_weight_grad_kernel(
        # Pointers
        x_ptr, dy_ptr, dw_ptr, db_ptr,
        # Sizes
        N, H, W, H_OUT, W_OUT, KH, KW, CG, OG, STRIDE_H, STRIDE_W, PAD_H, PAD_W, DIL_H, DIL_W, N_COLS,
        STEPS_PER_SPLIT,
        # Strides
        stride_xn, stride_xc, stride_xh, stride_xw, stride_dyn, stride_dyc, stride_dyh, stride_dyw,
        stride_dws, stride_dbs,
        # Meta-parameters
        COMPUTE_DW: tl.constexpr, COMPUTE_DB: tl.constexpr, FLAT_K: tl.constexpr, DOT_FP32: tl.constexpr,
        INPUT_PRECISION: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
        GROUP_SIZE_M: tl.constexpr):
    # One program computes a BLOCK_M (output channels of group program_id(1)) x BLOCK_N tile of dW = dY^T (*) X
    # over its share of the reduction: STEPS_PER_SPLIT steps of BLOCK_K output pixels (n, oh, ow) from split
    # program_id(2). Its columns are input channels at one tap (tap-outer: program_id(0) // tiles gives the tap)
    # or, with FLAT_K, (input channel, tap) pairs. The tile goes to row program_id(2) of dw, laid out (split,
    # C_out, CG * KH * KW) (partial sums; dW itself with one split). The programs of the first column tile (and
    # tap) also sum dY over their pixels into db, the bias gradient. N_COLS: the columns tiled (1 without dW, so
    # that every program is in the first column tile).
    group = tl.program_id(1)
    split = tl.program_id(2)
    taps = KH * KW
    M = N * H_OUT * W_OUT
    tiles = tl.cdiv(OG, BLOCK_M) * tl.cdiv(N_COLS, BLOCK_N)
    if FLAT_K:
        tap = 0
        tile = tl.program_id(0)
    else:
        tap = tl.program_id(0) // tiles
        tile = tl.program_id(0) % tiles
    pid_m, pid_n = grouped_tile(tile, OG, N_COLS, BLOCK_M, BLOCK_N, GROUP_SIZE_M)
    offs_o = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_c = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_o = offs_o < OG
    if FLAT_K:
        mask_c = offs_c < CG * taps
        c = offs_c // taps
        kh = (offs_c % taps) // KW
        kw = offs_c % KW
        dw_cols = offs_c
    else:
        mask_c = offs_c < CG
        c = offs_c
        kh = tap // KW + tl.zeros_like(offs_c)
        kw = tap % KW + tl.zeros_like(offs_c)
        dw_cols = offs_c * taps + tap
    dy_cols = dy_ptr + (group * OG + offs_o) * stride_dyc
    x_cols = x_ptr + (group * CG + c) * stride_xc + kh * DIL_H * stride_xh + kw * DIL_W * stride_xw
    owns_db = (pid_n == 0) & (tap == 0)

    ACC: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    db_acc = tl.zeros((BLOCK_M,), dtype=ACC)
    first = split * STEPS_PER_SPLIT * BLOCK_K
    for step in range(0, STEPS_PER_SPLIT):
        offs_k = first + step * BLOCK_K + tl.arange(0, BLOCK_K)
        mask_k = offs_k < M
        ow = offs_k % W_OUT
        oh = (offs_k // W_OUT) % H_OUT
        n = offs_k // (W_OUT * H_OUT)
        dy = tl.load(dy_cols[:, None] + (n * stride_dyn + oh * stride_dyh + ow * stride_dyw)[None, :],
                     mask=mask_o[:, None] & mask_k[None, :], other=0.0)
        if COMPUTE_DB:
            if owns_db:
                db_acc += tl.sum(dy.to(ACC), axis=1)
        if COMPUTE_DW:
            ih0 = oh * STRIDE_H - PAD_H
            iw0 = ow * STRIDE_W - PAD_W
            rows = n * stride_xn + ih0 * stride_xh + iw0 * stride_xw
            if FLAT_K:
                ih = ih0[:, None] + (kh * DIL_H)[None, :]
                iw = iw0[:, None] + (kw * DIL_W)[None, :]
                inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W) & mask_k[:, None] & mask_c[None, :]
            else:
                ih = ih0 + (tap // KW) * DIL_H
                iw = iw0 + (tap % KW) * DIL_W
                row_ok = mask_k & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
                inside = row_ok[:, None] & mask_c[None, :]
            x = tl.load(x_cols[None, :] + rows[:, None], mask=inside, other=0.0)
            acc = _dot(dy, x, acc, DOT_FP32, INPUT_PRECISION)

    channel = group * OG + offs_o
    if COMPUTE_DW:
        dw_offsets = split * stride_dws + (channel * (CG * taps))[:, None] + dw_cols[None, :]
        tl.store(dw_ptr + dw_offsets, acc.to(dw_ptr.dtype.element_ty), mask=mask_o[:, None] & mask_c[None, :])
    if COMPUTE_DB:
        if owns_db:
            tl.store(db_ptr + split * stride_dbs + channel, db_acc.to(db_ptr.dtype.element_ty), mask=mask_o)
