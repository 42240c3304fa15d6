"""Convolutional networks: `ConvNet` (Conv-BatchNorm-ReLU-MaxPool blocks, then a Linear layer), and its builder
trained on the 8x8 digits."""
from .. import nn
from .pretrained import load_pretrained
from .registry import register


class ConvNet(nn.Module):
    """A small CNN: per entry of `channels` a 3x3 convolution (padding 1, no bias: the batch norm after it has
    one), BatchNorm2d, ReLU and 2x2 max pooling, each block halving the image; then a Linear layer from the
    flattened features to `num_classes` logits.

    Input: images (N, in_channels, image_size, image_size). Its state dict names are PyTorch's for the same
    module (`features.0.weight`, `features.1.running_mean`, ..., `classifier.weight`), so weights move between
    the two as they are.
    """

    def __init__(self, in_channels=1, num_classes=10, channels=(16, 32), image_size=8):
        super().__init__()
        if image_size % (1 << len(channels)):
            raise ValueError(f"ConvNet: image_size {image_size} must be divisible by 2**{len(channels)} "
                             f"(each of the {len(channels)} blocks halves it)")
        layers, width = [], in_channels
        for size in channels:
            layers += [nn.Conv2d(width, size, 3, padding=1, bias=False), nn.BatchNorm2d(size), nn.ReLU(),
                       nn.MaxPool2d(2)]
            width = size
        side = image_size >> len(channels)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * side * side, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


@register
def digits_cnn(pretrained=False, device=None):
    r"""A small CNN for the 8x8 handwritten digits: two blocks of 3x3 convolution (16, then 32 channels),
    BatchNorm2d, ReLU and 2x2 max pooling (8x8 -> 4x4 -> 2x2), then Linear(128, 10). 6,138 parameters.

    Input: images (N, 1, 8, 8) of pixel values in [0, 1] (scikit-learn's `load_digits().images / 16`,
    i.e. `digits_mlp`'s 64 values reshaped), float32. Output: 10 logits, one per digit.

    Data: as `digits_mlp`'s: 1438 of scikit-learn's 1797 digits to train on, 359 held out by
    `examples/train.py`'s `digits_split()` (permutation seed 0).

    Training (Adam, lr 0.01, batch 32, shuffled, cross-entropy, 10 epochs, seed 0) on the machine that
    trained `digits_mlp` (numpy's and OpenBLAS's kernels as there), with one BLAS thread, ~30 s on two
    cores shared with other work (load ~9):

        OPENBLAS_NUM_THREADS=1 python examples/train_cnn.py --epochs 10 --batch-size 32 --lr 0.01 \
            --channels 16 32 --seed 0 --save-weights framework/models/weights/digits_cnn.safetensors

    Held-out accuracy: 0.9972 (358 of 359 digits).

    Reproducible as `digits_mlp`'s (tests/models/test_retrain.py), with the one BLAS thread: OpenBLAS
    splits the convolutions' matmuls (N*8*8 columns) between threads, and two threads round differently
    (weights up to 1.5e-5 apart after training, the same held-out accuracy). Weights:
    `weights/digits_cnn.safetensors`, 27 KB, its SHA-256 in `weights/digits_cnn.sha256`. The batch norms'
    running statistics are part of the state dict: call `model.eval()` before predicting (as PyTorch's
    pre-trained models need).

    pretrained and device as `digits_mlp` (a folder must hold `digits_cnn.safetensors`).
    """
    model = load_pretrained(ConvNet(1, 10, (16, 32), 8), "digits_cnn", pretrained)
    return model if device is None else model.to(device)
