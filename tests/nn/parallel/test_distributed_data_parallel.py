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



def test_buckets_follow_backward_order_and_close_the_first_at_1_mib():
    import framework as fw
    from framework.nn.parallel.reducer import make_buckets
    params = [fw.zeros(1 << 20), fw.zeros(300_000), fw.zeros(10), fw.zeros(3, dtype=fw.float64), fw.zeros(5)]
    mib = 1024 * 1024
    assert [b.indices for b in make_buckets(params, 25 * mib)] == [[4], [3], [2, 1, 0]]  # a dtype change closes one
    assert [b.indices for b in make_buckets(params[:3], 25 * mib)] == [[2, 1], [0]]  # 1.2 MB >= the first's 1 MiB
    assert [b.indices for b in make_buckets(params[:3], 40)] == [[2], [1], [0]]  # full at 40 bytes
    assert [b.indices for b in make_buckets(params[1:3], 25 * mib)] == [[1, 0]]
    bucket = make_buckets(params[:3], 25 * mib)[0]
    assert bucket.offsets == [0, 10, 300_010] and bucket.flat.shape == (300_010,)
