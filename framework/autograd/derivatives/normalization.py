"""Differentiable formula of group_norm (framework/ops/normalization.py): the gradient of the composition its
kernels fuse, recomputed from the saved input, weight and bias."""
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
