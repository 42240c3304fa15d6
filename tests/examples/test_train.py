"""examples/train.py: the README's main job reaches its accuracy, saves checkpoints and resumes."""
import importlib.util
import pathlib

import pytest

pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn (the `examples` extra)")

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _train_module():
    spec = importlib.util.spec_from_file_location("train_example", ROOT / "examples" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_run_reaches_95_percent_held_out(tmp_path):
    _, accuracy = _train_module().main(["--quiet", "--checkpoint", str(tmp_path / "digits.safetensors")])
    assert accuracy >= 0.95


def test_resume_continues_from_the_checkpoint(tmp_path, capsys):
    train = _train_module()
    checkpoint = str(tmp_path / "digits.safetensors")
    train.main(["--quiet", "--epochs", "2", "--checkpoint", checkpoint])
    straight = capsys.readouterr().out.splitlines()
    train.main(["--quiet", "--epochs", "1", "--checkpoint", checkpoint])
    capsys.readouterr()
    train.main(["--quiet", "--epochs", "2", "--checkpoint", checkpoint, "--resume"])
    resumed = capsys.readouterr().out.splitlines()
    assert resumed[0] == f"resumed from {checkpoint} after epoch 1"
    # weights, optimizer state and random stream all restored: epoch 2 is bit for bit the same
    assert resumed[1] == straight[1]


@pytest.mark.skipif(not __import__("framework").cuda.is_available(), reason="no cuda device (no GPU, no interpreter)")
def test_the_same_program_runs_on_cuda(tmp_path, capsys):
    """A program written for `cuda` runs unchanged (in CI through Triton's interpreter) and learns what the CPU
    run learns: same initial weights and batch order, the same epoch within float32 rounding."""
    train = _train_module()
    losses = {}
    for device in ("cpu", "cuda"):
        _, accuracy = train.main(["--quiet", "--epochs", "1", "--device", device,
                                  "--checkpoint", str(tmp_path / f"{device}.safetensors")])
        losses[device] = (float(capsys.readouterr().out.split("loss")[1].split()[0]), accuracy)
    assert losses["cuda"][0] == pytest.approx(losses["cpu"][0], abs=2e-4)
    assert losses["cuda"][1] == pytest.approx(losses["cpu"][1], abs=0.002)
