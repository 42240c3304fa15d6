"""scaled_dot_product_attention: PyTorch's signature, checks and errors, then one registered kernel pair.

The kernels (backends/numpy/attention.py, triton_kernels/attention.py) take 4-d operands: q (N, H, L_q, D),
k (N, H_kv, L_k, D), v (N, H_kv, L_k, D_v) with H_kv dividing H, and an additive float mask (N, H, L_q, L_k) or
None. Here the leading dims of any rank are broadcast as PyTorch's matmul broadcasts them (views with stride 0,
no copies for 4-d inputs), grouped-query heads are checked, a boolean mask becomes an additive one (0 where
True, -inf where False, in the query's dtype, at the mask's own size), and dropout gets its random stream:
the CPU generator's state (the kernels draw PyTorch's CPU stream from it) or the cuda generator's Philox
(seed, offset), whose offset moves past the counters the kernels read. On cuda the kernels take head dims up to
128 and refuse larger ones with a ValueError saying so (PyTorch's own kernels go to 256, its math path beyond).
"""
import math

from .. import dtypes
from .. import random as _random
from ..autograd.function import autocast_inputs, run
from ..graphs import recording
from ..tensor import Tensor
from .elementwise import broadcast_shapes

_OP = "scaled_dot_product_attention"


def _sizes(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _check_inputs(query, key, value, attn_mask, dropout_p, is_causal):
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError("Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
                           f"{query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead.")
    if not (query._dtype is key._dtype is value._dtype):
        raise RuntimeError("Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{query._dtype.cpp_name} key.dtype: {key._dtype.cpp_name} and value.dtype: "
                           f"{value._dtype.cpp_name} instead.")
    if not (query._device == key._device == value._device):
        raise RuntimeError("Expected query, key, and value to have the same device type, but got query.device: "
                           f"{query._device} key.device: {key._device} and value.device: {value._device} instead.")
    if not query._dtype.is_floating_point:
        raise RuntimeError(f"expected scalar type Float but found {query._dtype.scalar_name}")
    if attn_mask is not None:
        if attn_mask._dtype not in (dtypes.bool, dtypes.float32, query._dtype):
            raise RuntimeError("Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                               f"attn_mask.dtype: {attn_mask._dtype.cpp_name} and  query.dtype: "
                               f"{query._dtype.cpp_name} instead.")
        if attn_mask._device != query._device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{query._device} and {attn_mask._device}!")
        if is_causal:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                               "is_causal=True")
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")


def _bmm_check(batch, expected, got):
    """PyTorch's error of the batched product its math path runs, when a size does not match."""
    if expected != got:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{batch}, {expected}] "
                           f"but got: [{batch}, {got}].")


def _layout(query, key, value, enable_gqa):
    """(batch dims, heads, output's shape) of the broadcast operands; PyTorch's errors where they do not fit."""
    ndim = max(query.ndim, key.ndim, value.ndim, 4)
    shapes = [(1,) * (ndim - t.ndim) + tuple(t.shape) for t in (query, key, value)]
    (*q_lead, heads, len_q, head_dim), (*k_lead, k_heads, len_k, k_dim), (*v_lead, v_heads, len_v, value_dim) = shapes
    batch = broadcast_shapes(broadcast_shapes(tuple(q_lead), tuple(k_lead)), tuple(v_lead))
    if enable_gqa and query.ndim >= 3:
        if heads % k_heads or heads % v_heads:
            raise RuntimeError("Number of heads in key and value must divide the number of heads in ")
    else:
        heads = broadcast_shapes(broadcast_shapes((heads,), (k_heads,)), (v_heads,))[0]
    flat = math.prod(batch) * heads
    _bmm_check(flat, head_dim, k_dim)
    _bmm_check(flat, len_k, len_v)
    out_ndim = max(query.ndim, key.ndim, value.ndim)
    out_shape = (tuple(batch) + (heads, len_q, value_dim))[-out_ndim:]
    return tuple(batch), heads, out_shape


def _as_4d(t, batch, heads, tail=None):
    """`t` broadcast to (*batch, heads, *tail) (tail: its own last two sizes by default) and seen as
    (N, heads, *tail): a view when `t` is 4-d."""
    shape = (1,) * (len(batch) + 3 - t.ndim) + tuple(t.shape)
    if shape != tuple(t.shape):
        t = t.reshape(shape)
    target = tuple(batch) + (heads,) + (tail or shape[-2:])
    if shape != target:  # compared with its own sizes: a (N, H, 1, L_k) mask still expands its L_q dim
        t = t.expand(target)
    shape = target
    if len(batch) != 1:
        t = t.reshape((math.prod(batch), heads) + shape[-2:])
    return t


def _mask_4d(attn_mask, query, batch, heads, len_q, len_k, ndim):
    """The mask, additive, broadcast to (N, heads, L_q, L_k); PyTorch's errors when it does not broadcast to the
    attention weights' shape (of `ndim` dims)."""
    weights = tuple(batch) + (heads, len_q, len_k)
    shown = weights[len(weights) - ndim:]
    mask_shape = tuple(attn_mask.shape)
    try:
        joint = broadcast_shapes(weights[-max(len(mask_shape), 2):], mask_shape)
    except RuntimeError:
        raise RuntimeError(_mask_mismatch(shown, mask_shape)) from None
    if len(mask_shape) > ndim or joint != weights[-len(joint):]:
        raise RuntimeError(f"output with shape {_sizes(shown)} doesn't match the broadcast shape "
                           f"{_sizes(broadcast_shapes(shown, mask_shape))}")
    if attn_mask._dtype is dtypes.bool:
        from .elementwise import where
        attn_mask = where(attn_mask, 0.0, float("-inf")).to(query._dtype)
    return _as_4d(attn_mask, batch, heads, (len_q, len_k))


def _mask_mismatch(weights, mask_shape):
    """PyTorch's message for the first dim (from the right) where the mask and the weights clash."""
    ndim = max(len(weights), len(mask_shape))
    for i in range(-1, -min(len(weights), len(mask_shape)) - 1, -1):
        a, b = weights[i], mask_shape[i]
        if a != b and a != 1 and b != 1:
            return (f"The size of tensor a ({a}) must match the size of tensor b ({b}) at non-singleton dimension "
                    f"{ndim + i}")
    return "attn_mask does not broadcast"


def dropout_stream(device, counters):
    """The random stream dropout draws from, reserved now: the CPU generator's state (its kernels advance it), or
    the cuda generator's (seed, offset), its offset moved past `counters` Philox counters."""
    recording.refuse_in_cuda_graph("scaled_dot_product_attention with dropout_p > 0")
    if recording.ACTIVE is not None and not recording.ACTIVE.depth:
        # the stream is a parameter of the kernels: a replay would draw the capture's numbers again
        raise RuntimeError("scaled_dot_product_attention with dropout_p > 0 cannot be captured in a graph yet: its "
                           "random stream is fixed at capture. Capture it with dropout_p=0.0 (eval), or run it "
                           "eagerly.")
    generator = _random.for_device(device, None).default_generator
    if device.type == "cpu":
        return generator.get_state()
    seed, offset = generator.initial_seed(), generator.get_offset()
    generator.set_offset(offset + counters)
    return (seed, offset)


def dropout_keep(shape, dropout_p, stream, device):
    """The bool Tensor of the elements of the (N, H, L_q, L_k) attention that dropout keeps, drawn again from
    `stream` as the kernels draw it (for derivative formulas; L_q x L_k per head, unlike the kernels)."""
    device_random = _random.for_device(device, None)
    if device.type == "cpu":
        generator = device_random.Generator().set_state(stream)
        return Tensor._from_raw(device_random.bernoulli_mask(shape, 1 - dropout_p, generator), device)
    generator = device_random.Generator().manual_seed(stream[0])
    generator.set_offset(stream[1])
    padded = tuple(shape[:-1]) + (4 * -(-shape[-1] // 4),)  # the kernels' rows take whole Philox counters
    return Tensor._from_raw(device_random.bernoulli_mask(padded, 1 - dropout_p, generator), device)[..., :shape[-1]]


def _node_name(device, query, mask):
    """PyTorch's node: the CPU's fused kernel; on cuda the flash kernel for 16-bit inputs without a mask, else
    the memory-efficient one."""
    if device.type == "cpu":
        return "ScaledDotProductFlashAttentionForCpuBackward0"
    if mask is None and query._dtype in (dtypes.float16, dtypes.bfloat16):
        return "ScaledDotProductFlashAttentionBackward0"
    return "ScaledDotProductEfficientAttentionBackward0"


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + attn_mask) @ value, with dropout on the attention weights; key and value
    heads shared by groups of query heads with `enable_gqa`. Causal attention is top-left aligned (query i sees
    keys j <= i). Rows that see no key give 0."""
    query, key, value, attn_mask = autocast_inputs(_OP, (query, key, value, attn_mask))
    dropout_p = float(dropout_p)
    _check_inputs(query, key, value, attn_mask, dropout_p, is_causal)
    batch, heads, out_shape = _layout(query, key, value, enable_gqa)
    len_q, len_k = query.shape[-2], key.shape[-2]
    q = _as_4d(query, batch, heads)
    k_heads, v_heads = (t.shape[-3] if t.ndim >= 3 else 1 for t in (key, value))
    kv_heads = k_heads if k_heads == v_heads else heads  # unequal: both repeated to the query's heads
    k, v = (_kv_4d(t, batch, kv_heads) for t in (key, value))
    mask = None if attn_mask is None else _mask_4d(attn_mask, query, batch, heads, len_q, len_k, len(out_shape))
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    drop = dropout_p if dropout_p < 1.0 else 0.0
    stream = dropout_stream(query._device, q.shape[0] * heads * len_q * -(-len_k // 4)) if drop else None
    out = run(_OP, (q, k, v, mask), (scale, bool(is_causal), drop, stream),
              node_name=_node_name(query._device, query, mask))
    if dropout_p == 1.0:  # every weight dropped (PyTorch's dropout multiplies by zeros then)
        out = out * 0.0
    return out.reshape(out_shape) if tuple(out.shape) != out_shape else out


def _kv_4d(t, batch, kv_heads):
    """Key or value as (N, kv_heads, L_k, E): its own heads (a head count of 1 broadcast), or its grouped heads
    repeated to `kv_heads` (PyTorch's repeat_interleave)."""
    t_heads = t.shape[-3] if t.ndim >= 3 else 1
    if t_heads == kv_heads or t_heads == 1:
        return _as_4d(t, batch, kv_heads)
    return _as_4d(t.repeat_interleave(kv_heads // t_heads, dim=-3), batch, kv_heads)


__all__ = ["scaled_dot_product_attention"]
