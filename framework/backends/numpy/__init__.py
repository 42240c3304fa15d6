"""The CPU backend: numpy kernels, registered in the op registry on import."""
from ...autograd.registry import KERNELS, KernelPair, not_differentiable
from . import elementwise, linalg, shape  # noqa: F401
from . import reduction  # noqa: F401
from . import indexing  # noqa: F401
from . import scatter_reduce  # noqa: F401
from . import nn  # noqa: F401
from . import activation  # noqa: F401
from . import normalization  # noqa: F401
from . import linear_cross_entropy  # noqa: F401
from . import scan, search, sorting  # noqa: F401
from . import rearrange  # noqa: F401
from . import matrix  # noqa: F401
from . import products  # noqa: F401
from . import distance  # noqa: F401
from . import batch_norm, conv, pooling, resample  # noqa: F401
from . import rnn_step  # noqa: F401
from . import attention  # noqa: F401
from . import backend  # noqa: F401  (the CPU's device backend: allocation, copies, random stream)
from ..composed import register_composed
from .common import without_float_warnings


def _quiet_all_kernels():
    """inf and nan are results here, as in PyTorch: every CPU kernel runs with numpy's
    floating-point warnings (log(0), inf - inf, overflow) off."""
    for pairs in KERNELS.values():
        pair = pairs.get("cpu")
        if pair is not None and not getattr(pair.forward, "_quiet", False):
            backward = pair.backward if pair.backward is not_differentiable else without_float_warnings(pair.backward)
            pairs["cpu"] = KernelPair(without_float_warnings(pair.forward), backward)


register_composed("cpu")
_quiet_all_kernels()
