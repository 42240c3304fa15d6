"""Shared by tests/models: examples/train.py (its data split and accuracy) and each builder's documented figures."""
import pathlib
import re

import pytest

import framework.models
from helpers import example_module

ROOT = pathlib.Path(__file__).resolve().parents[2]
# the models trained on the digits (held-out accuracy); stdlib_char_gpt, a language model, has tests/models/test_gpt.py
DIGITS_MODELS = ("digits_cnn", "digits_mlp", "digits_mlp_wide")
INPUT_SHAPES = {"digits_cnn": (1, 8, 8)}  # what each model takes per digit, when not digits_split()'s 64 values


def input_shape(name):
    return INPUT_SHAPES.get(name, (64,))


def documented(name):
    """What `name`'s docstring states: its training command (argv list after `python`), the environment
    variables set before it (`OPENBLAS_NUM_THREADS=1 python ...`), and its held-out result."""
    doc = getattr(framework.models, name).__doc__.replace("\\\n", " ")  # join the command's continued lines
    variables, command = re.search(r"^\s*((?:\w+=\S+ )*)python (examples/train\w*\.py .*)$", doc, re.MULTILINE).groups()
    environment = dict(variable.split("=", 1) for variable in variables.split())
    accuracy, correct, total = re.search(r"Held-out accuracy: (\d\.\d{4}) \((\d+) of (\d+) digits\)", doc).groups()
    return command.split(), environment, float(accuracy), int(correct), int(total)


@pytest.fixture(scope="session")
def train():
    """examples/train.py as a module (needs scikit-learn for the digits)."""
    pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn (the `examples` extra)")
    return example_module("train")
