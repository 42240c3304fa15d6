"""Indexing kernels (triton_kernels/indexing.py) through Triton's interpreter (conftest sets TRITON_INTERPRET=1)
on HostTensor-wrapped numpy arrays, against numpy; plus AOT compiles for sm_80/sm_90 (no register spills)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import indexing as K
from triton_kernels.host_tensor import HostTensor as H

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64,
          "int64": np.int64, "int32": np.int32, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}


def _rng(*key):
    return np.random.default_rng(abs(hash(key)) % (2 ** 32))


def _values(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in ("int64", "int32", "int8", "uint8"):
        return rng.integers(0, 100, shape).astype(DTYPES[dtype])
    return rng.standard_normal(shape).astype(DTYPES[dtype])


def _equal(actual, expected):
    """Bitwise equality (indexing moves values; it never rounds them)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint8), np.ascontiguousarray(expected).view(np.uint8))


def _gather_ref(x, index, dim):
    key = list(np.ix_(*[np.arange(s) for s in index.shape]))
    key[dim] = index
    return x[tuple(key)]


@pytest.fixture
def small_blocks(monkeypatch):
    """64 elements per program: several programs (and several prefix-sum blocks) on small inputs."""
    monkeypatch.setattr(K, "INTERPRET_BLOCK_SIZE", 64)
    monkeypatch.setattr(K, "SCAN_BLOCK_SIZE", 16)


# ---- gather -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", list(DTYPES))
def test_gather_dtypes(dtype):
    rng = _rng("gather", dtype)
    x = _values(rng, (7, 13), dtype)
    index = rng.integers(0, 13, (7, 20)).astype(np.int64)  # longer than x along dim: repeats
    out = np.empty((7, 20), DTYPES[dtype])
    K.gather(H(x), H(index), H(out), 1)
    _equal(out, _gather_ref(x, index, 1))


@pytest.mark.parametrize("x_shape,index_shape,dim", [
    ((1,), (1,), 0), ((7, 13), (5, 13), 0), ((7, 13), (3, 4), 1), ((7, 13), (0, 4), 1), ((4, 5, 6), (2, 9, 3), 1),
    ((2, 3, 4, 5, 6, 7, 3), (2, 3, 4, 5, 6, 7, 2), 6), ((5, 0), (7, 0), 0),
])
def test_gather_shapes(x_shape, index_shape, dim):
    rng = _rng("gather-shapes", x_shape, index_shape, dim)
    x = rng.standard_normal(x_shape).astype(np.float32)
    index = rng.integers(0, max(x_shape[dim], 1), index_shape).astype(np.int32)
    out = np.full(index_shape, -7.0, np.float32)
    K.gather(H(x), H(index), H(out), dim)
    _equal(out, _gather_ref(x, index, dim))


def test_gather_strided_operands_and_negative_wrap():
    """Transposed x, a sliced index, an out written through a strided view; negative indices wrap."""
    rng = _rng("gather-strided")
    x = rng.standard_normal((13, 7)).T  # (7, 13), float64, non-contiguous
    index = rng.integers(-13, 13, (7, 22))[:, ::2]  # (7, 11), column stride 2
    buffer = np.full((11, 7), -7.0)
    out = buffer.T  # (7, 11) transposed view
    K.gather(H(x), H(index), H(out), 1, wrap_negative=True)
    _equal(np.ascontiguousarray(out), _gather_ref(x, np.where(index < 0, index + 13, index), 1))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64"])
def test_index_select_and_embedding_as_broadcast_gathers(dtype):
    """index_select(x, 1, i): a gather whose index has stride 0 off dim. embedding(w, ids): index_select on dim 0
    of a (V, D) table with a (N, D) index of strides (s, 0)."""
    rng = _rng("index-select", dtype)
    x = _values(rng, (6, 9, 5), dtype)
    i = rng.integers(0, 9, 11).astype(np.int64)
    index = np.lib.stride_tricks.as_strided(i, (6, 11, 5), (0, i.strides[0], 0))
    out = np.empty((6, 11, 5), DTYPES[dtype])
    K.gather(H(x), H(index), H(out), 1)
    _equal(out, np.take(x, i, axis=1))
    weight = _values(rng, (10, 7), dtype)
    ids = rng.integers(0, 10, 12).astype(np.int32)
    rows = np.empty((12, 7), DTYPES[dtype])
    K.gather(H(weight), H(np.lib.stride_tricks.as_strided(ids, (12, 7), (ids.strides[0], 0))), H(rows), 0)
    _equal(rows, weight[ids])


def test_gather_many_programs(small_blocks):
    rng = _rng("gather-many")
    x = rng.standard_normal((50, 40)).astype(np.float32)
    index = rng.integers(0, 50, (33, 40))
    out = np.empty((33, 40), np.float32)
    K.gather(H(x), H(index), H(out), 0)
    _equal(out, _gather_ref(x, index, 0))


# ---- scatter / scatter_add ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", list(DTYPES))
def test_scatter_dtypes(dtype):
    """Distinct positions per row (a permutation's first columns): the result is deterministic."""
    rng = _rng("scatter", dtype)
    out = _values(rng, (7, 13), dtype)
    expected = out.copy()
    index = np.argsort(rng.random((7, 13)), axis=1)[:, :5]
    src = _values(rng, (9, 6), dtype)  # larger than index: its leading corner is read
    K.scatter(H(out), H(index), H(src), 1)
    np.put_along_axis(expected, index, src[:7, :5], 1)
    _equal(out, expected)


def test_scatter_broadcast_scalar_and_strided_out():
    rng = _rng("scatter-scalar")
    base = rng.standard_normal((13, 7)).astype(np.float32)
    out = base.T  # (7, 13) view: written in place
    expected = out.copy()
    index = np.argsort(rng.random((7, 13)), axis=0)[:4]  # (4, 13): distinct rows per column
    value = np.array([2.5], np.float32)
    K.scatter(H(out), H(index), H(np.lib.stride_tricks.as_strided(value, (4, 13), (0, 0))), 0)
    np.put_along_axis(expected, index, np.float32(2.5), 0)
    _equal(np.ascontiguousarray(base.T), expected)


@pytest.mark.parametrize("dtype,scratch", [("float32", None), ("float64", None), ("int64", None), ("int32", None),
                                           ("float16", "float32"), ("bfloat16", "float32"), ("int8", "int64"),
                                           ("bool", "int64")])
def test_scatter_add_repeated_positions(dtype, scratch, small_blocks):
    """Repeated positions accumulate (within one program and across programs). float16/bfloat16 and small ints
    accumulate into a wider scratch copy, cast back afterwards."""
    rng = _rng("scatter-add", dtype)
    x = _values(rng, (5, 11), dtype)
    index = rng.integers(0, 11, (5, 40))  # ~4 hits per position
    src = _values(rng, (5, 40), dtype)
    acc = x.astype(DTYPES[scratch or dtype])
    K.scatter(H(acc), H(index), H(src), 1, accumulate=True)
    wide = np.float64 if dtype in ("float16", "bfloat16", "float32", "float64") else np.int64
    expected = x.astype(wide)
    for row in range(5):
        np.add.at(expected[row], index[row], src[row].astype(wide))
    if dtype == "bool":
        _equal(acc != 0, expected != 0)
    elif wide is np.int64:
        _equal(acc.astype(DTYPES[dtype]), expected.astype(DTYPES[dtype]))  # wraps like PyTorch's int8 adds
    else:
        rtol = {"float16": 2e-3, "bfloat16": 1.6e-2}.get(dtype, 1e-6 if dtype == "float32" else 1e-12)
        result = acc.astype(DTYPES[dtype]).astype(np.float64)
        np.testing.assert_allclose(result, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_scatter_add_broadcast_index_is_index_add():
    """index_select's backward: an index with stride 0 off dim scatter-adds whole slices (index_add)."""
    rng = _rng("index-add")
    grad = rng.standard_normal((4, 9, 3))
    i = rng.integers(0, 6, 9)
    out = np.zeros((4, 6, 3))
    K.scatter(H(out), H(np.lib.stride_tricks.as_strided(i, (4, 9, 3), (0, i.strides[0], 0))), H(grad), 1,
              accumulate=True)
    expected = np.zeros((4, 6, 3))
    np.add.at(expected, (slice(None), i), grad)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_linear_offsets_then_gather_is_advanced_indexing():
    """x[i0, :, i1] with broadcast index tensors: linear offsets (negative indices wrapped) then one gather whose
    table is x viewed with the indexed dims' strides zeroed and a trailing dim of stride 1 addressed by them."""
    rng = _rng("linear-offsets")
    x = rng.standard_normal((5, 4, 6)).astype(np.float32)
    i0 = rng.integers(-5, 5, (3, 1))
    i1 = rng.integers(-6, 6, (1, 7))
    offsets = np.zeros((3, 7), np.int64)
    for index, dim in ((i0, 0), (i1, 2)):
        K.linear_offsets(H(offsets), H(np.broadcast_to(index, (3, 7))), x.shape[dim], x.strides[dim] // 4)
    expected = x[i0, :, i1]  # (3, 7, 4): numpy puts separated index dims first
    out = np.empty((3, 7, 4, 1), np.float32)
    table = np.lib.stride_tricks.as_strided(x, (3, 7, 4, x.size), (0, 0, x.strides[1], 4))
    index = np.lib.stride_tricks.as_strided(offsets, (3, 7, 4, 1), offsets.strides + (0, 0))
    K.gather(H(table), H(index), H(out), 3)
    _equal(out[..., 0], expected)


# ---- bad indices: masked, reported in the error record (device_errors.py) -------------------------------------

CODE = 7  # any nonzero code: the record keeps what the launcher was given


def _record():
    return np.zeros(4, np.int64)


@pytest.mark.parametrize("wrap", [False, True])
def test_gather_masks_and_reports_bad_indices(wrap, small_blocks):
    """Indices outside the dim ([0, size), or [-size, size) when wrapping) gather 0 and read nothing past the
    table (it sits inside a larger buffer of sentinels); the record names the first bad index of the first program
    that has one, the dim it was given and the dim's size; good indices gather as ever."""
    rng = _rng("gather-bad", wrap)
    buffer = np.full((9, 20), 99.0, np.float32)
    x = buffer[:7, :13]
    x[...] = rng.standard_normal((7, 13))
    index = rng.integers(-13 if wrap else 0, 13, (7, 30))
    bad = [(1, 3, 13), (1, 9, -14 if wrap else -1), (4, 0, 20), (6, 29, 1 << 40)]
    for row, col, value in bad:
        index[row, col] = value
    out, record = np.full((7, 30), -7.0, np.float32), _record()
    K.gather(H(x), H(index), H(out), 1, wrap_negative=wrap, errors=H(record), error_code=CODE, error_dim=5)
    good = np.ones(index.shape, bool)
    good[tuple(zip(*[(r, c) for r, c, _ in bad]))] = False
    wrapped = np.where(index < 0, index + 13, index) if wrap else index
    expected = np.where(good, _gather_ref(x, np.where(good, wrapped, 0), 1), 0.0)
    _equal(out, expected.astype(np.float32))
    assert record.tolist() == [CODE, 13, 5, 13]  # flat position (1, 3) comes first: blocks run in order here


def test_scatter_and_scatter_add_write_nothing_for_bad_indices(small_blocks):
    rng = _rng("scatter-bad")
    for accumulate in (False, True):
        buffer = np.full((6, 16), 99.0)
        table = buffer[:5, :11]
        table[...] = 0.0
        index = np.argsort(rng.random((5, 11)), axis=1)[:, :6]
        index[2, 4], index[3, 0] = 11, -1
        src = rng.standard_normal((5, 6))
        record = _record()
        K.scatter(H(table), H(index), H(src), 1, accumulate=accumulate, errors=H(record), error_code=CODE)
        expected = np.zeros((5, 11))
        keep = (index >= 0) & (index < 11)
        for row in range(5):
            expected[row, index[row][keep[row]]] = src[row][keep[row]]
        np.testing.assert_array_equal(table, expected)
        assert (buffer[:, 11:] == 99.0).all() and (buffer[5:] == 99.0).all()
        assert record.tolist() == [CODE, 11, 1, 11]


def test_linear_offsets_add_nothing_for_bad_indices():
    offsets, record = np.zeros((2, 3), np.int64), _record()
    index = np.array([[0, 4, -1], [-5, 2, 5]])
    K.linear_offsets(H(offsets), H(index), 4, 10, errors=H(record), error_code=CODE, error_dim=2)
    np.testing.assert_array_equal(offsets, [[0, 0, 30], [0, 20, 0]])  # 4, -5 and 5 lie outside [-4, 4)
    assert record.tolist() == [CODE, 4, 2, 4]
    assert K.offsets_span((4, 3), (10, 1)) == 33 and K.offsets_span((4, 0), (10, 1)) == 0


def test_the_first_error_stays_and_reporting_can_be_off():
    x, out = np.arange(6.0).reshape(2, 3), np.zeros((2, 2))
    index = np.array([[0, 3], [1, 2]])
    record = np.array([5, -2, 0, 9], np.int64)  # an earlier launch's error, not yet read
    K.gather(H(x), H(index), H(out), 1, errors=H(record), error_code=CODE)
    assert record.tolist() == [5, -2, 0, 9]
    record = _record()
    for errors, code in ((H(record), 0), (None, CODE)):  # code 0, or no record: masked, not reported
        K.gather(H(x), H(index), H(out), 1, errors=errors, error_code=code)
        np.testing.assert_array_equal(out, [[0.0, 0.0], [4.0, 5.0]])
    assert record.tolist() == [0, 0, 0, 0]


# ---- stream compaction: nonzero, masked_select ------------------------------------------------------

def _count(flags):
    block_offsets = np.full(K.compaction_blocks(flags.size), -7, np.int64)
    total = np.full(1, -7, np.int64)
    K.count_nonzero(H(flags), H(block_offsets), H(total))
    return block_offsets, int(total[0])


def _nonzero(x):
    block_offsets, total = _count(x)
    out = np.full((total, x.ndim), -7, np.int64)
    K.nonzero_write(H(x), H(block_offsets), H(out))
    return out


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_nonzero_dtypes(dtype, small_blocks):
    rng = _rng("nonzero", dtype)
    x = _values(rng, (7, 13), dtype)
    x[rng.random(x.shape) < 0.4] = 0
    if dtype in ("float32", "float16", "bfloat16", "float64"):
        x[0, :3] = [-0.0, np.nan, -np.inf]  # -0.0 is zero; nan and inf are not
    _equal(_nonzero(x), np.argwhere(x))


@pytest.mark.parametrize("shape", [(1,), (0,), (3, 0, 2), (1000,), (2, 3, 1, 5), (2, 2, 3, 2, 2, 3), (1, 1)])
def test_nonzero_shapes(shape, small_blocks):
    rng = _rng("nonzero-shapes", shape)
    x = rng.random(shape) < 0.3
    if x.size:
        x.flat[-1] = True
    _equal(_nonzero(x), np.argwhere(x))


def test_nonzero_strided_and_all_or_nothing(small_blocks):
    rng = _rng("nonzero-strided")
    x = (rng.random((20, 30)) < 0.5)[::2, 1::3].T
    _equal(_nonzero(x), np.argwhere(x))
    _equal(_nonzero(np.zeros((9, 9), np.float32)), np.zeros((0, 2), np.int64))
    _equal(_nonzero(np.ones((9, 9), np.int32)), np.argwhere(np.ones((9, 9))))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64", "bool", "float64"])
def test_masked_select(dtype, small_blocks):
    """A broadcast mask over a transposed x: both viewed at the broadcast shape."""
    rng = _rng("masked-select", dtype)
    x = _values(rng, (13, 7), dtype).T  # (7, 13)
    row_mask = rng.random(13) < 0.5
    mask = np.broadcast_to(row_mask, (7, 13))
    block_offsets, total = _count(mask)
    assert total == mask.sum()
    out = np.empty(total, DTYPES[dtype])
    K.masked_select_write(H(x), H(mask), H(block_offsets), H(out))
    _equal(out, x[mask])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64"])
def test_masked_scatter_reverses_masked_select(dtype, small_blocks):
    """masked_select's backward: the compacted values go back to the mask's positions (a strided target)."""
    rng = _rng("masked-scatter", dtype)
    mask = rng.random((9, 13)) < 0.4
    block_offsets, total = _count(mask)
    src = _values(rng, (total,), dtype)
    base = np.zeros((13, 9), DTYPES[dtype])
    K.masked_scatter_write(H(base.T), H(mask), H(block_offsets), H(src))
    expected = np.zeros((9, 13), DTYPES[dtype])
    expected[mask] = src
    _equal(np.ascontiguousarray(base.T), expected)


def test_masked_scatter_from_a_short_source_writes_what_it_has_and_reports(small_blocks):
    """masked_scatter's source may hold fewer elements than the mask has ones: the rest stay, and it is reported
    (no read past the source); a long enough source reports nothing, and a longer one is read from its start."""
    mask = np.zeros(40, bool)
    mask[[1, 5, 17, 18, 33, 39]] = True
    block_offsets, total = _count(mask)
    for length, reported in ((4, True), (6, False), (9, False)):
        errors = np.zeros(4, np.int64)
        target = np.full(40, -1.0)
        src = np.arange(1.0, length + 1)
        K.masked_scatter_write(H(target), H(mask), H(block_offsets), H(src), errors=H(errors), error_code=9)
        expected = np.full(40, -1.0)
        expected[np.flatnonzero(mask)[:length]] = src[:total]
        _equal(target, expected)
        assert (errors[0] == 9) == reported and (not reported or errors[2] == length)


# ---- launcher checks ------------------------------------------------------------------------------------

def test_launcher_checks():
    x = np.zeros((3, 4), np.float32)
    index = np.zeros((3, 4), np.int64)
    with pytest.raises(TypeError, match="int32 or int64"):
        K.gather(H(x), H(index.astype(np.float32)), H(x.copy()), 1)
    with pytest.raises(ValueError, match="dim"):
        K.gather(H(x), H(index), H(x.copy()), 2)
    with pytest.raises(ValueError, match="no larger"):
        K.gather(H(x), H(np.zeros((4, 4), np.int64)), H(np.zeros((4, 4), np.float32)), 1)
    with pytest.raises(TypeError, match="dtype"):
        K.gather(H(x), H(index), H(np.zeros((3, 4), np.float64)), 1)
    with pytest.raises(TypeError, match="accumulate"):
        K.scatter(H(x.astype(np.float16)), H(index), H(x.astype(np.float16)), 1, accumulate=True)
    with pytest.raises(ValueError, match="errors must be an int64 buffer of 4"):
        K.gather(H(x), H(index), H(x.copy()), 1, errors=H(np.zeros(4, np.int32)), error_code=1)
    with pytest.raises(ValueError, match="at most"):
        K.nonzero_write(H(np.zeros((1,) * 7, bool)), H(np.zeros(1, np.int64)), H(np.zeros((0, 7), np.int64)))


# ---- ahead-of-time compiles ------------------------------------------------------------------------------

def _strided(operands):
    return {f"stride_{op}{d}": "i32" for op in operands for d in range(6)}


def _sizes():
    return dict(n_elements="i32", size1="i32", size2="i32", size3="i32", size4="i32", size5="i32")


def _aot_configs():
    """(name, kernel, signature, constexprs) of every shipped kernel, at the GPU block size."""
    index_signature = lambda dt, table: dict(  # noqa: E731
        table_ptr=f"*{table}", index_ptr="*i64", dense_ptr=f"*{dt}", error_ptr="*i64", **_sizes(), dim_size="i32",
        **_strided("tid"), stride_dim="i32", error_code="i32", error_dim="i32", MODE="constexpr", WRAP_NEGATIVE="constexpr", NDIM="constexpr",
        BLOCK_SIZE="constexpr")
    flags = dict(BLOCK_SIZE=K.BLOCK_SIZE)
    configs = [(f"index mode {mode} {dt}->{table} NDIM={ndim}", K._index_kernel, index_signature(dt, table),
                dict(flags, MODE=mode, WRAP_NEGATIVE=True, NDIM=ndim))
               for mode, dt, table, ndim in (
                   (K.GATHER, "bf16", "bf16", 3), (K.GATHER, "fp32", "fp32", 6), (K.SCATTER, "fp32", "fp32", 3),
                   (K.LINEAR_OFFSETS, "i64", "i64", 2), (K.SCATTER_ADD, "bf16", "fp32", 3),
                   (K.SCATTER_ADD, "fp64", "fp64", 3), (K.SCATTER_ADD, "i64", "i64", 3),
                   (K.SCATTER_ADD, "i32", "i32", 3))]
    configs += [
        ("compact_count", K._compact_count_kernel, dict(flag_ptr="*bf16", block_offsets_ptr="*i64", **_sizes(),
                                                        **_strided("f"), LOW_PRECISION="constexpr",
                                                        NDIM="constexpr", BLOCK_SIZE="constexpr"),
         dict(flags, LOW_PRECISION=True, NDIM=2)),
        ("compact_scan", K._compact_scan_kernel, dict(block_offsets_ptr="*i64", total_ptr="*i64", n_blocks="i32",
                                                      BLOCK_SIZE="constexpr"), dict(BLOCK_SIZE=K.SCAN_BLOCK_SIZE)),
    ]
    write_signature = dict(flag_ptr="*i1", x_ptr="*fp32", block_offsets_ptr="*i64", out_ptr="*i64", error_ptr="*i64",
                           **_sizes(), n_rows="i32", **_strided("fx"), error_code="i32", MODE="constexpr",
                           LOW_PRECISION="constexpr", NDIM="constexpr", BLOCK_SIZE="constexpr")
    configs += [
        ("compact_write nonzero", K._compact_write_kernel, write_signature,
         dict(flags, MODE=K.NONZERO, LOW_PRECISION=False, NDIM=6)),
        ("compact_write select", K._compact_write_kernel, dict(write_signature, out_ptr="*fp32"),
         dict(flags, MODE=K.MASKED_SELECT, LOW_PRECISION=False, NDIM=2)),
        ("compact_write scatter", K._compact_write_kernel, dict(write_signature, out_ptr="*fp32"),
         dict(flags, MODE=K.MASKED_SCATTER, LOW_PRECISION=False, NDIM=3)),
    ]
    return configs


def aot_jobs():
    return [(name, aot.job(kernel, signature, constexprs, arch, K.NUM_WARPS))
            for arch in aot.ARCHITECTURES for name, kernel, signature, constexprs in _aot_configs()]


def test_indexing_aot_no_spills(aot_results):
    """Every kernel compiles for sm_80 and sm_90 at the shipped block size with zero spilled bytes."""
    assert len(aot_results) == 2 * len(_aot_configs())
    aot.assert_no_spills(aot_results)
