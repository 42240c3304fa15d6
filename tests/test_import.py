"""`import framework` loads numpy and the CPU path only: what is slow to import waits until it is first needed.

ml_dtypes (numpy's bfloat16; ~0.7 s to import at 0.7.0) loads at the first bfloat16 array, Triton and the cuda
backend at the first use of `cuda`, safetensors at the first save or load, mpi4py at init_process_group. Each
check runs in a fresh interpreter, as a user's program starts. How long the import takes is measured in perf/train_bench.py (its
import table), not here.
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFERRED = ("ml_dtypes", "triton", "triton_kernels", "framework.backends.cuda", "safetensors", "torch", "mpi4py")


def run_python(code, *args):
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert done.returncode == 0, done.stderr
    return done.stdout


def loaded(prefixes):
    return ("import sys\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {prefixes!r} or m.startswith({prefixes!r})))")


def test_import_framework_loads_no_deferred_module():
    assert run_python("import framework\n" + loaded(DEFERRED)).strip() == "[]"


def test_dtype_questions_do_not_load_ml_dtypes():
    code = ("import framework as fw\n"
            "print(fw.bfloat16, fw.bfloat16.itemsize, fw.bfloat16.is_floating_point, fw.bfloat16.is_signed,\n"
            "      fw.promote_types(fw.bfloat16, fw.float16), fw.bfloat16 in (fw.float16, fw.bfloat16))\n"
            "print(fw.zeros(2).dtype, fw.tensor([1, 2]).float().sum())\n" + loaded(("ml_dtypes",)))
    assert run_python(code).splitlines() == [
        "framework.bfloat16 2 True True framework.float32 True", "framework.float32 tensor(3.)", "[]"]


# Every way a bfloat16 appears: a dtype argument, a cast, promotion, printing, the random stream, a numpy array
# made with ml_dtypes before framework needed it, the default dtype, a checkpoint.
BFLOAT16_PROGRAM = """
import io, sys
if sys.argv[1] == "ml_dtypes first":
    import ml_dtypes
import numpy as np
import framework as fw

fw.manual_seed(0)
print(fw.rand(5, dtype=fw.bfloat16), fw.randn(3, dtype=fw.bfloat16), fw.empty(2, dtype=fw.bfloat16).uniform_())
x = fw.tensor([1.5, -2.25, 3e38, 1e-40]).to(fw.bfloat16)
print(x, x.sum(), (x * 2).float(), x[0].item(), x.dtype.np, x.numpy().dtype)
print(fw.ones(2, dtype=fw.bfloat16) + fw.ones(2, dtype=fw.float16), fw.ones(2, dtype=fw.bfloat16).to(fw.int32))
import ml_dtypes
array = np.array([0.5, 7.0], dtype=ml_dtypes.bfloat16)
print(fw.from_numpy(array), fw.tensor(array), fw.as_tensor(array).dtype)
buffer = io.BytesIO()
fw.save({"x": x}, buffer)
buffer.seek(0)
print(fw.load(buffer)["x"])
fw.set_default_dtype(fw.bfloat16)
print(fw.tensor([1.0, 2.0]).dtype, fw.arange(3.0))
"""


def test_bfloat16_behaves_the_same_whether_ml_dtypes_loads_first_or_on_demand():
    first = run_python(BFLOAT16_PROGRAM, "ml_dtypes first")
    on_demand = run_python(BFLOAT16_PROGRAM, "on demand")
    assert "bfloat16" in first and on_demand == first
