"""framework.accelerator: torch.accelerator's questions, answered for `cuda` (a GPU or the interpreter), and
PyTorch's answers and errors when no accelerator serves (a subprocess without TRITON_INTERPRET and no GPU)."""
import os
import subprocess
import sys

import pytest

import framework as fw
from helpers import requires_cuda

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@requires_cuda
def test_cuda_is_the_accelerator():
    acc = fw.accelerator
    assert acc.is_available() and acc.current_accelerator() == fw.device("cuda")
    assert acc.current_accelerator(check_available=True) == fw.device("cuda")
    assert acc.device_count() == fw.cuda.device_count() >= 1
    assert acc.current_device_index() == acc.current_device_idx() == 0
    for spec in (0, "cuda:0", fw.device("cuda", 0), fw.device("cuda")):
        acc.set_device_index(spec)
    acc.set_device_idx(0)
    with acc.device_index(0):
        assert acc.current_device_index() == 0
    with acc.device_index(None):
        pass
    with pytest.raises(ValueError, match="cpu doesn't match the current accelerator cuda"):
        acc.set_device_index("cpu")
    with pytest.raises(RuntimeError):
        acc.set_device_index(5)
    assert fw.float32 in acc.get_device_capability()["supported_dtypes"]


@requires_cuda
def test_memory_statistics_follow_allocations():
    acc = fw.accelerator
    acc.synchronize()
    acc.synchronize(0)
    before = acc.memory_allocated()
    x = fw.empty(1000, device=acc.current_accelerator())  # 4000 bytes: 4096 counted (512-byte units)
    assert acc.memory_allocated() == before + 4096 == fw.cuda.memory_allocated()
    assert acc.max_memory_allocated() >= before + 4096
    stats = acc.memory_stats()
    assert stats["allocated_bytes.all.current"] == acc.memory_allocated()
    assert stats["allocated_bytes.all.peak"] == acc.max_memory_allocated()
    del x
    assert acc.memory_allocated() == before
    acc.reset_peak_memory_stats()
    assert acc.max_memory_allocated() == before
    acc.empty_cache()


SCRIPT = """
import framework as fw
acc = fw.accelerator
print(acc.is_available(), acc.current_accelerator(), acc.current_accelerator(True), acc.device_count())
for name in ("current_device_index", "synchronize", "memory_allocated", "memory_stats", "empty_cache",
             "max_memory_allocated", "reset_peak_memory_stats"):
    try:
        getattr(acc, name)()
    except RuntimeError as error:
        print(name, error)
try:
    acc.set_device_index(0)
except RuntimeError as error:
    print("set_device_index", error)
"""


def test_without_an_accelerator_answers_as_pytorch_does_on_a_cpu_build():
    env = dict(os.environ, PYTHONPATH=ROOT, TRITON_INTERPRET="0", CUDA_VISIBLE_DEVICES="")
    lines = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines[0] == "False None None 0"
    message = "Cannot access accelerator device when none is available."
    assert lines[1:] == [f"{name} {message}" for name in (
        "current_device_index", "synchronize", "memory_allocated", "memory_stats", "empty_cache",
        "max_memory_allocated", "reset_peak_memory_stats", "set_device_index")]
