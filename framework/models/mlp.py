"""Multilayer perceptrons: the tutorial's `NeuralNetwork`, and its builders trained on the 8x8 digits."""
from .. import nn
from .pretrained import load_pretrained
from .registry import register


class NeuralNetwork(nn.Module):
    """The tutorial's MLP: Linear-ReLU blocks, then a Linear layer giving logits.

    Its state dict names are PyTorch's for the same module (`layers.0.weight`,
    `layers.0.bias`, `layers.2.weight`, ...), so weights move between the two as they are.
    """

    def __init__(self, num_inputs, num_outputs, hidden=(30, 20)):
        super().__init__()
        layers, width = [], num_inputs
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


def _digits_mlp(name, hidden, pretrained, device):
    model = load_pretrained(NeuralNetwork(64, 10, hidden), name, pretrained)
    return model if device is None else model.to(device)


@register
def digits_mlp(pretrained=False, device=None):
    r"""The tutorial's MLP for the 8x8 handwritten digits: 64-30-20-10, ReLU between layers.

    Input: 64 pixel values in [0, 1] (scikit-learn's `load_digits().data / 16`), float32.
    Output: 10 logits, one per digit.

    Data: the 1797 digits of `sklearn.datasets.load_digits`, split by
    `examples/train.py`'s `digits_split()` (permutation seed 0): 1438 to train on,
    359 held out.

    Training (Adam, lr 0.01, batch 32, shuffled, cross-entropy, 30 epochs, seed 0) on an
    x86-64 CPU with AVX2 (numpy 2.4.6, OpenBLAS 0.3.31 with its Haswell kernels), ~8 s:

        python examples/train.py --epochs 30 --batch-size 32 --lr 0.01 --hidden 30 20 --seed 0 \
            --save-weights framework/models/weights/digits_mlp.safetensors

    Held-out accuracy: 0.9721 (349 of 359 digits).

    Re-running the command there reproduces the shipped weights bit for bit (the tensors;
    see tests/models/test_retrain.py); CPUs whose BLAS or numpy kernels round differently
    train different weights (training amplifies rounding) of about the same accuracy.
    Weights: `weights/digits_mlp.safetensors`, 12 KB, SHA-256 in `weights/digits_mlp.sha256`.

    pretrained: False (random initialisation), True (the shipped weights, SHA-256 checked),
    or a path to a safetensors state dict (ours or PyTorch's: same key names), or to a
    folder holding `digits_mlp.safetensors`. device: where to move the model (e.g. "cuda").
    """
    return _digits_mlp("digits_mlp", (30, 20), pretrained, device)


@register
def digits_mlp_wide(pretrained=False, device=None):
    r"""A wider MLP for the 8x8 handwritten digits: 64-128-64-10, ReLU between layers.

    Input, output and data as `digits_mlp`: 64 pixel values in [0, 1], 10 logits; trained
    on 1438 of scikit-learn's 1797 digits, 359 held out by `digits_split()` (seed 0).

    Training as `digits_mlp`'s (same machine), only the hidden sizes differ:

        python examples/train.py --epochs 30 --batch-size 32 --lr 0.01 --hidden 128 64 --seed 0 \
            --save-weights framework/models/weights/digits_mlp_wide.safetensors

    Held-out accuracy: 0.9833 (353 of 359 digits).

    Reproducible as `digits_mlp`'s. Weights: `weights/digits_mlp_wide.safetensors`, 70 KB,
    its SHA-256 in `weights/digits_mlp_wide.sha256`.

    pretrained and device as `digits_mlp` (a folder must hold `digits_mlp_wide.safetensors`).
    """
    return _digits_mlp("digits_mlp_wide", (128, 64), pretrained, device)
