"""PyTorch's graph node names for every op, composed or not: one table of calls, each run with framework and
with torch; `type(out.grad_fn).__name__`, `grad_fn.name()` and (where the graphs have the same shape) the
`next_functions` structure must agree. A walk of the table's graphs checks that it reaches every differentiable
registry op, so a new op without a case fails here by name."""
import math

import numpy as np
import pytest

import framework as fw
from framework.autograd.registry import KERNELS, not_differentiable
from helpers import requires_torch, torch

pytestmark = requires_torch

_RNG = np.random.default_rng(0)
_VALUES = {"x": (4, 3), "y": (4, 3), "w": (5, 3), "b": (5,), "v": (3,), "x3": (2, 4, 3), "s": (), "p": (4, 3),
           "img": (2, 4, 5, 6), "k": (5, 4, 3, 3), "kg": (4, 2, 3, 3), "kt": (4, 3, 2, 2), "k1": (5, 4, 2),
           "c": (4,), "w3": (5, 3, 3), "q4": (2, 3, 5, 4), "k4": (2, 3, 6, 4)}
_ARRAYS = {name: _RNG.uniform(0.2, 0.9, shape) if name == "p" else _RNG.standard_normal(shape)
           for name, shape in _VALUES.items()}


class _Inputs:
    """The same leaves (float32, requiring grad) for either library, plus constants."""

    def __init__(self, L):
        self.L = L
        for name, array in _ARRAYS.items():
            setattr(self, name, L.tensor(array, dtype=L.float32, requires_grad=True))
        self.target = L.tensor([0, 2, 1, 0])
        self.const = L.tensor(_ARRAYS["y"], dtype=L.float32)
        self.signs = L.tensor([1.0, -1.0, -1.0, 1.0])  # +-1 targets of the margin losses
        self.F = L.nn.functional


def _inplace(t, method, *args):
    y = t.x * 1
    getattr(y, method)(*args)
    return y


def _setitem(t, key, value):
    y = t.x * 1
    y[key] = value
    return y


def _module(t, name, *args, inputs=("x",)):
    t.L.manual_seed(0)
    module = getattr(t.L.nn, name)(*args)
    return module(*(getattr(t, i) for i in inputs))


def _sequential_linear(t, activation):
    t.L.manual_seed(0)
    return t.L.nn.Sequential(t.L.nn.Linear(3, 5), getattr(t.L.nn, activation)())(t.x)


def _sequential_conv(t, activation):
    t.L.manual_seed(0)
    return t.L.nn.Sequential(t.L.nn.Conv2d(4, 5, 3), getattr(t.L.nn, activation)())(t.img)


# name -> fn(t). Every call differentiable; the comments name PyTorch's node where it is not obvious.
CASES = {
    # elementwise
    "add": lambda t: t.x + t.y, "add-scalar": lambda t: t.x + 1, "add-alpha": lambda t: t.L.add(t.x, t.y, alpha=2),
    "sub": lambda t: t.x - t.y, "sub-scalar": lambda t: t.x - 1, "rsub": lambda t: 1 - t.x,
    "mul": lambda t: t.x * t.y, "mul-scalar": lambda t: 2 * t.x, "div": lambda t: t.x / t.y,
    "div-scalar": lambda t: t.x / 2, "rdiv": lambda t: 3 / t.x,  # MulBackward0 of ReciprocalBackward0
    "div-trunc": lambda t: t.L.div(t.x, t.y, rounding_mode="trunc"),
    "div-floor": lambda t: t.L.div(t.x, 2, rounding_mode="floor"),
    "pow-scalar": lambda t: t.x ** 3, "square": lambda t: t.x.square(), "pow-tensor": lambda t: t.p ** t.x,
    "rpow": lambda t: 2 ** t.x, "remainder": lambda t: t.x % 2, "remainder-tensor": lambda t: t.x % t.p,
    "neg": lambda t: -t.x, "exp": lambda t: t.x.exp(), "log": lambda t: t.p.log(), "log1p": lambda t: t.p.log1p(),
    "expm1": lambda t: t.x.expm1(), "sqrt": lambda t: t.p.sqrt(), "rsqrt": lambda t: t.p.rsqrt(),
    "sin": lambda t: t.x.sin(), "cos": lambda t: t.x.cos(), "tanh": lambda t: t.x.tanh(),
    "sigmoid": lambda t: t.x.sigmoid(), "relu": lambda t: t.x.relu(), "abs": lambda t: t.x.abs(),
    "reciprocal": lambda t: t.x.reciprocal(), "sign": lambda t: t.x.sign(), "floor": lambda t: t.x.floor(),
    "ceil": lambda t: t.x.ceil(), "round": lambda t: t.x.round(), "trunc": lambda t: t.x.trunc(),
    "clamp": lambda t: t.x.clamp(-0.5, 0.5), "clamp-min": lambda t: t.x.clamp(min=0),
    "clamp-tensors": lambda t: t.x.clamp(t.const * 0, t.const + 1),  # ClampBackward0
    "clamp-max-tensor": lambda t: t.x.clamp(max=t.const),
    "maximum": lambda t: t.L.maximum(t.x, t.y), "minimum": lambda t: t.L.minimum(t.x, t.y),
    "max-other": lambda t: t.L.max(t.x, t.y), "where": lambda t: t.L.where(t.x > 0, t.x, t.y),
    "where-scalar": lambda t: t.L.where(t.x > 0, t.x, 0.0),
    "where-scalar-first": lambda t: t.L.where(t.x > 0, 1.0, t.x),
    "clamp-min-tensor": lambda t: t.L.clamp_min(t.x, t.const),  # ClampMinBackward1
    "clamp-max-tensor-fn": lambda t: t.L.clamp_max(t.x, t.y),  # ClampMaxBackward1
    "erf": lambda t: t.x.erf(), "erfc": lambda t: t.x.erfc(), "erfinv": lambda t: (t.p - 0.5).erfinv(),
    "nan-to-num": lambda t: t.L.nan_to_num(t.x), "lerp": lambda t: t.L.lerp(t.x, t.const, 0.3),
    "lerp-tensor": lambda t: t.L.lerp(t.x, t.y, t.const),  # LerpBackward1
    "erf-inplace": lambda t: _inplace(t, "erf_"), "lerp-inplace": lambda t: _inplace(t, "lerp_", t.y, 0.5),
    # shape
    "view": lambda t: t.x.view(12), "reshape-copy": lambda t: t.x.t().reshape(-1), "flatten": lambda t: t.x3.flatten(),
    "unsqueeze": lambda t: t.x.unsqueeze(0), "squeeze": lambda t: t.x.unsqueeze(0).squeeze(),
    "squeeze-dim": lambda t: t.x.unsqueeze(0).squeeze(0), "permute": lambda t: t.x3.permute(2, 0, 1),
    "transpose": lambda t: t.x.transpose(0, 1), "t": lambda t: t.x.t(), "mT": lambda t: t.x.mT, "T": lambda t: t.x.T,
    "movedim": lambda t: t.x3.movedim(0, 2), "expand": lambda t: t.v.expand(4, 3),
    "expand-as": lambda t: t.v.expand_as(t.x),
    "repeat": lambda t: t.x.repeat(2, 1), "contiguous": lambda t: t.x.t().contiguous(), "clone": lambda t: t.x.clone(),
    "to-double": lambda t: t.x.double(), "cat": lambda t: t.L.cat([t.x, t.y]), "stack": lambda t: t.L.stack([t.x, t.y]),
    "hstack": lambda t: t.L.hstack([t.x, t.y]), "vstack": lambda t: t.L.vstack([t.v, t.v]),
    "row-stack": lambda t: t.L.row_stack([t.x, t.y]), "atleast-1d": lambda t: t.L.atleast_1d(t.s),
    "dstack": lambda t: t.L.dstack([t.x, t.y]), "column-stack": lambda t: t.L.column_stack([t.v, t.v]),
    "atleast-3d": lambda t: t.L.atleast_3d(t.x), "tensor-split": lambda t: t.x.tensor_split(3)[1],
    "broadcast-tensors": lambda t: t.L.broadcast_tensors(t.x, t.v)[1], "meshgrid": lambda t: t.L.meshgrid(
        t.v, t.b, indexing="ij")[0], "cartesian-prod": lambda t: t.L.cartesian_prod(t.v, t.b),
    "repeat-interleave": lambda t: t.x.repeat_interleave(2, 1), "repeat-interleave-tensor": lambda t: t.x.repeat_interleave(
        t.target[:3] + 1, dim=1),
    "split": lambda t: t.x.split(2)[1], "split-sizes": lambda t: t.x.split([1, 3])[1],
    "chunk": lambda t: t.x.chunk(2)[0],
    "flip": lambda t: t.x.flip(0), "fliplr": lambda t: t.x.fliplr(), "flipud": lambda t: t.x.flipud(), "roll": lambda t: t.x.roll(1, 0),
    "roll-flat": lambda t: t.x.roll(2), "rot90": lambda t: t.x.rot90(), "rot90-twice": lambda t: t.x.rot90(2),
    "tril": lambda t: t.x.tril(), "triu": lambda t: t.x.triu(1), "tril-inplace": lambda t: _inplace(t, "tril_"),
    "diagonal": lambda t: t.x.diagonal(), "diag": lambda t: t.x.diag(1),  # DiagonalBackward0_copy
    "diag-1d": lambda t: t.v.diag(), "diag-embed": lambda t: t.x.diag_embed(), "trace": lambda t: t.x.trace(),
    "block-diag": lambda t: t.L.block_diag(t.x, t.const, t.y),
    "unbind": lambda t: t.x.unbind(1)[2], "narrow": lambda t: t.x.narrow(1, 0, 2), "select": lambda t: t.x.select(1, 0),
    # indexing
    "index-int": lambda t: t.x[0], "index-slice": lambda t: t.x[1:], "index-column": lambda t: t.x[:, 1],
    "index-none": lambda t: t.x[None], "index-ellipsis": lambda t: t.x[...],
    "index-tensor": lambda t: t.x[t.target], "index-mask": lambda t: t.x[t.x > 0],
    "index-range": lambda t: t.x[t.L.arange(4), t.target],
    "setitem-slice": lambda t: _setitem(t, (slice(None), 1), 2.0),  # CopySlices
    "setitem-tensor": lambda t: _setitem(t, t.target, 1.0),  # IndexPutBackward0
    "setitem-all": lambda t: _setitem(t, Ellipsis, t.y),
    "gather": lambda t: t.x.gather(1, t.target[:, None]), "take-along-dim": lambda t: t.L.take_along_dim(
        t.x, t.target[:, None], 1), "index-select": lambda t: t.x.index_select(0, t.target),
    "scatter": lambda t: t.x.scatter(1, t.target[:, None], t.y), "scatter-value": lambda t: t.x.scatter(
        1, t.target[:, None], 2.0), "scatter-add": lambda t: t.x.scatter_add(1, t.target[:, None], t.y),
    "masked-fill": lambda t: t.x.masked_fill(t.x > 0, 0.0), "masked-fill-tensor": lambda t: t.x.masked_fill(
        t.x > 0, t.s), "masked-select": lambda t: t.x.masked_select(t.x > 0),
    # index functions that write
    "index-add": lambda t: t.x.index_add(0, t.target, t.y), "index-add-alpha": lambda t: t.L.index_add(
        t.x, 1, t.target[:3], t.y, alpha=2), "index-copy": lambda t: t.x.index_copy(0, t.target[1:3], t.y[:2]),
    "index-fill": lambda t: t.x.index_fill(1, t.target[:2], 2.0),
    "index-fill-tensor": lambda t: t.x.index_fill(1, t.target[:2], t.s),  # IndexFillBackward1
    "index-put": lambda t: t.x.index_put((t.target,), t.v),
    "index-put-accumulate": lambda t: t.L.index_put(t.x, (t.target, t.target), t.v[0], accumulate=True),
    "take": lambda t: t.x.take(t.target), "masked-scatter": lambda t: t.x.masked_scatter(t.x > 0, t.y),
    "scatter-reduce": lambda t: t.x.scatter_reduce(1, t.target[:, None], t.y[:, :1], "amax"),
    "scatter-reduce-mean": lambda t: t.L.scatter_reduce(t.x, 0, t.target[:, None], t.y, "mean",
                                                        include_self=False),
    "scatter-legacy-reduce": lambda t: t.x.scatter(1, t.target[:, None], t.y, reduce="multiply"),
    "index-add-inplace": lambda t: _inplace(t, "index_add_", 0, t.target, t.y),
    "index-copy-inplace": lambda t: _inplace(t, "index_copy_", 1, t.target[:1], t.y[:, :1]),
    "index-fill-inplace": lambda t: _inplace(t, "index_fill_", 0, t.target, -1.0),
    "index-put-inplace": lambda t: _inplace(t, "index_put_", (t.target,), t.v, True),
    "scatter-reduce-inplace": lambda t: _inplace(t, "scatter_reduce_", 1, t.target[:, None], t.y[:, :1], "prod"),
    "masked-scatter-inplace": lambda t: _inplace(t, "masked_scatter_", t.x > 0, t.y),
    # in place
    "fill": lambda t: _inplace(t, "fill_", 2.0), "fill-tensor": lambda t: _inplace(t, "fill_", t.s),
    "zero": lambda t: _inplace(t, "zero_"), "copy": lambda t: _inplace(t, "copy_", t.y),
    "add-inplace": lambda t: _inplace(t, "add_", t.y), "mul-inplace": lambda t: _inplace(t, "mul_", 2),
    "clamp-inplace": lambda t: _inplace(t, "clamp_", 0, 1),
    "clamp-min-function": lambda t: t.L.clamp_min(t.x, 0.5), "clamp-max-function": lambda t: t.L.clamp_max(t.x, 0),
    # reductions
    "sum": lambda t: t.x.sum(), "sum-dim": lambda t: t.x.sum(1), "sum-dtype": lambda t: t.x.sum(dtype=t.L.float64),
    "mean": lambda t: t.x.mean(), "mean-dim": lambda t: t.x.mean(0, keepdim=True), "prod": lambda t: t.x.prod(),
    "prod-dim": lambda t: t.x.prod(1), "max": lambda t: t.x.max(), "max-dim": lambda t: t.x.max(1)[0],
    "min": lambda t: t.x.min(), "min-dim": lambda t: t.x.min(0).values, "amax": lambda t: t.x.amax(1),
    "amin": lambda t: t.x.amin((0, 1)), "var": lambda t: t.x.var(1), "std": lambda t: t.x.std(),
    "norm": lambda t: t.x.norm(), "norm-dim": lambda t: t.x.norm(1, dim=1), "logsumexp": lambda t: t.x.logsumexp(1),
    "cumsum": lambda t: t.x.cumsum(0), "softmax": lambda t: t.x.softmax(1), "log-softmax": lambda t: t.x.log_softmax(0),
    "softmax-dtype": lambda t: t.x.softmax(1, dtype=t.L.float64),
    "var-mean": lambda t: t.L.var_mean(t.x, 1)[0], "std-mean": lambda t: t.L.std_mean(t.x)[1],
    # linear algebra
    "matmul": lambda t: t.x @ t.w.t(), "mm": lambda t: t.L.mm(t.x, t.w.t()), "mv": lambda t: t.x @ t.v,
    "dot": lambda t: t.v @ t.v, "vecmat": lambda t: t.v @ t.w.t(), "bmm": lambda t: t.L.bmm(t.x3, t.x3.transpose(1, 2)),
    "vdot": lambda t: t.L.vdot(t.v, t.v),
    "matmul-batched": lambda t: t.x3 @ t.w.t(), "outer": lambda t: t.L.outer(t.v, t.v),
    "cross": lambda t: t.L.cross(t.x, t.const, dim=1),
    "cdist": lambda t: t.L.cdist(t.x, t.w), "cdist-p1": lambda t: t.L.cdist(t.x, t.const, p=1),
    "cdist-matmul": lambda t: t.L.cdist(t.x, t.w, compute_mode="use_mm_for_euclid_dist"),  # ViewBackward0
    "tensordot": lambda t: t.L.tensordot(t.x3, t.x, dims=([1, 2], [0, 1])), "kron": lambda t: t.L.kron(t.x, t.v),
    "einsum": lambda t: t.L.einsum("bij,kj->bik", t.x3, t.w), "einsum-trace": lambda t: t.L.einsum("ii", t.x[:3]),
    "trapezoid": lambda t: t.L.trapezoid(t.x), "trapz-dx": lambda t: t.L.trapz(t.x, dx=0.5),
    "cumulative-trapezoid": lambda t: t.L.cumulative_trapezoid(t.x, dim=0),
    "trapezoid-x": lambda t: t.L.trapezoid(t.x, t.v), "cumulative-trapezoid-x": lambda t: t.L.cumulative_trapezoid(
        t.x, t.v), "cumulative-trapezoid-dx": lambda t: t.L.cumulative_trapezoid(t.x, dx=2.0),
    "einsum-sum": lambda t: t.L.einsum("ij->j", t.x), "tensordot-int": lambda t: t.L.tensordot(t.x, t.y, dims=2),
    "tensordot-vectors": lambda t: t.L.tensordot(t.v, t.x[:1].t(), dims=([0], [0])),
    "linear": lambda t: t.F.linear(t.x, t.w, t.b), "linear-no-bias": lambda t: t.F.linear(t.x, t.w),
    "linear-3d": lambda t: t.F.linear(t.x3, t.w, t.b), "linear-3d-no-bias": lambda t: t.F.linear(t.x3, t.w),
    "linear-1d": lambda t: t.F.linear(t.v, t.w, t.b), "linear-1d-no-bias": lambda t: t.F.linear(t.v, t.w),
    "Linear": lambda t: _module(t, "Linear", 3, 5),
    "Sequential-Linear-ReLU": lambda t: _sequential_linear(t, "ReLU"),
    "Sequential-Linear-GELU": lambda t: _sequential_linear(t, "GELU"),
    "Sequential-Linear-SiLU": lambda t: _sequential_linear(t, "SiLU"),
    # nn.functional: activations
    "gelu": lambda t: t.F.gelu(t.x), "gelu-tanh": lambda t: t.F.gelu(t.x, approximate="tanh"),
    "silu": lambda t: t.F.silu(t.x), "leaky-relu": lambda t: t.F.leaky_relu(t.x, 0.1),
    "softplus": lambda t: t.F.softplus(t.x), "logsigmoid": lambda t: t.F.logsigmoid(t.x),
    "elu": lambda t: t.F.elu(t.x, 0.5), "selu": lambda t: t.F.selu(t.x),  # EluBackward0
    "celu": lambda t: t.F.celu(t.x, 2.0), "hardtanh": lambda t: t.F.hardtanh(t.x, -0.5, 0.5),
    "relu6": lambda t: t.F.relu6(t.x * 8),  # HardtanhBackward0
    "hardswish": lambda t: t.F.hardswish(t.x), "hardsigmoid": lambda t: t.F.hardsigmoid(t.x),
    "mish": lambda t: t.F.mish(t.x), "threshold": lambda t: t.F.threshold(t.x, 0.1, 2.0),
    "softsign": lambda t: t.F.softsign(t.x), "tanhshrink": lambda t: t.F.tanhshrink(t.x),
    "prelu": lambda t: t.F.prelu(t.x, t.v), "prelu-one-weight": lambda t: t.F.prelu(t.x3, t.v[:1]),
    "elu-inplace": lambda t: t.F.elu_(t.x * 1), "selu-inplace": lambda t: t.F.selu(t.x * 1, inplace=True),
    "celu-inplace": lambda t: t.F.celu_(t.x * 1), "threshold-inplace": lambda t: t.F.threshold_(t.x * 1, 0.1, 2.0),
    "hardtanh-inplace": lambda t: t.F.hardtanh_(t.x * 1), "mish-inplace": lambda t: t.F.mish(t.x * 1, inplace=True),
    "leaky-relu-inplace": lambda t: t.F.leaky_relu(t.x * 1, 0.1, inplace=True),  # LeakyReluBackward1
    "silu-inplace": lambda t: t.F.silu(t.x * 1, inplace=True),
    "PReLU": lambda t: _module(t, "PReLU"), "ELU": lambda t: _module(t, "ELU"), "Mish": lambda t: _module(t, "Mish"),
    "softmin": lambda t: t.F.softmin(t.x, 1), "normalize": lambda t: t.F.normalize(t.x),
    "pairwise-distance-p1": lambda t: t.F.pairwise_distance(t.x, t.const, 1.0),
    "pairwise-distance": lambda t: t.F.pairwise_distance(t.x, t.y), "cosine-similarity": lambda t: t.F.cosine_similarity(
        t.x, t.y), "cosine-similarity-dim0": lambda t: t.L.cosine_similarity(t.x, t.const, 0),
    "dropout": lambda t: t.F.dropout(t.x, 0.5), "embedding": lambda t: t.F.embedding(t.target, t.w),
    # nn.functional: normalization
    "layer-norm": lambda t: t.F.layer_norm(t.x, (3,), t.v, t.v * 2),  # NativeLayerNormBackward0
    "layer-norm-no-affine": lambda t: t.F.layer_norm(t.x3, (4, 3)),
    "LayerNorm": lambda t: _module(t, "LayerNorm", 3),
    "LayerNorm-no-bias": lambda t: _module(t, "LayerNorm", 3, 1e-5, True, False),
    "rms-norm": lambda t: t.F.rms_norm(t.x, (3,), t.v),  # MulBackward0: PyTorch composes it on the CPU
    "rms-norm-no-weight": lambda t: t.F.rms_norm(t.x3, (4, 3)),
    "rms-norm-bfloat16": lambda t: t.F.rms_norm(t.x.bfloat16(), (3,), t.v.bfloat16()),  # ToCopyBackward0: the cast back
    "RMSNorm": lambda t: _module(t, "RMSNorm", 3),
    "batch-norm": lambda t: t.F.batch_norm(t.x, None, None, t.v, t.v * 2, training=True),
    "batch-norm-eval": lambda t: t.F.batch_norm(t.x, t.const[0] * 0, t.const[0].abs() + 1, t.v, None),
    "BatchNorm1d": lambda t: _module(t, "BatchNorm1d", 3),
    "group-norm": lambda t: t.F.group_norm(t.x3, 2, t.c, t.c * 2),  # NativeGroupNormBackward0
    # ScaledDotProductFlashAttentionForCpuBackward0: (query, key, value), the mask not among them
    "scaled-dot-product-attention": lambda t: t.F.scaled_dot_product_attention(t.q4, t.k4, t.k4.detach()),
    "scaled-dot-product-attention-mask": lambda t: t.F.scaled_dot_product_attention(
        t.q4, t.k4, t.k4 * 2, attn_mask=t.L.zeros(5, 6), is_causal=False),
    "group-norm-no-affine": lambda t: t.F.group_norm(t.x3, 4), "GroupNorm": lambda t: _module(t, "GroupNorm", 2, 4,
                                                                                               inputs=("x3",)),
    # nn.functional: bilinear (a view of PyTorch's trilinear; ours composes it)
    "bilinear": lambda t: t.F.bilinear(t.x, t.y, t.w3, t.b), "bilinear-no-bias": lambda t: t.F.bilinear(t.x, t.y, t.w3),
    "batch-norm-4d": lambda t: t.F.batch_norm(t.img, None, None, t.c, None, training=True),
    "BatchNorm2d": lambda t: _module(t, "BatchNorm2d", 4, inputs=("img",)),
    # nn.functional: convolution, pooling, padding, resampling
    "conv2d": lambda t: t.F.conv2d(t.img, t.k, t.b, padding=1), "conv2d-no-bias": lambda t: t.F.conv2d(t.img, t.k),
    "conv2d-groups": lambda t: t.F.conv2d(t.img, t.kg, stride=2, groups=2, dilation=(1, 2)),
    "conv2d-same": lambda t: t.F.conv2d(t.img, t.k, padding="same"),
    "conv1d": lambda t: t.F.conv1d(t.x3, t.k1), "conv1d-unbatched": lambda t: t.F.conv1d(t.x3[0], t.k1),
    "conv-transpose2d": lambda t: t.F.conv_transpose2d(t.img, t.kt, stride=2, output_padding=1),
    "conv-transpose1d": lambda t: t.F.conv_transpose1d(t.x3, t.k1.transpose(0, 1)),
    "Conv2d": lambda t: _module(t, "Conv2d", 4, 5, 3, inputs=("img",)),
    "Conv2d-reflect": lambda t: _module(t, "Conv2d", 4, 5, 3, 1, 1, 1, 1, True, "reflect", inputs=("img",)),
    "ConvTranspose2d": lambda t: _module(t, "ConvTranspose2d", 4, 3, 2, inputs=("img",)),
    "Sequential-Conv2d-ReLU": lambda t: _sequential_conv(t, "ReLU"),
    "max-pool2d": lambda t: t.F.max_pool2d(t.img, 2),
    "max-pool2d-indices": lambda t: t.F.max_pool2d(t.img, 3, 2, 1, return_indices=True)[0],
    "max-pool1d": lambda t: t.F.max_pool1d(t.x3, 2),  # SqueezeBackward1 of the 2-d op
    "adaptive-max-pool2d": lambda t: t.F.adaptive_max_pool2d(t.img, (2, 3)),
    "avg-pool2d": lambda t: t.F.avg_pool2d(t.img, 2), "avg-pool1d": lambda t: t.F.avg_pool1d(t.x3, 2),
    "adaptive-avg-pool2d": lambda t: t.F.adaptive_avg_pool2d(t.img, (2, 3)),
    "adaptive-avg-pool2d-1x1": lambda t: t.F.adaptive_avg_pool2d(t.img, 1),  # MeanBackward1
    "MaxPool2d": lambda t: _module(t, "MaxPool2d", 2, inputs=("img",)),
    "pad-constant": lambda t: t.F.pad(t.img, (1, 2, 0, 1)),
    "pad-reflect": lambda t: t.F.pad(t.img, (1, 1, 2, 0), mode="reflect"),
    "pad-replicate": lambda t: t.F.pad(t.x3, (1, 1), mode="replicate"),
    "pad-circular": lambda t: t.F.pad(t.img, (1, 2, 1, 0), mode="circular"),  # CopySlices
    "interpolate-nearest": lambda t: t.F.interpolate(t.img, scale_factor=2),
    "interpolate-bilinear": lambda t: t.F.interpolate(t.img, size=(3, 7), mode="bilinear", align_corners=True),
    "interpolate-linear": lambda t: t.F.interpolate(t.x3, scale_factor=2, mode="linear"),
    "Upsample": lambda t: _module(t, "Upsample", None, 2, inputs=("img",)),
    "dropout2d": lambda t: t.F.dropout2d(t.img, 0.5),
    # nn.functional: losses
    "mse-loss": lambda t: t.F.mse_loss(t.x, t.y),
    "mse-loss-none": lambda t: t.F.mse_loss(t.x, t.const, reduction="none"),
    "mse-loss-weighted": lambda t: t.F.mse_loss(t.x, t.const, weight=t.const.abs()),  # DivBackward0
    "MSELoss": lambda t: _module(t, "MSELoss", inputs=("x", "const")),
    "l1-loss": lambda t: t.F.l1_loss(t.x, t.const), "l1-loss-sum": lambda t: t.F.l1_loss(t.x, t.const, reduction="sum"),
    "smooth-l1-loss": lambda t: t.F.smooth_l1_loss(t.x, t.const),
    "smooth-l1-loss-none": lambda t: t.F.smooth_l1_loss(t.x, t.const, reduction="none", beta=0.5),
    "smooth-l1-loss-beta-0": lambda t: t.F.smooth_l1_loss(t.x, t.const, beta=0.0),  # l1_loss's MeanBackward0
    "huber-loss": lambda t: t.F.huber_loss(t.x, t.const, delta=0.5),
    "huber-loss-weighted": lambda t: t.F.huber_loss(t.x, t.const, weight=t.const.abs()),
    "huber-loss-none": lambda t: t.F.huber_loss(t.x, t.y, reduction="none"),
    "HuberLoss": lambda t: _module(t, "HuberLoss", "mean", 0.5, inputs=("x", "const")),
    "SmoothL1Loss": lambda t: _module(t, "SmoothL1Loss", inputs=("x", "const")),
    "kl-div": lambda t: t.F.kl_div(t.x, t.p, reduction="batchmean"),  # DivBackward0
    "kl-div-log-target": lambda t: t.F.kl_div(t.x, t.y, reduction="sum", log_target=True),
    "kl-div-none": lambda t: t.F.kl_div(t.x, t.p.detach(), reduction="none"),
    "kl-div-target-requires-grad": lambda t: t.F.kl_div(t.x, t.p, reduction="none"),
    "poisson-nll-loss": lambda t: t.F.poisson_nll_loss(t.x, t.p),
    "poisson-nll-loss-full": lambda t: t.F.poisson_nll_loss(t.p, t.const.abs() * 3, log_input=False, full=True),
    "gaussian-nll-loss": lambda t: t.F.gaussian_nll_loss(t.x, t.const, t.p),
    "cosine-embedding-loss": lambda t: t.F.cosine_embedding_loss(t.x, t.y, t.signs),
    "hinge-embedding-loss": lambda t: t.F.hinge_embedding_loss(t.x, t.const.sign()),
    "margin-ranking-loss": lambda t: t.F.margin_ranking_loss(t.c, t.x[:, 0], t.signs),
    "triplet-margin-loss": lambda t: t.F.triplet_margin_loss(t.x, t.y, t.p),
    "soft-margin-loss": lambda t: t.F.soft_margin_loss(t.x, t.const.sign()),  # SoftMarginLossBackward0
    "soft-margin-loss-none": lambda t: t.F.soft_margin_loss(t.x, t.const.sign(), reduction="none"),
    "multilabel-soft-margin-loss": lambda t: t.F.multilabel_soft_margin_loss(t.x, (t.const > 0).float()),
    "nll-loss": lambda t: t.F.nll_loss(t.x, t.target), "NLLLoss": lambda t: _module(t, "NLLLoss",
                                                                                     inputs=("x", "target")),
    "cross-entropy": lambda t: t.F.cross_entropy(t.x, t.target),
    "cross-entropy-smoothing": lambda t: t.F.cross_entropy(t.x, t.target, label_smoothing=0.1),  # AddBackward0
    "cross-entropy-probabilities": lambda t: t.F.cross_entropy(t.x, t.const.softmax(1)),  # DivBackward1
    "cross-entropy-probabilities-sum": lambda t: t.F.cross_entropy(t.x, t.const.softmax(1), reduction="sum"),
    "cross-entropy-4d": lambda t: t.F.cross_entropy(t.x3[None].transpose(1, 2), t.target[None, None, :3].expand(
        1, 2, 3).contiguous() % 2),
    "CrossEntropyLoss": lambda t: _module(t, "CrossEntropyLoss", inputs=("x", "target")),
    "binary-cross-entropy": lambda t: t.F.binary_cross_entropy(t.x.sigmoid(), t.p),
    "binary-cross-entropy-with-logits": lambda t: t.F.binary_cross_entropy_with_logits(t.x, t.p),
    # sorting, selection, scans, quantiles, unique, bincount
    "sort": lambda t: t.x.sort(1).values, "sort-stable": lambda t: t.x.sort(dim=0, stable=True)[0],  # SortBackward1
    "msort": lambda t: t.L.msort(t.x), "topk": lambda t: t.x.topk(2).values,
    "kthvalue": lambda t: t.x.kthvalue(2, 0)[0], "median": lambda t: t.x.median(),
    "median-dim": lambda t: t.x.median(1).values, "nanmedian": lambda t: t.x.nanmedian(),
    "nanmedian-dim": lambda t: t.x.nanmedian(0, keepdim=True)[0], "mode": lambda t: t.x.mode(1).values,
    "cumprod": lambda t: t.x.cumprod(1), "cumprod-dtype": lambda t: t.x.cumprod(0, dtype=t.L.float64),
    "cumprod-inplace": lambda t: _inplace(t, "cumprod_", 1), "cumsum-inplace": lambda t: _inplace(t, "cumsum_", 0),
    "cummax": lambda t: t.x.cummax(0).values, "cummin": lambda t: t.x.cummin(1)[0],
    "logcumsumexp": lambda t: t.x.logcumsumexp(1),
    "quantile": lambda t: t.x.quantile(0.3),  # SqueezeBackward4 of LerpBackward1
    "quantile-tensor-q": lambda t: t.x.quantile(t.L.tensor([0.2, 0.7]), 1),  # of TransposeBackward1
    "quantile-lower": lambda t: t.x.quantile(0.3, 0, interpolation="lower"),  # of GatherBackward0
    "nanquantile": lambda t: t.x.nanquantile(0.6, 0, keepdim=True),
    "unique": lambda t: t.x.unique(), "unique-dim": lambda t: t.x.unique(dim=0),
    "unique-consecutive": lambda t: t.x.unique_consecutive(),
    "unique-consecutive-dim": lambda t: t.x.unique_consecutive(dim=1),
    "bincount": lambda t: t.L.bincount(t.target, t.x[:, 0]),  # NotImplemented, showing the weights alone
}

# cases whose graphs PyTorch builds from more nodes than ours (the names agree; the edges below do not):
# linear runs as addmm/mm of the transposed weight (TBackward0) and views other ranks back; the fused
# linear+activation (and conv+activation) is one node; circular padding is one gather under PyTorch's top
# CopySlices (PyTorch: a chain of slice copies); cross_entropy is one fused op (PyTorch: log_softmax, then nll_loss);
# copy_ expands its source first; kl_div's target term is xlogy(t, t) there (XlogyBackward0), where/mul/log here.
STRUCTURE_DIFFERS = {
    "kl-div-target-requires-grad",
    "linear", "linear-no-bias", "linear-3d", "linear-3d-no-bias", "linear-1d", "linear-1d-no-bias", "Linear",
    "matmul-batched", "vecmat", "Sequential-Linear-ReLU", "Sequential-Linear-GELU", "Sequential-Linear-SiLU",
    "cross-entropy", "cross-entropy-smoothing", "cross-entropy-probabilities", "cross-entropy-probabilities-sum",
    "cross-entropy-4d", "CrossEntropyLoss", "Sequential-Conv2d-ReLU", "pad-circular",
    # rms_norm is one fused op (PyTorch's CPU composes it: pow, mean, add, rsqrt, mul(s), the cast back)
    "rms-norm", "rms-norm-no-weight", "rms-norm-bfloat16", "RMSNorm",
}


def _describe(node):
    return [(None if n is None else type(n).__name__, nr) for n, nr in node.next_functions]


@pytest.mark.parametrize("name", sorted(CASES))
def test_node_names_match_pytorch(name):
    ours = CASES[name](_Inputs(fw))
    theirs = CASES[name](_Inputs(torch))
    assert ours.requires_grad and theirs.requires_grad
    assert type(ours.grad_fn).__name__ == type(theirs.grad_fn).__name__, name
    # PyTorch's hand-written C++ nodes (CopySlices, CopyBackwards) qualify name(): torch::autograd::CopySlices
    assert ours.grad_fn.name() == theirs.grad_fn.name().removeprefix("torch::autograd::")
    assert repr(ours).endswith(f"grad_fn=<{type(theirs.grad_fn).__name__}>)")
    if name not in STRUCTURE_DIFFERS:
        assert _describe(ours.grad_fn) == _describe(theirs.grad_fn), name


NOT_IN_THE_TABLE = {
    "alias": "runs only inside differentiable formulas",
    "linear_cross_entropy": "not a PyTorch function (tests/nn covers its node)",
    "rnn_step": "not a PyTorch function: one step of nn.RNN/LSTM/GRU (tests/test_rnn_step.py covers its node)",
}


def test_the_table_reaches_every_differentiable_op():
    reached = set()
    for name, fn in CASES.items():
        stack, seen = [fn(_Inputs(fw)).grad_fn], set()
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            reached.add(getattr(node, "_op", None))
            stack.extend(edge[0] for edge in node._edges if edge is not None)
    reached.add("to_device")
    differentiable = {op for op, pairs in KERNELS.items()
                      if next(iter(pairs.values())).backward is not not_differentiable}
    missing = sorted(differentiable - reached - set(NOT_IN_THE_TABLE))
    assert not missing, f"no case for {missing}"


def test_composite_node_passes_gradients_to_its_pieces():
    """One node, and the gradients of its pieces: mse_loss's node is MseLossBackward0, its gradient 2(x - y)/n."""
    x = fw.tensor([1.0, 2.0, 4.0], requires_grad=True)
    y = fw.tensor([0.0, 1.0, 1.0], requires_grad=True)
    loss = fw.nn.functional.mse_loss(x, y)
    assert type(loss.grad_fn).__name__ == "MseLossBackward0"
    assert [edge[0].variable for edge in loss.grad_fn.next_functions] == [x, y]
    seen = []
    loss.register_hook(lambda g: seen.append(g.item()))
    loss.backward()
    assert seen == [1.0]
    np.testing.assert_allclose(x.grad.numpy(), [2 / 3, 2 / 3, 2.0], rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), [-2 / 3, -2 / 3, -2.0], rtol=1e-6)
    assert math.isclose(loss.item(), (1 + 1 + 9) / 3, rel_tol=1e-6)


def test_composite_outputs_that_are_views_stay_views():
    x = fw.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True) * 1
    first, second = x.unbind(1)
    assert type(first.grad_fn).__name__ == "UnbindBackward0" and first.grad_fn is second.grad_fn
    assert first._base is x._base or first._base is x
    (first * 2 + second).sum().backward()
