"""cuda kernels of `scaled_dot_product_attention` (framework/backends/numpy/attention.py's signatures and
results): one triton_kernels.attention launch forward, three backward (delta, dQ, dK/dV). `stream` is the
(seed, offset) of the Philox counters the front end reserved for dropout."""
import numpy as np

from triton_kernels import attention as kernels

from ...autograd.registry import register
from .common import empty, zeros


def _attention_forward(ctx, q, k, v, mask, scale, causal, dropout_p, stream):
    n, heads, len_q = q.shape[:3]
    out = empty((n, heads, len_q, v.shape[3]), q.dtype)
    lse = empty((n * heads * len_q,), np.dtype(kernels.compute_dtype(q)))
    kernels.forward(q, k, v, mask, out, lse, scale, causal, dropout_p, *(stream or (0, 0)))
    if ctx.needs_input_grad:
        ctx.save_for_backward(q, k, v, mask, out)
        ctx.lse = lse
        ctx.settings = (scale, causal, dropout_p, stream)
    return out


def _attention_backward(ctx, g):
    q, k, v, mask, out = ctx.saved_tensors
    scale, causal, dropout_p, stream = ctx.settings
    need_q, need_k, need_v, need_mask = (tuple(ctx.needs_input_grad) + (False,) * 4)[:4]
    compute = np.dtype(kernels.compute_dtype(q))
    dq, dk, dv = empty(q.shape, q.dtype), empty(k.shape, k.dtype), empty(v.shape, v.dtype)
    # causal launches skip the tiles above the diagonal: their dS stays the zeros written here
    dmask = zeros(mask.shape, compute) if need_mask and mask is not None else None
    kernels.backward(q, k, v, mask, out, g, ctx.lse, empty(ctx.lse.shape, compute), dq, dk, dv, scale, causal,
                     dropout_p, *(stream or (0, 0)), dmask=dmask)
    if dmask is not None and dmask.dtype != mask.dtype:
        dmask = dmask.astype(mask.dtype)
    return (dq if need_q else None), (dk if need_k else None), (dv if need_v else None), dmask


# PyTorch names the node by the kernel it picks on cuda: the flash kernel's for 16-bit inputs without a mask,
# the memory-efficient one's otherwise; the front end passes the matching name (ops/attention.py)
register("scaled_dot_product_attention", "cuda", _attention_forward, _attention_backward,
         "ScaledDotProductFlashAttentionForCpuBackward0")
