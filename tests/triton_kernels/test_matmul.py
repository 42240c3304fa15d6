"""Batched strided matmul through Triton's interpreter (conftest sets TRITON_INTERPRET=1) against float64
numpy, plus ahead-of-time compiles of every shipped config for sm_80/sm_90: no register spills in four
operand layouts, and wgmma for 16-bit and TF32 dots on sm_90."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import matmul as mm
from triton_kernels.host_tensor import HostTensor

FLOATS = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
INTS = {"int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8}
# Error bound per element, relative to (|A| @ |B|): the output's rounding plus the fp32 accumulation (the
# interpreter's dot is fp32 for every float dtype but fp64).
TOL = {"float32": 2e-6, "float16": 1e-3, "bfloat16": 8e-3, "float64": 1e-13}


def _operand(rng, shape, name):
    if name in INTS:
        low = 0 if name == "uint8" else -9
        return rng.integers(low, 10, shape).astype(INTS[name])
    return rng.standard_normal(shape).astype(FLOATS[name])


def _run(a, b, out_shape=None, **kwargs):
    out_shape = out_shape or np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    # `out` is a view inside a bigger buffer of sentinels: nothing outside it may change.
    storage = np.full((2 * int(np.prod(out_shape)) + 3,), 7, dtype=a.dtype)
    out = storage[3:3 + int(np.prod(out_shape))].reshape(out_shape)
    mm.matmul(HostTensor(a), HostTensor(b), HostTensor(out), **kwargs)
    assert np.all(storage[:3] == 7) and np.all(storage[3 + out.size:] == 7)
    return out


def _check(a, b, out, name):
    if name in INTS:
        expected = np.matmul(a.astype(np.int64), b.astype(np.int64)).astype(a.dtype)  # wraps like PyTorch's CPU
        np.testing.assert_array_equal(out, expected)
        return
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = np.matmul(a64, b64)
    bound = TOL[name] * np.matmul(np.abs(a64), np.abs(b64)) + 1e-30
    error = np.abs(out.astype(np.float64) - expected)
    assert np.all(error <= bound), f"{name}: max error / bound {np.max(error / bound):.3g}"


@pytest.mark.parametrize("name", list(FLOATS) + list(INTS))
@pytest.mark.parametrize("shapes", [((7, 13), (13, 9)), ((1, 1), (1, 1)), ((2, 1, 7, 13), (5, 13, 9)),
                                    ((3, 70, 5), (3, 5, 33))], ids=str)
def test_matmul_matches_float64(rng, shapes, name):
    a, b = _operand(rng, shapes[0], name), _operand(rng, shapes[1], name)
    _check(a, b, _run(a, b), name)


@pytest.mark.parametrize("name", ["float32", "bfloat16", "int64"])
def test_views_transposes_and_broadcast_batch(rng, name):
    """Transposed and sliced operands, and a batch dim of stride 0, read in place (no copies)."""
    a = _operand(rng, (3, 20, 11), name).transpose(0, 2, 1)[:, ::2, 1:]   # (3, 6, 19), both strides odd
    b = _operand(rng, (19, 8), name).T.T[:, ::-1][:, ::1].copy()[:, :5]     # (19, 5) slice of wider rows
    b = np.broadcast_to(b, (3, 19, 5))                                   # stride 0 over the batch
    assert a.strides[-1] != a.itemsize and b.strides[0] == 0
    _check(a, b, _run(a, b), name)
    # out itself a transposed view
    out = np.empty((3, 5, 6), a.dtype).transpose(0, 2, 1)
    mm.matmul(HostTensor(a), HostTensor(b), HostTensor(out))
    _check(a, b, out, name)


@pytest.mark.parametrize("shapes", [((0, 4), (4, 3)), ((2, 0), (0, 3)), ((3, 4), (4, 0)), ((0, 2, 3), (3, 4))],
                         ids=str)
def test_zero_sizes(rng, shapes):
    a, b = _operand(rng, shapes[0], "float32"), _operand(rng, shapes[1], "float32")
    out = _run(a, b)
    np.testing.assert_array_equal(out, np.matmul(a, b))  # K = 0: zeros, written by the kernel


def test_float32_output_of_16bit_operands(rng):
    a, b = _operand(rng, (5, 40), "bfloat16"), _operand(rng, (40, 3), "bfloat16")
    out = np.empty((5, 3), np.float32)
    mm.matmul(HostTensor(a), HostTensor(b), HostTensor(out))
    _check(a, b, out, "float32")  # the fp32 accumulator, not rounded to bf16


def test_many_tiles_grouped_order_and_k_steps(rng):
    """Small explicit tiles: several row groups (GROUP_SIZE_M=2), ragged edges and several K steps."""
    a, b = _operand(rng, (2, 77, 50), "float32"), _operand(rng, (50, 45), "float32")
    config = dict(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16, GROUP_SIZE_M=2, num_warps=4, num_stages=1)
    _check(a, b, _run(a, b, config=config), "float32")
    _check(a, b, _run(a, b, allow_tf32=True), "float32")  # the interpreter ignores TF32: same numbers


def test_three_batch_dims_that_merge(rng):
    """A (2, 3, 4) batch of contiguous operands merges to one dim; broadcasting a's outer dim leaves two."""
    a, b = _operand(rng, (2, 3, 4, 5, 6), "float64"), _operand(rng, (2, 3, 4, 6, 7), "float64")
    _check(a, b, _run(a, b), "float64")
    a, b = _operand(rng, (3, 4, 5, 6), "float64"), _operand(rng, (2, 3, 4, 6, 7), "float64")
    _check(a, b, _run(a, b), "float64")


def test_launcher_rejects_bad_arguments(rng):
    h = lambda *shape, dtype=np.float32: HostTensor(np.zeros(shape, dtype))  # noqa: E731
    with pytest.raises(ValueError, match=r"cannot be multiplied \(3x4 and 5x2\)"):
        mm.matmul(h(3, 4), h(5, 2), h(3, 2))
    with pytest.raises(TypeError, match="b has dtype float16"):
        mm.matmul(h(3, 4), h(4, 2, dtype=np.float16), h(3, 2))
    with pytest.raises(TypeError, match="out has dtype float16"):
        mm.matmul(h(3, 4), h(4, 2), h(3, 2, dtype=np.float16))
    with pytest.raises(TypeError, match="unsupported dtype bool"):
        mm.matmul(h(3, 4, dtype=bool), h(4, 2, dtype=bool), h(3, 2, dtype=bool))
    with pytest.raises(ValueError, match="at least 2 dims"):
        mm.matmul(h(4), h(4, 2), h(2))
    with pytest.raises(ValueError, match="out has shape 3x3"):
        mm.matmul(h(3, 4), h(4, 2), h(3, 3))
    with pytest.raises(ValueError, match="do not broadcast"):
        mm.matmul(h(2, 3, 4), h(3, 4, 2), h(3, 3, 2))
    # batch (2, 3, 4) with a broadcast in dims 0 and 2 of a, dim 1 of b: three dims stay unmerged
    a = HostTensor(np.broadcast_to(np.zeros((1, 3, 1, 2, 2), np.float32), (2, 3, 4, 2, 2)))
    b = HostTensor(np.broadcast_to(np.zeros((2, 1, 4, 2, 2), np.float32), (2, 3, 4, 2, 2)))
    with pytest.raises(ValueError, match="at most 2"):
        mm.matmul(a, b, h(2, 3, 4, 2, 2))


def test_config_choice_per_arch():
    assert mm.pick_config(4096, 4096, 4096, "bfloat16", arch=90) is mm.CONFIGS[90]["16bit_large"]
    assert mm.pick_config(4096, 4096, 4096, "bfloat16", arch=89) is mm.CONFIGS[80]["16bit_large"]
    assert mm.pick_config(256, 256, 4096, "float16", arch=90) is mm.CONFIGS[90]["16bit_small"]
    assert mm.pick_config(4096, 4096, 64, "float32", allow_tf32=True, arch=80) is mm.CONFIGS[80]["tf32_large"]
    assert mm.pick_config(4096, 4096, 64, "float32", arch=90) is mm.CONFIGS[90]["fp32"]
    assert mm.pick_config(9, 9, 9, "int32", arch=90) is mm.CONFIGS[90]["int"]


# ------------------------------------------------------------------------------------------------
# AOT: every shipped config, four layouts each.
# ------------------------------------------------------------------------------------------------
_POINTEE = {"16bit": "bf16", "tf32": "fp32", "fp32": "fp32", "fp64": "fp64", "int": "i64"}
# layout -> (unit-stride arguments, aligned)
_LAYOUTS = {
    "contiguous": (("stride_ak", "stride_bn", "stride_cn"), True),
    "a_transposed": (("stride_am", "stride_bn", "stride_cn"), True),
    "b_transposed": (("stride_ak", "stride_bk", "stride_cn"), True),
    "unaligned": (("stride_ak", "stride_bn", "stride_cn"), False),
}


def _aot_cases():
    """Every config contiguous and unaligned (the extremes); the transposed layouts (x @ W.T and the
    backward's A.T @ G) for the 16-bit and fp32 configs, where they made tiles spill (see matmul.py).
    About 40 compiles, ~1.3 s each: all layouts of all configs would take twice that."""
    cases = []
    for arch in mm.CONFIGS:
        for name in mm.CONFIGS[arch]:
            transposes = name.startswith("16bit") or name == "fp32"
            for layout in _LAYOUTS:
                if transposes or layout in ("contiguous", "unaligned"):
                    cases.append((arch, name, layout, _POINTEE[name.split("_")[0]]))
    return cases + [(90, "16bit_large", "contiguous", "fp16")]


def _aot_job(arch, name, layout, pointee):
    meta = dict(mm.CONFIGS[arch][name])
    num_warps, num_stages = meta.pop("num_warps"), meta.pop("num_stages")
    kind = name.split("_")[0]
    constexprs = dict(meta, ACC={"fp64": mm.ACC_FP64, "int": mm.ACC_INT64}.get(kind, mm.ACC_FP32),
                      DOT_FP32=False, INPUT_PRECISION="tf32" if kind == "tf32" else "ieee")
    unit_args, aligned = _LAYOUTS[layout]
    return dict(kernel=mm.matmul_kernel, arch=arch, num_warps=num_warps, num_stages=num_stages,
                **aot.specialize(mm.matmul_kernel, constexprs, pointee, unit_args=unit_args, aligned=aligned))


def aot_jobs():
    return [(case, _aot_job(*case)) for case in _aot_cases()]


@pytest.mark.parametrize("arch,name,layout,pointee", _aot_cases())
def test_aot_shipped_configs(arch, name, layout, pointee, aot_results):
    compiled = dict(aot_results)[(arch, name, layout, pointee)]
    print(f"{name} {layout} {pointee}: {compiled.summary()}")
    assert compiled.spilled_bytes == 0
    if arch == 90 and name.split("_")[0] in ("16bit", "tf32"):
        assert compiled.uses_wgmma
    if arch == 80:
        assert compiled.shared_bytes <= 64 * 1024  # fits sm_86/sm_89 (100 KB per SM) too


# ---- autotuning (triton_kernels/tuning.py) -------------------------------------------------------

def test_tuning_candidates_are_the_tables_large_and_small_tiles():
    """16-bit and TF32 products may time both AOT-checked tiles, the size rule's first; others have one config,
    and so does the interpreter, whose tile is its own."""
    for arch in (80, 90):
        table = mm.config_table(arch)
        assert mm.candidates(4096, 4096, 4096, "bfloat16", arch=arch) == (table["16bit_large"], table["16bit_small"])
        assert mm.candidates(256, 256, 4096, "float16", arch=arch) == (table["16bit_small"], table["16bit_large"])
        assert mm.candidates(4096, 4096, 64, "float32", True, arch=arch) == (table["tf32_large"], table["tf32_small"])
        assert mm.candidates(4096, 4096, 64, "float32", arch=arch) == (table["fp32"],)
        assert mm.candidates(64, 64, 64, "int32", arch=arch) == (table["int"],)
    assert len(mm.candidates(4096, 4096, 4096, "bfloat16")) == 1  # under the interpreter


@pytest.mark.parametrize("winner", [0, 1])
def test_tuned_matmul_launches_the_winner_and_is_exact(monkeypatch, rng, winner):
    """With a benchmarker (as on a GPU) the faster candidate is cached and launched last; the product is right
    whichever wins, and a second call with the same key times nothing."""
    from triton_kernels import tuning
    table = mm.config_table(90)
    pair = (table["16bit_small"], table["16bit_large"])
    monkeypatch.setattr(mm, "candidates", lambda *args, **kwargs: pair)
    launched = []
    original = mm.matmul_kernel

    class Recording:
        def __getitem__(self, grid):
            def run(*args, **kwargs):
                launched.append(kwargs["BLOCK_M"])
                return original[grid](*args, **kwargs)
            return run

    monkeypatch.setattr(mm, "matmul_kernel", Recording())
    timed = []

    def benchmarker(call):
        call()
        timed.append(launched[-1])
        return 1.0 if launched[-1] == pair[winner]["BLOCK_M"] else 2.0

    previous = tuning.set_benchmarker(benchmarker)
    monkeypatch.delenv(tuning.ENV_VAR, raising=False)
    try:
        tuning.clear_cache()
        a, b = _operand(rng, (70, 40), "bfloat16"), _operand(rng, (40, 30), "bfloat16")
        _check(a, b, _run(a, b), "bfloat16")
        assert launched[-1] == pair[winner]["BLOCK_M"] and len(timed) == 2
        _check(a, b, _run(a, b), "bfloat16")  # the cached choice: launched once, not timed
        assert len(timed) == 2 and launched[-1] == pair[winner]["BLOCK_M"]
    finally:
        tuning.set_benchmarker(previous)
        tuning.clear_cache()
