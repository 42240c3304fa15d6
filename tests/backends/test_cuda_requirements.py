"""framework/backends/cuda_requirements.py: what the `cuda` device needs, each lack one clear error.

The GPU-side situations (a driver older than the cuda-bindings, no GPU, no cuda-core, a Triton that cannot
launch) are played with the fake cuda-core and cuda.bindings of tests/backends/cuda/fake_cuda.py, and Triton's
version and driver are monkeypatched; an old Triton at first use is played in a fresh process by a stand-in
`triton` package earlier on its path.
"""
import os
import subprocess
import sys
import types

import pytest

triton = pytest.importorskip("triton")

from framework.backends import cuda_requirements as requirements  # noqa: E402
from framework.backends.cuda import runtime as runtime_module  # noqa: E402

from .cuda.fake_cuda import FakeGPU  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _InactiveDrivers:
    """triton.runtime.driver where no backend is active: `active` raises what Triton's _create_driver raises."""

    @property
    def active(self):
        raise RuntimeError("0 active drivers ([]). There should only be one.")


def test_version_tuple_reads_release_local_and_dev_versions():
    assert requirements.version_tuple("3.6.0") == (3, 6, 0)
    assert requirements.version_tuple("3.8.0+git1a2b3c4") == (3, 8, 0)
    assert requirements.version_tuple("3.7.0.dev20250101") == (3, 7, 0)
    assert requirements.version_tuple("3.10.1") > (3, 6)  # numeric, not text, order


@pytest.mark.parametrize("version,supported", [("3.5.1", False), ("3.2.0", False), ("3.6.0", True),
                                               ("3.7.1", True), ("3.9.0", True), ("4.0.0", True)])
def test_triton_version_floor(monkeypatch, version, supported):
    monkeypatch.setattr(triton, "__version__", version)
    if supported:
        assert requirements.check_triton() is triton
    else:
        with pytest.raises(RuntimeError, match=rf"needs Triton >= 3\.6, found Triton {version} .*"
                                               r"pip install -U 'triton>=3\.6'"):
            requirements.check_triton()


def test_triton_that_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)
    with pytest.raises(RuntimeError, match=r"Triton could not be imported .*pip install 'triton>=3\.6'"):
        requirements.check_triton()


def test_an_old_triton_fails_at_first_use_of_cuda_naming_both_versions(tmp_path):
    """In a fresh process whose `triton` is a 3.5.0 (a stand-in package first on the path): importing framework
    works, the first `cuda` tensor raises the version error, and the CPU keeps working."""
    fake = tmp_path / "triton"
    fake.mkdir()
    (fake / "__init__.py").write_text("__version__ = '3.5.0'\n")
    code = ("import framework as fw\n"
            "try:\n    fw.ones(2, device='cuda')\nexcept RuntimeError as error:\n    print('ERROR', error)\n"
            "print((fw.ones(2) * 2).tolist())\n")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ERROR the `cuda` device needs Triton >= 3.6, found Triton 3.5.0" in done.stdout, done.stdout
    assert done.stdout.strip().endswith("[2.0, 2.0]")


# ---- Triton's launcher ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["3.6.0", "3.7.1"])
def test_triton_before_3_8_without_torch_says_it_needs_pytorch(monkeypatch, version):
    monkeypatch.setattr(triton, "__version__", version)
    monkeypatch.setattr(triton.runtime, "driver", _InactiveDrivers())
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    with pytest.raises(RuntimeError, match=rf"Triton {version} launches compiled kernels only through PyTorch's CUDA "
                                           r"support, and PyTorch is not installed\. Install Triton >= 3\.8 .*"
                                           r"0 active drivers"):
        requirements.triton_driver()


def test_triton_before_3_8_beside_a_cpu_only_torch(monkeypatch):
    monkeypatch.setattr(triton, "__version__", "3.6.0")
    monkeypatch.setattr(triton.runtime, "driver", _InactiveDrivers())
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(__version__="2.11.0+cpu"))
    with pytest.raises(RuntimeError, match=r"only through PyTorch's CUDA support, and PyTorch 2\.11\.0\+cpu is "
                                           r"imported and sees no CUDA GPU"):
        requirements.triton_driver()


def test_newer_triton_beside_an_imported_cpu_only_torch(monkeypatch):
    monkeypatch.setattr(triton, "__version__", "3.9.0")
    monkeypatch.setattr(triton.runtime, "driver", _InactiveDrivers())
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(__version__="2.13.0+cpu"))
    with pytest.raises(RuntimeError, match=r"Triton 3\.9\.0 takes the GPU from PyTorch whenever torch is imported, "
                                           r"and PyTorch 2\.13\.0\+cpu is imported and sees no CUDA GPU"):
        requirements.triton_driver()


def test_the_driver_runtime_asks_for_tritons_driver_first(monkeypatch):
    """A Triton that cannot launch fails DriverRuntime before it takes a stream or memory."""
    gpu = FakeGPU()
    gpu.install(monkeypatch)
    monkeypatch.setattr(triton, "__version__", "3.6.0")
    monkeypatch.setattr(triton.runtime, "driver", _InactiveDrivers())
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    with pytest.raises(RuntimeError, match="only through PyTorch's CUDA support"):
        runtime_module.DriverRuntime()
    assert not gpu.streams and not gpu.allocations


def test_the_stream_override_holds_on_tritons_own_driver_class(monkeypatch):
    """Triton asks `driver.active.get_current_stream(device)` at every launch; DriverRuntime replaces that attribute
    on the installed Triton's real CudaDriver class (no slots or descriptor in the way)."""
    import inspect

    from triton.backends.nvidia.driver import CudaDriver
    from triton.runtime.jit import JITFunction
    assert "driver.active.get_current_stream(device)" in inspect.getsource(JITFunction.run)
    gpu = FakeGPU()
    gpu.install(monkeypatch)
    real = CudaDriver.__new__(CudaDriver)  # without __init__: that needs a GPU (or torch.cuda)
    real.get_current_stream = lambda device: 0  # what __init__ stores: the default (or torch's current) stream
    monkeypatch.setattr(triton.runtime, "driver", types.SimpleNamespace(active=real))
    rt = runtime_module.DriverRuntime()
    assert triton.runtime.driver.active.get_current_stream(0) == rt.stream_handle != 0


# ---- the driver, the GPU, cuda-core -----------------------------------------------------------------------------

def test_cuda_bindings_newer_than_the_driver(monkeypatch):
    gpu = FakeGPU()
    gpu.driver_version, gpu.bindings_version = 12040, "13.0.1"
    gpu.install(monkeypatch)
    expected = (r"the NVIDIA driver supports CUDA 12\.4, and the installed cuda-bindings 13\.0\.1 is built for CUDA "
                r"13\.0, which needs a newer driver .*pip install 'cuda-core\[cu12\]'")
    with pytest.raises(RuntimeError, match="a CUDA GPU is present, but " + expected):
        requirements.check_gpu_stack()
    assert "The NVIDIA driver supports CUDA 12.4" in requirements.unavailable_reason()  # where cuInit fails too
    monkeypatch.setattr(runtime_module, "_RUNTIME", None)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match=expected):  # at first use, before DriverRuntime
        runtime_module.runtime()
    assert runtime_module._RUNTIME is None and not gpu.streams


def test_bindings_the_driver_runs_pass(monkeypatch):
    gpu = FakeGPU()
    gpu.driver_version, gpu.bindings_version = 13010, "12.9.0"  # older bindings on a newer driver: fine
    gpu.install(monkeypatch)
    requirements.check_gpu_stack()


def test_missing_cuda_core_beside_the_bindings(monkeypatch):
    FakeGPU().install(monkeypatch)
    monkeypatch.setitem(sys.modules, "cuda.core", None)
    with pytest.raises(RuntimeError, match=r"a CUDA GPU is present, and cuda-core could not be imported .*needs "
                                           r"cuda-core >= 0\.4 with cuda-bindings: pip install 'cuda-core\[cu12\]'"):
        requirements.check_gpu_stack()


def test_cuda_core_too_old(monkeypatch):
    FakeGPU().install(monkeypatch)
    monkeypatch.setattr(sys.modules["cuda.core"], "__version__", "0.3.2")
    with pytest.raises(RuntimeError, match=r"needs cuda-core >= 0\.4, found cuda-core 0\.3\.2"):
        requirements.check_gpu_stack()


def test_a_driver_without_a_gpu(monkeypatch):
    gpu = FakeGPU()
    gpu.device_count = 0
    gpu.install(monkeypatch)
    assert requirements.unavailable_reason().startswith(
        "The NVIDIA driver found no usable GPU (cuInit: CUDA_ERROR_NO_DEVICE): no CUDA GPUs are available. "
        "To run the `cuda` device without a GPU, set TRITON_INTERPRET=1")


@pytest.mark.parametrize("census,expected", [
    ((12040, 2), "found 2 CUDA GPU(s) (NVIDIA driver for CUDA 12.4), and cuda-core is not installed; the `cuda` "
                 "device needs cuda-core >= 0.4 with cuda-bindings: pip install 'cuda-core[cu12]'"),
    ((13000, 1), "pip install 'cuda-core[cu13]'"),
    ((11080, 1), "cuda-core needs an NVIDIA driver for CUDA 12 or newer"),
    ((12040, 0), "The NVIDIA driver (CUDA 12.4) found no GPU: no CUDA GPUs are available. To run"),
    (None, "Found no NVIDIA driver on your system: no CUDA GPUs are available. To run"),
])
def test_without_cuda_bindings_the_driver_library_is_asked(monkeypatch, census, expected):
    monkeypatch.setitem(sys.modules, "cuda", None)  # neither cuda-core nor cuda-bindings installed
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    monkeypatch.setattr(requirements, "_libcuda_census", lambda: census)
    assert expected in requirements.unavailable_reason()


def test_without_triton_the_reason_is_triton(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    assert requirements.unavailable_reason().startswith(
        "the `cuda` device runs Triton kernels, and Triton is not installed: pip install 'triton>=3.6'")
