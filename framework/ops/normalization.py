"""Normalization ops with kernel pairs of their own: group_norm (PyTorch's native_group_norm), layer_norm
(native_layer_norm) and rms_norm (_fused_rms_norm). Argument checks and errors are PyTorch's CPU ones, on every
device."""
import numpy as np

from .. import dtypes
from ..autograd.function import autocast_inputs, run
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


def _normalized_shape(function, normalized_shape):
    """`normalized_shape` as a tuple of ints, refused as PyTorch's argument parser and shape check refuse it."""
    if not isinstance(normalized_shape, (tuple, list)):
        raise TypeError(f"{function}(): argument 'normalized_shape' (position 2) must be tuple of ints, not "
                        f"{type(normalized_shape).__name__}")
    for i, size in enumerate(normalized_shape):
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
            raise TypeError(f"{function}(): argument 'normalized_shape' (position 2) must be tuple of ints, but "
                            f"found element of type {type(size).__name__} at pos {i}")
    if not normalized_shape:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                           "element, but got normalized_shape = []")
    return tuple(int(size) for size in normalized_shape)


def _check_shapes(input, shape, params, rms=False):
    """PyTorch's _check_layer_norm_inputs (_check_rms_norm_inputs with `rms`): each (name, param) of `shape`, then
    the input's trailing dims."""
    for name, param in params:
        if param is not None and tuple(param.shape) != shape:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                               f"{_sizes(param)} and normalized_shape = {list(shape)}")
    if rms and input.ndim < len(shape):
        raise ValueError(f"Input tensor must have at least {len(shape)} dimensions, but got {input.ndim}")
    star = "*" if rms else "*, "  # (PyTorch's rms_norm message has no comma after the star)
    if input.ndim < len(shape) or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[{star}{', '.join(str(s) for s in shape)}], but got input of size{_sizes(input)}")


def _check_mixed_dtypes(input, weight, bias):
    """PyTorch's CPU rule: parameters of the input's dtype, or (mixed) float32 ones for a float16/bfloat16 input."""
    params = [p for p in (weight, bias) if p is not None]
    if not params:
        return
    if params[0]._dtype is not input._dtype:
        if any(p._dtype is not dtypes.float32 for p in params):
            raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of Float")
        if input._dtype not in _LOW_PRECISION:
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")
        return
    for p in params[1:]:
        if p._dtype is not input._dtype:
            raise RuntimeError(f"expected scalar type {input._dtype.scalar_name} but found {p._dtype.scalar_name}")


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing `normalized_shape` dims by their mean and (biased) variance, then scale and
    shift elementwise: one kernel pair, PyTorch's NativeLayerNormBackward0."""
    input, weight, bias = autocast_inputs("layer_norm", (input, weight, bias))  # first: the checks compare dtypes
    shape = _normalized_shape("layer_norm", normalized_shape)
    _check_mixed_dtypes(input, weight, bias)
    _check_shapes(input, shape, (("weight", weight), ("bias", bias)))
    _require_float("LayerNormKernelImpl", input)
    return run("layer_norm", (input, weight, bias), (len(shape), float(eps)))


def _rms_node(input, weight):
    """PyTorch's node for rms_norm: its fused kernel's on cuda (same dtypes); elsewhere it composes the op, and
    the last piece is the multiplication (float32/float64) or the cast back to a float16/bfloat16 input."""
    if input._device.type == "cuda" and (weight is None or weight._dtype is input._dtype):
        return "FusedRmsNormBackward0"
    return "ToCopyBackward0" if input._dtype in _LOW_PRECISION else "MulBackward0"


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Divide by the root mean square over the trailing `normalized_shape` dims (plus eps: by default the machine
    epsilon of the computation's dtype, float32 for float16/bfloat16, as PyTorch's kernel takes it), then scale
    elementwise. The weight may have another dtype (any float; integers are cast): the result has the input's."""
    input, weight = autocast_inputs("rms_norm", (input, weight))
    shape = _normalized_shape("rms_norm", normalized_shape)
    _check_shapes(input, shape, (("weight", weight),), rms=True)
    _require_float("rms_norm", input)
    if weight is not None and not weight._dtype.is_floating_point:
        weight = weight.to(input._dtype)
    if eps is None:
        eps = float(np.finfo(np.float64 if input._dtype is dtypes.float64 else np.float32).eps)
    return run("rms_norm", (input, weight), (len(shape), float(eps)), _rms_node(input, weight))


__all__ = ["group_norm", "layer_norm", "rms_norm"]
