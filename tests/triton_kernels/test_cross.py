"""triton_kernels/cross.py: cross products of (outer, 3, inner) strided and broadcast views against numpy in the
interpreter, float and integer dtypes, and AOT compiles for sm_80/sm_90 without spills."""
import itertools
import os

import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import cross as X
from triton_kernels.host_tensor import HostTensor

_DRAWS = itertools.count()
TOL = {"float32": 1e-5, "float64": 1e-12, "float16": 2e-3, "bfloat16": 2e-2}


def _rng():
    return np.random.default_rng([int(os.environ.get("FW_TEST_SEED", "0")), next(_DRAWS)])


def _np(name):
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def _run(a, b, axis):
    out = np.full(np.broadcast_shapes(a.shape, b.shape), 9, dtype=a.dtype)
    shape = out.shape
    X.cross(HostTensor(np.broadcast_to(a, shape)), HostTensor(np.broadcast_to(b, shape)), HostTensor(out), axis)
    return out


@pytest.mark.parametrize("name", ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int8"])
def test_values(name):
    rng = _rng()
    for a_shape, b_shape, axis in [((5, 3), (5, 3), 1), ((3, 7), (3, 1), 0), ((2, 3, 4), (1, 3, 4), 1),
                                   ((4, 2, 3), (4, 2, 3), 2)]:
        a = (rng.standard_normal(a_shape) * 4).astype(_np(name))
        b = (rng.standard_normal(b_shape) * 4).astype(_np(name))
        got = _run(a, b, axis)
        expected = np.cross(a.astype(np.float64), b.astype(np.float64), axisa=axis, axisb=axis, axisc=axis)
        if name.startswith("int"):
            with np.errstate(all="ignore"):
                expected = np.cross(a.astype(np.int64), b.astype(np.int64), axisa=axis, axisb=axis, axisc=axis)
            np.testing.assert_array_equal(got, expected.astype(name))
        else:
            np.testing.assert_allclose(got.astype(np.float64), expected, rtol=TOL[name], atol=TOL[name] * 16)


def test_strided_operands_and_errors():
    rng = _rng()
    base = rng.standard_normal((6, 3, 10))
    a, b = base[::2, :, ::2], base[1::2, :, 1::2].copy()
    np.testing.assert_allclose(_run(a, b, 1), np.cross(a, b, axis=1))
    with pytest.raises(ValueError, match="must have size 3"):
        X.cross(HostTensor(np.zeros((2, 4))), HostTensor(np.zeros((2, 4))), HostTensor(np.zeros((2, 4))), 1)
    with pytest.raises(TypeError, match="share one dtype"):
        X.cross(HostTensor(np.zeros(3)), HostTensor(np.zeros(3, np.float32)), HostTensor(np.zeros(3)), 0)
    unmergeable = np.zeros((4, 5, 3))[:, ::2].transpose(1, 0, 2)  # outer dims (3, 4) with strides (30, 15)
    with pytest.raises(ValueError, match="must each merge into one"):
        X.cross(HostTensor(unmergeable), HostTensor(unmergeable), HostTensor(np.zeros((3, 4, 3))), 2)


def aot_jobs():
    import triton.language as tl
    jobs = []
    for dtype, compute in (("fp32", tl.float32), ("bf16", tl.float32), ("fp64", tl.float64), ("i64", tl.int64)):
        signature = {name: "i64" for name in X._cross_kernel.arg_names}
        signature.update(a_ptr=f"*{dtype}", b_ptr=f"*{dtype}", out_ptr=f"*{dtype}", COMPUTE="constexpr",
                         BLOCK_SIZE="constexpr")
        for arch in aot.ARCHITECTURES:
            jobs.append((f"cross {dtype}", aot.job(X._cross_kernel, signature, dict(COMPUTE=compute,
                                                                                   BLOCK_SIZE=X.BLOCK_SIZE),
                                                   arch, X.NUM_WARPS)))
    return jobs


def test_aot_compiles_without_spills(aot_results):
    assert len(aot_results) == 8
    aot.assert_no_spills(aot_results)
