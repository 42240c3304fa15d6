"""examples/train_rnn.py: the LSTM reading digits row by row reaches its stated held-out accuracy."""

import pytest

from helpers import example_module

pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn (the `examples` extra)")


def test_default_run_reaches_95_percent_held_out(capsys):
    _, accuracy = example_module("train_rnn").main([])
    assert accuracy >= 0.95
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and lines[-1].startswith(f"held-out accuracy {accuracy:.4f} after 6 epochs")
