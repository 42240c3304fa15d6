"""The 'nccl' backend against a fake NCCL (fake_nccl.py) on 2 MPI ranks: every collective on `cuda` tensors
(Triton's interpreter), its argument checks, and DistributedDataParallel on `cuda` (nccl_program.py, one
mpiexec launch). A real NCCL on GPUs is not exercised here: see the README's "Data-parallel training"."""
import os

import pytest

from .case_runner import assert_every_rank_passed, results_of
from .mpi_launch import INTERPRETED, run
from .nccl_program import CASES

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nccl_program.py")


@pytest.fixture(scope="module")
def results():
    return results_of(run(PROGRAM, env=INTERPRETED))


@pytest.mark.parametrize("name", list(CASES))
def test_case(results, name):
    assert_every_rank_passed(results, name)


def test_cuda_real_nccl_on_a_gpu_world_of_one():
    """The real NCCL through nccl4py on a real GPU (never run in CI: no GPU there; perf/gpu_check.sh runs it)."""
    import importlib.util

    import framework
    if framework.cuda.is_interpreted() or not framework.cuda.is_available():
        pytest.skip("needs a real GPU: the cuda device here is Triton's interpreter or absent")
    if importlib.util.find_spec("nccl") is None:
        pytest.skip("nccl4py is not installed (pip install 'framework[distributed]')")
    done = run(os.path.join(os.path.dirname(PROGRAM), "nccl_gpu_program.py"), ranks=0, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout[-2000:] + done.stderr[-4000:]
