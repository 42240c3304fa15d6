"""Run a program on 2 MPI ranks (`mpiexec -n 2 python` and its path) with a timeout, or skip saying why.

mpiexec is the one next to the interpreter: the mpich wheel installs it there
(pip install "framework[distributed]", also in the `test` extra).
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
TIMEOUT_S = 60  # a hang must fail the test, never the CI run


def skip_without_mpi():
    try:
        import importlib.util
        found = importlib.util.find_spec("mpi4py") is not None
    except ImportError:
        found = False
    if not found:
        pytest.skip("mpi4py is not installed (pip install 'framework[distributed]')")
    if not os.path.exists(MPIEXEC):
        pytest.skip(f"no mpiexec next to the interpreter ({MPIEXEC}): pip install mpich")


def environment():
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(program, *args, ranks=2, timeout=TIMEOUT_S, env=None):
    """The finished process (stdout, stderr, returncode) of `program` on `ranks` ranks (0: plain python), with
    `env`'s variables on top of environment()'s."""
    skip_without_mpi()
    command = [sys.executable, program, *args]
    if ranks:
        command = [MPIEXEC, "-n", str(ranks), *command]
    return subprocess.run(command, cwd=ROOT, env={**environment(), **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


# The fake NCCL (fake_nccl.py) reads a cuda tensor's memory on the host: its programs run `cuda` in Triton's
# interpreter even where a GPU is present.
INTERPRETED = {"TRITON_INTERPRET": "1"}
