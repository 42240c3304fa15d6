"""multinomial: PyTorch's signature and errors, then the device backend's sampler (PyTorch's CPU stream on the CPU,
backends/numpy/sampling.py; the Philox stream on `cuda`, backends/cuda/sampling.py)."""
import builtins

from .. import random as _random
from ..backends.device_backend import backend_for
from ..tensor import Tensor

_MAX_CATEGORIES = 1 << 24  # PyTorch keeps indices exact in float32


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """`num_samples` category indices per row of the non-negative weights `input` (1-D or 2-D), drawn with or
    without replacement."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input._dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{input._dtype.scalar_name}")
    num_samples = builtins.int(num_samples)
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    n_categories = input.shape[-1]
    if not replacement and num_samples > n_categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if n_categories > _MAX_CATEGORIES:
        raise RuntimeError("number of categories cannot exceed 2^24")
    _random.for_device(input.device, generator)  # PyTorch's error for a generator of another device
    from ..creation import empty
    from .. import dtypes
    out_shape = input.shape[:-1] + (num_samples,)
    if input.shape[0] == 0:
        return empty(out_shape, dtype=dtypes.int64, device=input.device)
    raw = backend_for(input.device).multinomial(input.detach()._data, num_samples, builtins.bool(replacement),
                                                 generator)
    return Tensor._from_raw(raw, input.device)


TENSOR_METHODS = ("multinomial",)

__all__ = list(TENSOR_METHODS)
