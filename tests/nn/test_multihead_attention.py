"""nn.MultiheadAttention and F.multi_head_attention_forward: values against a float64 numpy reference
(transformer_reference.py) on every device, values and gradients (inputs and every parameter) against PyTorch with
the same weights, masks of every kind (boolean and float key padding, 2-D and 3-D attention masks, causal),
batch_first, unbatched inputs, kdim/vdim, add_bias_kv/add_zero_attn, need_weights on and off, per-head weights,
PyTorch's seeded initialisation, parameter names, repr and errors, and autocast. cuda sizes are tiny: without a GPU
every op runs in Triton's interpreter."""
import warnings

import numpy as np
import pytest

import framework as fw
from framework.nn import functional as F
from helpers import DEVICES, assert_close, assert_same_draws, gradcheck, raises_like_torch, torch
from . import transformer_reference as ref

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not importable: no oracle to compare with")

E, H, L, S, N = 8, 2, 4, 5, 2
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-4, atol=1e-5)}

# (id, constructor arguments, forward arguments: masks named by kind, drawn in _masks)
CONFIGS = [
    ("default", {}, {}),
    ("no-weights", {}, dict(need_weights=False)),
    ("batch-first-per-head", dict(batch_first=True), dict(average_attn_weights=False)),
    ("kdim-vdim-bool-padding", dict(kdim=3, vdim=6), dict(key_padding_mask="bool")),
    ("kdim-float-padding-no-weights", dict(kdim=3), dict(key_padding_mask="float", need_weights=False)),
    ("bias-kv-zero-attn-float-2d", dict(add_bias_kv=True, add_zero_attn=True), dict(attn_mask="float2d")),
    ("bias-kv-no-weights", dict(add_bias_kv=True, add_zero_attn=True, batch_first=True),
     dict(attn_mask="bool2d", key_padding_mask="bool", need_weights=False)),
    ("bool-3d-and-padding", {}, dict(attn_mask="bool3d", key_padding_mask="bool")),
    ("no-bias-float-3d-no-weights", dict(bias=False), dict(attn_mask="float3d", need_weights=False)),
]
CUDA_CONFIGS = ("default", "kdim-float-padding-no-weights", "bool-3d-and-padding")


def _masks(rng, kinds, batch=N, tgt_len=L, src_len=S):
    """Masks of the named kinds; no row is fully masked (key 0 is always open: True means 'do not attend')."""
    out = {}
    for name, kind in kinds.items():
        if not isinstance(kind, str):
            out[name] = kind
            continue
        shape = {"key_padding_mask": (batch, src_len)}.get(name) or {
            "2d": (tgt_len, src_len), "3d": (batch * H, tgt_len, src_len)}[kind[-2:]]
        if kind.startswith("bool"):
            mask = rng.random(shape) < 0.4
            mask[..., 0] = False
        else:
            mask = rng.standard_normal(shape)
        out[name] = mask
    return out


def _build(kwargs, device="cpu", dtype="float64", seed=5):
    fw.manual_seed(seed)
    module = fw.nn.MultiheadAttention(E, H, **kwargs).to(device=device, dtype=getattr(fw, dtype))
    for name, p in module.named_parameters():  # biases are zero at init: give them values that can show
        if "bias" in name:
            with fw.no_grad():
                p.copy_(fw.randn(*p.shape, dtype=p.dtype).to(device))
    return module


def _params(module):
    return {k: v.detach().cpu().double().numpy() for k, v in module.state_dict().items()}


def _inputs(rng, kwargs, batch_first, unbatched=False):
    def shape(length, features):
        return (length, features) if unbatched else ((N, length, features) if batch_first else (length, N, features))
    return (rng.standard_normal(shape(L, E)), rng.standard_normal(shape(S, kwargs.get("kdim") or E)),
            rng.standard_normal(shape(S, kwargs.get("vdim") or E)))


def _torch_twin(module, kwargs):
    twin = torch.nn.MultiheadAttention(E, H, **kwargs).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in _params(module).items()})
    return twin


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, kwargs, forward", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_values_and_gradients(name, kwargs, forward, device, rng):
    if device != "cpu" and name not in CUDA_CONFIGS:
        pytest.skip("interpreted cuda runs a few configurations only (each op is slow there)")
    dtype = "float64" if device == "cpu" else "float32"
    module = _build(kwargs, device, dtype)
    arrays = _inputs(rng, kwargs, kwargs.get("batch_first", False))
    masks = _masks(rng, {k: v for k, v in forward.items() if k.endswith("mask")})
    options = {k: v for k, v in forward.items() if not k.endswith("mask")}
    leaves = [fw.tensor(a, dtype=getattr(fw, dtype), device=device, requires_grad=True) for a in arrays]
    fw_masks = {k: fw.tensor(m, device=device).to(fw.bool if m.dtype == bool else getattr(fw, dtype))
                for k, m in masks.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a bool key padding mask with a float attn_mask: PyTorch's deprecation
        out, weights = module(*leaves, **fw_masks, **options)
    expected, expected_weights = ref.mha(*arrays, _params(module), H, add_zero_attn=kwargs.get("add_zero_attn", False),
                                         batch_first=kwargs.get("batch_first", False),
                                         average_attn_weights=options.get("average_attn_weights", True), **masks)
    assert_close(out, expected, dtype, **TOL[dtype], what="output vs numpy")
    if options.get("need_weights", True):
        assert_close(weights, expected_weights, dtype, **TOL[dtype], what="weights vs numpy")
    else:
        assert weights is None
    if torch is None:
        return
    twin = _torch_twin(module, kwargs)
    t_leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_masks = {k: torch.from_numpy(m) for k, m in masks.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_out, t_weights = twin(*t_leaves, **t_masks, **options)
    assert out.grad_fn.name() == t_out.grad_fn.name()
    assert_close(out, t_out, dtype, **TOL[dtype], what="output vs torch")
    grad = rng.standard_normal(tuple(t_out.shape))
    loss = (out * fw.tensor(grad, dtype=out.dtype, device=device)).sum()
    t_loss = (t_out * torch.from_numpy(grad)).sum()
    if weights is not None:
        assert weights.grad_fn.name() == t_weights.grad_fn.name()
        grad_w = rng.standard_normal(tuple(t_weights.shape))
        loss = loss + (weights * fw.tensor(grad_w, dtype=weights.dtype, device=device)).sum()
        t_loss = t_loss + (t_weights * torch.from_numpy(grad_w)).sum()
    loss.backward()
    t_loss.backward()
    for i, (ours, theirs) in enumerate(zip(leaves, t_leaves)):
        assert_close(ours.grad, theirs.grad, dtype, **TOL[dtype], what=f"gradient of input {i}")
    t_params = dict(twin.named_parameters())
    for pname, p in module.named_parameters():
        assert_close(p.grad, t_params[pname].grad, dtype, **TOL[dtype], what=f"gradient of {pname}")


@pytest.mark.parametrize("need_weights", [True, False])
def test_gradcheck_with_masks(need_weights, rng):
    """Gradients without PyTorch: finite differences of the float64 module's output (inputs and in_proj)."""
    module = _build(dict(kdim=3), seed=1)
    arrays = _inputs(rng, dict(kdim=3), False)
    masks = {k: fw.tensor(v) for k, v in _masks(rng, dict(key_padding_mask="bool", attn_mask="float2d")).items()}

    def run(q, k, v):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return module(q, k, v, need_weights=need_weights, **masks)[0]
    gradcheck(run, *arrays)


@pytest.mark.parametrize("need_weights", [True, False])
def test_second_derivatives(need_weights, rng):
    """Every op it composes has a derivative formula, so autograd.grad(create_graph=True) goes through."""
    module = _build(dict(kdim=3), seed=2)
    query, key = rng.standard_normal((2, 1, E)), rng.standard_normal((2, 1, 3))
    padding = fw.tensor([[False, True]])
    leaves = tuple(fw.tensor(a, requires_grad=True) for a in (query, key))
    assert fw.autograd.gradgradcheck(
        lambda q, k: module(q, k, q * 2, need_weights=need_weights, key_padding_mask=padding)[0], leaves)


def test_unbatched_and_self_attention(rng):
    """2-D inputs (a 3-D mask is then (num_heads, L, S)); q is k is v takes the one packed projection."""
    module = _build({})
    x = rng.standard_normal((L, E))
    mask = rng.random((H, L, L)) < 0.4
    mask[..., 0] = False
    padding = np.array([False, False, True, False])
    for need_weights in (True, False):
        xt = fw.tensor(x)
        out, weights = module(xt, xt, xt, key_padding_mask=fw.tensor(padding), attn_mask=fw.tensor(mask),
                              need_weights=need_weights)
        expected, expected_w = ref.mha(x, x, x, _params(module), H, padding, mask)
        assert out.shape == (L, E)
        assert_close(out, expected, "float64", **TOL["float64"])
        if need_weights:
            assert weights.shape == (L, L)
            assert_close(weights, expected_w, "float64", **TOL["float64"])


@pytest.mark.parametrize("device", DEVICES)
def test_causal_hint(device, rng):
    """is_causal with the causal mask: the kernels' own causal path (need_weights=False) and the explicit
    mask (need_weights=True) agree with the reference; the hint needs the mask, as in PyTorch."""
    dtype = "float64" if device == "cpu" else "float32"
    module = _build(dict(batch_first=True), device, dtype)
    x = rng.standard_normal((N, L, E))
    causal = fw.nn.Transformer.generate_square_subsequent_mask(L, dtype=getattr(fw, dtype), device=device)
    expected = ref.mha(x, x, x, _params(module), H, attn_mask=np.triu(np.ones((L, L), bool), 1),
                       batch_first=True)[0]
    xt = fw.tensor(x, dtype=getattr(fw, dtype), device=device)
    for need_weights in (False, True):
        out = module(xt, xt, xt, attn_mask=causal, is_causal=True, need_weights=need_weights)[0]
        assert_close(out, expected, dtype, **TOL[dtype], what=f"need_weights={need_weights}")
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        module(xt, xt, xt, is_causal=True, need_weights=False)


def test_functional_matches_the_module(rng):
    module = _build(dict(add_bias_kv=True))
    q, k, v = (fw.tensor(a) for a in _inputs(rng, {}, False))
    out, weights = module(q, k, v)
    f_out, f_weights = F.multi_head_attention_forward(
        q, k, v, E, H, module.in_proj_weight, module.in_proj_bias, module.bias_k, module.bias_v, False, 0.0,
        module.out_proj.weight, module.out_proj.bias)
    assert_close(f_out, out, "float64", rtol=0, atol=0)
    assert_close(f_weights, weights, "float64", rtol=0, atol=0)


@pytest.mark.parametrize("need_weights", [True, False])
def test_dropout_only_while_training(need_weights, rng):
    """dropout=1 drops every weight while training, leaving out_proj's bias; eval mode does not drop."""
    module = _build(dict(dropout=1.0))
    q, k, v = (fw.tensor(a) for a in _inputs(rng, {}, False))
    out = module(q, k, v, need_weights=need_weights)[0]
    assert_close(out, np.broadcast_to(_params(module)["out_proj.bias"], (L, N, E)), "float64")
    module.eval()
    expected = ref.mha(*(a.numpy() for a in (q, k, v)), _params(module), H)[0]
    assert_close(module(q, k, v, need_weights=need_weights)[0], expected, "float64", **TOL["float64"])


def test_static_key_and_value(rng):
    """static_k/static_v (N * num_heads, S, head_dim) replace the projected key and value."""
    module = _build({})
    q, k, v = (fw.tensor(a) for a in _inputs(rng, {}, False))
    w_k, w_v = module.in_proj_weight.chunk(3)[1:]
    b_k, b_v = module.in_proj_bias.chunk(3)[1:]
    heads = lambda x: x.reshape(S, N * H, E // H).transpose(0, 1)  # noqa: E731
    static_k, static_v = heads(F.linear(k, w_k, b_k)), heads(F.linear(v, w_v, b_v))
    args = (E, H, module.in_proj_weight, module.in_proj_bias, None, None, False, 0.0, module.out_proj.weight,
            module.out_proj.bias)
    for need_weights in (True, False):
        expected = module(q, k, v, need_weights=need_weights)[0]
        out = F.multi_head_attention_forward(q, k, v, *args, need_weights=need_weights, static_k=static_k,
                                             static_v=static_v)[0]
        assert_close(out, expected, "float64", **TOL["float64"])
    with pytest.raises(AssertionError, match="expecting static_k.size\\(0\\) of 4, but got 2"):
        F.multi_head_attention_forward(q, k, v, *args, static_k=static_k[:2], static_v=static_v)


@pytest.mark.uses_random
@pytest.mark.parametrize("need_weights", [True, False])
def test_training_dropout_draws_torchs_stream(need_weights, rng):
    """Dropout on the attention weights (F.dropout, or scaled_dot_product_attention's) draws PyTorch's CPU
    stream: after the same seed, PyTorch's outputs and gradients."""
    if torch is None:
        pytest.skip("PyTorch is not importable: no stream to compare with")
    module = _build(dict(dropout=0.4))
    twin = _torch_twin(module, dict(dropout=0.4))
    arrays = _inputs(rng, {}, False)
    leaves = [fw.tensor(a, requires_grad=True) for a in arrays]
    t_leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    fw.manual_seed(3)
    out = module(*leaves, need_weights=need_weights)[0]
    torch.manual_seed(3)
    t_out = twin(*t_leaves, need_weights=need_weights)[0]
    assert_close(out, t_out, "float64", **TOL["float64"])
    out.sum().backward()
    t_out.sum().backward()
    for ours, theirs in zip(leaves, t_leaves):
        assert_close(ours.grad, theirs.grad, "float64", **TOL["float64"])


# ---- parameters, initialisation, printing ------------------------------------------------------------------------

KEYS = {
    "default": (dict(), ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]),
    "kdim": (dict(kdim=3, vdim=5), ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                                    "out_proj.weight", "out_proj.bias"]),
    "bias-kv": (dict(add_bias_kv=True), ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                                         "out_proj.bias"]),
    "no-bias": (dict(bias=False), ["in_proj_weight", "out_proj.weight"]),
}


@pytest.mark.parametrize("case", KEYS)
def test_state_dict_keys_and_seeded_initialisation(case):
    kwargs, keys = KEYS[case]
    fw.manual_seed(11)
    module = fw.nn.MultiheadAttention(E, H, **kwargs)
    state = module.state_dict()
    assert list(state) == keys
    assert module.in_proj_weight is None if "kdim" in kwargs else module.q_proj_weight is None
    if "in_proj_bias" in keys:  # zeros, as PyTorch's _reset_parameters leaves them
        assert not state["in_proj_bias"].any() and not state["out_proj.bias"].any()
    if torch is None:
        return
    torch.manual_seed(11)
    twin = torch.nn.MultiheadAttention(E, H, **kwargs)
    assert list(twin.state_dict()) == keys
    for key, value in twin.state_dict().items():
        assert tuple(state[key].shape) == tuple(value.shape), key
        assert_same_draws(state[key], value, what=key)


def test_repr_and_attributes():
    module = fw.nn.MultiheadAttention(E, H, kdim=3, batch_first=True)
    assert repr(module) == ("MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, "
                            "out_features=8, bias=True)\n)")
    assert isinstance(module.out_proj, fw.nn.Linear)
    assert (module.embed_dim, module.num_heads, module.head_dim, module.kdim, module.vdim) == (8, 2, 4, 3, 8)
    assert module._qkv_same_embed_dim is False and module.batch_first is True
    if torch is not None:
        assert repr(module) == repr(torch.nn.MultiheadAttention(E, H, kdim=3, batch_first=True))


def test_loads_a_torch_state_dict_and_matches_in_eval():
    """PyTorch's weights, loaded as arrays, give PyTorch's outputs (its eval fast path included)."""
    if torch is None:
        pytest.skip("PyTorch is not importable: no state dict to load")
    torch.manual_seed(0)
    twin = torch.nn.MultiheadAttention(E, H, batch_first=True).eval()
    module = fw.nn.MultiheadAttention(E, H, batch_first=True).eval()
    module.load_state_dict({k: fw.tensor(v.numpy()) for k, v in twin.state_dict().items()})
    x = torch.randn(N, L, E)
    padding = torch.tensor([[False, False, True, True], [False, False, False, False]])
    with torch.no_grad():
        t_out, t_weights = twin(x, x, x, key_padding_mask=padding)
    out, weights = module(*[fw.tensor(x.numpy())] * 3, key_padding_mask=fw.tensor(padding.numpy()))
    assert_close(out, t_out, "float32", rtol=1e-5, atol=1e-6)
    assert_close(weights, t_weights, "float32", rtol=1e-5, atol=1e-6)


# ---- errors and warnings -----------------------------------------------------------------------------------------

def _both(call):
    """call(module, zeros) for each framework: its nn.MultiheadAttention(8, 2) and its zero-filled tensors."""
    def run(lib):
        module = lib.nn.MultiheadAttention(E, H)
        return lambda: call(module, lambda *shape, dtype="float32": lib.zeros(*shape, dtype=getattr(lib, dtype)))
    return run(fw), (run(torch) if torch is not None else None)


ERRORS = [
    ("4-D query", lambda m, z: m(z(1, 2, 3, 8), z(1, 2, 3, 8), z(1, 2, 3, 8)),
     "query should be unbatched 2D or batched 3D tensor but received 4-D query tensor"),
    ("2-D key with 3-D query", lambda m, z: m(z(4, 2, 8), z(5, 8), z(5, 8)),
     "expected `key` and `value` to be 3-D but found 2-D and 2-D"),
    ("wrong 2-D mask", lambda m, z: m(z(4, 2, 8), z(5, 2, 8), z(5, 2, 8), attn_mask=z(4, 4)),
     "The shape of the 2D attn_mask is"),
    ("wrong 3-D mask", lambda m, z: m(z(4, 2, 8), z(5, 2, 8), z(5, 2, 8), attn_mask=z(2, 4, 5)),
     "The shape of the 3D attn_mask is"),
    ("1-D mask", lambda m, z: m(z(4, 2, 8), z(5, 2, 8), z(5, 2, 8), attn_mask=z(5)),
     "expected `attn_mask` to be `None`, 2-D or 3-D but found 1-D tensor instead"),
    ("padding length", lambda m, z: m(z(4, 2, 8), z(5, 2, 8), z(5, 2, 8), key_padding_mask=z(2, 4)),
     "Expected key_padded_mask.shape[1] to be 5, but got 4"),
    ("padding batch", lambda m, z: m(z(4, 2, 8), z(5, 2, 8), z(5, 2, 8), key_padding_mask=z(3, 5)),
     "Expected key_padded_mask.shape[0] to be 2, but got 3"),
    ("integer mask", lambda m, z: m(z(4, 2, 8), z(5, 2, 8), z(5, 2, 8), attn_mask=z(4, 5, dtype="int64")),
     "only bool and floating types of attn_mask are supported"),
    ("embedding size", lambda m, z: m(z(4, 2, 6), z(5, 2, 6), z(5, 2, 6)),
     "was expecting embedding dimension of 8, but got 6"),
    ("key and value shapes", lambda m, z: m(z(4, 2, 8), z(5, 2, 8), z(6, 2, 8)),
     "does not match value shape"),
    ("causal hint without mask", lambda m, z: m(z(4, 2, 8), z(4, 2, 8), z(4, 2, 8), is_causal=True),
     "Need attn_mask if specifying the is_causal hint"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_like_torch(case):
    _, call, match = case
    ours, theirs = _both(call)
    raises_like_torch(ours, theirs, match=match)


def test_constructor_errors_like_torch():
    raises_like_torch(lambda: fw.nn.MultiheadAttention(10, 3), lambda: torch.nn.MultiheadAttention(10, 3),
                      match="embed_dim must be divisible by num_heads")
    with pytest.raises(AssertionError):
        fw.nn.MultiheadAttention(10, 3)
    raises_like_torch(lambda: fw.nn.MultiheadAttention(0, 2), lambda: torch.nn.MultiheadAttention(0, 2),
                      match="embed_dim and num_heads must be greater than 0, got embed_dim=0 and num_heads=2")


def test_mismatched_mask_types_warn():
    module = fw.nn.MultiheadAttention(E, H)
    x = fw.zeros(L, N, E)
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask is deprecated"):
        module(x, x, x, key_padding_mask=fw.zeros(N, L, dtype=fw.bool), attn_mask=fw.zeros(L, L))


def test_autocast_bfloat16_on_cpu(rng):
    """Under autocast the projections run in bfloat16 (PyTorch's outputs are bfloat16 too) and backward runs."""
    module = _build({}, dtype="float32")
    x = fw.tensor(rng.standard_normal((L, N, E)), dtype=fw.float32, requires_grad=True)
    mask = fw.tensor(np.triu(np.ones((L, L), bool), 1))
    for need_weights in (True, False):
        with fw.autocast("cpu", dtype=fw.bfloat16):
            out, weights = module(x, x, x, attn_mask=mask, need_weights=need_weights)
        assert out.dtype is fw.bfloat16
        assert weights is None or weights.dtype is fw.bfloat16
        expected = ref.mha(*[x.detach().numpy()] * 3, _params(module), H, attn_mask=mask.numpy())[0]
        assert_close(out, expected, "bfloat16", rtol=5e-2, atol=5e-2)
        out.float().sum().backward()
        assert x.grad is not None and x.grad.dtype is fw.float32
