"""PyTorch's precision and determinism switches (framework/backends/settings.py, backends/cuda, backends/cudnn,
backends/mps): their defaults and how they read back, against PyTorch's, and that each reaches the kernels:
TF32 in the matmul, linear and convolution launchers, tile autotuning of convolutions with cudnn.benchmark,
tuning stopped and the atomic-add ops refused in deterministic mode."""
import warnings

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from helpers import requires_cuda, torch


@pytest.fixture(autouse=True)
def restore_switches():
    """Every switch as it was (the defaults) after each test."""
    cudnn = fw.backends.cudnn
    saved = (fw.get_float32_matmul_precision(), fw.are_deterministic_algorithms_enabled(),
             fw.is_deterministic_algorithms_warn_only_enabled(), cudnn.allow_tf32, cudnn.benchmark)
    yield
    fw.set_float32_matmul_precision(saved[0])
    fw.use_deterministic_algorithms(saved[1], warn_only=saved[2])
    cudnn.allow_tf32, cudnn.benchmark = saved[3:]


def _switches(lib):
    return (lib.get_float32_matmul_precision(), lib.backends.cuda.matmul.allow_tf32, lib.backends.cudnn.allow_tf32,
            lib.backends.cudnn.benchmark, lib.backends.cudnn.deterministic, lib.backends.cudnn.enabled,
            lib.are_deterministic_algorithms_enabled(), lib.is_deterministic_algorithms_warn_only_enabled(),
            lib.backends.mps.is_available(), lib.backends.mps.is_built(),
            lib.backends.cuda.matmul.allow_fp16_reduced_precision_reduction,
            lib.backends.cuda.matmul.allow_bf16_reduced_precision_reduction)


def test_defaults_are_pytorchs():
    assert _switches(fw) == ("highest", False, True, False, False, True, False, False, False, False, True, True)
    if torch is not None:
        assert _switches(fw) == _switches(torch)


def _precision_walk(lib):
    """The readings along one sequence of settings (the two switches are one, in PyTorch). PyTorch 2.9+ raises
    on some longer mixes of this legacy API with its new fp32_precision one: the walk stays within what it
    answers."""
    seen = []
    lib.backends.cuda.matmul.allow_tf32 = True
    seen.append(lib.get_float32_matmul_precision())
    for precision in ("medium", "highest"):
        lib.set_float32_matmul_precision(precision)
        seen.append(lib.backends.cuda.matmul.allow_tf32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib.set_float32_matmul_precision("fast")
    seen.append((lib.backends.cuda.matmul.allow_tf32, [str(w.message).split(" (Triggered")[0] for w in caught]))
    return seen


def test_matmul_precision_and_allow_tf32_are_one_switch():
    seen = _precision_walk(fw)
    assert seen == ["high", True, False, (False, ["fast is not one of 'highest', 'high', or 'medium'; the current"
                                                  "setFloat32MatmulPrecision call has no effect."])]
    fw.set_float32_matmul_precision("high")
    assert fw.backends.cuda.matmul.allow_tf32 and fw.get_float32_matmul_precision() == "high"
    fw.backends.cuda.matmul.allow_tf32 = False
    assert fw.get_float32_matmul_precision() == "highest"
    if torch is not None:
        assert seen == _precision_walk(torch)


def test_use_deterministic_algorithms_reads_back_and_checks_types():
    fw.use_deterministic_algorithms(True)
    assert fw.are_deterministic_algorithms_enabled() and not fw.is_deterministic_algorithms_warn_only_enabled()
    fw.use_deterministic_algorithms(True, warn_only=True)
    assert fw.is_deterministic_algorithms_warn_only_enabled()
    fw.use_deterministic_algorithms(False)
    assert not fw.are_deterministic_algorithms_enabled()
    for lib in (fw, torch) if torch is not None else (fw,):
        with pytest.raises(TypeError, match=r"argument 'mode' \(position 1\) must be bool, not str"):
            lib.use_deterministic_algorithms("yes")
        with pytest.raises(TypeError, match="argument 'warn_only' must be bool, not int"):
            lib.use_deterministic_algorithms(True, warn_only=1)


# ---- the switches reach the kernels ------------------------------------------------------------------------

@requires_cuda
def test_tf32_switches_reach_the_matmul_linear_and_conv_launchers(monkeypatch):
    from triton_kernels import conv, linear, matmul
    asked = []
    for module in (matmul, linear, conv):
        original = module.dot_settings
        monkeypatch.setattr(module, "dot_settings", lambda name, tf32, m=module.__name__, f=original:
                            asked.append((m.split(".")[-1], tf32)) or f(name, tf32))
    x, w = fw.randn(4, 8, device="cuda"), fw.randn(8, 8, device="cuda")
    image, kernel = fw.randn(1, 2, 5, 5, device="cuda"), fw.randn(3, 2, 3, 3, device="cuda")

    def run():
        asked.clear()
        x @ w, F.linear(x, w), F.conv2d(image, kernel)
        return sorted(set(asked))
    assert run() == [("conv", True), ("linear", False), ("matmul", False)]  # PyTorch's defaults
    fw.set_float32_matmul_precision("high")
    fw.backends.cudnn.allow_tf32 = False
    assert run() == [("conv", False), ("linear", True), ("matmul", True)]
    fw.backends.cuda.matmul.allow_tf32 = False
    assert run() == [("conv", False), ("linear", False), ("matmul", False)]


@pytest.fixture
def fake_gpu_tuner(monkeypatch):
    """A benchmarker that times nothing (under the interpreter none is registered): every candidate 1 s."""
    from triton_kernels import tuning
    monkeypatch.delenv(tuning.ENV_VAR, raising=False)
    previous = tuning.set_benchmarker(lambda call: call() or 1.0)
    tuning.clear_cache()
    yield tuning
    tuning.set_benchmarker(previous)
    tuning.clear_cache()


def _conv_keys(tuning):
    return sorted({name for name, _ in tuning.cache_info() if name.startswith("conv")})


@requires_cuda
def test_cudnn_benchmark_tunes_the_convolution_tiles(fake_gpu_tuner, monkeypatch):
    from triton_kernels import conv
    monkeypatch.setattr(conv, "pick_config", lambda *args, **kw: conv.CONFIGS["16bit"])  # a GPU's 16-bit rule
    # 16 input and output channels: both GEMMs take the tap-outer loop, whose 16-bit tile has an alternative
    image = fw.randn(1, 16, 5, 5, device="cuda", dtype=fw.float16, requires_grad=True)
    kernel = fw.randn(16, 16, 3, 3, device="cuda", dtype=fw.float16)
    expected = F.conv2d(image, kernel)
    F.conv2d(image, kernel).sum().backward()
    assert _conv_keys(fake_gpu_tuner) == []  # benchmark off (PyTorch's default): the size rule alone
    fw.backends.cudnn.benchmark = True
    out = F.conv2d(image, kernel)
    out.sum().backward()
    assert _conv_keys(fake_gpu_tuner) == ["conv_forward", "conv_input_grad"]
    np.testing.assert_allclose(out.detach().float().cpu().numpy(), expected.detach().float().cpu().numpy(), rtol=2e-3, atol=2e-3)
    fake_gpu_tuner.clear_cache()
    fw.use_deterministic_algorithms(True)  # timings could pick another tile next run: no tuning
    F.conv2d(image, kernel)
    assert _conv_keys(fake_gpu_tuner) == [] and not fake_gpu_tuner.enabled()
    fw.use_deterministic_algorithms(False)
    assert fake_gpu_tuner.enabled()


ATOMIC_OPS = {  # PyTorch's kind of name for each op whose cuda kernel adds floats with atomics
    "scatter_add_cuda_kernel": lambda x, i: x.scatter_add(0, i, x),
    "gather_backward_cuda": lambda x, i: x.gather(0, i).sum().backward(),
    "index_backward_cuda": lambda x, i: x[i].sum().backward(),
    "index_select_backward_cuda": lambda x, i: x.index_select(0, i).sum().backward(),
    "embedding_backward_cuda": lambda x, i: F.embedding(i, x.unsqueeze(1)).sum().backward(),
}


@requires_cuda
@pytest.mark.parametrize("caller", sorted(ATOMIC_OPS))
def test_deterministic_mode_refuses_the_atomic_adds(caller):
    x = fw.randn(4, device="cuda", requires_grad=True)
    index = fw.tensor([0, 2, 2, 1], device="cuda")
    ATOMIC_OPS[caller](x, index)  # off: runs
    fw.use_deterministic_algorithms(True)
    message = (f"{caller} does not have a deterministic implementation, but you set "
               "'framework.use_deterministic_algorithms(True)'. You can turn off determinism just for this "
               "operation, or you can use the 'warn_only=True' option")
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ATOMIC_OPS[caller](x, index)
    fw.use_deterministic_algorithms(True, warn_only=True)
    with pytest.warns(UserWarning, match=f"{caller} does not have a deterministic implementation"):
        ATOMIC_OPS[caller](x, index)
    ints = fw.tensor([5, 6, 7, 8], device="cuda")
    fw.use_deterministic_algorithms(True)
    ints.scatter_add(0, index, ints)  # integer adds are exact in any order: allowed
    ATOMIC_OPS[caller](x.detach().cpu().requires_grad_(), index.cpu())  # the CPU is deterministic


def test_the_switches_need_no_triton_import():
    import subprocess
    import sys
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = ("import sys, framework as fw\nfw.backends.cudnn.allow_tf32 = True\nfw.backends.cudnn.benchmark = True\n"
              "fw.set_float32_matmul_precision('high')\nfw.use_deterministic_algorithms(True)\n"
              "print(fw.backends.mps.is_available(), 'triton' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=root), capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["False", "False"]
