"""cumprod, cummax/cummin and logcumsumexp row scans and cumprod's gradient through Triton's interpreter against float64
/ int64 numpy (small tiles reach the carries between blocks; the interpreter runs tl.associative_scan element by
element, so rows stay short), plus ahead-of-time compiles for sm_80/sm_90 of the shipped tiles (no register spills)."""
import warnings

import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import reduction as R
from triton_kernels import scan as S
from triton_kernels.host_tensor import HostTensor

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64,
          "int8": np.int8, "int64": np.int64, "bool": np.bool_}
SMALL_TILE = (2, 8, 4)  # 37-column rows: five blocks each, two rows per program


def _make(rng, shape, dtype, special=True):
    if dtype == "bool":
        return rng.random(shape) < 0.6
    x = rng.integers(-2, 3, shape).astype(np.float64)
    if special and dtype.startswith(("float", "bfloat")):
        x = np.where(rng.random(shape) < 0.15, rng.choice([np.nan, -0.0, np.inf, -np.inf], size=shape), x)
    return x.astype(DTYPES[dtype])


def _strides(a):
    sm, sn = HostTensor(a).stride()
    return (sm, 0, sn)


def _running(x, is_max):
    """PyTorch's cummax/cummin rule element by element: the test's own reference."""
    values, indices = np.empty(x.shape), np.zeros(x.shape, np.int64)
    for r in range(x.shape[0]):
        best, where = None, 0
        for j, v in enumerate(x[r].astype(np.float64)):
            if best is None or np.isnan(v) or (not np.isnan(best) and (v >= best if is_max else v <= best)):
                best, where = v, j
            values[r, j], indices[r, j] = best, where
    return values, indices


def run(op, x, tile=None, reverse=False):
    integral = x.dtype.kind in "biu"
    out = np.zeros(x.shape, np.int64 if op == "cumprod" and integral else x.dtype)
    index = np.full(x.shape, -1, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the interpreter computes masked lanes too
        S.scan_rows(op, HostTensor(x), HostTensor(out), *x.shape, _strides(x), _strides(out), index=HostTensor(index),
                    index_strides=_strides(index), reverse=reverse, tile=tile)
    return out, index


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_cumprod_cummax_cummin(dtype):
    rng = np.random.default_rng(abs(hash(dtype)) % (1 << 32))
    for shape, tile in [((3, 7), None), ((3, 37), SMALL_TILE), ((1, 1), None), ((0, 4), None)]:
        x = _make(rng, shape, dtype)
        out, _ = run("cumprod", x, tile)
        with np.errstate(all="ignore"):
            expected = np.cumprod(x.astype(np.int64 if x.dtype.kind in "biu" else np.float64), axis=1)
        np.testing.assert_allclose(out.astype(np.float64), expected, rtol=1e-2 if "16" in dtype else 1e-6)
        for op in ("cummax", "cummin"):
            out, index = run(op, x, tile)
            values, indices = _running(x, op == "cummax")
            np.testing.assert_array_equal(index, indices, err_msg=f"{op} {shape}")
            np.testing.assert_array_equal(out.astype(np.float64), values, err_msg=f"{op} {shape}")


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_logcumsumexp_forward_and_reverse(dtype):
    rng = np.random.default_rng(abs(hash(dtype)) % (1 << 32))
    for shape, tile in [((3, 7), None), ((3, 37), SMALL_TILE)]:
        x = rng.uniform(-30, 30, shape).astype(DTYPES[dtype])
        x[0, :3] = [-np.inf, np.inf, 1.0]
        x[1, 2] = np.nan
        for reverse in (False, True):
            out, _ = run("logcumsumexp", x, tile, reverse)
            wide = x.astype(np.float64)[:, ::-1] if reverse else x.astype(np.float64)
            with np.errstate(all="ignore"):
                expected = np.logaddexp.accumulate(wide, axis=1)
            expected = expected[:, ::-1] if reverse else expected
            np.testing.assert_allclose(out.astype(np.float64), expected, rtol=1e-2 if "16" in dtype else 1e-6,
                                       atol=1e-2 if "16" in dtype else 1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_cumprod_backward_through_zeros(dtype):
    """dx[k] = sum over j >= k of g[j] * prod_{i <= j, i != k} x[i], by brute force."""
    rng = np.random.default_rng(7)
    for shape, tile in [((4, 6), None), ((2, 37), SMALL_TILE)]:
        x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        x[0, 2] = 0.0
        x[1, 1] = x[1, 4] = 0.0
        x = x.astype(DTYPES[dtype])
        g = rng.standard_normal(shape).astype(DTYPES[dtype])
        y = np.cumprod(x.astype(np.float64), axis=1).astype(DTYPES[dtype])
        dx = np.zeros(shape, DTYPES[dtype])
        S.cumprod_backward_rows(HostTensor(x), HostTensor(y), HostTensor(g), HostTensor(dx), *shape, _strides(x),
                                _strides(y), _strides(g), _strides(dx), tile=tile)
        wide, gw = x.astype(np.float64), g.astype(np.float64)
        expected = np.zeros(shape)
        for k in range(shape[1]):
            others = wide.copy()
            others[:, k] = 1.0
            expected[:, k] = np.sum(gw[:, k:] * np.cumprod(others, axis=1)[:, k:], axis=1)
        np.testing.assert_allclose(dx.astype(np.float64), expected, rtol=2e-2 if dtype == "bfloat16" else 1e-5,
                                   atol=2e-2 if dtype == "bfloat16" else 1e-5)


def test_launcher_rejects_bad_arguments():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="unknown op"):
        S.scan_rows("cumsum", HostTensor(x), HostTensor(x), 2, 3, (3, 0, 1), (3, 0, 1))
    with pytest.raises(TypeError, match="int64 `index`"):
        S.scan_rows("cummax", HostTensor(x), HostTensor(x), 2, 3, (3, 0, 1), (3, 0, 1))
    with pytest.raises(TypeError, match="unsupported input dtype"):
        S.scan_rows("logcumsumexp", HostTensor(x.astype(np.int32)), HostTensor(x), 2, 3, (3, 0, 1), (3, 0, 1))


# ---- ahead-of-time compiles of the shipped tiles ---------------------------------------------------------------

_NAMES = {"fp32": "float32", "fp64": "float64", "bf16": "bfloat16", "i64": "int64", "i8": "int8"}
_WIDE, _PACKED = (1, 1 << 20), (1 << 20, 16)
with aot.gpu_settings():  # a GPU's tiles, not the interpreter's
    _AOT_CASES = [(kind, op, dt, out_dt, S.default_tile(*shape, _NAMES[dt])) for kind, op, dt, out_dt, shape in [
        ("scan", "cumprod", "i8", "i64", _WIDE), ("scan", "cummax", "bf16", "bf16", _WIDE),
        ("scan", "cummin", "fp64", "fp64", _PACKED), ("scan", "logcumsumexp", "fp32", "fp32", _WIDE),
        ("backward", "cumprod", "fp32", "fp32", _WIDE), ("backward", "cumprod", "fp64", "fp64", _PACKED),
    ]]


def _job(kind, op, dt, out_dt, tile, arch):
    block_m, block_size, num_warps = tile
    acc = R.accumulator(_NAMES[dt])
    if kind == "backward":
        signature = {"x_ptr": f"*{dt}", "y_ptr": f"*{dt}", "g_ptr": f"*{dt}", "dx_ptr": f"*{dt}", "n_rows": "i32",
                     "n_cols": "i32", "n_inner": "i32"}
        for name in "xygd":
            signature.update({f"stride_{name}m": "i32", f"stride_{name}i": "i32", f"stride_{name}n": "constexpr"})
        signature.update(ACC_DTYPE="constexpr", BLOCK_M="constexpr", BLOCK_SIZE="constexpr")
        constexprs = dict(stride_xn=1, stride_yn=1, stride_gn=1, stride_dn=1, ACC_DTYPE=acc, BLOCK_M=block_m,
                          BLOCK_SIZE=block_size)
        return aot.job(S._cumprod_backward_kernel, signature, constexprs, arch, num_warps)
    signature = {"x_ptr": f"*{dt}", "out_ptr": f"*{out_dt}", "index_ptr": "*i64", "n_rows": "i32", "n_cols": "i32",
                 "n_inner": "i32"}
    for name in "xoi":
        signature.update({f"stride_{name}m": "i32", f"stride_{name}i": "i32", f"stride_{name}n": "constexpr"})
    signature.update(OP="constexpr", ACC_DTYPE="constexpr", REVERSE="constexpr", BLOCK_M="constexpr",
                     BLOCK_SIZE="constexpr")
    constexprs = dict(stride_xn=1, stride_on=1, stride_in=1, OP=S.OPS[op], ACC_DTYPE=acc, REVERSE=False,
                      BLOCK_M=block_m, BLOCK_SIZE=block_size)
    return aot.job(S._scan_kernel, signature, constexprs, arch, num_warps)


def aot_jobs():
    return [(f"{kind} {op} {dt}->{out_dt} tile={list(tile)}", _job(kind, op, dt, out_dt, tile, arch))
            for arch in aot.ARCHITECTURES for kind, op, dt, out_dt, tile in _AOT_CASES]


def test_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * len(_AOT_CASES)
    aot.assert_no_spills(aot_results)
