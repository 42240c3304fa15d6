"""Weights from elsewhere: a tampered copy of a shipped file, a user's file or folder, PyTorch's files."""
import shutil

import numpy as np
import pytest
from safetensors.numpy import save_file

import framework
from framework.models import ConvNet, NeuralNetwork, get_model, load_weights
from framework.models import pretrained as pretrained_module
from framework.models.pretrained import WEIGHTS_DIR, load_pretrained
from helpers import requires_torch, torch

SHAPES = {"layers.0.weight": (30, 64), "layers.0.bias": (30,), "layers.2.weight": (20, 30), "layers.2.bias": (20,),
          "layers.4.weight": (10, 20), "layers.4.bias": (10,)}  # digits_mlp's state dict, PyTorch's key names


def _tampered_copy(folder, name="digits_mlp"):
    """`name`'s weights and .sha256 copied into `folder`, one byte of the last tensor's data flipped."""
    for suffix in (".safetensors", ".sha256"):
        shutil.copy(WEIGHTS_DIR / f"{name}{suffix}", folder / f"{name}{suffix}")
    path = folder / f"{name}.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def _parameters(model):
    return {key: value.numpy().copy() for key, value in model.state_dict().items()}


def test_tampered_file_fails_its_sha256_check_naming_the_file_and_loads_nothing(tmp_path):
    path = _tampered_copy(tmp_path)
    model = NeuralNetwork(64, 10)
    before = _parameters(model)
    with pytest.raises(RuntimeError, match=f"weights file '{path}' fails its SHA-256 check.*nothing was loaded"):
        load_pretrained(model, "digits_mlp", path)  # the .sha256 beside it is checked
    after = _parameters(model)
    assert all(np.array_equal(before[key], after[key]) for key in before)


def test_tampered_shipped_weights_fail_the_recorded_hash(tmp_path, monkeypatch):
    path = _tampered_copy(tmp_path)
    monkeypatch.setattr(pretrained_module, "WEIGHTS_DIR", tmp_path)  # as if the installed file were damaged
    with pytest.raises(RuntimeError, match=f"weights file '{path}' fails its SHA-256 check"):
        get_model("digits_mlp", pretrained=True)
    with pytest.raises(RuntimeError, match="fails its SHA-256 check"):
        load_weights(WEIGHTS_DIR / "digits_mlp.safetensors", sha256="0" * 64)  # a hash given explicitly


def test_tampered_digits_cnn_fails_its_hash_and_keeps_its_initialisation(tmp_path, monkeypatch):
    path = _tampered_copy(tmp_path, "digits_cnn")
    model = ConvNet()
    before = _parameters(model)  # the batch norms' buffers included
    with pytest.raises(RuntimeError, match=f"weights file '{path}' fails its SHA-256 check.*nothing was loaded"):
        load_pretrained(model, "digits_cnn", path)
    after = _parameters(model)
    assert all(np.array_equal(before[key], after[key]) for key in before)
    monkeypatch.setattr(pretrained_module, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(RuntimeError, match=f"weights file '{path}' fails its SHA-256 check"):
        get_model("digits_cnn", pretrained=True)


def test_shipped_weights_need_their_recorded_hash(tmp_path, monkeypatch):
    shutil.copy(WEIGHTS_DIR / "digits_mlp.safetensors", tmp_path)
    monkeypatch.setattr(pretrained_module, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(RuntimeError, match="no recorded SHA-256 for the shipped weights .*digits_mlp.sha256"):
        get_model("digits_mlp", pretrained=True)


def test_user_file_with_pytorch_key_names_loads(tmp_path, rng):
    tensors = {key: rng.standard_normal(shape).astype(np.float32) for key, shape in SHAPES.items()}
    save_file(tensors, str(tmp_path / "mine.safetensors"), metadata={"format": "pt"})  # no .sha256: unchecked
    for pretrained in (tmp_path / "mine.safetensors", str(tmp_path / "mine.safetensors")):
        loaded = _parameters(get_model("digits_mlp", pretrained=pretrained))
        assert all(np.array_equal(loaded[key], tensors[key]) for key in SHAPES)
    (tmp_path / "mine.safetensors").rename(tmp_path / "digits_mlp.safetensors")
    loaded = _parameters(get_model("digits_mlp", pretrained=tmp_path))  # a folder: <folder>/<name>.safetensors
    assert all(np.array_equal(loaded[key], tensors[key]) for key in SHAPES)


def test_a_train_py_checkpoint_loads_its_model_entry(tmp_path):
    model = NeuralNetwork(64, 10, (128, 64))
    framework.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "checkpoint.safetensors")
    loaded = _parameters(get_model("digits_mlp_wide", pretrained=tmp_path / "checkpoint.safetensors"))
    expected = _parameters(model)
    assert all(np.array_equal(loaded[key], expected[key]) for key in expected)


def test_mismatched_file_lists_missing_and_unexpected_keys_and_shape_mismatches(tmp_path):
    tensors = {key: np.zeros(shape, np.float32) for key, shape in SHAPES.items() if key != "layers.4.bias"}
    tensors["layers.4.weight"] = np.zeros((10, 30), np.float32)
    tensors["fc.weight"] = np.zeros((2, 2), np.float32)
    save_file(tensors, str(tmp_path / "other.safetensors"))
    with pytest.raises(RuntimeError) as error:
        get_model("digits_mlp", pretrained=tmp_path / "other.safetensors")
    message = str(error.value)
    assert message.startswith("Error(s) in loading state_dict for NeuralNetwork:")
    assert 'Missing key(s) in state_dict: "layers.4.bias"' in message
    assert 'Unexpected key(s) in state_dict: "fc.weight"' in message
    assert ("size mismatch for layers.4.weight: copying a param with shape framework.Size([10, 30]) from checkpoint, "
            "the shape in current model is framework.Size([10, 20]).") in message


def test_missing_user_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        get_model("digits_mlp", pretrained=tmp_path / "nowhere.safetensors")
    with pytest.raises(FileNotFoundError, match="digits_mlp_wide.safetensors"):
        get_model("digits_mlp_wide", pretrained=tmp_path)  # a folder without the model's file


@requires_torch
def test_weights_saved_by_pytorch_give_pytorchs_outputs(tmp_path, rng):
    from safetensors.torch import save_file as torch_save_file

    class TorchNetwork(torch.nn.Module):  # the tutorial's MLP as written for PyTorch
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(torch.nn.Linear(64, 30), torch.nn.ReLU(), torch.nn.Linear(30, 20),
                                              torch.nn.ReLU(), torch.nn.Linear(20, 10))

        def forward(self, x):
            return self.layers(x)

    torch_model = TorchNetwork()
    torch_save_file(torch_model.state_dict(), str(tmp_path / "digits_mlp.safetensors"))
    model = get_model("digits_mlp", pretrained=tmp_path)
    x = rng.random((7, 64), dtype=np.float32)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    with framework.no_grad():
        np.testing.assert_allclose(model(framework.from_numpy(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


@requires_torch
def test_a_cnn_pytorch_trained_gives_pytorchs_outputs_in_both_modes(tmp_path, rng):
    """digits_cnn's state dict as PyTorch's same modules write it (batch norms' buffers, num_batches_tracked
    an int64 scalar) loads as it is, and gives PyTorch's logits in eval and in train mode."""
    from safetensors.torch import save_file as torch_save_file
    nn = torch.nn

    class TorchConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
            self.classifier = nn.Linear(128, 10)

        def forward(self, x):
            return self.classifier(self.features(x).flatten(1))

    torch_model = TorchConvNet()
    with torch.no_grad():  # running statistics and affine parameters that are not their initial values
        for bn in (torch_model.features[1], torch_model.features[5]):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_()
            bn.num_batches_tracked.fill_(7)
    torch_save_file(torch_model.state_dict(), str(tmp_path / "digits_cnn.safetensors"))
    model = get_model("digits_cnn", pretrained=tmp_path)
    assert int(model.features[5].num_batches_tracked) == 7
    x = rng.random((5, 1, 8, 8), dtype=np.float32)
    for train in (False, True):
        torch_model.train(train)
        model.train(train)
        with torch.no_grad():
            expected = torch_model(torch.from_numpy(x)).numpy()
        with framework.no_grad():
            np.testing.assert_allclose(model(framework.from_numpy(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
