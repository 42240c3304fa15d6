"""The perf scripts run and print their tables (`--quick`), so they cannot rot. No timing is asserted."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

import framework as fw

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(name, *args, env=None):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "perf", name), "--quick", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"perf/{name} --quick failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _perf_module(name):
    """perf/<name>.py, loaded from the perf folder as the scripts load each other; the thread variables that
    perf/machine.py pins on import are put back as they were."""
    sys.path.insert(0, os.path.join(ROOT, "perf"))
    environment = dict(os.environ)
    try:
        spec = importlib.util.spec_from_file_location(f"perf_{name}", os.path.join(ROOT, "perf", f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(os.path.join(ROOT, "perf"))
        os.environ.clear()
        os.environ.update(environment)
    return module


def _gpu_cases(small):
    """perf/cases.py's cuda rows."""
    cases = _perf_module("cases")
    return cases.gpu_cases(small=small), cases.torch is not None


def test_report_quick_prints_the_kernel_table_and_writes_json(tmp_path):
    # TRITON_INTERPRET=1 must give a note about the Triton backend, never a crash or a pretended check; and every
    # cuda row (at a small size) has each contender's callable built and run once through the GPU harness
    out = run_script("report.py", "--json", str(tmp_path / "report.json"), env={"TRITON_INTERPRET": "1"})
    for text in ("kernel", "median", "% peak", "x numpy", "linear fwd", "cross_entropy bwd", "Adam step",
                 "measured peak", "GPU rows", "TRITON_INTERPRET=1", "cuda rows under the interpreter",
                 "linear+cross-entropy peak memory", "attention peak memory", "x per doubling of L"):
        assert text in out
    record = json.loads((tmp_path / "report.json").read_text())
    assert record["rows"] and {"machine", "versions", "commit", "date", "peaks", "threads", "gpu"} <= set(record)
    assert all(row["results"]["framework"]["median_s"] > 0 for row in record["rows"])
    assert {row["device"] for row in record["rows"]} == {"cpu"}  # nothing on cuda is timed under the interpreter
    gpu = record["gpu"]
    assert gpu["interpreted"] and {"name", "versions", "peaks", "flush_bytes", "l2_cache_bytes"} <= set(gpu)
    cases, has_torch = _gpu_cases(small=True)
    ran = [(r["kernel"], r["size"], r["dtype"], r["ran"]) for r in gpu["interpreter_runs"]]
    contenders = "framework, torch" if has_torch else "framework"
    assert ran == [(c.kernel, c.size, c.dtype, contenders) for c in cases]
    assert len({c.kernel for c in cases}) >= 13  # linear, cross-entropy, BCE, linear+CE (fwd, bwd); matmul, ...
    memory = {m["contender"]: m["peak_bytes"] for m in gpu["linear_cross_entropy_memory"]}
    assert memory["framework, fused"] > 0 and memory["framework, unfused"] > 0
    attention = {(m["length"], m["contender"]): m["peak_bytes"] for m in gpu["attention_memory"]}
    assert {length for length, _ in attention} == {16, 32} and all(peak > 0 for peak in attention.values())
    assert attention[32, "unfused"] > attention[32, "fused"]  # the 32 x 32 scores, whole, only in the unfused


def test_gpu_rows_are_the_issue_rows_at_their_target_sizes():
    cases, _ = _gpu_cases(small=False)
    rows = {(c.kernel, c.size, c.dtype) for c in cases}
    for row in [("linear fwd", "4096x4096 -> 4096", "bfloat16"), ("linear bwd", "4096x4096 -> 4096", "bfloat16"),
                ("cross_entropy fwd", "8192x32000", "bfloat16"), ("cross_entropy bwd", "4096x128256", "bfloat16"),
                ("linear_cross_entropy bwd", "4096x4096 -> 128256", "bfloat16")]:
        assert row in rows
    assert {"bce_with_logits fwd", "bce_with_logits bwd", "matmul", "softmax", "add", "mul", "sum", "Adam step",
            "SGD step (momentum 0.9)"} <= {c.kernel for c in cases}
    for kernel in ("LSTM layer fwd", "LSTM layer bwd"):  # issue #20: batch 64, hidden 512, 128 steps, against cuDNN
        assert (kernel, "T=128 B=64 I=512 H=512", "float32") in rows
    # issue #14: conv2d at ResNet-50's shapes in bfloat16 and float16 (against cuDNN), pooling and batch norm
    for direction in ("fwd", "bwd"):
        for dtype in ("bfloat16", "float16"):
            assert (f"conv2d {direction}", "ResNet-50 layer1 3x3: 64x64x56x56, 64 3x3", dtype) in rows
        assert (f"conv2d {direction}", "ResNet-50 stem: 64x3x224x224, 64 7x7 s2", "bfloat16") in rows
        assert (f"max_pool2d {direction}", "ResNet-50 stem pool: 64x64x112x112, 3x3 s2", "bfloat16") in rows
        assert (f"batch_norm {direction}", "ResNet-50 layer1: 64x64x56x56", "bfloat16") in rows
        # issue #15: layer norm and RMS norm in GB/s
        for kernel in ("layer_norm", "rms_norm"):
            assert next(c.unit for c in cases if (c.kernel, c.size, c.dtype) == (
                f"{kernel} {direction}", "8192x4096", "bfloat16")) == "GB/s"
    # issue #15: attention at (4, 16, L, D), L from 1k to 16k, D 64 and 128, causal and not, in bfloat16
    for direction in ("fwd", "bwd"):
        for size in ("4x16x1024x64", "4x16x4096x128 causal", "4x16x16384x64", "4x16x16384x128 causal"):
            assert (f"attention {direction}", size, "bfloat16") in rows
    assert {c.unit for c in cases} == {"TFLOP/s", "GB/s"}
    small = {(c.kernel, c.dtype) for c in _gpu_cases(small=True)[0]}
    assert small == {(c.kernel, c.dtype) for c in cases}  # the interpreter runs the same rows, smaller


def test_train_bench_quick_prints_step_memory_and_import_tables(tmp_path):
    out = run_script("train_bench.py", "--json", str(tmp_path / "train.json"))
    for text in ("training step on cpu", "tutorial", "MNIST", "peak RSS", "import framework", "target", "GPU rows"):
        assert text in out
    record = json.loads((tmp_path / "train.json").read_text())
    assert {(row["model"], row["optimizer"], row["precision"]) for row in record["steps"]} == {
        (m, o, p) for m in ("tutorial", "MNIST") for o in ("SGD", "Adam") for p in ("fp32", "bf16")}
    assert all("numpy" not in row for row in record["steps"] if row["precision"] != "fp32")  # numpy has no autocast


def test_cpu_rows_hold_conv_pooling_and_batch_norm_and_the_conv_target_is_computed_from_them():
    rows = {(c.kernel, c.size, c.dtype, c.unit) for c in _perf_module("cases").all_cases()}
    for direction in ("fwd", "bwd"):
        for size in ("LeNet conv1: 64x1x32x32, 6 5x5", "LeNet conv2: 64x6x14x14, 16 5x5",
                     "ResNet-50 layer1 3x3: 4x64x56x56, 64 3x3"):
            assert (f"conv2d {direction}", size, "float32", "GFLOP/s") in rows
        assert (f"max_pool2d {direction}", "LeNet pool1: 64x6x28x28, 2x2 s2", "float32", "GB/s") in rows
        assert (f"batch_norm {direction}", "ResNet-50 layer1: 4x64x56x56", "float32", "GB/s") in rows
        for kernel in ("layer_norm", "rms_norm"):
            assert (f"{kernel} {direction}", "2048x768", "float32", "GB/s") in rows
        assert (f"attention {direction}", "2x4x256x64 causal", "float32", "GFLOP/s") in rows

    def record(kernel, size, ours, torch_s=None):
        results = {"framework": {"median_s": ours}, **({"torch": {"median_s": torch_s}} if torch_s else {})}
        return {"device": "cpu", "kernel": kernel, "size": size, "results": results}
    rows = [record("conv2d fwd", "LeNet conv1", 1.0, 2.0), record("conv2d bwd", "LeNet conv1", 5.0, 1.0),
            record("conv2d fwd", "LeNet conv2", 1.0, 1.0),  # no backward row: no target
            record("conv2d fwd", "ResNet-50", 9.0, 1.0), record("conv2d bwd", "ResNet-50", 9.0, 1.0),
            record("conv2d fwd", "LeNet x", 1.0), record("conv2d bwd", "LeNet x", 1.0)]  # no torch column
    assert _perf_module("report").conv_target(rows) == [["LeNet conv1", 2.0]]  # (1 + 5) / (2 + 1)


def test_attention_memory_grows_linearly_in_the_length_where_the_unfused_grows_quadratically():
    """perf/attention_memory.py on the CPU: the blockwise path never holds the L x L scores whole."""
    memory = _perf_module("attention_memory")
    result = memory.rows("cpu", 1, 2, (256, 512, 1024), 16, "float32", causal=False)
    assert memory.growth(result, "fused") < 2.2 and memory.growth(result, "unfused") > 3.0
    assert result[-1][1]["fused"] < result[-1][1]["unfused"] / 4


def test_train_bench_captured_step_matches_the_eager_step_and_its_rows_use_the_eager_baselines():
    bench = _perf_module("train_bench")
    sizes, batch = bench.MODELS[0][1:]
    params, batches = bench._initial_state(sizes, batch)
    eager = bench.library_step(fw, "cpu", params, batches, "Adam")
    captured = bench.library_step(fw, "cpu", params, batches, "Adam", captured=True)
    for i in range(4):  # warm-up, capture, then replays
        assert np.array_equal(eager(i).detach().numpy(), captured(i).detach().numpy())
    assert bench.parse_args(["--capture"]).capture
    timing = {"min_s": 1e-4, "max_s": 1e-4, "loss": 1.0, "maxrss_mib": 1.0}
    table = {("tutorial", "SGD", "fp32"): {"framework": {**timing, "median_s": 4e-4},
                                           "torch": {**timing, "median_s": 5e-4},
                                           "numpy": {**timing, "median_s": 1e-4}},
             ("tutorial, captured", "SGD", "fp32"): {"framework": {**timing, "median_s": 1.4e-4}}}
    rows, headers = bench.step_rows(table, ["framework", "torch", "numpy"])
    captured_row = dict(zip(headers, rows[1]))
    assert captured_row["x torch"] == "0.28x" and captured_row["x numpy"] == "1.40x"
    assert captured_row["target (x torch)"] == "<= 0.3x: met; <= 1.5x numpy: met"
