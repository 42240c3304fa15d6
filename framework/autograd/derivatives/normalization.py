"""Differentiable formulas of group_norm, layer_norm and rms_norm (framework/ops/normalization.py): the gradient of
the composition their kernels fuse, recomputed from the saved input, weight and bias."""
import math

from ... import dtypes
from . import derivative
from .tools import recompute


def group_norm_composition(x, weight, bias, groups, eps):
    """What the group_norm kernels compute, in framework ops: each (sample, group) row normalised by its mean and
    (biased) variance, then the per-channel affine; float16/bfloat16 in float32, as the kernels."""
    n, c = x.shape[0], x.shape[1]
    per_group = (c // groups) * math.prod(x.shape[2:])
    compute = x if x.dtype is dtypes.float64 else x.float()
    rows = compute.reshape(n, groups, per_group)
    centered = rows - rows.mean(2, keepdim=True)
    var = (centered * centered).mean(2, keepdim=True)
    out = (centered * (var + eps).rsqrt()).reshape(x.shape)
    channels = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(channels)
    if bias is not None:
        out = out + bias.reshape(channels)
    return out.to(x.dtype)


# native_group_norm(input, weight, bias): its node shows all three, (None, 0) for an absent weight or bias
@derivative("group_norm", save=(0, 1, 2), scalars=True)
def _group_norm(ctx, g):
    return recompute(ctx, g, group_norm_composition, (0, 1, 2))


def row_norm_composition(x, weight, bias, normalized_ndim, eps, rms=False):
    """What the layer_norm (rms_norm with `rms`) kernels compute, in framework ops: each row of the trailing
    `normalized_ndim` dims centered (not for rms) and divided by its root mean square plus eps, then the
    elementwise affine; float16/bfloat16 in float32, as the kernels."""
    dims = tuple(range(-normalized_ndim, 0))
    compute = x if x.dtype is dtypes.float64 else x.float()
    centered = compute if rms else compute - compute.mean(dims, keepdim=True)
    out = centered * ((centered * centered).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out.to(x.dtype)


# native_layer_norm(input, weight, bias): its node shows all three, (None, 0) for an absent weight or bias
@derivative("layer_norm", save=(0, 1, 2), scalars=True)
def _layer_norm(ctx, g):
    return recompute(ctx, g, row_norm_composition, (0, 1, 2))


@derivative("rms_norm", save=(0, 1), scalars=True)
def _rms_norm(ctx, g):
    return recompute(ctx, g, lambda x, weight, ndim, eps: row_norm_composition(x, weight, None, ndim, eps, rms=True),
                     (0, 1))
