"""triton_kernels/copy.py: strided copies with casts, and fills, in the interpreter against numpy; and the
kernel's AOT compiles for sm_80/sm_90 at every dims count it ships."""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before any @triton.jit decoration runs
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("triton", reason="Triton has no wheel for this platform")

from triton_kernels import copy as C  # noqa: E402
from triton_kernels import aot  # noqa: E402
from triton_kernels.host_tensor import HostTensor  # noqa: E402
from triton_kernels.strided import collapse, is_contiguous  # noqa: E402

DTYPES = ["float32", "float16", "bfloat16", "float64", "int64", "int32", "int8", "uint8", "bool"]


def _np(name):
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def _random(rng, shape, name):
    if name == "bool":
        return rng.random(shape) < 0.5
    if name.startswith(("int", "uint")):
        return rng.integers(0 if name == "uint8" else -100, 100, size=shape).astype(name)
    return rng.uniform(-50, 50, size=shape).astype(_np(name))


@pytest.mark.parametrize("src_name", DTYPES)
@pytest.mark.parametrize("dst_name", ["float32", "bfloat16", "int64", "bool"])
def test_copy_casts_like_numpy(src_name, dst_name, rng):
    src = _random(rng, (7, 13), src_name)
    dst = np.empty((7, 13), _np(dst_name))
    C.copy(HostTensor(src), HostTensor(dst))
    expected = src.astype(np.float32).astype(_np(dst_name)) if src_name == "bfloat16" else src.astype(_np(dst_name))
    np.testing.assert_array_equal(dst, expected)


@pytest.mark.parametrize("layout", ["transposed", "sliced", "broadcast", "seven-dims", "negative-free-steps"])
def test_copy_reads_and_writes_any_layout(layout, rng):
    if layout == "transposed":
        src = _random(rng, (3, 4, 5), "float32").transpose(2, 0, 1)
    elif layout == "sliced":
        src = _random(rng, (9, 8, 6), "float32")[1::2, :, ::3]
    elif layout == "broadcast":
        src = np.broadcast_to(_random(rng, (1, 5, 1), "float32"), (4, 5, 3))
    elif layout == "seven-dims":  # more dims than a kernel indexes: only the non-mergeable ones count
        src = _random(rng, (2, 3, 2, 3, 2, 3, 4), "float32")[:, :, :, :, :, :, ::2]
    else:
        src = _random(rng, (6, 10), "float32")[::3, 1::2]
    storage = np.full((src.size * 2 + 3,), -7.0, np.float32)
    dst = storage[3:3 + 2 * src.size:2].reshape(src.shape)  # a strided destination inside a larger buffer
    C.copy(HostTensor(src), HostTensor(dst))
    np.testing.assert_array_equal(dst, src)
    assert storage[0] == -7 and storage[4] == -7  # nothing written between the destination's elements


def test_fill_writes_only_the_view(rng):
    base = np.zeros((5, 6), np.int64)
    C.fill(HostTensor(base[1:4, ::2]), 7)
    expected = np.zeros((5, 6), np.int64)
    expected[1:4, ::2] = 7
    np.testing.assert_array_equal(base, expected)
    flags = np.zeros(4, bool)
    C.fill(HostTensor(flags[::2]), 3.5)
    np.testing.assert_array_equal(flags, [True, False, True, False])
    halves = np.zeros(3, ml_dtypes.bfloat16)
    C.fill(HostTensor(halves), 1.5)
    assert (halves.astype(np.float32) == 1.5).all()
    for value in (1.1, -3.3e-39, 1e39, float("nan")):  # rounded to nearest (truncation gives 1.09375 for 1.1)
        C.fill(HostTensor(halves), value)
        np.testing.assert_array_equal(halves.view(np.uint16), np.full(3, value, ml_dtypes.bfloat16).view(np.uint16))


def test_empty_copy_launches_nothing_and_shape_mismatch_is_an_error():
    C.copy(HostTensor(np.zeros((0, 3), np.float32)), HostTensor(np.zeros((0, 3), np.float32)))
    with pytest.raises(ValueError, match=r"source shape \(2, 3\) does not match destination shape \(3, 2\)"):
        C.copy(HostTensor(np.zeros((2, 3), np.float32)), HostTensor(np.zeros((3, 2), np.float32)))


@pytest.mark.parametrize("shape,strides", [((2, 3, 4), (12, 4, 1)), ((2, 3, 4), (1, 2, 6)), ((2, 1, 4), (4, 99, 1)),
                                           ((3, 4), (4, 2)), ((1,), (7,)), ((0, 3), (3, 1)), ((), ()), ((5, 1), (1, 1))])
def test_is_contiguous_agrees_with_collapse(shape, strides):
    merged = collapse(shape, strides)
    assert is_contiguous(shape, strides) == (len(merged[0]) == 1 and merged[1][0] in ((1,), (0,)))


def test_collapse_merges_dims_contiguous_in_every_operand():
    assert collapse((2, 3, 4), (12, 4, 1), (12, 4, 1)) == ((24,), [(1,), (1,)])
    assert collapse((2, 3, 4), (12, 4, 1), (1, 2, 6)) == ((2, 3, 4), [(12, 4, 1), (1, 2, 6)])
    assert collapse((2, 1, 4), (4, 99, 1)) == ((8,), [(1,)])
    assert collapse((1, 1), (5, 1)) == ((1,), [(0,)])


def aot_jobs():
    """The copy kernel at every dims count it ships, sm_80/sm_90."""
    sizes = {f"size{i}": "i64" for i in range(1, 6)}
    strides = {f"stride_{w}{i}": "i64" for w in "sd" for i in range(6)}
    signature = {"src_ptr": "*bf16", "dst_ptr": "*fp32", "n_elements": "i64", **sizes, **strides, "value": "fp32",
                 "FROM_SCALAR": "constexpr", "SRC_BF16": "constexpr", "DST_BF16": "constexpr", "NDIM": "constexpr",
                 "BLOCK_SIZE": "constexpr"}
    flags = dict(FROM_SCALAR=False, SRC_BF16=True, DST_BF16=True, BLOCK_SIZE=C.BLOCK_SIZE)
    return [(f"NDIM={ndim}", aot.job(C._copy_kernel, signature, dict(flags, NDIM=ndim), arch, C.NUM_WARPS))
            for arch in aot.ARCHITECTURES for ndim in range(1, 7)]


def test_copy_kernel_compiles_without_spills_for_every_dims_count(aot_results):
    assert len(aot_results) == 2 * 6
    aot.assert_no_spills(aot_results)


@pytest.mark.parametrize("name", ["float32", "bfloat16", "int8", "bool"])
def test_copy_from_negative_strides(name, rng):
    """A flip is a copy whose source has negated strides (starting at the last element of those dims)."""
    base = _random(rng, (5, 6, 7), name)
    for view in (base[::-1], base[:, ::-1, ::-2], base[::-1, ::-1, ::-1], base[::-1].transpose(2, 0, 1)):
        dst = np.empty(view.shape, view.dtype)
        C.copy(HostTensor(view), HostTensor(dst))
        np.testing.assert_array_equal(dst, view)
