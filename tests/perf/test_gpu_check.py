"""perf/gpu_check.sh and perf/gpu_smoke.py run end to end without a GPU, so the first GPU run finds them working:
under the interpreter the smoke test runs on host memory and the GPU-only stages skip, saying why."""
import json
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="perf/gpu_check.sh needs bash and coreutils' timeout")


def run_check(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run(["bash", os.path.join(ROOT, "perf", "gpu_check.sh")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**environment, "OUT": str(tmp_path), **env})
    return done, (tmp_path / "summary.txt").read_text()


def test_under_the_interpreter_every_stage_runs_or_says_why_not(tmp_path):
    done, summary = run_check(tmp_path, TRITON_INTERPRET="1")
    assert done.returncode == 0, done.stdout + done.stderr
    for text in ("commit: ", "python ", "triton ", "numpy ", "stage smoke: exit 0",
                 "stage tests: skipped: no GPU", "stage report: skipped", "stage train_bench: skipped",
                 "stage cuda_graph_bench: skipped"):
        assert text in summary, summary
    steps = json.loads((tmp_path / "smoke.json").read_text())
    assert [s["step"] for s in steps] == ["allocation", "copies", "elementwise", "reduction", "fused_linear_fp32",
                                          "fused_linear_bf16", "cross_entropy", "training", "cuda_graph",
                                          "cuda_graph_step", "out_of_memory"]
    assert all(s["status"] == "passed" for s in steps), steps
    # what comes back from a device call: at most 8 plain files directly under $OUT
    assert len(os.listdir(tmp_path)) <= 8


@pytest.mark.skipif(__import__("framework").cuda.gpu_count() > 0, reason="a GPU is present")
def test_without_gpu_or_interpreter_it_stops_after_the_versions(tmp_path):
    done, summary = run_check(tmp_path)
    assert done.returncode == 1
    assert "no GPU (the driver reports none) and TRITON_INTERPRET is not set" in summary
    assert "stage smoke" not in summary


def test_a_failing_smoke_step_is_reported_and_the_next_still_runs(tmp_path, monkeypatch, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location("gpu_smoke", os.path.join(ROOT, "perf", "gpu_smoke.py"))
    smoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke)

    def broken(sizes, rng):
        raise AssertionError("values: max |difference| 1 > 0")

    def fine(sizes, rng):
        return "ok"

    monkeypatch.setattr(smoke, "STEPS", [broken, fine])
    monkeypatch.setattr("sys.argv", ["gpu_smoke.py", "--json", str(tmp_path / "smoke.json")])
    if not smoke.fw.cuda.is_available():
        pytest.skip("no cuda device: no GPU and TRITON_INTERPRET is not 1")
    assert smoke.main() == 1
    steps = json.loads((tmp_path / "smoke.json").read_text())
    assert [(s["step"], s["status"]) for s in steps] == [("broken", "FAILED"), ("fine", "passed")]
    assert "AssertionError: values: max |difference| 1 > 0" in steps[0]["detail"]
    assert "1 of 2 steps passed or skipped, 1 failed" in capsys.readouterr().out
