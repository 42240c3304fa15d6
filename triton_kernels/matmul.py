"""Batched strided matmul: `C[b] = A[b] @ B[b]` for every float and integer dtype.

Three layers, as for every GPU op: one `@triton.jit` kernel, then a host launcher that takes array
arguments (triton_kernels/strided.py: `data_ptr()`, `dtype`, `shape`, `stride()` in elements),
checks them, picks a tile config for the GPU's architecture and launches. The caller allocates
`out`; nothing here imports `framework` or torch.

Shapes: a (..., M, K), b (..., K, N), out (..., M, N). Any strides: transposed and sliced views are
read through their strides, never copied. The batch dims of `a` and `b` broadcast to `out`'s
(size 1 or stride 0); after merging the batch dims that are contiguous in all three operands
(`strided.collapse`) at most two may remain, which covers every layout matmul's broadcasting makes
from contiguous operands ((2, 1, M, K) @ (5, K, N) included); the caller copies in the rare rest.

Numbers, by operand dtype (one kernel, a constexpr ACC picks the path):
  float16 / bfloat16  tl.dot on the 16-bit tiles (tensor cores; wgmma on sm_90), fp32 accumulator.
  float32             tl.dot in IEEE fp32 (FMA), or TF32 tensor cores when `allow_tf32`.
  float64             tl.dot in fp64 (DMMA: `mma.sync...f64` on sm_80/sm_90, checked by AOT).
  int8..int64, uint8  no dot (tl.dot takes no 64-bit integers): a broadcast multiply and sum per
                      K step, accumulated in int64 and wrapped to the output's width, as PyTorch's
                      CPU integer matmul does.
Under Triton's interpreter bf16 values are raw bits, so float tiles are upcast to fp32 (fp64 stays
fp64) before the dot (DOT_FP32): there every float dot runs in fp32 or better.

Program order: a 1-D grid of (batch, tile) pairs; within one batch entry the output tiles go in the
matmul tutorial's grouped order (`grouped_tile`) so GROUP_SIZE_M row tiles share the B columns in L2.
"""
import triton
import triton.language as tl

from . import tuning

from .strided import collapse, dtype_name_of, interpreting

# ACC: which accumulator and path the kernel uses
ACC_FP32, ACC_FP64, ACC_INT64 = 0, 1, 2
_ACC = {"float32": ACC_FP32, "float16": ACC_FP32, "bfloat16": ACC_FP32, "float64": ACC_FP64,
        "int64": ACC_INT64, "int32": ACC_INT64, "int16": ACC_INT64, "int8": ACC_INT64, "uint8": ACC_INT64}
MAX_BATCH_DIMS = 2


# ----------------------------------------------------------------------------------------------
# Tile configs, per architecture and dtype class. NONE IS MEASURED: this project has had no GPU run
# yet. They start from the Triton matmul tutorial's CUDA configs (03-matrix-multiplication.py) and
# were cut down until ptxas reported no register spills (AOT, tests/triton_kernels/test_matmul.py)
# in each of four layouts: contiguous and 16-aligned, A transposed, B transposed, and unaligned
# (odd strides, e.g. K = 13: no vectorised loads). To be swept on an H100 and an A100 and replaced
# with measured choices, naming the sweep here. Constraints they satisfy:
# - sm_90 16-bit and TF32 tiles have BLOCK_M a multiple of 64 with 4 or 8 warps (one warpgroup per
#   64 rows) and lower to wgmma (checked);
# - sm_80 tiles need at most 64 KB of shared memory, so Ampere/Ada parts with 100 KB per SM
#   (sm_86/sm_89) run them too.
# Evidence for the cuts (AOT, Triton 3.9, registers / spilled bytes):
# - sm_90 16-bit: the tutorial's 128x256x64 (8 warps, 3 stages) spills 336 B unaligned; 128x128x64 none.
# - sm_90 TF32: 128x128x32 spills 56 B unaligned at 2, 3 or 4 stages; 64x128x32 (4 warps) none.
# - sm_80 16-bit small: 64x64x32 spills 16-32 B with B transposed; 64x128x32 none.
# - sm_80 IEEE fp32: 64x64x32 spills 560 B with A transposed; 64x64x16 none.
# - int64 (no dot): 32x32x8 takes 232 registers on sm_80 (no spill), 32x32x4 128; on sm_90 32x32x4
#   spills 8-52 B (ptxas caps it at 128 registers), 32x32x8 does not.
# Triton 3.6 (what PyTorch 2.11 pins) compiles differently; every tile must pass under it too:
# - sm_90 16-bit small: 64x128x64 (4 warps, 4 stages) spilled 1544 B unaligned under 3.6 (none under 3.9);
#   64x128x32 none under either (238 registers unaligned), wgmma kept.
# - sm_90 IEEE fp32: 64x64x32 spilled 20 B unaligned under 3.6; 64x64x16 (sm_80's tile) none under either.
# - sm_80 16-bit small: 64x128x32 at 4 stages spilled 16 B A-transposed under 3.6; at 3 stages none.
# "large" is for outputs with at least ~132 large tiles (one per H100 SM); "small" otherwise.
# ----------------------------------------------------------------------------------------------
def _config(block_m, block_n, block_k, num_warps, num_stages, group_size_m=8):
    return dict(BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, GROUP_SIZE_M=group_size_m,
                num_warps=num_warps, num_stages=num_stages)


CONFIGS = {
    90: {
        "16bit_large": _config(128, 128, 64, 8, 3),
        "16bit_small": _config(64, 128, 32, 4, 4),
        "tf32_large": _config(64, 128, 32, 4, 3),
        "tf32_small": _config(64, 64, 32, 4, 4),
        "fp32": _config(64, 64, 16, 4, 3),  # IEEE fp32: an FMA loop with both tiles in registers
        "fp64": _config(64, 64, 16, 4, 3),
        "int": _config(32, 32, 8, 4, 1),
    },
    80: {
        "16bit_large": _config(128, 128, 32, 8, 4),
        "16bit_small": _config(64, 128, 32, 4, 3),
        "tf32_large": _config(128, 128, 16, 8, 4),
        "tf32_small": _config(64, 64, 32, 4, 3),
        "fp32": _config(64, 64, 16, 4, 3),
        "fp64": _config(64, 64, 16, 4, 3),
        "int": _config(32, 32, 4, 4, 1),
    },
}
SM_COUNT_GUESS = 132  # an H100 SXM: the size rule's "enough tiles to fill the GPU"


def _next_power_of_2(n):
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


_ARCH = []


def current_arch():
    """The GPU's compute capability as an int (80, 90, ...) or None under the interpreter; looked up once."""
    if interpreting():
        return None
    if not _ARCH:
        _ARCH.append(triton.runtime.driver.active.get_current_target().arch)
    return _ARCH[0]


def config_table(arch):
    """The config table for compute capability `arch`: sm_90 and newer use Hopper's, the rest Ampere's."""
    return CONFIGS[90] if arch is not None and arch >= 90 else CONFIGS[80]


def config_kind(dtype_name, allow_tf32):
    """'16bit', 'tf32', 'fp32', 'fp64' or 'int': the dtype class that selects a config."""
    if dtype_name in ("float16", "bfloat16"):
        return "16bit"
    if dtype_name == "float32":
        return "tf32" if allow_tf32 else "fp32"
    return "fp64" if dtype_name == "float64" else "int"


def pick_config(M, N, K, dtype_name, allow_tf32=False, arch=None):
    """The tile config for an (M x K) @ (K x N) product: the table of `arch` (default: this GPU's) by
    dtype class and output size. Under the interpreter (no `arch`), whose cost is per program
    instance, one tile covers as much of the output as 64x64 allows (at least 16, tl.dot's minimum)."""
    if arch is None:
        if interpreting():
            tile = lambda n: max(16, min(64, _next_power_of_2(n)))  # noqa: E731
            return _config(tile(M), tile(N), tile(K), 4, 1, group_size_m=4)
        arch = current_arch()
    table = config_table(arch)
    kind = config_kind(dtype_name, allow_tf32)
    if kind in ("16bit", "tf32"):
        big = table[kind + "_large"]
        tiles = triton.cdiv(M, big["BLOCK_M"]) * triton.cdiv(N, big["BLOCK_N"])
        return big if tiles >= SM_COUNT_GUESS else table[kind + "_small"]
    return table[kind]


def candidates(M, N, K, dtype_name, allow_tf32=False, arch=None):
    """The configs the tuner may time (triton_kernels/tuning.py), `pick_config`'s choice first: for 16-bit and
    TF32 products the table's large and small tiles, both AOT-compiled spill-free in every layout
    (test_matmul.py); one config, never timed, for every other dtype class."""
    first = pick_config(M, N, K, dtype_name, allow_tf32, arch)
    kind = config_kind(dtype_name, allow_tf32)
    if (arch is None and interpreting()) or kind not in ("16bit", "tf32"):
        return (first,)
    table = config_table(current_arch() if arch is None else arch)
    other = table[kind + "_small"] if first is table[kind + "_large"] else table[kind + "_large"]
    return (first, other)


def dot_settings(dtype_name, allow_tf32):
    """(DOT_FP32, INPUT_PRECISION) for a float dot: under the interpreter 16-bit/fp32 tiles are upcast to
    fp32 (bf16 is raw bits there) and it ignores the precision; on a GPU, TF32 only when asked for fp32."""
    interpreted = interpreting()
    precision = "tf32" if (dtype_name == "float32" and allow_tf32 and not interpreted) else "ieee"
    return interpreted, precision


# ----------------------------------------------------------------------------------------------
# Kernel
# ----------------------------------------------------------------------------------------------
@triton.jit
def grouped_tile(pid, n_rows, n_cols, BLOCK_ROWS: tl.constexpr, BLOCK_COLS: tl.constexpr,
                 GROUP_SIZE: tl.constexpr):
    """Program id -> (row tile, column tile) in the matmul tutorial's grouped order: GROUP_SIZE row
    tiles sweep the column tiles together, so the column operand stays in L2 across them."""
    num_pid_rows = tl.cdiv(n_rows, BLOCK_ROWS)
    num_pid_cols = tl.cdiv(n_cols, BLOCK_COLS)
    num_pid_in_group = GROUP_SIZE * num_pid_cols
    group_id = pid // num_pid_in_group
    first_pid_row = group_id * GROUP_SIZE
    group_size = min(num_pid_rows - first_pid_row, GROUP_SIZE)
    pid_row = first_pid_row + ((pid % num_pid_in_group) % group_size)
    pid_col = (pid % num_pid_in_group) // group_size
    return pid_row, pid_col


@triton.jit
def matmul_kernel(
        # Pointers
        a_ptr, b_ptr, c_ptr,
        # Sizes
        M, N, K, n_batch_inner,
        # Strides (two batch dims, rows, columns)
        stride_ab0, stride_ab1, stride_am, stride_ak,
        stride_bb0, stride_bb1, stride_bk, stride_bn,
        stride_cb0, stride_cb1, stride_cm, stride_cn,
        # Meta-parameters
        ACC: tl.constexpr, DOT_FP32: tl.constexpr, INPUT_PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_SIZE_M: tl.constexpr):
    # One program computes a BLOCK_M x BLOCK_N tile of C[b] = A[b] @ B[b] for one batch entry b,
    # looping over K.
    pid = tl.program_id(0).to(tl.int64)
    tiles_per_batch = tl.cdiv(M, BLOCK_M) * tl.cdiv(N, BLOCK_N)
    batch = pid // tiles_per_batch
    pid_m, pid_n = grouped_tile(pid % tiles_per_batch, M, N, BLOCK_M, BLOCK_N, GROUP_SIZE_M)
    batch_outer = batch // n_batch_inner
    batch_inner = batch % n_batch_inner
    a_ptr += batch_outer * stride_ab0 + batch_inner * stride_ab1
    b_ptr += batch_outer * stride_bb0 + batch_inner * stride_bb1
    c_ptr += batch_outer * stride_cb0 + batch_inner * stride_cb1

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    # Ragged M/N edges: rows past M (columns past N) wrap onto valid ones for the loads, as in the
    # matmul tutorial, so the loads are masked on K only; the store is masked on M and N. int64: a
    # single matrix may span more than 2**31 elements.
    offs_am = (offs_m % M).to(tl.int64)
    offs_bn = (offs_n % N).to(tl.int64)
    a_ptrs = a_ptr + offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak  # (BLOCK_M, BLOCK_K)
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn  # (BLOCK_K, BLOCK_N)

    if ACC == 1:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float64)
    elif ACC == 2:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int64)
    else:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K
        a = tl.load(a_ptrs, mask=offs_k[None, :] < k_left, other=0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < k_left, other=0)
        if ACC == 2:
            # No integer tl.dot for 64-bit: multiply-accumulate a (BLOCK_M, BLOCK_K, BLOCK_N) product.
            acc += tl.sum(a.to(tl.int64)[:, :, None] * b.to(tl.int64)[None, :, :], axis=1)
        else:
            if DOT_FP32:
                if ACC == 0:
                    a = a.to(tl.float32)
                    b = b.to(tl.float32)
            # out_dtype: Triton < 3.8 takes fp32 by default, not the accumulator's dtype, and rejects an fp64 acc
            acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION, out_dtype=acc.dtype)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    offs_cm = offs_m.to(tl.int64)
    offs_cn = offs_n.to(tl.int64)
    c_ptrs = c_ptr + offs_cm[:, None] * stride_cm + offs_cn[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


# ----------------------------------------------------------------------------------------------
# Host launcher
# ----------------------------------------------------------------------------------------------
def _shape_text(shape):
    return "x".join(str(s) for s in shape)


def batch_layout(a, b, out):
    """(n_batch_outer, n_batch_inner, strides of a, b, out over those two dims): the batch dims of `a` and
    `b` broadcast against `out`'s, merged where contiguous. Raises ValueError when more than two remain."""
    batch = tuple(out.shape[:-2])
    strides = []
    for name, array in (("a", a), ("b", b)):
        own, own_strides = tuple(array.shape[:-2]), tuple(array.stride()[:-2])
        if len(own) > len(batch):
            raise ValueError(f"matmul: {name} has batch dims {own}, more than out's {batch}")
        pad = len(batch) - len(own)
        own, own_strides = (1,) * pad + own, (0,) * pad + own_strides
        for size, target in zip(own, batch):
            if size not in (1, target):
                raise ValueError(f"matmul: {name}'s batch dims {tuple(array.shape[:-2])} do not broadcast to "
                                 f"out's {batch}")
        strides.append(tuple(0 if size == 1 else st for size, st in zip(own, own_strides)))
    strides.append(tuple(out.stride()[:-2]))
    merged, merged_strides = collapse(batch, *strides) if batch else ((1,), [(0,), (0,), (0,)])
    if len(merged) > MAX_BATCH_DIMS:
        raise ValueError(f"matmul: batch dims {batch} with these strides merge to {len(merged)} dims; the kernel "
                         f"takes at most {MAX_BATCH_DIMS}: make the operands contiguous first")
    pad = MAX_BATCH_DIMS - len(merged)
    merged = (1,) * pad + tuple(merged)
    merged_strides = [(0,) * pad + tuple(st) for st in merged_strides]
    return merged[0], merged[1], merged_strides


def matmul(a, b, out, *, allow_tf32=False, config=None):
    """out[..., M, N] = a[..., M, K] @ b[..., K, N], the batch dims of a and b broadcast to out's.

    a and b share one dtype: float32/16, bfloat16, float64, or int8/16/32/64, uint8; out has it too, or is
    float32 for float16/bfloat16 operands (the fp32 accumulator stored unrounded). `allow_tf32`
    lets fp32 products use TF32 tensor cores (PyTorch's `torch.backends.cuda.matmul.allow_tf32`).
    `config` overrides the tile config (a dict like CONFIGS' values). Returns `out`."""
    for name, array in (("a", a), ("b", b), ("out", out)):
        if len(array.shape) < 2:
            raise ValueError(f"matmul: {name} must have at least 2 dims (..., rows, cols), got shape "
                             f"{tuple(array.shape)}")
    dtype_name = dtype_name_of(a)
    if dtype_name not in _ACC:
        raise TypeError(f"matmul: unsupported dtype {a.dtype}; expected one of {', '.join(_ACC)}")
    if dtype_name_of(b) != dtype_name:
        raise TypeError(f"matmul: b has dtype {b.dtype}, expected {dtype_name} like a")
    out_name = dtype_name_of(out)
    if out_name != dtype_name and not (_ACC[dtype_name] == ACC_FP32 and out_name == "float32"):
        raise TypeError(f"matmul: out has dtype {out.dtype}, expected {dtype_name} like a (or float32 for "
                        f"16-bit operands)")
    M, K = a.shape[-2:]
    K_b, N = b.shape[-2:]
    if K != K_b:
        raise ValueError(f"matmul: mat1 and mat2 shapes cannot be multiplied ({M}x{K} and {K_b}x{N})")
    if tuple(out.shape[-2:]) != (M, N):
        raise ValueError(f"matmul: out has shape {_shape_text(out.shape)}, expected (..., {M}, {N}) for "
                         f"{_shape_text(a.shape)} @ {_shape_text(b.shape)}")
    n_outer, n_inner, (sa, sb, sc) = batch_layout(a, b, out)
    if M == 0 or N == 0 or n_outer * n_inner == 0:
        return out
    acc = _ACC[dtype_name]
    dot_fp32, precision = dot_settings(dtype_name, allow_tf32)
    stride_am, stride_ak = a.stride()[-2:]
    stride_bk, stride_bn = b.stride()[-2:]
    stride_cm, stride_cn = out.stride()[-2:]

    def launch(chosen):
        meta = dict(chosen)
        num_warps, num_stages = meta.pop("num_warps", 4), meta.pop("num_stages", 3)
        tiles = triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"])
        matmul_kernel[(tiles * n_outer * n_inner,)](
            a, b, out,
            M, N, K, n_inner,
            sa[0], sa[1], stride_am, stride_ak,
            sb[0], sb[1], stride_bk, stride_bn,
            sc[0], sc[1], stride_cm, stride_cn,
            ACC=acc, DOT_FP32=dot_fp32, INPUT_PRECISION=precision,
            num_warps=num_warps, num_stages=num_stages, **meta)

    if config is None:
        # On a GPU the tuner times the large and small tiles once per key (the kernel only writes `out`, which
        # never aliases a or b: idempotent, as tuning.py requires); elsewhere `pick_config`'s choice.
        choices = candidates(M, N, K, dtype_name, allow_tf32)

        def key():
            # the layout as Triton specialises on it: unit strides and strides divisible by 16
            layout = tuple((st == 1, st % 16 == 0) for st in (stride_am, stride_ak, stride_bk, stride_bn, stride_cm,
                                                               stride_cn))
            return (dtype_name, dtype_name_of(out), allow_tf32, layout, tuning.bucket(M), N, K,
                    tuning.bucket(n_outer * n_inner))

        config = choices[tuning.choose("matmul", key, range(len(choices)), lambda i: launch(choices[i]))]
    launch(config)
    return out
