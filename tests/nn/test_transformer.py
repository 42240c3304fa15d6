"""nn.TransformerEncoderLayer / TransformerDecoderLayer / TransformerEncoder / TransformerDecoder / Transformer:
values against float64 numpy references (transformer_reference.py) on every device, values and gradients against
PyTorch with the same weights (post- and pre-norm, relu and gelu, both layouts, unbatched, every mask), PyTorch's
state-dict keys and seeded initialisation (Transformer's xavier re-draw included), torch weights loaded into
framework modules giving torch's eval outputs (its nested-tensor path's zeros at padded positions included),
deep-copied layers, the causal mask, warnings, errors and autocast. cuda sizes are tiny (Triton's interpreter)."""
import contextlib
import warnings

import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, assert_close, assert_same_draws, raises_like_torch, torch
from . import transformer_reference as ref

D, H, FF, S, T, N = 8, 2, 12, 5, 4, 2
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-4, atol=2e-5)}


@contextlib.contextmanager
def _quiet():
    """Hides the nested-tensor warning of encoders built with batch_first=False (tested on its own below)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _randomise(module, seed=0):
    """Every parameter redrawn (LayerNorm's ones and zeros and the zero biases would hide mistakes)."""
    fw.manual_seed(seed)
    with fw.no_grad():
        for p in module.parameters():
            p.copy_(fw.randn(*p.shape, dtype=p.dtype).to(p.device) * 0.5)
    return module


def _params(module, prefix=""):
    return {prefix + k: v.detach().cpu().double().numpy() for k, v in module.state_dict().items()}


def _torch_twin(module, cls, *args, **kwargs):
    with _quiet():
        twin = getattr(torch.nn, cls)(*args, **kwargs).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in _params(module).items()})
    return twin


def _padding(rng, batch, length):
    mask = rng.random((batch, length)) < 0.4
    mask[:, 0] = False  # every query sees a key
    return mask


def _seq(rng, length, batch_first, batch=N):
    return rng.standard_normal((batch, length, D) if batch_first else (length, batch, D))


def _compare_with_torch(out, t_out, leaves, t_leaves, module, twin, dtype, rng):
    assert out.grad_fn.name() == t_out.grad_fn.name()
    assert_close(out, t_out, dtype, **TOL[dtype], what="output vs torch")
    grad = rng.standard_normal(tuple(t_out.shape))
    (out * fw.tensor(grad, dtype=out.dtype, device=out.device)).sum().backward()
    (t_out * torch.from_numpy(grad)).sum().backward()
    for i, (ours, theirs) in enumerate(zip(leaves, t_leaves)):
        assert_close(ours.grad, theirs.grad, dtype, **TOL[dtype], what=f"gradient of input {i}")
    t_params = dict(twin.named_parameters())
    for name, p in module.named_parameters():
        assert_close(p.grad, t_params[name].grad, dtype, **TOL[dtype], what=f"gradient of {name}")


ENCODER_CONFIGS = [
    ("post-norm-relu", dict(), dict(src_mask="bool", src_key_padding_mask="bool")),
    ("pre-norm-gelu-batch-first", dict(norm_first=True, activation="gelu", batch_first=True),
     dict(src_mask="float", src_key_padding_mask="float")),
    ("no-bias-causal", dict(bias=False, batch_first=True), dict(src_mask="causal", is_causal=True)),
]


def _encoder_masks(rng, kinds, length=S):
    masks = {}
    for name, kind in kinds.items():
        if name == "is_causal":
            continue
        if name.endswith("key_padding_mask"):
            mask = _padding(rng, N, length)
            masks[name] = mask if kind == "bool" else np.where(mask, -np.inf, rng.standard_normal(mask.shape))
        elif kind == "causal":
            masks[name] = np.triu(np.full((length, length), -np.inf), 1)
        else:
            mask = rng.random((length, length)) < 0.4
            mask[:, 0] = False
            masks[name] = mask if kind == "bool" else rng.standard_normal((length, length))
    return masks


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, kwargs, forward", ENCODER_CONFIGS, ids=[c[0] for c in ENCODER_CONFIGS])
def test_encoder_layer(name, kwargs, forward, device, rng):
    if device != "cpu" and name != "pre-norm-gelu-batch-first":
        pytest.skip("interpreted cuda runs one configuration (each op is slow there)")
    dtype = "float64" if device == "cpu" else "float32"
    layer = _randomise(fw.nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, **kwargs)).to(device, getattr(fw, dtype))
    batch_first = kwargs.get("batch_first", False)
    src = _seq(rng, S, batch_first)
    masks = _encoder_masks(rng, forward)
    leaf = fw.tensor(src, dtype=getattr(fw, dtype), device=device, requires_grad=True)
    fw_masks = {k: fw.tensor(m, device=device).to(fw.bool if m.dtype == bool else getattr(fw, dtype))
                for k, m in masks.items()}
    with _quiet():
        out = layer(leaf, **fw_masks, is_causal=forward.get("is_causal", False))
    activation = ref.gelu if kwargs.get("activation") == "gelu" else ref.relu
    expected = ref.encoder_layer(src, _params(layer), H, masks.get("src_mask"), masks.get("src_key_padding_mask"),
                                 kwargs.get("norm_first", False), activation, batch_first)
    assert_close(out, expected, dtype, **TOL[dtype], what="output vs numpy")
    if torch is None:
        return
    twin = _torch_twin(layer, "TransformerEncoderLayer", D, H, FF, dropout=0.0, **kwargs)
    t_leaf = torch.tensor(src, requires_grad=True)
    with _quiet():
        t_out = twin(t_leaf, **{k: torch.from_numpy(m) for k, m in masks.items()},
                     is_causal=forward.get("is_causal", False))
    _compare_with_torch(out, t_out, [leaf], [t_leaf], layer, twin, dtype, rng)


DECODER_CONFIGS = [
    ("post-norm", dict()),
    ("pre-norm-gelu-batch-first", dict(norm_first=True, activation="gelu", batch_first=True)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, kwargs", DECODER_CONFIGS, ids=[c[0] for c in DECODER_CONFIGS])
def test_decoder_layer(name, kwargs, device, rng):
    if device != "cpu" and name != "post-norm":
        pytest.skip("interpreted cuda runs one configuration (each op is slow there)")
    dtype = "float64" if device == "cpu" else "float32"
    layer = _randomise(fw.nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, **kwargs)).to(device, getattr(fw, dtype))
    batch_first = kwargs.get("batch_first", False)
    tgt, memory = _seq(rng, T, batch_first), _seq(rng, S, batch_first)
    memory_mask = rng.standard_normal((T, S))
    masks = dict(tgt_mask=np.triu(np.full((T, T), -np.inf), 1), memory_mask=memory_mask,
                 tgt_key_padding_mask=np.where(_padding(rng, N, T), -np.inf, 0.0),
                 memory_key_padding_mask=np.where(_padding(rng, N, S), -np.inf, 0.0))
    leaves = [fw.tensor(a, dtype=getattr(fw, dtype), device=device, requires_grad=True) for a in (tgt, memory)]
    out = layer(*leaves, **{k: fw.tensor(m, dtype=getattr(fw, dtype), device=device) for k, m in masks.items()})
    activation = ref.gelu if kwargs.get("activation") == "gelu" else ref.relu
    expected = ref.decoder_layer(tgt, memory, _params(layer), H, **masks, norm_first=kwargs.get("norm_first", False),
                                 activation=activation, batch_first=batch_first)
    assert_close(out, expected, dtype, **TOL[dtype], what="output vs numpy")
    if torch is None:
        return
    twin = _torch_twin(layer, "TransformerDecoderLayer", D, H, FF, dropout=0.0, **kwargs)
    t_leaves = [torch.tensor(a, requires_grad=True) for a in (tgt, memory)]
    t_out = twin(*t_leaves, **{k: torch.from_numpy(m) for k, m in masks.items()})
    _compare_with_torch(out, t_out, leaves, t_leaves, layer, twin, "float64" if device == "cpu" else dtype, rng)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_against_numpy_and_torch(batch_first, rng):
    """The whole model: two encoder and two decoder layers, each stack's final norm, every mask."""
    with _quiet():
        model = _randomise(fw.nn.Transformer(D, H, 2, 2, FF, dropout=0.0, batch_first=batch_first)).double()
    src, tgt = _seq(rng, S, batch_first), _seq(rng, T, batch_first)
    src_mask = rng.standard_normal((S, S))
    masks = dict(src_mask=src_mask, tgt_mask=fw.nn.Transformer.generate_square_subsequent_mask(T).double().numpy(),
                 memory_mask=rng.random((T, S)) < 0.3, src_key_padding_mask=_padding(rng, N, S),
                 tgt_key_padding_mask=_padding(rng, N, T), memory_key_padding_mask=_padding(rng, N, S))
    masks["memory_mask"][:, 0] = False
    leaves = [fw.tensor(a, requires_grad=True) for a in (src, tgt)]
    with _quiet():
        out = model(*leaves, **{k: fw.tensor(m) for k, m in masks.items()}, tgt_is_causal=True)
    p = _params(model)
    memory = src
    for i in range(2):
        memory = ref.encoder_layer(memory, p, H, src_mask, np.where(masks["src_key_padding_mask"], -np.inf, 0.0),
                                   batch_first=batch_first, prefix=f"encoder.layers.{i}.")
    memory = ref.layer_norm(memory, p, "encoder.norm")
    x = tgt
    for i in range(2):
        x = ref.decoder_layer(x, memory, p, H, masks["tgt_mask"], masks["memory_mask"],
                              masks["tgt_key_padding_mask"], masks["memory_key_padding_mask"],
                              batch_first=batch_first, prefix=f"decoder.layers.{i}.")
    assert_close(out, ref.layer_norm(x, p, "decoder.norm"), "float64", **TOL["float64"], what="output vs numpy")
    if torch is None:
        return
    twin = _torch_twin(model, "Transformer", D, H, 2, 2, FF, dropout=0.0, batch_first=batch_first)
    t_leaves = [torch.tensor(a, requires_grad=True) for a in (src, tgt)]
    with _quiet():
        t_out = twin(*t_leaves, **{k: torch.from_numpy(m) for k, m in masks.items()}, tgt_is_causal=True)
    _compare_with_torch(out, t_out, leaves, t_leaves, model, twin, "float64", rng)


def test_unbatched_inputs(rng):
    with _quiet():
        model = _randomise(fw.nn.Transformer(D, H, 1, 1, FF, dropout=0.0)).double()
    src, tgt = rng.standard_normal((S, D)), rng.standard_normal((T, D))
    out = model(fw.tensor(src), fw.tensor(tgt), tgt_mask=model.generate_square_subsequent_mask(T).double())
    batched = model(fw.tensor(src[:, None]), fw.tensor(tgt[:, None]),
                    tgt_mask=model.generate_square_subsequent_mask(T).double())
    assert out.shape == (T, D)
    assert_close(out, batched[:, 0], "float64", **TOL["float64"])


@pytest.mark.uses_random
def test_training_dropout_draws_torchs_stream(rng):
    """In training, dropout (attention weights through scaled_dot_product_attention, the residual branches and
    the feed-forward block) draws PyTorch's CPU stream in PyTorch's order: after the same seed, the same outputs
    and gradients."""
    if torch is None:
        pytest.skip("PyTorch is not importable: no stream to compare with")
    with _quiet():
        model = _randomise(fw.nn.Transformer(D, H, 1, 1, FF, dropout=0.3)).double()
    src, tgt = _seq(rng, S, False), _seq(rng, T, False)
    twin = _torch_twin(model, "Transformer", D, H, 1, 1, FF, dropout=0.3)
    leaves = [fw.tensor(a, requires_grad=True) for a in (src, tgt)]
    t_leaves = [torch.tensor(a, requires_grad=True) for a in (src, tgt)]
    fw.manual_seed(17)
    out = model(*leaves, tgt_mask=model.generate_square_subsequent_mask(T).double())
    torch.manual_seed(17)
    t_out = twin(*t_leaves, tgt_mask=twin.generate_square_subsequent_mask(T).double())
    _compare_with_torch(out, t_out, leaves, t_leaves, model, twin, "float64", rng)
    model.eval()
    assert not np.allclose(model(*leaves).detach().numpy(), out.detach().numpy())


# ---- construction: keys, initialisation, copies, printing ------------------------------------------------------

def test_state_dict_keys_and_seeded_initialisation():
    """The same keys in PyTorch's order, and after the same seed the same weights (Transformer re-draws every
    matrix xavier-uniform after the layers' own initialisation)."""
    fw.manual_seed(21)
    with _quiet():
        model = fw.nn.Transformer(D, H, 2, 1, FF)
    state = model.state_dict()
    keys = list(state)
    for key in ("encoder.layers.0.self_attn.in_proj_weight", "encoder.layers.1.self_attn.out_proj.bias",
                "encoder.layers.1.linear1.weight", "encoder.layers.1.norm2.bias", "encoder.norm.weight",
                "decoder.layers.0.multihead_attn.in_proj_bias", "decoder.layers.0.norm3.weight",
                "decoder.norm.bias"):
        assert key in keys, key
    assert len(keys) == 2 * 12 + 2 + 18 + 2
    if torch is None:
        return
    torch.manual_seed(21)
    with _quiet():
        twin = torch.nn.Transformer(D, H, 2, 1, FF)
    assert keys == list(twin.state_dict())
    for key, value in twin.state_dict().items():
        assert_same_draws(state[key], value, what=key)


def test_encoder_copies_its_layer():
    layer = fw.nn.TransformerEncoderLayer(D, H, FF)
    with _quiet():
        encoder = fw.nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
    assert len(encoder.layers) == 3 and encoder.num_layers == 3 and encoder.norm is None
    assert all(m is not layer for m in encoder.layers)
    first, second = encoder.layers[0].linear1.weight, encoder.layers[1].linear1.weight
    assert first is not second and bool((first == second).all())
    with fw.no_grad():
        first.add_(1.0)
    assert bool((second == layer.linear1.weight).all())


def test_repr_matches_torch():
    layer = fw.nn.TransformerDecoderLayer(D, H, FF, activation="gelu")
    text = repr(layer)
    assert text.startswith("TransformerDecoderLayer(\n  (self_attn): MultiheadAttention(\n    (out_proj): "
                           "NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n  )\n")
    assert "(norm3): LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)" in text
    if torch is not None:
        assert text == repr(torch.nn.TransformerDecoderLayer(D, H, FF, activation="gelu"))
        with _quiet():
            assert repr(fw.nn.Transformer(D, H, 1, 1, FF)) == repr(torch.nn.Transformer(D, H, 1, 1, FF))


def test_defaults_and_activations():
    with _quiet():
        model = fw.nn.Transformer()
    assert (model.d_model, model.nhead, model.batch_first) == (512, 8, False)
    assert len(model.encoder.layers) == 6 and len(model.decoder.layers) == 6
    layer = model.encoder.layers[0]
    assert layer.linear1.out_features == 2048 and layer.dropout.p == 0.1 and layer.norm1.eps == 1e-5
    assert layer.activation is fw.nn.functional.relu and layer.activation_relu_or_gelu == 1
    assert fw.nn.TransformerEncoderLayer(D, H, activation="gelu").activation is fw.nn.functional.gelu
    assert fw.nn.TransformerEncoderLayer(D, H, activation=fw.nn.GELU()).activation_relu_or_gelu == 2
    assert fw.nn.TransformerEncoderLayer(D, H, activation=fw.tanh).activation_relu_or_gelu == 0


def test_custom_callable_activation(rng):
    layer = _randomise(fw.nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, activation=fw.tanh)).double()
    src = rng.standard_normal((S, N, D))
    expected = ref.encoder_layer(src, _params(layer), H, activation=np.tanh)
    assert_close(layer(fw.tensor(src)), expected, "float64", **TOL["float64"])


def test_generate_square_subsequent_mask():
    mask = fw.nn.Transformer.generate_square_subsequent_mask(4)
    expected = np.triu(np.full((4, 4), -np.inf), 1)
    assert mask.dtype is fw.float32
    np.testing.assert_array_equal(mask.numpy(), expected)
    assert fw.nn.Transformer.generate_square_subsequent_mask(3, dtype=fw.float64).dtype is fw.float64
    if torch is not None:
        np.testing.assert_array_equal(mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())


# ---- eval mode with PyTorch's weights --------------------------------------------------------------------------

def _loaded_encoder(norm_first=False):
    torch.manual_seed(0)
    with _quiet():
        twin = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, H, FF, batch_first=True,
                                                                            norm_first=norm_first), 2,
                                           norm=torch.nn.LayerNorm(D)).eval()
        module = fw.nn.TransformerEncoder(fw.nn.TransformerEncoderLayer(D, H, FF, batch_first=True,
                                                                        norm_first=norm_first), 2,
                                          norm=fw.nn.LayerNorm(D)).eval()
    module.load_state_dict({k: fw.tensor(v.numpy()) for k, v in twin.state_dict().items()})
    return twin, module


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
@pytest.mark.parametrize("norm_first", [False, True])
def test_torch_weights_give_torch_eval_outputs(norm_first):
    """Loaded weights reproduce PyTorch's eval outputs, under no_grad (its fast paths, and with left-aligned
    padding its nested tensors: padded positions come out as zeros before the norm) and with grad enabled."""
    if torch is None:
        pytest.skip("PyTorch is not importable: no weights to load")
    twin, module = _loaded_encoder(norm_first)
    src = torch.randn(3, S, D)
    paddings = [torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]).bool(),  # left-aligned
                torch.tensor([[0, 1, 0, 1, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]).bool()]
    for padding in paddings:
        for grad in (False, True):
            with torch.set_grad_enabled(grad), fw.set_grad_enabled(grad):
                t_out = twin(src, src_key_padding_mask=padding)
                out = module(fw.tensor(src.numpy()), src_key_padding_mask=fw.tensor(padding.numpy()))
            assert_close(out, t_out.detach(), "float32", rtol=1e-5, atol=2e-6, what=f"grad={grad}")
        with torch.no_grad(), fw.no_grad():
            causal = torch.nn.Transformer.generate_square_subsequent_mask(S)
            t_out = twin(src, mask=causal)
            out = module(fw.tensor(src.numpy()), mask=fw.tensor(causal.numpy()))
        assert_close(out, t_out, "float32", rtol=1e-5, atol=2e-6, what="causal mask")


def test_nested_tensor_zeros_without_torch():
    """The rule itself, with or without torch: in eval under no_grad a left-aligned padding mask gives the final
    norm of zeros (its bias) at padded positions; with grad enabled they are computed."""
    with _quiet():
        module = _randomise(fw.nn.TransformerEncoder(fw.nn.TransformerEncoderLayer(D, H, FF, batch_first=True), 1,
                                                     norm=fw.nn.LayerNorm(D))).eval()
    src = fw.randn(2, S, D)
    padding = fw.tensor([[False, False, False, True, True], [False] * 5])
    with fw.no_grad():
        out = module(src, src_key_padding_mask=padding)
    bias = module.norm.bias.detach().numpy()
    np.testing.assert_allclose(out.numpy()[0, 3:], np.broadcast_to(bias, (2, D)), rtol=1e-6, atol=1e-6)
    assert not np.allclose(module(src, src_key_padding_mask=padding).detach().numpy()[0, 3:], bias)


# ---- warnings and errors ---------------------------------------------------------------------------------------

def test_nested_tensor_warning_like_torch():
    with pytest.warns(UserWarning, match="enable_nested_tensor is True, but self.use_nested_tensor is False because "
                                         r"encoder_layer.self_attn.batch_first was not True"):
        encoder = fw.nn.TransformerEncoder(fw.nn.TransformerEncoderLayer(D, H, FF), 1)
    assert encoder.use_nested_tensor is False and encoder.enable_nested_tensor is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fw.nn.TransformerEncoder(fw.nn.TransformerEncoderLayer(D, H, FF, batch_first=True), 1).use_nested_tensor
    with pytest.warns(UserWarning, match="encoder_layer.norm_first was True"):
        fw.nn.TransformerEncoder(fw.nn.TransformerEncoderLayer(D, H, FF, batch_first=True, norm_first=True), 1)


def test_errors_like_torch():
    def model(lib):
        with _quiet():
            return lib.nn.Transformer(D, H, 1, 1, FF)
    t_model = model(torch) if torch is not None else None
    ours = model(fw)
    raises_like_torch(lambda: ours(fw.zeros(S, 2, D), fw.zeros(T, 3, D)),
                      lambda: t_model(torch.zeros(S, 2, D), torch.zeros(T, 3, D)),
                      match="the batch number of src and tgt must be equal")
    raises_like_torch(lambda: ours(fw.zeros(S, 2, D), fw.zeros(T, 2, 6)),
                      lambda: t_model(torch.zeros(S, 2, D), torch.zeros(T, 2, 6)),
                      match="the feature number of src and tgt must be equal to d_model")
    raises_like_torch(lambda: fw.nn.TransformerEncoderLayer(D, H, activation="tanh"),
                      lambda: torch.nn.TransformerEncoderLayer(D, H, activation="tanh"),
                      match="activation should be relu/gelu, not tanh")
    raises_like_torch(lambda: fw.nn.TransformerDecoderLayer(D, 3), lambda: torch.nn.TransformerDecoderLayer(D, 3),
                      match="embed_dim must be divisible by num_heads")


def test_autocast_bfloat16_on_cpu(rng):
    with _quiet():
        model = _randomise(fw.nn.Transformer(D, H, 1, 1, FF, dropout=0.0))
    src = fw.tensor(rng.standard_normal((S, N, D)), dtype=fw.float32, requires_grad=True)
    tgt = fw.tensor(rng.standard_normal((T, N, D)), dtype=fw.float32)
    expected = model(src, tgt, tgt_mask=model.generate_square_subsequent_mask(T))
    with fw.autocast("cpu", dtype=fw.bfloat16):
        out = model(src, tgt, tgt_mask=model.generate_square_subsequent_mask(T),
                    src_key_padding_mask=fw.zeros(N, S, dtype=fw.bool))
    assert out.dtype is fw.float32  # the final LayerNorm runs in float32 under autocast, as PyTorch's
    assert_close(out, expected, "bfloat16", rtol=1e-1, atol=1e-1)
    out.sum().backward()
    assert src.grad is not None and src.grad.dtype is fw.float32
