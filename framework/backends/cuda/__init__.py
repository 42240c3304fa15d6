"""The cuda backend: device memory, one stream, and every op's kernel pair as Triton kernels.

Loaded on the first use of a `cuda` tensor (never by `import framework`): it imports Triton, and on a
GPU cuda-core. Under TRITON_INTERPRET=1 the same kernels run in Triton's interpreter on host memory
(runtime.py).
"""
from ..cuda_requirements import check_triton

check_triton()  # before anything below imports Triton: an unsupported one fails here, saying which is needed

from ...tensor import RAW_DEVICES  # noqa: E402
from ...device import device as _device  # noqa: E402
from . import array, device_errors, memory, runtime  # noqa: F401,E402
from . import shape  # noqa: F401,E402
from . import reduction  # noqa: F401,E402
from . import indexing  # noqa: F401,E402
from . import masks  # noqa: F401,E402
from . import scatter_reduce  # noqa: F401,E402
from . import elementwise  # noqa: F401,E402
from . import linalg  # noqa: F401,E402
from . import nn  # noqa: F401,E402
from . import normalization  # noqa: F401,E402
from . import linear_cross_entropy  # noqa: F401,E402
from . import batch_norm, conv, pooling, resample  # noqa: F401,E402
from . import attention  # noqa: F401,E402
from . import scan, search, sorting  # noqa: F401,E402
from . import rearrange  # noqa: F401,E402
from . import matrix  # noqa: F401,E402
from . import products  # noqa: F401,E402
from . import distance  # noqa: F401,E402
from ..composed import register_composed  # noqa: E402

register_composed("cuda")

RAW_DEVICES[array.CudaArray] = _device("cuda", 0)


class _MatmulFlags:
    """`framework.backends.cuda.matmul.allow_tf32`, as PyTorch: fp32 matmuls may use TF32 tensor cores."""
    allow_tf32 = False


matmul = _MatmulFlags()


def tf32_enabled():
    return matmul.allow_tf32
