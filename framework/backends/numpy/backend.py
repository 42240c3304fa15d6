"""The CPU's device backend (device_backend.py): numpy arrays in host memory.

Its random stream is framework.random (PyTorch's CPU stream). It has no multi-tensor kernels: on the CPU the
optimizers take their numpy per-parameter path (optim/_fast_path.py), and gradient clipping and GradScaler's
unscale take Tensor ops.
"""
import numpy as np

from ... import random
from ...device import CPU
from ..device_backend import register_backend
from .sampling import multinomial as _multinomial


class NumpyBackend:
    device_type = "cpu"
    device = CPU
    random = random
    multi_tensor_dtypes = ()
    array_type = np.ndarray

    @staticmethod
    def empty(shape, dtype):
        return np.empty(shape, dtype)

    @staticmethod
    def full(shape, value, dtype):
        return np.full(shape, value, dtype)

    @staticmethod
    def copy_into(dst, src):
        np.copyto(dst, src, casting="unsafe")
        return dst

    @staticmethod
    def from_host(array):
        return array

    @staticmethod
    def to_host(array):
        return array

    @staticmethod
    def multinomial(probs, num_samples, replacement, generator):
        return _multinomial(probs, num_samples, replacement, generator)

    @staticmethod
    def update_scale_(scale, growth_tracker, found_inf, growth_factor, backoff_factor, growth_interval):
        """PyTorch's `_amp_update_scale_` in numpy, in place on the one-element arrays."""
        if found_inf.reshape(()) != 0:
            scale[...] = np.float32(float(scale.reshape(())) * backoff_factor)
            growth_tracker[...] = 0
            return
        successful = int(growth_tracker.reshape(())) + 1
        if successful == growth_interval:
            grown = np.float32(float(scale.reshape(())) * growth_factor)
            if np.isfinite(grown):
                scale[...] = grown
            growth_tracker[...] = 0
        else:
            growth_tracker[...] = successful


BACKEND = register_backend("cpu", NumpyBackend())
