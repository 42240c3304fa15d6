"""Shared by tests/models: examples/train.py (its data split and accuracy) and each builder's documented figures."""
import importlib.util
import pathlib
import re

import pytest

import framework.models

ROOT = pathlib.Path(__file__).resolve().parents[2]


def documented(name):
    """What `name`'s docstring states: its training command (argv list after `python`) and held-out result."""
    doc = getattr(framework.models, name).__doc__.replace("\\\n", " ")  # join the command's continued lines
    command = re.search(r"^\s*python (examples/train\.py .*)$", doc, re.MULTILINE).group(1).split()
    accuracy, correct, total = re.search(r"Held-out accuracy: (\d\.\d{4}) \((\d+) of (\d+) digits\)", doc).groups()
    return command, float(accuracy), int(correct), int(total)


@pytest.fixture(scope="session")
def train():
    """examples/train.py as a module (needs scikit-learn for the digits)."""
    pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn (the `examples` extra)")
    spec = importlib.util.spec_from_file_location("train_example", ROOT / "examples" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
