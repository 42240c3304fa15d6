"""softmax / log_softmax forward and backward kernels through Triton's interpreter (conftest sets
TRITON_INTERPRET=1) against float64 numpy, plus ahead-of-time compiles for sm_80/sm_90 (no register spills)."""
import warnings

import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import softmax as S
from triton_kernels.host_tensor import HostTensor
from triton_kernels.row_settings import tile_settings

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
# (rtol, atol) against float64: the output's rounding dominates for fp16/bf16 (the math is fp32).
TOL = {"float32": (1e-5, 1e-6), "float16": (2e-3, 1e-4), "bfloat16": (8e-3, 1e-3), "float64": (1e-12, 1e-14)}
MULTI_BLOCK_TILE = (2, 256, 4)  # 1000-column rows: four blocks each, two rows per program


def _rng(*key):
    return np.random.default_rng(abs(hash(key)) % (1 << 32))


def reference(x, log):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        shifted = x - x.max(axis=1, keepdims=True) if x.shape[1] else x
        total = np.exp(shifted).sum(axis=1, keepdims=True)
        return shifted - np.log(total) if log else np.exp(shifted) / total


def reference_backward(y, g, log):
    y, g = y.astype(np.float64), g.astype(np.float64)
    if log:
        return g - np.exp(y) * g.sum(axis=1, keepdims=True)
    return y * (g - (g * y).sum(axis=1, keepdims=True))


def forward(x, log, tile=None, y=None):
    y = np.full(x.shape, 7, x.dtype) if y is None else y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the interpreter computes masked lanes too
        S.softmax_forward(HostTensor(x), HostTensor(y), *x.shape, *HostTensor(x).stride(), *HostTensor(y).stride(),
                          log=log, tile=tile)
    return y


def backward(y, g, log, tile=None):
    dx = np.full(y.shape, 7, y.dtype)
    S.softmax_backward(HostTensor(y), HostTensor(g), HostTensor(dx), *y.shape, *HostTensor(y).stride(),
                       *HostTensor(g).stride(), *HostTensor(dx).stride(), log=log, tile=tile)
    return dx


def assert_close(got, ref, dtype):
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=rtol, atol=atol * max(1.0, np.abs(ref).max(initial=0)))


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("log", [False, True])
def test_forward_and_backward(dtype, log):
    for shape, tile in [((1, 1), None), ((7, 13), None), ((3, 1000), None), ((3, 1000), MULTI_BLOCK_TILE),
                        ((0, 5), None), ((4, 0), None)]:
        rng = _rng(dtype, log, shape, tile)
        x = (rng.standard_normal(shape) * 3).astype(DTYPES[dtype])
        y = forward(x, log, tile)
        assert_close(y, reference(x, log), dtype)
        g = rng.standard_normal(shape).astype(DTYPES[dtype])
        assert_close(backward(y, g, log, tile), reference_backward(y, g, log), dtype)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("tile", [None, MULTI_BLOCK_TILE])
def test_extreme_rows(log, tile):
    """Rows of -inf, holding +inf or NaN give NaN (as PyTorch); huge logits and a row whose first blocks are all
    -inf stay finite and exact."""
    x = (_rng("extreme", log) .standard_normal((6, 1000)) * 3).astype(np.float32)
    x[0] = -np.inf
    x[1, 900] = np.inf
    x[2, 10] = np.nan
    x[3, :600] = -np.inf
    x[4] += 1e4
    x[5, ::2] = -1e4
    y = forward(x, log, tile)
    assert np.isnan(y[:3]).all()
    ref = reference(x[3:], log)
    finite = np.isfinite(ref)
    np.testing.assert_allclose(y[3:][finite], ref[finite], rtol=1e-5, atol=1e-5)
    assert np.array_equal(y[3:][~finite], ref[~finite])  # exp(-inf) = 0, log_softmax -inf


def test_strided_views_and_broadcast_gradient():
    """Softmax down the columns of a matrix (column stride != 1), written into a transposed output; the gradient
    broadcast along rows (stride 0), as `y.sum().backward()` gives."""
    rng = _rng("views")
    base = rng.standard_normal((300, 9)).astype(np.float32)
    for log in (False, True):
        out = np.zeros((300, 9), np.float32)
        forward(base.T, log, y=out.T)
        assert_close(out.T, reference(base.T, log), "float32")
        g = np.broadcast_to(np.float32(1.0), (9, 300))
        assert_close(backward(np.ascontiguousarray(out.T), g, log), reference_backward(out.T, g, log), "float32")


@pytest.mark.parametrize("log", [False, True])
def test_two_level_rows(log):
    """Softmax over dim 1 of a contiguous (A, B, C) array: rows (a, c) at a * B*C + c, columns of stride C."""
    rng = _rng("two-level", log)
    x = rng.standard_normal((3, 40, 5)).astype(np.float32)
    a, b, c = x.shape
    y = np.zeros_like(x)
    strides = dict(n_inner=c, stride_xi=1, stride_yi=1, log=log, tile=(4, 16, 4))
    S.softmax_forward(HostTensor(x), HostTensor(y), a * c, b, b * c, c, b * c, c, **strides)
    ref = reference(np.moveaxis(x, 1, -1).reshape(-1, b), log).reshape(a, c, b)
    assert_close(np.moveaxis(y, 1, -1), ref, "float32")
    g = rng.standard_normal(x.shape).astype(np.float32)
    dx = np.zeros_like(x)
    S.softmax_backward(HostTensor(y), HostTensor(g), HostTensor(dx), a * c, b, b * c, c, b * c, c, b * c, c,
                       n_inner=c, stride_yi=1, stride_gi=1, stride_di=1, log=log, tile=(4, 16, 4))
    moved = [np.moveaxis(t, 1, -1).reshape(-1, b) for t in (y, g)]
    assert_close(np.moveaxis(dx, 1, -1), reference_backward(*moved, log).reshape(a, c, b), "float32")


def test_launcher_checks():
    x = HostTensor(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="int32"):
        S.softmax_forward(HostTensor(np.zeros((2, 3), np.int32)), x, 2, 3, 3, 1, 3, 1)
    with pytest.raises(TypeError, match="output dtype"):
        S.softmax_forward(x, HostTensor(np.zeros((2, 3), np.int32)), 2, 3, 3, 1, 3, 1)
    with pytest.raises(ValueError, match="n_rows"):
        S.softmax_backward(x, x, x, -1, 3, 3, 1, 3, 1, 3, 1)
    with pytest.raises(TypeError, match="`g`"):
        S.softmax_backward(x, HostTensor(np.zeros((2, 3), np.int64)), x, 2, 3, 3, 1, 3, 1, 3, 1)


# ---- ahead-of-time compiles of the shipped tiles: the widest one-block row, packed short rows, multi-block ----

with aot.gpu_settings():  # a GPU's tiles, not the interpreter's
    _WIDEST = tile_settings(1, S.MAX_BLOCK_SIZE, S.MAX_BLOCK_SIZE)
    _PACKED = tile_settings(1 << 20, 16, S.MAX_BLOCK_SIZE)
_AOT_CASES = [
    ("forward", "bf16", _WIDEST, True),
    ("forward", "fp32", _PACKED, True),
    ("forward", "fp32", _WIDEST, False),
    ("backward", "bf16", _WIDEST, True),
    ("backward", "fp32", _WIDEST, False),
]
_ACC = {"bf16": "bfloat16", "fp32": "float32"}


def _job(which, dt, tile, one_block, arch, log):
    from triton_kernels.reduction import accumulator
    block_m, block_size, num_warps = tile
    constexprs = dict(LOG=log, ONE_BLOCK=one_block, ACC_DTYPE=accumulator(_ACC[dt]), BLOCK_M=block_m,
                      BLOCK_SIZE=block_size)
    kernel = S._softmax_forward_kernel if which == "forward" else S._softmax_backward_kernel
    signature = {}
    for name in kernel.arg_names:
        # unit column strides, as the launcher's calls specialise them
        if name in constexprs or name.startswith("stride_") and name.endswith("n"):
            signature[name] = "constexpr"
            constexprs.setdefault(name, 1)
        else:
            signature[name] = f"*{dt}" if name.endswith("_ptr") else "i32"
    return aot.job(kernel, signature, constexprs, arch, num_warps)


def aot_jobs():
    return [(f"{which} {dt} tile={list(tile)} one_block={one_block} log={log}",
             _job(which, dt, tile, one_block, arch, log))
            for arch in aot.ARCHITECTURES for which, dt, tile, one_block in _AOT_CASES
            for log in ((False, True) if which == "forward" and one_block else (which == "backward",))]


def test_aot_no_spills(aot_results):
    assert aot_results
    aot.assert_no_spills(aot_results)
