"""Counter-based random fills (Philox4x32-10, Triton's `tl.randint4x`): uniform, normal, bernoulli, randint.

Numbers depend only on (seed, offset, element index), never on the block size or the grid: element i of a
fill takes word `i % WORDS` of the Philox counter `offset + i // WORDS`, with WORDS = 4 (one 32-bit word
per element) or 2 (WIDE fills: two words, i.e. 64 random bits, per element: float64 uniforms and integer
ranges wider than 2**32). A fill uses `ceil(n / WORDS)` counters; every launcher returns that count, so a
generator (seed, offset) advances its offset by it and the next fill draws fresh numbers.

    uniform:   low + u * (high - low), u in [0, 1) from 31 bits (float32 math; 53 bits and float64 math for
               float64 outputs); a value that rounds to `high` in the output dtype becomes `low`, as PyTorch.
    normal:    mean + std * z, z from Box-Muller on pairs of uniforms (`tl.randn4x`; float32 z).
    bernoulli: u < p, p a scalar or one probability per element (an array); stored as 0/1 in any dtype.
    randint:   low + word % (high - low) (32-bit words, 64-bit ones when the range exceeds 2**32).

Launchers take a contiguous output array argument (see strided.py) and fill it; the caller allocates it.
Float parameters travel as float64 bit patterns (int64 arguments), so float64 fills get them unrounded.
"""
import numpy as np
import triton
import triton.language as tl

from .strided import collapse, dtype_name_of, interpreting, numel

# distribution op codes (constexpr globals, readable inside kernels)
UNIFORM, NORMAL, BERNOULLI, RANDINT = tl.constexpr(0), tl.constexpr(1), tl.constexpr(2), tl.constexpr(3)
_FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
# One Philox counter (4 elements) a thread. AOT (sm_80/sm_90): 1024 x 4 warps spilled 16 bytes in normal fills
# (ptxas capped them at 32 registers); 1024 x 8 warps and 512 x 4 did not. Unmeasured on a GPU.
_BLOCK_SIZE, _NUM_WARPS = 1024, 8
_INTERPRETER_BLOCK_SIZE = 16384  # the interpreter pays per program


@triton.jit
def float64_from_bits(bits):
    # The float64 whose bit pattern is `bits` (an integer argument from `float_bits`).
    return tl.cast(bits, tl.int64).to(tl.float64, bitcast=True)


@triton.jit
def _interleave2(a, b):
    # [a0, b0, a1, b1, ...]
    return tl.reshape(tl.join(a, b), (2 * a.shape[0],))


@triton.jit
def _interleave4(a, b, c, d):
    # [a0, b0, c0, d0, a1, ...]: join(join(a, c), join(b, d))[k, j, i] is word 2 * j + i of counter k
    return tl.reshape(tl.join(tl.join(a, c), tl.join(b, d)), (4 * a.shape[0],))


@triton.jit
def _words64(hi, lo):
    return (hi.to(tl.uint64) << 32) | lo.to(tl.uint64)


@triton.jit(do_not_specialize=["seed", "offset", "a_bits", "b_bits", "c_bits", "int_low", "int_range"])
def _philox_fill_kernel(
    # pointers
    out_ptr, p_ptr,
    # sizes
    n_elements,
    # the stream: a 64-bit key and the first counter
    seed, offset,
    # parameters: float64 bits (uniform: low, high - low, high rounded to the output dtype; normal: mean, std;
    # bernoulli: p) and int64 ones (randint: low, high - low)
    a_bits, b_bits, c_bits, int_low, int_range,
    # meta-parameters
    DIST: tl.constexpr, WIDE: tl.constexpr, FP64: tl.constexpr, P_IS_ARRAY: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
):
    # One program fills BLOCK_SIZE consecutive elements from BLOCK_SIZE / WORDS consecutive Philox counters.
    start = tl.program_id(0).to(tl.int64) * BLOCK_SIZE
    offs = start + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    compute_ty = tl.float64 if FP64 else tl.float32
    a = float64_from_bits(a_bits).to(compute_ty)
    b = float64_from_bits(b_bits).to(compute_ty)
    first = tl.cast(offset, tl.int64) + start // (2 if WIDE else 4)
    counters = first + tl.arange(0, BLOCK_SIZE // (2 if WIDE else 4))
    if DIST == NORMAL:
        z1, z2, z3, z4 = tl.randn4x(seed, counters)
        out = (a + b * _interleave4(z1, z2, z3, z4).to(compute_ty)).to(out_ptr.dtype.element_ty)
    else:
        r0, r1, r2, r3 = tl.randint4x(seed, counters)
        if WIDE:
            words = _interleave2(_words64(r0, r1), _words64(r2, r3))
        else:
            words = _interleave4(r0, r1, r2, r3)
        if DIST == RANDINT:
            span = (words.to(tl.uint64) % tl.cast(int_range, tl.uint64)).to(tl.int64)
            values = tl.cast(int_low, tl.int64) + span
            if out_ptr.dtype.element_ty == tl.bfloat16:  # through float32: the interpreter casts ints to bf16 bits
                values = values.to(tl.float32)
            out = values.to(out_ptr.dtype.element_ty)
        else:
            if WIDE:  # the top 53 bits of each 64-bit word
                u = (words >> 11).to(tl.float64) * 1.1102230246251565e-16
            else:
                u = tl.random.uint_to_uniform_float(words)
            if DIST == UNIFORM:
                out = (a + u.to(compute_ty) * b).to(out_ptr.dtype.element_ty)
                # PyTorch's rule: a value that rounds up to `high` (rounded to the output dtype) becomes `low`
                high = float64_from_bits(c_bits).to(compute_ty)
                out = tl.where(out.to(compute_ty) == high, a.to(out_ptr.dtype.element_ty), out)
            else:  # BERNOULLI
                if P_IS_ARRAY:
                    p = tl.load(p_ptr + offs, mask=mask, other=0.0).to(compute_ty)
                else:
                    p = a
                # 1.0/0.0 first: the interpreter cannot cast a bool block to bfloat16
                out = tl.where(u.to(compute_ty) < p, 1.0, 0.0).to(out_ptr.dtype.element_ty)
    tl.store(out_ptr + offs, out, mask=mask)


def float_bits(value):
    """The float64 bit pattern of `value`, as a Python int (an int64 kernel argument)."""
    return int(np.array(float(value), np.float64).view(np.int64))


def _check_out(name, out, dtypes):
    dtype = dtype_name_of(out)
    if dtype not in dtypes:
        raise TypeError(f"{name}: unsupported output dtype {dtype}; expected one of {', '.join(dtypes)}")
    n = numel(out.shape)
    if n > 1 and collapse(out.shape, out.stride())[1][0] != (1,):
        raise ValueError(f"{name}: the output must be contiguous, got shape {tuple(out.shape)} with strides "
                         f"{tuple(out.stride())}; fill a contiguous array and copy it")
    return n


def _check_seed_offset(name, seed, offset):
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"{name}: seed must be in [0, 2**64), got {seed}")
    if not 0 <= int(offset) < 2**63:
        raise ValueError(f"{name}: offset must be in [0, 2**63), got {offset}")


def _launch(name, out, seed, offset, dist, *, wide=False, a=0.0, b=0.0, c=0.0, int_low=0, int_range=1, p=None,
            dtypes=_FLOAT_DTYPES, block_size=None, num_warps=None):
    n = _check_out(name, out, dtypes)
    _check_seed_offset(name, seed, offset)
    words = 2 if wide else 4
    if block_size is None:
        block_size = _INTERPRETER_BLOCK_SIZE if interpreting() else _BLOCK_SIZE
    if block_size < 4 or block_size & (block_size - 1):
        raise ValueError(f"{name}: block_size must be a power of two >= 4, got {block_size}")
    if n > 0:
        _philox_fill_kernel[(triton.cdiv(n, block_size),)](
            out, out if p is None else p,
            n,
            int(seed), int(offset),
            float_bits(a), float_bits(b), float_bits(c), int(int_low), int(int_range),
            DIST=dist, WIDE=wide, FP64=dtype_name_of(out) == "float64", P_IS_ARRAY=p is not None,
            BLOCK_SIZE=block_size,
            num_warps=num_warps or _NUM_WARPS,
        )
    return -(-n // words)


def _rounded(value, dtype):
    """`value` rounded to the output dtype (as PyTorch's static_cast: float16/bfloat16 from a float32)."""
    dtype = np.dtype(dtype)
    return float(np.asarray(value, np.float64 if dtype == np.float64 else np.float32).astype(dtype))


def uniform_fill(out, seed, offset, low=0.0, high=1.0, **launch):
    """Fill the contiguous float array `out` with U[low, high); returns the number of Philox counters used."""
    if not float(low) <= float(high):
        raise ValueError(f"uniform_fill: expects low <= high, got [{low}, {high})")
    return _launch("uniform_fill", out, seed, offset, UNIFORM, wide=dtype_name_of(out) == "float64",
                   a=low, b=float(high) - float(low), c=_rounded(high, out.dtype), **launch)


def normal_fill(out, seed, offset, mean=0.0, std=1.0, **launch):
    """Fill the contiguous float array `out` with N(mean, std**2); returns the number of Philox counters used."""
    if not float(std) >= 0.0:
        raise ValueError(f"normal_fill: expects std >= 0.0, got {std}")
    return _launch("normal_fill", out, seed, offset, NORMAL, a=mean, b=std, **launch)


def bernoulli_fill(out, seed, offset, p=0.5, **launch):
    """Fill `out` (any float, int or bool dtype) with 1 where u < p else 0; `p` is a float in [0, 1] or a
    contiguous float array of probabilities with out's number of elements. Returns the counters used."""
    dtypes = _FLOAT_DTYPES + _INT_DTYPES + ("bool",)
    if hasattr(p, "data_ptr"):
        if dtype_name_of(p) not in _FLOAT_DTYPES:
            raise TypeError(f"bernoulli_fill: probabilities must be a float array, got {p.dtype}")
        if numel(p.shape) != numel(out.shape):
            raise ValueError(f"bernoulli_fill: {numel(p.shape)} probabilities for {numel(out.shape)} elements "
                             f"(shapes {tuple(p.shape)} and {tuple(out.shape)})")
        _check_out("bernoulli_fill", p, _FLOAT_DTYPES)
        return _launch("bernoulli_fill", out, seed, offset, BERNOULLI, p=p, dtypes=dtypes, **launch)
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"bernoulli_fill: expects 0 <= p <= 1, got {p}")
    return _launch("bernoulli_fill", out, seed, offset, BERNOULLI, a=p, dtypes=dtypes, **launch)


def randint_fill(out, seed, offset, low, high, **launch):
    """Fill `out` (any int or float dtype) with integers uniform in [low, high); returns the counters used."""
    low, high = int(low), int(high)
    if not low < high:
        raise ValueError(f"randint_fill: expects low < high, got [{low}, {high})")
    if not (-2**63 <= low and high - low < 2**63):
        raise ValueError(f"randint_fill: the range [{low}, {high}) must be narrower than 2**63")
    return _launch("randint_fill", out, seed, offset, RANDINT, wide=high - low > 2**32, int_low=low,
                   int_range=high - low, dtypes=_FLOAT_DTYPES + _INT_DTYPES, **launch)
