#!/usr/bin/env bash
# One call on a GPU machine: what a first run must prove, in the order a short device lease most needs it.
#
#   bash perf/gpu_check.sh                 # results in ./gpu-results
#   OUT=/some/folder bash perf/gpu_check.sh
#
# Runs from the source tree (PYTHONPATH=.) with whatever Python, numpy, Triton, PyTorch and cuda-core the machine
# has, and installs nothing: the GPU machines it is written for have no network. Every stage has its own time
# limit, so that one hung compile cannot eat the whole call; together they fit in 9.5 minutes on an H100
# (the device tool allows 10 per call). A stage that fails does not stop the next. Stages:
#   1. versions, device and commit                       -> summary.txt
#   2. smoke test of the compiled path (perf/gpu_smoke.py) -> smoke.txt, smoke.json
#   3. the test suite, cuda backend tests first, each test under a time limit -> tests.txt
#   4. the kernel report against PyTorch (perf/report.py) -> report.txt, report.json
#   5. the training benchmark (perf/train_bench.py)        -> train_bench.txt
#   6. captured steps against PyTorch's CUDA graphs (perf/cuda_graph_bench.py) -> cuda_graph_bench.txt
# Without a GPU it runs under TRITON_INTERPRET=1 if that is set (stages 1-2 on host memory, 3-5 skipped, saying
# why: CI already runs the suite there), else stops after stage 1 saying there is no GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export PYTHONPATH=. PYTHONUNBUFFERED=1
export TRITON_DEFAULT_FP_FUSION=${TRITON_DEFAULT_FP_FUSION:-1}  # Triton's GPU default, pinned as CI pins it
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

note() { echo "$*" | tee -a "$SUMMARY"; }

# stage NAME LIMIT_S LOG COMMAND...: runs COMMAND under LIMIT_S seconds, its output to the terminal and LOG.
stage() {
  local name=$1 limit=$2 log=$3 start rc
  shift 3
  echo "=== $name (at most ${limit} s) ===" | tee -a "$log"
  start=$(date +%s)
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  local verdict="exit $rc"
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && verdict="TIMED OUT (exit $rc)"
  note "stage $name: $verdict after $(( $(date +%s) - start )) s"
}

skip() { note "stage $1: skipped: $2"; }

# ---- 1. versions, device, commit ----------------------------------------------------------------------------
note "date: $(date -u +%FT%TZ)"
note "commit: $(git rev-parse HEAD 2>/dev/null || echo 'unknown (not a git checkout)')$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
note "host: $(uname -srm), $(nproc) cores"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | sed 's/^/nvidia-smi: /' | tee -a "$SUMMARY"
timeout 60 python - <<'EOF' 2>&1 | tee -a "$SUMMARY"
import importlib, importlib.metadata as metadata, os, sys
print("python", sys.version.split()[0])
for package in ("numpy", "ml_dtypes", "triton", "torch", "cuda-core", "cuda-bindings", "cuda-python", "pytest",
                "pytest-timeout", "hypothesis", "tabulate", "safetensors", "mpi4py", "mpich", "nccl4py",
                "nvidia-nccl-cu12", "cuda-pathfinder"):
    try:
        print(f"{package} {metadata.version(package)}")
    except metadata.PackageNotFoundError:
        print(f"{package}: not installed")
print("TRITON_INTERPRET", os.environ.get("TRITON_INTERPRET", "(unset)"))
import framework
print("framework.cuda.is_available()", framework.cuda.is_available())
if framework.cuda.is_available():
    print("device", framework.cuda.get_device_properties())
EOF
gpu=$(timeout 60 python -c "import framework.cuda as c; print(int(c.gpu_count() > 0))" 2>/dev/null || echo 0)
interpreted=0
if [ "$gpu" = 1 ]; then
  unset TRITON_INTERPRET  # the compiled path is the point of this check
elif [ "${TRITON_INTERPRET:-0}" != 0 ]; then
  interpreted=1
  note "no GPU: TRITON_INTERPRET=1 serves cuda from host memory; the smoke test runs there, the GPU-only stages skip"
else
  note "no GPU (the driver reports none) and TRITON_INTERPRET is not set: nothing more to check here"
  exit 1
fi

# ---- 2. smoke test: each step reported, none stopping the rest -------------------------------------------------
stage smoke 120 "$OUT/smoke.txt" python perf/gpu_smoke.py --json "$OUT/smoke.json"

# ---- 3. the test suite compiled on the GPU -------------------------------------------------------------------
# pytest-timeout (when present) ends a single hung test and goes on; the stage limit is the backstop.
# tests/triton_kernels is left out: its conftest runs its kernels in the interpreter on host memory (CI's job),
# so on a GPU it would repeat the CPU's work; the framework suite drives the same kernels compiled.
if [ "$interpreted" = 1 ]; then
  skip tests "no GPU: CI runs the whole suite under the interpreter (.ci/run)"
else
  per_test=()
  python -c "import pytest_timeout" 2>/dev/null && per_test=(-p timeout --timeout=60) \
    || note "pytest-timeout is not installed: no per-test limit, only the stage's"
  stage tests-backend 90 "$OUT/tests.txt" python -m pytest -q --maxfail=10 "${per_test[@]}" \
    tests/backends/cuda tests/test_cuda.py tests/test_cuda_random.py
  stage tests-suite 180 "$OUT/tests.txt" python -m pytest -q --maxfail=30 "${per_test[@]}" tests \
    --ignore=tests/triton_kernels --ignore=tests/backends/cuda --ignore=tests/test_cuda.py \
    --ignore=tests/test_cuda_random.py
fi

# ---- 4-5. performance: the numbers no CPU session can produce ---------------------------------------------------
if [ "$interpreted" = 1 ]; then
  skip report "no GPU: interpreted kernels have no speed worth reporting"
  skip train_bench "no GPU"
  skip cuda_graph_bench "no GPU"
else
  stage report 90 "$OUT/report.txt" python perf/report.py --device cuda --json "$OUT/report.json"
  stage train_bench 60 "$OUT/train_bench.txt" python perf/train_bench.py --quick
  stage cuda_graph_bench 45 "$OUT/cuda_graph_bench.txt" python perf/cuda_graph_bench.py --quick
fi
note "done: $(date -u +%FT%TZ)"
