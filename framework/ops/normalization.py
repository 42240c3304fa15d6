"""Normalization ops with kernel pairs of their own: group_norm (PyTorch's native_group_norm)."""
from .. import dtypes
from ..autograd.function import run
from .nn import _require_float

_LOW_PRECISION = (dtypes.float16, dtypes.bfloat16)


def _sizes(t):
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _parameter(name, param, input):
    """`param` checked as PyTorch's CPU kernels check it, in `input`'s dtype (a float32 weight of a
    float16/bfloat16 input is PyTorch's "mixed type": it is rounded to the input's dtype here)."""
    if param is None:
        return None
    channels = input.shape[1]
    if param.ndim != 1 or param.numel() != channels:
        raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, but got "
                           f"{name} of shape {_sizes(param)} and input of shape {_sizes(input)}")
    if param._dtype is not input._dtype:
        if input._dtype in _LOW_PRECISION and param._dtype is dtypes.float32:
            return param.to(input._dtype)
        if input._dtype is dtypes.float32:
            raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of Float")
        raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")
    if param._device != input._device:
        return param.to(input._device)
    return param


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize each (sample, group of C / num_groups channels) by its mean and variance, then scale and shift
    per channel."""
    channels = input.shape[1]
    if channels % num_groups:
        raise RuntimeError("Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {_sizes(input)} and num_groups={num_groups}")
    weight = _parameter("weight", weight, input)
    bias = _parameter("bias", bias, input)
    _require_float("GroupNormKernelImpl", input)
    return run("group_norm", (input, weight, bias), (int(num_groups), float(eps)))


__all__ = ["group_norm"]
