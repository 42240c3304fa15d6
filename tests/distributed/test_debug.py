"""TORCH_DISTRIBUTED_DEBUG=DETAIL: collectives whose kind, shapes or dtypes differ across ranks raise PyTorch's
error on every rank (mismatch_program.py, one mpiexec launch)."""
import os

import pytest

from .case_runner import assert_every_rank_passed, results_of
from .mismatch_program import CASES
from .mpi_launch import run

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mismatch_program.py")


@pytest.fixture(scope="module")
def results(monkeypatch_module):
    return results_of(run(PROGRAM))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_DISTRIBUTED_DEBUG", "DETAIL")
        yield patch


@pytest.mark.parametrize("name", list(CASES))
def test_case(results, name):
    assert_every_rank_passed(results, name)
