"""A small character-level GPT: `CharGPT` (a decoder-only transformer), its fixed character vocabulary, and the
builder `stdlib_char_gpt` trained on Python's own standard library by examples/train_gpt.py."""
import math

import numpy as np

from .. import arange, cat, multinomial, nn, no_grad, topk
from ..nn import functional as F
from .pretrained import load_pretrained
from .registry import register

# The vocabulary: newline and the 95 printable ASCII characters (space to "~"), in code point order. It is fixed,
# not read off a corpus, so the shipped weights encode and decode text the same way on every Python version; any
# other character (a tab, "é", "\r") is read as FALLBACK, as `str.encode("ascii", "replace")` does.
VOCAB = "\n" + "".join(chr(code) for code in range(32, 127))
FALLBACK = "?"
_CODE_TO_TOKEN = np.full(128, VOCAB.index(FALLBACK), np.int64)
_CODE_TO_TOKEN[[ord(char) for char in VOCAB]] = np.arange(len(VOCAB))


def encode(text):
    """The token ids of `text` (int64 numpy array, one per character; see VOCAB)."""
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    return np.where(codes < 128, _CODE_TO_TOKEN[np.minimum(codes, 127)], _CODE_TO_TOKEN[ord(FALLBACK)])


def decode(tokens):
    """The text of token ids `tokens` (a sequence of ints, a numpy array or a 1-D tensor)."""
    tokens = tokens.tolist() if hasattr(tokens, "tolist") else tokens
    return "".join(VOCAB[int(token)] for token in tokens)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position i sees positions <= i: one Linear makes queries, keys and values
    for every head, F.scaled_dot_product_attention(is_causal=True) mixes them, one Linear projects back."""

    def __init__(self, dim, heads):
        super().__init__()
        if dim % heads:
            raise ValueError(f"CausalSelfAttention: dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        batch, length, dim = x.shape
        # (batch, length, 3 * dim) -> three (batch, heads, length, head_dim)
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    """A pre-norm transformer block: x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)), the MLP 4x wide with
    GELU's tanh approximation (GPT-2's)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = CausalSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CharGPT(nn.Module):
    """A decoder-only transformer over characters (GPT-2's layout, small): token and position embeddings, `layers`
    pre-norm blocks (causal self-attention with `heads` heads, then a 4x MLP), a final LayerNorm, and a linear head
    to `vocab_size` logits whose weight is the token embedding's (tied: one tensor, in the state dict under both
    names as PyTorch's tied modules list it, stored once by framework.save).

    Input: token ids (batch, length), int64, length <= `context`. Output: logits (batch, length, vocab_size) for
    each position's next token. Initialisation as GPT-2's: weights N(0, 0.02), the projections that write into the
    residual stream N(0, 0.02 / sqrt(2 * layers)), biases zero.
    """

    def __init__(self, vocab_size=len(VOCAB), context=64, dim=64, layers=3, heads=4):
        super().__init__()
        self.context = context
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Embedding(context, dim)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:  # the two layers that add into the residual stream, once per block each
            for layer in (block.attention.proj, block.mlp[2]):
                nn.init.normal_(layer.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, tokens):
        length = tokens.shape[1]
        if length > self.context:
            raise ValueError(f"CharGPT: a sequence of {length} tokens is longer than the context, {self.context}")
        positions = arange(length, device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        return self.head(self.norm(self.blocks(x)))

    def generate(self, tokens, new_tokens, temperature=1.0, top_k=None, generator=None):
        """`tokens` (batch, length) followed by `new_tokens` sampled one at a time, each from the softmax of the
        last position's logits / `temperature`, restricted to the `top_k` likeliest tokens when given. The model
        sees the last `context` tokens. Draws on the CPU from `generator` (a framework.Generator; the default
        generator when None), whatever the model's device: the same seed gives the same text on every device
        (where the probabilities agree to float32 rounding)."""
        if temperature <= 0:
            raise ValueError(f"CharGPT.generate: temperature must be positive, got {temperature}")
        with no_grad():
            for _ in range(new_tokens):
                logits = self(tokens[:, -self.context:])[:, -1, :].float() / temperature
                if top_k is not None:
                    kth = topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probabilities = F.softmax(logits, dim=-1).cpu()
                drawn = multinomial(probabilities, 1, generator=generator)
                tokens = cat([tokens, drawn.to(tokens.device)], dim=1)
        return tokens


@register
def stdlib_char_gpt(pretrained=False, device=None):
    r"""A character-level GPT trained on Python's standard library source: CharGPT with 3 blocks of width 64, 4
    heads of 16, context 64, GELU (tanh) MLPs 256 wide, the head tied to the token embedding. 160,320 parameters.

    Input: token ids (batch, length <= 64), int64, from `framework.models.gpt.encode(text)` (the fixed VOCAB:
    newline and printable ASCII, anything else read as "?"). Output: logits (batch, length, 96) for each
    position's next character; `model.generate(tokens, n, temperature, top_k, generator)` samples text and
    `framework.models.gpt.decode` turns it back into a string.

    Data: the 32 modules `examples/train_gpt.py` lists (STDLIB_FILES, argparse to weakref) of Python
    3.11.7's standard library, 1.64 M characters; each file's last tenth (from a line start) held out,
    1,476,327 characters trained on, 165,113 held out.

    Training (AdamW, lr 3e-3 warmed up over 100 steps then cosine-decayed to 3e-4, betas (0.9, 0.95), weight
    decay 0.1 on the matrices and embeddings, batches of 16 random windows of 64 characters, 3000 steps, seed
    0), 212 to 248 s (two runs, the same weights bit for bit) on two cores shared with other work (AMD EPYC,
    numpy 2.4.6, OpenBLAS 0.3.31, one BLAS thread):

        OPENBLAS_NUM_THREADS=1 python examples/train_gpt.py --steps 3000 --batch-size 16 --context 64 --dim 64 \
            --layers 3 --heads 4 --lr 3e-3 --seed 0 --save-weights framework/models/weights/stdlib_char_gpt.safetensors

    Validation loss: 1.3696 nats per character (Python 3.11.7's corpus; the example's evaluation: 256 windows of
    64 characters spread evenly over the held-out text). For scale: the characters' frequencies alone (a unigram
    model) score 3.05 on the held-out text, a uniform guess 4.56 (ln 96).

    Weights: `weights/stdlib_char_gpt.safetensors`, 648 KB (the tied tensor stored once), SHA-256 in
    `weights/stdlib_char_gpt.sha256`.

    pretrained and device as `digits_mlp`'s (a folder must hold `stdlib_char_gpt.safetensors`).
    """
    model = load_pretrained(CharGPT(len(VOCAB), context=64, dim=64, layers=3, heads=4), "stdlib_char_gpt", pretrained)
    return model if device is None else model.to(device)
