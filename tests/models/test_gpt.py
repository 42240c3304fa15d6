"""framework.models.gpt: the fixed character vocabulary, CharGPT (its layout, weight tying, PyTorch's logits for
the same state dict, sampling) and the shipped stdlib_char_gpt, held to the validation loss its docstring states."""
import re
import sys

import numpy as np
import pytest

import framework
from framework.models import CharGPT, get_model, stdlib_char_gpt
from framework.models.gpt import FALLBACK, VOCAB, decode, encode
from framework.models.pretrained import WEIGHTS_DIR
from helpers import example_module, requires_torch, torch

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not framework.cuda.is_available(), reason="no cuda device (no GPU, and TRITON_INTERPRET is not 1)"))]


def test_vocabulary_is_newline_and_printable_ascii_anything_else_the_fallback():
    assert len(VOCAB) == 96 and VOCAB[0] == "\n" and VOCAB[1:] == "".join(map(chr, range(32, 127)))
    text = "def f(x):\n    return x ** 2  # ~`{}|\\"
    assert decode(encode(text)) == text and encode(text).dtype == np.int64
    assert decode(encode("\tcafé\r\n€")) == "?caf??\n?" and FALLBACK == "?"
    assert decode(framework.tensor([70, 71])) == "ef" and encode("").shape == (0,)


def documented_validation_loss():
    """The training command and the validation loss stdlib_char_gpt's docstring states, and the Python it ran on."""
    doc = stdlib_char_gpt.__doc__.replace("\\\n", " ")
    command = re.search(r"^\s*(?:\w+=\S+ )*python (examples/train_gpt\.py .*)$", doc, re.MULTILINE).group(1)
    loss, python = re.search(r"Validation loss: (\d\.\d{4}) nats per character \(Python (\d+\.\d+\.\d+)", doc).groups()
    return command.split(), float(loss), python


@pytest.fixture(scope="module")
def train_gpt():
    pytest.importorskip("tqdm", reason="examples/train_gpt.py draws a progress bar (the `examples` extra)")
    return example_module("train_gpt")


def test_pretrained_model_reaches_its_documented_validation_loss(train_gpt):
    """The shipped weights on the held-out tenth of the corpus, through the example's own evaluation (256 windows
    of 64 characters). On the Python that trained them the corpus is the same text: the loss to its 4 decimals
    (float32 rounding between BLAS kernels moves it by ~1e-6). Elsewhere the same modules' text differs a little."""
    command, loss, python = documented_validation_loss()
    args = train_gpt.parse_args(command[1:])
    _, validation, _ = train_gpt.stdlib_corpus()
    model = get_model("stdlib_char_gpt", pretrained=True)
    measured = train_gpt.validation_loss(model, validation, args.context, args.eval_windows)
    if sys.version.split()[0] == python:
        assert measured == pytest.approx(loss, abs=6e-5)
    else:
        assert measured < loss + 0.15, f"Python {sys.version.split()[0]}'s corpus, not {python}'s"


@pytest.mark.parametrize("device", DEVICES)
def test_pretrained_model_completes_python(device):
    """Greedy decoding (top-k 1) of the shipped model continues a method's signature as the stdlib often does."""
    model = stdlib_char_gpt(pretrained=True, device=device)
    assert {p.device.type for p in model.parameters()} == {device}
    prompt = framework.from_numpy(encode("    def __init__(self")).reshape(1, -1).to(device)
    completion = decode(model.generate(prompt, 6, top_k=1)[0, prompt.shape[1]:].cpu())
    assert completion == ", self"  # the likeliest characters, the same on every device


def test_shipped_weights_are_small_and_tied():
    model = stdlib_char_gpt(pretrained=True)
    assert model.head.weight is model.token_embedding.weight  # tied: one parameter, loaded once
    count = sum(p.numel() for p in model.parameters())
    assert count == 160_320
    # the tied tensor is stored once: the file is the parameters' float32 bytes and a small header
    assert count * 4 < (WEIGHTS_DIR / "stdlib_char_gpt.safetensors").stat().st_size < count * 4 + 20_000 < 1 << 20


def test_layout_and_state_dict_names():
    model = CharGPT(context=16, dim=32, layers=2, heads=4)
    keys = list(model.state_dict())
    block = ["norm1.weight", "norm1.bias", "attention.qkv.weight", "attention.qkv.bias", "attention.proj.weight",
             "attention.proj.bias", "norm2.weight", "norm2.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight",
             "mlp.2.bias"]
    assert keys == ["token_embedding.weight", "position_embedding.weight", *(f"blocks.{i}.{k}" for i in range(2)
                                                                              for k in block),
                    "norm.weight", "norm.bias", "head.weight"]
    assert "(1): GELU(approximate='tanh')" in repr(model)
    assert model(framework.zeros(3, 16, dtype=framework.int64)).shape == (3, 16, 96)
    with pytest.raises(ValueError, match="a sequence of 17 tokens is longer than the context, 16"):
        model(framework.zeros(1, 17, dtype=framework.int64))
    with pytest.raises(ValueError, match="dim 30 must be divisible by heads 4"):
        CharGPT(dim=30, heads=4)


def test_training_updates_the_tied_weight_with_both_uses_gradients():
    framework.manual_seed(0)
    model = CharGPT(context=8, dim=16, layers=1, heads=2)
    tokens = framework.randint(0, 96, (2, 8))
    logits = model(tokens)
    framework.nn.functional.cross_entropy(logits.reshape(-1, 96), tokens.reshape(-1)).backward()
    grad = model.token_embedding.weight.grad.numpy()
    assert grad is not None and np.count_nonzero(grad.any(axis=1)) == 96  # the head reads every row
    assert len(list(model.parameters())) == len(model.state_dict()) - 1  # head.weight is not a second parameter


@requires_torch
def test_same_state_dict_gives_pytorchs_logits(rng):
    """The blocks written with PyTorch's modules under the same names load the same state dict (strict) and give
    the same logits: the layout is what the docstring says."""
    nn, F = torch.nn, torch.nn.functional

    class TorchAttention(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads, self.qkv, self.proj = heads, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

        def forward(self, x):
            n, length, dim = x.shape
            q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(n, length, dim))

    class TorchBlock(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.norm1, self.attention, self.norm2 = nn.LayerNorm(dim), TorchAttention(dim, heads), nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

        def forward(self, x):
            x = x + self.attention(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding, self.position_embedding = nn.Embedding(96, 64), nn.Embedding(64, 64)
            self.blocks = nn.Sequential(*[TorchBlock(64, 4) for _ in range(3)])
            self.norm, self.head = nn.LayerNorm(64), nn.Linear(64, 96, bias=False)
            self.head.weight = self.token_embedding.weight

        def forward(self, tokens):
            x = self.token_embedding(tokens) + self.position_embedding(torch.arange(tokens.shape[1]))
            return self.head(self.norm(self.blocks(x)))

    model = stdlib_char_gpt(pretrained=True)
    reference = TorchGPT()
    reference.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in model.state_dict().items()}, strict=True)
    tokens = rng.integers(0, 96, (3, 64))
    with torch.no_grad():
        expected = reference(torch.from_numpy(tokens)).numpy()
    with framework.no_grad():
        np.testing.assert_allclose(model(framework.from_numpy(tokens)).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_generate_is_seeded_and_top_k_one_is_greedy():
    framework.manual_seed(0)
    model = CharGPT(context=8, dim=16, layers=1, heads=2)
    prompt = framework.from_numpy(encode("def")).reshape(1, -1)

    def sample(seed, **options):
        return model.generate(prompt, 12, generator=framework.Generator().manual_seed(seed), **options).tolist()

    assert sample(3) == sample(3) != sample(4)
    assert sample(3, temperature=0.5, top_k=5) == sample(3, temperature=0.5, top_k=5)
    greedy, tokens = sample(5, top_k=1), prompt
    with framework.no_grad():
        for _ in range(12):  # past the 8-token context: the model sees the last 8
            tokens = framework.cat([tokens, model(tokens[:, -8:])[:, -1:].argmax(dim=-1)], dim=1)
    assert greedy == tokens.tolist() == sample(6, top_k=1)
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        model.generate(prompt, 1, temperature=0)
