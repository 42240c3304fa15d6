"""Max pooling kernels (triton_kernels/pool.py) through Triton's interpreter on HostTensor-wrapped numpy arrays:
the forward's values and PyTorch's indices (first maximum in row-major order, the last nan, the first tap inside
the input for an all -inf window) against a numpy scan of the windows, for floats and ints; the backward against
np.add.at by the indices (overlapping windows sum); the launchers' checks; AOT compiles for sm_80 and sm_90
without register spills for every dtype class the launchers accept."""
import ml_dtypes
import numpy as np
import pytest

from framework.ops.pooling import adaptive_map, window_map
from triton_kernels import aot
from triton_kernels import pool as P
from triton_kernels.host_tensor import HostTensor as H


def _tables(maps):
    """The launcher's table arguments of (row map, column map), as ops/pooling.py builds them."""
    rows, cols = maps
    return H(rows.index), H(rows.weight), H(cols.index), H(cols.weight)


def _back_tables(maps):
    rows, cols = maps
    return H(rows.back_index), H(rows.back_weight), H(cols.back_index), H(cols.back_weight)


def _windows(h, w, kernel, stride, padding, dilation, ceil_out=0):
    out = [(size + 2 * p - d * (k - 1) - 1) // s + 1 + ceil_out
           for size, k, s, p, d in zip((h, w), kernel, stride, padding, dilation)]
    return tuple(window_map(i, size, o, k, s, p, d) for i, (size, o, k, s, p, d) in
                 enumerate(zip((h, w), out, kernel, stride, padding, dilation)))


def _reference(x, maps):
    """The max of each window and its index, scanning the taps in row-major order: a value greater than the best
    so far, or a nan, takes over; the first tap inside the input starts the scan."""
    rows, cols = maps
    planes, h, w = x.shape
    ho, wo = rows.index.shape[0], cols.index.shape[0]
    values = np.zeros((planes, ho, wo), np.float64)
    indices = np.zeros((planes, ho, wo), np.int64)
    for oh in range(ho):
        for ow in range(wo):
            taps = [(r, c) for r, ok_r in zip(rows.index[oh], rows.weight[oh]) if ok_r
                    for c, ok_c in zip(cols.index[ow], cols.weight[ow]) if ok_c]
            for p in range(planes):
                best, where = None, None
                for r, c in taps:
                    v = float(x[p, r, c])
                    if best is None or v > best or np.isnan(v):
                        best, where = v, r * w + c
                values[p, oh, ow], indices[p, oh, ow] = best, where
    return values, indices


def _forward(x, maps):
    ho, wo = maps[0].index.shape[0], maps[1].index.shape[0]
    out = np.full((x.shape[0], ho, wo), 7, x.dtype)
    indices = np.full((x.shape[0], ho, wo), -5, np.int64)
    P.max_pool_forward(H(x), *_tables(maps), H(out), H(indices))
    return out, indices


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16, np.float64, np.int32, np.uint8])
def test_forward_matches_the_scan(rng, dtype):
    """Overlapping windows with padding, dilation and a ceil-mode window past the input's end."""
    raw = rng.integers(0, 6, (3, 7, 6)) if np.dtype(dtype).kind in "iu" else rng.standard_normal((3, 7, 6))
    x = raw.astype(dtype)
    maps = _windows(7, 6, (3, 2), (2, 1), (1, 1), (1, 2), ceil_out=0)
    out, indices = _forward(x, maps)
    values, expected = _reference(x, maps)
    np.testing.assert_array_equal(indices, expected)  # ties (ints) take the first maximum
    np.testing.assert_array_equal(out.astype(np.float64), values)


def test_nan_and_minus_infinity_windows():
    """A nan wins (the last one of the window); a window of -inf takes its first tap inside the input."""
    x = np.array([[[1.0, np.nan, 3.0, np.nan],
                   [-np.inf, -np.inf, np.nan, 0.5],
                   [-np.inf, -np.inf, 9.0, 1.0]]], np.float32)
    maps = (window_map(0, 3, 2, 2, 1, 0, 1), window_map(1, 4, 5, 2, 1, 1, 1))  # 2x2 windows, padded columns
    out, indices = _forward(x, maps)
    np.testing.assert_array_equal(indices, [[[0, 1, 6, 6, 3], [4, 4, 6, 6, 11]]])
    nan, inf = np.nan, np.inf
    np.testing.assert_array_equal(out, [[[1.0, nan, nan, nan, nan], [-inf, -inf, nan, nan, 1.0]]])


def test_adaptive_windows_and_a_large_grid(rng):
    """Adaptive windows of unequal lengths; more outputs than one interpreter block (several programs)."""
    x = rng.standard_normal((2, 5, 7)).astype(np.float32)
    maps = (adaptive_map(0, 5, 3), adaptive_map(1, 7, 4))
    out, indices = _forward(x, maps)
    values, expected = _reference(x, maps)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(out, values.astype(np.float32))
    big = rng.standard_normal((P.INTERPRETER_BLOCK_SIZE // 16 + 3, 8, 8)).astype(np.float32)
    out, indices = _forward(big, _windows(8, 8, (2, 2), (2, 2), (0, 0), (1, 1)))
    blocks = big.reshape(-1, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4).reshape(-1, 4, 4, 4)
    np.testing.assert_array_equal(out, blocks.max(axis=-1))


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float64])
def test_backward_sums_by_index(rng, dtype):
    x = rng.standard_normal((2, 6, 5)).astype(dtype)
    maps = _windows(6, 5, (3, 3), (1, 2), (1, 1), (1, 1))
    _, indices = _forward(x, maps)
    g = rng.standard_normal(indices.shape).astype(dtype)
    grad = np.full(x.shape, 7, dtype)
    P.max_pool_backward(H(g), H(indices), *_back_tables(maps), H(grad))
    expected = np.zeros((2, 30))
    for p in range(2):
        np.add.at(expected[p], indices[p].ravel(), g[p].astype(np.float64).ravel())
    tol = 1e-12 if dtype == np.float64 else 2e-2 if dtype == ml_dtypes.bfloat16 else 1e-6
    np.testing.assert_allclose(grad.astype(np.float64), expected.reshape(x.shape), rtol=tol, atol=tol)


def test_empty_planes_launch_nothing():
    x = np.zeros((0, 4, 4), np.float32)
    out, indices = _forward(x, _windows(4, 4, (2, 2), (2, 2), (0, 0), (1, 1)))
    assert out.shape == indices.shape == (0, 2, 2)


def test_launchers_reject_bad_arguments():
    x = np.zeros((1, 4, 4), np.float32)
    maps = _windows(4, 4, (2, 2), (2, 2), (0, 0), (1, 1))
    out, indices = np.zeros((1, 2, 2), np.float32), np.zeros((1, 2, 2), np.int64)
    with pytest.raises(TypeError, match="unsupported dtype"):
        P.max_pool_forward(H(x.astype(np.complex64)), *_tables(maps), H(out), H(indices))
    with pytest.raises(TypeError, match="indices int64"):
        P.max_pool_forward(H(x), *_tables(maps), H(out), H(indices.astype(np.int32)))
    with pytest.raises(ValueError, match="table has 2 rows, expected 3"):
        P.max_pool_forward(H(x), *_tables(maps), H(np.zeros((1, 3, 2), np.float32)), H(np.zeros((1, 3, 2),
                                                                                                  np.int64)))
    with pytest.raises(ValueError, match="x must be contiguous"):
        P.max_pool_forward(H(np.zeros((1, 4, 8), np.float32)[:, :, ::2]), *_tables(maps), H(out), H(indices))
    with pytest.raises(TypeError, match="share a float dtype"):
        P.max_pool_backward(H(out.astype(np.int32)), H(indices), *_back_tables(maps), H(x.astype(np.int32)))
    with pytest.raises(ValueError, match="do not agree"):
        P.max_pool_backward(H(out), H(np.zeros((1, 2, 1), np.int64)), *_back_tables(maps), H(x))


# ---- AOT: the one block config, for every element size and class the launchers accept ------------------------
_FORWARD_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "fp64": "float64", "i64": "int64",
                   "i32": "int32", "i16": "int16", "i8": "int8", "u8": "uint8"}
_BACKWARD_DTYPES = ("fp32", "fp16", "bf16", "fp64")


def _forward_job(dtype, arch):
    name = _FORWARD_DTYPES[dtype]
    lowest = float("-inf") if name.startswith(("float", "bfloat")) else P._INTS[name]
    pointers = {"x_ptr": dtype, "out_ptr": dtype, "indices_ptr": "i64", "row_index_ptr": "i64",
                "col_index_ptr": "i64", "row_ok_ptr": "fp64" if dtype == "fp64" else "fp32",
                "col_ok_ptr": "fp64" if dtype == "fp64" else "fp32"}
    constexprs = dict(LOWEST=lowest, IS_FLOAT=name in P._FLOATS, BLOCK_SIZE=P.BLOCK_SIZE)
    return dict(kernel=P.max_pool_forward_kernel, arch=arch, num_warps=4, num_stages=3,
                **aot.specialize(P.max_pool_forward_kernel, constexprs, pointers, aligned=False))


def _backward_job(dtype, arch):
    table = "fp64" if dtype == "fp64" else "fp32"
    pointers = {"grad_ptr": dtype, "grad_x_ptr": dtype, "indices_ptr": "i64", "back_row_ptr": "i64",
                "back_col_ptr": "i64", "back_row_ok_ptr": table, "back_col_ok_ptr": table}
    return dict(kernel=P.max_pool_backward_kernel, arch=arch, num_warps=4, num_stages=3,
                **aot.specialize(P.max_pool_backward_kernel, dict(BLOCK_SIZE=P.BLOCK_SIZE), pointers, aligned=False))


def aot_jobs():
    return ([(f"forward {dtype} sm_{arch}", _forward_job(dtype, arch)) for arch in aot.ARCHITECTURES
             for dtype in _FORWARD_DTYPES]
            + [(f"backward {dtype} sm_{arch}", _backward_job(dtype, arch)) for arch in aot.ARCHITECTURES
               for dtype in _BACKWARD_DTYPES])


def test_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * (len(_FORWARD_DTYPES) + len(_BACKWARD_DTYPES))
    aot.assert_no_spills(aot_results)


def test_aot_covers_every_accepted_dtype():
    assert set(_FORWARD_DTYPES.values()) == set(P._FLOATS) | set(P._INTS)
