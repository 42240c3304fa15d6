"""Re-training with each builder's documented command reproduces the shipped weights bit for bit.

What we measured (numpy 2.4.6, OpenBLAS 0.3.31, an AMD EPYC with AVX2, no AVX-512):
* Training on the CPU is deterministic: the seed fixes the initialisation and the shuffle
  order, and re-runs give identical tensors, with OPENBLAS_NUM_THREADS=1 or 2 alike.
* The file's bytes are not: safetensors writes `__metadata__` from a Rust HashMap whose
  order changes from process to process, so a retrained file's SHA-256 differs from the
  shipped one while every tensor is identical. This test compares the tensors (names,
  dtypes, shapes and bytes), not the files' hashes.
* Other kernels round differently, and 1,350 Adam steps amplify that: with
  OPENBLAS_CORETYPE=Sandybridge (no FMA) or Prescott, or NPY_DISABLE_CPU_FEATURES=X86_V3
  (numpy's AVX2 loops off), digits_mlp's weights differ by up to 8e-6 (1.1e-4 with numpy's
  loops off), held-out accuracy still 0.9721; digits_mlp_wide's by up to 1.1 (four ReLU
  units of its second layer die in those runs and live in the shipped one), held-out
  accuracy 0.9833 or 0.9861. A CPU with AVX-512 picks other kernels still (OpenBLAS SkylakeX,
  numpy X86_V4).
* digits_cnn's weights also depend on OpenBLAS's thread count (its convolution matmuls are
  split between threads: 1 and 2 threads differ by up to 1.5e-5), so its documented command
  sets OPENBLAS_NUM_THREADS=1 and this test runs it so.
So the weights must be equal bit for bit where the numeric environment is the one that
trained them (TRAINED_ON: numpy's version and SIMD loops, OpenBLAS's version and kernels);
elsewhere the test can only check that the retrained model is as good (held-out accuracy
within 0.01, ~4 digits of 359) and skips, naming both environments and the difference.

stdlib_char_gpt is not retrained here: its command runs ~4 minutes on two cores, past what a test may take
(tests/examples/test_train_gpt.py runs the same program briefly, resume included).
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from framework.models.pretrained import WEIGHTS_DIR

from .conftest import DIGITS_MODELS, ROOT, documented

TRAINED_ON = {"numpy": "2.4.6", "blas": "openblas 0.3.31.188.0 Haswell", "simd": "X86_V3"}


def numeric_environment():
    """What sets training's float rounding on the CPU: numpy's version and SIMD loops, its BLAS and kernels."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    threadpoolctl = pytest.importorskip("threadpoolctl")  # a scikit-learn dependency
    blas = [info for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]
    blas = [info for info in blas if "numpy" in info["filepath"]] or blas  # scipy may bring its own
    return {"numpy": np.__version__,
            "blas": " ".join(f"{info['internal_api']} {info['version']} {info.get('architecture')}" for info in blas),
            "simd": " ".join(feature for feature in __cpu_dispatch__ if __cpu_features__.get(feature))}


@pytest.mark.parametrize("name", DIGITS_MODELS)
def test_documented_command_reproduces_the_shipped_weights(name, train, tmp_path):
    from safetensors.numpy import load_file
    command, variables, accuracy, _, _ = documented(name)
    # the documented command as it stands (its environment variables too); only where it writes goes to tmp_path
    weights = tmp_path / f"{name}.safetensors"
    command[command.index("--save-weights") + 1] = str(weights)
    command += ["--checkpoint", str(tmp_path / "checkpoint.safetensors"), "--quiet"]
    environment = dict(os.environ, **variables,
                       PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    output = subprocess.run([sys.executable, *command], cwd=ROOT, env=environment, capture_output=True, text=True,
                            check=True).stdout
    printed = float(re.search(r"^held-out accuracy (\d\.\d{4}) after", output, re.MULTILINE).group(1))

    retrained, shipped = load_file(str(weights)), load_file(str(WEIGHTS_DIR / f"{name}.safetensors"))
    assert {k: (v.dtype, v.shape) for k, v in retrained.items()} == {k: (v.dtype, v.shape) for k, v in shipped.items()}
    differing = [key for key in shipped if retrained[key].tobytes() != shipped[key].tobytes()]
    if not differing:
        assert printed == accuracy
        return
    largest = max(float(np.abs(retrained[key] - shipped[key]).max()) for key in differing)
    here = numeric_environment()
    assert here != TRAINED_ON, (f"{differing} differ from the shipped weights by up to {largest:.1e} in the very "
                                f"numeric environment that trained them ({here}): training is no longer reproducible")
    assert abs(printed - accuracy) <= 0.01, f"retrained {name}: held-out accuracy {printed:.4f}, not {accuracy:.4f}"
    pytest.skip(f"retrained {name} differs from the shipped weights by up to {largest:.1e} (held-out accuracy "
                f"{printed:.4f}, documented {accuracy:.4f}): this machine's kernels round differently ({here}; the "
                f"weights were trained with {TRAINED_ON}) and training amplifies rounding, so bit for bit is not "
                f"expected here")
