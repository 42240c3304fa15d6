"""Pooling: max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool1d/2d, adaptive_max_pool1d/2d, with PyTorch's output
sizes, checks and errors.

Every 2-d pooling window is the product of a window along H and one along W, so each is given by two AxisMaps
(resample.py): for each output row (column), the input rows (columns) its window covers, with weights. Max
pooling, plain and adaptive, is the op "max_pool2d" over those windows (weights 1 for taps inside the input, 0
for padding), returning (values, int64 indices into each H*W plane) as PyTorch does; its backward sums each
gradient into the input position its index names, by the transposed maps (no scatter). Average pooling, plain
and adaptive, is linear and separable: "axis_resample" with the weights 1/divisor (PyTorch's divisor factors
into a row and a column part in every mode: count_include_pad, the count of valid positions, or an override).
The 1-d forms run the 2-d ops on the input with a size-1 dim inserted before the last, as PyTorch does (nodes
SqueezeBackward1, then the 2-d op's, then UnsqueezeBackward0). An adaptive average to 1x1 is a mean over the
plane (PyTorch's MeanBackward1).
"""
import numpy as np

from .. import dtypes
from ..autograd.function import run
from .reduction import mean
from .resample import axis_map, resample_axes
from .shape import squeeze, unsqueeze


def _acc(input):
    return np.float64 if input._dtype is dtypes.float64 else np.float32


def window_map(dim, size, out, kernel, stride, padding, dilation, acc=np.float32):
    """The AxisMap of a pooling window along one dim: tap t of output j reads j*stride - padding + t*dilation,
    weight 1 inside the input, 0 in the padding (its index clamped into the input, so every read is in bounds)."""
    positions = (np.arange(out) * stride - padding)[:, None] + np.arange(kernel)[None, :] * dilation
    inside = (positions >= 0) & (positions < size)
    return axis_map(dim, np.clip(positions, 0, size - 1), inside.astype(acc), size, acc)


def adaptive_map(dim, size, out, acc=np.float32, average=False):
    """The AxisMap of adaptive windows along one dim: output j covers [floor(j*size/out), ceil((j+1)*size/out));
    weights 1 (max) or 1/count (average) inside the window, 0 past its end."""
    j = np.arange(out)
    start, end = (j * size) // out, ((j + 1) * size + out - 1) // out
    width = int((end - start).max(initial=1))
    positions = start[:, None] + np.arange(width)[None, :]
    inside = positions < end[:, None]
    weight = inside / (end - start)[:, None] if average else inside
    return axis_map(dim, np.minimum(positions, size - 1), weight.astype(acc), size, acc)


def _average_map(dim, size, out, kernel, stride, padding, count_include_pad, scale, acc):
    """avg_pool2d's window along one dim with weight `scale` / (this dim's factor of the divisor): the window's
    length clipped to the padded input (count_include_pad), or its count of input positions."""
    start = np.arange(out) * stride - padding
    if scale is None:
        length = (np.minimum(start + kernel, size + padding) - start if count_include_pad
                  else np.minimum(start + kernel, size) - np.maximum(start, 0))
        factor = np.where(length > 0, 1.0 / np.maximum(length, 1), 0.0)
    else:
        factor = np.full(out, scale)
    positions = start[:, None] + np.arange(kernel)[None, :]
    inside = (positions >= 0) & (positions < size)
    return axis_map(dim, np.clip(positions, 0, size - 1), (inside * factor[:, None]).astype(acc), size, acc)


def _pair(value, name, function):
    """An int or one or two ints as (h, w); None (a default stride) stays None."""
    if value is None:
        return None
    values = (int(value),) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) == 1:
        return values * 2
    if len(values) != 2:
        raise RuntimeError(f"{function}: {name} must either be a single int, or a tuple of two ints")
    return values


def _sizes(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def pool_output_size(size, kernel, pad, stride, dilation, ceil_mode):
    """pooling_output_shape: floor (or ceil) of the window count; with ceil_mode the last window must start
    inside the input or its left padding."""
    if stride == 0:
        raise RuntimeError("stride should not be zero")
    if pad < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {pad}")
    if pad > ((kernel - 1) * dilation + 1) // 2:
        raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={pad}, "
                           f"kernel_size={kernel} and dilation={dilation}")
    numerator = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool2d_sizes(input, kernel, stride, padding, dilation, ceil_mode):
    """The output (H, W) after PyTorch's pool2d checks (pool2d_shape_check)."""
    out = tuple(pool_output_size(input.shape[-2 + i], kernel[i], padding[i], stride[i], dilation[i], ceil_mode)
                for i in range(2))
    if kernel[0] <= 0 or kernel[1] <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kH: {kernel[0]} kW: {kernel[1]}")
    if stride[0] <= 0 or stride[1] <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got dH: {stride[0]} dW: {stride[1]}")
    if dilation[0] <= 0 or dilation[1] <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilationH: {dilation[0]} "
                           f"dilationW: {dilation[1]}")
    if out[0] < 1 or out[1] < 1:
        plane = "x".join(map(str, input.shape[-3:]))
        raise RuntimeError(f"Given input size: ({plane}). Calculated output size: "
                           f"({input.shape[-3]}x{out[0]}x{out[1]}). Output size is too small")
    return out


def _check_pool_input(input, function):
    if input.ndim not in (3, 4) or any(s == 0 for s in input.shape[-3:]):
        if input.ndim not in (3, 4) and function == "max_pool2d":
            raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
        raise RuntimeError(f"Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
                           f"got:{_sizes(input.shape)}")


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    kernel = _pair(kernel_size, "kernel_size", "max_pool2d")
    stride = _pair(stride, "stride", "max_pool2d") if stride not in (None, (), []) else kernel
    padding = _pair(padding, "padding", "max_pool2d")
    dilation = _pair(dilation, "dilation", "max_pool2d")
    if input.ndim not in (3, 4):
        _check_pool_input(input, "max_pool2d")
    out = _pool2d_sizes(input, kernel, stride, padding, dilation, ceil_mode)
    _check_pool_input(input, "max_pool2d")
    acc = _acc(input)
    maps = tuple(window_map(input.ndim - 2 + i, input.shape[-2 + i], out[i], kernel[i], stride[i], padding[i],
                            dilation[i], acc) for i in range(2))
    return run("max_pool2d", (input,), (maps,), "MaxPool2DWithIndicesBackward0")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    out, indices = max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, indices) if return_indices else out


def _check_1d(input, function):
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument #1 "
                           f"'self' (while checking arguments for {function})")


def _single(value):
    return int(value) if isinstance(value, int) else int(tuple(value)[0])


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """max_pool2d over the input with a size-1 dim inserted before the last (PyTorch's max_pool1d_with_indices)."""
    k, p, d = _single(kernel_size), _single(padding), _single(dilation)
    s = k if stride in (None, (), []) else _single(stride)
    if input.ndim not in (2, 3) or (input.ndim == 3 and input.shape[1] == 0):
        raise RuntimeError(f"max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
                           f"input, but got:{_sizes(input.shape)}")
    for name, value, low in (("kernel_size", k, 1), ("stride", s, 1)):
        if value < low:
            raise RuntimeError(f"max_pool1d() {name} must be greater than zero, but got {value}")
    if p < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p}")
    if p > k // 2:
        raise RuntimeError(f"max_pool1d() padding should be at most half of kernel size, but got padding={p} and "
                           f"kernel_size={k}")
    if d < 1:
        raise RuntimeError(f"max_pool1d() dilation must be greater than zero, but got {d}")
    if pool_output_size(input.shape[-1], k, p, s, d, ceil_mode) < 1:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: "
                           f"{pool_output_size(input.shape[-1], k, p, s, d, ceil_mode)}")
    out, indices = max_pool2d_with_indices(unsqueeze(input, -2), (1, k), (1, s), (0, p), (1, d), ceil_mode)
    out, indices = squeeze(out, -2), squeeze(indices, -2)
    return (out, indices) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    kernel = _pair(kernel_size, "kernel_size", "avg_pool2d")
    stride = _pair(stride, "stride", "avg_pool2d") if stride not in (None, (), []) else kernel
    padding = _pair(padding, "padding", "avg_pool2d")
    if input.ndim == 2:
        raise IndexError("Dimension out of range (expected to be in range of [-2, 1], but got -3)")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    if input.ndim not in (3, 4):
        _check_pool_input(input, "avg_pool2d")
    out = _pool2d_sizes(input, kernel, stride, padding, (1, 1), ceil_mode)
    _check_pool_input(input, "avg_pool2d")
    _require_float("avg_pool2d", input)
    acc = _acc(input)
    scales = (None, None) if divisor_override is None else (1.0 / divisor_override, 1.0)
    maps = [_average_map(input.ndim - 2 + i, input.shape[-2 + i], out[i], kernel[i], stride[i], padding[i],
                         count_include_pad, scales[i], acc) for i in range(2)]
    return resample_axes(input, maps[::-1], "AvgPool2DBackward0")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    _check_1d(input, "avg_pool1d")
    k, p = _single(kernel_size), _single(padding)
    s = k if stride in (None, (), []) else _single(stride)
    out = avg_pool2d(unsqueeze(input, -2), (1, k), (1, s), (0, p), ceil_mode, count_include_pad)
    return squeeze(out, -2)


def _require_float(function, input):
    if not input._dtype.is_floating_point:
        raise NotImplementedError(f"\"{function}\" not implemented for '{input._dtype.scalar_name}'")


def _adaptive_sizes(input, output_size, n, function):
    sizes = (output_size,) * n if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(sizes) != n:
        raise RuntimeError(f"{function}: output_size must be {n}")
    sizes = tuple(input.shape[input.ndim - n + i] if s is None else int(s) for i, s in enumerate(sizes))
    return sizes


def _check_adaptive(input, sizes, function):
    if input.ndim not in (3, 4):
        got = _sizes(input.shape)
        raise RuntimeError(f"{function}(): Expected 3D or 4D tensor, but got{':' if 'max' in function else ''} {got}")
    for i in range(1, input.ndim):
        if input.shape[i] == 0:
            raise RuntimeError(f"{function}(): Expected input to have non-zero size for non-batch dimensions, but "
                               f"input has sizes {_sizes(input.shape)} with dimension {i} being empty")
    if any(s < 0 for s in sizes):
        if "max" in function:
            shape = list(input.shape[:-2]) + list(sizes)
            raise RuntimeError(f"Trying to create tensor with negative dimension {min(sizes)}: {shape}")
        raise RuntimeError(f"{function}: elements of output_size must be greater than or equal to 0 but received "
                           f"{{{', '.join(map(str, sizes))}}}")


def adaptive_avg_pool(input, sizes, n):
    """adaptive_avg_pool1d/2d on resolved output `sizes` (interpolate's 'area' mode comes here too)."""
    if n == 1:
        return squeeze(adaptive_avg_pool(unsqueeze(input, -2), (1,) + tuple(sizes), 2), -2)
    _check_adaptive(input, sizes, "adaptive_avg_pool2d")
    _require_float("adaptive_avg_pool2d", input)
    if tuple(sizes) == (1, 1):
        return mean(input, (-1, -2), keepdim=True)
    acc = _acc(input)
    maps = [adaptive_map(input.ndim - 2 + i, input.shape[-2 + i], sizes[i], acc, average=True) for i in range(2)]
    return resample_axes(input, maps[::-1], "AdaptiveAvgPool2DBackward0")


def adaptive_avg_pool2d(input, output_size):
    return adaptive_avg_pool(input, _adaptive_sizes(input, output_size, 2, "adaptive_avg_pool2d"), 2)


def adaptive_avg_pool1d(input, output_size):
    _check_1d(input, "adaptive_avg_pool1d")
    return adaptive_avg_pool(input, _adaptive_sizes(input, output_size, 1, "adaptive_avg_pool1d"), 1)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    sizes = _adaptive_sizes(input, output_size, 2, "adaptive_max_pool2d")
    _check_adaptive(input, sizes, "adaptive_max_pool2d")
    _require_float("adaptive_max_pool2d", input)
    acc = _acc(input)
    maps = tuple(adaptive_map(input.ndim - 2 + i, input.shape[-2 + i], sizes[i], acc) for i in range(2))
    out, indices = run("max_pool2d", (input,), (maps,), "AdaptiveMaxPool2DBackward0")
    return (out, indices) if return_indices else out


def adaptive_max_pool1d(input, output_size, return_indices=False):
    _check_1d(input, "adaptive_max_pool1d")
    sizes = _adaptive_sizes(input, output_size, 1, "adaptive_max_pool1d")
    out, indices = adaptive_max_pool2d(unsqueeze(input, -2), (1,) + sizes, return_indices=True)
    out, indices = squeeze(out, -2), squeeze(indices, -2)
    return (out, indices) if return_indices else out


__all__ = ["max_pool1d", "max_pool2d", "max_pool2d_with_indices", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"]
