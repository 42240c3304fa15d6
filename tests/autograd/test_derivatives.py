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
from helpers import DEVICES, assert_close, requires_torch, torch

# ops the case table cannot reach through a forward graph, and why
NOT_IN_FORWARD_GRAPHS = {
    "alias": "runs only inside formulas (recompute gives each input a node of its own with it)",
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
                        "softplus": (1.0, 20.0), "softmax": (1,), "log_softmax": (1,)}


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


def _move(L, x):
    if L is fw and "cuda" in DEVICES:
        other = "cpu" if x.device.type == "cuda" else "cuda"
        return (x.to(other) ** 2).to(x.device)
    return x ** 2


S = (3, 4)
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
    ("setitem", lambda L, x, y: _setitem(x, (slice(None), 1), y) ** 2 + _setitem(x, _index(L, [0, 2], x), y[:2, None])
     ** 2, [S, (3,)]),
    ("fill", lambda L, x: _fill(x, 2.0) ** 2, [S]),
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
    ("mse-loss", lambda L, x, t: L.nn.functional.mse_loss(x, t), [S, S]),
    ("layer-norm", lambda L, x, w, b: L.nn.functional.layer_norm(x, (4,), w, b), [S, (4,), (4,)]),
    ("batch-norm", lambda L, x, w, b: L.nn.functional.batch_norm(x, None, None, w, b, training=True),
     [S, (4,), (4,)]),
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
# cases PyTorch itself refuses: its scatter backward rejects a source larger than the index
TORCH_REFUSES = {"scatter-from-a-larger-source"}
# cases whose finite differences are too coarse for gradgradcheck: a float32 round trip
TOO_COARSE_FOR_FINITE_DIFFERENCES = {"to-dtype"}


def _arrays(rng, specs):
    arrays = []
    for spec in specs:
        kind, shape = spec if isinstance(spec, tuple) and spec and isinstance(spec[0], str) else ("any", spec)
        arrays.append(rng.uniform(0.5, 2.0, shape) if kind == "positive" else rng.uniform(-2.0, 2.0, shape))
    return arrays


def _first_and_second(L, fn, arrays, v_arrays, u_array, device):
    """(first derivatives of <u, fn(x)> with create_graph=True, gradient of <first derivatives, v>), as numpy."""
    kwargs = {"device": device} if L is fw else {}
    xs = [L.tensor(a, dtype=L.float64, requires_grad=True, **kwargs) for a in arrays]
    out = fn(L, *xs)
    firsts = L.autograd.grad(out, xs, L.tensor(u_array, dtype=L.float64, **kwargs), create_graph=True,
                             allow_unused=True)
    inner = sum((g * L.tensor(v, dtype=L.float64, **kwargs)).sum() for g, v in zip(firsts, v_arrays)
                if g is not None)
    seconds = (None,) * len(xs)
    if isinstance(inner, L.Tensor) and inner.requires_grad:
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
    theirs = _first_and_second(torch, fn, arrays, v, u, None)
    _same(ours[0], theirs[0], f"{name}: first derivative (create_graph=True)")
    _same(ours[1], theirs[1], f"{name}: Hessian-vector product")


@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in TOO_COARSE_FOR_FINITE_DIFFERENCES],
                         ids=lambda c: c[0])
def test_gradgradcheck(case, rng):
    name, fn, specs = case
    inputs = tuple(fw.tensor(a, dtype=fw.float64, requires_grad=True) for a in _arrays(rng, specs))
    # piecewise ops (relu, abs, max, rounding) are smooth at random points; eps stays far below their gaps
    assert fw.autograd.gradgradcheck(lambda *xs: fn(fw, *xs), inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_the_case_table_reaches_every_formula(rng):
    """Every differentiable op appears in some case's forward graph, so every formula is compared above."""
    reached = set()
    for name, fn, specs in CASES:
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
                 "index", "prod"]


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
