"""Shipped weights: SHA-256 checked before loading, and the documented held-out accuracy, digit for digit (the
digits models; stdlib_char_gpt's validation loss is tests/models/test_gpt.py's).

The accuracy is compared exactly (the count of correct digits, i.e. equal to 4 decimals):
the weights are fixed, so only the forward pass's rounding can vary between machines
(~1e-6 in the logits between OpenBLAS kernels), and no held-out digit's top two logits
are that close (smallest gap: 8.5e-3 for digits_mlp, 0.47 for digits_mlp_wide, 0.62 for digits_cnn).
"""
import hashlib

import pytest

import framework
from framework.models import get_model, list_models
from framework.models.pretrained import WEIGHTS_DIR, recorded_sha256

from .conftest import DIGITS_MODELS, documented, input_shape


@pytest.mark.parametrize("name", list_models())
def test_shipped_file_matches_its_recorded_sha256(name):
    path = WEIGHTS_DIR / f"{name}.safetensors"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (WEIGHTS_DIR / f"{name}.sha256").read_text() == f"{digest}  {path.name}\n"  # sha256sum's format
    assert recorded_sha256(path) == digest


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not framework.cuda.is_available(), reason="no cuda device (no GPU, and TRITON_INTERPRET is not 1)"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", DIGITS_MODELS)
def test_pretrained_model_reaches_its_documented_held_out_accuracy(name, device, train):
    _, _, accuracy, correct, total = documented(name)
    _, (test_x, test_y) = train.digits_split()  # the split train.py held out
    model = get_model(name, pretrained=True, device=device)
    x = framework.from_numpy(test_x.reshape(-1, *input_shape(name))).to(device)
    y = framework.from_numpy(test_y).to(device)
    assert train.accuracy(model, x, y) == pytest.approx(accuracy, abs=5e-5)
    model.eval()  # digits_cnn's batch norms: the running statistics, as train.accuracy uses
    with framework.no_grad():
        predicted = model(x).argmax(dim=1).cpu().numpy()
    assert (len(test_y), int((predicted == test_y).sum())) == (total, correct)
