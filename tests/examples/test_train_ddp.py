"""examples/train_ddp.py: 2 MPI ranks print, epoch by epoch, the held-out accuracy of the same program
run as a world of one (the same global batches, averaged gradients)."""
import os
import re

from tests.distributed.mpi_launch import ROOT, run

PROGRAM = os.path.join(ROOT, "examples", "train_ddp.py")


def accuracies(done):
    assert done.returncode == 0, done.stderr[-4000:]
    return re.findall(r"held-out accuracy (\d\.\d{4})", done.stdout)


def test_two_ranks_match_one_process(tmp_path):
    weights = tmp_path / "digits_ddp.safetensors"
    two = accuracies(run(PROGRAM, "--epochs", "2", "--save-weights", str(weights), timeout=120))
    one = accuracies(run(PROGRAM, "--epochs", "2", ranks=0, timeout=120))
    assert len(two) == 3 and two == one and float(two[-1]) > 0.8
    assert weights.exists()
