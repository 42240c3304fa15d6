"""What the `cuda` device needs from the machine, checked in this one place, once, when `cuda` is first used.

    what                  needed                                                  checked by
    Triton                >= 3.6 (what PyTorch 2.11 pins), interpreted or not     check_triton: before the cuda
                                                                                  backend imports it
    an NVIDIA driver      with at least one GPU                                   unavailable_reason
    cuda-core             >= 0.4, with cuda-bindings built for a CUDA major       check_gpu_stack
                          version the driver supports (cu13 needs driver >= 580)
    Triton's launcher     Triton >= 3.8, or a CUDA build of PyTorch beside an     triton_driver
                          older one (3.6 and 3.7 launch through torch.cuda)

Each failure is one RuntimeError naming what was found and what is needed. Nothing here runs per op: the cuda
backend's import runs `check_triton`, and `runtime.runtime()` the rest, once per process. Importing this module
imports nothing beyond the standard library.
"""
import ctypes
import importlib
import importlib.util
import re
import sys

MIN_TRITON = (3, 6)
TORCH_FREE_TRITON = (3, 8)  # the first Triton whose NVIDIA driver launches without PyTorch
MIN_CUDA_CORE = (0, 4)

INTERPRETER_HINT = ("set TRITON_INTERPRET=1 before importing framework to run the `cuda` device's Triton "
                    "kernels in Triton's interpreter on the CPU")
_WITHOUT_GPU = f"To run the `cuda` device without a GPU, {INTERPRETER_HINT}."


def version_tuple(text):
    """(3, 6, 0) from '3.6.0', '3.8.0+git1a2b' or '3.7.0.dev20250101'; () when `text` has no digits."""
    return tuple(int(part) for part in re.findall(r"\d+", str(text).split("+")[0])[:3])


def _dotted(version):
    return ".".join(map(str, version))


# ---- Triton -------------------------------------------------------------------------------------------------

def check_triton():
    """Triton, importable and recent enough, or a RuntimeError saying what was found and what is needed."""
    try:
        import triton
    except ImportError as error:
        raise RuntimeError(f"the `cuda` device runs Triton kernels, and Triton could not be imported ({error}): "
                           f"pip install 'triton>={_dotted(MIN_TRITON)}' (Linux)") from None
    installed = getattr(triton, "__version__", "unknown")
    if version_tuple(installed) < MIN_TRITON:
        raise RuntimeError(f"the `cuda` device needs Triton >= {_dotted(MIN_TRITON)}, found Triton {installed} "
                           f"(at {triton.__file__}): pip install -U 'triton>={_dotted(MIN_TRITON)}'")
    return triton


def triton_driver():
    """Triton's active GPU driver (the one that loads and launches compiled kernels), or a RuntimeError saying why
    this Triton cannot launch here.

    Triton 3.6 and 3.7 build their NVIDIA driver on torch.cuda (device, stream, capability): without PyTorch, or
    with a PyTorch that sees no GPU, Triton reports "0 active drivers". Triton >= 3.8 launches without PyTorch, but
    still defers to torch.cuda when torch has been imported."""
    import triton
    try:
        return triton.runtime.driver.active
    except RuntimeError as error:
        if "active driver" not in str(error):
            raise
        reason = error
    version = getattr(triton, "__version__", "unknown")
    torch = sys.modules.get("torch")  # Triton < 3.8 has itself tried `import torch` by now
    if torch is None:
        found = "PyTorch is not installed"
    else:
        found = (f"PyTorch {getattr(torch, '__version__', '?')} is imported and sees no CUDA GPU "
                 "(torch.cuda.is_available() is False: a CPU-only build?)")
    if version_tuple(version) < TORCH_FREE_TRITON:
        raise RuntimeError(
            f"Triton {version} launches compiled kernels only through PyTorch's CUDA support, and {found}. "
            f"Install Triton >= {_dotted(TORCH_FREE_TRITON)} (launches without PyTorch), or beside Triton {version} "
            f"a CUDA build of PyTorch (the one that pins this Triton). Triton said: {reason}") from None
    if torch is not None:
        raise RuntimeError(
            f"Triton {version} takes the GPU from PyTorch whenever torch is imported, and {found}. Use `cuda` "
            f"before importing torch, or install a CUDA build of PyTorch. Triton said: {reason}") from None
    raise RuntimeError(f"Triton {version} found no usable CUDA driver although the CUDA driver API reports a GPU: "
                       f"{reason}") from None


# ---- the driver, the GPU, cuda-core -------------------------------------------------------------------------

def _bindings_driver():
    """cuda.bindings.driver, or None when cuda-bindings is not installed."""
    try:
        from cuda.bindings import driver
    except ImportError:
        return None
    return driver


def _bindings_version(driver):
    """The CUDA version (e.g. 13000) cuda-bindings was built for, and the package's version."""
    package = getattr(sys.modules.get("cuda.bindings"), "__version__", "?")
    built_for = getattr(driver, "CUDA_VERSION", None)
    if built_for is None:  # older bindings: the package's major version is its CUDA major version
        built_for = (version_tuple(package) or (0,))[0] * 1000
    return int(built_for), package


def _cuda_version_text(version):
    return f"{version // 1000}.{version % 1000 // 10}"


def _driver_too_old(driver):
    """A sentence when the installed cuda-bindings needs a newer driver than the one present, else None."""
    try:
        err, driver_version = driver.cuDriverGetVersion()  # answers before cuInit, even on an old driver
    except Exception:  # no libcuda at all: not this problem
        return None
    if int(err) != 0:
        return None
    built_for, package = _bindings_version(driver)
    if built_for // 1000 <= int(driver_version) // 1000:
        return None
    return (f"the NVIDIA driver supports CUDA {_cuda_version_text(int(driver_version))}, and the installed "
            f"cuda-bindings {package} is built for CUDA {_cuda_version_text(built_for)}, which needs a newer "
            f"driver (CUDA 13 needs driver >= 580.65): {_install_for(int(driver_version))}, or update the NVIDIA "
            "driver")


def _install_for(driver_version):
    """How to install cuda-core for a driver supporting CUDA `driver_version` (e.g. 12040)."""
    major = driver_version // 1000
    if major < 12:
        return "cuda-core needs an NVIDIA driver for CUDA 12 or newer"
    return f"pip install 'cuda-core[cu{min(major, 13)}]'"


def _libcuda_census():
    """(CUDA version the driver supports, GPU count) read from libcuda directly (no cuda-bindings), or None when
    there is no NVIDIA driver library."""
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    version, count = ctypes.c_int(0), ctypes.c_int(0)
    libcuda.cuDriverGetVersion(ctypes.byref(version))
    if libcuda.cuInit(0) != 0 or libcuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        count.value = 0
    return version.value, count.value


def unavailable_reason():
    """Why the `cuda` device cannot be used here (no GPU runtime, TRITON_INTERPRET unset): what was found, what
    is needed, and how to run `cuda` without a GPU."""
    if importlib.util.find_spec("triton") is None:
        return (f"the `cuda` device runs Triton kernels, and Triton is not installed: pip install "
                f"'triton>={_dotted(MIN_TRITON)}' (Linux). {_WITHOUT_GPU}")
    driver = _bindings_driver()
    if driver is None:
        census = _libcuda_census()
        if census is not None and census[1] > 0:
            version, count = census
            return (f"found {count} CUDA GPU(s) (NVIDIA driver for CUDA {_cuda_version_text(version)}), and "
                    f"cuda-core is not installed; the `cuda` device needs cuda-core >= {_dotted(MIN_CUDA_CORE)} "
                    f"with cuda-bindings: {_install_for(version)}")
        if census is None:
            return f"Found no NVIDIA driver on your system: no CUDA GPUs are available. {_WITHOUT_GPU}"
        return (f"The NVIDIA driver (CUDA {_cuda_version_text(census[0])}) found no GPU: no CUDA GPUs are "
                f"available. {_WITHOUT_GPU}")
    too_old = _driver_too_old(driver)
    if too_old is not None:
        return too_old[0].upper() + too_old[1:] + "."
    try:
        (err,) = driver.cuInit(0)
    except Exception as error:  # cuda-bindings' DynamicLibNotFoundError: no libcuda
        return (f"Found no NVIDIA driver on your system: no CUDA GPUs are available ({type(error).__name__}: "
                f"{error}). {_WITHOUT_GPU}")
    if int(err) != 0:
        name = getattr(err, "name", f"CUresult {int(err)}")
        return f"The NVIDIA driver found no usable GPU (cuInit: {name}): no CUDA GPUs are available. {_WITHOUT_GPU}"
    return f"The NVIDIA driver reports no GPU: no CUDA GPUs are available. {_WITHOUT_GPU}"


def check_gpu_stack():
    """With a GPU present: cuda-core importable and recent enough, and cuda-bindings a build the driver runs;
    else a RuntimeError saying what was found and what is needed."""
    driver = _bindings_driver()
    too_old = driver is not None and _driver_too_old(driver)
    if too_old:
        raise RuntimeError(f"a CUDA GPU is present, but {too_old}")
    try:
        core = importlib.import_module("cuda.core")
    except ImportError as error:
        raise RuntimeError(f"a CUDA GPU is present, and cuda-core could not be imported ({error}); the `cuda` device "
                           f"needs cuda-core >= {_dotted(MIN_CUDA_CORE)} with cuda-bindings: "
                           "pip install 'cuda-core[cu12]' (or [cu13] with an NVIDIA driver >= 580)") from None
    installed = getattr(core, "__version__", "unknown")
    if version_tuple(installed) < MIN_CUDA_CORE:
        raise RuntimeError(f"the `cuda` device needs cuda-core >= {_dotted(MIN_CUDA_CORE)}, found cuda-core "
                           f"{installed}: pip install -U 'cuda-core[cu12]' (or [cu13] with an NVIDIA driver >= 580)")
