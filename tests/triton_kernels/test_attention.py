"""triton_kernels.attention in the interpreter against float64 numpy: values and gradients (q, k, v, the additive
mask), causal with L_q != L_k, grouped heads, odd head dims, strided inputs, fully masked rows, dropout drawn
from the same Philox stream as a bernoulli fill; argument checks; ahead-of-time compiles without spills."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import attention as A
from triton_kernels import random as R
from triton_kernels.host_tensor import HostTensor

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
TOL = {"float32": 2e-5, "float64": 1e-12, "float16": 5e-3, "bfloat16": 3e-2}
SEED, OFFSET = 2**63 + 12345, 77  # a seed above 2**63: the kernels take Philox's 64-bit key


def reference(q, k, v, mask, causal, scale, keep=None, dropout_p=0.0, dout=None):
    """float64 numpy: (out, dq, dk, dv, dmask) of softmax(scale q k^T + mask) (dropout) v, fully masked rows 0."""
    group = q.shape[1] // k.shape[1]
    kk, vv = np.repeat(k, group, 1), np.repeat(v, group, 1)
    s = scale * q @ kk.swapaxes(-1, -2)
    if mask is not None:
        s = s + mask
    if causal:
        s = np.where(np.arange(k.shape[2])[None] <= np.arange(q.shape[2])[:, None], s, -np.inf)
    top = s.max(-1, keepdims=True, initial=-np.inf)
    e = np.exp(s - np.where(np.isfinite(top), top, 0))
    total = e.sum(-1, keepdims=True)
    p = np.where(total > 0, e / np.where(total > 0, total, 1), 0)
    z = np.ones_like(p) if keep is None else keep / (1 - dropout_p)
    out = (p * z) @ vv
    if dout is None:
        return out
    dp = (dout @ vv.swapaxes(-1, -2)) * z
    ds = p * (dp - (p * dp).sum(-1, keepdims=True))
    n, kv_heads, len_k = k.shape[:3]
    dk = (scale * ds.swapaxes(-1, -2) @ q).reshape(n, kv_heads, group, len_k, q.shape[3]).sum(2)
    dv = ((p * z).swapaxes(-1, -2) @ dout).reshape(n, kv_heads, group, len_k, v.shape[3]).sum(2)
    return out, scale * ds @ kk, dk, dv, ds


def _run(dtype, shape, causal, mask_shape=None, dropout_p=0.0, strided=False, fully_masked=False, seed=0):
    (n, heads, kv_heads, len_q, len_k, head_dim, value_dim) = shape
    rng = np.random.default_rng(seed)
    np_dtype = DTYPES[dtype]
    acc = np.dtype(np.float64 if dtype == "float64" else np.float32)

    def make(*dims):
        if strided:  # every array a view of a larger one: the kernels read any strides
            return rng.standard_normal(dims[:-1] + (2 * dims[-1],)).astype(np_dtype)[..., ::2]
        return rng.standard_normal(dims).astype(np_dtype)
    q, k = make(n, heads, len_q, head_dim), make(n, kv_heads, len_k, head_dim)
    v, dout = make(n, kv_heads, len_k, value_dim), make(n, heads, len_q, value_dim)
    mask = None
    if mask_shape is not None:
        mask = rng.standard_normal(mask_shape).astype(np_dtype)
        if fully_masked:
            mask[..., 1, :] = -np.inf  # row 1 sees no key
        mask = np.broadcast_to(mask, (n, heads, len_q, len_k))
    scale = head_dim ** -0.5
    out, lse = np.empty((n, heads, len_q, value_dim), np_dtype), np.empty(n * heads * len_q, acc)
    host = [None if a is None else HostTensor(a) for a in (q, k, v, mask)]
    A.forward(*host, HostTensor(out), HostTensor(lse), scale, causal, dropout_p, SEED, OFFSET)
    dq, dk, dv, delta = np.empty_like(q), np.empty_like(k), np.empty_like(v), np.empty_like(lse)
    dmask = None if mask is None else np.zeros((n, heads, len_q, len_k), acc)
    A.backward(*host, HostTensor(out), HostTensor(dout), HostTensor(lse), HostTensor(delta), HostTensor(dq),
               HostTensor(dk), HostTensor(dv), scale, causal, dropout_p, SEED, OFFSET,
               None if dmask is None else HostTensor(dmask))
    keep = None
    if dropout_p:  # a bernoulli fill from the same (seed, offset), its rows padded to whole Philox counters
        keep = np.empty((n, heads, len_q, 4 * -(-len_k // 4)), np.float32)
        R.bernoulli_fill(HostTensor(keep), SEED, OFFSET, 1 - dropout_p)
        keep = keep[..., :len_k]
    f64 = [None if a is None else np.asarray(a, np.float64) for a in (q, k, v, mask, dout)]
    expected = reference(*f64[:4], causal, scale, keep, dropout_p, f64[4])
    got = [out, dq, dk, dv] + ([] if mask is None else [dmask])
    tol = TOL[dtype]
    for name, have, want in zip(("out", "dq", "dk", "dv", "dmask"), got, expected):
        have = np.asarray(have, np.float64)
        np.testing.assert_allclose(have, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max(initial=0.0)), err_msg=name)
    return out, dq


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_every_dtype_with_mask_and_causal(dtype):
    _run(dtype, (1, 2, 1, 37, 20, 24, 24), causal=True, mask_shape=(1, 2, 37, 20))


@pytest.mark.parametrize("shape,causal,mask_shape", [
    ((2, 2, 1, 5, 7, 8, 8), False, None),               # L_q < L_k, one key/value head for two query heads
    ((1, 4, 2, 20, 70, 80, 12), True, None),            # head dim 80 (not a power of two), D_v != D, two key blocks
    ((1, 1, 1, 70, 9, 16, 16), True, (70, 1)),          # L_q > L_k causal: later rows see every key; (L_q, 1) mask
    ((2, 3, 3, 6, 5, 1, 3), False, (2, 1, 1, 5)),       # head dim 1, a per-(batch, key) mask
    ((1, 2, 2, 1, 1, 16, 16), True, ()),                # one query, one key, a scalar mask
])
def test_shapes(shape, causal, mask_shape):
    _run("float32", shape, causal, mask_shape)


def test_strided_inputs_and_float64():
    _run("float64", (2, 2, 2, 9, 11, 5, 7), causal=False, mask_shape=(9, 11), strided=True)


def test_fully_masked_rows_give_zero_output_and_gradients():
    out, dq = _run("float32", (1, 2, 1, 6, 8, 16, 16), causal=False, mask_shape=(1, 2, 6, 8), fully_masked=True)
    assert not out[:, :, 1].any() and not dq[:, :, 1].any()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_dropout_is_the_bernoulli_fill_of_the_stream_in_both_directions(dtype):
    _run(dtype, (1, 2, 1, 19, 23, 16, 16), causal=True, mask_shape=(19, 23), dropout_p=0.3)
    _run(dtype, (2, 1, 1, 5, 70, 8, 8), causal=False, dropout_p=0.5)  # two key blocks, L_k not a multiple of 4


def test_empty_sizes():
    for shape in ((1, 2, 1, 0, 5, 8, 8), (1, 2, 1, 4, 0, 8, 8), (0, 2, 2, 3, 3, 8, 8)):
        n, heads, kv_heads, len_q, len_k, head_dim, value_dim = shape
        out, _ = _run("float32", shape, causal=False)
        assert out.shape == (n, heads, len_q, value_dim) and not out.any()


def _arrays(*shapes, dtype=np.float32):
    return [HostTensor(np.zeros(shape, dtype)) for shape in shapes]


def test_bad_arguments():
    q, k, v, out, lse = _arrays((1, 2, 3, 8), (1, 1, 4, 8), (1, 1, 4, 8), (1, 2, 3, 8), (6,))
    with pytest.raises(ValueError, match="query must be 4-d"):
        A.forward(*_arrays((2, 3, 8)), k, v, None, out, lse, 1.0)
    with pytest.raises(TypeError, match="must share a dtype"):
        A.forward(q, *_arrays((1, 1, 4, 8), dtype=np.float64), v, None, out, lse, 1.0)
    with pytest.raises(TypeError, match="unsupported dtype int32"):
        A.forward(*_arrays((1, 2, 3, 8), (1, 1, 4, 8), (1, 1, 4, 8), dtype=np.int32), None, out, lse, 1.0)
    with pytest.raises(ValueError, match="shapes do not match"):
        A.forward(q, *_arrays((1, 1, 4, 6)), v, None, out, lse, 1.0)
    with pytest.raises(ValueError, match="must divide the 2 query heads"):
        A.forward(q, *_arrays((1, 3, 4, 8), (1, 3, 4, 8)), None, out, lse, 1.0)
    with pytest.raises(ValueError, match="head dims up to 128"):
        A.forward(*_arrays((1, 2, 3, 136), (1, 1, 4, 136)), v, None, out, lse, 1.0)
    with pytest.raises(ValueError, match="the mask must have shape"):
        A.forward(q, k, v, *_arrays((1, 2, 3, 5)), out, lse, 1.0)
    with pytest.raises(TypeError, match="the mask must be a float array"):
        A.forward(q, k, v, *_arrays((1, 2, 3, 4), dtype=np.bool_), out, lse, 1.0)
    with pytest.raises(ValueError, match="out must have shape"):
        A.forward(q, k, v, None, *_arrays((1, 2, 3, 7)), lse, 1.0)
    with pytest.raises(TypeError, match="lse must be float32"):
        A.forward(q, k, v, None, out, *_arrays((6,), dtype=np.float16), 1.0)
    with pytest.raises(ValueError, match="dropout_p must be in"):
        A.forward(q, k, v, None, out, lse, 1.0, dropout_p=1.0)
    with pytest.raises(ValueError, match="dmask needs the mask"):
        A.backward(q, k, v, None, out, out, lse, lse, q, k, v, 1.0, dmask=_arrays((1, 2, 3, 4))[0])


def aot_jobs():
    """Every tile the launchers pick on a GPU (fp16 shares bf16's; narrower head dims take the 64 entry), with
    every flag on (mask, its gradient, causal, dropout: the most registers), unaligned (odd sizes and strides), for
    sm_80 and sm_90."""
    import triton.language as tl
    kernels = {"forward": A._attention_forward_kernel, "kv": A._attention_backward_kv_kernel,
               "q": A._attention_backward_q_kernel}
    jobs = []
    for arch in aot.ARCHITECTURES:
        for dtype, short in (("bfloat16", "bf16"), ("float32", "fp32"), ("float64", "fp64")):
            acc = tl.float64 if dtype == "float64" else tl.float32
            acc_short = "fp64" if dtype == "float64" else "fp32"
            for width in (64, 128):
                for kind, kernel in kernels.items():
                    with aot.gpu_settings():
                        block_m, block_n, block_d, block_dv, warps, stages = A.config(kind, dtype, width, width,
                                                                                      4096, 4096)
                    constexprs = dict(HAS_MASK=True, CAUSAL=True, DROPOUT=True, DOT_FP32=False,
                                      INPUT_PRECISION="ieee", ACC=acc, BLOCK_M=block_m, BLOCK_N=block_n,
                                      BLOCK_D=block_d, BLOCK_DV=block_dv)
                    if kind == "kv":
                        constexprs["NEED_DMASK"] = True
                    pointers = {name: short for name in kernel.arg_names if name.endswith("_ptr")}
                    for name in ("lse_ptr", "delta_ptr", "dmask_ptr"):
                        pointers[name] = acc_short
                    spec = aot.specialize(kernel, constexprs, pointers, aligned=False)
                    for name in ("seed", "offset"):
                        spec["signature"][name] = "u64" if name == "seed" else "i64"
                    for name in ("scale", "keep_prob"):
                        spec["signature"][name] = "fp32"
                    jobs.append((f"{kind} {short} d{width}",
                                 aot.job(kernel, spec["signature"], spec["constexprs"], arch, warps, stages)))
            delta = aot.specialize(A._attention_delta_kernel, dict(ACC=acc, BLOCK_M=A._DELTA_BLOCK_M, BLOCK_DV=128),
                                   {"out_ptr": short, "dout_ptr": short, "delta_ptr": acc_short}, aligned=False)
            jobs.append((f"delta {short}", aot.job(A._attention_delta_kernel, delta["signature"],
                                                   delta["constexprs"], arch)))
    return jobs


@pytest.fixture(scope="module")
def aot_results(request, _aot_compiling):
    """conftest's fixture with a longer wait: these 42 compiles take about 5 minutes on two busy cores."""
    compiling, slices = _aot_compiling
    found = slices[request.module]
    if isinstance(found, Exception):
        raise found
    keys, indices = found
    return list(zip(keys, compiling.result(indices, timeout=1800)))


def test_attention_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * 3 * (3 * 2 + 1)
    aot.assert_no_spills(aot_results)
