#!/usr/bin/env bash
# One call on a GPU machine: the test suite compiled on the GPU (no interpreter), then the kernel report and the
# training benchmarks. Results land in $OUT (the device tool's output folder, or gpu-results/ in CI).
# Runs from the source tree: PYTHONPATH=. python ..., so no install is needed where the packages are present.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONPATH=.
export TRITON_DEFAULT_FP_FUSION=1
unset TRITON_INTERPRET
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  python -c "import sys, triton, numpy; print('python', sys.version.split()[0], 'triton', triton.__version__, 'numpy', numpy.__version__)"
  python -c "import torch; print('torch', torch.__version__)" 2>&1 | tail -1
  python -c "import cuda.core as c; print('cuda-core', getattr(c, '__version__', '?'))" 2>&1 | tail -1
} | tee "$OUT/versions.txt"

# Ordered by what a short device lease most needs, each step under its own time limit so that the whole call
# fits the device tool's 10 minutes: the cuda kernel table first (the numbers no CPU session can produce), then
# the suite compiled on the GPU, then the training benchmarks. tests/triton_kernels is not run here: its conftest
# turns the interpreter on for its whole process (its kernel tests run on host memory in CI), so on a GPU it
# would only repeat the CPU's work.
timeout 240 python perf/report.py --device cuda --json "$OUT/report.json" 2>&1 | tee "$OUT/report.txt"
timeout 240 python -m pytest -q --maxfail=20 -p no:cacheprovider tests --ignore=tests/triton_kernels 2>&1 \
  | tail -60 | tee "$OUT/tests.txt"
timeout 90 python perf/train_bench.py 2>&1 | tee "$OUT/train_bench.txt"
