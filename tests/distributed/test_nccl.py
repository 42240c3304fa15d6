"""The 'nccl' backend against a fake NCCL (fake_nccl.py) on 2 MPI ranks: every collective on `cuda` tensors
(Triton's interpreter), its argument checks, and DistributedDataParallel on `cuda` (nccl_program.py, one
mpiexec launch). A real NCCL on GPUs is not exercised here: see the README's "Data-parallel training"."""
import os

import pytest

from .case_runner import assert_every_rank_passed, results_of
from .mpi_launch import run
from .nccl_program import CASES

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nccl_program.py")


@pytest.fixture(scope="module")
def results():
    return results_of(run(PROGRAM))


@pytest.mark.parametrize("name", list(CASES))
def test_case(results, name):
    assert_every_rank_passed(results, name)
