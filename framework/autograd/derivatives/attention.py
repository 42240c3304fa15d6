"""Differentiable formula of scaled_dot_product_attention (framework/ops/attention.py): the gradient of the
composition its kernels fuse, softmax(scale q k^T + mask) (dropout) v, recomputed from the saved operands in
framework ops (this graph holds the L_q x L_k weights: only higher-order gradients pay for them)."""
from ... import dtypes
from . import derivative
from .tools import recompute


def attention_composition(q, k, v, mask, scale, causal, dropout_p, stream):
    """What the attention kernels compute, in framework ops, on their 4-d operands: grouped key/value heads
    repeated, rows that see no key 0, dropout's kept weights (drawn again from `stream`) scaled by 1 / (1 - p);
    float16/bfloat16 in float32."""
    from ...ops.attention import dropout_keep
    from ...creation import ones
    group = q.shape[1] // k.shape[1]
    if group > 1:
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    compute = dtypes.float64 if q.dtype is dtypes.float64 else dtypes.float32
    s = q.to(compute) @ k.to(compute).transpose(-2, -1) * scale
    if mask is not None:
        s = s + mask.to(compute)
    len_q, len_k = q.shape[2], k.shape[2]
    if causal:
        band = ones((len_q, len_k), dtype=dtypes.bool, device=q.device).tril()
        s = s.masked_fill(band.logical_not(), float("-inf"))
    unseen = (s == float("-inf")).all(-1, keepdim=True)  # rows that see no key: 0, as the kernels give
    weights = s.masked_fill(unseen, 0.0).softmax(-1).masked_fill(unseen, 0.0)
    if dropout_p:
        keep = dropout_keep(tuple(s.shape), dropout_p, stream, q.device)
        weights = weights * keep.to(compute) / (1 - dropout_p)
    return (weights @ v.to(compute)).to(q.dtype)


# PyTorch's fused attention nodes show (query, key, value), (None, 0) for one that needs no gradient
@derivative("scaled_dot_product_attention", save=(0, 1, 2, 3), inputs=(0, 1, 2), scalars=True)
def _attention(ctx, g):
    return recompute(ctx, g, attention_composition, (0, 1, 2, 3))
