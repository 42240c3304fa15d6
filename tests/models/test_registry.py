"""framework.models' registry: names, builders, shapes and bad input."""
import pytest

import framework
import framework.models
from framework.models import NeuralNetwork, get_model, list_models

SHAPES = {"digits_mlp": [(30, 64), (30,), (20, 30), (20,), (10, 20), (10,)],
          "digits_mlp_wide": [(128, 64), (128,), (64, 128), (64,), (10, 64), (10,)]}


def test_list_models_names_every_builder_sorted():
    assert list_models() == sorted(SHAPES)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_get_model_builds_the_named_architecture(name):
    model = get_model(name)
    assert isinstance(model, NeuralNetwork)
    assert [tuple(p.shape) for p in model.state_dict().values()] == SHAPES[name]
    assert list(model.state_dict()) == [f"layers.{i}.{kind}" for i in (0, 2, 4) for kind in ("weight", "bias")]
    assert model(framework.zeros(3, 64)).shape == (3, 10)
    assert getattr(framework.models, name).__doc__  # documented (tests/models/test_pretrained.py reads it)


def test_unknown_name_lists_the_available_models():
    with pytest.raises(ValueError, match="unknown model 'resnet50'; available models: digits_mlp, digits_mlp_wide"):
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
