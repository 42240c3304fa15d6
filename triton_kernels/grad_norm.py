"""The total norm of many tensors, and scaling them all by a clip coefficient: two launches, no host sync.

`clip_grad_norm_` on `cuda` is these two launches over every gradient of every parameter, whatever their
number (PyTorch's foreach path: a norm kernel per tensor list, a stack, another norm, a multiply):

    1. `_norm_partials_kernel`: program i walks blocks i, i + G, i + 2G, ... of a block table covering every
       tensor and accumulates sum |x|^p (max |x| for inf, min |x| for -inf) into partials[i] (G <= 1024).
    2. `_finish_kernel`: every program folds the G partials into the total norm (program 0 stores it, in the
       tensors' promoted dtype), then, with SCALE, computes min(max_norm / (total + 1e-6), 1) -- on the device,
       rounded to the total's dtype as PyTorch's 0-dim coefficient is -- and multiplies its blocks by it in
       place (grid-stride again). With FROM_TOTAL it reads the total from a tensor instead (clip_grads_with_norm_).

The block table (built on the host once per set of tensors, `build_blocks`) holds one int64 row per block of
BLOCK_SIZE elements: (address, first element, the tensor's size, dtype code). Tensors of different float
dtypes go in one table: each block branches on its dtype code (uniform within a program's block, so the branch
costs a scalar load). Accumulation is in float32, or float64 when any tensor is float64.
"""
import numpy as np
import triton
import triton.language as tl

from .elementwise import _to_bfloat16
from .interpreter import libdevice
from .random import float64_from_bits, float_bits
from .strided import dtype_name_of, interpreting, is_contiguous, numel

DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 2, "float64": 3}
NORMS = ("2", "1", "inf", "-inf", "p")
# Memory-bound streams: 4096 elements x 8 warps per block (16 per thread), at most 1024 programs, which bounds
# the partials every program of the second launch folds. Unmeasured on a GPU. The interpreter pays per program
# and per loop step, so it takes big blocks and few programs.
BLOCK_SIZE, NUM_WARPS, MAX_PROGRAMS = 4096, 8, 1024
INTERPRETER_BLOCK_SIZE, INTERPRETER_PROGRAMS = 1 << 16, 2
_COMPUTE = {"float32": tl.float32, "float64": tl.float64}
_OUT = {"float32": tl.float32, "float16": tl.float16, "bfloat16": tl.bfloat16, "float64": tl.float64}


@triton.jit
def _block(blocks_ptr, row, BLOCK_SIZE: tl.constexpr):
    # Block `row` of the table: its tensor's address, the element offsets, their mask, and the dtype code.
    entry = blocks_ptr + row * 4
    address = tl.load(entry)
    offs = tl.load(entry + 1) + tl.arange(0, BLOCK_SIZE).to(tl.int64)
    mask = offs < tl.load(entry + 2)
    return address, offs, mask, tl.load(entry + 3)


@triton.jit
def _load(address, offs, mask, code, COMPUTE: tl.constexpr):
    # The block's elements in COMPUTE, whatever their dtype (bf16 widened before anything else: the interpreter
    # holds it as raw bits).
    if code == 0:
        x = tl.load(address.to(tl.pointer_type(tl.float32)) + offs, mask=mask, other=0.0).to(COMPUTE)
    elif code == 1:
        x = tl.load(address.to(tl.pointer_type(tl.float16)) + offs, mask=mask, other=0.0).to(tl.float32).to(COMPUTE)
    elif code == 2:
        x = tl.load(address.to(tl.pointer_type(tl.bfloat16)) + offs, mask=mask, other=0.0).to(tl.float32).to(COMPUTE)
    else:
        x = tl.load(address.to(tl.pointer_type(tl.float64)) + offs, mask=mask, other=0.0).to(COMPUTE)
    return x


@triton.jit
def _store(address, offs, mask, code, value):
    # `value` into the block, in the tensor's dtype (bf16 rounded to nearest even, as ml_dtypes and the GPU do).
    if code == 0:
        tl.store(address.to(tl.pointer_type(tl.float32)) + offs, value.to(tl.float32), mask=mask)
    elif code == 1:
        tl.store(address.to(tl.pointer_type(tl.float16)) + offs, value.to(tl.float16), mask=mask)
    elif code == 2:
        tl.store(address.to(tl.pointer_type(tl.bfloat16)) + offs, _to_bfloat16(value.to(tl.float32)), mask=mask)
    else:
        tl.store(address.to(tl.pointer_type(tl.float64)) + offs, value.to(tl.float64), mask=mask)


@triton.jit
def _round_to(value, OUT: tl.constexpr, COMPUTE: tl.constexpr):
    # `value` rounded to the dtype OUT and back to COMPUTE (the total and the coefficient PyTorch returns and
    # multiplies by are 0-dim tensors of the tensors' dtype).
    if OUT == tl.bfloat16:
        rounded = _to_bfloat16(value.to(tl.float32)).to(tl.float32).to(COMPUTE)
    else:
        rounded = value.to(OUT).to(COMPUTE)
    return rounded


@triton.jit
def _reciprocal(x):
    # IEEE-rounded 1 / x (fp32 `/` is approximate on GPUs; fp64's is exact already)
    if x.dtype == tl.float32:
        result = tl.div_rn(tl.full(x.shape, 1.0, tl.float32), x)
    else:
        result = 1.0 / x
    return result


@triton.jit
def _fold(acc, value, NORM: tl.constexpr):
    # Combine partial results of the norm's reduction; nan propagates through max and min.
    if NORM == "inf":
        result = tl.where((value > acc) | (value != value), value, acc)
    elif NORM == "-inf":
        result = tl.where((value < acc) | (value != value), value, acc)
    else:
        result = acc + value
    return result


@triton.jit
def _neutral(NORM: tl.constexpr, COMPUTE: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # The reduction's neutral element as a block: 0 for sums and max |x|, +inf for min |x|.
    if NORM == "-inf":
        result = tl.full((BLOCK_SIZE,), float("inf"), COMPUTE)
    else:
        result = tl.zeros((BLOCK_SIZE,), COMPUTE)
    return result


@triton.jit
def _reduce(acc, NORM: tl.constexpr):
    # A block of partial results folded to one (max and min return nan when any is nan).
    if NORM == "inf":
        result = tl.max(acc, axis=0)
    elif NORM == "-inf":
        result = tl.min(acc, axis=0)
    else:
        result = tl.sum(acc, axis=0)
    if NORM == "inf" or NORM == "-inf":
        result = tl.where(tl.max((acc != acc).to(tl.int32), axis=0) > 0, float("nan"), result)
    return result


@triton.jit
def _term(x, mask, p, NORM: tl.constexpr):
    # One element's contribution: x^2, |x| (1, inf, -inf) or |x|^p; masked lanes the neutral element.
    size = tl.abs(x)
    if NORM == "2":
        term = x * x
    elif NORM == "p":
        term = tl.where(mask, libdevice.pow(size, p), 0.0)
    elif NORM == "-inf":
        term = tl.where(mask, size, float("inf"))
    else:
        term = size
    return term


@triton.jit(do_not_specialize=["n_blocks", "p_bits"])
def _norm_partials_kernel(
        # pointers
        blocks_ptr, partials_ptr,
        # sizes and the norm's order (NORM == "p"), as float64 bits
        n_blocks, p_bits,
        # meta-parameters
        NORM: tl.constexpr, COMPUTE: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # One program folds blocks pid, pid + G, ... of the table into partials[pid].
    pid = tl.program_id(0)
    p = float64_from_bits(p_bits).to(COMPUTE)
    acc = _neutral(NORM, COMPUTE, BLOCK_SIZE)
    for row in range(pid, n_blocks, tl.num_programs(0)):
        address, offs, mask, code = _block(blocks_ptr, row, BLOCK_SIZE)
        acc = _fold(acc, _term(_load(address, offs, mask, code, COMPUTE), mask, p, NORM), NORM)
    tl.store(partials_ptr + pid, _reduce(acc, NORM))


@triton.jit(do_not_specialize=["n_partials", "n_blocks", "p_bits", "max_norm_bits"])
def _finish_kernel(
        # pointers
        partials_ptr, total_ptr, blocks_ptr,
        # sizes, and the norm's order and the max norm as float64 bits
        n_partials, n_blocks, p_bits, max_norm_bits,
        # meta-parameters
        NORM: tl.constexpr, COMPUTE: tl.constexpr, FROM_TOTAL: tl.constexpr, SCALE: tl.constexpr,
        PARTIALS_BLOCK: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # Every program folds the partials into the total norm (program 0 stores it); with SCALE, it then multiplies
    # blocks pid, pid + G, ... by min(max_norm / (total + 1e-6), 1).
    pid = tl.program_id(0)
    OUT: tl.constexpr = total_ptr.dtype.element_ty
    if FROM_TOTAL:
        total = tl.load(total_ptr).to(tl.float32).to(COMPUTE)
    else:
        acc = _neutral(NORM, COMPUTE, PARTIALS_BLOCK)
        for start in range(0, n_partials, PARTIALS_BLOCK):
            offs = start + tl.arange(0, PARTIALS_BLOCK)
            mask = offs < n_partials
            partial = tl.load(partials_ptr + offs, mask=mask, other=0.0)
            if NORM == "-inf":
                partial = tl.where(mask, partial, float("inf"))
            acc = _fold(acc, partial, NORM)
        total = _reduce(acc, NORM)
        if NORM == "2":
            if COMPUTE == tl.float32:
                total = tl.sqrt_rn(total)
            else:
                total = tl.sqrt(total)
        elif NORM == "p":
            total = libdevice.pow(total, 1.0 / float64_from_bits(p_bits).to(COMPUTE))
        if pid == 0:
            if OUT == tl.bfloat16:
                tl.store(total_ptr, _to_bfloat16(total.to(tl.float32)))
            else:
                tl.store(total_ptr, total.to(OUT))
        total = _round_to(total, OUT, COMPUTE)  # the coefficient comes from the total as returned
    if SCALE:
        # max_norm / (total + 1e-6) as PyTorch evaluates it: reciprocal (IEEE-rounded), then multiply
        coef = _reciprocal(total + 1e-6) * float64_from_bits(max_norm_bits).to(COMPUTE)
        coef = _round_to(tl.where(coef > 1.0, 1.0, coef), OUT, COMPUTE)  # clamp(max=1): nan stays nan
        for row in range(pid, n_blocks, tl.num_programs(0)):
            address, offs, mask, code = _block(blocks_ptr, row, BLOCK_SIZE)
            _store(address, offs, mask, code, _load(address, offs, mask, code, COMPUTE) * coef)


# ---- host side ------------------------------------------------------------------------------------------------

class Blocks:
    """The block table of a set of tensors (an int64 device array of (n_blocks, 4)) and what was built from."""

    def __init__(self, table, n_blocks, block_size, compute, out_dtype):
        self.table, self.n_blocks, self.block_size = table, n_blocks, block_size
        self.compute, self.out_dtype = compute, out_dtype


def promoted_dtype(names):
    """The dtype of the total norm: the tensors' common dtype, promoted as torch.stack promotes their norms."""
    names = set(names)
    if len(names) == 1:
        return names.pop()
    if "float64" in names:
        return "float64"
    return "float32"


def table_rows(arrays):
    """The host block table of `arrays` (float, contiguous): (n_blocks, 4) int64 rows and the block size."""
    block = INTERPRETER_BLOCK_SIZE if interpreting() else BLOCK_SIZE
    rows = []
    for i, array in enumerate(arrays):
        name = dtype_name_of(array)
        if name not in DTYPE_CODES:
            raise TypeError(f"grad_norm: tensor {i} is {name}; float32, float16, bfloat16 or float64 expected")
        n = numel(array.shape)
        if n > 1 and not is_contiguous(array.shape, array.stride()):
            raise ValueError(f"grad_norm: tensor {i} is not contiguous (shape {tuple(array.shape)}, strides "
                             f"{tuple(array.stride())})")
        starts = np.arange(0, n, block, dtype=np.int64)
        part = np.empty((len(starts), 4), np.int64)
        part[:, 0], part[:, 1], part[:, 2], part[:, 3] = array.data_ptr(), starts, n, DTYPE_CODES[name]
        rows.append(part)
    return (np.concatenate(rows) if rows else np.zeros((0, 4), np.int64)), block


def build_blocks(arrays, upload):
    """A Blocks for `arrays`; `upload` turns the host int64 table into an array the kernels read."""
    rows, block = table_rows(arrays)
    names = [dtype_name_of(a) for a in arrays]
    compute = "float64" if "float64" in names else "float32"
    return Blocks(upload(np.ascontiguousarray(rows)), len(rows), block, compute, promoted_dtype(names))


def _norm_kind(norm_type):
    if norm_type == 2:
        return "2", 2.0
    if norm_type == 1:
        return "1", 1.0
    if norm_type == float("inf"):
        return "inf", 0.0
    if norm_type == float("-inf"):
        return "-inf", 0.0
    if norm_type == 0:
        raise ValueError("grad_norm: the 0 'norm' (a count) is not a sum of powers; the caller composes it")
    return "p", float(norm_type)


def _programs(n_blocks):
    return max(1, min(n_blocks, INTERPRETER_PROGRAMS if interpreting() else MAX_PROGRAMS))


def total_norm(blocks, norm_type, total, partials, max_norm=None):
    """Store the `norm_type` norm of every tensor of `blocks` into `total` (a 0-dim array of
    `blocks.out_dtype`); with `max_norm`, also multiply them all in place by min(max_norm / (total + 1e-6), 1).
    `partials`: a scratch array of at least `partial_count(blocks)` elements of `blocks.compute`."""
    if dtype_name_of(total) != blocks.out_dtype:
        raise TypeError(f"total_norm: total is {dtype_name_of(total)}, the tensors' norm is {blocks.out_dtype}")
    norm, p = _norm_kind(float(norm_type))
    compute = _COMPUTE[blocks.compute]
    n_partials = partial_count(blocks)
    if blocks.n_blocks:
        _norm_partials_kernel[(n_partials,)](blocks.table, partials, blocks.n_blocks, float_bits(p), NORM=norm,
                                             COMPUTE=compute, BLOCK_SIZE=blocks.block_size, num_warps=NUM_WARPS)
    else:  # no elements at all: the norm of nothing (one neutral partial)
        n_partials = 0
    grid = _programs(blocks.n_blocks) if max_norm is not None else 1
    _finish_kernel[(grid,)](partials, total, blocks.table, n_partials, blocks.n_blocks, float_bits(p),
                            float_bits(0.0 if max_norm is None else max_norm), NORM=norm, COMPUTE=compute,
                            FROM_TOTAL=False, SCALE=max_norm is not None, PARTIALS_BLOCK=_partials_block(),
                            BLOCK_SIZE=blocks.block_size, num_warps=NUM_WARPS)


def scale_by_total(blocks, total, max_norm):
    """Multiply every tensor of `blocks` in place by min(max_norm / (total + 1e-6), 1), `total` a 0-dim float
    array on the device (any float dtype; the coefficient is rounded to it, as PyTorch's is)."""
    if dtype_name_of(total) not in _OUT:
        raise TypeError(f"scale_by_total: total must be a float array, got {dtype_name_of(total)}")
    if not blocks.n_blocks:
        return
    _finish_kernel[(_programs(blocks.n_blocks),)](total, total, blocks.table, 0, blocks.n_blocks, float_bits(0.0),
                                                  float_bits(max_norm), NORM="2", COMPUTE=_COMPUTE[blocks.compute],
                                                  FROM_TOTAL=True, SCALE=True, PARTIALS_BLOCK=_partials_block(),
                                                  BLOCK_SIZE=blocks.block_size, num_warps=NUM_WARPS)


def partial_count(blocks):
    return _programs(blocks.n_blocks)


def _partials_block():
    return INTERPRETER_PROGRAMS if interpreting() else MAX_PROGRAMS
