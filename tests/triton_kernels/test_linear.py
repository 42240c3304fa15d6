"""Fused linear kernels (triton_kernels/linear.py): forward y = act(x @ W.T + b) and the dX, dW/db
backward kernels, run through Triton's interpreter on HostTensor-wrapped numpy arrays and compared
with float64 numpy; plus AOT compiles of the shipped configs for sm_80/sm_90."""
import os
import math

os.environ.setdefault("TRITON_INTERPRET", "1")  # before any @triton.jit decoration runs
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

triton = pytest.importorskip("triton", reason="Triton has no wheel for this platform")

from triton_kernels import aot  # noqa: E402
from triton_kernels import linear as L  # noqa: E402
from triton_kernels.host_tensor import HostTensor  # noqa: E402

# Small tiles keep the interpreter fast (its cost is per program instance).
TINY = dict(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16, GROUP_SIZE_M=2, num_warps=4, num_stages=2)
DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
# The interpreter's dot runs in fp32 for every dtype; the rest of the error is input/output rounding.
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "bfloat16": 2e-2, "float64": 1e-12}


def _gelu_tanh(z):
    return 0.5 * z * (1.0 + np.tanh(0.7978845608028654 * (z + 0.044715 * z ** 3)))


def _phi(z):
    """The standard normal CDF, from math.erfc (a float64 reference independent of the kernels')."""
    return 0.5 * np.vectorize(math.erfc)(-np.asarray(z, np.float64) / math.sqrt(2.0))


def _act(z, activation):
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "gelu":
        return z * _phi(z)
    if activation == "gelu_tanh":
        return _gelu_tanh(z)
    if activation == "silu":
        return z / (1.0 + np.exp(-z))
    return z


def _act_grad(z, activation):
    if activation == "relu":
        return (z > 0).astype(np.float64)
    if activation == "gelu":
        return _phi(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    if activation == "gelu_tanh":
        c, a = 0.7978845608028654, 0.044715
        t = np.tanh(c * (z + a * z ** 3))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * a * z * z)
    if activation == "silu":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1 + z * (1 - s))
    return np.ones_like(z)


def _strides(a):
    return tuple(s // a.itemsize for s in a.strides)


def _close(actual, expected, dtype_name, what):
    actual = np.asarray(actual, dtype=np.float64)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    tol = TOLERANCE[dtype_name]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


def _inputs(rng, M, N, K, dtype_name, transposed=False):
    """x (M, K), W (N, K), b (N,) in `dtype`; transposed=True makes x and W transposed views."""
    dt = DTYPES[dtype_name]
    if transposed:
        x = rng.standard_normal((K, M)).astype(dt).T
        w = (rng.standard_normal((K, N)) / np.sqrt(max(K, 1))).astype(dt).T
    else:
        x = rng.standard_normal((M, K)).astype(dt)
        w = (rng.standard_normal((N, K)) / np.sqrt(max(K, 1))).astype(dt)
    b = rng.standard_normal(N).astype(dt)
    return x, w, b


def _forward(x, w, b, activation, save_pre, config=TINY):
    M, K = x.shape
    N = w.shape[0]
    out = np.empty((M, N), dtype=x.dtype)
    pre = np.empty((M, N), dtype=x.dtype) if save_pre else None
    L.linear_forward(HostTensor(x), HostTensor(w), HostTensor(b) if b is not None else None, HostTensor(out),
                     M, N, K, *_strides(x), *_strides(w), *_strides(out), activation=activation,
                     pre=HostTensor(pre) if pre is not None else None,
                     **(dict(zip(("stride_pm", "stride_pn"), _strides(pre))) if pre is not None else {}),
                     config=config)
    return out, pre


@pytest.mark.parametrize("activation", ["none", "relu", "gelu", "gelu_tanh", "silu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16", "float64"])
def test_forward_matches_float64(rng, activation, bias, dtype_name):
    M, N, K = 37, 19, 45
    x, w, b = _inputs(rng, M, N, K, dtype_name)
    out, pre = _forward(x, w, b if bias else None, activation, save_pre=activation in ("gelu", "gelu_tanh", "silu"))
    z = x.astype(np.float64) @ w.astype(np.float64).T + (b.astype(np.float64) if bias else 0.0)
    _close(out, _act(z, activation), dtype_name, f"y ({activation}, bias={bias})")
    if pre is not None:
        _close(pre, z, dtype_name, "saved pre-activation")


@pytest.mark.parametrize("M,N,K", [(1, 19, 45), (37, 19, 1), (37, 1, 45), (5, 7, 0)])
@pytest.mark.parametrize("dtype_name", ["float32", "float16"])
def test_forward_edge_shapes(rng, M, N, K, dtype_name):
    x, w, b = _inputs(rng, M, N, K, dtype_name)
    out, _ = _forward(x, w, b, "silu", save_pre=False)
    z = x.astype(np.float64) @ w.astype(np.float64).T + b.astype(np.float64)
    _close(out, _act(z, "silu"), dtype_name, f"y {M}x{N}x{K}")


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_forward_transposed_views_and_default_config(rng, dtype_name):
    """x and W are transposed views (column-major): read through their strides, no copies; and the
    launcher's own config choice (no override)."""
    M, N, K = 33, 70, 29
    x, w, b = _inputs(rng, M, N, K, dtype_name, transposed=True)
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    out, _ = _forward(x, w, b, "gelu", save_pre=False, config=None)
    z = x.astype(np.float64) @ w.astype(np.float64).T + b.astype(np.float64)
    _close(out, _act(z, "gelu"), dtype_name, "y from transposed views")


def _backward(x, w, pre, dy, activation, need_dw=True, need_db=True):
    M, K = x.shape
    N = w.shape[0]
    dx = np.empty((M, K), dtype=x.dtype)
    dw = np.empty((N, K), dtype=x.dtype) if need_dw else None
    db = np.empty(N, dtype=x.dtype) if need_db else None
    pre_strides = dict(zip(("stride_pm", "stride_pn"), _strides(pre))) if pre is not None else {}
    pre_t = HostTensor(pre) if pre is not None else None
    L.linear_backward_input(HostTensor(dy), HostTensor(w), pre_t, HostTensor(dx), M, N, K,
                            *_strides(dy), *_strides(w), *_strides(dx), activation=activation,
                            config=TINY, **pre_strides)
    L.linear_backward_weight(HostTensor(dy), HostTensor(x), pre_t, HostTensor(dw) if dw is not None else None,
                             HostTensor(db) if db is not None else None, M, N, K,
                             *_strides(dy), *_strides(x), *(_strides(dw) if dw is not None else (0, 0)),
                             activation=activation, config=TINY, **pre_strides)
    return dx, dw, db


def _reference_grads(x, w, pre, dy, activation):
    dyp = dy.astype(np.float64) * (_act_grad(pre.astype(np.float64), activation) if pre is not None else 1.0)
    return dyp @ w.astype(np.float64), dyp.T @ x.astype(np.float64), dyp.sum(axis=0)


@pytest.mark.parametrize("activation", ["none", "relu", "gelu", "gelu_tanh", "silu"])
@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16", "float16", "float64"])
def test_backward_matches_float64(rng, activation, dtype_name):
    M, N, K = 37, 19, 45
    x, w, b = _inputs(rng, M, N, K, dtype_name)
    out, pre = _forward(x, w, b, activation, save_pre=activation in ("gelu", "gelu_tanh", "silu"))
    if activation == "relu":
        pre = out  # relu'(pre) == (y > 0): the output stands in for the pre-activation
    dy = rng.standard_normal((M, N)).astype(DTYPES[dtype_name])
    dx, dw, db = _backward(x, w, pre, dy, activation)
    ref_dx, ref_dw, ref_db = _reference_grads(x, w, pre, dy, activation)
    _close(dx, ref_dx, dtype_name, "dX")
    _close(dw, ref_dw, dtype_name, "dW")
    _close(db, ref_db, dtype_name, "db")


@pytest.mark.parametrize("M,N,K", [(1, 19, 45), (37, 19, 1), (50, 3, 17)])
def test_backward_edge_shapes_and_transposed_views(rng, M, N, K):
    x, w, b = _inputs(rng, M, N, K, "float32", transposed=True)
    pre = rng.standard_normal((N, M)).astype(np.float32).T  # a transposed view too
    dy = rng.standard_normal((N, M)).astype(np.float32).T
    dx, dw, db = _backward(x, w, pre, dy, "silu")
    ref_dx, ref_dw, ref_db = _reference_grads(x, w, pre, dy, "silu")
    _close(dx, ref_dx, "float32", "dX")
    _close(dw, ref_dw, "float32", "dW")
    _close(db, ref_db, "float32", "db")


def test_backward_bias_only_and_weight_only(rng):
    """needs_input_grad: db alone (one program per column tile) and dW alone."""
    M, N, K = 37, 19, 45
    x, w, _ = _inputs(rng, M, N, K, "float32")
    pre = rng.standard_normal((M, N)).astype(np.float32)
    dy = rng.standard_normal((M, N)).astype(np.float32)
    _, ref_dw, ref_db = _reference_grads(x, w, pre, dy, "gelu")
    _, _, db = _backward(x, w, pre, dy, "gelu", need_dw=False)
    _close(db, ref_db, "float32", "db alone")
    _, dw, _ = _backward(x, w, pre, dy, "gelu", need_db=False)
    _close(dw, ref_dw, "float32", "dW alone")


def test_launchers_reject_bad_arguments():
    x = HostTensor(np.zeros((4, 3), np.float32))
    w = HostTensor(np.zeros((5, 3), np.float16))
    out = HostTensor(np.zeros((4, 5), np.float32))
    with pytest.raises(TypeError, match="weight has dtype float16"):
        L.linear_forward(x, w, None, out, 4, 5, 3, 3, 1, 3, 1, 5, 1)
    with pytest.raises(ValueError, match="unknown activation"):
        L.linear_forward(x, x, None, out, 4, 5, 3, 3, 1, 3, 1, 5, 1, activation="tanh")
    with pytest.raises(ValueError, match="needs the saved pre-activation"):
        L.linear_backward_input(out, x, None, x, 4, 5, 3, 5, 1, 3, 1, 3, 1, activation="gelu")
    with pytest.raises(ValueError, match="32-bit offsets"):
        L.linear_forward(x, x, None, out, 2**20, 5, 2**12, 2**12, 1, 2**12, 1, 5, 1)


# ------------------------------------------------------------------------------------------------
# AOT: every config the launchers can pick compiles for sm_80 and sm_90 without spills, for both
# heavy epilogues (the exact erf GELU, which calls libdevice.erfc, and the tanh GELU: neither is the
# heavier everywhere), with the forward saving the pre-activation and dW computing db; the 16-bit
# ones use wgmma on sm_90.
#
# Three layouts a real launch of contiguous buffers specialises to (aot.specialize): "aligned",
# 16-byte-aligned buffers with sizes and row strides divisible by 16 (e.g. 4096^3): pointers/sizes/
# strides carry tt.divisibility=16; "unaligned", odd sizes (e.g. N = K = 4095): no divisibility
# anywhere; and "rows", aligned but for M (a batch of 4095 rows), which keeps the aligned configs.
# Unit strides are the constant 1 in all. The launchers pick the unaligned configs whenever a launch
# is not aligned apart from M (L._aligned; test below). The "rows" layout compiles the exact GELU
# only: it was the heavier of the two in every such compile (ptxas registers, sm_80 and sm_90).
# ------------------------------------------------------------------------------------------------
_UNIT_STRIDES = {
    "forward": ("stride_xk", "stride_wk", "stride_yn", "stride_pn"),
    "backward_input": ("stride_dyn", "stride_pn", "stride_wk", "stride_dxk"),
    "backward_weight": ("stride_dyn", "stride_pn", "stride_xk", "stride_dwk"),
}
_KERNELS = {
    "forward": (L.linear_forward_kernel, ("BLOCK_M", "BLOCK_N", "BLOCK_K"), dict(HAS_BIAS=True, SAVE_PRE=True)),
    "backward_input": (L.linear_backward_input_kernel, ("BLOCK_M", "BLOCK_K", "BLOCK_N"), {}),
    "backward_weight": (L.linear_backward_weight_kernel, ("BLOCK_N", "BLOCK_K", "BLOCK_M"),
                        dict(COMPUTE_DW=True, COMPUTE_DB=True)),
}
_AOT_DTYPES = {"bfloat16": "bf16", "float32": "fp32", "float64": "fp64"}
_AOT_ACTIVATIONS = ("gelu", "gelu_tanh")


def _aot_cases():
    """(kernel, config name, dtype, layout) for every config `L.config_name` gives, at a small and a
    large output, in each layout (fp16 is not compiled: taken to behave as bf16, the same 16-bit tiles)."""
    cases = {}
    for layout in ("aligned", "unaligned", "rows"):
        for which in L.KERNEL_NAMES:
            for dtype_name, dtype in _AOT_DTYPES.items():
                for rows in (64, 8192):
                    name = L.config_name(rows, rows, dtype_name, aligned=layout != "unaligned")
                    cases[(which, name, dtype, layout)] = None
    return list(cases)


def _aot_activations(layout):
    return ("gelu",) if layout == "rows" else _AOT_ACTIVATIONS


_AOT_CASES = _aot_cases()


def _aot_job(which, config_name, dtype, layout, activation, arch):
    kernel, names, flags = _KERNELS[which]
    num_warps, num_stages, meta = L._launch_config(L.config_for(which, config_name), 1, 1, dtype, names)
    constexprs = dict(flags, ACTIVATION=L.ACTIVATIONS[activation], DOT_FP32=False, INPUT_PRECISION="ieee", **meta)
    specialised = aot.specialize(kernel, constexprs, dtype, unit_args=_UNIT_STRIDES[which],
                                 aligned=layout != "unaligned")
    if layout == "rows":  # M odd: the one size without tt.divisibility
        specialised["divisible"] = tuple(name for name in specialised["divisible"] if name != "M")
    return dict(kernel=kernel, arch=arch, num_warps=num_warps, num_stages=num_stages, **specialised)


def aot_jobs():
    return [(case + (activation, arch), _aot_job(*case, activation, arch))
            for case in _AOT_CASES for activation in _aot_activations(case[3]) for arch in aot.ARCHITECTURES]


@pytest.mark.parametrize("arch", aot.ARCHITECTURES)
@pytest.mark.parametrize("which,config_name,dtype,layout,activation",
                         [case + (activation,) for case in _AOT_CASES for activation in _aot_activations(case[3])])
def test_aot_shipped_configs(which, config_name, dtype, layout, activation, arch, aot_results):
    compiled = dict(aot_results)[(which, config_name, dtype, layout, activation, arch)]
    aot.assert_no_spills([(f"{which} {config_name} {dtype} {layout} {activation}", compiled)])
    if arch == 90 and dtype == "bf16":
        assert compiled.uses_wgmma


def test_aot_cases_cover_every_config():
    """Each config name the rule can give appears, for each kernel (nothing shipped goes unchecked)."""
    names = {(which, name) for which, name, _, _ in _AOT_CASES}
    assert names == {(which, name) for which in L.KERNEL_NAMES for name in L.CONFIGS}


def test_config_choice():
    """The size rule, the backward kernels' 32 step at the large tile, and unaligned launches."""
    assert L.pick_config(8192, 8192, "bfloat16", "forward") is L.CONFIGS["large"]
    assert L.pick_config(8192, 8192, "bfloat16", "backward_input") is L.KERNEL_CONFIGS[("backward_input", "large")]
    assert L.pick_config(8192, 8192, "bfloat16", "backward_weight")["BLOCK_K"] == 32
    assert L.pick_config(512, 512, "bfloat16", "backward_weight") is L.CONFIGS["small"]
    assert L.pick_config(8192, 8192, "float32", "backward_weight") is L.CONFIGS["small"]
    assert L.pick_config(8192, 8192, "float64", "backward_weight") is L.CONFIGS["fp64"]
    for dtype_name in ("bfloat16", "float16"):
        assert L.pick_config(8191, 8191, dtype_name, "backward_weight", aligned=False) is L.CONFIGS["unaligned"]
    assert L.pick_config(8191, 8191, "float32", "backward_input", aligned=False) is L.CONFIGS["unaligned_fp32"]
    assert L.pick_config(37, 19, "float64", "forward", aligned=False) is L.CONFIGS["unaligned_fp64"]


class _Recorder:
    """Stands in for a kernel: records the meta-parameters of its launches."""

    def __init__(self):
        self.launches = []

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.launches.append(kwargs)


def _aligned_array(shape, dtype, offset=0):
    """A C-contiguous array whose data starts `offset` elements past a 64-byte boundary."""
    itemsize = np.dtype(dtype).itemsize
    raw = np.zeros(int(np.prod(shape)) * itemsize + 64 + offset * itemsize, np.uint8)
    start = (-raw.ctypes.data) % 64 + offset * itemsize
    return raw[start:start + int(np.prod(shape)) * itemsize].view(dtype).reshape(shape)


@pytest.mark.parametrize("shape,offset,aligned", [((64, 32, 48), 0, True), ((64, 32, 47), 0, False),
                                                  ((64, 33, 48), 0, False), ((63, 32, 48), 0, True),
                                                  ((64, 32, 48), 1, False)])
def test_launchers_pick_unaligned_config(monkeypatch, shape, offset, aligned):
    """Odd N or K (hence odd row strides) or a buffer not 16-byte aligned (`pre`, which all three read): all
    three launchers take the unaligned tiles; aligned launches, odd M included, the size rule's."""
    M, N, K = shape
    dt = np.float16
    x, w, dy = _aligned_array((M, K), dt), _aligned_array((N, K), dt), _aligned_array((M, N), dt)
    out, pre, dx = _aligned_array((M, N), dt), _aligned_array((M, N), dt, offset), _aligned_array((M, K), dt)
    dw, b, db = _aligned_array((N, K), dt), _aligned_array((N,), dt), _aligned_array((N,), dt)
    recorders = {name: _Recorder() for name in ("linear_forward_kernel", "linear_backward_input_kernel",
                                                 "linear_backward_weight_kernel")}
    for name, recorder in recorders.items():
        monkeypatch.setattr(L, name, recorder)
    h = HostTensor
    L.linear_forward(h(x), h(w), h(b), h(out), M, N, K, *_strides(x), *_strides(w), *_strides(out),
                     activation="gelu", pre=h(pre), stride_pm=N, stride_pn=1)
    L.linear_backward_input(h(dy), h(w), h(pre), h(dx), M, N, K, *_strides(dy), *_strides(w), *_strides(dx),
                            activation="gelu", stride_pm=N, stride_pn=1)
    L.linear_backward_weight(h(dy), h(x), h(pre), h(dw), h(db), M, N, K, *_strides(dy), *_strides(x),
                             *_strides(dw), activation="gelu", stride_pm=N, stride_pn=1)
    expected = L.CONFIGS["small" if aligned else "unaligned"]
    for name, recorder in recorders.items():
        (meta,), kernel = recorder.launches, name[len("linear_"):-len("_kernel")]
        _, _, expected_meta = L._launch_config(expected, 1, 1, "float16", _KERNELS[kernel][1])
        assert {key: meta[key] for key in expected_meta} == expected_meta, name
        assert (meta["num_warps"], meta["num_stages"]) == (expected["num_warps"], expected["num_stages"])


# ------------------------------------------------------------------------------------------------
# Autotuning (triton_kernels/tuning.py): the launchers' candidates are only AOT-checked configs, and a
# tuned launch computes the same numbers whichever candidate wins.
# ------------------------------------------------------------------------------------------------
from triton_kernels import tuning  # noqa: E402


def test_tuning_candidates_are_aot_compiled():
    """Every candidate list `L.candidates` can give, at sizes on both sides of the size rule's threshold, starts
    with the rule's choice and names only configs the AOT tests compile for that kernel, dtype and layout (fp16
    as bf16, like the AOT cases): the tuner can never pick a config unchecked for spills."""
    aot = set(_AOT_CASES)
    seen = set()
    sizes = (1, 16, 64, 1000, 1408, 1536, 2048, 8192, 65536)
    for which in L.KERNEL_NAMES:
        for dtype_name in ("float16", "bfloat16", "float32", "float64"):
            dtype = _AOT_DTYPES["bfloat16" if dtype_name == "float16" else dtype_name]
            for aligned in (True, False):
                for rows in sizes:
                    for cols in sizes:
                        names = L.candidates(rows, cols, dtype_name, aligned)
                        assert names[0] == L.config_name(rows, cols, dtype_name, aligned)
                        assert len(set(names)) == len(names)
                        seen.add((dtype_name, aligned, names))
                        for name in names:
                            for layout in (("aligned", "rows") if aligned else ("unaligned",)):
                                assert (which, name, dtype, layout) in aot, (which, name, dtype_name, layout)
    # What the launchers tune today: aligned 16-bit launches, between the large and the small tile.
    assert {names for *_, names in seen if len(names) > 1} == {("large", "small"), ("small", "large")}
    assert all(dtype_name in ("float16", "bfloat16") and aligned for dtype_name, aligned, names in seen
               if len(names) > 1)


class _TimedByTile:
    """A fake benchmarker for real launches: runs the call (the real kernel, through `recorder`) and times it
    as `seconds` of the config name its BLOCK sizes identify; counts its calls."""

    def __init__(self, recorder, seconds, kernel, names):
        self.recorder, self.seconds, self.calls = recorder, seconds, 0
        self.by_tile = {}
        for name in seconds:
            _, _, meta = L._launch_config(L.config_for(kernel, name), 1, 1, "bfloat16", names)
            self.by_tile[tuple(sorted(meta.items()))] = name

    def __call__(self, call):
        self.calls += 1
        call()
        return self.seconds[self.launched()]

    def launched(self):
        meta = self.recorder.launches[-1]
        return self.by_tile[tuple(sorted((key, meta[key]) for key in ("BLOCK_M", "BLOCK_N", "BLOCK_K",
                                                                       "GROUP_SIZE_M")))]


class _Forwarding(_Recorder):
    """Records each launch's meta-parameters and runs the real kernel."""

    def __init__(self, kernel):
        super().__init__()
        self.kernel = kernel

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            self.launches.append(kwargs)
            return self.kernel[grid](*args, **kwargs)
        return launch


@pytest.fixture
def fresh_tuner(monkeypatch):
    monkeypatch.delenv(tuning.ENV_VAR, raising=False)
    previous = tuning.set_benchmarker(None)
    tuning.clear_cache()
    yield
    tuning.set_benchmarker(previous)
    tuning.clear_cache()


def _bf16(shape, rng, scale=1.0):
    array = _aligned_array(shape, ml_dtypes.bfloat16)
    array[...] = rng.standard_normal(shape) * scale
    return array


@pytest.mark.parametrize("winner", ["large", "small"])
def test_tuned_forward_matches_numpy_whichever_candidate_wins(rng, monkeypatch, fresh_tuner, winner):
    """A real aligned bf16 launch under the interpreter, tuned by a fake benchmarker: both candidates run on the
    real buffers (the kernel may run repeatedly: it only writes its outputs), the winner is cached and launched
    last, and the numbers are right; a batch in the same power-of-two bucket reuses the choice, the next one
    tunes again, and an explicit config skips the tuner."""
    N, K = 32, 48
    recorder = _Forwarding(L.linear_forward_kernel)
    monkeypatch.setattr(L, "linear_forward_kernel", recorder)
    bench = _TimedByTile(recorder, {winner: 1e-3, ({"large", "small"} - {winner}).pop(): 2e-3}, "forward",
                         _KERNELS["forward"][1])
    tuning.set_benchmarker(bench)
    w, b = _bf16((N, K), rng, 1 / np.sqrt(K)), _bf16((N,), rng)
    for M, timed in ((40, 2), (64, 0), (65, 2)):  # 40 and 64 share the bucket 64; 65 is in 128's
        x, out, pre = _bf16((M, K), rng), _aligned_array((M, N), ml_dtypes.bfloat16), _aligned_array(
            (M, N), ml_dtypes.bfloat16)
        calls = bench.calls
        L.linear_forward(HostTensor(x), HostTensor(w), HostTensor(b), HostTensor(out), M, N, K, *_strides(x),
                         *_strides(w), *_strides(out), activation="gelu", pre=HostTensor(pre), stride_pm=N,
                         stride_pn=1)
        assert bench.calls - calls == timed, M
        assert bench.launched() == winner  # the last launch, whose output stays, is the winner's
        z = x.astype(np.float64) @ w.astype(np.float64).T + b.astype(np.float64)
        _close(out, _act(z, "gelu"), "bfloat16", f"y, M={M}")
        _close(pre, z, "bfloat16", f"pre, M={M}")
    assert [choice.config for choice in tuning.cache_info().values()] == [winner, winner]
    calls = bench.calls
    _forward(x, w, b, "none", save_pre=False, config=TINY)
    assert bench.calls == calls and recorder.launches[-1]["BLOCK_M"] == TINY["BLOCK_M"]


@pytest.mark.parametrize("winner", ["large", "small"])
def test_tuned_backward_matches_numpy_whichever_candidate_wins(rng, monkeypatch, fresh_tuner, winner):
    M, N, K = 40, 32, 48
    x, w, dy, pre = _bf16((M, K), rng), _bf16((N, K), rng, 1 / np.sqrt(K)), _bf16((M, N), rng), _bf16((M, N), rng)
    dx, dw, db = (_aligned_array(shape, ml_dtypes.bfloat16) for shape in ((M, K), (N, K), (N,)))
    h = HostTensor
    for kernel, launch in (
            ("backward_input", lambda: L.linear_backward_input(
                h(dy), h(w), h(pre), h(dx), M, N, K, *_strides(dy), *_strides(w), *_strides(dx),
                activation="silu", stride_pm=N, stride_pn=1)),
            ("backward_weight", lambda: L.linear_backward_weight(
                h(dy), h(x), h(pre), h(dw), h(db), M, N, K, *_strides(dy), *_strides(x), *_strides(dw),
                activation="silu", stride_pm=N, stride_pn=1))):
        name = f"linear_{kernel}_kernel"
        recorder = _Forwarding(getattr(L, name))
        monkeypatch.setattr(L, name, recorder)
        bench = _TimedByTile(recorder, {winner: 1e-3, ({"large", "small"} - {winner}).pop(): 2e-3}, kernel,
                             _KERNELS[kernel][1])
        tuning.set_benchmarker(bench)
        launch()
        assert bench.calls == 2 and bench.launched() == winner, kernel
    ref_dx, ref_dw, ref_db = _reference_grads(x, w, pre, dy, "silu")
    _close(dx, ref_dx, "bfloat16", "dX")
    _close(dw, ref_dw, "bfloat16", "dW")
    _close(db, ref_db, "bfloat16", "db")


@pytest.mark.parametrize("dtype_name,offset", [("float32", 0), ("float64", 0), ("bfloat16", 1)])
def test_single_candidate_launches_never_time(rng, monkeypatch, fresh_tuner, dtype_name, offset):
    """fp32, fp64 and unaligned launches have one candidate: the benchmarker is never called."""
    M, N, K = 40, 32, 48
    dt = DTYPES[dtype_name]
    x, w, out = _aligned_array((M, K), dt, offset), _aligned_array((N, K), dt), _aligned_array((M, N), dt)
    x[...] = rng.standard_normal((M, K))
    w[...] = rng.standard_normal((N, K)) / np.sqrt(K)

    def bench(call):
        raise AssertionError("timed a launch with a single candidate")

    tuning.set_benchmarker(bench)
    L.linear_forward(HostTensor(x), HostTensor(w), None, HostTensor(out), M, N, K, *_strides(x), *_strides(w),
                     *_strides(out))
    _close(out, x.astype(np.float64) @ w.astype(np.float64).T, dtype_name, "y")
    assert tuning.cache_info() == {}
