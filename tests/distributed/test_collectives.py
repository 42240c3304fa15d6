"""Every collective of framework.distributed on 2 MPI ranks against NumPy references.

One `mpiexec -n 2` launch runs all the cases of collectives_program.py (launching costs seconds;
the cases cost milliseconds); each case is one test here, failing with the rank's traceback.
"""
import os

import pytest

from .case_runner import assert_every_rank_passed, results_of
from .collectives_program import CASES
from .mpi_launch import run

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "collectives_program.py")


@pytest.fixture(scope="module")
def results():
    return results_of(run(PROGRAM))


@pytest.mark.parametrize("name", list(CASES))
def test_case(results, name):
    assert_every_rank_passed(results, name)
