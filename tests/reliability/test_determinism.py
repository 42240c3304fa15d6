"""Determinism: the same seed gives bit-identical results, run to run, on the CPU and on `cuda`.

The script below runs in two fresh interpreters (with different hash seeds, so set or dict ordering that
leaks into results shows up) and prints a SHA-256 of every number it produced: model initialisation,
dropout masks, DataLoader shuffling, random_split and a few Adam training steps; on `cuda` also a large sum,
mean and var (multi-program reductions), softmax, cumsum, matmul and an embedding lookup.

On `cuda` (a GPU, or Triton's interpreter when there is none; skipped when neither is available) every kernel
is deterministic (fixed reduction orders, Philox random streams keyed by seed and offset; the linear
kernels' tile autotuning, which picks by timing on a GPU, is switched off here with TRITON_KERNELS_AUTOTUNE=0,
the documented way to bit-identical GPU runs: triton_kernels/tuning.py) except these, which use `tl.atomic_add` (triton_kernels/indexing.py, SCATTER_ADD) or a compare-and-swap loop
(triton_kernels/scatter_reduce.py) and so combine floats in whatever order the GPU's programs reach memory:
bit-for-bit, their float results may differ run to run on a GPU (integer adds and products wrap the same in
any order: exact; a maximum or minimum does not depend on the order). Same as PyTorch's CUDA kernels for the
same ops:

* scatter_add, index_add, index_put(accumulate=True) and scatter_reduce's sum, mean and prod (forward);
* the backward of gather, index (x[index_tensor]), index_select, take and embedding (a scatter-add of the
  gradient, framework/backends/cuda/indexing.py), and of cummax/cummin (the scatter_add kernel);
* bincount with float weights (triton_kernels/search.py; its unweighted counts, and histc's, add integers: exact).

Also unordered, without atomics: scatter, index_put / index_put_ (x[index] = v) with repeated indices, where
one of the writes to a position wins, unspecified which (PyTorch's words too). The interpreter runs programs
one after another, so there these are reproducible too; the script avoids them all.
`test_nondeterministic_cuda_kernels_are_the_listed_ones` fails when a kernel gains an atomic unlisted here.
"""
import hashlib
import os
import re
import subprocess
import sys

import pytest

from helpers import requires_cuda

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = r"""
import hashlib
import sys
import numpy as np
import framework as fw
import framework.nn.functional as F
from framework.utils.data import DataLoader, TensorDataset, random_split

device, epochs = sys.argv[1], int(sys.argv[2])
digest = hashlib.sha256()
def record(*tensors):
    for t in tensors:
        digest.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())

fw.manual_seed(1234)
model = fw.nn.Sequential(fw.nn.Linear(6, 16), fw.nn.ReLU(), fw.nn.Dropout(0.3), fw.nn.Linear(16, 3)).to(device)
record(*model.parameters())
x, y = fw.randn(40, 6, device=device), fw.randint(0, 3, (40,), device=device)
train, _ = random_split(TensorDataset(x, y), [32, 8])
loader = DataLoader(train, batch_size=8, shuffle=True)
opt = fw.optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(epochs):
    for xb, yb in loader:
        record(xb, yb)
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        record(loss)
record(*model.parameters())
record(F.dropout(fw.ones(100, device=device), 0.5), fw.rand(5, device=device),
       fw.randperm(10, device=device).to(fw.float32))
if device == "cuda":  # reductions over several programs, and the other row kernels
    big = fw.randn(70_000, device=device)
    rows = fw.randn(8, 300, device=device)
    table = fw.randn(10, 4, device=device)
    record(big.sum(), big.mean(), big.var(), fw.softmax(rows, 1), fw.cumsum(rows, 1), rows @ rows.T,
           F.embedding(fw.tensor([3, 1, 3, 9], device=device), table))
print(digest.hexdigest())
"""


def _digests(device="cpu", epochs=3):
    """The script's digest from two fresh interpreters (hash seeds 1 and 2), run side by side."""
    runs = []
    for hash_seed in (1, 2):
        env = dict(os.environ, PYTHONHASHSEED=str(hash_seed), PYTHONPATH=ROOT,  # TRITON_INTERPRET too, if set
                   TRITON_KERNELS_AUTOTUNE="0")
        runs.append(subprocess.Popen([sys.executable, "-c", SCRIPT, device, str(epochs)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT))
    digests = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        digests.append(out.strip())
    assert len(digests[0]) == len(hashlib.sha256().hexdigest())
    return digests


@pytest.mark.uses_random
def test_same_seed_gives_identical_bits_in_two_processes():
    first, second = _digests()
    assert first == second, "two runs with the same seed differ"


@requires_cuda
@pytest.mark.uses_random
def test_same_seed_gives_identical_bits_in_two_processes_on_cuda():
    import framework as fw
    # Triton's interpreter: ~20 ms a kernel launch, so one epoch (4 Adam steps, ~150 launches) rather than 3
    first, second = _digests("cuda", epochs=1 if fw.cuda.is_interpreted() else 3)
    assert first == second, "two cuda runs with the same seed differ"


# The ops whose cuda kernels add floats with tl.atomic_add, and the backend functions (framework/backends/cuda)
# that launch those adds (K.scatter(..., accumulate=True), or _launch_rows(..., accumulate=True)).
NONDETERMINISTIC_CUDA = {
    "scatter_add, index_add": "indexing.py:_scatter_add_forward",
    "index_put(accumulate=True)": "indexing.py:_put",
    "gather (backward)": "indexing.py:_gather_backward",
    "index, take (backward)": "indexing.py:_scatter_add_rows",
    "index_select (backward)": "indexing.py:_scatter_add_rows",
    "embedding (backward)": "indexing.py:_embedding_backward",
    "scatter_reduce (sum, mean)": "scatter_reduce.py:_forward",
}
# kernel files with atomics: indexing.py's scatter-add, scatter_reduce.py's compare-and-swap (prod, amax, amin)
KERNELS_WITH_ATOMICS = ["indexing.py", "scatter_reduce.py", "search.py"]


def _read(path):
    with open(path) as f:
        return f.read()


def test_nondeterministic_cuda_kernels_are_the_listed_ones():
    """Every atomic in triton_kernels/ is in the listed files; the scatter-add is launched only by the listed
    functions."""
    kernels = os.path.join(ROOT, "triton_kernels")
    with_atomics = sorted(name for name in os.listdir(kernels) if name.endswith(".py") and name != "aot.py"
                          and re.search(r"\btl\.atomic_\w+\(", _read(os.path.join(kernels, name))))
    assert with_atomics == KERNELS_WITH_ATOMICS, f"kernels with atomics: {with_atomics}; list their ops above"
    backend = os.path.join(ROOT, "framework", "backends", "cuda")
    launchers = set()
    for name in sorted(n for n in os.listdir(backend) if n.endswith(".py")):
        function = None
        for line in _read(os.path.join(backend, name)).splitlines():
            top = re.match(r"def (\w+)", line)
            function = top.group(1) if top else function
            if "accumulate=True" in line:
                launchers.add(f"{name}:{function}")
    assert launchers == set(NONDETERMINISTIC_CUDA.values()), \
        f"functions launching atomic scatter-adds: {sorted(launchers)}; update NONDETERMINISTIC_CUDA and the docstring"
