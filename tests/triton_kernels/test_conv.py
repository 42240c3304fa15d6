"""Convolution kernels (triton_kernels/conv.py, conv_gemm.py) run through Triton's interpreter on HostTensor-wrapped
numpy arrays against float64 references: both loop forms (tap-outer, FLAT_K), split weight gradients, fused
activations and bias gradients, strided buffers, every dtype; the launchers' checks; and AOT compiles of every
config the launchers can pick, for sm_80 and sm_90, without register spills and with tensor-core instructions."""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before any @triton.jit decoration runs
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

import math  # noqa: E402

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

triton = pytest.importorskip("triton", reason="Triton has no wheel for this platform")

from triton_kernels import aot  # noqa: E402
from triton_kernels import conv as C  # noqa: E402
from triton_kernels import conv_gemm as G  # noqa: E402
from triton_kernels.host_tensor import HostTensor as H  # noqa: E402

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "bfloat16": 3e-2, "float64": 1e-12}


def _taps(x_shape, w_shape, stride, padding, dilation):
    """For each kernel tap (i, j): the slices of the padded input it reads for every output pixel, and Ho, Wo."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    h, wd = x_shape[2:]
    kh, kw = w_shape[2:]
    ho, wo = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    taps = [((i, j), (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh), slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)))
            for i in range(kh) for j in range(kw)]
    return taps, ho, wo


def _pad(x, padding):
    return np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))


def _conv_reference(x, w, stride, padding, dilation, groups):
    """float64 conv2d by kernel taps (an einsum each)."""
    n = x.shape[0]
    o, cg = w.shape[:2]
    taps, ho, wo = _taps(x.shape, w.shape, stride, padding, dilation)
    xp = _pad(x, padding)
    out = np.zeros((n, groups, o // groups, ho, wo))
    for (i, j), window in taps:
        patch = xp[(slice(None), slice(None)) + window].reshape(n, groups, cg, ho, wo)
        out += np.einsum("ngchw,goc->ngohw", patch, w[:, :, i, j].astype(np.float64).reshape(groups, o // groups, cg))
    return out.reshape(n, o, ho, wo)


def _input_grad_reference(g, w, x_shape, stride, padding, dilation, groups):
    """The adjoint of _conv_reference in x: each tap's einsum transposed, added back into the padded input."""
    n = x_shape[0]
    o, cg = w.shape[:2]
    taps, ho, wo = _taps(x_shape, w.shape, stride, padding, dilation)
    gg = g.astype(np.float64).reshape(n, groups, o // groups, ho, wo)
    dxp = _pad(np.zeros(x_shape), padding)
    for (i, j), window in taps:
        part = np.einsum("ngohw,goc->ngchw", gg, w[:, :, i, j].astype(np.float64).reshape(groups, o // groups, cg))
        dxp[(slice(None), slice(None)) + window] += part.reshape(n, groups * cg, ho, wo)
    h, wd = x_shape[2:]
    return dxp[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + wd]


def _weight_grad_reference(x, g, w_shape, stride, padding, dilation, groups):
    """The adjoint of _conv_reference in w: each tap's weights get the patch it reads times g, summed."""
    n = x.shape[0]
    o, cg = w_shape[:2]
    taps, ho, wo = _taps(x.shape, w_shape, stride, padding, dilation)
    xp = _pad(x, padding)
    gg = g.astype(np.float64).reshape(n, groups, o // groups, ho, wo)
    dw = np.zeros(w_shape)
    for (i, j), window in taps:
        patch = xp[(slice(None), slice(None)) + window].reshape(n, groups, cg, ho, wo)
        dw[:, :, i, j] = np.einsum("ngohw,ngchw->goc", gg, patch).reshape(o, cg)
    return dw


def _close(actual, expected, dtype_name, what):
    actual = np.asarray(actual, dtype=np.float64)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    tol = TOLERANCE[dtype_name]
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


# (x shape, w shape, stride, padding, dilation, groups): tap-outer (16+ channels) and FLAT_K (fewer) forms
CASES = [
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # FLAT_K
    ((2, 4, 7, 6), (6, 2, 3, 2), (2, 1), (1, 2), (1, 2), 2),  # FLAT_K, groups, stride, dilation
    ((1, 20, 5, 4), (18, 20, 2, 3), (1, 2), (1, 0), (2, 1), 1),  # tap-outer: 20 channels, a partial second block
    ((2, 32, 4, 4), (32, 16, 3, 3), (2, 2), (1, 1), (1, 1), 2),  # tap-outer in every kernel (16 per group)
]


def _run(x, w, b, stride, padding, dilation, groups, activation="none", splits=None):
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y, pre = np.empty((n, o, ho, wo), x.dtype), np.empty((n, o, ho, wo), x.dtype)
    C.conv_forward(H(x), H(w), H(b), H(y), stride, padding, dilation, groups, activation=activation, pre=H(pre))
    return y, pre


@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation,groups", CASES)
@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16", "float64"])
def test_three_kernels_match_float64(rng, x_shape, w_shape, stride, padding, dilation, groups, dtype_name):
    dt = DTYPES[dtype_name]
    x = rng.standard_normal(x_shape).astype(dt)
    w = (rng.standard_normal(w_shape) / math.sqrt(np.prod(w_shape[1:]))).astype(dt)
    b = rng.standard_normal(w_shape[0]).astype(dt)
    y, pre = _run(x, w, b, stride, padding, dilation, groups, activation="silu")
    z = _conv_reference(x, w, stride, padding, dilation, groups) + b.astype(np.float64)[None, :, None, None]
    _close(pre, z, dtype_name, "pre-activation")
    _close(y, z / (1 + np.exp(-z)), dtype_name, "silu(conv + b)")
    g = rng.standard_normal(y.shape).astype(dt)
    dx, dw, db = np.empty(x.shape, dt), np.empty(w.shape, dt), np.empty(b.shape, dt)
    C.conv_input_grad(H(g), H(w), H(dx), stride, padding, dilation, groups)
    C.conv_weight_grad(H(x), H(g), H(dw), H(db), w.shape, stride, padding, dilation, groups)
    _close(dx, _input_grad_reference(g, w, x.shape, stride, padding, dilation, groups), dtype_name, "dX")
    _close(dw, _weight_grad_reference(x, g, w.shape, stride, padding, dilation, groups), dtype_name, "dW")
    _close(db, g.astype(np.float64).sum(axis=(0, 2, 3)), dtype_name, "db")


@pytest.mark.parametrize("flat", [True, False])
def test_split_weight_gradient_and_bias_only(rng, flat):
    """Partial sums over 3 splits (float32 workspace) give dW and db; db alone; dW alone."""
    x_shape, w_shape = ((2, 3, 5, 5), (4, 3, 3, 3)) if flat else ((2, 16, 4, 5), (4, 16, 2, 2))
    x, g_shape = rng.standard_normal(x_shape).astype(np.float32), (2, 4) + (x_shape[2] - w_shape[2] + 3,
                                                                            x_shape[3] - w_shape[3] + 3)
    g = rng.standard_normal(g_shape).astype(np.float32)
    workspaces = []

    def workspace(shape, dtype_name):
        workspaces.append((shape, dtype_name))
        return H(np.full(shape, np.nan, dtype_name))  # every element must be written
    dw, db = np.empty(w_shape, np.float32), np.empty(4, np.float32)
    args = ((1, 1), (1, 1), (1, 1), 1)
    C.conv_weight_grad(H(x), H(g), H(dw), H(db), w_shape, *args, workspace=workspace, splits=3)
    assert workspaces == [((3, 4, int(np.prod(w_shape[1:]))), "float32"), ((3, 4), "float32")]
    _close(dw, _weight_grad_reference(x, g, w_shape, *args), "float32", "dW from 3 splits")
    _close(db, g.astype(np.float64).sum(axis=(0, 2, 3)), "float32", "db from 3 splits")
    db_alone = np.empty(4, np.float32)
    C.conv_weight_grad(H(x), H(g), None, H(db_alone), w_shape, *args)
    _close(db_alone, g.astype(np.float64).sum(axis=(0, 2, 3)), "float32", "db alone")
    dw_alone = np.empty(w_shape, np.float32)
    C.conv_weight_grad(H(x), H(g), H(dw_alone), None, w_shape, *args)
    _close(dw_alone, _weight_grad_reference(x, g, w_shape, *args), "float32", "dW alone")


def test_strided_buffers_and_transposed_bias(rng):
    """x and dY as strided views (read in place); the input-gradient kernel's bias (a transposed convolution)."""
    x = rng.standard_normal((2, 6, 7, 12)).astype(np.float32)[:, ::2, :, ::2]
    w = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    y, _ = _run(x, w, np.zeros(4, np.float32), (1, 1), (0, 0), (1, 1), 1)
    _close(y, _conv_reference(x, w, (1, 1), (0, 0), (1, 1), 1), "float32", "forward of strided views")
    g = rng.standard_normal((y.shape[0], y.shape[1], y.shape[2], 2 * y.shape[3])).astype(np.float32)[..., ::2]
    b = rng.standard_normal(3).astype(np.float32)
    dx = np.empty(x.shape, np.float32)
    C.conv_input_grad(H(g), H(w), H(dx), (1, 1), (0, 0), (1, 1), 1, bias=H(b))
    expected = _input_grad_reference(g, w, x.shape, (1, 1), (0, 0), (1, 1), 1) + b[None, :, None, None]
    _close(dx, expected, "float32", "input gradient with a bias")


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh"])
def test_activation_epilogue_and_backward(rng, activation):
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32) / 3
    y, pre = _run(x, w, np.zeros(5, np.float32), (1, 1), (1, 1), (1, 1), 1, activation=activation)
    z = _conv_reference(x, w, (1, 1), (1, 1), (1, 1), 1)
    phi = 0.5 * np.vectorize(math.erfc)(-z / math.sqrt(2))
    expected = {"relu": np.maximum(z, 0), "gelu": z * phi,
                "gelu_tanh": 0.5 * z * (1 + np.tanh(0.7978845608028654 * (z + 0.044715 * z ** 3)))}[activation]
    _close(y, expected, "float32", activation)
    g = rng.standard_normal(y.shape).astype(np.float32)
    out = np.empty(g.shape, np.float32)
    C.activation_backward(H(g), H(y if activation == "relu" else pre), H(out), activation)
    slope = {"relu": (z > 0).astype(np.float64), "gelu": phi + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
             "gelu_tanh": None}[activation]
    if slope is not None:
        _close(out, g * slope, "float32", f"dY * {activation}'")


def test_launchers_reject_bad_arguments():
    x, w = H(np.zeros((1, 3, 5, 5), np.float32)), H(np.zeros((4, 3, 3, 3), np.float32))
    y = H(np.zeros((1, 4, 3, 3), np.float32))
    with pytest.raises(TypeError, match="weight has dtype float16"):
        C.conv_forward(x, H(np.zeros((4, 3, 3, 3), np.float16)), None, y, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="shapes do not agree"):
        C.conv_forward(x, H(np.zeros((4, 2, 3, 3), np.float32)), None, y, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="does not fit"):
        C.conv_forward(x, w, None, H(np.zeros((1, 4, 4, 4), np.float32)), (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="contiguous vector"):
        C.conv_forward(x, w, H(np.zeros(8, np.float32)[::2]), y, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="unknown activation"):
        C.conv_forward(x, w, None, y, (1, 1), (0, 0), (1, 1), 1, activation="tanh")
    with pytest.raises(ValueError, match="needs grad_weight or grad_bias"):
        C.conv_weight_grad(x, y, None, None, (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="workspace"):
        C.conv_weight_grad(x, y, H(np.zeros((4, 3, 3, 3), np.float32)), None, (4, 3, 3, 3), (1, 1), (0, 0), (1, 1),
                           1, splits=2)
    big = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (1, 3, 2**16, 2**16), (0, 0, 4 * 2**16, 4))
    with pytest.raises(ValueError, match="input .* 32-bit offsets"):
        C.conv_forward(H(big), w, None, y, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="grad_output .* 32-bit offsets"):
        C.conv_input_grad(H(big), H(np.zeros((3, 4, 3, 3), np.float32)), y, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="input .* 32-bit offsets"):
        C.conv_weight_grad(H(big), y, H(np.zeros((4, 3, 3, 3), np.float32)), None, (4, 3, 3, 3), (1, 1), (0, 0),
                           (1, 1), 1)


def test_config_choice():
    """The configs by dtype class and loop form; FLAT_K below 16 channels; splits only on a GPU."""
    assert C.config_name("bfloat16", False) == C.config_name("float16", True) == "16bit"
    assert C.config_name("bfloat16", False, flat=True) == "16bit_flat"
    assert C.config_name("float32", True) == "tf32" and C.config_name("float32", False) == "fp32"
    assert C.config_name("float64", True, flat=True) == "fp64"
    assert C.flat_k(3) and C.flat_k(15) and not C.flat_k(16)
    assert C.weight_grad_splits(1, 10**6, 32) == 1  # the interpreter never splits


# ------------------------------------------------------------------------------------------------------------------
# AOT: every config `C.config_name` can give compiles for sm_80 and sm_90 without spills, in each loop form it serves
# (16bit: tap-outer; 16bit_flat: FLAT_K; the others both), with the heaviest flags (forward: bias, exact-erf GELU
# epilogue, saved pre-activation; input grad: bias, a non-unit stride; weight grad: dW and db), for unaligned
# buffers (odd sizes and strides: the most registers, seen in every sweep) and, for the 16-bit tiles, aligned ones
# too. 16-bit and TF32 tiles must use tensor cores: mma.sync on sm_80, wgmma on sm_90 (fp64 uses DMMA mma.sync).
# The small kernels (split sum, activation backward) compile too.
# ------------------------------------------------------------------------------------------------------------------
_UNIT = {"forward": ("stride_xw", "stride_ww", "stride_yw"), "input_grad": ("stride_dyw", "stride_ww", "stride_dxw"),
         "weight_grad": ("stride_xw", "stride_dyw")}
_KERNELS = {
    "forward": (G.conv_forward_kernel, dict(HAS_BIAS=True, ACTIVATION=C.ACTIVATIONS["gelu"], SAVE_PRE=True)),
    "input_grad": (G.conv_input_grad_kernel, dict(HAS_BIAS=True, UNIT_STRIDE=False)),
    "weight_grad": (G.conv_weight_grad_kernel, dict(COMPUTE_DW=True, COMPUTE_DB=True)),
}
_CONFIG_DTYPES = {"16bit": ("bf16", "ieee", (False,)), "16bit_flat": ("bf16", "ieee", (True,)),
                  "tf32": ("fp32", "tf32", (False, True)), "fp32": ("fp32", "ieee", (False, True)),
                  "fp64": ("fp64", "ieee", (False, True))}


def _aot_cases():
    cases = []
    for name, (dtype, precision, flats) in _CONFIG_DTYPES.items():
        layouts = ("unaligned", "aligned") if dtype == "bf16" else ("unaligned",)
        for kernel in C.KERNEL_NAMES:
            for flat in flats:
                for layout in layouts:
                    cases.append((kernel, name, flat, layout))
    return cases


_AOT_CASES = _aot_cases()


def _gemm_job(kernel_name, config_name, flat, layout, arch):
    kernel, flags = _KERNELS[kernel_name]
    dtype, precision, _ = _CONFIG_DTYPES[config_name]
    num_warps, num_stages, meta = C._launch_meta(C.CONFIGS[config_name])
    constexprs = dict(flags, FLAT_K=flat, DOT_FP32=False, INPUT_PRECISION=precision, **meta)
    specialised = aot.specialize(kernel, constexprs, dtype, unit_args=_UNIT[kernel_name], aligned=layout == "aligned")
    return dict(kernel=kernel, arch=arch, num_warps=num_warps, num_stages=num_stages, **specialised)


def _small_jobs(arch):
    sums = aot.specialize(C.sum_splits_kernel, dict(BLOCK_SIZE=1024), {"partials_ptr": "fp32", "out_ptr": "bf16"})
    act = aot.specialize(C.activation_backward_kernel, dict(ACTIVATION=C.ACTIVATIONS["gelu"], BLOCK_SIZE=1024), "bf16")
    return [(("sum_splits", arch), dict(kernel=C.sum_splits_kernel, arch=arch, num_warps=4, num_stages=3, **sums)),
            (("activation_backward", arch), dict(kernel=C.activation_backward_kernel, arch=arch, num_warps=4,
                                                 num_stages=3, **act))]


def aot_jobs():
    jobs = [(case + (arch,), _gemm_job(*case, arch)) for case in _AOT_CASES for arch in aot.ARCHITECTURES]
    return jobs + [job for arch in aot.ARCHITECTURES for job in _small_jobs(arch)]


@pytest.mark.parametrize("arch", aot.ARCHITECTURES)
@pytest.mark.parametrize("kernel,config_name,flat,layout", _AOT_CASES)
def test_aot_every_config(kernel, config_name, flat, layout, arch, aot_results):
    compiled = dict(aot_results)[(kernel, config_name, flat, layout, arch)]
    aot.assert_no_spills([(f"{kernel} {config_name} flat={flat} {layout}", compiled)])
    if config_name in ("16bit", "16bit_flat", "tf32"):
        assert compiled.uses_wgmma if arch == 90 else "mma.sync" in compiled.ptx
    if config_name == "fp64":
        assert "mma.sync" in compiled.ptx  # DMMA on both


@pytest.mark.parametrize("arch", aot.ARCHITECTURES)
def test_aot_small_kernels(arch, aot_results):
    results = dict(aot_results)
    aot.assert_no_spills([(name, results[(name, arch)]) for name in ("sum_splits", "activation_backward")])


def test_aot_cases_cover_every_config():
    """Each config the rule can give, in each loop form it can be given for, is compiled (nothing goes unchecked)."""
    given = {(C.config_name(dtype, tf32, flat), flat) for dtype in ("float16", "bfloat16", "float32", "float64")
             for tf32 in (False, True) for flat in (False, True)}
    compiled = {(name, flat) for _, name, flat, _ in _AOT_CASES}
    assert given == compiled and set(C.CONFIGS) == {name for name, _ in given}
