"""triton_kernels.scatter_reduce under the interpreter, against numpy's ufunc.at (repeated positions combine),
and compiled ahead of time for sm_80/sm_90 without spills."""
import numpy as np
import pytest

from triton_kernels import aot, indexing as K
from triton_kernels import scatter_reduce as SR
from triton_kernels.host_tensor import HostTensor

UFUNCS = {"prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def _key(index, dim):
    key = list(np.ix_(*[np.arange(s) for s in index.shape]))
    key[dim] = index
    return tuple(key)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 16: a launch spans several programs, whose swaps race for the same targets."""
    monkeypatch.setattr(K, "INTERPRET_BLOCK_SIZE", 16)


@pytest.mark.parametrize("reduce", sorted(UFUNCS))
@pytest.mark.parametrize("dtype", SR.CAS_DTYPES)
def test_repeated_positions_combine(rng, reduce, dtype, small_blocks):
    x = rng.integers(-3, 4, size=(5, 6)).astype(dtype)
    index = rng.integers(0, 6, size=(5, 9))  # about 8 sources per target: the swaps retry
    src = rng.integers(-3, 4, size=(5, 9)).astype(dtype)
    if dtype.startswith("float"):
        src[0, :3] = np.nan
        src[1, 0] = -0.0
    expected = x.copy()
    UFUNCS[reduce].at(expected, _key(index, 1), src)
    out = x.copy()
    SR.scatter_reduce(HostTensor(out), HostTensor(index), HostTensor(src), 1, reduce)
    np.testing.assert_array_equal(out, expected)


def test_strided_operands_larger_source_and_dim_0(rng):
    table = np.ones((6, 8))
    out = table[::2, 1::2]  # (3, 4) strided view
    index = np.asfortranarray(rng.integers(0, 3, size=(5, 4)))
    src = rng.uniform(-2, 2, size=(7, 9))  # its (5, 4) corner is read
    expected = out.copy()
    np.multiply.at(expected, _key(index, 0), src[:5, :4])
    SR.scatter_reduce(HostTensor(out), HostTensor(index.astype(np.int32)), HostTensor(src), 0, "prod")
    np.testing.assert_allclose(table[::2, 1::2], expected, rtol=1e-12)
    assert (table[1::2] == 1).all() and (table[::2, ::2] == 1).all()  # nothing outside the view written


def test_bad_indices_touch_nothing_and_are_reported(small_blocks):
    errors = np.zeros(4, np.int64)
    out = np.zeros((2, 3))
    index = np.array([[0, 3, 1], [-1, 2, 2]])
    SR.scatter_reduce(HostTensor(out), HostTensor(index), HostTensor(np.full((2, 3), 5.0)), 1, "amax",
                      errors=HostTensor(errors), error_code=7)
    np.testing.assert_array_equal(out, [[5, 5, 0], [0, 0, 5]])
    assert errors[0] == 7 and errors[1] in (3, -1) and errors[2:].tolist() == [1, 3]
    empty = np.zeros((2, 0))  # an empty dim: every index is out of range, and nothing is read
    errors[:] = 0
    SR.scatter_reduce(HostTensor(empty), HostTensor(np.zeros((2, 1), np.int64)), HostTensor(np.ones((2, 1))), 1,
                      "prod", errors=HostTensor(errors), error_code=7)
    assert errors.tolist() == [7, 0, 1, 0]


def test_launcher_checks():
    out, index, src = np.zeros((2, 3), np.float16), np.zeros((2, 3), np.int64), np.zeros((2, 3), np.float16)
    with pytest.raises(TypeError, match="out must be one of"):
        SR.scatter_reduce(HostTensor(out), HostTensor(index), HostTensor(src), 1, "prod")
    with pytest.raises(ValueError, match="reduce must be one of"):
        SR.scatter_reduce(HostTensor(out.astype(np.float32)), HostTensor(index), HostTensor(src), 1, "sum")
    with pytest.raises(TypeError, match="index must be int32 or int64"):
        SR.scatter_reduce(HostTensor(out.astype(np.float32)), HostTensor(index.astype(np.int16)), HostTensor(src), 1,
                          "prod")


def _aot_configs():
    signature = lambda table, src: dict(  # noqa: E731
        table_ptr=f"*{table}", index_ptr="*i64", src_ptr=f"*{src}", error_ptr="*i64", n_elements="i32",
        size1="i32", size2="i32", size3="i32", size4="i32", size5="i32", dim_size="i32",
        **{f"stride_{op}{d}": "i32" for op in "tis" for d in range(6)}, stride_dim="i32", error_code="i32",
        error_dim="i32", REDUCE="constexpr", WRAP_NEGATIVE="constexpr", WIDE_WORDS="constexpr", NDIM="constexpr",
        BLOCK_SIZE="constexpr")
    return [(f"scatter_reduce {reduce} {table}<-{src} NDIM={ndim}", SR._scatter_reduce_kernel, signature(table, src),
             dict(REDUCE=SR.REDUCTIONS[reduce], WRAP_NEGATIVE=False, WIDE_WORDS=table in ("fp64", "i64"), NDIM=ndim,
                  BLOCK_SIZE=SR.BLOCK_SIZE))
            for reduce, table, src, ndim in (("prod", "fp32", "bf16", 3), ("amax", "fp64", "fp64", 6),
                                             ("amin", "i64", "i8", 2), ("prod", "i32", "i32", 3))]


def aot_jobs():
    return [(name, aot.job(kernel, signature, constexprs, arch, K.NUM_WARPS))
            for arch in aot.ARCHITECTURES for name, kernel, signature, constexprs in _aot_configs()]


def test_scatter_reduce_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * len(_aot_configs())
    aot.assert_no_spills(aot_results)
