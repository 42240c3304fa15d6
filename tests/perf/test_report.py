"""The perf scripts run and print their tables (`--quick`), so they cannot rot. No timing is asserted."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(name, *args, env=None):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "perf", name), "--quick", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"perf/{name} --quick failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_report_quick_prints_the_kernel_table_and_writes_json(tmp_path):
    # TRITON_INTERPRET=1 must give a note about the Triton backend, never a crash or a pretended check
    out = run_script("report.py", "--json", str(tmp_path / "report.json"), env={"TRITON_INTERPRET": "1"})
    for text in ("kernel", "median", "% peak", "x numpy", "linear fwd", "cross_entropy bwd", "Adam step",
                 "measured peak", "GPU rows", "TRITON_INTERPRET=1"):
        assert text in out
    record = json.loads((tmp_path / "report.json").read_text())
    assert record["rows"] and {"machine", "versions", "commit", "date", "peaks", "threads"} <= set(record)
    assert all(row["results"]["framework"]["median_s"] > 0 for row in record["rows"])


def test_train_bench_quick_prints_step_memory_and_import_tables(tmp_path):
    out = run_script("train_bench.py", "--json", str(tmp_path / "train.json"))
    for text in ("training step on cpu", "tutorial", "MNIST", "peak RSS", "import framework", "target", "GPU rows"):
        assert text in out
    record = json.loads((tmp_path / "train.json").read_text())
    assert {(row["model"], row["optimizer"]) for row in record["steps"]} == {
        (m, o) for m in ("tutorial", "MNIST") for o in ("SGD", "Adam")}
