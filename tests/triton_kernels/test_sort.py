"""The stable row sort through Triton's interpreter (conftest sets TRITON_INTERPRET=1) against numpy's stable
lexsort, including the cross-block merges (small `max_block`s reach them with small rows) and strided two-level rows,
plus ahead-of-time compiles for sm_80/sm_90 of the shipped blocks (no register spills)."""
import ml_dtypes
import numpy as np
import pytest
import triton.language as tl

from triton_kernels import aot
from triton_kernels import sort as S
from triton_kernels.host_tensor import HostTensor

DTYPES = {"bool": np.bool_, "uint8": np.uint8, "int8": np.int8, "int16": np.int16, "int32": np.int32,
          "int64": np.int64, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32,
          "float64": np.float64}


def _make(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    x = rng.integers(-4, 5, shape).astype(np.float64)
    if dtype.startswith(("float", "bfloat")):
        x = np.where(rng.random(shape) < 0.25, rng.choice([np.nan, -0.0, np.inf, -np.inf], size=shape), x)
    elif dtype == "uint8":
        x = x + 4
    return x.astype(DTYPES[dtype])


def reference(x, descending):
    """Stable order along the last axis: NaN last (first descending), -0.0 equal to 0.0, ties by position."""
    wide = x.astype(np.float64)
    nan = np.isnan(wide)
    value = np.where(nan, 0.0, wide)
    position = np.broadcast_to(np.arange(x.shape[-1]), x.shape)
    keys = (position, -value, ~nan) if descending else (position, value, nan)
    return np.lexsort(keys, axis=-1)


def run(x, descending, max_block=None, rows_view=None):
    """sort_rows over the last axis of the 2-D view `x`; returns (values, indices)."""
    values = np.full(x.shape, 7, x.dtype)
    indices = np.full(x.shape, -7, np.int64)
    n_rows, n_cols = x.shape
    (sxm, sxn), (svm, svn), (sim, sin) = (HostTensor(a).stride() for a in (x, values, indices))
    S.sort_rows(HostTensor(x), HostTensor(values), HostTensor(indices), n_rows, n_cols, (sxm, 0, sxn),
                (svm, 0, svn), (sim, 0, sin), descending=descending, max_block=max_block,
                scratch=lambda shape, dtype: HostTensor(np.zeros(shape, dtype)))
    return values, indices


def check(x, descending, **kwargs):
    values, indices = run(x, descending, **kwargs)
    expected = reference(x, descending)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(values.view(np.uint8), np.take_along_axis(x, expected, 1).view(np.uint8))


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_rows_of_one_block(dtype):
    rng = np.random.default_rng(abs(hash(dtype)) % (1 << 32))
    for shape in [(5, 13), (1, 1), (3, 2), (7, 64), (0, 4), (4, 0)]:
        x = _make(rng, shape, dtype)
        for descending in (False, True):
            check(x, descending)


# the interpreter pays per program (a row of n takes n / max_block of them a launch): small rows, few pairs
@pytest.mark.parametrize("dtype, max_block", [("float32", 8), ("int64", 8), ("int8", 16), ("bfloat16", 32),
                                              ("float64", 32)])
def test_rows_longer_than_one_block(dtype, max_block):
    """Padding to a power of two, blocks sorted in alternating directions, steps across blocks, in-block merges."""
    rng = np.random.default_rng(abs(hash((dtype, max_block))) % (1 << 32))
    for shape in [(2, 37), (1, 4 * max_block)]:
        x = _make(rng, shape, dtype)
        for descending in (False, True):
            check(x, descending, max_block=max_block)


def run_topk(x, k, largest, max_block=None):
    """topk_rows over the last axis of the 2-D `x` into (rows, k) outputs; returns (values, indices)."""
    n_rows, n_cols = x.shape
    values, indices = np.full((n_rows, k), 7, x.dtype), np.full((n_rows, k), -7, np.int64)
    (sxm, sxn), (svm, svn), (sim, sin) = (HostTensor(a).stride() for a in (x, values, indices))
    S.topk_rows(HostTensor(x), HostTensor(values), HostTensor(indices), n_rows, n_cols, k, (sxm, 0, sxn),
                (svm, 0, svn), (sim, 0, sin), largest=largest, max_block=max_block,
                scratch=lambda shape, dtype: HostTensor(np.zeros(shape, dtype)))
    return values, indices


# k up to one block halves pairs of blocks; a larger k sorts whole rows (the columns past k stay unwritten). The
# interpreter pays per program: small rows, blocks of 4 pairs
@pytest.mark.parametrize("dtype", ["float32", "int64", "bfloat16", "int8"])
def test_topk_is_the_first_columns_of_the_sort(dtype):
    rng = np.random.default_rng(abs(hash(("topk", dtype))) % (1 << 32))
    max_block = 4
    for shape, ks in [((2, 19), (0, 1, 4, 5)), ((3, 16), (2, 16)), ((4, 4), (3,))]:
        x = _make(rng, shape, dtype)
        for k in ks:
            for largest in (False, True):
                values, indices = run_topk(x, k, largest, max_block)
                expected = reference(x, largest)[:, :k]
                np.testing.assert_array_equal(indices, expected, err_msg=f"{shape} k={k} largest={largest}")
                np.testing.assert_array_equal(values.view(np.uint8),
                                              np.take_along_axis(x, expected, 1).view(np.uint8))


def test_topk_rows_rejects_a_k_outside_the_row():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"k must be in \[0, 3\], got 4"):
        run_topk(x, 4, True)


def test_strided_two_level_rows():
    """Sorting dim 1 of a (2, 5, 3) array in place: rows (2, 3) of stride (15, 1), columns of stride 3."""
    rng = np.random.default_rng(3)
    x = _make(rng, (2, 5, 3), "float32")
    values, indices = np.zeros_like(x), np.zeros(x.shape, np.int64)
    S.sort_rows(HostTensor(x), HostTensor(values), HostTensor(indices), 6, 5, (15, 1, 3), (15, 1, 3), (15, 1, 3),
                n_inner=3, descending=False, max_block=4, scratch=lambda s, d: HostTensor(np.zeros(s, d)))
    expected = np.moveaxis(reference(np.moveaxis(x, 1, -1), False), -1, 1)
    np.testing.assert_array_equal(indices, expected)


def test_launcher_rejects_bad_arguments():
    x = np.zeros((2, 3), np.float32)
    good = dict(descending=False)
    with pytest.raises(TypeError, match="indices must be int64"):
        S.sort_rows(HostTensor(x), HostTensor(x.copy()), HostTensor(np.zeros((2, 3), np.int32)), 2, 3, (3, 0, 1),
                    (3, 0, 1), (3, 0, 1), **good)
    with pytest.raises(TypeError, match="values must have the input's dtype"):
        S.sort_rows(HostTensor(x), HostTensor(x.astype(np.float64)), HostTensor(np.zeros((2, 3), np.int64)), 2, 3,
                    (3, 0, 1), (3, 0, 1), (3, 0, 1), **good)
    with pytest.raises(ValueError, match="pass `scratch`"):
        S.sort_rows(HostTensor(x), HostTensor(x.copy()), HostTensor(np.zeros((2, 3), np.int64)), 2, 3, (3, 0, 1),
                    (3, 0, 1), (3, 0, 1), max_block=2, **good)
    with pytest.raises(ValueError, match="power of two"):
        S.sort_rows(HostTensor(x), HostTensor(x.copy()), HostTensor(np.zeros((2, 3), np.int64)), 2, 3, (3, 0, 1),
                    (3, 0, 1), (3, 0, 1), max_block=3, **good)


# ---- ahead-of-time compiles of the shipped blocks ---------------------------------------------------------------

_POINTER = {"fp32": "float32", "fp64": "float64", "bf16": "bfloat16", "i64": "int64", "i8": "int8"}
with aot.gpu_settings():  # a GPU's blocks, not the interpreter's
    # (dtype, shape the launcher picks the block for, merge pass): the widest block for 32-bit and 64-bit keys (its
    # first pass and its merges), and rows packed several to a program
    _AOT_CASES = [(dt, S.block_settings(*shape, _POINTER[dt]), merge) for dt, shape, merge in [
        ("fp32", (8, 1 << 20), False), ("fp64", (8, 1 << 20), False), ("i64", (8, 1 << 20), True),
        ("i8", (1 << 20, 16), False),
    ]]


def _sort_job(dt, settings, merge, arch):
    log_m, log_block, num_warps = settings
    wide = S.key_is_wide(_POINTER[dt])
    signature = dict(x_ptr=f"*{dt}", values_ptr=f"*{dt}", indices_ptr="*i64", keys_ptr="*i64" if wide else "*i32",
                     idx_ptr="*i32", n_rows="i32", n_cols="i32", n_out="i32", n_inner="i32", n_padded="i32",
                     stride_xm="i32", stride_xi="i32", stride_xn="constexpr", stride_vm="i32", stride_vi="i32",
                     stride_vn="constexpr",
                     stride_im="i32", stride_ii="i32", stride_in="constexpr", level="i32", DESCENDING="constexpr",
                     MERGE="constexpr", FROM_X="constexpr", TO_OUTPUT="constexpr", KEY_DTYPE="constexpr",
                     LOG_M="constexpr", LOG_BLOCK="constexpr")
    constexprs = dict(stride_xn=1, stride_vn=1, stride_in=1, DESCENDING=True, MERGE=merge, FROM_X=not merge,
                      TO_OUTPUT=True, KEY_DTYPE=tl.int64 if wide else tl.int32, LOG_M=log_m, LOG_BLOCK=log_block)
    return aot.job(S._sort_block_kernel, signature, constexprs, arch, num_warps)


def _step_job(arch):
    signature = dict(keys_ptr="*i64", idx_ptr="*i32", n_padded="i32", distance="i32", level="i32",
                     BLOCK_SIZE="constexpr")
    return aot.job(S._bitonic_step_kernel, signature, dict(BLOCK_SIZE=S.STEP_BLOCK), arch, num_warps=4)


def _halve_job(arch):
    signature = dict(keys_ptr="*i64", idx_ptr="*i32", half_keys_ptr="*i64", half_idx_ptr="*i32", n_half="i32",
                     log_block="i32", BLOCK_SIZE="constexpr")
    return aot.job(S._halve_kernel, signature, dict(BLOCK_SIZE=S.STEP_BLOCK), arch, num_warps=4)


def aot_jobs():
    jobs = [(f"sort {dt} block={list(settings)} merge={merge}", _sort_job(dt, settings, merge, arch))
            for arch in aot.ARCHITECTURES for dt, settings, merge in _AOT_CASES]
    return jobs + [(name, job(arch)) for arch in aot.ARCHITECTURES
                   for name, job in (("bitonic step i64", _step_job), ("topk halving i64", _halve_job))]


def test_aot_no_spills(aot_results):
    """Every shipped block compiles for sm_80 and sm_90 (a child process, the interpreter off) without spills."""
    assert len(aot_results) == 2 * (len(_AOT_CASES) + 2)
    aot.assert_no_spills(aot_results)
