"""The elementwise kernel's erf, erfc, erfinv, nan_to_num, lerp and clamp_tensor ops and their backward formulas,
through Triton's interpreter: float64 references on every float dtype, edge values, broadcast and strided operands,
and ahead-of-time compiles of the heaviest of them for sm_80/sm_90 without register spills."""
import itertools
import math
import os

import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import elementwise as E
from triton_kernels.host_tensor import HostTensor

FLOATS = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
# (rtol, atol) per dtype: fp32 math on fp16/bf16 inputs, then one rounding to the output dtype
TOL = {"float32": (3e-6, 1e-6), "float64": (1e-13, 1e-14), "float16": (1e-3, 1e-3), "bfloat16": (8e-3, 8e-3)}

erf64 = np.vectorize(math.erf, otypes=[np.float64])
erfc64 = np.vectorize(math.erfc, otypes=[np.float64])
_DRAWS = itertools.count()


def _rng():
    return np.random.default_rng([int(os.environ.get("FW_TEST_SEED", "0")), next(_DRAWS)])


def run(kind, op, operands, out_dtype, **kwargs):
    shape = np.broadcast_shapes(*(np.shape(x) for x in operands if isinstance(x, np.ndarray)))
    out = np.full(shape, 77, dtype=out_dtype)
    getattr(E, kind)(op, *[HostTensor(x) if isinstance(x, np.ndarray) else x for x in operands], HostTensor(out),
                     **kwargs)
    return out


def close(got, expected, dtype_name):
    rtol, atol = TOL[dtype_name]
    np.testing.assert_allclose(got.astype(np.float64), np.asarray(expected, np.float64), rtol=rtol, atol=atol)


def erfinv64(y):
    """By bisection on math.erf / math.erfc (1 - |y| is exact above 0.5, where erf(x) - |y| would cancel)."""
    a = np.abs(y.astype(np.float64))
    low, high = np.zeros_like(a), np.full_like(a, 30.0)
    for _ in range(200):
        mid = (low + high) / 2
        above = np.where(a > 0.5, erfc64(mid) < 1 - a, erf64(mid) > a)
        low, high = np.where(above, low, mid), np.where(above, mid, high)
    x = np.where(a == 1, np.inf, np.where(a == 0, 0.0, (low + high) / 2))
    return np.where(np.isnan(a) | (a > 1), np.nan, np.copysign(x, y))


@pytest.mark.parametrize("dtype_name", list(FLOATS))
def test_erf_erfc_erfinv(dtype_name):
    rng = _rng()
    dtype = FLOATS[dtype_name]
    x = (rng.standard_normal((9, 17)) * 2).astype(dtype)
    close(run("unary", "erf", [x], dtype), erf64(x.astype(np.float64)), dtype_name)
    close(run("unary", "erfc", [x], dtype), erfc64(x.astype(np.float64)), dtype_name)
    y = rng.uniform(-1, 1, (9, 17)).astype(dtype)
    close(run("unary", "erfinv", [y], dtype), erfinv64(y), dtype_name)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_erfinv_tails_and_edge_values(dtype_name):
    dtype = FLOATS[dtype_name]
    eps = np.finfo(dtype).eps
    tails = 1 - np.logspace(np.log10(eps), -1, 40)
    y = np.concatenate([tails, -tails, [0.0, -0.0, 1.0, -1.0, 1.5, -2.0, np.nan, 1e-30, 0.5, -0.5]]).astype(dtype)
    got = run("unary", "erfinv", [y], dtype)
    expected = erfinv64(y)
    close(got, expected, dtype_name)
    assert np.array_equal(np.signbit(got[~np.isnan(expected)]), np.signbit(expected[~np.isnan(expected)]))
    assert np.isnan(got[-6:-3]).all()


def test_erf_edge_values():
    x = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, 30.0, -30.0], np.float32)
    got = run("unary", "erf", [x], np.float32)
    assert got[:2].tolist() == [1.0, -1.0] and np.isnan(got[2]) and np.signbit(got[3]) and got[4] == 0
    got = run("unary", "erfc", [x], np.float32)
    assert got[0] == 0 and got[1] == 2 and np.isnan(got[2]) and got[5] == 0 and got[6] == 2


@pytest.mark.parametrize("dtype_name", list(FLOATS))
def test_backward_formulas(dtype_name):
    rng = _rng()
    dtype = FLOATS[dtype_name]
    g = rng.standard_normal((6, 11)).astype(dtype)
    x = rng.uniform(-2, 2, (6, 11)).astype(dtype)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    slope = 2 / math.sqrt(math.pi) * np.exp(-x64 * x64)
    close(run("binary", "erf_backward", [g, x], dtype), g64 * slope, dtype_name)
    close(run("binary", "erfc_backward", [g, x], dtype), -g64 * slope, dtype_name)
    out = rng.uniform(-2, 2, (6, 11)).astype(dtype)  # erfinv's backward reads its output
    close(run("binary", "erfinv_backward", [g, out], dtype),
          g64 * math.sqrt(math.pi) / 2 * np.exp(out.astype(np.float64) ** 2), dtype_name)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    keep = np.isfinite(x.astype(np.float64))
    close(run("binary", "nan_to_num_backward", [g, x], dtype), np.where(keep, g64, 0.0), dtype_name)
    w = rng.uniform(-1, 2, (11,)).astype(dtype)  # broadcast
    close(run("binary", "lerp_backward_self", [g, w], dtype), g64 * (1 - w.astype(np.float64)), dtype_name)
    end = rng.standard_normal((6, 1)).astype(dtype)
    x[0, :3] = 0
    close(run("ternary", "lerp_backward_weight", [g, x, end], dtype),
          g64 * (end.astype(np.float64) - x.astype(np.float64)), dtype_name)


@pytest.mark.parametrize("dtype_name", list(FLOATS))
def test_nan_to_num(dtype_name):
    dtype = FLOATS[dtype_name]
    x = np.array([[np.nan, np.inf, -np.inf, 1.5, -0.0, 3.0]], dtype)[:, ::-1].copy()[:, ::-1]
    got = run("binary", "nan_to_num", [x, -7.0], dtype, p0=0.25, p1=9.0)
    np.testing.assert_array_equal(got.astype(np.float64), [[0.25, 9.0, -7.0, 1.5, -0.0, 3.0]])
    big = float(np.finfo(np.float16).max) if dtype_name == "float16" else 1e30
    got = run("binary", "nan_to_num", [x, -big], dtype, p0=0.0, p1=big)
    assert got[0, 1] == np.asarray(big, dtype) and got[0, 2] == -np.asarray(big, dtype)


def _lerp64(a, b, w):
    a, b, w = (np.asarray(v, np.float64) for v in (a, b, w))
    return a + w * (b - a)


@pytest.mark.parametrize("dtype_name", list(FLOATS))
def test_lerp_scalar_and_tensor_weight_broadcast_strided(dtype_name):
    rng = _rng()
    dtype = FLOATS[dtype_name]
    a = rng.standard_normal((5, 3, 14)).astype(dtype)[:, :, ::2]  # stride 2
    b = rng.standard_normal((7, 5)).astype(dtype).T[:, None, :]  # transposed, broadcast along dim 1
    w = rng.uniform(-0.5, 1.5, (7,)).astype(dtype)
    for weight in (0.0, 0.3, 0.5, 1.0, -0.75, 2.0):
        got = run("binary", "lerp_scalar", [a, b], dtype, p0=weight)
        close(got, _lerp64(a, b, weight), dtype_name)
        if weight in (0.0, 1.0):  # PyTorch's formula is exact at the ends
            np.testing.assert_array_equal(got, np.broadcast_to(a if weight == 0 else b, got.shape))
    close(run("ternary", "lerp", [a, b, w], dtype), _lerp64(a, b, w), dtype_name)


@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16", "float64", "int64", "int8", "uint8"])
def test_clamp_tensor(dtype_name):
    rng = _rng()
    dtype = FLOATS.get(dtype_name, dtype_name)
    x = rng.integers(0, 10, (6, 8)).astype(dtype)
    low = rng.integers(0, 6, (8,)).astype(dtype)
    high = rng.integers(3, 10, (6, 1)).astype(dtype)  # some low > high: high wins
    expected = np.minimum(high, np.maximum(low, x))
    np.testing.assert_array_equal(run("ternary", "clamp_tensor", [x, low, high], dtype), expected)
    if dtype_name in ("float32", "float64"):
        values = np.array([np.nan, 1.0, -0.0, 0.0, 2.0], dtype)
        lows = np.array([0.0, np.nan, 0.0, -0.0, 0.0], dtype)
        highs = np.array([1.0, 3.0, 1.0, 1.0, np.nan], dtype)
        got = run("ternary", "clamp_tensor", [values, lows, highs], dtype)
        assert np.isnan(got[[0, 1, 4]]).all() and np.signbit(got[2]) and not np.signbit(got[3])


# ---- ahead-of-time compiles ------------------------------------------------------------------------------------

# (op, inputs, dtype, out dtype, compute, NDIM, INDEX_64): the heaviest new ops, contiguous and at the worst layout
_AOT_CASES = [
    ("erfinv", 1, "fp64", "fp64", "fp64", 6, True),
    ("erfinv", 1, "bf16", "bf16", "fp32", 1, False),
    ("nan_to_num", 2, "fp16", "fp16", "fp32", 6, True),
    ("lerp", 3, "bf16", "bf16", "fp32", 6, True),
    ("clamp_tensor", 3, "i64", "i64", "i64", 6, True),
]


def aot_jobs():
    """(label, job): every case for sm_80 and sm_90."""
    import triton.language as tl
    compute_types = {"fp32": tl.float32, "fp64": tl.float64, "i64": tl.int64}
    jobs = []
    for op, n_inputs, dtype, out_dtype, compute, ndim, index_64 in _AOT_CASES:
        constexprs = dict(OP=op, N_INPUTS=n_inputs, COMPUTE=compute_types[compute], X_SCALAR=False,
                          Y_SCALAR=op == "nan_to_num", Z_SCALAR=False, HAS_P0=op == "nan_to_num",
                          HAS_P1=op == "nan_to_num", CHECK_ZERO=False, OUT_CONTIGUOUS=ndim == 1, NDIM=ndim,
                          INDEX_64=index_64, BLOCK_SIZE=E.BLOCK_SIZE)
        signature = {}
        for name in E._elementwise_kernel.arg_names:
            if name in constexprs:
                signature[name] = "constexpr"
            elif name.endswith("_ptr"):
                signature[name] = {"out_ptr": f"*{out_dtype}", "flag_ptr": "*i32"}.get(name, f"*{dtype}")
            elif name.endswith("_value") or name in ("p0", "p1"):
                signature[name] = "i64" if compute == "fp64" else "i32"  # scalars travel as ints (float bits)
            else:
                signature[name] = "i64" if index_64 else "i32"
        for arch in aot.ARCHITECTURES:
            jobs.append((f"{op} {dtype} NDIM={ndim} INDEX_64={index_64}",
                         aot.job(E._elementwise_kernel, signature, constexprs, arch, E.NUM_WARPS)))
    return jobs


def test_aot_shipped_configs_do_not_spill(aot_results):
    assert len(aot_results) == 2 * len(_AOT_CASES)
    aot.assert_no_spills(aot_results)
