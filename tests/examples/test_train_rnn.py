"""examples/train_rnn.py: the LSTM reading digits row by row reaches its stated held-out accuracy."""
import importlib.util
import pathlib

import pytest

pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn (the `examples` extra)")

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_default_run_reaches_95_percent_held_out(capsys):
    spec = importlib.util.spec_from_file_location("train_rnn_example", ROOT / "examples" / "train_rnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _, accuracy = module.main([])
    assert accuracy >= 0.95
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and lines[-1].startswith(f"held-out accuracy {accuracy:.4f} after 6 epochs")
