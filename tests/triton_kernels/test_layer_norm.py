"""triton_kernels.layer_norm in the interpreter: layer norm and RMS norm, rows held whole and rows walked in column
blocks (a small tile forces the second path and several backward programs), every float dtype, float32
parameters of a float16/bfloat16 input, each gradient asked for alone, against float64 numpy; and ahead-of-time
compiles without spills of every tile the launchers can pick."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import layer_norm as L
from triton_kernels.host_tensor import HostTensor

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
TOL = {"float32": 2e-5, "float64": 1e-12, "float16": 2e-2, "bfloat16": 5e-2}


def _reference(x, w, b, dy, eps, rms):
    mean = np.zeros(x.shape[0]) if rms else x.mean(axis=1)
    centered = x - mean[:, None]
    rstd = 1 / np.sqrt((centered * centered).mean(axis=1) + eps)
    xhat = centered * rstd[:, None]
    wdy = dy * w
    dx = wdy - xhat * (wdy * xhat).mean(axis=1, keepdims=True)
    if not rms:
        dx -= wdy.mean(axis=1, keepdims=True)
    return dict(y=xhat * w + b, mean=mean, rstd=rstd, dx=dx * rstd[:, None], dw=(dy * xhat).sum(axis=0),
                db=dy.sum(axis=0))


def _run(shape, dtype, rms, param_dtype=None, need=("dx", "dw", "db"), eps=1e-5, seed=0):
    """Forward and backward through the launchers; (results, float64 reference) as dicts of arrays."""
    rng = np.random.default_rng(seed)
    m, n = shape
    np_dtype, p_dtype = DTYPES[dtype], DTYPES[param_dtype or dtype]
    x = (rng.standard_normal(shape) * 2 + 1).astype(np_dtype)
    w = rng.uniform(0.5, 1.5, n).astype(p_dtype)
    b = (np.zeros(n) if rms else rng.standard_normal(n)).astype(p_dtype)
    dy = rng.standard_normal(shape).astype(np_dtype)
    compute = np.dtype(L.compute_dtype(HostTensor(x)))
    got = dict(y=np.empty_like(x), mean=np.empty(m, compute), rstd=np.empty(m, compute))
    L.forward(HostTensor(x), HostTensor(w), None if rms else HostTensor(b), HostTensor(got["y"]),
              None if rms else HostTensor(got["mean"]), HostTensor(got["rstd"]), eps, rms=rms)
    programs = L.partial_programs(HostTensor(x))[0]
    want_db = "db" in need and not rms
    arrays = dict(dx=np.empty_like(x) if "dx" in need else None, dw=np.empty_like(w) if "dw" in need else None,
                  db=np.empty_like(b) if want_db else None,
                  partial_w=np.empty((programs, n), compute) if "dw" in need else None,
                  partial_b=np.empty((programs, n), compute) if want_db else None,
                  row_sums=np.empty(2 * m, compute))
    L.backward(HostTensor(x), HostTensor(dy), HostTensor(w), None if rms else HostTensor(got["mean"]),
               HostTensor(got["rstd"]), **{k: None if v is None else HostTensor(v) for k, v in arrays.items()},
               rms=rms)
    got.update((k, arrays[k]) for k in ("dx", "dw", "db") if arrays[k] is not None)
    if rms:
        del got["mean"]
    expected = _reference(*(a.astype(np.float64) for a in (x, w, b, dy)), eps, rms)
    return got, expected


def _assert_close(got, expected, dtype):
    tol = TOL[dtype]
    for name, value in got.items():
        want = expected[name]
        scale = max(1.0, np.abs(want).max(initial=0.0))
        np.testing.assert_allclose(value.astype(np.float64), want, rtol=tol, atol=tol * scale, err_msg=name)


@pytest.mark.parametrize("rms", [False, True], ids=["layer_norm", "rms_norm"])
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", [(5, 7), (3, 70000), (6, 1), (1, 64)])
def test_forward_and_backward(shape, dtype, rms):
    """(3, 70000): wider than the interpreter's 65536-element tile: the column-block path."""
    _assert_close(*_run(shape, dtype, rms), dtype)


@pytest.mark.parametrize("rms", [False, True], ids=["layer_norm", "rms_norm"])
@pytest.mark.parametrize("shape", [(37, 5), (9, 200), (4, 64)])
def test_small_tiles_and_several_programs(monkeypatch, shape, rms):
    """A 64-element tile and at most 3 backward programs: packed rows over several row blocks a program, and rows
    of 200 in 64-wide blocks; the parameters' partials of each program summed by the second kernel."""
    monkeypatch.setattr(L, "INTERPRETER_TILE", 64)
    monkeypatch.setattr(L, "PARTIAL_PROGRAMS", 3)
    assert L.partial_programs(HostTensor(np.zeros(shape, np.float32)))[0] > 1
    _assert_close(*_run(shape, "float32", rms), "float32")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_float32_parameters_of_a_low_precision_input(dtype):
    got, expected = _run((4, 33), dtype, False, param_dtype="float32")
    assert got["dw"].dtype == np.float32 and got["db"].dtype == np.float32
    _assert_close(got, expected, dtype)


@pytest.mark.parametrize("small_tile", [False, True])
@pytest.mark.parametrize("need", [("dx",), ("dw",), ("db",), ("dw", "db")])
def test_each_gradient_alone(monkeypatch, need, small_tile):
    if small_tile:
        monkeypatch.setattr(L, "INTERPRETER_TILE", 16)
    got, expected = _run((5, 40), "float32", False, need=need)
    assert set(got) == {"y", "mean", "rstd"} | set(need)
    _assert_close(got, expected, "float32")


def test_bad_arguments():
    x = HostTensor(np.zeros((2, 6), np.float32))
    stats = HostTensor(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="2-d float16, bfloat16, float32 or float64 input expected, got int32"):
        L.forward(HostTensor(np.zeros((2, 6), np.int32)), None, None, x, stats, stats, 1e-5)
    with pytest.raises(ValueError, match="input must be contiguous"):
        L.forward(HostTensor(np.zeros((2, 12), np.float32)[:, ::2]), None, None, x, stats, stats, 1e-5)
    with pytest.raises(ValueError, match="a parameter of shape \\(5,\\)"):
        L.forward(x, HostTensor(np.zeros(5, np.float32)), None, x, stats, stats, 1e-5)
    with pytest.raises(ValueError, match="rms_norm has no mean and no bias"):
        L.forward(x, None, None, x, stats, stats, 1e-5, rms=True)
    with pytest.raises(ValueError, match="need their partial scratch arrays"):
        L.backward(x, x, None, stats, stats, x, dw=HostTensor(np.zeros(6, np.float32)))


def test_every_tile_the_launchers_pick_is_compiled():
    """The configs compiled below are exactly those the launchers pick on a GPU for any row length."""
    lengths = list(range(1, 4200)) + [5000, 70000, 1 << 20]
    for kernel in ("forward", "backward"):
        for dtype in ("float16", "bfloat16", "float32", "float64"):
            tile = L.tile_for(kernel, dtype)
            assert tile in (L.tile_for(kernel, "bfloat16"), L.tile_for(kernel, "float64"))
            with aot.gpu_settings():
                assert {L.blocks(n, tile) for n in lengths} == set(_gpu_configs(tile))


def _gpu_configs(tile):
    widths = [1 << k for k in range(L.MIN_BLOCK_N.bit_length() - 1, tile.bit_length())]
    return [(True, tile // width, width) for width in widths] + [(False, 1, tile)]


def aot_jobs():
    import triton.language as tl
    jobs = []
    for arch in aot.ARCHITECTURES:
        # bfloat16 with float32 parameters (the widening and rounding code), and float64 (the most registers)
        for dtype, param, compute in (("bf16", "fp32", tl.float32), ("fp64", "fp64", tl.float64)):
            stat = "*fp64" if compute == tl.float64 else "*fp32"
            dtype_name = "float64" if dtype == "fp64" else "bfloat16"
            for kernel, (one_block, block_m, block_n), rms in (
                    (kernel, config, rms) for kernel in ("forward", "backward")
                    for config in _gpu_configs(L.tile_for(kernel, dtype_name)) for rms in (False, True)):
                tile = dict(COMPUTE=compute, ONE_BLOCK=one_block, BLOCK_M=block_m, BLOCK_N=block_n)
                name = f"{'rms' if rms else 'layer'} {dtype} {block_m}x{block_n}{'' if one_block else ' looped'}"
                if kernel == "forward":
                    forward = dict(x_ptr=f"*{dtype}", w_ptr=f"*{param}", b_ptr=f"*{param}", y_ptr=f"*{dtype}",
                                   mean_ptr=stat, rstd_ptr=stat, M="i32", N="i32", eps_bits="i64", RMS="constexpr",
                                   HAS_WEIGHT="constexpr", HAS_BIAS="constexpr", COMPUTE="constexpr",
                                   ONE_BLOCK="constexpr", BLOCK_M="constexpr", BLOCK_N="constexpr")
                    jobs.append((f"forward {name}", aot.job(L._layer_norm_forward_kernel, forward, dict(
                        RMS=rms, HAS_WEIGHT=True, HAS_BIAS=not rms, **tile), arch, L.forward_warps(block_m, block_n))))
                else:
                    backward = dict(x_ptr=f"*{dtype}", dy_ptr=f"*{dtype}", w_ptr=f"*{param}", mean_ptr=stat,
                                    rstd_ptr=stat, dx_ptr=f"*{dtype}", partial_w_ptr=stat, partial_b_ptr=stat,
                                    row_sums_ptr=stat, M="i32", N="i32", rows_per_program="i32", RMS="constexpr",
                                    HAS_WEIGHT="constexpr", NEED_DX="constexpr", NEED_WEIGHT="constexpr",
                                    NEED_BIAS="constexpr", COMPUTE="constexpr", ONE_BLOCK="constexpr",
                                    BLOCK_M="constexpr", BLOCK_N="constexpr")
                    jobs.append((f"backward {name}", aot.job(L._layer_norm_backward_kernel, backward, dict(
                        RMS=rms, HAS_WEIGHT=True, NEED_DX=True, NEED_WEIGHT=True, NEED_BIAS=not rms, **tile), arch,
                        L.NUM_WARPS)))
            params = dict(partial_w_ptr=stat, partial_b_ptr=stat, dw_ptr=f"*{param}", db_ptr=f"*{param}", P="i32",
                          N="i32", NEED_WEIGHT="constexpr", NEED_BIAS="constexpr", COMPUTE="constexpr",
                          BLOCK_C="constexpr")
            jobs.append((f"params {dtype}", aot.job(L._layer_norm_params_backward_kernel, params, dict(
                NEED_WEIGHT=True, NEED_BIAS=True, COMPUTE=compute, BLOCK_C=L.BLOCK_C), arch, 4)))
    return jobs


def test_layer_norm_aot_no_spills(aot_results):
    configs = sum(len(_gpu_configs(L.tile_for(kernel, dtype))) for kernel in ("forward", "backward")
                  for dtype in ("bfloat16", "float64"))
    assert len(aot_results) == len(aot.ARCHITECTURES) * (2 * configs + 2)
    aot.assert_no_spills(aot_results)
