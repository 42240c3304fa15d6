"""float64 numpy references for multi-head attention and the transformer layers, written from the equations in
PyTorch's documentation and "Attention Is All You Need" (not from framework's code). Parameters come as a dict of
arrays keyed as PyTorch's state dict keys them; sequences are (L, N, E) (batch_first: (N, L, E))."""
import math

import numpy as np


def additive(mask):
    """A boolean mask (True: do not attend) as -inf/0; a float mask as it is."""
    return np.where(mask, -np.inf, 0.0) if mask.dtype == bool else mask.astype(np.float64)


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mha(query, key, value, p, num_heads, key_padding_mask=None, attn_mask=None, add_zero_attn=False,
        batch_first=False, average_attn_weights=True, prefix=""):
    """(output, weights): weights (N, L, S) averaged over heads, or (N, H, L, S); unbatched (L, E) inputs too."""
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = query[:, None], key[:, None], value[:, None]
        key_padding_mask = None if key_padding_mask is None else key_padding_mask[None]
    elif batch_first:
        query, key, value = (np.swapaxes(x, 0, 1) for x in (query, key, value))
    get = lambda name: p.get(prefix + name)  # noqa: E731
    embed = query.shape[-1]
    if get("in_proj_weight") is not None:
        w_q, w_k, w_v = np.split(get("in_proj_weight"), 3)
    else:
        w_q, w_k, w_v = get("q_proj_weight"), get("k_proj_weight"), get("v_proj_weight")
    b_q, b_k, b_v = np.split(get("in_proj_bias"), 3) if get("in_proj_bias") is not None else (0.0, 0.0, 0.0)
    q, k, v = query @ w_q.T + b_q, key @ w_k.T + b_k, value @ w_v.T + b_v
    tgt_len, batch = q.shape[:2]
    bias = np.zeros((batch, num_heads, tgt_len, k.shape[0]))
    if attn_mask is not None:
        bias = bias + additive(attn_mask).reshape((-1, num_heads) + attn_mask.shape[-2:] if attn_mask.ndim == 3
                                                  else attn_mask.shape)
    if key_padding_mask is not None:
        bias = bias + additive(key_padding_mask)[:, None, None, :]
    extra = []
    if get("bias_k") is not None:  # one learned key/value position, which every query may attend
        k = np.concatenate([k, np.broadcast_to(get("bias_k"), (1, batch, embed))])
        v = np.concatenate([v, np.broadcast_to(get("bias_v"), (1, batch, embed))])
        extra.append(1)
    head_dim = embed // num_heads
    heads = lambda x: x.reshape(x.shape[0], batch, num_heads, head_dim).transpose(1, 2, 0, 3)  # noqa: E731
    q, k, v = heads(q), heads(k), heads(v)
    if add_zero_attn:
        k = np.concatenate([k, np.zeros(k.shape[:2] + (1, head_dim))], axis=2)
        v = np.concatenate([v, np.zeros(v.shape[:2] + (1, head_dim))], axis=2)
        extra.append(1)
    bias = np.concatenate([bias, np.zeros(bias.shape[:3] + (sum(extra),))], axis=3)
    weights = _softmax(q @ np.swapaxes(k, -1, -2) / math.sqrt(head_dim) + bias)  # (N, H, L, S)
    out = (weights @ v).transpose(2, 0, 1, 3).reshape(tgt_len, batch, embed)
    out = out @ get("out_proj.weight").T + (get("out_proj.bias") if get("out_proj.bias") is not None else 0.0)
    if average_attn_weights:
        weights = weights.mean(axis=1)
    if unbatched:
        return out[:, 0], weights[0]
    return (np.swapaxes(out, 0, 1) if batch_first else out), weights


def layer_norm(x, p, name, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * p[name + ".weight"] + p.get(name + ".bias", 0.0)


def relu(x):
    return np.maximum(x, 0.0)


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _feed_forward(x, p, prefix, activation):
    hidden = activation(x @ p[prefix + "linear1.weight"].T + p.get(prefix + "linear1.bias", 0.0))
    return hidden @ p[prefix + "linear2.weight"].T + p.get(prefix + "linear2.bias", 0.0)


def encoder_layer(src, p, num_heads, src_mask=None, src_key_padding_mask=None, norm_first=False,
                  activation=relu, batch_first=False, prefix="", eps=1e-5):
    def attend(x):
        return mha(x, x, x, p, num_heads, src_key_padding_mask, src_mask, batch_first=batch_first,
                   prefix=prefix + "self_attn.")[0]

    norm = lambda x, i: layer_norm(x, p, f"{prefix}norm{i}", eps)  # noqa: E731
    x = src
    if norm_first:
        x = x + attend(norm(x, 1))
        return x + _feed_forward(norm(x, 2), p, prefix, activation)
    x = norm(x + attend(x), 1)
    return norm(x + _feed_forward(x, p, prefix, activation), 2)


def decoder_layer(tgt, memory, p, num_heads, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                  memory_key_padding_mask=None, norm_first=False, activation=relu, batch_first=False, prefix="",
                  eps=1e-5):
    def attend_self(x):
        return mha(x, x, x, p, num_heads, tgt_key_padding_mask, tgt_mask, batch_first=batch_first,
                   prefix=prefix + "self_attn.")[0]

    def attend_memory(x):
        return mha(x, memory, memory, p, num_heads, memory_key_padding_mask, memory_mask, batch_first=batch_first,
                   prefix=prefix + "multihead_attn.")[0]

    norm = lambda x, i: layer_norm(x, p, f"{prefix}norm{i}", eps)  # noqa: E731
    x = tgt
    if norm_first:
        x = x + attend_self(norm(x, 1))
        x = x + attend_memory(norm(x, 2))
        return x + _feed_forward(norm(x, 3), p, prefix, activation)
    x = norm(x + attend_self(x), 1)
    x = norm(x + attend_memory(x), 2)
    return norm(x + _feed_forward(x, p, prefix, activation), 3)
