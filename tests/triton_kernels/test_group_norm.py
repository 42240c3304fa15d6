"""triton_kernels.group_norm in the interpreter: rows longer than one tile (the loops), every float dtype,
against float64 numpy; and ahead-of-time compiles without spills."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import group_norm as G
from triton_kernels.host_tensor import HostTensor

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
TOL = {"float32": 2e-5, "float64": 1e-12, "float16": 2e-2, "bfloat16": 5e-2}


def _reference(x, groups, w, b, dy, eps=1e-5):
    n, c = x.shape[:2]
    rows = x.reshape(n, groups, -1)
    mean = rows.mean(axis=2, keepdims=True)
    rstd = 1 / np.sqrt(((rows - mean) ** 2).mean(axis=2, keepdims=True) + eps)
    xhat = ((rows - mean) * rstd).reshape(n, c, -1)
    y = xhat * w[None, :, None] + b[None, :, None]
    g = dy.reshape(n, c, -1) * w[None, :, None]
    gr = g.reshape(n, groups, -1)
    xr = xhat.reshape(n, groups, -1)
    dx = rstd * (gr - gr.mean(axis=2, keepdims=True) - xr * (gr * xr).mean(axis=2, keepdims=True))
    dw = (dy.reshape(n, c, -1) * xhat).sum(axis=(0, 2))
    db = dy.reshape(n, c, -1).sum(axis=(0, 2))
    return y.reshape(x.shape), mean.reshape(-1), rstd.reshape(-1), dx.reshape(x.shape), dw, db


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape,groups", [((1, 2, 70000), 1), ((3, 6, 5), 3), ((2, 4), 4)])
def test_forward_and_backward(dtype, shape, groups):
    """(1, 2, 70000): two tiles of the interpreter's 65536 elements along each channel."""
    rng = np.random.default_rng(0)
    np_dtype = DTYPES[dtype]
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + 1).astype(np_dtype)
    w, b = rng.uniform(0.5, 1.5, c).astype(np_dtype), rng.standard_normal(c).astype(np_dtype)
    dy = rng.standard_normal(shape).astype(np_dtype)
    compute = np.dtype(G.compute_dtype(HostTensor(x)))
    n = shape[0]
    y, mean, rstd = np.empty_like(x), np.empty(n * groups, compute), np.empty(n * groups, compute)
    G.forward(HostTensor(x), HostTensor(w), HostTensor(b), HostTensor(y), HostTensor(mean), HostTensor(rstd), groups,
              1e-5)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    ds, dbs = np.empty(n * c, compute), np.empty(n * c, compute)
    G.backward(HostTensor(x), HostTensor(dy), HostTensor(w), HostTensor(mean), HostTensor(rstd), groups,
               HostTensor(dx), HostTensor(dw), HostTensor(db), HostTensor(ds), HostTensor(dbs))
    expected = _reference(*(a.astype(np.float64) for a in (x,)), groups, w.astype(np.float64), b.astype(np.float64),
                          dy.astype(np.float64))
    tol = TOL[dtype]
    for name, got, want in zip(("y", "mean", "rstd", "dx", "dw", "db"), (y, mean, rstd, dx, dw, db), expected):
        got = got.astype(np.float64)
        scale = max(1.0, np.abs(want).max())
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=name)


def test_bad_arguments():
    x = HostTensor(np.zeros((2, 6), np.float32))
    stats = HostTensor(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="does not split into 4 groups"):
        G.forward(x, None, None, x, stats, stats, 4, 1e-5)
    with pytest.raises(TypeError, match="input expected, got int32"):
        G.forward(HostTensor(np.zeros((2, 6), np.int32)), None, None, x, stats, stats, 2, 1e-5)
    with pytest.raises(ValueError, match="input must be contiguous"):
        G.forward(HostTensor(np.zeros((2, 12), np.float32)[:, ::2]), None, None, x, stats, stats, 2, 1e-5)
    with pytest.raises(ValueError, match="a weight of shape \\(5,\\)"):
        G.forward(x, HostTensor(np.zeros(5, np.float32)), None, x, stats, stats, 2, 1e-5)
    with pytest.raises(ValueError, match="need the ds and db scratch arrays"):
        G.backward(x, x, None, stats, stats, 2, x, dw=HostTensor(np.zeros(6, np.float32)))


def aot_jobs():
    import triton.language as tl
    jobs = []
    for arch in aot.ARCHITECTURES:
        for dtype, compute in (("bf16", tl.float32), ("fp32", tl.float32), ("fp64", tl.float64)):
            stat = "*fp64" if compute == tl.float64 else "*fp32"
            block_d, block_hw = G._blocks(64, 1024, G.TILE)  # (2, 1024): the tile of a GPU launch
            forward = dict(x_ptr=f"*{dtype}", w_ptr=f"*{dtype}", b_ptr=f"*{dtype}", y_ptr=f"*{dtype}", mean_ptr=stat,
                           rstd_ptr=stat, D="i32", HW="i32", G="i32", eps_bits="i64", HAS_WEIGHT="constexpr",
                           HAS_BIAS="constexpr", COMPUTE="constexpr", BLOCK_D="constexpr", BLOCK_HW="constexpr")
            jobs.append((f"forward {dtype}", aot.job(G._group_norm_forward_kernel, forward, dict(
                HAS_WEIGHT=True, HAS_BIAS=True, COMPUTE=compute, BLOCK_D=block_d, BLOCK_HW=block_hw), arch,
                G.NUM_WARPS)))
            backward = dict(x_ptr=f"*{dtype}", dy_ptr=f"*{dtype}", w_ptr=f"*{dtype}", mean_ptr=stat, rstd_ptr=stat,
                            dx_ptr=f"*{dtype}", ds_ptr=stat, db_ptr=stat, D="i32", HW="i32", G="i32",
                            HAS_WEIGHT="constexpr", STORE_CHANNEL_SUMS="constexpr", COMPUTE="constexpr",
                            BLOCK_D="constexpr", BLOCK_HW="constexpr")
            jobs.append((f"backward {dtype}", aot.job(G._group_norm_backward_kernel, backward, dict(
                HAS_WEIGHT=True, STORE_CHANNEL_SUMS=True, COMPUTE=compute, BLOCK_D=block_d, BLOCK_HW=block_hw),
                arch, G.NUM_WARPS)))
            params = dict(ds_ptr=stat, db_ptr=stat, rstd_ptr=stat, dw_ptr=f"*{dtype}", dbias_ptr=f"*{dtype}", N="i32",
                          C="i32", D="i32", G="i32", NEED_WEIGHT="constexpr", NEED_BIAS="constexpr",
                          COMPUTE="constexpr", BLOCK_C="constexpr")
            jobs.append((f"params {dtype}", aot.job(G._group_norm_params_backward_kernel, params, dict(
                NEED_WEIGHT=True, NEED_BIAS=True, COMPUTE=compute, BLOCK_C=G.BLOCK_C), arch, G.NUM_WARPS)))
    return jobs


def test_group_norm_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * 3 * 3
    aot.assert_no_spills(aot_results)
