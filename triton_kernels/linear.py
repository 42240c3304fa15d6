"""Fused linear: `y = act(x @ W.T + b)` forward, and its backward kernels.

Three layers, as for every GPU op: the `@triton.jit` kernels, then host launchers that take raw
buffers (objects with `data_ptr()` and `dtype`), explicit sizes and strides, check them, pick
a tile config and the grid, and launch. The autograd Function lives in `framework` and calls
the launchers; nothing here imports `framework` or torch.

Shapes: x (M, K), W (N, K), b (N,), y (M, N); any strides (W is read transposed through its
strides, never copied). Leading batch dims are the caller's to fold into M.

Activations (a constexpr flag, applied in the forward epilogue and, as act'(pre), inside the
backward kernels that read dY):
    ACT_NONE = 0, ACT_RELU = 1, ACT_GELU_TANH = 2, ACT_SILU = 3, ACT_GELU = 4 (exact, erf: nn.GELU()).
The backward needs the pre-activation `pre = x @ W.T + b` for GELU/SiLU: the forward writes it
when given a `pre` buffer (SAVE_PRE). For ReLU, `relu'(pre) == (y > 0)`, so the output itself may
be passed as `pre` to the backward and no extra buffer is needed.

Numbers: the accumulator (ACC) is fp32, fp64 for float64 operands; bias, activation and dY' are
computed in it; results are stored in the output buffer's dtype. On a GPU, fp16/bf16 tiles go
to `tl.dot` in their own dtype (tensor cores, fp32 accumulate); fp32 tiles use IEEE fp32 unless
`allow_tf32`; fp64 tiles use fp64 DMMA. Under Triton's interpreter (TRITON_INTERPRET=1) bf16
values are raw bits, so every tile is upcast to ACC before `tl.dot` (DOT_FP32 flag, set by the
launchers): there the dot runs in fp32 (fp64) for every dtype.

Determinism: no atomics. `db = sum_rows(dY')` is reduced by the dW kernel's programs that own
column 0 of the K axis (pid_k == 0) while they stream dY' for dW anyway: no extra pass over dY.
"""
import math

import triton
import triton.language as tl

from . import tuning
from .interpreter import libdevice
from .matmul import dot_settings, grouped_tile
from .strided import dtype_name_of

ACT_NONE, ACT_RELU, ACT_GELU_TANH, ACT_SILU, ACT_GELU = 0, 1, 2, 3, 4
ACTIVATIONS = {"none": ACT_NONE, "relu": ACT_RELU, "gelu": ACT_GELU, "gelu_tanh": ACT_GELU_TANH,
               "silu": ACT_SILU}
_SQRT_HALF = tl.constexpr(math.sqrt(0.5))
_INV_SQRT_2PI = tl.constexpr(1.0 / math.sqrt(2.0 * math.pi))

_DTYPES = ("float32", "float16", "bfloat16", "float64")
_INT32_MAX = 2**31 - 1


# ----------------------------------------------------------------------------------------------
# Tile configs. None of these has been timed: there has been no GPU run, so no timing exists. They
# start from Triton's matmul tutorial (03-matrix-multiplication.py, CUDA configs) and were cut down
# until ptxas reported no register spill; to be swept on an H100 (and A100) and replaced by measured
# choices with the sweep named here. What they do satisfy, checked by the AOT tests
# (tests/triton_kernels/test_linear.py) with the exact (erf) and the tanh GELU, the forward saving
# the pre-activation and dW computing db: they compile for sm_80 and sm_90 without spills, aligned
# and unaligned (below); 16-bit tiles have BLOCK_M a multiple of 64 with 4 or 8 warps, so that sm_90
# bf16/fp16 dots lower to wgmma (one warpgroup of 4 warps covers 64 rows of M).
# Register numbers below: Triton 3.9 and the ptxas it ships, per thread, "sm_80/sm_90"; spills in
# bytes (stores + loads), erf GELU unless said.
#
# Aligned launches (`_aligned`: every size, stride and buffer address a multiple of 16) get the size
# rule's `large`, `small` or `fp64` (on a GPU, aligned 16-bit launches get whichever of `large` and
# `small` the tuner times faster: `candidates`); every other launch an `unaligned*` config. Unaligned, Triton
# can neither vectorise the loads nor (16-bit) stage them with cp.async, and each element a thread
# loads per step keeps its own 64-bit address register across the loop (LLVM's strength reduction,
# seen in the PTX): the cost grows with the operand elements per thread. The aligned tiles spilled
# there: forward large 184/800 (tanh 64/24), dX large 11828/2824 (tanh 22352/1824), dW large
# 2700/3364 (tanh 1204/2616), dW small bf16 144/88 (tanh 112/0), fp32 small dX 296/0 and dW
# 1344/0, fp64 dW 56/64 (tanh 0/0).
# ----------------------------------------------------------------------------------------------
CONFIGS = {
    # Derived from the tutorial's first CUDA config (128x256x64, 8 warps, 3 stages) with BLOCK_N
    # halved: the tutorial tile spilled 184 B on sm_90 once the GELU epilogue also saves the
    # pre-activation; 128x128x64 with 8 warps holds 64 accumulator registers per thread. The forward
    # runs its epilogue by column halves: on the whole tile, erf GELU + SAVE_PRE took 255 registers and
    # spilled 272 B on sm_90; by halves 182/121. For large 16-bit outputs (the backward kernels step
    # by 32: KERNEL_CONFIGS).
    "large": dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=64, GROUP_SIZE_M=8, num_warps=8, num_stages=3),
    # The tutorial's 64x64-class tile (its 64x128x32 / 128x64x32 configs shrunk, 4 warps, 4 stages)
    # for small outputs, where big tiles would leave most SMs idle; also every fp32 (IEEE) problem,
    # whose FMA dot needs both operand tiles in registers. At most 220/128 (fp32 dX).
    "small": dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32, GROUP_SIZE_M=8, num_warps=4, num_stages=4),
    # float64 (fp64 DMMA, two registers an element): the small tile spilled 824-3520 B in the backward
    # kernels (GELU' flags on), 64x64x16 with 4 warps 292-316 B in dW; with 8 warps none (dW with the
    # erf GELU': 255/255, at the limit).
    "fp64": dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=16, GROUP_SIZE_M=8, num_warps=8, num_stages=3),
    # Unaligned 16-bit launches, any size. Tried on all three kernels: 128x128x16 and 128x64x32 (8
    # warps) still spill in dW (104 B and 264 B on sm_80), 64x64x16 with 4 warps sits at 255 registers
    # in dW. 64x64x16 with 8 warps: at most 128/142 (dW), no spill, wgmma on sm_90. Stages do nothing
    # here fully unaligned (nothing is staged) but do for partly aligned launches (only M, K or N odd:
    # one-off AOT runs, not in the tests): with 3, dX spilled 20 B on sm_80 with K odd, at 80
    # registers (ptxas trading a spill for occupancy); with 2, no spill in any of them.
    # Triton 3.6 (PyTorch 2.11's): 64x64x16 spilled 16 B in dW on sm_80 (erf GELU', at ptxas' 128-register cap);
    # 128x32x16 (8 warps, 2 stages) none in any kernel under 3.6 or 3.9, at most 189/184 (dW), wgmma kept.
    "unaligned": dict(BLOCK_M=128, BLOCK_N=32, BLOCK_K=16, GROUP_SIZE_M=8, num_warps=8, num_stages=2),
    # Unaligned fp32 (IEEE): cp.async of 4-byte elements still works, so stages matter. 64x64x32 with 8
    # warps spilled 8 B (dX, sm_80); 64x64x16 with 8 warps at most 128/128, no spill, partly aligned
    # too. With 2 stages the fully unaligned forward spilled 16 B on sm_90, at 80 registers.
    "unaligned_fp32": dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=16, GROUP_SIZE_M=8, num_warps=8, num_stages=3),
    # Unaligned float64: the fp64 tile spilled 56/64 B in dW (erf GELU'). 64x32x16 took 238/238 in dW;
    # 32 output rows x 64 columns x 16 with 2 stages at most 161/161 (dW), no spill. With 3 or 4 stages
    # partly aligned dW launches spilled 8-16 B at 128 registers (tanh GELU', M or N odd).
    "unaligned_fp64": dict(BLOCK_M=32, BLOCK_N=64, BLOCK_K=16, GROUP_SIZE_M=8, num_warps=8, num_stages=2),
}

# Replacements by kernel, on every architecture: (kernel, config name) -> config.
_BACKWARD_LARGE = dict(BLOCK_M=128, BLOCK_N=64, BLOCK_K=32, GROUP_SIZE_M=8, num_warps=8, num_stages=3)
KERNEL_CONFIGS = {
    # The backward kernels form act'(pre) on their dY tiles inside the loop. At the forward's 64 step the
    # erf GELU' spilled in dX 6104 B on sm_80 (255 registers on sm_90, at the limit) and in dW 608 B on
    # sm_90 (dW also 152 B on sm_80 with the tanh GELU', which had given dW a 32 step on sm_80 only).
    # A 32 step: dX 209/146, dW 188/248, no spill, half the shared memory. Under Triton 3.6 (PyTorch 2.11's) that
    # 128x128x32 tile spilled on sm_80 with the erf GELU' (dX 520 B, dW 608 B; 2 stages or 16 warps too, and
    # 128x128x16 spilled 60 B in dX under 3.9); 128x64x32 spills under neither: dX 170/107, dW 241/177 (3.6).
    ("backward_input", "large"): _BACKWARD_LARGE,
    ("backward_weight", "large"): _BACKWARD_LARGE,
}
KERNEL_NAMES = ("forward", "backward_input", "backward_weight")


def config_for(kernel, name):
    """The config `name` (a key of CONFIGS) of `kernel` (one of KERNEL_NAMES). No entry depends on the
    architecture at present: every one compiles spill-free for both sm_80 and sm_90 (AOT)."""
    return KERNEL_CONFIGS.get((kernel, name), CONFIGS[name])


def config_name(rows, cols, dtype_name, aligned=True):
    """Which config an output of `rows` x `cols` gets (M x N forward, M x K for dX, N x K for dW). A
    size rule, not a measurement: aligned 16-bit outputs with at least ~132 large tiles (one per H100
    SM) get the large tile; fp32 and small outputs the small one; float64 its own; unaligned launches
    (`aligned` False) the unaligned tiles, whatever their size."""
    if dtype_name == "float64":
        return "fp64" if aligned else "unaligned_fp64"
    if not aligned:
        return "unaligned_fp32" if dtype_name == "float32" else "unaligned"
    if dtype_name in ("float16", "bfloat16") and triton.cdiv(rows, 128) * triton.cdiv(cols, 128) >= 132:
        return "large"
    return "small"


def pick_config(rows, cols, dtype_name, kernel="forward", aligned=True):
    """The config of `kernel` for an output of `rows` x `cols` (`config_name`'s rule)."""
    return config_for(kernel, config_name(rows, cols, dtype_name, aligned))


# Autotuning (triton_kernels/tuning.py): with a benchmarker registered (a GPU: framework/backends/cuda/runtime.py)
# and no `config` given, a launcher times its candidates once per key and keeps the fastest; otherwise it takes
# `config_name`'s choice. Candidates come only from the configs the AOT tests compile spill-free for that dtype and
# layout, so tuning never picks an unchecked config (test_linear.py: test_tuning_candidates_are_aot_compiled).
_TUNED_16BIT = ("large", "small")


def candidates(rows, cols, dtype_name, aligned=True):
    """The config names the tuner may time for an output of `rows` x `cols`, `config_name`'s choice first. Aligned
    16-bit launches: `large` and `small`, the two tiles AOT-compiled for them. Every other launch has one config and
    is never timed: fp32 has `small` alone (the only fp32 tile compiled: its IEEE FMA dot holds both tiles in
    registers), float64 `fp64`, and unaligned launches their `unaligned*` tile."""
    first = config_name(rows, cols, dtype_name, aligned)
    if aligned and dtype_name in ("float16", "bfloat16"):
        return (first,) + tuple(name for name in _TUNED_16BIT if name != first)
    return (first,)


def _unit_strides(*strides):
    """Which strides are 1 (the layout: row- or column-major operands), for the tuning key."""
    return tuple(stride == 1 for stride in strides)


def _tuned_launch(launch, config, kernel, rows, cols, dtype_name, aligned, key):
    """`launch(config)` with the caller's `config`, else with the tuner's choice among `candidates` for the key
    ("linear.<kernel>", key()); `key` is a function, called only when there is something to tune. Timing runs `launch` on the caller's buffers once per candidate and call; allowed
    (tuning.py's requirement) because the linear kernels only write their outputs, which never alias the buffers
    they read. The chosen config is launched once more, so the result is the winner's whether or not it was timed."""
    if config is None:
        name = tuning.choose("linear." + kernel, key, candidates(rows, cols, dtype_name, aligned),
                             lambda name: launch(config_for(kernel, name)))
        config = config_for(kernel, name)
    launch(config)


# ----------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------
@triton.jit
def _tanh(u):
    # tanh from exp, saturating correctly: exp overflow to inf gives 1, underflow to 0 gives -1.
    return 1.0 - 2.0 / (tl.exp(2.0 * u) + 1.0)


@triton.jit
def _apply_activation(z, ACTIVATION: tl.constexpr):
    """act(z) on an fp32 tile."""
    if ACTIVATION == 1:  # relu
        z = tl.maximum(z, 0.0)
    elif ACTIVATION == 2:  # gelu, tanh approximation
        z = 0.5 * z * (1.0 + _tanh(0.7978845608028654 * (z + 0.044715 * z * z * z)))
    elif ACTIVATION == 3:  # silu
        z = z / (1.0 + tl.exp(-z))
    elif ACTIVATION == 4:  # gelu, exact: x * Phi(x), Phi from erfc so that it keeps its precision for x << 0
        z = 0.5 * z * libdevice.erfc(-z * _SQRT_HALF)
    return z


@triton.jit
def _activation_grad(pre, ACTIVATION: tl.constexpr):
    """act'(pre) on an fp32 tile (for ReLU, `pre` may be the activation's output)."""
    if ACTIVATION == 1:
        d = tl.where(pre > 0.0, 1.0, 0.0)
    elif ACTIVATION == 2:
        inner = 0.7978845608028654 * (pre + 0.044715 * pre * pre * pre)
        t = _tanh(inner)
        d = 0.5 * (1.0 + t) + 0.5 * pre * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * pre * pre)
    elif ACTIVATION == 3:
        s = 1.0 / (1.0 + tl.exp(-pre))
        d = s * (1.0 + pre * (1.0 - s))
    elif ACTIVATION == 4:
        d = 0.5 * libdevice.erfc(-pre * _SQRT_HALF) + pre * tl.exp(-0.5 * pre * pre) * _INV_SQRT_2PI
    else:
        d = tl.full(pre.shape, 1.0, pre.dtype)
    return d


@triton.jit
def _forward_epilogue(acc, offs_m, offs_n, M, N, b_ptr, y_ptr, pre_ptr, stride_ym, stride_yn, stride_pm, stride_pn,
                      HAS_BIAS: tl.constexpr, ACTIVATION: tl.constexpr, SAVE_PRE: tl.constexpr):
    """Bias, save the pre-activation, activation, store in the output's dtype: for the (offs_m, offs_n) tile
    `acc` (in ACC) of the forward."""
    mask_n = offs_n < N
    if HAS_BIAS:
        bias = tl.load(b_ptr + offs_n, mask=mask_n, other=0.0).to(acc.dtype)
        acc = acc + bias[None, :]
    mask = (offs_m < M)[:, None] & mask_n[None, :]
    if SAVE_PRE:
        pre_ptrs = pre_ptr + offs_m[:, None] * stride_pm + offs_n[None, :] * stride_pn
        tl.store(pre_ptrs, acc.to(pre_ptr.dtype.element_ty), mask=mask)
    acc = _apply_activation(acc, ACTIVATION)
    y_ptrs = y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def linear_forward_kernel(
        # Pointers
        x_ptr, w_ptr, b_ptr, y_ptr, pre_ptr,
        # Sizes
        M, N, K,
        # Strides
        stride_xm, stride_xk, stride_wn, stride_wk, stride_ym, stride_yn, stride_pm, stride_pn,
        # Meta-parameters
        HAS_BIAS: tl.constexpr, ACTIVATION: tl.constexpr, SAVE_PRE: tl.constexpr,
        DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr):
    # One program computes a BLOCK_M x BLOCK_N tile of y = act(x @ W.T + b), looping over K, and
    # (SAVE_PRE) the same tile of the pre-activation x @ W.T + b.
    pid_m, pid_n = grouped_tile(tl.program_id(0), M, N, BLOCK_M, BLOCK_N, GROUP_SIZE_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    # Ragged M/N edges: rows past M (columns past N) wrap onto valid ones for the loads, as in the
    # matmul tutorial, so the loads are masked on K only; the store is masked on M and N.
    offs_xm = offs_m % M
    offs_wn = offs_n % N
    x_ptrs = x_ptr + offs_xm[:, None] * stride_xm + offs_k[None, :] * stride_xk  # (BLOCK_M, BLOCK_K)
    w_ptrs = w_ptr + offs_k[:, None] * stride_wk + offs_wn[None, :] * stride_wn  # W.T tile (BLOCK_K, BLOCK_N)

    ACC: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K
        a = tl.load(x_ptrs, mask=offs_k[None, :] < k_left, other=0.0)
        b = tl.load(w_ptrs, mask=offs_k[:, None] < k_left, other=0.0)
        if DOT_FP32:
            a = a.to(ACC)
            b = b.to(ACC)
        acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION, out_dtype=ACC)
        x_ptrs += BLOCK_K * stride_xk
        w_ptrs += BLOCK_K * stride_wk

    # Epilogue, in fp32, on one column half of the tile at a time (the persistent matmul tutorial's
    # EPILOGUE_SUBTILE): fewer registers live at once (see CONFIGS["large"]).
    acc0, acc1 = tl.split(tl.permute(tl.reshape(acc, (BLOCK_M, 2, BLOCK_N // 2)), (0, 2, 1)))
    offs_n0 = pid_n * BLOCK_N + tl.arange(0, BLOCK_N // 2)
    _forward_epilogue(acc0, offs_m, offs_n0, M, N, b_ptr, y_ptr, pre_ptr, stride_ym, stride_yn, stride_pm,
                      stride_pn, HAS_BIAS, ACTIVATION, SAVE_PRE)
    _forward_epilogue(acc1, offs_m, offs_n0 + BLOCK_N // 2, M, N, b_ptr, y_ptr, pre_ptr, stride_ym, stride_yn,
                      stride_pm, stride_pn, HAS_BIAS, ACTIVATION, SAVE_PRE)


@triton.jit
def _load_dy_prime(dy_ptrs, pre_ptrs, mask, ACTIVATION: tl.constexpr, ACC: tl.constexpr):
    """A tile of dY' = dY * act'(pre), in ACC; without an activation, dY as loaded."""
    dy = tl.load(dy_ptrs, mask=mask, other=0.0)
    if ACTIVATION != 0:
        pre = tl.load(pre_ptrs, mask=mask, other=0.0).to(ACC)
        dy = dy.to(ACC) * _activation_grad(pre, ACTIVATION)
    return dy


@triton.jit
def _dot_operands(dy, other, DOT_FP32: tl.constexpr, ACC: tl.constexpr):
    """(dY', other) as tl.dot takes them: both in ACC under the interpreter, else dY' back in the other
    operand's dtype (16-bit for the tensor cores)."""
    if DOT_FP32:
        return dy.to(ACC), other.to(ACC)
    return dy.to(other.dtype), other


@triton.jit
def linear_backward_input_kernel(
        # Pointers
        dy_ptr, pre_ptr, w_ptr, dx_ptr,
        # Sizes
        M, N, K,
        # Strides
        stride_dym, stride_dyn, stride_pm, stride_pn, stride_wn, stride_wk, stride_dxm, stride_dxk,
        # Meta-parameters
        ACTIVATION: tl.constexpr, DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr):
    # One program computes a BLOCK_M x BLOCK_K tile of dX = dY' @ W, looping over N, where
    # dY' = dY * act'(pre) is formed tile by tile in fp32 as dY is read (never stored).
    pid_m, pid_k = grouped_tile(tl.program_id(0), M, K, BLOCK_M, BLOCK_K, GROUP_SIZE_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_k = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    offs_n = tl.arange(0, BLOCK_N)
    mask_m = offs_m < M
    mask_k = offs_k < K
    dy_ptrs = dy_ptr + offs_m[:, None] * stride_dym + offs_n[None, :] * stride_dyn   # (BLOCK_M, BLOCK_N)
    pre_ptrs = pre_ptr + offs_m[:, None] * stride_pm + offs_n[None, :] * stride_pn
    w_ptrs = w_ptr + offs_n[:, None] * stride_wn + offs_k[None, :] * stride_wk        # (BLOCK_N, BLOCK_K)

    ACC: tl.constexpr = tl.float64 if w_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc = tl.zeros((BLOCK_M, BLOCK_K), dtype=ACC)
    for n in range(0, tl.cdiv(N, BLOCK_N)):
        n_left = N - n * BLOCK_N
        mask_dy = mask_m[:, None] & (offs_n[None, :] < n_left)
        dy = _load_dy_prime(dy_ptrs, pre_ptrs, mask_dy, ACTIVATION, ACC)
        w = tl.load(w_ptrs, mask=(offs_n[:, None] < n_left) & mask_k[None, :], other=0.0)
        dy, w = _dot_operands(dy, w, DOT_FP32, ACC)
        acc = tl.dot(dy, w, acc, input_precision=INPUT_PRECISION, out_dtype=ACC)
        dy_ptrs += BLOCK_N * stride_dyn
        pre_ptrs += BLOCK_N * stride_pn
        w_ptrs += BLOCK_N * stride_wn

    dx_ptrs = dx_ptr + offs_m[:, None] * stride_dxm + offs_k[None, :] * stride_dxk
    tl.store(dx_ptrs, acc.to(dx_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_k[None, :])


@triton.jit
def linear_backward_weight_kernel(
        # Pointers
        dy_ptr, pre_ptr, x_ptr, dw_ptr, db_ptr,
        # Sizes
        M, N, K,
        # Strides
        stride_dym, stride_dyn, stride_pm, stride_pn, stride_xm, stride_xk, stride_dwn, stride_dwk,
        # Meta-parameters
        ACTIVATION: tl.constexpr, COMPUTE_DW: tl.constexpr, COMPUTE_DB: tl.constexpr,
        DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr):
    # One program computes a BLOCK_N x BLOCK_K tile of dW = dY'^T @ X, looping over M (rows of the
    # batch), with dY' = dY * act'(pre) formed in fp32 as dY is read. The programs of column tile
    # pid_k == 0 also sum dY' over rows into db for their BLOCK_N columns (deterministic, no atomics).
    # Without COMPUTE_DW the grid has one program per column tile and only db is computed.
    # GROUP_SIZE_M groups tiles along N here (the rows of dW).
    pid_n, pid_k = grouped_tile(tl.program_id(0), N, K, BLOCK_N, BLOCK_K, GROUP_SIZE_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    offs_m = tl.arange(0, BLOCK_M)
    mask_n = offs_n < N
    mask_k = offs_k < K
    dy_ptrs = dy_ptr + offs_n[:, None] * stride_dyn + offs_m[None, :] * stride_dym    # dY.T tile (BLOCK_N, BLOCK_M)
    pre_ptrs = pre_ptr + offs_n[:, None] * stride_pn + offs_m[None, :] * stride_pm
    x_ptrs = x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :] * stride_xk       # (BLOCK_M, BLOCK_K)

    ACC: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=ACC)
    db_acc = tl.zeros((BLOCK_N,), dtype=ACC)
    owns_db = pid_k == 0
    for m in range(0, tl.cdiv(M, BLOCK_M)):
        m_left = M - m * BLOCK_M
        mask_dy = mask_n[:, None] & (offs_m[None, :] < m_left)
        dy = _load_dy_prime(dy_ptrs, pre_ptrs, mask_dy, ACTIVATION, ACC)
        if COMPUTE_DB:
            if owns_db:
                db_acc += tl.sum(dy.to(ACC), axis=1)
        if COMPUTE_DW:
            xt = tl.load(x_ptrs, mask=(offs_m[:, None] < m_left) & mask_k[None, :], other=0.0)
            dy, xt = _dot_operands(dy, xt, DOT_FP32, ACC)
            acc = tl.dot(dy, xt, acc, input_precision=INPUT_PRECISION, out_dtype=ACC)
            x_ptrs += BLOCK_M * stride_xm
        dy_ptrs += BLOCK_M * stride_dym
        pre_ptrs += BLOCK_M * stride_pm

    if COMPUTE_DW:
        dw_ptrs = dw_ptr + offs_n[:, None] * stride_dwn + offs_k[None, :] * stride_dwk
        tl.store(dw_ptrs, acc.to(dw_ptr.dtype.element_ty), mask=mask_n[:, None] & mask_k[None, :])
    if COMPUTE_DB:
        if owns_db:
            tl.store(db_ptr + offs_n, db_acc.to(db_ptr.dtype.element_ty), mask=mask_n)


# ----------------------------------------------------------------------------------------------
# Host launchers
# ----------------------------------------------------------------------------------------------
def _dtype_name(buffer, what):
    name = dtype_name_of(buffer)
    if name not in _DTYPES:
        raise TypeError(f"linear: {what} has dtype {buffer.dtype}; expected one of {', '.join(_DTYPES)}")
    return name


def _check_same_dtype(expected, **buffers):
    for what, buffer in buffers.items():
        if buffer is not None and _dtype_name(buffer, what) != expected:
            raise TypeError(f"linear: {what} has dtype {buffer.dtype}, expected {expected} like the input")


def _check_sizes(M, N, K):
    for name, value in (("M", M), ("N", N), ("K", K)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"linear: {name} must be a non-negative int, got {value!r}")


def _check_extent(what, rows, cols, stride_r, stride_c):
    """The kernels index with int32: refuse buffers whose furthest element is past 2**31 - 1."""
    if rows and cols and (rows - 1) * abs(stride_r) + (cols - 1) * abs(stride_c) > _INT32_MAX:
        raise ValueError(f"linear: {what} ({rows}x{cols}, strides ({stride_r}, {stride_c})) spans more than "
                         f"2**31 - 1 elements; the kernels use 32-bit offsets")


def _activation_id(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(f"linear: unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[activation]


def _aligned(buffers, *values):
    """Whether a launch is "aligned" (the AOT tests' aligned case, CONFIGS): every buffer's address and
    every size and stride (`values`) a multiple of 16, which Triton specialises on (tt.divisibility=16);
    a value of 1 is a constant to Triton and counts as aligned. Anything else gets the unaligned tiles.

    M (the batch rows) is not among `values`: it only bounds the row masks, never a vectorised load's
    address, and with only M odd every config compiles as the aligned case does (AOT, ptxas: no spill,
    the same register counts; tests/triton_kernels/test_linear.py "rows" layout). So a batch of 4095
    keeps the large tiles."""
    return (all(buffer.data_ptr() % 16 == 0 for buffer in buffers if buffer is not None)
            and all(value == 1 or value % 16 == 0 for value in values))


def _launch_config(config, rows, cols, dtype_name, names=("BLOCK_M", "BLOCK_N", "BLOCK_K"), kernel="forward",
                   aligned=True):
    """(num_warps, num_stages, block meta-parameters). A config names its output tile BLOCK_M x
    BLOCK_N and its reduction step BLOCK_K; `names` says which kernel argument plays each role
    (dX: rows M, cols K, reduce over N; dW: rows N, cols K, reduce over M)."""
    chosen = dict(config if config is not None else pick_config(rows, cols, dtype_name, kernel, aligned))
    meta = {names[0]: chosen["BLOCK_M"], names[1]: chosen["BLOCK_N"], names[2]: chosen["BLOCK_K"],
            "GROUP_SIZE_M": chosen["GROUP_SIZE_M"]}
    return chosen.get("num_warps", 4), chosen.get("num_stages", 3), meta


def linear_forward(x, weight, bias, out, M, N, K,
                   stride_xm, stride_xk, stride_wn, stride_wk, stride_ym, stride_yn,
                   activation="none", pre=None, stride_pm=0, stride_pn=0, allow_tf32=False, config=None):
    """out = act(x @ weight.T + bias) for x (M, K), weight (N, K), bias (N,) or None, out (M, N).

    `pre` (M, N), when given, receives x @ weight.T + bias for the backward (needed for GELU/SiLU;
    ReLU's backward can use `out`). `config` overrides the tile config (a dict like CONFIGS'); without it the
    config is the tuner's choice on a GPU, the size rule's elsewhere (`_tuned_launch`), as in the backward launchers."""
    _check_sizes(M, N, K)
    act = _activation_id(activation)
    dtype_name = _dtype_name(x, "x")
    _check_same_dtype(dtype_name, weight=weight, bias=bias, out=out)
    if pre is not None:
        _dtype_name(pre, "pre")
    _check_extent("x", M, K, stride_xm, stride_xk)
    _check_extent("weight", N, K, stride_wn, stride_wk)
    _check_extent("out", M, N, stride_ym, stride_yn)
    if pre is not None:
        _check_extent("pre", M, N, stride_pm, stride_pn)
    if M == 0 or N == 0:
        return out
    strides = (stride_xm, stride_xk, stride_wn, stride_wk, stride_ym, stride_yn, stride_pm, stride_pn)
    aligned = _aligned((x, weight, bias, out, pre), N, K, *strides)
    dot_fp32, precision = dot_settings(dtype_name, allow_tf32)

    def launch(chosen):
        num_warps, num_stages, meta = _launch_config(chosen, M, N, dtype_name, aligned=aligned)
        grid = (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)
        linear_forward_kernel[grid](
            x, weight, bias if bias is not None else x, out, pre if pre is not None else out,
            M, N, K,
            *strides,
            HAS_BIAS=bias is not None, ACTIVATION=act, SAVE_PRE=pre is not None,
            DOT_FP32=dot_fp32, INPUT_PRECISION=precision,
            num_warps=num_warps, num_stages=num_stages, **meta)

    def key():
        pre_dtype = None if pre is None else _dtype_name(pre, "pre")
        return (dtype_name, act, bias is not None, pre_dtype, dot_fp32, precision, aligned, _unit_strides(*strides),
                tuning.bucket(M), N, K)
    _tuned_launch(launch, config, "forward", M, N, dtype_name, aligned, key)
    return out


def linear_backward_input(grad_out, weight, pre, grad_x, M, N, K,
                          stride_dym, stride_dyn, stride_wn, stride_wk, stride_dxm, stride_dxk,
                          activation="none", stride_pm=0, stride_pn=0, allow_tf32=False, config=None):
    """grad_x (M, K) = (grad_out * act'(pre)) @ weight, grad_out and pre (M, N), weight (N, K).
    `pre` may be None only for activation 'none'. A config's BLOCK_M x BLOCK_N is the dX tile
    (rows of M x columns of K) and its BLOCK_K the step over N."""
    _check_sizes(M, N, K)
    act = _activation_id(activation)
    dtype_name = _dtype_name(grad_out, "grad_out")
    _check_same_dtype(dtype_name, weight=weight, grad_x=grad_x)
    if act != ACT_NONE:
        if pre is None:
            raise ValueError(f"linear: activation {activation!r} needs the saved pre-activation (pre=None given)")
        _dtype_name(pre, "pre")
        _check_extent("pre", M, N, stride_pm, stride_pn)
    _check_extent("grad_out", M, N, stride_dym, stride_dyn)
    _check_extent("weight", N, K, stride_wn, stride_wk)
    _check_extent("grad_x", M, K, stride_dxm, stride_dxk)
    if M == 0 or K == 0:
        return grad_x  # (N == 0 launches: the loop runs no times and the kernel writes zeros)
    strides = (stride_dym, stride_dyn, stride_pm, stride_pn, stride_wn, stride_wk, stride_dxm, stride_dxk)
    aligned = _aligned((grad_out, weight, pre, grad_x), N, K, *strides)
    dot_fp32, precision = dot_settings(dtype_name, allow_tf32)

    def launch(chosen):
        num_warps, num_stages, meta = _launch_config(chosen, M, K, dtype_name, ("BLOCK_M", "BLOCK_K", "BLOCK_N"),
                                                    kernel="backward_input", aligned=aligned)
        grid = (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(K, meta["BLOCK_K"]),)
        linear_backward_input_kernel[grid](
            grad_out, pre if pre is not None else grad_out, weight, grad_x,
            M, N, K,
            *strides,
            ACTIVATION=act, DOT_FP32=dot_fp32, INPUT_PRECISION=precision,
            num_warps=num_warps, num_stages=num_stages, **meta)

    def key():
        pre_dtype = _dtype_name(pre, "pre") if act != ACT_NONE else None
        return (dtype_name, act, pre_dtype, dot_fp32, precision, aligned, _unit_strides(*strides), tuning.bucket(M),
                N, K)
    _tuned_launch(launch, config, "backward_input", M, K, dtype_name, aligned, key)
    return grad_x


def linear_backward_weight(grad_out, x, pre, grad_weight, grad_bias, M, N, K,
                           stride_dym, stride_dyn, stride_xm, stride_xk, stride_dwn, stride_dwk,
                           activation="none", stride_pm=0, stride_pn=0, allow_tf32=False, config=None):
    """grad_weight (N, K) = (grad_out * act'(pre)).T @ x and grad_bias (N,) = its column sums, in one
    launch. Either output may be None (not needed); not both. A config's BLOCK_M x BLOCK_N is the dW
    tile (rows of N x columns of K) and its BLOCK_K the step over M."""
    _check_sizes(M, N, K)
    act = _activation_id(activation)
    if grad_weight is None and grad_bias is None:
        raise ValueError("linear: linear_backward_weight needs grad_weight or grad_bias")
    dtype_name = _dtype_name(grad_out, "grad_out")
    _check_same_dtype(dtype_name, x=x, grad_weight=grad_weight, grad_bias=grad_bias)
    if act != ACT_NONE:
        if pre is None:
            raise ValueError(f"linear: activation {activation!r} needs the saved pre-activation (pre=None given)")
        _dtype_name(pre, "pre")
        _check_extent("pre", M, N, stride_pm, stride_pn)
    _check_extent("grad_out", M, N, stride_dym, stride_dyn)
    _check_extent("x", M, K, stride_xm, stride_xk)
    if grad_weight is not None:
        _check_extent("grad_weight", N, K, stride_dwn, stride_dwk)
    if N == 0 or (grad_bias is None and K == 0):
        return grad_weight, grad_bias  # (M == 0 launches: the loop runs no times and zeros are written)
    compute_dw = grad_weight is not None and K > 0
    strides = (stride_dym, stride_dyn, stride_pm, stride_pn, stride_xm, stride_xk, stride_dwn, stride_dwk)
    aligned = _aligned((grad_out, x, pre, grad_weight, grad_bias), N, K if compute_dw else 1, *strides)
    dot_fp32, precision = dot_settings(dtype_name, allow_tf32)

    def launch(chosen):
        num_warps, num_stages, meta = _launch_config(chosen, N, max(K, 1), dtype_name,
                                                    ("BLOCK_N", "BLOCK_K", "BLOCK_M"), kernel="backward_weight",
                                                    aligned=aligned)
        # Without dW, one program per column tile (pid_k == 0 everywhere) sums db.
        k_tiles = triton.cdiv(K, meta["BLOCK_K"]) if compute_dw else 1
        grid = (triton.cdiv(N, meta["BLOCK_N"]) * k_tiles,)
        linear_backward_weight_kernel[grid](
            grad_out, pre if pre is not None else grad_out, x,
            grad_weight if grad_weight is not None else grad_out, grad_bias if grad_bias is not None else grad_out,
            M, N, K if compute_dw else 1,
            *strides,
            ACTIVATION=act, COMPUTE_DW=compute_dw, COMPUTE_DB=grad_bias is not None,
            DOT_FP32=dot_fp32, INPUT_PRECISION=precision,
            num_warps=num_warps, num_stages=num_stages, **meta)

    def key():
        pre_dtype = _dtype_name(pre, "pre") if act != ACT_NONE else None
        return (dtype_name, act, pre_dtype, compute_dw, grad_bias is not None, dot_fp32, precision, aligned,
                _unit_strides(*strides), tuning.bucket(M), N, K)
    _tuned_launch(launch, config, "backward_weight", N, max(K, 1), dtype_name, aligned, key)
    return grad_weight, grad_bias
