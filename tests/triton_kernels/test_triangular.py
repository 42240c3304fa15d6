"""triton_kernels/triangular.py: tril/triu of (batch, rows, cols) strided views against numpy in the interpreter,
every dtype, every diagonal from far below to far above, and AOT compiles for sm_80/sm_90 without spills."""
import itertools
import os

import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import triangular as T
from triton_kernels.host_tensor import HostTensor

DTYPES = ["float32", "float16", "bfloat16", "float64", "int64", "int32", "int8", "uint8", "bool"]
_DRAWS = itertools.count()


def _rng():
    return np.random.default_rng([int(os.environ.get("FW_TEST_SEED", "0")), next(_DRAWS)])


def _random(rng, shape, name):
    if name == "bool":
        return rng.random(shape) < 0.5
    dtype = np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)
    return rng.integers(1, 100, size=shape).astype(dtype)  # nonzero: a kept element never looks dropped


def _triangle(x, diagonal, upper):
    out = np.full(x.shape, 7, dtype=x.dtype)
    T.triangle(HostTensor(x), HostTensor(out), diagonal, upper)
    return out


@pytest.mark.parametrize("name", DTYPES)
def test_every_dtype_and_diagonal(name):
    x = _random(_rng(), (3, 5, 7), name)
    for diagonal in (-9, -5, -1, 0, 1, 3, 7, 9):
        np.testing.assert_array_equal(_triangle(x, diagonal, False), np.tril(x, diagonal))
        np.testing.assert_array_equal(_triangle(x, diagonal, True), np.triu(x, diagonal))


def test_strided_and_broadcast_views():
    rng = _rng()
    base = _random(rng, (4, 6, 10), "float32")
    for view in (base[:, :, ::2], base.transpose(0, 2, 1), np.broadcast_to(base[:1, :3, :4], (5, 3, 4))):
        np.testing.assert_array_equal(_triangle(view, 0, False), np.tril(view))
        np.testing.assert_array_equal(_triangle(view, -1, True), np.triu(view, -1))


def test_empty_and_errors():
    assert _triangle(np.zeros((0, 3, 3), np.float32), 0, False).shape == (0, 3, 3)
    with pytest.raises(ValueError, match="one \\(batch, rows, cols\\) shape"):
        T.triangle(HostTensor(np.zeros((3, 3))), HostTensor(np.zeros((3, 3))), 0, False)
    with pytest.raises(TypeError, match="x is float32 but out is float64"):
        T.triangle(HostTensor(np.zeros((1, 3, 3), np.float32)), HostTensor(np.zeros((1, 3, 3))), 0, False)


def aot_jobs():
    jobs = []
    for dtype, upper in (("fp32", False), ("bf16", True), ("i1", False), ("fp64", True)):
        signature = {"x_ptr": f"*{dtype}", "out_ptr": f"*{dtype}", "n_elements": "i64", "n_rows": "i32",
                     "n_cols": "i32", "diagonal": "i64", "stride_xb": "i64", "stride_xm": "i64", "stride_xn": "i64",
                     "UPPER": "constexpr", "BLOCK_SIZE": "constexpr"}
        constexprs = dict(UPPER=upper, BLOCK_SIZE=T.BLOCK_SIZE)
        for arch in aot.ARCHITECTURES:
            jobs.append((f"triangle {dtype} upper={upper}",
                         aot.job(T._triangle_kernel, signature, constexprs, arch, T.NUM_WARPS)))
    return jobs


def test_aot_compiles_without_spills(aot_results):
    assert len(aot_results) == 8
    aot.assert_no_spills(aot_results)
