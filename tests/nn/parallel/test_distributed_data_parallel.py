"""DistributedDataParallel: 2 MPI ranks with half of each batch train as one process on the whole batch
(ddp_program.py, one mpiexec launch), plus what needs no second process."""
import os

import pytest

from framework import nn
from framework.nn.parallel import DistributedDataParallel
from tests.distributed.case_runner import assert_every_rank_passed, results_of
from tests.distributed.mpi_launch import run
from .ddp_program import CASES

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ddp_program.py")


@pytest.fixture(scope="module")
def results():
    return results_of(run(PROGRAM))


@pytest.mark.parametrize("name", list(CASES))
def test_case(results, name):
    assert_every_rank_passed(results, name)


def test_needs_a_process_group():
    with pytest.raises(ValueError, match="^Default process group has not been initialized"):
        DistributedDataParallel(nn.Linear(2, 2))

