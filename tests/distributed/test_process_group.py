"""The process group's life: errors before init (in this process, which never starts MPI), a world
of one without mpiexec (over MPI, then over the fake NCCL), the backends refused, and a crashing rank
ending the whole job."""
import os

import pytest

import framework as fw
import framework.distributed as dist
from .mpi_launch import INTERPRETED, TIMEOUT_S, run

HERE = os.path.dirname(os.path.abspath(__file__))
NOT_INITIALIZED = ("^Default process group has not been initialized, please make sure to call "
                   r"init_process_group\.$")


@pytest.mark.parametrize("call", [
    lambda: dist.all_reduce(fw.ones(2)), lambda: dist.broadcast(fw.ones(2), src=0), dist.barrier,
    dist.monitored_barrier, dist.get_rank, dist.get_world_size, dist.get_backend,
    lambda: dist.all_gather_object([None], 1), lambda: dist.send(fw.ones(1), dst=0), dist.new_group,
    dist.destroy_process_group])
def test_collectives_before_init_raise_pytorchs_error(call):
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match=NOT_INITIALIZED):
        call()


def test_unknown_backends_are_refused_before_mpi_starts(monkeypatch):
    from framework.distributed import process_group
    monkeypatch.setattr(process_group, "is_nccl_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"'nccl' backend needs nccl4py and NCCL's library: pip install "
                                           "nccl4py nvidia-nccl-cu12"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="Invalid backend 'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="Invalid backend 'cuda:mpi': mpi moves cpu tensors, not cuda ones"):
        dist.init_process_group("cuda:mpi")


def test_without_mpi4py_init_says_what_to_install(monkeypatch):
    from framework.distributed import process_group
    monkeypatch.setattr(process_group, "is_mpi_available", lambda: False)
    assert dist.is_available() and not dist.is_initialized()
    with pytest.raises(RuntimeError, match=r"needs mpi4py and an MPI library: pip install mpi4py mpich"):
        dist.init_process_group("mpi")


def test_a_world_of_one_runs_without_mpiexec():
    done = run(os.path.join(HERE, "single_process_program.py"), ranks=0, env=INTERPRETED)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["world 0 1 mpi [0.0, 1.0, 2.0, 3.0]", "destroyed False",
                                        "world_size True", "nccl True",
                                        "nccl world 1 nccl [0.0, 1.0, 2.0, 3.0] [('all_reduce', 0), ('broadcast', 0)]"]


def test_a_raising_rank_ends_the_job_with_its_traceback():
    done = run(os.path.join(HERE, "crashing_program.py"), timeout=TIMEOUT_S)
    assert done.returncode != 0
    assert "ZeroDivisionError: rank 1 fails on purpose" in done.stderr
    assert "rank 0 finished" not in done.stdout


def test_a_rank_calling_sys_exit_ends_the_job_with_its_status():
    done = run(os.path.join(HERE, "crashing_program.py"), "exit", timeout=TIMEOUT_S)
    assert done.returncode == 3 and "rank 0 finished" not in done.stdout


def test_ranks_sharing_a_machine_are_told_to_pin_blas_threads():
    from framework.distributed.process_group import thread_advice
    advice = thread_advice(2, {}, 8)
    assert "2 ranks share this machine's 8 cores" in advice and "OPENBLAS_NUM_THREADS=4" in advice
    assert "OPENBLAS_NUM_THREADS=1 (mpiexec -genv OPENBLAS_NUM_THREADS 1 ...)" in thread_advice(4, {}, 2)
    assert thread_advice(1, {}, 8) is None  # one rank: its threads are its own
    assert thread_advice(2, {"OPENBLAS_NUM_THREADS": "1"}, 2) is None
    assert thread_advice(2, {"OMP_NUM_THREADS": "2"}, 2) is None
