"""searchsorted, histc and bincount kernels through Triton's interpreter against numpy (and PyTorch's histc bins, bit
for bit, when it is importable), plus ahead-of-time compiles for sm_80/sm_90 (no register spills)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import search as S
from triton_kernels.host_tensor import HostTensor as H

try:
    import torch
except ImportError:
    torch = None

DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16,
          "int8": np.int8, "uint8": np.uint8, "int64": np.int64}


def _search(boundaries, values, right, sorter=None, out_dtype=np.int64):
    out = np.full(values.shape, -1, out_dtype)
    S.searchsorted(H(boundaries), H(values), H(out), right=right, sorter=None if sorter is None else H(sorter))
    return out


def _reference(boundaries, values, right):
    side = "right" if right else "left"
    if boundaries.ndim == 1:
        return np.searchsorted(boundaries.astype(np.float64), values.astype(np.float64), side)
    return np.stack([np.searchsorted(b.astype(np.float64), v.astype(np.float64), side)
                     for b, v in zip(boundaries, values)])


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_searchsorted(dtype):
    rng = np.random.default_rng(abs(hash(dtype)) % (1 << 32))
    for b_shape, v_shape in [((9,), (4, 3)), ((3, 8), (3, 5)), ((1,), (7,)), ((0,), (3,)), ((5,), (0,))]:
        boundaries = np.sort(rng.integers(0, 6, b_shape), axis=-1).astype(DTYPES[dtype])
        values = rng.integers(-1, 8, v_shape).astype(DTYPES[dtype])
        for right in (False, True):
            np.testing.assert_array_equal(_search(boundaries, values, right), _reference(boundaries, values, right))
            np.testing.assert_array_equal(_search(boundaries, values, right, out_dtype=np.int32),
                                          _reference(boundaries, values, right))
    shuffled = rng.permutation(12).reshape(2, 6).astype(DTYPES[dtype])
    sorter = np.argsort(shuffled, axis=1).astype(np.int64)
    values = rng.integers(-1, 13, (2, 4)).astype(DTYPES[dtype])
    np.testing.assert_array_equal(_search(shuffled, values, False, sorter), _reference(np.sort(shuffled, 1), values,
                                                                                       False))


def test_searchsorted_follows_pytorchs_steps_on_nan():
    boundaries = np.array([1.0, np.nan, 3.0, 4.0], np.float32)  # not sorted: the halving steps decide
    values = np.array([np.nan, 0.5, 3.5, 5.0], np.float32)
    for right in (False, True):
        got = _search(boundaries, values, right)
        if torch is not None:
            expected = torch.searchsorted(torch.from_numpy(boundaries), torch.from_numpy(values), right=right)
            np.testing.assert_array_equal(got, expected.numpy())
        assert got[0] == 4  # NaN compares false everywhere: it goes after every boundary


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_histc(dtype):
    rng = np.random.default_rng(abs(hash(dtype)) % (1 << 32))
    x = rng.uniform(-3, 3, 2000).astype(DTYPES[dtype])
    x[:3] = [np.nan, 3.0, -3.0]
    for bins, low, high in [(7, -2.0, 2.5), (100, -3.0, 3.0), (3, 0.1, 0.9), (1, -1.0, 1.0)]:
        counts = np.zeros(bins, np.int32)
        rounded = np.array([low, high]).astype(DTYPES[dtype]).astype(np.float64)
        S.histc(H(x), H(counts), bins, *rounded)
        finite = x.astype(np.float64)[~np.isnan(x.astype(np.float64))]
        assert counts.sum() == np.count_nonzero((finite >= rounded[0]) & (finite <= rounded[1]))
        # PyTorch counts in the input's dtype, per thread: bfloat16 counts stall at 256 there; compare below that
        if torch is not None and counts.max() <= {"bfloat16": 256, "float16": 2048}.get(dtype, 1 << 24):
            tx = torch.from_numpy(x.astype(np.float32)).to(getattr(torch, dtype))
            np.testing.assert_array_equal(counts, torch.histc(tx, bins, low, high).double().numpy())


def test_bincount():
    rng = np.random.default_rng(1)
    for dtype in ("uint8", "int8", "int64"):
        x = rng.integers(0, 9, 300).astype(DTYPES[dtype])
        out = np.zeros(12, np.int64)
        S.bincount(H(x), H(out))
        np.testing.assert_array_equal(out, np.bincount(x, minlength=12))
    x = rng.integers(0, 9, 300)
    for weight_dtype, out_dtype in (("float32", np.float32), ("float16", np.float64), ("float64", np.float64)):
        weights = rng.uniform(-1, 1, 300).astype(DTYPES[weight_dtype])
        out = np.zeros(9, out_dtype)
        S.bincount(H(x), H(out), H(weights))
        np.testing.assert_allclose(out, np.bincount(x, weights.astype(np.float64)), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="int64"):
        S.bincount(H(x), H(np.zeros(9, np.float32)))
    with pytest.raises(ValueError, match="contiguous"):
        S.bincount(H(x[::2]), H(np.zeros(9, np.int64)))


# ---- ahead-of-time compiles ---------------------------------------------------------------------------------------

def _search_job(dt, sorter, arch):
    signature = dict(boundaries_ptr=f"*{dt}", values_ptr=f"*{dt}", sorter_ptr="*i64", out_ptr="*i64",
                     n_values="i32", values_per_row="i32", n_boundaries="i32", n_steps="i32", stride_b="i32",
                     stride_s="i32", RIGHT="constexpr", HAS_SORTER="constexpr", BLOCK_SIZE="constexpr")
    constexprs = dict(RIGHT=True, HAS_SORTER=sorter, BLOCK_SIZE=S.BLOCK_SIZE)
    return aot.job(S._searchsorted_kernel, signature, constexprs, arch, S.NUM_WARPS)


def _histc_job(dt, arch):
    signature = dict(x_ptr=f"*{dt}", counts_ptr="*i32", n_elements="i32", bins="i32", low_bits="i64",
                     high_bits="i64", BLOCK_SIZE="constexpr")
    return aot.job(S._histc_kernel, signature, dict(BLOCK_SIZE=S.BLOCK_SIZE), arch, S.NUM_WARPS)


def _bincount_job(x_dt, weights_dt, out_dt, arch):
    signature = dict(x_ptr=f"*{x_dt}", weights_ptr=f"*{weights_dt}", out_ptr=f"*{out_dt}", n_elements="i32",
                     WEIGHTED="constexpr", BLOCK_SIZE="constexpr")
    constexprs = dict(WEIGHTED=weights_dt != x_dt, BLOCK_SIZE=S.BLOCK_SIZE)
    return aot.job(S._bincount_kernel, signature, constexprs, arch, S.NUM_WARPS)


def aot_jobs():
    jobs = []
    for arch in aot.ARCHITECTURES:
        jobs += [("searchsorted fp32 sorter", _search_job("fp32", True, arch)),
                 ("searchsorted i64", _search_job("i64", False, arch)),
                 ("histc bf16", _histc_job("bf16", arch)), ("histc fp64", _histc_job("fp64", arch)),
                 ("bincount i32 -> i64", _bincount_job("i32", "i32", "i64", arch)),
                 ("bincount weights bf16 -> fp64", _bincount_job("i64", "bf16", "fp64", arch))]
    return jobs


def test_aot_no_spills(aot_results):
    assert len(aot_results) == 12
    aot.assert_no_spills(aot_results)
