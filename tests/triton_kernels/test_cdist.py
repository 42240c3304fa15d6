"""triton_kernels/cdist.py: the direct p-norm distances and their gradient against float64 numpy in the interpreter,
every kind of p, odd and strided (batch, rows, columns) layouts, edge values, launcher errors, and AOT compiles
for sm_80/sm_90 without register spills."""
import itertools
import math
import os

import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import cdist as C
from triton_kernels.host_tensor import HostTensor as H

_DRAWS = itertools.count()
P_VALUES = [0.0, 1.0, 2.0, math.inf, 0.5, 1.5, 3.0]


def _rng():
    return np.random.default_rng([int(os.environ.get("FW_TEST_SEED", "0")), next(_DRAWS)])


def _reference(a, b, p):
    d = np.abs(a[:, :, None, :] - b[:, None, :, :])
    if p == 0:
        return np.sum(d != 0, axis=-1).astype(np.float64)
    if p == math.inf:
        return np.max(d, axis=-1, initial=0)
    return np.sum(d ** p, axis=-1) ** (1 / p)


def _gradient_reference(g, a, b, dist, p):
    """In float64, but the differences that decide a tie with the max (p = inf) in the inputs' own dtype, as the
    kernel compares them."""
    same_dtype_diff = a[:, :, None, :] - b[:, None, :, :]
    ties = np.abs(same_dtype_diff) == dist[..., None]
    diff = same_dtype_diff.astype(np.float64)
    gb, d = g[..., None].astype(np.float64), dist[..., None].astype(np.float64)
    with np.errstate(all="ignore"):
        if p == 0:
            term = np.zeros_like(diff)
        elif p == 1:
            term = gb * np.sign(diff)
        elif p == math.inf:
            term = np.where(ties, gb * np.sign(diff), 0)
        elif p < 2:
            term = np.where(d == 0, 0, np.sign(diff) * np.abs(diff) ** (p - 1) * gb / d ** (p - 1))
            term = np.where((diff == 0) & (p < 1), 0, term)
        else:
            term = np.where(d == 0, 0, diff * np.abs(diff) ** (p - 2) * gb / d ** (p - 1))
    return term.sum(axis=2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p", P_VALUES)
def test_forward_and_backward(p, dtype):
    rng = _rng()
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    for batch, rows1, rows2, cols in [(1, 5, 7, 3), (3, 17, 20, 33), (2, 1, 1, 1)]:
        a = rng.standard_normal((batch, rows1, cols)).astype(dtype)
        b = rng.standard_normal((batch, rows2, cols)).astype(dtype)
        b[0, 0] = a[0, 0]  # a zero distance
        out = np.full((batch, rows1, rows2), 7.0, dtype)
        C.cdist(H(a), H(b), H(out), p)
        np.testing.assert_allclose(out, _reference(a.astype(np.float64), b.astype(np.float64), p), rtol=tolerance,
                                   atol=tolerance)
        if p == 0:
            with pytest.raises(ValueError, match="p = 0 has no gradient"):
                C.cdist_backward(H(out), H(a), H(b), H(out), H(np.zeros_like(a)), p)
            continue
        g = rng.standard_normal(out.shape).astype(dtype)
        grad = np.full(a.shape, 7.0, dtype)
        C.cdist_backward(H(g), H(a), H(b), H(out), H(grad), p)
        expected = _gradient_reference(g, a, b, out, p)
        np.testing.assert_allclose(grad, expected, rtol=tolerance * 10, atol=tolerance * 10)


def test_strided_operands_and_transposed_gradient():
    rng = _rng()
    a = rng.standard_normal((2, 6, 10))[:, ::2, ::2]
    b = rng.standard_normal((2, 4, 5)).transpose(0, 1, 2)[:, :, :]
    out = np.zeros((2, 3, 4))
    C.cdist(H(a), H(b), H(out), 2.0)
    np.testing.assert_allclose(out, _reference(a, b, 2.0), rtol=1e-12)
    g = rng.standard_normal((2, 3, 4))
    gt, dt = g.transpose(0, 2, 1), out.transpose(0, 2, 1)  # x2's gradient: grad and dist transposed alike
    grad = np.zeros(b.shape)
    C.cdist_backward(H(gt), H(b), H(a), H(dt), H(grad), 2.0)
    np.testing.assert_allclose(grad, _gradient_reference(gt, b, a, dt, 2.0), rtol=1e-12, atol=1e-12)


def test_edge_values_and_errors():
    a = np.array([[[np.inf, 0.0], [np.nan, 1.0]]])
    b = np.array([[[1.0, 0.0]]])
    out = np.zeros((1, 2, 1))
    C.cdist(H(a), H(b), H(out), 2.0)
    assert out[0, 0, 0] == np.inf and np.isnan(out[0, 1, 0])
    with pytest.raises(TypeError, match="float32 or float64"):
        C.cdist(H(np.zeros((1, 2, 2), np.float16)), H(np.zeros((1, 2, 2), np.float16)),
                H(np.zeros((1, 2, 2), np.float16)), 2.0)
    with pytest.raises(ValueError, match="do not fit"):
        C.cdist(H(np.zeros((1, 2, 3))), H(np.zeros((1, 2, 4))), H(np.zeros((1, 2, 2))), 2.0)
    with pytest.raises(ValueError, match="one layout"):
        C.cdist_backward(H(np.zeros((1, 2, 3))), H(np.zeros((1, 2, 4))), H(np.zeros((1, 3, 4))),
                         H(np.zeros((1, 3, 2)).transpose(0, 2, 1)), H(np.zeros((1, 2, 4))), 2.0)


def aot_jobs():
    import triton.language as tl
    jobs = []
    for kernel, name, block_r, warps in ((C._cdist_kernel, "forward", C.BLOCK_R, C.NUM_WARPS),
                                         (C._cdist_backward_kernel, "backward", C.BACKWARD_BLOCK_R,
                                          C.BACKWARD_NUM_WARPS)):
        for dtype, compute in (("fp32", tl.float32), ("fp64", tl.float64)):
            for kind in (1, 2, 3, 4):
                signature = {arg: "i64" for arg in kernel.arg_names}
                signature.update({arg: f"*{dtype}" for arg in kernel.arg_names if arg.endswith("_ptr")})
                constexprs = dict(P_KIND=kind, COMPUTE=compute, BLOCK_P=C.BLOCK_P, BLOCK_R=block_r,
                                  BLOCK_M=C.BLOCK_M)
                signature.update({arg: "constexpr" for arg in constexprs})
                for arch in aot.ARCHITECTURES:
                    jobs.append((f"cdist {name} {dtype} kind {kind}",
                                 aot.job(kernel, signature, constexprs, arch, warps)))
    return jobs


def test_aot_compiles_without_spills(aot_results):
    assert len(aot_results) == 32
    aot.assert_no_spills(aot_results)
