"""Scatter with a product, maximum or minimum: table[c ; dim <- index[c]] = combine(table[...], src[c]) for
every position c of `index` (scatter_reduce's 'prod', 'amax', 'amin'; 'sum' and 'mean' are indexing.scatter's
atomic add).

GPUs have atomic adds, maxima and minima for some types, but no atomic product, and their float maximum
drops NaN; so every combine here is one compare-and-swap loop: a lane reads its target, computes the combined
value, and swaps it in if the target still holds what it read, else reads again. Each round at least one lane
of those aiming at one target succeeds, so the loop ends. Floats are swapped as their bits (int32 for float32,
int64 for float64), which also makes a NaN compare equal to itself. The maximum and minimum propagate NaN, as
PyTorch's do. The order in which positions combine follows the hardware, so a float product rounds
nondeterministically (as PyTorch's atomics do on cuda). Narrow dtypes (float16, bfloat16, 8- and 16-bit
integers, bool) are combined in a wider copy that the caller allocates (CAS_DTYPES), then cast back once.

Indices are checked as indexing.py's kernels check them: one outside [0, size) touches nothing and is reported
in the caller's error record (device_errors.py), never waited for.
"""
import triton
import triton.language as tl

from .device_errors import check_record, report_bad_lanes
from .indexing import NUM_WARPS, _check_index_shapes, _geometry, block_size
from .strided import dtype_name_of, interpreting, strided_offsets

# GPU launch: 512 elements x 8 warps per program. From AOT register counts (ptxas), not timings (no GPU run yet):
# at indexing.py's 1024 the int64 swap loop spilled 16 B on sm_80 (amin, int64 table); at 512 every config takes
# 40-98 registers and spills nothing. The interpreter keeps indexing.py's one big block.
BLOCK_SIZE = 512
PROD, AMAX, AMIN = 0, 1, 2
REDUCTIONS = {"prod": PROD, "amax": AMAX, "amin": AMIN}
CAS_DTYPES = ("float32", "float64", "int32", "int64")  # what the table may be: 32/64-bit words to swap


@triton.jit
def _combine(old, val, REDUCE: tl.constexpr):
    # PyTorch's combine: a product, or a maximum/minimum in which a NaN on either side wins
    if REDUCE == 0:
        out = old * val
    elif REDUCE == 1:
        out = tl.where((old != old) | (val <= old), old, val)
    else:
        out = tl.where((old != old) | (val >= old), old, val)
    return out


@triton.jit(do_not_specialize=["error_code", "error_dim"])
def _scatter_reduce_kernel(
    # pointers
    table_ptr, index_ptr, src_ptr, error_ptr,
    # sizes (of the iteration shape = the index's, after merging; size0 implied by n_elements)
    n_elements, size1, size2, size3, size4, size5, dim_size,
    # strides, in elements: the table's (indexed dim zeroed), the index's, the source's; the indexed dim's
    stride_t0, stride_t1, stride_t2, stride_t3, stride_t4, stride_t5,
    stride_i0, stride_i1, stride_i2, stride_i3, stride_i4, stride_i5,
    stride_s0, stride_s1, stride_s2, stride_s3, stride_s4, stride_s5,
    stride_dim,
    # error reporting (device_errors.py)
    error_code, error_dim,
    # meta-parameters
    REDUCE: tl.constexpr, WRAP_NEGATIVE: tl.constexpr, WIDE_WORDS: tl.constexpr, NDIM: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
):
    # One program combines BLOCK_SIZE source elements into their table targets, one compare-and-swap loop over
    # the block: lanes whose swap failed (another lane changed the target first) go round again.
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    index_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                                 stride_i0, stride_i1, stride_i2, stride_i3, stride_i4, stride_i5, NDIM)
    table_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                                 stride_t0, stride_t1, stride_t2, stride_t3, stride_t4, stride_t5, NDIM)
    src_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                               stride_s0, stride_s1, stride_s2, stride_s3, stride_s4, stride_s5, NDIM)
    given = tl.load(index_ptr + index_offs, mask=mask, other=0).to(tl.int64)
    index = given
    if WRAP_NEGATIVE:
        index = tl.where(index < 0, index + dim_size, index)
    in_range = (index >= 0) & (index < dim_size)
    report_bad_lanes(error_ptr, error_code, mask & ~in_range, given, error_dim, dim_size, BLOCK_SIZE)
    pending = mask & in_range
    # lanes with nothing to combine aim at the table's first element and swap in what they read: a no-op (they
    # read only while another lane is pending, so an empty table, where no lane can be, is never read)
    target = table_ptr + tl.where(pending, table_offs + index * stride_dim, 0)
    val = tl.load(src_ptr + src_offs, mask=pending, other=0).to(table_ptr.dtype.element_ty)
    if WIDE_WORDS:
        words = target.to(tl.pointer_type(tl.int64), bitcast=True)
        word_type = tl.int64
    else:
        words = target.to(tl.pointer_type(tl.int32), bitcast=True)
        word_type = tl.int32
    while tl.max(pending.to(tl.int32), axis=0) != 0:
        old = tl.load(target, volatile=True)
        new = tl.where(pending, _combine(old, val, REDUCE), old)
        expected = old.to(word_type, bitcast=True)
        seen = tl.atomic_cas(words, expected, new.to(word_type, bitcast=True), sem="relaxed")
        pending = pending & (seen != expected)


def scatter_reduce(out, index, src, dim, reduce, *, wrap_negative=False, errors=None, error_code=0, error_dim=None):
    """out[c with dim replaced by index[c]] = combine(that, src[c]) for every position c of `index`, in place,
    with `reduce` 'prod', 'amax' or 'amin' (NaN-propagating). `out` is one of CAS_DTYPES (combine narrower
    dtypes in a wider copy); `src` (any dtype, converted to out's; possibly larger than `index`, its leading
    corner read) and `index` (int32/int64) may be strided. An index outside [0, out.shape[dim]) ([-size, size)
    with wrap_negative) touches nothing and, given an `errors` record and an `error_code`, is reported with
    `error_dim` (default `dim`)."""
    _check_index_shapes("scatter_reduce", out, index, src, dim)
    if reduce not in REDUCTIONS:
        raise ValueError(f"scatter_reduce: reduce must be one of {tuple(REDUCTIONS)}, got {reduce!r}")
    name = dtype_name_of(out)
    if name not in CAS_DTYPES:
        raise TypeError(f"scatter_reduce: out must be one of {CAS_DTYPES} (combine into a wider copy), got "
                        f"{out.dtype}")
    check_record("scatter_reduce", errors)
    strides = tuple(out.stride())
    n_elements, ndim, sizes, (table_strides, index_strides, src_strides) = _geometry(
        tuple(index.shape), strides[:dim] + (0,) + strides[dim + 1:], index.stride(), src.stride())
    if n_elements == 0:
        return  # (an empty table with indices: all out of range, no lane pending, so no lane reads the table)
    block = block_size(n_elements) if interpreting() else BLOCK_SIZE
    _scatter_reduce_kernel[(triton.cdiv(n_elements, block),)](
        out, index, src, errors if errors is not None else index,
        n_elements, *sizes, out.shape[dim],
        *table_strides, *index_strides, *src_strides, strides[dim],
        error_code if errors is not None else 0, dim if error_dim is None else error_dim,
        REDUCE=REDUCTIONS[reduce], WRAP_NEGATIVE=wrap_negative, WIDE_WORDS=name in ("float64", "int64"), NDIM=ndim,
        BLOCK_SIZE=block,
        num_warps=NUM_WARPS,
    )
