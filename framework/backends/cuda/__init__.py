"""The cuda backend: device memory, one stream, and every op's kernel pair as Triton kernels.

Loaded on the first use of a `cuda` tensor (never by `import framework`): it imports Triton, and on a
GPU cuda-core. Under TRITON_INTERPRET=1 the same kernels run in Triton's interpreter on host memory
(runtime.py).
"""
from ...tensor import RAW_DEVICES
from ...device import device as _device
from . import array, device_errors, memory, runtime  # noqa: F401
from . import shape  # noqa: F401
from . import reduction  # noqa: F401
from . import indexing  # noqa: F401
from . import elementwise  # noqa: F401
from . import linalg  # noqa: F401
from . import nn  # noqa: F401
from . import normalization  # noqa: F401
from . import linear_cross_entropy  # noqa: F401

RAW_DEVICES[array.CudaArray] = _device("cuda", 0)


class _MatmulFlags:
    """`framework.backends.cuda.matmul.allow_tf32`, as PyTorch: fp32 matmuls may use TF32 tensor cores."""
    allow_tf32 = False


matmul = _MatmulFlags()


def tf32_enabled():
    return matmul.allow_tf32
