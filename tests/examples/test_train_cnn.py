"""examples/train_cnn.py: a short run already beats the MLP's held-out accuracy, prints train.py's lines, keeps its
checkpoint in the cache (not the working folder), resumes with the batch norms' statistics, and runs on cuda.

train.py's loop (progress bar on a terminal, --save-weights) is tested in test_train.py; the CNN's full run is
tests/models/test_retrain.py's (the shipped digits_cnn weights)."""

import numpy as np
import pytest

import framework
from helpers import example_module

from .test_train import EPOCH_LINE, FINAL_LINE

pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn (the `examples` extra)")


def _train_cnn_module():
    return example_module("train_cnn")


def _on_fewer_digits(train_cnn, monkeypatch, train, held_out):
    """train_cnn (its shared train.py loop) trains on the first `train` digits of the split, tests on `held_out`."""
    (train_x, train_y), (test_x, test_y) = train_cnn.fit.__globals__["digits_split"]()
    monkeypatch.setitem(train_cnn.fit.__globals__, "digits_split", lambda: (
        (train_x[:train], train_y[:train]), (test_x[:held_out], test_y[:held_out])))


def test_two_epochs_beat_the_mlp_and_leave_the_working_folder_empty(tmp_path, monkeypatch, capsys):
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    model, accuracy = _train_cnn_module().main(["--epochs", "2"])
    # 0.9889 where the shipped weights were trained (0.9721 for train.py's MLP after 30 epochs): 0.975 leaves
    # room for other kernels' rounding, and a CNN that learned nothing spatial stays below it
    assert accuracy >= 0.975
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[3] == "" and all(EPOCH_LINE.fullmatch(line) for line in lines[:2])
    assert FINAL_LINE.fullmatch(lines[2])
    assert isinstance(model, framework.models.ConvNet) and model.training  # accuracy() puts it back in training
    assert (cache / "framework" / "examples" / "digits_cnn.safetensors").is_file()
    assert list(work.iterdir()) == []


def test_resume_restores_the_batch_norm_statistics(tmp_path, capsys, monkeypatch):
    train_cnn = _train_cnn_module()
    _on_fewer_digits(train_cnn, monkeypatch, 320, 64)
    checkpoint = str(tmp_path / "cnn.safetensors")
    straight, _ = train_cnn.main(["--quiet", "--epochs", "2", "--checkpoint", str(tmp_path / "straight.safetensors")])
    expected = capsys.readouterr().out.splitlines()
    train_cnn.main(["--quiet", "--epochs", "1", "--checkpoint", checkpoint])
    capsys.readouterr()
    resumed, _ = train_cnn.main(["--quiet", "--epochs", "2", "--checkpoint", checkpoint, "--resume"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"resumed from {checkpoint} after epoch 1" and lines[1] == expected[1]
    for key, value in straight.state_dict().items():  # running means and variances, num_batches_tracked
        assert np.array_equal(resumed.state_dict()[key].numpy(), value.numpy()), key


def test_options_are_train_pys_and_the_channels():
    args = _train_cnn_module().parse_args(["--channels", "8", "8", "8", "--lr", "0.1"])
    assert args.channels == [8, 8, 8] and args.lr == 0.1 and args.epochs == 10  # the CNN's default, not 30
    assert args.checkpoint.name == "digits_cnn.safetensors"


@pytest.mark.skipif(not framework.cuda.is_available(), reason="no cuda device (no GPU, no interpreter)")
def test_the_same_program_runs_on_cuda(tmp_path, capsys, monkeypatch):
    """The program runs unchanged on `cuda` and learns what the CPU run learns: the same initial weights and
    batch order, so the same loss and accuracy within float32 rounding. On 24 training digits and 16 held out
    (3 steps of 8): Triton's interpreter takes seconds per CNN step."""
    train_cnn = _train_cnn_module()
    _on_fewer_digits(train_cnn, monkeypatch, 24, 16)
    results = {}
    for device in ("cpu", "cuda"):
        model, accuracy = train_cnn.main(["--quiet", "--epochs", "1", "--batch-size", "8", "--device", device,
                                          "--checkpoint", str(tmp_path / f"{device}.safetensors")])
        loss = float(capsys.readouterr().out.split("loss")[1].split()[0])
        results[device] = (loss, accuracy, model.features[5].running_var.cpu().numpy())
    assert results["cuda"][0] == pytest.approx(results["cpu"][0], abs=2e-4)
    assert results["cuda"][1] == pytest.approx(results["cpu"][1], abs=1 / 16 + 1e-6)  # at most one digit apart
    np.testing.assert_allclose(results["cuda"][2], results["cpu"][2], rtol=1e-4, atol=1e-5)
