"""Resampling along axes: F.interpolate (nearest, nearest-exact, linear, bilinear, trilinear, area) and the index
maps of F.pad's reflect/replicate/circular modes.

Both are separable: along each resampled dim, output position j reads input positions `index[j, t]` with weights
`weight[j, t]` (t < T: one tap for nearest and padding, two for linear). The op "axis_resample" applies one such
map per dim, last dim first; its backward applies the transposed maps (`AxisMap.back_*`: for each input
position, the output positions that read it and their weights), built here once on the host, so no device needs
atomics or scatters. Indices and weights follow PyTorch's CPU kernels (float32 arithmetic, float64 for float64
inputs: `compute_scales_value`, `area_pixel_compute_source_index`, `nearest_idx`).
"""
import math
from typing import NamedTuple

import numpy as np

from .. import dtypes
from ..autograd.function import run


class AxisMap(NamedTuple):
    dim: int
    index: np.ndarray  # (J, T) int64: input positions read by output position j
    weight: np.ndarray  # (J, T) float, or None: every tap weighs 1
    back_index: np.ndarray  # (L, T') int64: output positions that read input position l (0 where unused)
    back_weight: np.ndarray  # (L, T') float: their weights (0 where unused)


def axis_map(dim, index, weight, in_size, dtype=np.float32):
    """An AxisMap for one dim: the forward taps (`index`, `weight`: (J, T), `weight` None for all ones) and their
    transpose, grouped by input position (stable: output positions in increasing order); taps of weight 0 are
    left out of the transpose."""
    index = np.asarray(index, dtype=np.int64).reshape(len(index), -1)
    taps = np.ones(index.shape, dtype) if weight is None else np.asarray(weight, dtype).reshape(index.shape)
    flat_in, flat_out = index.reshape(-1), np.repeat(np.arange(index.shape[0]), index.shape[1])
    flat_w = taps.reshape(-1)
    used = flat_w != 0  # taps of weight 0 (padding, past a window's end) read nothing: not in the transpose
    flat_in, flat_out, flat_w = flat_in[used], flat_out[used], flat_w[used]
    order = np.argsort(flat_in, kind="stable")
    flat_in, flat_out, flat_w = flat_in[order], flat_out[order], flat_w[order]
    counts = np.bincount(flat_in, minlength=in_size)
    width = max(int(counts.max(initial=0)), 1)
    rank = np.arange(flat_in.size) - np.searchsorted(flat_in, flat_in)  # position within each input's group
    back_index = np.zeros((in_size, width), np.int64)
    back_weight = np.zeros((in_size, width), dtype)
    back_index[flat_in, rank] = flat_out
    back_weight[flat_in, rank] = flat_w
    return AxisMap(dim, index, None if weight is None else taps, back_index, back_weight)


def resample_axes(input, maps, node):
    """Apply `maps` (AxisMaps, each on its own dim) to `input` as one op whose graph node is `node`."""
    return run("axis_resample", (input,), (tuple(maps),), node)


# ---- F.interpolate -----------------------------------------------------------------------------------------

_LINEAR_MODES = {"linear": 3, "bilinear": 4, "trilinear": 5}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area")
_NODE = {"nearest": "UpsampleNearest{}DBackward0", "nearest-exact": "UpsampleNearestExact{}DBackward0",
         "linear": "UpsampleLinear1DBackward0", "bilinear": "UpsampleBilinear2DBackward0",
         "trilinear": "UpsampleTrilinear3DBackward0"}


def _scale_value(scale, in_size, out_size, acc):
    """compute_scales_value: 1 / scale when a scale is given, else in / out, in the accumulate type."""
    if scale is not None and scale > 0:
        return acc(1.0 / scale)
    return acc(in_size) / acc(out_size)


def _nearest(in_size, out_size, scale, exact):
    """nearest_idx / nearest_neighbor_exact_compute_source_index, in float32 as PyTorch computes them."""
    dst = np.arange(out_size, dtype=np.int64)
    if not exact:
        if out_size == in_size:
            return dst
        if out_size == 2 * in_size:
            return dst >> 1
    s = _scale_value(scale, in_size, out_size, np.float32)
    positions = dst.astype(np.float32) + np.float32(0.5) if exact else dst.astype(np.float32)
    return np.minimum(np.floor(positions * s).astype(np.int64), in_size - 1)


def _linear(in_size, out_size, scale, align_corners, acc):
    """The two taps and weights of linear interpolation (area_pixel_compute_source_index, guard_index_and_lambda)."""
    if align_corners:
        s = acc(in_size - 1) / acc(out_size - 1) if out_size > 1 else acc(0)
    else:
        s = _scale_value(scale, in_size, out_size, acc)
    dst = np.arange(out_size).astype(acc)
    source = s * dst if align_corners else np.maximum(s * (dst + acc(0.5)) - acc(0.5), acc(0))
    first = np.minimum(source.astype(np.int64), in_size - 1)
    lam = np.clip(source - first.astype(acc), acc(0), acc(1)).astype(acc)
    second = first + (first < in_size - 1)
    return np.stack([first, second], 1), np.stack([acc(1) - lam, lam], 1)


def _output_sizes(input, size, scale_factor, recompute_scale_factor):
    spatial = tuple(input.shape[2:])
    dims = len(spatial)
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        if len(sizes) != dims:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input with "
                             f"spatial dimensions of {list(spatial)} and output size of {size}. Please provide input "
                             "tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.")
        if any(isinstance(s, float) for s in sizes):
            raise TypeError(f"interpolate: size must be integers, got {size}")
        return tuple(int(s) for s in sizes), (None,) * dims
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * dims
    if len(scales) != dims:
        raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got input "
                         f"with spatial dimensions of {list(spatial)} and scale_factor of shape {scale_factor}. "
                         "Please provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, "
                         "...,sK) format.")
    sizes = tuple(math.floor(float(n) * float(s)) for n, s in zip(spatial, scales))
    return sizes, (None,) * dims if recompute_scale_factor else tuple(float(s) for s in scales)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """PyTorch's F.interpolate for the modes in _MODES."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear "
                             "| bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if input.ndim not in (3, 4, 5) or mode not in _MODES + ("bicubic", "lanczos"):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
                                  "the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
                                  f"nearest-exact (got {mode})")
    if mode in _LINEAR_MODES and input.ndim != _LINEAR_MODES[mode]:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR_MODES[mode]}D input")
    if mode in ("bicubic", "lanczos") or antialias:
        raise NotImplementedError(f"interpolate: mode={mode!r}{' with antialias' if antialias else ''} is not "
                                  "supported (nearest, nearest-exact, linear, bilinear, trilinear and area are)")
    sizes, scales = _output_sizes(input, size, scale_factor, recompute_scale_factor)
    spatial = tuple(input.shape[2:])
    if any(n <= 0 for n in spatial) or any(n <= 0 for n in sizes):
        names = ("D", "H", "W")[3 - len(spatial):]
        given = ", ".join(f"{n}: {v}" for n, v in zip(names, spatial))
        wanted = ", ".join(f"{n}: {v}" for n, v in zip(names, sizes))
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input ({given}) output "
                           f"({wanted})")
    if input.shape[1] == 0:
        raise RuntimeError(f"Non-empty {input.ndim}D data tensor expected but got a tensor with sizes "
                           f"[{', '.join(map(str, input.shape))}]")
    if not input._dtype.is_floating_point:
        raise NotImplementedError(f"\"upsample_{mode}\" not implemented for '{input._dtype.scalar_name}'")
    if mode == "area":
        from .pooling import adaptive_avg_pool
        return adaptive_avg_pool(input, sizes, len(sizes))
    acc = np.float64 if input._dtype is dtypes.float64 else np.float32
    maps = []
    for i, (n, out, scale) in enumerate(zip(spatial, sizes, scales)):
        dim = 2 + i
        if mode.startswith("nearest"):
            maps.append(axis_map(dim, _nearest(n, out, scale, mode == "nearest-exact")[:, None], None, n, acc))
        else:
            index, weight = _linear(n, out, scale, align_corners, acc)
            maps.append(axis_map(dim, index, weight, n, acc))
    return resample_axes(input, maps[::-1], _NODE[mode].format(len(spatial)))


__all__ = ["interpolate"]
