"""triton_kernels.grad_norm in the interpreter: the total norm of many tensors of mixed dtypes against float64
numpy, scaling in place, non-finite values, nothing at all; and ahead-of-time compiles without spills."""
import math

import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import grad_norm as G
from triton_kernels.host_tensor import HostTensor

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
# sizes crossing the interpreter's 65536-element blocks, a scalar-sized tensor, an empty one
SIZES = [70000, 1, 0, 257, 3]


def _arrays(rng, dtypes, sizes=SIZES):
    """Random tensors; float16 ones small enough that their 1-norm stays inside float16's range."""
    return [(rng.standard_normal(n) * (0.05 if d == "float16" else 2)).astype(DTYPES[d]) for n, d in zip(sizes, dtypes)]


def _reference(arrays, norm_type):
    flat = np.abs(np.concatenate([a.astype(np.float64) for a in arrays]))
    if norm_type == math.inf:
        return flat.max()
    if norm_type == -math.inf:
        return flat.min()
    return (flat ** norm_type).sum() ** (1 / norm_type)


def _run(arrays, norm_type, max_norm=None):
    hosts = [HostTensor(a) for a in arrays]
    blocks = G.build_blocks(hosts, HostTensor)
    total = HostTensor(np.zeros((), DTYPES[blocks.out_dtype]))
    partials = HostTensor(np.zeros(G.partial_count(blocks), np.dtype(blocks.compute)))
    G.total_norm(blocks, norm_type, total, partials, max_norm)
    return float(total.array.astype(np.float64)), blocks


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf])
@pytest.mark.parametrize("dtypes", [("float32",) * 5, ("float64",) * 5, ("float16",) * 5, ("bfloat16",) * 5,
                                    ("float32", "float16", "bfloat16", "float64", "float32")])
def test_total_norm_of_many_tensors(norm_type, dtypes):
    rng = np.random.default_rng(0)
    arrays = _arrays(rng, dtypes)
    if math.isinf(norm_type):
        arrays = [a for a in arrays if a.size]  # the inf norms of nothing are the caller's error
    total, blocks = _run(arrays, norm_type)
    assert blocks.out_dtype == G.promoted_dtype(dtypes[:len(arrays)] if math.isinf(norm_type) else dtypes)
    tol = {"float32": 1e-5, "float64": 1e-12}.get(blocks.out_dtype, 1e-2)
    expected = _reference(arrays, norm_type)
    if expected > float(np.finfo(DTYPES[blocks.out_dtype]).max):
        assert total == math.inf  # beyond the total's dtype, as PyTorch's overflows too
    else:
        assert total == pytest.approx(expected, rel=tol)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_scaling_in_place(dtype):
    rng = np.random.default_rng(1)
    arrays = _arrays(rng, [dtype] * 5)
    originals = [a.astype(np.float64) for a in arrays]
    total, _ = _run(arrays, 2.0, max_norm=1.0)
    coef = min(1.0, 1.0 / (total + 1e-6))
    tol = {"float32": 1e-6, "float64": 1e-14}.get(dtype, 1e-2)
    for got, before in zip(arrays, originals):
        np.testing.assert_allclose(got.astype(np.float64), before * coef, rtol=tol, atol=tol)
    # a norm below max_norm leaves them as they were
    again = [a.copy() for a in arrays]
    _run(again, 2.0, max_norm=1e6)
    for got, before in zip(again, arrays):
        np.testing.assert_array_equal(got, before)


def test_scale_by_a_given_total():
    arrays = [np.full(5, 2.0, np.float32), np.full(3, -1.0, ml_dtypes.bfloat16)]
    blocks = G.build_blocks([HostTensor(a) for a in arrays], HostTensor)
    G.scale_by_total(blocks, HostTensor(np.array(4.0, np.float64)), 1.0)
    np.testing.assert_allclose(arrays[0], np.full(5, 2.0 * (1 / (4 + 1e-6)), np.float32), rtol=1e-7)
    np.testing.assert_array_equal(arrays[1].astype(np.float32), np.full(3, -0.25, np.float32))


def test_non_finite_values_propagate():
    for norm_type in (2.0, math.inf, -math.inf, 1.0):
        nan = [np.array([1.0, np.nan, 3.0], np.float32), np.array([0.5], np.float32)]
        assert math.isnan(_run(nan, norm_type)[0]), norm_type
    inf = [np.array([1.0, np.inf], np.float32)]
    total, _ = _run(inf, 2.0, max_norm=1.0)
    assert total == math.inf
    np.testing.assert_array_equal(inf[0], [0.0, np.nan])  # coefficient 0: inf * 0 is nan, as in PyTorch


def test_nothing_at_all_is_a_zero_norm():
    assert _run([np.zeros(0, np.float32)], 2.0)[0] == 0.0


def test_bad_arguments():
    with pytest.raises(TypeError, match="float32, float16, bfloat16 or float64 expected"):
        G.build_blocks([HostTensor(np.zeros(3, np.int64))], HostTensor)
    with pytest.raises(ValueError, match="not contiguous"):
        G.build_blocks([HostTensor(np.zeros((4, 4), np.float32)[:, ::2])], HostTensor)
    blocks = G.build_blocks([HostTensor(np.zeros(3, np.float32))], HostTensor)
    with pytest.raises(TypeError, match="the tensors' norm is float32"):
        G.total_norm(blocks, 2.0, HostTensor(np.zeros((), np.float16)), HostTensor(np.zeros(1, np.float32)))
    with pytest.raises(ValueError, match="the caller composes it"):
        G.total_norm(blocks, 0.0, HostTensor(np.zeros((), np.float32)), HostTensor(np.zeros(1, np.float32)))


def aot_jobs():
    import triton.language as tl
    jobs = []
    for arch in aot.ARCHITECTURES:
        for compute, partial_type in ((tl.float32, "*fp32"), (tl.float64, "*fp64")):
            for norm in ("2", "p", "-inf"):
                signature = dict(blocks_ptr="*i64", partials_ptr=partial_type, n_blocks="i32", p_bits="i64",
                                 NORM="constexpr", COMPUTE="constexpr", BLOCK_SIZE="constexpr")
                constexprs = dict(NORM=norm, COMPUTE=compute, BLOCK_SIZE=G.BLOCK_SIZE)
                jobs.append((f"partials {norm} {compute}",
                             aot.job(G._norm_partials_kernel, signature, constexprs, arch, G.NUM_WARPS)))
            for total_type in ("*bf16", "*fp32", "*fp64"):
                signature = dict(partials_ptr=partial_type, total_ptr=total_type, blocks_ptr="*i64", n_partials="i32",
                                 n_blocks="i32", p_bits="i64", max_norm_bits="i64", NORM="constexpr",
                                 COMPUTE="constexpr", FROM_TOTAL="constexpr", SCALE="constexpr",
                                 PARTIALS_BLOCK="constexpr", BLOCK_SIZE="constexpr")
                constexprs = dict(NORM="p", COMPUTE=compute, FROM_TOTAL=False, SCALE=True,
                                  PARTIALS_BLOCK=G.MAX_PROGRAMS, BLOCK_SIZE=G.BLOCK_SIZE)
                jobs.append((f"finish+scale {compute} total {total_type}",
                             aot.job(G._finish_kernel, signature, constexprs, arch, G.NUM_WARPS)))
    return jobs


def test_grad_norm_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * 2 * 6
    aot.assert_no_spills(aot_results)
