"""framework.models' registry: names, builders, shapes and bad input."""
import pytest

import framework
import framework.models
from framework.models import ConvNet, NeuralNetwork, get_model, list_models

from .conftest import input_shape


def _mlp_keys(sizes):
    return [(f"layers.{2 * i}.{kind}", shape) for i, (k, n) in enumerate(zip(sizes, sizes[1:]))
            for kind, shape in (("weight", (n, k)), ("bias", (n,)))]


def _batch_norm_keys(prefix, n):
    return [(f"{prefix}.{kind}", shape) for kind, shape in (("weight", (n,)), ("bias", (n,)), ("running_mean", (n,)),
                                                             ("running_var", (n,)), ("num_batches_tracked", ()))]


# each model's state dict, in order: PyTorch's key names for the same modules (tests/models/test_user_weights.py
# loads files PyTorch saved)
STATE = {"digits_mlp": (NeuralNetwork, _mlp_keys((64, 30, 20, 10))),
         "digits_mlp_wide": (NeuralNetwork, _mlp_keys((64, 128, 64, 10))),
         "digits_cnn": (ConvNet, [("features.0.weight", (16, 1, 3, 3)), *_batch_norm_keys("features.1", 16),
                                  ("features.4.weight", (32, 16, 3, 3)), *_batch_norm_keys("features.5", 32),
                                  ("classifier.weight", (10, 128)), ("classifier.bias", (10,))])}


def test_list_models_names_every_builder_sorted():
    assert list_models() == sorted([*STATE, "stdlib_char_gpt"])  # the GPT's layout: tests/models/test_gpt.py


@pytest.mark.parametrize("name", sorted(STATE))
def test_get_model_builds_the_named_architecture(name):
    model = get_model(name)
    kind, keys = STATE[name]
    assert isinstance(model, kind)
    assert [(key, tuple(value.shape)) for key, value in model.state_dict().items()] == keys
    assert model(framework.zeros(3, *input_shape(name))).shape == (3, 10)
    assert getattr(framework.models, name).__doc__  # documented (tests/models/test_pretrained.py reads it)


def test_digits_cnn_is_conv_batch_norm_relu_pool_blocks_then_linear():
    assert repr(get_model("digits_cnn")) == """ConvNet(
  (features): Sequential(
    (0): Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
    (1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    (2): ReLU()
    (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    (4): Conv2d(16, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
    (5): BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    (6): ReLU()
    (7): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  )
  (classifier): Linear(in_features=128, out_features=10, bias=True)
)"""
    assert sum(p.numel() for p in get_model("digits_cnn").parameters()) == 6138


def test_convnet_needs_an_image_each_block_can_halve():
    assert ConvNet(3, 5, (8, 8, 8), image_size=16)(framework.zeros(2, 3, 16, 16)).shape == (2, 5)
    with pytest.raises(ValueError, match="image_size 12 must be divisible by 2\\*\\*3"):
        ConvNet(1, 10, (8, 8, 8), image_size=12)


def test_unknown_name_lists_the_available_models():
    with pytest.raises(ValueError, match="unknown model 'resnet50'; available models: digits_cnn, digits_mlp, "
                                         "digits_mlp_wide, stdlib_char_gpt"):
        get_model("resnet50")


def test_pretrained_must_be_a_bool_or_a_path():
    with pytest.raises(TypeError, match="pretrained must be a bool or a path.*got int"):
        get_model("digits_mlp", pretrained=1)


def test_device_cpu():
    model = get_model("digits_mlp", pretrained=True, device="cpu")
    assert {p.device.type for p in model.parameters()} == {"cpu"}


@pytest.mark.skipif(not framework.cuda.is_available(), reason="no CUDA device: device='cuda' not exercised")
def test_device_cuda():
    model = get_model("digits_mlp", pretrained=True, device="cuda")
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    assert model(framework.zeros(2, 64, device="cuda")).device.type == "cuda"
