"""cdist's direct path: p-norm distances between the rows of x1 (B, P, M) and x2 (B, R, M), and its backward.

Forward: one program computes a BLOCK_P x BLOCK_R tile of out[b] and walks the M columns BLOCK_M at a time,
holding the (BLOCK_P, BLOCK_R, BLOCK_M) differences in registers only, never in memory. p is a kind
(P_KIND) plus, for the general case, a runtime value:

    kind 0  p = 0     number of columns that differ        kind 3  p = inf  max |x1 - x2|
    kind 1  p = 1     sum |x1 - x2|                        kind 4  other p  (sum |x1 - x2|^p)^(1/p)
    kind 2  p = 2     sqrt(sum (x1 - x2)^2)

Backward (x1's gradient; x2's is the same kernel on (x2, x1) with grad and dist transposed): one program
computes a BLOCK_P x BLOCK_M tile of grad_x1[b] and walks the R rows of x2: grad_x1[i, k] = sum_j
g[i, j] * f(x1[i, k] - x2[j, k], dist[i, j]), with PyTorch's f for each kind (a zero distance gives 0; at
p = inf every column that attains the max gets the gradient; p = 0 has none, the caller fills zeros).

fp32 computes in fp32, fp64 in fp64 (PyTorch's direct path takes no other dtype).
"""
import numpy as np
import triton
import triton.language as tl

from .interpreter import libdevice
from .strided import dtype_name_of, interpreting

P_KINDS = {0.0: 0, 1.0: 1, 2.0: 2, float("inf"): 3}
GENERAL = 4
# Forward: a 16 x 16 output tile, 16 columns a step, 4 warps: 4096 differences a step, 32 per thread.
# Backward: a 16 x 16 gradient tile, 8 rows of x2 a step, 8 warps: 2048 differences, 8 per thread (at 16 rows and
# 4 warps fp64's general-p gradient, two libdevice pows per difference, spilled 440 B on sm_80/sm_90). AOT
# (tests/triton_kernels/test_cdist.py): no spills, fp32 and fp64, every kind. Unmeasured on a GPU.
BLOCK_P = 16
BLOCK_R = 16
BLOCK_M = 16
NUM_WARPS = 4
BACKWARD_BLOCK_R = 8
BACKWARD_NUM_WARPS = 8
_COMPUTE = {"float32": tl.float32, "float64": tl.float64}


def kind_of(p):
    return P_KINDS.get(float(p), GENERAL)


@triton.jit
def _div(a, b):
    """IEEE-rounded a / b (Triton's fp32 `/` is approximate), as the elementwise kernels divide."""
    if b.dtype == tl.float32:
        return tl.math.div_rn(a, b)
    else:
        return a / b


@triton.jit
def _exponent(p_bits, COMPUTE: tl.constexpr):
    """p, passed as the bits of a float64 (a Python float argument would arrive as fp32), in COMPUTE."""
    return p_bits.to(tl.int64).to(tl.float64, bitcast=True).to(COMPUTE)


@triton.jit
def _sign(x):
    return tl.where(x > 0, 1.0, tl.where(x < 0, -1.0, 0.0)).to(x.dtype)


@triton.jit(do_not_specialize=["p_bits"])
def _cdist_kernel(
        # pointers
        x1_ptr, x2_ptr, out_ptr,
        # sizes
        n_rows1, n_rows2, n_cols, p_bits,
        # strides
        stride_x1b, stride_x1r, stride_x1c, stride_x2b, stride_x2r, stride_x2c, stride_ob, stride_or, stride_oc,
        # meta-parameters
        P_KIND: tl.constexpr, COMPUTE: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_R: tl.constexpr,
        BLOCK_M: tl.constexpr):
    # One program computes out[b, rows1 tile, rows2 tile], walking the columns BLOCK_M at a time.
    p = _exponent(p_bits, COMPUTE)
    pid_p, pid_r, batch = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_r = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
    mask_p, mask_r = offs_p < n_rows1, offs_r < n_rows2
    x1_rows = x1_ptr + batch * stride_x1b + offs_p.to(tl.int64)[:, None] * stride_x1r
    x2_rows = x2_ptr + batch * stride_x2b + offs_r.to(tl.int64)[:, None] * stride_x2r
    acc = tl.zeros((BLOCK_P, BLOCK_R), dtype=COMPUTE)
    for start in range(0, n_cols, BLOCK_M):
        offs_m = start + tl.arange(0, BLOCK_M)
        mask_m = offs_m < n_cols
        a = tl.load(x1_rows + offs_m[None, :] * stride_x1c, mask=mask_p[:, None] & mask_m[None, :], other=0)
        c = tl.load(x2_rows + offs_m[None, :] * stride_x2c, mask=mask_r[:, None] & mask_m[None, :], other=0)
        diff = a.to(COMPUTE)[:, None, :] - c.to(COMPUTE)[None, :, :]  # padding is 0 - 0: it adds nothing
        magnitude = tl.abs(diff)
        if P_KIND == 0:
            acc += tl.sum((magnitude != 0).to(COMPUTE), axis=2)
        elif P_KIND == 1:
            acc += tl.sum(magnitude, axis=2)
        elif P_KIND == 2:
            acc += tl.sum(diff * diff, axis=2)
        elif P_KIND == 3:
            acc = tl.maximum(acc, tl.max(magnitude, axis=2))
        else:
            acc += tl.sum(libdevice.pow(magnitude, p), axis=2)
    if P_KIND == 2:
        if COMPUTE == tl.float32:
            acc = tl.sqrt_rn(acc)
        else:
            acc = tl.sqrt(acc)
    elif P_KIND == 4:
        inverse = (1.0 / p_bits.to(tl.int64).to(tl.float64, bitcast=True)).to(COMPUTE)  # fp64 division: exact
        acc = tl.where(acc == 0, acc, libdevice.pow(acc, inverse))
    out = out_ptr + batch * stride_ob + offs_p.to(tl.int64)[:, None] * stride_or + offs_r[None, :] * stride_oc
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=mask_p[:, None] & mask_r[None, :])


@triton.jit(do_not_specialize=["p_bits"])
def _cdist_backward_kernel(
        # pointers
        g_ptr, x1_ptr, x2_ptr, dist_ptr, out_ptr,
        # sizes
        n_rows1, n_rows2, n_cols, p_bits,
        # strides (g and dist share one layout; out is contiguous like x1's (B, P, M))
        stride_gb, stride_gr, stride_gc, stride_x1b, stride_x1r, stride_x1c, stride_x2b, stride_x2r, stride_x2c,
        stride_ob, stride_or, stride_oc,
        # meta-parameters
        P_KIND: tl.constexpr, COMPUTE: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_R: tl.constexpr,
        BLOCK_M: tl.constexpr):
    # One program computes grad_x1[b, rows1 tile, columns tile], walking the rows of x2 BLOCK_R at a time.
    p = _exponent(p_bits, COMPUTE)
    pid_p, pid_m, batch = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    mask_p, mask_m = offs_p < n_rows1, offs_m < n_cols
    rows1 = offs_p.to(tl.int64)[:, None]
    a = tl.load(x1_ptr + batch * stride_x1b + rows1 * stride_x1r + offs_m[None, :] * stride_x1c,
                mask=mask_p[:, None] & mask_m[None, :], other=0).to(COMPUTE)
    acc = tl.zeros((BLOCK_P, BLOCK_M), dtype=COMPUTE)
    for start in range(0, n_rows2, BLOCK_R):
        offs_r = start + tl.arange(0, BLOCK_R)
        mask_r = offs_r < n_rows2
        c = tl.load(x2_ptr + batch * stride_x2b + offs_r.to(tl.int64)[:, None] * stride_x2r +
                    offs_m[None, :] * stride_x2c, mask=mask_r[:, None] & mask_m[None, :], other=0).to(COMPUTE)
        pair = batch * stride_gb + rows1 * stride_gr + offs_r[None, :] * stride_gc
        pair_mask = mask_p[:, None] & mask_r[None, :]
        g = tl.load(g_ptr + pair, mask=pair_mask, other=0).to(COMPUTE)[:, :, None]  # 0 off the edges: adds 0
        d = tl.load(dist_ptr + pair, mask=pair_mask, other=0).to(COMPUTE)[:, :, None]
        diff = a[:, None, :] - c[None, :, :]
        if P_KIND == 1:
            term = g * _sign(diff)
        elif P_KIND == 2:
            term = tl.where(d == 0, 0.0, _div(g * diff, d))
        elif P_KIND == 3:
            term = tl.where(tl.abs(diff) == d, g * _sign(diff), 0.0)
        else:
            magnitude = tl.abs(diff)
            scale = tl.where(d == 0, 0.0, _div(g, libdevice.pow(d, p - 1.0)))
            if p < 2.0:
                term = _sign(diff) * libdevice.pow(magnitude, p - 1.0) * scale
                if p < 1.0:  # |diff|^(p - 1) is infinite at 0: PyTorch gives 0 there
                    term = tl.where(diff == 0, 0.0, term)
            else:
                term = diff * libdevice.pow(magnitude, p - 2.0) * scale
        acc += tl.sum(term.to(COMPUTE), axis=1)
    out = out_ptr + batch * stride_ob + rows1 * stride_or + offs_m[None, :] * stride_oc
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=mask_p[:, None] & mask_m[None, :])


def _check(name, arrays):
    for x in arrays:
        if len(x.shape) != 3:
            raise ValueError(f"{name}: expected (batch, rows, columns) arrays, got shape {tuple(x.shape)}")
        if dtype_name_of(x) not in _COMPUTE:
            raise TypeError(f"{name}: expected float32 or float64, got {x.dtype}")
    if len({dtype_name_of(x) for x in arrays}) != 1:
        raise TypeError(f"{name}: the arrays must share one dtype, got {', '.join(str(x.dtype) for x in arrays)}")


def cdist(x1, x2, out, p):
    """out[b, i, j] = ||x1[b, i] - x2[b, j]||_p for (B, P, M) and (B, R, M) arrays into a (B, P, R) `out`."""
    _check("cdist", (x1, x2, out))
    batch, rows1, cols = x1.shape
    rows2 = x2.shape[1]
    if tuple(x2.shape) != (batch, rows2, cols) or tuple(out.shape) != (batch, rows1, rows2):
        raise ValueError(f"cdist: shapes x1 {tuple(x1.shape)}, x2 {tuple(x2.shape)}, out {tuple(out.shape)} do not fit")
    if batch * rows1 * rows2 == 0:
        return out
    grid = (triton.cdiv(rows1, BLOCK_P), triton.cdiv(rows2, BLOCK_R), batch)
    _cdist_kernel[grid](x1, x2, out, rows1, rows2, cols, _bits(p), *x1.stride(), *x2.stride(), *out.stride(),
                        P_KIND=kind_of(p), COMPUTE=_COMPUTE[dtype_name_of(out)], BLOCK_P=BLOCK_P, BLOCK_R=BLOCK_R,
                        BLOCK_M=_block_m(cols), num_warps=NUM_WARPS)
    return out


def cdist_backward(g, x1, x2, dist, out, p):
    """out = the gradient of cdist(x1, x2, p) with respect to x1, given its output `dist` and the output's gradient
    `g` (both (B, P, R)); `out` is (B, P, M). p = 0 has no gradient: out is left to the caller (zeros)."""
    _check("cdist_backward", (g, x1, x2, dist, out))
    if tuple(g.stride()) != tuple(dist.stride()):
        raise ValueError("cdist_backward: g and dist must share one layout (strides)")
    batch, rows1, cols = x1.shape
    rows2 = x2.shape[1]
    if batch * rows1 * cols == 0:
        return out
    if kind_of(p) == 0:
        raise ValueError("cdist_backward: p = 0 has no gradient")
    grid = (triton.cdiv(rows1, BLOCK_P), triton.cdiv(cols, BLOCK_M), batch)
    _cdist_backward_kernel[grid](g, x1, x2, dist, out, rows1, rows2, cols, _bits(p), *g.stride(), *x1.stride(),
                                 *x2.stride(), *out.stride(), P_KIND=kind_of(p), COMPUTE=_COMPUTE[dtype_name_of(out)],
                                 BLOCK_P=BLOCK_P, BLOCK_R=_block_r(rows2), BLOCK_M=BLOCK_M,
                                 num_warps=BACKWARD_NUM_WARPS)
    return out


def _bits(p):
    return int(np.array(float(p), np.float64).view(np.int64))


def _block_m(cols):
    """The interpreter's cost is per step: there one step takes every column (up to 256)."""
    return max(16, min(256, triton.next_power_of_2(cols))) if interpreting() else BLOCK_M


def _block_r(rows):
    return max(16, min(256, triton.next_power_of_2(rows))) if interpreting() else BACKWARD_BLOCK_R
