"""The cuda backend: device memory, one stream, and every op's kernel pair as Triton kernels.

Loaded on the first use of a `cuda` tensor (never by `import framework`): it imports Triton, and on a
GPU cuda-core. Under TRITON_INTERPRET=1 the same kernels run in Triton's interpreter on host memory
(runtime.py).
"""
import importlib.util

from .. import settings
from ..cuda_requirements import check_triton

# `framework.backends.cuda.matmul.allow_tf32 = True` must work where Triton is missing too (PyTorch's CPU builds
# accept it): there the package holds only the switches below.
_HAS_TRITON = importlib.util.find_spec("triton") is not None
if _HAS_TRITON:
    check_triton()  # before anything below imports Triton: an unsupported one fails here, saying which is needed

    from ...tensor import RAW_DEVICES
    from ...device import device as _device
    from . import array, device_errors, memory, runtime  # noqa: F401
    from . import shape  # noqa: F401
    from . import reduction  # noqa: F401
    from . import indexing  # noqa: F401
    from . import masks  # noqa: F401
    from . import scatter_reduce  # noqa: F401
    from . import elementwise  # noqa: F401
    from . import linalg  # noqa: F401
    from . import nn  # noqa: F401
    from . import normalization  # noqa: F401
    from . import linear_cross_entropy  # noqa: F401
    from . import batch_norm, conv, pooling, resample  # noqa: F401
    from . import rnn_step  # noqa: F401
    from . import attention  # noqa: F401
    from . import scan, search, sorting  # noqa: F401
    from . import rearrange  # noqa: F401
    from . import matrix  # noqa: F401
    from . import products  # noqa: F401
    from . import distance  # noqa: F401
    from ..composed import register_composed
    from triton_kernels import tuning as _tuning

    register_composed("cuda")
    from . import backend  # noqa: F401  (the cuda device backend: allocation, copies, random, multi-tensor launches)
    RAW_DEVICES[array.CudaArray] = _device("cuda", 0)
    _tuning.set_allowed(not settings.are_deterministic_algorithms_enabled())


class _MatmulFlags:
    """`framework.backends.cuda.matmul`: PyTorch's switches for matmuls (and linear layers) on the GPU.

    allow_tf32: float32 products may use TF32 tensor cores (default False); the same switch as
    framework.set_float32_matmul_precision (settings.py): True is "high", False "highest".
    allow_fp16_reduced_precision_reduction, allow_bf16_reduced_precision_reduction: PyTorch's permissions to
    reduce 16-bit products in 16 bits (default True); accepted, and moot: these kernels always sum in float32."""
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self):
        return settings.matmul_allows_tf32()

    @allow_tf32.setter
    def allow_tf32(self, flag):
        settings.set_float32_matmul_precision("high" if flag else "highest")


matmul = _MatmulFlags()


def tf32_enabled():
    return matmul.allow_tf32


def is_built():
    """Whether framework can drive CUDA GPUs (its Triton kernels are importable), as torch.backends.cuda.is_built."""
    return _HAS_TRITON
