"""Indexing kernels: gather / scatter / scatter-add along a dim (checking every index), stream compaction
(nonzero, masked_select) and masked fill, all over strided operands (see strided.py).

Gather and scatter share one kernel. It walks the positions `c` of the index tensor (its shape is the
iteration shape) and pairs the *dense* operand at `c` with the *table* operand at `c` whose indexed dim is
replaced by `index[c]` (PyTorch's gather/scatter semantics):

    gather:       dense[c] = table[c ; dim <- index[c]]
    scatter:      table[c ; dim <- index[c]] = dense[c]         (repeated positions: one write wins)
    scatter-add:  table[c ; dim <- index[c]] += dense[c]        (atomic; repeated positions accumulate)

Every operand is strided, the index too: index_select and embedding are gathers whose index is broadcast
(stride 0) along the other dims. Because the table's indexed dim enters only through `index[c] * stride`,
the table's stride there is zeroed before `collapse`, and the launch merges dims like any elementwise op.
x[i0, i1, ...] is one gather too: `linear_offsets` (a fourth mode of the same kernel) sums each index's
element offset into one int64 tensor, which then addresses the table with stride 1.

Indices are checked by the kernel that reads them, on the device: one outside the indexed dim touches nothing
(a gather writes 0 for it) and is reported in the caller's error record (device_errors.py), which the caller reads
when it next synchronises; the host never waits for a check. With `wrap_negative` a negative index i addresses
i + size (PyTorch's advanced indexing).

Stream compaction (nonzero, masked_select) runs in three launches: per-block counts of the nonzero flags,
one program's exclusive prefix sum over the blocks (in place; it also writes the total, which the caller
reads to allocate the output), then each block writes its elements at its offset plus their rank within
the block (a cumsum), i.e. in C order, as PyTorch does. The same offsets run the reverse, masked_scatter
(masked_select's backward).
"""
import triton
import triton.language as tl

from .device_errors import check_record, report_bad_lanes
from .strided import MAX_DIMS, collapse, dtype_name_of, interpreting, numel, padded, strided_offsets

# GPU launch: 1024 elements x 8 warps per program. Timings UNMEASURED (no GPU run yet); the warps are from AOT
# register counts (ptxas, sm_80): with 6-d int64 coordinates, 4 warps (8 elements a thread) took 254 registers,
# 8 warps 120; specialised on the merged rank (NDIM), a 3-d gather takes 64. The interpreter's cost is per
# program instance, so it gets one big block.
BLOCK_SIZE = 1024
NUM_WARPS = 8
INTERPRET_BLOCK_SIZE = 16384
SCAN_BLOCK_SIZE = 1024  # the single prefix-sum program walks the block counts this many at a time

GATHER, SCATTER, SCATTER_ADD, LINEAR_OFFSETS = 0, 1, 2, 3
NONZERO, MASKED_SELECT, MASKED_SCATTER = 0, 1, 2
INDEX_DTYPES = ("int32", "int64")
_LOW_PRECISION = ("float16", "bfloat16")
# tl.atomic_add's element types (checked by AOT compiles of SCATTER_ADD); narrower types accumulate in a wider
# scratch buffer that the caller allocates (float32 for float16/bfloat16, int64 for small ints and bool).
ATOMIC_ADD_DTYPES = ("float32", "float64", "int32", "int64")


@triton.jit
def _block_flags(flag_ptr, n_elements, size1, size2, size3, size4, size5,
                 stride_f0, stride_f1, stride_f2, stride_f3, stride_f4, stride_f5,
                 LOW_PRECISION: tl.constexpr, NDIM: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """(program id, flat positions, flags) of this program's block: flag = x != 0 inside the array, False past
    its end; float16/bfloat16 compare in float32 (so -0.0 is zero)."""
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    flag_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                                stride_f0, stride_f1, stride_f2, stride_f3, stride_f4, stride_f5, NDIM)
    x = tl.load(flag_ptr + flag_offs, mask=mask, other=0)
    if LOW_PRECISION:
        x = x.to(tl.float32)
    return pid, offs, (x != 0) & mask


@triton.jit(do_not_specialize=["error_code", "error_dim"])
def _index_kernel(
    # pointers
    table_ptr, index_ptr, dense_ptr, error_ptr,
    # sizes (of the iteration shape = the index's, after merging; size0 implied by n_elements)
    n_elements, size1, size2, size3, size4, size5, dim_size,
    # strides, in elements: the table's (indexed dim zeroed), the index's, the dense operand's; the indexed dim's
    stride_t0, stride_t1, stride_t2, stride_t3, stride_t4, stride_t5,
    stride_i0, stride_i1, stride_i2, stride_i3, stride_i4, stride_i5,
    stride_d0, stride_d1, stride_d2, stride_d3, stride_d4, stride_d5,
    stride_dim,
    # error reporting (device_errors.py): the record's code for an index outside the dim, and the dim it names
    error_code, error_dim,
    # meta-parameters
    MODE: tl.constexpr, WRAP_NEGATIVE: tl.constexpr, NDIM: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program moves BLOCK_SIZE elements between dense[c] and table[c ; dim <- index[c]]: MODE 0 gathers,
    # 1 scatters, 2 scatter-adds (atomically, in the table's dtype); MODE 3 reads no table: it adds the index's
    # element offset, index[c] * stride_dim, to dense[c] (int64; several index tensors into one linear offset).
    # An index outside [0, dim_size) (after wrapping) touches no table element and adds no offset; a gather
    # writes 0 for it. It is reported with its own value, the dim `error_dim` and its size.
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    index_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                                 stride_i0, stride_i1, stride_i2, stride_i3, stride_i4, stride_i5, NDIM)
    table_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                                 stride_t0, stride_t1, stride_t2, stride_t3, stride_t4, stride_t5, NDIM)
    dense_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                                 stride_d0, stride_d1, stride_d2, stride_d3, stride_d4, stride_d5, NDIM)
    given = tl.load(index_ptr + index_offs, mask=mask, other=0).to(tl.int64)
    index = given
    if WRAP_NEGATIVE:
        index = tl.where(index < 0, index + dim_size, index)
    in_range = (index >= 0) & (index < dim_size)
    report_bad_lanes(error_ptr, error_code, mask & ~in_range, given, error_dim, dim_size, BLOCK_SIZE)
    valid = mask & in_range
    table = table_ptr + table_offs + index * stride_dim
    dense = dense_ptr + dense_offs
    if MODE == 0:
        tl.store(dense, tl.load(table, mask=valid, other=0).to(dense_ptr.dtype.element_ty), mask=mask)
    elif MODE == 1:
        tl.store(table, tl.load(dense, mask=valid).to(table_ptr.dtype.element_ty), mask=valid)
    elif MODE == 3:
        tl.store(dense, tl.load(dense, mask=mask) + tl.where(valid, index * stride_dim, 0), mask=mask)
    else:
        # .to upcasts a float16/bfloat16 (or small int) source into a wider accumulator; a no-op otherwise
        tl.atomic_add(table, tl.load(dense, mask=valid).to(table_ptr.dtype.element_ty), mask=valid, sem="relaxed")


@triton.jit
def _compact_count_kernel(
    # pointers
    flag_ptr, block_offsets_ptr,
    # sizes
    n_elements, size1, size2, size3, size4, size5,
    # strides
    stride_f0, stride_f1, stride_f2, stride_f3, stride_f4, stride_f5,
    # meta-parameters
    LOW_PRECISION: tl.constexpr, NDIM: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program counts the nonzero flags of its block into block_offsets[pid].
    pid, offs, flag = _block_flags(flag_ptr, n_elements, size1, size2, size3, size4, size5,
                                   stride_f0, stride_f1, stride_f2, stride_f3, stride_f4, stride_f5,
                                   LOW_PRECISION, NDIM, BLOCK_SIZE)
    tl.store(block_offsets_ptr + pid, tl.sum(flag.to(tl.int64), axis=0))


@triton.jit
def _compact_scan_kernel(block_offsets_ptr, total_ptr, n_blocks, BLOCK_SIZE: tl.constexpr):
    # One program turns the block counts into exclusive offsets, in place, and writes their sum to total.
    carry = tl.zeros((), dtype=tl.int64)
    for start in range(0, n_blocks, BLOCK_SIZE):
        offs = start + tl.arange(0, BLOCK_SIZE)
        mask = offs < n_blocks
        counts = tl.load(block_offsets_ptr + offs, mask=mask, other=0)
        tl.store(block_offsets_ptr + offs, carry + tl.cumsum(counts, axis=0) - counts, mask=mask)
        carry += tl.sum(counts, axis=0)
    tl.store(total_ptr, carry)


@triton.jit(do_not_specialize=["error_code"])
def _compact_write_kernel(
    # pointers
    flag_ptr, x_ptr, block_offsets_ptr, out_ptr, error_ptr,
    # sizes: the flags' (merged), and the number of rows `out` holds
    n_elements, size1, size2, size3, size4, size5, n_rows,
    # strides
    stride_f0, stride_f1, stride_f2, stride_f3, stride_f4, stride_f5,
    stride_x0, stride_x1, stride_x2, stride_x3, stride_x4, stride_x5,
    # error reporting (device_errors.py): a flagged element past out's n_rows (masked_scatter's short source)
    error_code,
    # meta-parameters
    MODE: tl.constexpr, LOW_PRECISION: tl.constexpr, NDIM: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program pairs the flagged elements of its block, in order, with rows block_offsets[pid]... of out.
    # MODE 0 (nonzero) writes their coordinates in the (unmerged) NDIM-d shape there (out is (total, NDIM)
    # int64); 1 (masked_select) writes x's values there; 2 (masked_scatter) writes those rows of out into x.
    # Rows past n_rows are touched by none, and reported (value: the row count needed so far, arg0: n_rows).
    pid, offs, flag = _block_flags(flag_ptr, n_elements, size1, size2, size3, size4, size5,
                                   stride_f0, stride_f1, stride_f2, stride_f3, stride_f4, stride_f5,
                                   LOW_PRECISION, NDIM, BLOCK_SIZE)
    row = tl.load(block_offsets_ptr + pid) + tl.cumsum(flag.to(tl.int32), axis=0).to(tl.int64) - 1
    report_bad_lanes(error_ptr, error_code, flag & (row >= n_rows), row + 1, n_rows, 0, BLOCK_SIZE)
    flag = flag & (row < n_rows)
    if MODE == 0:
        # innermost coordinate into the last column, then outwards (the sizes of absent dims are 1)
        last = out_ptr + row * NDIM + (NDIM - 1)
        rem = offs
        for k in tl.static_range(NDIM):
            size = size5 if k == 0 else size4 if k == 1 else size3 if k == 2 else size2 if k == 3 else size1
            if k == 5:
                tl.store(last - k, rem, mask=flag)
            else:
                tl.store(last - k, rem % size, mask=flag)
                rem = rem // size
    else:
        x_offs = strided_offsets(offs, size1, size2, size3, size4, size5,
                                 stride_x0, stride_x1, stride_x2, stride_x3, stride_x4, stride_x5, NDIM)
        if MODE == 1:
            tl.store(out_ptr + row, tl.load(x_ptr + x_offs, mask=flag), mask=flag)
        else:
            tl.store(x_ptr + x_offs, tl.load(out_ptr + row, mask=flag), mask=flag)


# ---- launchers ------------------------------------------------------------------------

def block_size(n_elements):
    """Elements per program of every kernel here (the compaction launches must agree on it)."""
    if interpreting():
        return max(16, min(triton.next_power_of_2(max(n_elements, 1)), INTERPRET_BLOCK_SIZE))
    return BLOCK_SIZE


def _geometry(shape, *strides):
    """(n_elements, ndim, (size1..size5), [6 strides per operand]) of `shape` after merging dims and padding."""
    merged, merged_strides = collapse(shape, *strides)
    sizes, padded_strides = padded(merged, merged_strides)
    return numel(shape), len(merged), sizes[1:], padded_strides


def _check_index(fn, index):
    if dtype_name_of(index) not in INDEX_DTYPES:
        raise TypeError(f"{fn}: index must be int32 or int64, got {index.dtype}")


def _check_dim(fn, dim, ndim):
    if not 0 <= dim < ndim:
        raise ValueError(f"{fn}: dim must be in [0, {ndim}), got {dim}")


def _launch_index(mode, table, table_strides, stride_dim, dim_size, index, dense, wrap_negative, errors, error_code,
                  error_dim):
    """One _index_kernel launch over index's positions; `table_strides` has the indexed dim's stride zeroed."""
    check_record("indexing", errors)
    n_elements, ndim, sizes, (table_strides, index_strides, dense_strides) = _geometry(
        tuple(index.shape), table_strides, index.stride(), dense.stride())
    if n_elements == 0:
        return
    block = block_size(n_elements)
    _index_kernel[(triton.cdiv(n_elements, block),)](
        table, index, dense, errors if errors is not None else index,
        n_elements, *sizes, dim_size,
        *table_strides, *index_strides, *dense_strides, stride_dim,
        error_code if errors is not None else 0, error_dim,
        MODE=mode, WRAP_NEGATIVE=wrap_negative, NDIM=ndim, BLOCK_SIZE=block,
        num_warps=NUM_WARPS,
    )


def _launch_along(mode, table, index, dense, dim, wrap_negative, errors, error_code, error_dim):
    strides = tuple(table.stride())
    _launch_index(mode, table, strides[:dim] + (0,) + strides[dim + 1:], strides[dim], table.shape[dim], index, dense,
                  wrap_negative, errors, error_code, dim if error_dim is None else error_dim)


def _check_index_shapes(fn, table, index, dense, dim):
    """PyTorch's gather/scatter shape rule: index.shape <= table.shape off `dim`, index.shape <= dense.shape."""
    _check_index(fn, index)
    ndim = len(index.shape)
    if len(table.shape) != ndim or len(dense.shape) != ndim:
        raise ValueError(f"{fn}: table {tuple(table.shape)}, index {tuple(index.shape)} and "
                         f"{tuple(dense.shape)} must have the same number of dims")
    _check_dim(fn, dim, ndim)
    for d in range(ndim):
        if index.shape[d] > dense.shape[d] or (d != dim and index.shape[d] > table.shape[d]):
            raise ValueError(f"{fn}: index {tuple(index.shape)} must be no larger than {tuple(dense.shape)}, "
                             f"and than table {tuple(table.shape)} apart from dim {dim}")


def gather(x, index, out, dim, *, wrap_negative=False, errors=None, error_code=0, error_dim=None):
    """out[c] = x[c with dim c[dim] replaced by index[c]] for every position c of `index` (out.shape ==
    index.shape). Every operand may be strided, `index` broadcast (stride 0): index_select is a gather whose
    index has stride 0 off `dim`. Indices lie in [0, x.shape[dim]) ([-size, size) with wrap_negative); one
    outside gathers 0 and, given an `errors` record and an `error_code`, is reported there with `error_dim`
    (default `dim`) and the dim's size (device_errors.py)."""
    _check_index_shapes("gather", x, index, out, dim)
    if tuple(out.shape) != tuple(index.shape):
        raise ValueError(f"gather: out {tuple(out.shape)} must have the index's shape {tuple(index.shape)}")
    if dtype_name_of(out) != dtype_name_of(x):
        raise TypeError(f"gather: out must have x's dtype {x.dtype}, got {out.dtype}")
    _launch_along(GATHER, x, index, out, dim, wrap_negative, errors, error_code, error_dim)


def scatter(out, index, src, dim, *, accumulate=False, wrap_negative=False, errors=None, error_code=0, error_dim=None):
    """out[c with dim replaced by index[c]] = src[c] (or += with `accumulate`) for every position c of `index`,
    in place. `src` may be larger than `index` (its leading corner is read) or broadcast (a scalar value is a
    one-element buffer viewed with stride 0). Without `accumulate`, one of several writes to a position wins.
    With it the add is atomic in out's dtype (one of ATOMIC_ADD_DTYPES; accumulate float16/bfloat16 into a
    float32 copy and cast back), `src` is converted to it. An index outside the dim writes nothing and is
    reported as gather's are."""
    _check_index_shapes("scatter", out, index, src, dim)
    if accumulate and dtype_name_of(out) not in ATOMIC_ADD_DTYPES:
        raise TypeError(f"scatter: accumulate needs out in {ATOMIC_ADD_DTYPES} (accumulate into a wider copy), "
                        f"got {out.dtype}")
    if not accumulate and dtype_name_of(out) != dtype_name_of(src):
        raise TypeError(f"scatter: src must have out's dtype {out.dtype}, got {src.dtype}")
    _launch_along(SCATTER_ADD if accumulate else SCATTER, out, index, src, dim, wrap_negative, errors, error_code,
                  error_dim)


def linear_offsets(offsets, index, size, stride, *, errors=None, error_code=0, error_dim=0):
    """offsets[c] += index[c] * stride (negative indices wrapped by `size`) for every position c: run once per
    index tensor (each viewed at the broadcast shape) to turn x[i0, i1, ...] into one gather of element offsets.
    `offsets` is int64 of index's shape. An index outside [-size, size) adds nothing and is reported as gather's
    are, naming `error_dim`; the offsets then stay within `offsets_span` of the indexed dims."""
    _check_index("linear_offsets", index)
    if dtype_name_of(offsets) != "int64" or tuple(offsets.shape) != tuple(index.shape):
        raise ValueError(f"linear_offsets: offsets must be int64 of the index's shape {tuple(index.shape)}, got "
                         f"{offsets.dtype} {tuple(offsets.shape)}")
    _launch_index(LINEAR_OFFSETS, offsets, (0,) * len(index.shape), stride, size, index, offsets, True, errors,
                  error_code, error_dim)


def offsets_span(sizes, strides):
    """1 + the largest element offset `linear_offsets` can build over dims of these sizes and (non-negative)
    strides: the `size` of the dim that a gather with the offsets (stride 1) addresses; 0 when a dim is empty."""
    if 0 in tuple(sizes):
        return 0
    return 1 + sum((size - 1) * stride for size, stride in zip(sizes, strides))


def compaction_blocks(n_elements):
    """Length of the int64 `block_offsets` buffer that count_nonzero and the compaction writes share."""
    return triton.cdiv(n_elements, block_size(n_elements))


def _flag_geometry(fn, flags, values, block_offsets):
    if values is not None and tuple(values.shape) != tuple(flags.shape):
        raise ValueError(f"{fn}: x {tuple(values.shape)} and mask {tuple(flags.shape)} must have one shape "
                         "(broadcast them first)")
    n_elements = numel(flags.shape)
    if dtype_name_of(block_offsets) != "int64" or numel(block_offsets.shape) < compaction_blocks(n_elements):
        raise ValueError(f"{fn}: block_offsets must be int64 with {compaction_blocks(n_elements)} elements, "
                         f"got {block_offsets.dtype} {tuple(block_offsets.shape)}")
    return n_elements, block_size(n_elements), compaction_blocks(n_elements)


def count_nonzero(flags, block_offsets, total):
    """Counts the nonzero elements of `flags` (any dtype, strided): total[0] (int64) gets the count and
    block_offsets (compaction_blocks elements) each block's offset, for nonzero_write / masked_select_write.
    An empty input launches only the (empty) prefix sum, which writes the count 0."""
    n_elements, block, n_blocks = _flag_geometry("count_nonzero", flags, None, block_offsets)
    if n_elements:
        _, ndim, sizes, (strides,) = _geometry(tuple(flags.shape), flags.stride())
        _compact_count_kernel[(n_blocks,)](flags, block_offsets, n_elements, *sizes, *strides,
                                           LOW_PRECISION=dtype_name_of(flags) in _LOW_PRECISION, NDIM=ndim,
                                           BLOCK_SIZE=block, num_warps=NUM_WARPS)
    _compact_scan_kernel[(1,)](block_offsets, total, n_blocks, BLOCK_SIZE=SCAN_BLOCK_SIZE, num_warps=NUM_WARPS)


def nonzero_write(x, block_offsets, out):
    """out (total x x.ndim, contiguous int64) gets the coordinates of x's nonzero elements in C order;
    block_offsets from count_nonzero(x, ...). x has at most MAX_DIMS dims."""
    n_elements, block, n_blocks = _flag_geometry("nonzero_write", x, None, block_offsets)
    ndim = len(x.shape)
    if ndim > MAX_DIMS:
        raise ValueError(f"nonzero_write: x has {ndim} dims, at most {MAX_DIMS} are supported")
    if dtype_name_of(out) != "int64" or len(out.shape) != 2 or out.shape[1] != ndim:
        raise ValueError(f"nonzero_write: out must be int64 (count, {ndim}), got {out.dtype} {tuple(out.shape)}")
    _check_contiguous("nonzero_write", "out", out)
    if n_elements == 0 or ndim == 0 or out.shape[0] == 0:
        return
    sizes, (strides,) = padded(tuple(x.shape), [x.stride()])  # coordinates in x's own shape: no merging
    _compact_write_kernel[(n_blocks,)](x, x, block_offsets, out, out, n_elements, *sizes[1:], out.shape[0],
                                       *strides, *strides, 0, MODE=NONZERO,
                                       LOW_PRECISION=dtype_name_of(x) in _LOW_PRECISION, NDIM=ndim,
                                       BLOCK_SIZE=block, num_warps=NUM_WARPS)


def _check_contiguous(fn, what, array):
    if not _contiguous(array):
        raise ValueError(f"{fn}: {what} must be contiguous, got shape {tuple(array.shape)} strides {array.stride()}")


def _contiguous(array):
    expected = 1
    for size, stride in zip(reversed(tuple(array.shape)), reversed(tuple(array.stride()))):
        if size != 1 and stride != expected:
            return 0 in tuple(array.shape)
        expected *= size
    return True


def _launch_masked(fn, mode, x, mask, block_offsets, out, errors=None, error_code=0):
    n_elements, block, n_blocks = _flag_geometry(fn, mask, x, block_offsets)
    if dtype_name_of(out) != dtype_name_of(x):
        raise TypeError(f"{fn}: x and the compacted values must have one dtype, got {x.dtype} and {out.dtype}")
    _check_contiguous(fn, "the compacted values", out)
    check_record(fn, errors)
    if n_elements == 0 or (numel(out.shape) == 0 and errors is None):
        return
    _, ndim, sizes, (mask_strides, x_strides) = _geometry(tuple(x.shape), mask.stride(), x.stride())
    _compact_write_kernel[(n_blocks,)](mask, x, block_offsets, out, errors if errors is not None else block_offsets,
                                       n_elements, *sizes, numel(out.shape), *mask_strides, *x_strides,
                                       error_code if errors is not None else 0,
                                       MODE=mode, LOW_PRECISION=dtype_name_of(mask) in _LOW_PRECISION, NDIM=ndim,
                                       BLOCK_SIZE=block, num_warps=NUM_WARPS)


def masked_select_write(x, mask, block_offsets, out):
    """out (contiguous, x's dtype) gets x where mask, in C order, as far as it has room (total elements, from
    count_nonzero); x and mask have one shape (broadcast views); block_offsets from count_nonzero(mask, ...)."""
    _launch_masked("masked_select_write", MASKED_SELECT, x, mask, block_offsets, out)


def masked_scatter_write(x, mask, block_offsets, src, *, errors=None, error_code=0):
    """The reverse of masked_select_write: x where mask (in C order) gets src's elements (contiguous), in place.
    A flagged element past src's last one is left as it is and, given an `errors` record and an `error_code`,
    reported (device_errors.py). x must not overlap itself where mask is set."""
    _launch_masked("masked_scatter_write", MASKED_SCATTER, x, mask, block_offsets, src, errors, error_code)
