"""Differentiable formulas (autograd/derivatives), what `create_graph=True` runs.

Every differentiable registry op has one (the table is walked, as test_registry walks the kernels); the case
table below reaches every one of them, and for each case the first derivatives taken with `create_graph=True`
and a Hessian-vector product (the gradient of <first derivatives, v>) match PyTorch's in float64 on every
device, and gradgradcheck's finite differences on the CPU.
"""
import math

import numpy as np
import pytest

import framework as fw
from framework.autograd.derivatives import DERIVATIVES
from framework.autograd.registry import KERNELS, not_differentiable
from framework.ops.rnn_step import rnn_step
from helpers import DEVICES, assert_close, requires_torch, torch

# ops the case table cannot reach through a forward graph, and why
NOT_IN_FORWARD_GRAPHS = {
    "alias": "runs only inside formulas (recompute gives each input a node of its own with it)",
    "scatter_legacy_reduce": "scatter(reduce=...) has no derivative (PyTorch's error: tests/test_index_ops.py)",
}


def _differentiable_ops():
    return sorted(op for op, pairs in KERNELS.items() if next(iter(pairs.values())).backward is not not_differentiable)


def test_every_differentiable_op_has_a_formula():
    missing = [op for op in _differentiable_ops() if op not in DERIVATIVES]
    assert not missing, f"differentiable ops without a differentiable formula (autograd/derivatives): {missing}"


def test_formulas_belong_to_differentiable_ops():
    extra = sorted(op for op in DERIVATIVES if op not in KERNELS and op != "to_device")
    assert not extra, f"formulas for ops the registry does not have: {extra}"
    assert not [op for op in DERIVATIVES if op in KERNELS and op not in _differentiable_ops()]


# params for running each `kernel_saves` op on one positive float input
_KERNEL_SAVES_PARAMS = {"pow_scalar": (2.5,), "clamp": (0.5, 1.5), "gelu": ("none",), "leaky_relu": (0.1,),
                        "softplus": (1.0, 20.0), "softmax": (1,), "log_softmax": (1,), "nan_to_num": (0.0, 1e30, -1e30),
                        "elu": (1.0, 1.0), "celu": (1.0,), "hardtanh": (-1.0, 1.0), "threshold": (0.5, 0.0)}


@pytest.mark.parametrize("device", DEVICES)
def test_kernel_saves_contract(device):
    """Formulas declared `kernel_saves` read the array the kernels saved: on every device it must be exactly
    the op's input (or output), so that it is the value the formula expects and its version is tracked."""
    from framework.autograd.function import run
    broken = []
    for op, found in sorted(DERIVATIVES.items()):
        if found.kernel_saves is None:
            continue
        x = fw.tensor([[0.6, 1.2, 1.7], [0.9, 1.1, 1.3]], device=device, requires_grad=True)
        out = run(op, (x,), _KERNEL_SAVES_PARAMS.get(op, ()))
        saved = out.grad_fn._ctx.saved_tensors
        expected = x._data if found.kernel_saves == "input" else out._data
        if len(saved) != 1 or saved[0] is not expected:
            broken.append(f"{op} on {device}: saved {len(saved)} arrays, not exactly its {found.kernel_saves}")
    assert not broken, "\n".join(broken)


# ---- the case table ------------------------------------------------------------------------------------

def _index(L, values, like):
    return L.tensor(values, device=like.device)


def _setitem(x, key, value):
    y = x * 1
    y[key] = value
    return y


def _fill(x, value):
    y = x * 1
    y.fill_(value)
    return y + x


def _linear_act(L, x, w, b, act):
    if L is fw:
        return fw.ops.linalg.linear(x, w, b, activation=act)
    z = L.nn.functional.linear(x, w, b)
    return {"relu": L.relu, "silu": L.nn.functional.silu,
            "gelu": L.nn.functional.gelu, "gelu_tanh": lambda v: L.nn.functional.gelu(v, approximate="tanh")}[act](z)


def _conv_gelu(L, x, w, b):
    if L is fw:
        return fw.nn.functional.conv2d(x, w, b, activation="gelu")  # the fused epilogue (Sequential's Conv2d + GELU)
    return L.nn.functional.gelu(L.nn.functional.conv2d(x, w, b))


def _linear_cross_entropy(L, x, w, t, b):
    if L is fw:
        return fw.nn.functional.linear_cross_entropy(x, w, t, b, label_smoothing=0.1, chunk_size=2)
    return L.nn.functional.cross_entropy(L.nn.functional.linear(x, w, b), t, label_smoothing=0.1)


def _rnn_step(L, mode, gx, h, c, w, b=None):
    """The recurrent layers' fused step; torch: the same equations composed (PyTorch has no such function)."""
    if L is fw:
        out = rnn_step(mode, gx, h, c, w, b)
    elif mode == "GRU":
        x_r, x_z, x_n = gx.chunk(3, 1)
        h_r, h_z, h_n = L.nn.functional.linear(h, w, b).chunk(3, 1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = (x_n + r * h_n).tanh()
        out = n + z * (h - n)
    elif mode == "LSTM":
        i, f, g, o = (gx + h @ w.T).chunk(4, 1)
        c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
        out = o.sigmoid() * c_new.tanh(), c_new
    else:
        out = (gx + h @ w.T).tanh()
    return out[0] * out[1] if mode == "LSTM" else out


def _move(L, x):
    if L is fw and "cuda" in DEVICES:
        other = "cpu" if x.device.type == "cuda" else "cuda"
        return (x.to(other) ** 2).to(x.device)
    return x ** 2


def _floats(L, values, like):
    return L.tensor(values, dtype=L.float64, device=like.device)


S = (3, 4)
_SCATTERED = [[0, 0], [2, 1], [1, 3]]  # scatter_reduce's index: two values into one position
P = ("positive", S)  # values in [0.5, 2)
# (id, fn(L, *inputs), input specs): L is framework or torch; a spec is a shape or (kind, shape)
CASES = [
    ("neg", lambda L, x: -x * x, [S]),
    ("exp", lambda L, x: x.exp(), [S]),
    ("log", lambda L, x: x.log(), [P]),
    ("log1p", lambda L, x: x.log1p(), [P]),
    ("expm1", lambda L, x: x.expm1(), [S]),
    ("sqrt", lambda L, x: x.sqrt(), [P]),
    ("rsqrt", lambda L, x: x.rsqrt(), [P]),
    ("sin-cos", lambda L, x: x.sin() * x.cos(), [S]),
    ("tanh", lambda L, x: x.tanh(), [S]),
    ("sigmoid", lambda L, x: x.sigmoid(), [S]),
    ("relu", lambda L, x: x.relu() * x, [S]),
    ("abs", lambda L, x: x.abs() * x, [S]),
    ("reciprocal", lambda L, x: x.reciprocal(), [P]),
    ("square", lambda L, x: x.square() * x, [S]),
    ("pow-scalar", lambda L, x: x ** 2.5 + x ** 3 + x ** 0, [P]),
    ("rounding", lambda L, x: (x.floor() + x.ceil() + x.round() + x.trunc() + x.sign()) * x, [S]),
    ("clamp", lambda L, x: x.clamp(-1, 1) * x + x.clamp(min=0.5) ** 2, [S]),
    ("clamp-tensors", lambda L, x, low, high: x.clamp(low, high) * x + x.clamp(min=low) ** 2
     + L.clamp_max(x, high) ** 2, [S, S, (4,)]),
    ("erf-erfc", lambda L, x: x.erf() * x + x.erfc() ** 2, [S]),
    ("erfinv", lambda L, x: (x * 0.45).erfinv() ** 2, [S]),
    ("nan-to-num", lambda L, x: L.nan_to_num(x.log(), nan=0.5) * x + L.nan_to_num(x ** 2), [S]),
    ("lerp", lambda L, x, y, w: L.lerp(x, y, 0.3) * x + L.lerp(x, y, w) ** 2, [S, (4,), (3, 1)]),
    ("add-sub-broadcast", lambda L, x, y: (x + y) * (x - y) + (2 - y), [S, (4,)]),
    ("mul-broadcast", lambda L, x, y: x * y * y, [S, (3, 1)]),
    ("div", lambda L, x, y: x / y + 1 / y, [S, ("positive", (4,))]),
    ("pow-tensors", lambda L, x, y: x ** y, [P, S]),
    ("pow-scalar-base", lambda L, x: 2.0 ** x, [S]),
    ("maximum-minimum", lambda L, x, y: L.maximum(x, y) * L.minimum(x, y * 2), [S, S]),
    ("where", lambda L, x, y: L.where(x > 0, x * y, y * y), [S, S]),
    ("remainder", lambda L, x, y: (x % y) * x, [S, P]),
    ("floor-divide", lambda L, x, y: L.div(x, y, rounding_mode="floor") * x + x * y, [S, P]),
    ("sum-mean", lambda L, x: x.sum(1) ** 2 + x.mean(0, keepdim=True).sum() ** 3, [S]),
    ("prod", lambda L, x: x.prod(1) + x.prod(), [S]),
    ("prod-with-zeros", lambda L, x: (x * (x > 0.5)).prod(1) ** 2, [S]),
    ("max-min", lambda L, x: x.max() * x + x.min() ** 2, [S]),
    ("max-min-dim", lambda L, x: x.max(1)[0] ** 2 + x.min(0, keepdim=True)[0].sum() ** 2, [S]),
    ("amax-amin", lambda L, x: x.amax(0) ** 2 + x.amin(1, keepdim=True).sum() ** 2, [S]),
    ("var-std", lambda L, x: x.var(1) + x.std() + x.std(0, keepdim=True).sum(), [S]),
    ("norm", lambda L, x: x.norm() + x.norm(1, dim=1).sum() ** 2 + x.norm(3, dim=0).sum() + x.norm(0.5), [S]),
    ("norm-inf", lambda L, x: x.norm(float("inf"), dim=1) ** 2, [S]),
    ("logsumexp", lambda L, x: x.logsumexp(1), [S]),
    ("cumsum", lambda L, x: x.cumsum(1) ** 2, [S]),
    ("softmax", lambda L, x: x.softmax(1), [S]),
    ("log-softmax", lambda L, x: x.log_softmax(0), [S]),
    ("var-std-mean", lambda L, x: L.var_mean(x, 1)[0] * L.var_mean(x, 1)[1] + L.std_mean(x)[0] * L.std_mean(x)[1]
     + L.std_mean(x, 0, keepdim=True)[0].sum() ** 2 + L.var_mean(x, correction=0)[1] ** 2, [S]),
    ("views", lambda L, x: x.view(12).unsqueeze(0).squeeze(0).reshape(4, 3).t() ** 2, [S]),
    ("permute-transpose", lambda L, x: x.reshape(3, 2, 2).permute(2, 0, 1).transpose(0, 1) ** 2, [S]),
    ("expand", lambda L, x: x.expand(2, 3, 4) ** 2, [S]),
    ("unsafe-view", lambda L, x: x.t().reshape(-1) ** 2, [S]),
    ("contiguous-clone", lambda L, x: x.t().contiguous().clone() ** 2, [S]),
    ("repeat", lambda L, x: x.repeat(2, 1, 2) ** 2, [S]),
    ("cat", lambda L, x, y: L.cat([x, y]) ** 2, [S, (2, 4)]),
    ("stack", lambda L, x, y: L.stack([x, y], 1) ** 2, [S, S]),
    ("split", lambda L, x: x.split([1, 2])[1] ** 2 + x.chunk(2, 1)[0].sum() ** 2, [S]),
    ("to-dtype", lambda L, x: x.float().double() ** 2, [S]),
    ("to-device", lambda L, x: _move(L, x), [S]),
    ("basic-index", lambda L, x: (x[1:, ::2] ** 2).sum() + (x[0] ** 3).sum() + x[..., None].sum() ** 2, [S]),
    ("index", lambda L, x: x[_index(L, [0, 2, 0], x)] ** 2 + x[x > 0].sum() ** 2, [S]),
    ("gather", lambda L, x: x.gather(1, _index(L, [[0, 1], [2, 2], [3, 0]], x)) ** 2, [S]),
    ("index-select", lambda L, x: x.index_select(1, _index(L, [0, 3, 3], x)) ** 2, [S]),
    ("masked-select", lambda L, x: x.masked_select(x > 0) ** 2, [S]),
    ("masked-fill", lambda L, x, v: x.masked_fill(x > 0, 1.0) ** 2 + x.masked_fill(x < 0, v) ** 2, [S, ()]),
    ("scatter", lambda L, x, y: x.scatter(1, _index(L, [[0, 3], [2, 1], [1, 0]], x), y) ** 2
     + x.scatter(1, _index(L, [[1], [0], [3]], x), 0.5) ** 2, [S, (3, 2)]),
    ("scatter-from-a-larger-source", lambda L, x, y: x.scatter(1, _index(L, [[0], [2], [1]], x), y) ** 2
     + x.scatter_add(0, _index(L, [[0, 2, 1]], x), y.t()) ** 2, [S, (3, 2)]),
    ("scatter-add", lambda L, x, y: x.scatter_add(1, _index(L, [[0, 0], [2, 1], [1, 3]], x), y) ** 2, [S, (3, 2)]),
    ("index-add-copy-fill", lambda L, x, y, v: x.index_add(1, _index(L, [3, 0, 3], x), y, alpha=1.5) ** 2
     + x.index_copy(1, _index(L, [2], x), y[:, :1]) ** 2 + x.index_fill(1, _index(L, [1, 3], x), v) ** 2,
     [S, (3, 3), ()]),
    ("index-put-accumulate", lambda L, x, v: x.index_put((_index(L, [0, 2, 0], x),), v, accumulate=True) ** 2,
     [S, (4,)]),
    ("take", lambda L, x: x.take(_index(L, [[0, 5], [5, -1]], x)) ** 2, [S]),
    ("masked-scatter", lambda L, x, y: x.masked_scatter(_index(L, [True, False, True, True], x), y) ** 2,
     [S, (2, 6)]),
    ("scatter-reduce-sum-mean", lambda L, x, y: x.scatter_reduce(1, _index(L, _SCATTERED, x), y, "sum") ** 2
     + x.scatter_reduce(1, _index(L, _SCATTERED, x), y, "mean", include_self=False) ** 2
     + x.scatter_reduce(1, _index(L, _SCATTERED, x), y, "mean") ** 2, [S, (3, 2)]),
    ("scatter-reduce-prod", lambda L, x, y: x.scatter_reduce(1, _index(L, _SCATTERED, x), y, "prod") ** 2
     + x.scatter_reduce(1, _index(L, _SCATTERED, x), y, "prod", include_self=False) ** 2, [S, (3, 2)]),
    ("scatter-reduce-amax-amin", lambda L, x, y: x.scatter_reduce(1, _index(L, _SCATTERED, x), y, "amax") ** 2
     + x.scatter_reduce(1, _index(L, _SCATTERED, x), y, "amin", include_self=False) ** 2, [S, (3, 2)]),
    ("setitem", lambda L, x, y: _setitem(x, (slice(None), 1), y) ** 2 + _setitem(x, _index(L, [0, 2], x), y[:2, None])
     ** 2, [S, (3,)]),
    ("fill", lambda L, x: _fill(x, 2.0) ** 2, [S]),
    ("flip-roll-rot90", lambda L, x: (x.flip(0) * x).sum() + (x.roll(1, 1) ** 3).sum() + (x.roll(2) * x).sum()
     + (L.rot90(x) ** 2).sum() + (L.rot90(x, 2) * x).sum() + (L.rot90(x, -1) ** 3).sum(), [S]),
    ("tril-triu", lambda L, x: x.tril() * x + x.triu(1) ** 3, [S]),
    ("diagonal-trace", lambda L, x: (x.diagonal(1) ** 2).sum() + (L.diag(x) ** 3).sum() + (L.diag_embed(x) ** 2).sum()
     + (L.diag(x[0], -1) ** 2).sum() + x.trace() ** 2, [S]),
    ("block-diag", lambda L, x, y: L.block_diag(x, y, x[:1]) ** 2, [S, (2, 2)]),
    ("cross", lambda L, x, y: L.cross(x, y, dim=1) ** 2, [(4, 3), (1, 3)]),
    ("cdist", lambda L, x, y: L.cdist(x, y) ** 2 + L.cdist(x, y, p=1) ** 2 + L.cdist(x, y, p=3) ** 2
     + L.cdist(x, y, p=0.5) ** 2 + L.cdist(x, y, p=float("inf")) ** 2 + L.cdist(x, y, p=0), [(2, 3, 4), (5, 4)]),
    ("cdist-matmul", lambda L, x, y: L.cdist(x, y, compute_mode="use_mm_for_euclid_dist") ** 2
     + L.cdist(x[0], y, compute_mode="use_mm_for_euclid_dist") ** 3, [(2, 3, 4), (5, 4)]),
    ("fliplr-flipud-repeat-interleave", lambda L, x: (x.fliplr() * x).sum() + (x.flipud() ** 3).sum()
     + (x.repeat_interleave(2, 1) ** 2).sum() + (x.repeat_interleave(_index(L, [1, 0, 2], x), dim=0) ** 3).sum()
     + (x.repeat_interleave(2) ** 2).sum(), [S]),
    ("combine", lambda L, x, y: sum((t ** 2).sum() for t in L.meshgrid(x[0], y, indexing="ij")
                                    + L.meshgrid(x[1], y, indexing="xy") + L.broadcast_tensors(x, y)
                                    + L.tensor_split(x, 3, 1)) + (L.cartesian_prod(x[0], y) ** 3).sum()
     + (L.atleast_3d(y) * L.dstack([y, y])).sum() + (L.column_stack([y, x[1]]) ** 2).sum()
     + (L.row_stack([x, y]) ** 3).sum() + (L.hstack([x, x]) ** 2).sum(), [S, (4,)]),
    ("tensordot-kron", lambda L, x, y: (L.tensordot(x, y, dims=([1], [0])) ** 2).sum()
     + (L.tensordot(x, x, dims=2) ** 2) + (L.kron(x, y[:2]) ** 3).sum(), [S, (4, 2)]),
    ("einsum", lambda L, x, y: (L.einsum("ij,jk->ik", x, y) ** 2).sum() + L.einsum("ij,ij->", x, x) ** 2
     + (L.einsum("ij->j", x) ** 3).sum() + (L.einsum("bij,jk->bki", x.reshape(1, 3, 4), y) ** 2).sum()
     + L.einsum("ii", x[:, :3]) ** 2, [S, (4, 2)]),
    ("trapezoid", lambda L, y, x: (L.trapezoid(y) ** 2).sum() + (L.trapezoid(y, x) ** 2).sum()
     + (L.trapz(y, dx=0.5, dim=0) ** 3).sum() + (L.cumulative_trapezoid(y, x) ** 2).sum()
     + (L.cumulative_trapezoid(y, dx=2.0, dim=0) ** 2).sum(), [S, (4,)]),
    ("pairwise-distance-cosine-similarity", lambda L, x, y: L.nn.functional.pairwise_distance(x, y) ** 2
     + L.nn.functional.pairwise_distance(x, y, p=1.5, keepdim=True).sum(1) ** 2
     + L.nn.functional.cosine_similarity(x, y) ** 2 + L.cosine_similarity(x, y[:1], dim=1) * x[:, 0], [S, S]),
    ("matmul", lambda L, x, y: (x @ y) ** 2, [S, (4, 2)]),
    ("matmul-batched", lambda L, x, y: (x @ y) ** 2, [(2, 3, 4), (4, 5)]),
    ("matmul-vectors", lambda L, x, y, z: (x @ y) ** 2 + (z @ z) ** 2 + (z @ x.t()).sum() ** 2, [S, (4,), (4,)]),
    ("linear", lambda L, x, w, b: L.nn.functional.linear(x, w, b) ** 2 + L.nn.functional.linear(x, w) ** 3,
     [S, (5, 4), (5,)]),
    ("linear-relu", lambda L, x, w, b: _linear_act(L, x, w, b, "relu") ** 2, [S, (5, 4), (5,)]),
    ("linear-gelu", lambda L, x, w, b: _linear_act(L, x, w, b, "gelu"), [(2, 3, 4), (5, 4), (5,)]),
    ("linear-gelu-tanh", lambda L, x, w, b: _linear_act(L, x, w, b, "gelu_tanh"), [S, (5, 4), (5,)]),
    ("linear-silu", lambda L, x, w, b: _linear_act(L, x, w, None, "silu"), [S, (5, 4), (5,)]),
    ("gelu", lambda L, x: L.nn.functional.gelu(x) + L.nn.functional.gelu(x, approximate="tanh"), [S]),
    ("silu", lambda L, x: L.nn.functional.silu(x), [S]),
    ("softplus", lambda L, x: L.nn.functional.softplus(x, 2.0, 1.0) + L.nn.functional.softplus(x), [S]),
    ("leaky-relu", lambda L, x: L.nn.functional.leaky_relu(x, 0.2) * x, [S]),
    ("cross-entropy", lambda L, x: L.nn.functional.cross_entropy(x, _index(L, [0, 3, 1], x)), [S]),
    ("cross-entropy-options", lambda L, x: L.nn.functional.cross_entropy(
        x, _index(L, [[0, 2], [1, 1]], x), weight=_index(L, [0.5, 2.0, 1.5], x).double(), ignore_index=2,
        label_smoothing=0.2, reduction="sum"), [(2, 3, 2)]),
    ("cross-entropy-none", lambda L, x: L.nn.functional.cross_entropy(x, _index(L, [0, 3, 1], x),
                                                                       reduction="none") ** 2, [S]),
    ("cross-entropy-probabilities", lambda L, x, t: L.nn.functional.cross_entropy(x, t.softmax(1),
                                                                                  label_smoothing=0.1), [S, S]),
    ("linear-cross-entropy", lambda L, x, w, b: _linear_cross_entropy(L, x, w, _index(L, [0, 4, 1], x), b),
     [S, (5, 4), (5,)]),
    ("rnn-step-lstm", lambda L, x, h, c, w: _rnn_step(L, "LSTM", x, h, c, w), [(3, 8), (3, 2), (3, 2), (8, 2)]),
    ("rnn-step-gru", lambda L, x, h, w, b: _rnn_step(L, "GRU", x, h, None, w, b), [(3, 6), (3, 2), (6, 2), (6,)]),
    ("rnn-step-tanh", lambda L, x, h, w: _rnn_step(L, "RNN_TANH", x, h, None, w), [(3, 2), (3, 2), (2, 2)]),
    ("nll-loss", lambda L, x: L.nn.functional.nll_loss(x.log_softmax(1), _index(L, [0, 3, 1], x)), [S]),
    ("nll-loss-options", lambda L, x: L.nn.functional.nll_loss(
        x.log_softmax(1), _index(L, [0, 3, 1], x), weight=_index(L, [1.0, 2.0, 0.5, 3.0], x).double(),
        ignore_index=1) ** 2, [S]),
    ("binary-cross-entropy", lambda L, x, t: L.nn.functional.binary_cross_entropy(x.sigmoid(), t.sigmoid()),
     [S, S]),
    ("binary-cross-entropy-with-logits", lambda L, x, t: L.nn.functional.binary_cross_entropy_with_logits(
        x, t.sigmoid(), weight=_index(L, [[0.5], [2.0], [1.0]], x).double(),
        pos_weight=_index(L, [0.5, 2.0, 1.0, 3.0], x).double(), reduction="sum"), [S, S]),
    ("embedding", lambda L, w: L.nn.functional.embedding(_index(L, [[0, 2], [2, 1]], w), w, padding_idx=1) ** 2,
     [(3, 4)]),
    ("elu-selu-celu", lambda L, x: (L.nn.functional.elu(x, 0.7) + L.nn.functional.selu(x)
                                    + L.nn.functional.celu(x, 1.5)) * x, [S]),
    ("hardtanh-relu6", lambda L, x: L.nn.functional.hardtanh(x, -1.0, 1.5) * x
     + L.nn.functional.relu6(x * 4) * x, [S]),
    ("threshold", lambda L, x: L.nn.functional.threshold(x, 0.1, 2.0) * x, [S]),
    ("hardswish", lambda L, x: L.nn.functional.hardswish(x * 2), [S]),
    ("hardsigmoid", lambda L, x: L.nn.functional.hardsigmoid(x * 2) * x, [S]),
    ("mish", lambda L, x: L.nn.functional.mish(x), [S]),
    ("logsigmoid", lambda L, x: L.nn.functional.logsigmoid(x), [S]),
    ("softsign-tanhshrink", lambda L, x: L.nn.functional.softsign(x) + L.nn.functional.tanhshrink(x), [S]),
    ("prelu", lambda L, x, w: L.nn.functional.prelu(x, w) * x + L.nn.functional.prelu(x, w[:1]) ** 2, [S, (4,)]),
    ("group-norm", lambda L, x, w, b: L.nn.functional.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)]),
    ("group-norm-no-affine", lambda L, x: L.nn.functional.group_norm(x, 1) * x, [(3, 2, 2)]),
    ("attention-mask", lambda L, q, k, v, m: L.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m),
     [(2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5)]),
    ("attention-causal-gqa", lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(
        q, k, v, is_causal=True, enable_gqa=True, scale=0.7), [(1, 4, 5, 3), (1, 2, 4, 3), (1, 2, 4, 2)]),
    ("bilinear", lambda L, x, y, w, b: L.nn.functional.bilinear(x, y, w, b) ** 2, [S, (3, 2), (5, 4, 2), (5,)]),
    ("huber-smooth-l1", lambda L, x, t: L.nn.functional.huber_loss(x, t, delta=0.5)
     + L.nn.functional.huber_loss(x, t, weight=t.abs(), reduction="sum")
     + L.nn.functional.smooth_l1_loss(x, t, beta=0.7), [S, S]),
    ("kl-div", lambda L, x, t: L.nn.functional.kl_div(x.log_softmax(1), t.softmax(1), reduction="batchmean")
     + L.nn.functional.kl_div(x, t, reduction="sum", log_target=True), [S, S]),
    ("poisson-nll", lambda L, x, t: L.nn.functional.poisson_nll_loss(x, t.abs())
     + L.nn.functional.poisson_nll_loss(x.abs() + 0.5, t.abs() * 2, log_input=False, full=True), [S, S]),
    ("gaussian-nll", lambda L, x, t, v: L.nn.functional.gaussian_nll_loss(x, t, v, full=True), [S, S, P]),
    ("margin-losses", lambda L, x, y: L.nn.functional.cosine_embedding_loss(x, y, _index(L, [1.0, -1.0, 1.0], x))
     + L.nn.functional.hinge_embedding_loss(x, _index(L, [1.0, -1.0, -1.0, 1.0], x), margin=2.5)
     + L.nn.functional.margin_ranking_loss(x[:, 0], y[:, 1], _index(L, [1.0, -1.0, 1.0], x), margin=2.5),
     [S, S]),
    ("triplet-margin", lambda L, a, p, n: L.nn.functional.triplet_margin_loss(a, p, n, margin=3.0, swap=True),
     [S, S, S]),
    ("soft-margin", lambda L, x: L.nn.functional.soft_margin_loss(x, _index(L, [1.0, -1.0, -1.0, 1.0], x))
     + L.nn.functional.multilabel_soft_margin_loss(x, _index(L, [0.0, 1.0, 1.0, 0.0], x)), [S]),
    ("mse-loss", lambda L, x, t: L.nn.functional.mse_loss(x, t), [S, S]),
    ("layer-norm", lambda L, x, w, b: L.nn.functional.layer_norm(x, (4,), w, b), [S, (4,), (4,)]),
    ("layer-norm-2d-no-affine", lambda L, x: L.nn.functional.layer_norm(x, (3, 2)) * x, [(2, 3, 2)]),
    ("rms-norm", lambda L, x, w: L.nn.functional.rms_norm(x, (4,), w, 1e-3), [S, (4,)]),
    ("rms-norm-no-weight", lambda L, x: L.nn.functional.rms_norm(x, (3, 2)) * x, [(2, 3, 2)]),
    ("batch-norm", lambda L, x, w, b: L.nn.functional.batch_norm(x, None, None, w, b, training=True),
     [S, (4,), (4,)]),
    # sorting, selection and scans (random values: no ties)
    ("sort", lambda L, x: x.sort(1)[0] * x + x.sort(0, descending=True)[0] ** 2 + L.msort(x) ** 3, [S]),
    ("topk", lambda L, x: x.topk(2, 1)[0] ** 2 + x.topk(1, 0, largest=False)[0].sum() ** 2, [S]),
    ("kthvalue-median-dim", lambda L, x: x.kthvalue(2, 1)[0] ** 2 + x.median(0, keepdim=True)[0].sum() ** 2
     + x.nanmedian(1)[0] ** 3, [S]),
    ("median-nanmedian", lambda L, x: x.median() * x + x.nanmedian() ** 2, [S]),
    ("mode", lambda L, x: x.repeat(1, 2).mode(1)[0] ** 2 + x.mode(0, keepdim=True)[0].sum() ** 2, [S]),
    ("cumprod", lambda L, x: x.cumprod(1) + x.cumprod(0) ** 2, [S]),
    ("cumprod-with-zeros", lambda L, x: (x * _index(L, [[1, 0, 1, 1], [1, 1, 1, 0], [0, 1, 0, 1]], x)).cumprod(1)
     ** 2 + (x * (x > 0.5)).cumprod(0), [S]),
    ("cummax-cummin", lambda L, x: x.cummax(1)[0] ** 2 + x.cummin(0)[0] ** 3, [S]),
    ("logcumsumexp", lambda L, x: x.logcumsumexp(1) ** 2 + x.logcumsumexp(0), [S]),
    ("quantile", lambda L, x: x.quantile(0.3, 1) ** 2 + x.nanquantile(_floats(L, [0.25, 0.9], x), 0).sum() ** 2
     + x.quantile(0.5, interpolation="midpoint") ** 2, [S]),
    ("batch-norm-4d-running-statistics", lambda L, x, w, b: L.nn.functional.batch_norm(
        x, _index(L, [0.0, 0.0, 0.0], x).double(), _index(L, [1.0, 1.0, 1.0], x).double(), w, b, training=True) ** 2,
     [(2, 3, 2, 2), (3,), (3,)]),
    ("batch-norm-eval", lambda L, x, w: L.nn.functional.batch_norm(
        x, _index(L, [0.1, -0.2, 0.3], x).double(), _index(L, [1.5, 0.5, 2.0], x).double(), w, None) ** 2,
     [(2, 3, 4), (3,)]),
    ("conv2d", lambda L, x, w, b: L.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
     [(1, 4, 4, 5), (4, 2, 3, 2), (4,)]),
    ("conv2d-squared", lambda L, x, w: L.nn.functional.conv2d(x, w, padding=1) ** 2, [(1, 2, 3, 4), (2, 2, 2, 3)]),
    ("conv-transpose2d", lambda L, x, w, b: L.nn.functional.conv_transpose2d(
        x, w, b, stride=2, padding=1, output_padding=1, groups=2) ** 2, [(1, 4, 3, 3), (4, 1, 3, 3), (2,)]),
    ("conv1d-and-transpose", lambda L, x, w, v: L.nn.functional.conv1d(x, w, padding=1) ** 2
     + L.nn.functional.conv_transpose1d(x[None], v, stride=2, dilation=2).sum() ** 2, [(3, 7), (2, 3, 3), (3, 2, 2)]),
    ("conv2d-gelu", lambda L, x, w, b: _conv_gelu(L, x, w, b), [(1, 2, 4, 4), (3, 2, 2, 2), (3,)]),
    ("max-pool", lambda L, x: L.nn.functional.max_pool2d(x, 3, stride=2, padding=1) ** 2
     + L.nn.functional.adaptive_max_pool2d(x, (2, 3)).sum() ** 2 + L.nn.functional.max_pool1d(x[0], 2).sum() ** 2,
     [(2, 3, 5, 6)]),
    ("avg-pool", lambda L, x: L.nn.functional.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False) ** 2
     + L.nn.functional.adaptive_avg_pool2d(x, (2, 3)).sum() ** 2, [(2, 3, 5, 6)]),
    ("interpolate", lambda L, x: L.nn.functional.interpolate(x, scale_factor=2, mode="bilinear") ** 2
     + L.nn.functional.interpolate(x, size=(3, 7)).sum() ** 2, [(1, 2, 3, 4)]),
    ("pad", lambda L, x: L.nn.functional.pad(x, (1, 2, 0, 1), value=0.5) ** 2
     + L.nn.functional.pad(x, (1, 1, 2, 0), mode="reflect").sum() ** 2 + L.nn.functional.pad(x, (-1, 1)).sum() ** 3
     + L.nn.functional.pad(x, (1, 2, 1, 0), mode="circular").sum() ** 2, [(1, 2, 3, 4)]),
]
CASE_IDS = [case[0] for case in CASES]
# cases PyTorch itself refuses: its scatter backward rejects a source larger than the index; hardsigmoid_backward
# has no derivative there (ours is 0 almost everywhere, as the function is piecewise linear)
TORCH_REFUSES = {"scatter-from-a-larger-source", "hardsigmoid"}
# cases whose second derivatives PyTorch lacks: "the derivative for '_cdist_backward' is not implemented"
# (first derivatives are compared; gradgradcheck checks the second ones on the cpu, other devices match the cpu)
# and "_scaled_dot_product_flash_attention_for_cpu_backward" (its fused CPU kernel; with a mask that needs a
# gradient PyTorch takes its composed math path, which has them)
TORCH_HAS_NO_SECOND_DERIVATIVE = {"cdist", "attention-causal-gqa"}
# cases whose finite differences are too coarse for gradgradcheck: a float32 round trip
TOO_COARSE_FOR_FINITE_DIFFERENCES = {"to-dtype"}


def _arrays(rng, specs):
    arrays = []
    for spec in specs:
        kind, shape = spec if isinstance(spec, tuple) and spec and isinstance(spec[0], str) else ("any", spec)
        arrays.append(rng.uniform(0.5, 2.0, shape) if kind == "positive" else rng.uniform(-2.0, 2.0, shape))
    return arrays


def _first_and_second(L, fn, arrays, v_arrays, u_array, device, second=True):
    """(first derivatives of <u, fn(x)> with create_graph=True, gradient of <first derivatives, v> unless not
    `second`), as numpy."""
    kwargs = {"device": device} if L is fw else {}
    xs = [L.tensor(a, dtype=L.float64, requires_grad=True, **kwargs) for a in arrays]
    out = fn(L, *xs)
    firsts = L.autograd.grad(out, xs, L.tensor(u_array, dtype=L.float64, **kwargs), create_graph=True,
                             allow_unused=True)
    inner = sum((g * L.tensor(v, dtype=L.float64, **kwargs)).sum() for g, v in zip(firsts, v_arrays)
                if g is not None)
    seconds = (None,) * len(xs)
    if second and isinstance(inner, L.Tensor) and inner.requires_grad:
        seconds = L.autograd.grad(inner, xs, allow_unused=True)
    as_numpy = (lambda t: None if t is None else np.asarray(t.detach().cpu().numpy()))
    return [as_numpy(g) for g in firsts], [as_numpy(h) for h in seconds]


def _same(ours, theirs, what):
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a is None or b is None:  # an unused input: None on one side, zeros on the other are the same answer
            other = b if a is None else a
            assert other is None or not np.any(other), f"{what} of input {i}: {a} vs {b}"
            continue
        assert_close(a, b, "float64", rtol=1e-9, atol=1e-9, what=f"{what} of input {i}")


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_second_derivatives_match_pytorch(case, device, rng):
    name, fn, specs = case
    if name in TORCH_REFUSES:
        pytest.skip("PyTorch refuses this case (gradgradcheck covers it)")
    arrays = _arrays(rng, specs)
    with torch.no_grad():
        out_shape = tuple(fn(torch, *[torch.tensor(a) for a in arrays]).shape)
    u = rng.standard_normal(out_shape)
    v = [rng.standard_normal(np.shape(a)) for a in arrays]
    ours = _first_and_second(fw, fn, arrays, v, u, device)
    second = name not in TORCH_HAS_NO_SECOND_DERIVATIVE
    theirs = _first_and_second(torch, fn, arrays, v, u, None, second)
    _same(ours[0], theirs[0], f"{name}: first derivative (create_graph=True)")
    if second:
        _same(ours[1], theirs[1], f"{name}: Hessian-vector product")
    elif device != "cpu":  # the cpu's, which gradgradcheck checks
        on_cpu = _first_and_second(fw, fn, arrays, v, u, "cpu")
        _same(ours[1], on_cpu[1], f"{name}: Hessian-vector product against the cpu's")


@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in TOO_COARSE_FOR_FINITE_DIFFERENCES],
                         ids=lambda c: c[0])
def test_gradgradcheck(case, rng):
    name, fn, specs = case
    inputs = tuple(fw.tensor(a, dtype=fw.float64, requires_grad=True) for a in _arrays(rng, specs))
    # piecewise ops (relu, abs, max, rounding) are smooth at random points; eps stays far below their gaps
    assert fw.autograd.gradgradcheck(lambda *xs: fn(fw, *xs), inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


# ops whose derivative PyTorch does not implement: their outputs require grad, and differentiating through them
# raises PyTorch's error, with create_graph=True too
NOT_IMPLEMENTED = [
    ("unique", lambda L, x: L.unique(x)),
    ("unique-dim", lambda L, x: L.unique(x, dim=0)),
    ("unique-consecutive", lambda L, x: L.unique_consecutive(x)),
    ("unique-consecutive-dim", lambda L, x: L.unique_consecutive(x, dim=1)),
    ("bincount", lambda L, x: L.bincount(_index(L, [0, 2, 2], x), x[0, :3])),
]


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", NOT_IMPLEMENTED, ids=[case[0] for case in NOT_IMPLEMENTED])
def test_derivatives_pytorch_does_not_implement(case, device, rng):
    name, fn = case
    array = rng.uniform(-2.0, 2.0, S)
    errors = []
    for L, kwargs in ((fw, {"device": device}), (torch, {})):
        x = L.tensor(array, requires_grad=True, **kwargs)
        out = fn(L, x)
        assert out.requires_grad, name
        with pytest.raises(Exception) as caught:
            L.autograd.grad(out.sum(), x, create_graph=True)
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1], name


def test_the_case_table_reaches_every_formula(rng):
    """Every differentiable op appears in some case's forward graph, so every formula is compared above."""
    reached = set()
    for name, fn, specs in CASES + [(name, fn, [S]) for name, fn in NOT_IMPLEMENTED]:
        inputs = [fw.tensor(a, dtype=fw.float64, requires_grad=True) for a in _arrays(rng, specs)]
        stack, seen = [fn(fw, *inputs).grad_fn], set()
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            reached.add(getattr(node, "_op", None))
            stack.extend(edge[0] for edge in node._edges if edge is not None)
    if "cuda" not in DEVICES:
        reached.add("to_device")  # its case only crosses devices when there are two
    missing = sorted(set(_differentiable_ops()) - reached - set(NOT_IN_FORWARD_GRAPHS))
    assert not missing, f"no case reaches {missing}"


# ---- float32 on every device ---------------------------------------------------------------------------

FLOAT32_CASES = ["softmax", "log-softmax", "cross-entropy", "layer-norm", "linear-gelu", "matmul", "sigmoid",
                 "index", "prod",
                 "sort", "cumprod", "logcumsumexp"]


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_second_derivatives_in_float32(name, device, rng):
    _, fn, specs = CASES[CASE_IDS.index(name)]
    arrays = [a.astype(np.float32) for a in _arrays(rng, specs)]
    results = []
    for L, where in ((fw, device), (torch, None)):
        kwargs = {"device": where} if L is fw else {}
        xs = [L.tensor(a, requires_grad=True, **kwargs) for a in arrays]
        out = fn(L, *xs)
        firsts = L.autograd.grad((out * out).sum(), xs, create_graph=True, allow_unused=True)
        penalty = sum((g * g).sum() for g in firsts if g is not None)
        seconds = L.autograd.grad(penalty, xs, allow_unused=True)
        results.append([None if t is None else np.asarray(t.detach().cpu().numpy(), np.float64)
                        for t in list(firsts) + list(seconds)])
    for i, (a, b) in enumerate(zip(*results)):
        if a is None or b is None:
            continue
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4 * scale, err_msg=f"{name}: result {i} on {device}")
