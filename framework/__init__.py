"""framework: a PyTorch-shaped deep learning framework; numpy on the CPU, Triton kernels on the GPU.

    import framework as fw
    x = fw.tensor([[1., 2.], [3., 4.]], requires_grad=True)
"""
from . import backends  # noqa: F401
from .backends.settings import (are_deterministic_algorithms_enabled, get_float32_matmul_precision,
                                is_deterministic_algorithms_warn_only_enabled, set_float32_matmul_precision,
                                use_deterministic_algorithms)
from .backends import numpy as _numpy_backend  # noqa: F401  (registers the CPU kernels)
from .dtypes import (bfloat16, bool, double, float, float16, float32, float64, get_default_dtype, half, int,  # noqa: A004
                     int8, int16, int32, int64, long, promote_types, set_default_dtype, short, uint8)
from .dtypes import dtype, result_type as _result_type
from .device import device, get_default_device, set_default_device
from .tensor import Size, Tensor, typename
from . import ops
from .ops.elementwise import *  # noqa: F401,F403
from .ops.elementwise import abs, pow, round  # noqa: A004
from .ops.shape import *  # noqa: F401,F403
from .ops.linalg import *  # noqa: F401,F403
from .ops.reduction import *  # noqa: F401,F403,A004
from .ops.indexing import *  # noqa: F401,F403
from .ops.sorting import *  # noqa: F401,F403
from .ops.unique import *  # noqa: F401,F403
from .ops.scan import *  # noqa: F401,F403
from .ops.search import *  # noqa: F401,F403
from .ops.quantile import *  # noqa: F401,F403
from .ops.sampling import *  # noqa: F401,F403
from .ops.rearrange import *  # noqa: F401,F403
from .ops.matrix import *  # noqa: F401,F403
from .ops.integration import *  # noqa: F401,F403
from .ops.combine import *  # noqa: F401,F403
from .ops.products import *  # noqa: F401,F403
from .ops.einsum import einsum  # noqa: F401
from .ops.distance import *  # noqa: F401,F403
from .ops.index_ops import *  # noqa: F401,F403
from .creation import (arange, as_tensor, asarray, empty, empty_like, eye, from_numpy, full, full_like, linspace,
                       normal, ones, ones_like, rand, rand_like, randint, randint_like, randn, randn_like, randperm,
                       tensor, zeros, zeros_like)
from . import random as _random
from .random import Generator, default_generator, initial_seed, manual_seed, seed
from .autograd.grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .printing import get_printoptions, set_printoptions
from . import accelerator, autograd, cuda, return_types
autograd.derivatives.load()  # the differentiable formulas (create_graph=True), once every op they use exists

__version__ = "0.1.0"

# nn, optim, utils, models and checkpoints load on first use: `import framework` stays fast (perf/: target 0.3 s)
_LAZY_MODULES = {"nn", "optim", "utils", "serialization", "models", "amp", "linalg", "distributed"}
_LAZY_ATTRIBUTES = {"save": "serialization", "load": "serialization", "autocast": "amp", "get_autocast_dtype": "amp",
                    "is_autocast_enabled": "amp", "is_autocast_cache_enabled": "amp", "clear_autocast_cache": "amp"}


def __getattr__(name):
    import importlib
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_ATTRIBUTES:
        return getattr(importlib.import_module(f".{_LAZY_ATTRIBUTES[name]}", __name__), name)
    raise AttributeError(f"module 'framework' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | _LAZY_MODULES | set(_LAZY_ATTRIBUTES))


def result_type(tensor1, tensor2):
    return _result_type(tensor1, tensor2)


def get_rng_state():
    """The default generator's state as a uint8 tensor (PyTorch's 5056-byte layout)."""
    return from_numpy(_random.get_rng_state())


def set_rng_state(new_state):
    _random.set_rng_state(new_state.numpy() if isinstance(new_state, Tensor) else new_state)


def from_dlpack(ext_tensor):
    """A tensor sharing the memory of an object that exports DLPack (or of a DLPack capsule)."""
    from .utils.dlpack import from_dlpack as _from_dlpack
    return _from_dlpack(ext_tensor)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()
