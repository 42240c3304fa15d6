"""CPU kernels of `scaled_dot_product_attention`: blockwise, so that no L_q x L_k matrix per head ever exists.

Arguments as triton_kernels/attention.py takes them: q (N, H, L_q, D), k (N, H_kv, L_k, D), v (N, H_kv, L_k, D_v),
an additive mask (N, H, L_q, L_k) or None (broadcast views: stride 0), query head h reading key/value head
h // (H / H_kv). The (N * H) heads times L_q rows are walked in chunks of consecutive rows (several whole heads,
or part of one), each chunk over key blocks with the online (max, sum-exp) recurrence; a chunk's scores never
exceed _TILE elements. The forward keeps each row's log-sum-exp (+inf for a fully masked row: its output and
gradients are 0, PyTorch's result); the backward recomputes the probabilities chunk by chunk from it.

Dropout draws PyTorch's CPU stream as its math path does (`dropout` of the (N, H, L_q, L_k) attention: a
bernoulli_(1 - p) per element in row-major order). Chunks are consecutive rows, so drawing each chunk's
rows x L_k words as it comes is that same stream; the forward starts from the default generator's state (the
`stream` parameter, taken by the front end), leaves the generator past the words it used, and the backward
draws them again from the same state. float16/bfloat16 compute in float32.
"""
import numpy as np

from ... import random as _random
from ...autograd.registry import register
from .common import upcast

_TILE = 1 << 18  # scores a chunk holds at once (rows x key block)
_KEY_BLOCK = 512
_DROPOUT_WORDS = 1 << 21  # dropout decisions a chunk draws at once (rows x L_k)


def _compute(x):
    return np.float64 if x.dtype == np.float64 else np.float32


def _chunks(n_heads_total, len_q, len_k, dropout):
    """(heads t0:t1, rows i0:i1) chunks in row-major order, each at most _TILE // key block rows."""
    rows = max(1, _TILE // max(1, min(len_k, _KEY_BLOCK)))
    if dropout:
        rows = max(1, min(rows, _DROPOUT_WORDS // max(1, len_k)))
    if rows >= len_q:
        step = max(1, rows // max(1, len_q))
        for t0 in range(0, n_heads_total, step):
            yield t0, min(t0 + step, n_heads_total), 0, len_q
    else:
        for t0 in range(n_heads_total):
            for i0 in range(0, len_q, rows):
                yield t0, t0 + 1, i0, min(i0 + rows, len_q)


class _Chunk:
    """One chunk's operands (heads t0:t1, query rows i0:i1) in the compute dtype, and its scores per key block."""

    def __init__(self, q, k, v, mask, t0, t1, i0, i1, scale, causal, compute):
        heads, group = q.shape[1], q.shape[1] // k.shape[1]
        t = np.arange(t0, t1)
        self.n, self.h = t // heads, t % heads
        self.kv = (self.n, self.h // group)
        self.rows = np.arange(i0, i1)
        self.i0, self.i1 = i0, i1
        self.q = upcast(q[:, :, i0:i1][self.n, self.h]).astype(compute, copy=False)
        self.k = upcast(k[self.kv]).astype(compute, copy=False)
        self.v = upcast(v[self.kv]).astype(compute, copy=False)
        self.mask, self.scale, self.causal, self.compute = mask, scale, causal, compute
        len_k = k.shape[2]
        self.end = min(len_k, i1) if causal else len_k  # causal rows < i1 see no key at or after i1

    def scores(self, j0, j1):
        s = (self.q @ self.k[:, j0:j1].swapaxes(1, 2)) * self.compute(self.scale)
        if self.mask is not None:
            s += upcast(self.mask[:, :, self.i0:self.i1, j0:j1][self.n, self.h]).astype(self.compute, copy=False)
        if self.causal:
            s = np.where(np.arange(j0, j1)[None, None, :] <= self.rows[None, :, None], s, -np.inf)
        return s


def _keep(generator, chunk, len_k, dropout_p):
    """The chunk's dropout decisions (rows x L_k, the stream's next words), or None without dropout."""
    if not dropout_p:
        return None
    shape = (len(chunk.n), len(chunk.rows), len_k)
    return _random.bernoulli_mask(shape, 1 - dropout_p, generator)


def _attention_forward(ctx, q, k, v, mask, scale, causal, dropout_p, stream):
    compute = _compute(q)
    n, heads, len_q = q.shape[:3]
    len_k, value_dim = k.shape[2], v.shape[3]
    out = np.zeros((n * heads, len_q, value_dim), compute)
    lse = np.full((n * heads, len_q), np.inf, compute)
    generator = _random.Generator().set_state(stream) if dropout_p else None
    for t0, t1, i0, i1 in _chunks(n * heads, len_q, len_k, dropout_p):
        chunk = _Chunk(q, k, v, mask, t0, t1, i0, i1, scale, causal, compute)
        keep = _keep(generator, chunk, len_k, dropout_p)
        top = np.full((t1 - t0, i1 - i0, 1), -np.inf, compute)
        total = np.zeros((t1 - t0, i1 - i0, 1), compute)
        acc = np.zeros((t1 - t0, i1 - i0, value_dim), compute)
        for j0 in range(0, chunk.end, _KEY_BLOCK):
            j1 = min(j0 + _KEY_BLOCK, chunk.end)
            s = chunk.scores(j0, j1)
            new_top = np.maximum(top, s.max(axis=2, keepdims=True))
            shift = np.where(new_top == -np.inf, 0, new_top)  # rows masked so far: exp(-inf - 0) = 0
            p = np.exp(s - shift)
            alpha = np.exp(top - shift)
            total = total * alpha + p.sum(axis=2, keepdims=True)
            if keep is not None:  # the normaliser sums every probability; the output only the kept ones
                p = np.where(keep[:, :, j0:j1], p / compute(1 - dropout_p), 0)
            acc = acc * alpha + p @ chunk.v[:, j0:j1]
            top = new_top
        empty = total == 0
        out[t0:t1, i0:i1] = acc / np.where(empty, 1, total)
        lse[t0:t1, i0:i1] = np.where(empty, np.inf, top + np.log(np.where(empty, 1, total)))[..., 0]
    if generator is not None:  # the default generator moves past the words drawn, as PyTorch's dropout moves it
        _random.default_generator.set_state(generator.get_state())
    out = out.reshape(n, heads, len_q, value_dim).astype(q.dtype, copy=False)
    if ctx.needs_input_grad:
        ctx.save_for_backward(q, k, v, mask, out)
        ctx.lse = lse
        ctx.settings = (scale, causal, dropout_p, stream)
    return out


def _attention_backward(ctx, g):
    q, k, v, mask, out = ctx.saved_tensors
    scale, causal, dropout_p, stream = ctx.settings
    need_q, need_k, need_v, need_mask = (tuple(ctx.needs_input_grad) + (False,) * 4)[:4]
    compute = _compute(q)
    n, heads, len_q, head_dim = q.shape
    kv_heads, len_k, value_dim = k.shape[1], k.shape[2], v.shape[3]
    dq = np.zeros((n * heads, len_q, head_dim), compute)
    dk = np.zeros((n * kv_heads, len_k, head_dim), compute)
    dv = np.zeros((n * kv_heads, len_k, value_dim), compute)
    dmask = np.zeros((n, heads, len_q, len_k), compute) if need_mask and mask is not None else None
    lse = ctx.lse
    generator = _random.Generator().set_state(stream) if dropout_p else None
    grad = upcast(g).astype(compute, copy=False).reshape(n * heads, len_q, value_dim)
    delta = (grad * upcast(out).astype(compute, copy=False).reshape(grad.shape)).sum(axis=2, keepdims=True)
    for t0, t1, i0, i1 in _chunks(n * heads, len_q, len_k, dropout_p):
        chunk = _Chunk(q, k, v, mask, t0, t1, i0, i1, scale, causal, compute)
        keep = _keep(generator, chunk, len_k, dropout_p)
        kv_rows = chunk.kv[0] * kv_heads + chunk.kv[1]  # non-decreasing: a chunk's heads are consecutive
        starts = np.flatnonzero(np.r_[True, kv_rows[1:] != kv_rows[:-1]])
        own = kv_rows[starts]  # each key/value head once: the query heads of its group summed by reduceat
        do, row_lse, row_delta = grad[t0:t1, i0:i1], lse[t0:t1, i0:i1, None], delta[t0:t1, i0:i1]
        for j0 in range(0, chunk.end, _KEY_BLOCK):
            j1 = min(j0 + _KEY_BLOCK, chunk.end)
            p = np.exp(chunk.scores(j0, j1) - row_lse)  # 0 off the band and in fully masked rows (lse = +inf)
            dp = do @ chunk.v[:, j0:j1].swapaxes(1, 2)
            pd = p
            if keep is not None:
                z = keep[:, :, j0:j1] / compute(1 - dropout_p)
                pd, dp = p * z, dp * z
            ds = p * (dp - row_delta)
            dq[t0:t1, i0:i1] += ds @ chunk.k[:, j0:j1]
            dk[own, j0:j1] += np.add.reduceat(ds.swapaxes(1, 2) @ chunk.q, starts, axis=0)
            dv[own, j0:j1] += np.add.reduceat(pd.swapaxes(1, 2) @ do, starts, axis=0)
            if dmask is not None:
                dmask[chunk.n[:, None, None], chunk.h[:, None, None], chunk.rows[None, :, None],
                      np.arange(j0, j1)[None, None, :]] = ds
    dq *= compute(scale)
    dk *= compute(scale)
    return ((dq.reshape(q.shape).astype(q.dtype, copy=False) if need_q else None),
            (dk.reshape(k.shape).astype(k.dtype, copy=False) if need_k else None),
            (dv.reshape(v.shape).astype(v.dtype, copy=False) if need_v else None),
            (dmask.astype(mask.dtype, copy=False) if dmask is not None else None))


# PyTorch's CPU node for the fused path (its math path, taken for dropout or a mask that needs a gradient,
# records the composed ops instead: framework records this one node for every case)
register("scaled_dot_product_attention", "cpu", _attention_forward, _attention_backward,
         "ScaledDotProductFlashAttentionForCpuBackward0")
