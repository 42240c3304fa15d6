"""The `cuda` device backend (device_backend.py): CudaArrays in device memory, every service a Triton launch.

Its random stream is the Philox one of random.py; its multi-tensor kernels are triton_kernels.optimizer (one
launch per parameter group and dtype, over a table of addresses uploaded when the tensors move), triton_kernels.amp
and grad_norm.py.
"""
from triton_kernels import amp as _amp_kernels
from triton_kernels import optimizer as _optimizer_kernels

from ... import dtypes
from ...device import device as _device
from ..device_backend import register_backend
from . import grad_norm as _grad_norm
from . import random as _random
from .array import CudaArray as _CudaArray, empty as _empty, from_numpy as _from_numpy
from .common import copy_into as _copy_into, full as _full
from .sampling import multinomial as _multinomial

# The optimizer rules of triton_kernels.optimizer: rule "adam" has slots ADAM_SLOTS (the order of a row's arrays)
# and launcher adam_step, looked up at each step (tests count the launches by wrapping the launchers).
_OPTIMIZER_RULES = ("sgd", "adam", "adamax", "nadam", "radam", "rmsprop", "adagrad")


class CudaBackend:
    device_type = "cuda"
    device = _device("cuda", 0)
    random = _random
    multi_tensor_dtypes = (dtypes.float32, dtypes.float16, dtypes.bfloat16, dtypes.float64)
    array_type = _CudaArray

    @staticmethod
    def empty(shape, dtype):
        return _empty(shape, dtype)

    @staticmethod
    def full(shape, value, dtype):
        return _full(shape, value, dtype)

    @staticmethod
    def copy_into(dst, src):
        return _copy_into(dst, src)

    @staticmethod
    def from_host(array):
        return _from_numpy(array)

    @staticmethod
    def to_host(array):
        return array.to_numpy()

    @staticmethod
    def multinomial(probs, num_samples, replacement, generator):
        return _multinomial(probs, num_samples, replacement, generator)

    @staticmethod
    def update_scale_(scale, growth_tracker, found_inf, growth_factor, backoff_factor, growth_interval):
        _amp_kernels.update_scale_(scale, growth_tracker, found_inf, growth_factor, backoff_factor, growth_interval)

    # ---- multi-tensor kernels ----------------------------------------------------------------------------------

    @staticmethod
    def fused_optimizer_step(rule, rows, previous=None, **hyper):
        if rule not in _OPTIMIZER_RULES:
            raise ValueError(f"no fused optimizer step for rule {rule!r}; the rules are {', '.join(_OPTIMIZER_RULES)}")
        if hyper.pop("capturable", False):  # Adam's: the step counts (last slot) and a tensor lr read on the device
            if rule != "adam":
                raise ValueError(f"no capturable fused optimizer step for rule {rule!r}; only 'adam' has one")
            n_slots = len(_optimizer_kernels.CAPTURABLE_ADAM_SLOTS)
            table = _optimizer_kernels.build_table(rows, n_slots, upload=_from_numpy, previous=previous,
                                                   step_slot=n_slots - 1)
            _optimizer_kernels.capturable_adam_step(table, **hyper)
            return table
        slots = getattr(_optimizer_kernels, f"{rule.upper()}_SLOTS")
        table = _optimizer_kernels.build_table(rows, len(slots), upload=_from_numpy, previous=previous)
        getattr(_optimizer_kernels, f"{rule}_step")(table, **hyper)
        return table

    @staticmethod
    def unscale_grads_(grads, scale, found_inf, previous=None):
        table = _optimizer_kernels.build_table([(g, g) for g in grads], len(_amp_kernels.UNSCALE_SLOTS),
                                               upload=_from_numpy, previous=previous)
        _amp_kernels.unscale_(table, scale, found_inf)
        return table

    @staticmethod
    def total_norm(arrays, norm_type, max_norm=None):
        return _grad_norm.total_norm(arrays, norm_type, max_norm)

    @staticmethod
    def scale_by_total_norm_(arrays, total, max_norm):
        _grad_norm.scale(arrays, total, max_norm)


BACKEND = register_backend("cuda", CudaBackend())
