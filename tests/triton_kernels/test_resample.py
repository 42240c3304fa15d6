"""The resampling kernel (triton_kernels/resample.py) through Triton's interpreter on HostTensor-wrapped numpy
arrays: weighted taps along each dim of a 3-d array against an einsum in float64 (dtype changes between passes
included: 16-bit data into a float32 intermediate and back), the unweighted gather for any dtype (padding), the
launcher's checks; AOT compiles for sm_80 and sm_90 without register spills for every dtype pairing the cuda
backend launches (framework/backends/cuda/resample.py)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import resample as R
from triton_kernels.host_tensor import HostTensor as H

TOL = {np.float32: 1e-6, np.float16: 2e-3, ml_dtypes.bfloat16: 1e-2, np.float64: 1e-13}


def _taps(rng, length, out, taps, dtype=np.float32):
    """A random table: `out` rows of `taps` input positions in [0, length) and their weights."""
    return rng.integers(0, length, (out, taps)).astype(np.int64), rng.standard_normal((out, taps)).astype(dtype)


def _reference(x, index, weight, dim):
    moved = np.moveaxis(x.astype(np.float64), dim, -1)
    out = (moved[..., index] * weight.astype(np.float64)).sum(axis=-1)
    return np.moveaxis(out, -1, dim)


@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("dtype,out_dtype", [(np.float32, np.float32), (np.float64, np.float64),
                                             (ml_dtypes.bfloat16, np.float32), (np.float32, np.float16)])
def test_weighted_taps(rng, dim, dtype, out_dtype):
    x = rng.standard_normal((3, 5, 4)).astype(dtype)
    weight_dtype = np.float64 if dtype == np.float64 else np.float32
    index, weight = _taps(rng, x.shape[dim], 6, 3, weight_dtype)
    shape = list(x.shape)
    shape[dim] = 6
    out = np.full(shape, 7, out_dtype)
    R.resample_axis(H(x), H(index), H(weight), H(out), dim)
    tol = max(TOL[dtype], TOL[out_dtype])
    np.testing.assert_allclose(out.astype(np.float64), _reference(x, index, weight, dim), rtol=tol, atol=tol * 4)


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.bool_, ml_dtypes.bfloat16])
def test_gather_keeps_any_dtype_exactly(rng, dtype):
    x = rng.integers(-100, 100, (2, 7, 3)).astype(dtype)
    index = np.array([[2], [1], [0], [1], [2], [6], [5]], np.int64)  # a reflect pad of 2 on the left
    out = np.zeros((2, 7, 3), dtype)
    R.resample_axis(H(x), H(index), None, H(out), 1)
    np.testing.assert_array_equal(out, x[:, index[:, 0], :])


def test_many_programs_and_empty_outputs(rng):
    x = rng.standard_normal((R.INTERPRETER_BLOCK_SIZE // 8 + 5, 4)).astype(np.float32)
    index = np.array([[0, 1], [2, 3]], np.int64)
    weight = np.array([[0.5, 0.5], [0.25, 0.75]], np.float32)
    out = np.zeros((x.shape[0], 2), np.float32)
    R.resample_axis(H(x), H(index), H(weight), H(out), 1)
    np.testing.assert_allclose(out, _reference(x, index, weight, 1), rtol=1e-6, atol=1e-6)
    empty = np.zeros((0, 2), np.float32)
    assert R.resample_axis(H(x[:0]), H(index), H(weight), H(empty), 1) is not None


def test_launcher_rejects_bad_arguments():
    x, out = np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32)
    index, weight = np.zeros((3, 2), np.int64), np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="may differ only in dim 1"):
        R.resample_axis(H(x), H(index), H(weight), H(np.zeros((3, 3), np.float32)), 1)
    with pytest.raises(ValueError, match="x must be contiguous"):
        R.resample_axis(H(np.zeros((2, 8), np.float32)[:, ::2]), H(index), H(weight), H(out), 1)
    with pytest.raises(ValueError, match="index has 3 rows for an output dim of 4"):
        R.resample_axis(H(x), H(index), H(weight), H(np.zeros((2, 4), np.float32)), 1)
    with pytest.raises(TypeError, match="index must be int64"):
        R.resample_axis(H(x), H(index.astype(np.int32)), H(weight), H(out), 1)
    with pytest.raises(ValueError, match="weight must be float32/float64"):
        R.resample_axis(H(x), H(index), H(weight.astype(np.float16)), H(out), 1)
    with pytest.raises(TypeError, match="weighted taps need float data"):
        R.resample_axis(H(x.astype(np.int32)), H(index), H(weight), H(out.astype(np.int32)), 1)
    with pytest.raises(TypeError, match="a gather keeps the dtype"):
        R.resample_axis(H(x), H(np.zeros((3, 1), np.int64)), None, H(out.astype(np.float64)), 1)


# ---- AOT: the one block config; weighted taps for each (input, output) pairing the backend launches (the dtype,
# or its float32/float64 intermediate between passes), the gather for each element size ------------------------
_FLOATS = ("fp32", "fp16", "bf16", "fp64")
_GATHER = ("fp32", "bf16", "fp64", "i64", "i32", "i8", "i1")


def _job(x, out, weighted, arch):
    acc = "fp64" if "fp64" in (x, out) else "fp32"
    pointers = {"x_ptr": x, "out_ptr": out, "index_ptr": "i64", "weight_ptr": acc if weighted else "i64"}
    return dict(kernel=R.resample_axis_kernel, arch=arch, num_warps=4, num_stages=3,
                **aot.specialize(R.resample_axis_kernel, dict(HAS_WEIGHT=weighted, BLOCK_SIZE=R.BLOCK_SIZE),
                                 pointers, aligned=False))


def _cases():
    weighted = {(x, out) for x in _FLOATS for out in (x, "fp64" if x == "fp64" else "fp32")}
    weighted |= {("fp32", out) for out in _FLOATS if out != "fp64"}  # the last pass of 16-bit data
    return [(x, out, True) for x, out in sorted(weighted)] + [(x, x, False) for x in _GATHER]


def aot_jobs():
    return [(f"{x}->{out} weighted={weighted} sm_{arch}", _job(x, out, weighted, arch))
            for arch in aot.ARCHITECTURES for x, out, weighted in _cases()]


def test_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * len(_cases())
    aot.assert_no_spills(aot_results)
