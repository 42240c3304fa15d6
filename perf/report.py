"""Kernel timing report: framework's kernels against PyTorch eager, torch.compile and numpy, on the cpu and on cuda.

    python perf/report.py                    # every row (a few minutes on 2 cores; then the cuda table on a GPU)
    python perf/report.py --quick            # a small subset (< 20 s on the cpu)
    python perf/report.py --json run.json    # the same numbers with machine, GPU, versions, commit and date
    python perf/report.py --compile          # add torch.compile (forward rows; its first compile takes 15-60 s)
    python perf/report.py --device cuda      # only the cuda table (cpu: only the cpu table)

How a row is timed (perf/timing.py, one harness for both devices): in each of three rounds (one in --quick)
each contender, in an order that rotates between rounds, is warmed up, then called one call per clock
reading until both a minimum count and a time budget are reached, cycling through several input sets; the
median and IQR pool the rounds. Forward rows run on inputs that do not require grad, so no graph is recorded
and nothing is saved for backward; backward rows build the graph on fresh leaves outside the timed region
before every repeat and time only `out.backward(grad)`.

cpu rows: the host clock. Large inputs rotate through sets whose total size is twice the last-level cache,
so no call finds its inputs cached by the previous one; tiny inputs stay cached, as they do in a real
training step. gc is off while timing, as in timeit. Percent of peak: GFLOP/s against the best large
float32 numpy matmul, GB/s against large numpy copies (copy and add, bytes read + written), both measured at
the start of the run with the same thread count (machine.py); a row whose inputs stay in cache can pass 100%.

cuda rows (with a GPU): CUDA events recorded on the stream each library launches on (framework.cuda.Event
on the framework's stream; torch.cuda.Event for PyTorch, which gets its own events, flush buffer and
synchronisation). Before every timed call a 256 MiB buffer (more than twice L2) is overwritten with zero_()
on that stream, so L2 holds nothing of the inputs; input sets rotate too (at least two copies, each uploaded
to its own device memory). Percent of peak: TFLOP/s against the best bfloat16 matmul (PyTorch's cuBLAS and
the framework's, 4096^3 and 8192^3), GB/s against a large device-to-device copy (bytes read + written), both
measured at the start of the run. PyTorch's optimizers run with fused=True, its fastest step, as the
framework's cuda step is one fused launch per group. F.linear_cross_entropy's baseline is the unfused
cross_entropy(linear(...)), and a second table gives the peak memory of fused against unfused; a third, the
peak memory of scaled_dot_product_attention against the unfused softmax(Q K^T) V over L (perf/attention_memory.py).
Under TRITON_INTERPRET=1 nothing on cuda is timed: each kernel of the cpu table runs once on the interpreted
cuda against the cpu, and every cuda row is built at a small size and run once through the same harness
(PyTorch on its cpu when it has no GPU), so the GPU code path runs in CI.

Ratios are framework time / baseline time: below 1.00x the framework is faster. Below the cpu table, issue
#14's CPU target: conv2d forward + backward time on LeNet's shapes over PyTorch's, met at 2x or less.
"""
import argparse
import dataclasses
import json
import time
from typing import Callable

import machine  # before numpy: pins the BLAS thread count
from machine import THREADS
import numpy as np
from tabulate import tabulate

import framework as fw
import attention_memory
import gpu_timing
from cases import FRAMEWORK, TORCH, all_cases, gpu_cases, torch
from timing import HOST, Budget, set_count, summarize, time_calls


# ---- timing ------------------------------------------------------------------------------------------------

# cpu budgets: a full cpu table in a few minutes on 2 cores. cuda budgets (not yet tuned on a GPU): each repeat
# also waits for its flush and its end event, so 0.1 s of timed calls caps at 4x that in wall time per round;
# with ~30 rows, 2 contenders and 3 rounds the cuda table takes one to two minutes plus making the inputs.
FULL, QUICK = Budget(0.15, 5, 700, 3, 8, 3), Budget(0.05, 5, 200, 2, 2, 1)
GPU_FULL, GPU_QUICK = Budget(0.1, 10, 500, 5, 4, 3, min_sets=2), Budget(0.03, 5, 100, 2, 2, 1, min_sets=2)
GPU_PEAK = Budget(0.05, 5, 50, 3, 1, 1)  # peaks: the best of a few calls
ONCE = Budget(0.0, 1, 1, 0, 1, 1)  # one untimed call per contender: the cuda rows under the interpreter


@dataclasses.dataclass
class Table:
    """One device's table: where each contender runs, which clock times it, and the cache its inputs outgrow."""
    device: str  # the framework's device: "cpu" or "cuda"
    budget: Budget
    cache_bytes: int  # cpu: the last-level cache; cuda: L2
    clocks: dict  # "framework", "torch" -> the clock that times that library
    torch_device: str = None  # where the torch baselines run; None: no torch columns
    copies: bool = False  # input sets: copies of one draw, each uploaded to its own memory (not fresh draws)


@dataclasses.dataclass
class Contender:
    name: str
    stage: Callable  # input set (numpy arrays) -> what prepare takes; called once per set and contender
    prepare: Callable  # staged set -> the zero-argument function to time
    rebuild: bool  # prepare before every call (backward rows: a fresh graph each repeat)
    clock: object


def _last_level_cache_bytes():
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as f:
            return int(f.read().strip().rstrip("K")) * 1024
    except (OSError, ValueError):
        return 32 * 2**20


def input_sets(case, table, rng):
    first = case.make(rng)
    size = sum(a.nbytes for v in first.values() for a in (v if isinstance(v, list) else [v]))
    count = set_count(size, table.cache_bytes, table.budget)
    return [first] * count if table.copies else [first] + [case.make(rng) for _ in range(count - 1)]


def stage_set(lib, device, arrays):
    return {k: lib.tensor(v, device) for k, v in arrays.items()}


def lib_preparer(case, lib, compiled=None):
    """staged tensors -> the zero-argument function to time, for framework or torch (or torch.compile'd)."""
    if case.prepare is not None:
        return lambda tensors: case.prepare(lib, tensors)
    forward = compiled or (lambda t: case.op(lib, t))

    def prepare(tensors):
        inputs = {k: v for k, v in tensors.items() if k != "grad"}
        if not case.grad_of:
            return lambda: forward(inputs)
        for k in case.grad_of:
            inputs[k] = tensors[k].detach().requires_grad_()  # a fresh leaf for every repeat
        out = forward(inputs)
        grad = tensors["grad"] if out.ndim else None
        return lambda: out.backward(grad)
    return prepare


def contenders(case, table, use_compile):
    """The contenders present, the framework first; numpy only in the cpu table."""
    rebuild = bool(case.grad_of)
    stage = lambda arrays: stage_set(FRAMEWORK, table.device, arrays)  # noqa: E731
    found = [Contender("framework", stage, lib_preparer(case, FRAMEWORK), rebuild, table.clocks["framework"])]
    if TORCH is not None and table.torch_device:
        stage = lambda arrays: stage_set(TORCH, table.torch_device, arrays)  # noqa: E731 (one copy for both)
        found.append(Contender("torch", stage, lib_preparer(case, TORCH), rebuild, table.clocks["torch"]))
        if use_compile and not case.grad_of and case.prepare is None:
            compiled = torch.compile(lambda t: case.op(TORCH, t))
            found.append(Contender("torch.compile", stage, lib_preparer(case, TORCH, compiled), False,
                                   table.clocks["torch"]))
    if table.device == "cpu":
        found.append(Contender("numpy", lambda arrays: arrays, case.numpy_ref, rebuild, HOST))
    return found


def run_case(case, table, use_compile, rng):
    """({contender: summary}, {baseline: error} for baselines that failed); the framework's errors propagate."""
    sets, entrants = input_sets(case, table, rng), contenders(case, table, use_compile)
    staged = {}
    for c in entrants:
        if c.stage not in staged:
            staged[c.stage] = [c.stage(s) for s in sets]
    times, failed = {c.name: [] for c in entrants}, {}
    with np.errstate(all="ignore"):
        for r in range(table.budget.rounds):
            for c in entrants[r % len(entrants):] + entrants[:r % len(entrants)]:
                if c.name in failed:
                    continue
                try:
                    times[c.name].append(time_calls(c.prepare, staged[c.stage], c.rebuild, table.budget, c.clock))
                except Exception as error:  # a baseline that does not work here (torch.compile) loses its column
                    if c.name == "framework":
                        raise
                    failed[c.name] = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    return {name: summarize(np.concatenate(t)) for name, t in times.items() if t and name not in failed}, failed


# ---- output ------------------------------------------------------------------------------------------------

UNIT_SCALE = {"GFLOP/s": 1e9, "TFLOP/s": 1e12, "GB/s": 1e9}


def peak_of(case, peaks):
    """The measured peak a row is held to: its dtype's matmul peak where one was measured, else its unit's."""
    return peaks.get(f"{case.unit} {case.dtype}") or peaks[case.unit]


def table_row(case, results, peaks, baselines):
    ours = results["framework"]
    rate = case.work / ours["median_s"] / UNIT_SCALE[case.unit]
    row = [case.kernel, case.size, case.dtype, machine.format_seconds(ours["median_s"]),
           machine.format_seconds(ours["p75_s"] - ours["p25_s"]), f"{rate:.1f} {case.unit}",
           f"{100 * rate / peak_of(case, peaks):.0f}%"]
    for name in baselines:
        base = results.get(name)
        row.append(machine.format_ratio(ours["median_s"], base and base["median_s"]))
    return row


def row_record(case, device, results, baselines, failed):
    return {"device": device, "kernel": case.kernel, "size": case.size, "dtype": case.dtype, "unit": case.unit,
            "work": case.work, "results": results, "failed": failed,
            "ratios": {n: results["framework"]["median_s"] / results[n]["median_s"]
                       for n in baselines if n in results}}


def print_table(rows, baselines):
    headers = ["kernel", "size", "dtype", "median", "IQR", "rate", "% peak"] + [f"x {n}" for n in baselines]
    print()
    print(tabulate(rows, headers=headers, disable_numparse=True))
    print("\nx NAME = framework median time / NAME median time (below 1.00x: framework faster).")


def print_failures(failures):
    for (kernel, size, dtype), failed in failures:
        for name, error in failed.items():
            print(f"  {name} failed on {kernel} {size} {dtype}: {error}")


def selected(cases, args, everything=False):
    return [c for c in cases if (everything or c.quick or not args.quick) and (not args.only or args.only in c.kernel)]


def conv_target(rows):
    """Issue #14's CPU target, from the cpu table's records: per LeNet shape, [size, conv2d forward + backward
    median time over PyTorch's]; empty without both rows or a torch column."""
    times = {}
    for row in rows:
        if row["device"] == "cpu" and row["kernel"] in ("conv2d fwd", "conv2d bwd") and row["size"].startswith("LeNet"):
            ours, torch_result = row["results"]["framework"], row["results"].get("torch")
            if torch_result:
                times.setdefault(row["size"], []).append((ours["median_s"], torch_result["median_s"]))
    return [[size, sum(t[0] for t in pair) / sum(t[1] for t in pair)] for size, pair in times.items() if len(pair) == 2]


def print_conv_target(targets):
    for size, ratio in targets:
        verdict = "met" if ratio <= 2 else f"missed by {ratio / 2:.2f}x"
        print(f"  target (#14): conv2d forward + backward within 2x of PyTorch on {size}: {ratio:.2f}x, {verdict}")


def measure_peaks(quick):
    """Best GB/s of large numpy copies (STREAM's copy and add, bytes read + written; the output written
    in place, so no page faults) and best GFLOP/s of a large float32 numpy matmul."""
    a, b, out = (np.full((16 if quick else 64) * 2**20 // 4, 1.5, dtype=np.float32) for _ in range(3))
    best_bytes = 0.0
    for _ in range(3 if quick else 6):
        for moved, run in ((2 * a.nbytes, lambda: np.copyto(out, a)), (3 * a.nbytes, lambda: np.add(a, b, out=out))):
            t0 = time.perf_counter()
            run()
            best_bytes = max(best_bytes, moved / (time.perf_counter() - t0))
    best_flops = 0.0
    for n in (1024,) if quick else (1024, 2048):
        a, b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
        a @ b
        for _ in range(3):
            t0 = time.perf_counter()
            a @ b
            best_flops = max(best_flops, 2.0 * n**3 / (time.perf_counter() - t0))
    return {"GB/s": best_bytes / 1e9, "GFLOP/s": best_flops / 1e9}


def gpu_notes():
    if fw.cuda.is_interpreted():
        return ["GPU rows: not timed: TRITON_INTERPRET=1 runs the cuda kernels in Triton's interpreter; each kernel "
                "of the table runs there once instead (below), checked against the CPU, and every cuda row is built "
                "and run once at a small size through the GPU harness."]
    if not fw.cuda.is_available():
        return ["GPU rows: skipped; they need a CUDA GPU (framework.cuda.is_available() is False)."]
    return ["GPU rows: in the cuda table below (CUDA events, L2 flushed between repeats)."]


# ---- the tables --------------------------------------------------------------------------------------------

def cpu_report(args, record):
    notes = gpu_notes()
    if torch is None:
        notes.append("PyTorch is not importable: no torch columns.")
    elif not args.compile:
        notes.append("torch.compile: skipped (its first compile takes 15-60 s on a 2-core machine; --compile adds it).")
    peaks = measure_peaks(args.quick)
    print(f"  measured peak: {peaks['GFLOP/s']:.1f} GFLOP/s (float32 numpy matmul, {THREADS} thread(s)), "
          f"{peaks['GB/s']:.1f} GB/s (numpy copy and add, read + write)")
    for note in notes:
        print("  " + note)
    cases = selected(all_cases(), args)
    table = Table("cpu", QUICK if args.quick else FULL, _last_level_cache_bytes(), {"framework": HOST, "torch": HOST},
                  None if torch is None else "cpu")
    baselines = ([] if torch is None else ["torch", "torch.compile"] if args.compile else ["torch"]) + ["numpy"]
    rng, rows, failures = np.random.default_rng(0), [], []
    for case in cases:
        results, failed = run_case(case, table, args.compile, rng)
        rows.append(table_row(case, results, peaks, baselines))
        record["rows"].append(row_record(case, "cpu", results, baselines, failed))
        if failed:
            failures.append(((case.kernel, case.size, case.dtype), failed))
    print_table(rows, baselines)
    print_failures(failures)
    targets = conv_target(record["rows"])
    print_conv_target(targets)
    record.update(peaks=peaks, notes=notes, conv_target=[{"size": size, "ratio_to_torch": r} for size, r in targets])
    if fw.cuda.is_interpreted():
        checked = check_interpreted_kernels(cases)
        if any(row[-1] != "ok" for row in checked):
            raise SystemExit("a cuda kernel disagrees with the CPU under the interpreter (table above)")


LCE_MEMORY_SIZE, LCE_MEMORY_SIZE_SMALL = (4096, 4096, 128256), (16, 24, 200)  # N, K, V of the memory table
# (B, H, lengths, D) of the attention memory table: the timed rows' batch and heads; the unfused contender holds
# several B x H x L x L bfloat16 tensors (2 GiB each at L = 4096)
ATTENTION_MEMORY_SIZE, ATTENTION_MEMORY_SIZE_SMALL = (4, 16, (1024, 2048, 4096), 64), (1, 2, (16, 32), 16)


def torch_gpu_device():
    """Where the cuda table's torch baselines run: torch's GPU; under the interpreter without one, torch's cpu
    (its numbers mean nothing there, but the baseline code runs); otherwise nowhere."""
    if torch is None:
        return None
    if torch.cuda.is_available():
        return "cuda"
    return "cpu" if fw.cuda.is_interpreted() else None


def linear_cross_entropy_memory_table(size, torch_device):
    """Prints and returns [(contender, peak bytes or None)] for F.linear_cross_entropy against unfused."""
    n, k, vocab = size
    memory = gpu_timing.linear_cross_entropy_memory_rows(n, k, vocab, "bfloat16", torch, torch_device)
    unfused = dict(memory)["framework, unfused"]
    print(f"\nlinear+cross-entropy peak memory beyond the inputs, one forward + backward, {n}x{k} -> {vocab} "
          "bfloat16 (max_memory_allocated):")
    print(tabulate([[name, "-" if peak is None else f"{peak / 2**20:.2f}",
                     "-" if peak is None else f"{peak / unfused:.3f}"] for name, peak in memory],
                   headers=["", "MiB", "/ framework unfused"], disable_numparse=True))
    return memory


def attention_memory_table(size, torch_device):
    """Prints and returns [(L, {contender: peak bytes})] for F.scaled_dot_product_attention against the unfused
    softmax(Q K^T) V (and PyTorch's SDPA on a GPU), with each one's growth per doubling of L."""
    batch, heads, lengths, dim = size
    result = attention_memory.rows("cuda", batch, heads, lengths, dim, "bfloat16", causal=False,
                                   torch=torch if torch_device == "cuda" else None)
    names = list(result[0][1])
    print(f"\nattention peak memory beyond the inputs, one forward + backward, B={batch} H={heads} D={dim} "
          "bfloat16, MiB (max_memory_allocated):")
    table = [[f"L={length}", *(f"{peaks[name] / 2**20:.2f}" for name in names)] for length, peaks in result]
    table.append(["x per doubling of L", *(f"{attention_memory.growth(result, name):.2f}" for name in names)])
    print(tabulate(table, headers=["", *names], disable_numparse=True))
    return result


def gpu_report(args, record):
    """The cuda table, timed with CUDA events; under the interpreter every row is built at a small size and each
    contender's callable runs once through the same harness, untimed."""
    interpreted = fw.cuda.is_interpreted()
    cases = selected(gpu_cases(small=interpreted), args, everything=interpreted)
    if not cases:
        return
    torch_device = torch_gpu_device()
    l2, l2_source = gpu_timing.l2_cache_bytes()
    flush = gpu_timing.flush_bytes(l2)
    clocks = {"framework": gpu_timing.framework_clock(flush)}
    if torch_device:
        clocks["torch"] = gpu_timing.torch_clock(torch, torch_device, flush)
    budget = ONCE if interpreted else GPU_QUICK if args.quick else GPU_FULL
    table = Table("cuda", budget, l2, clocks, torch_device, copies=True)
    info = gpu_timing.gpu_info(l2, l2_source, flush, torch, torch_device)
    v = info["versions"]
    print(f"\nframework kernel report (cuda): {info['name']}, {info['total_memory'] >> 20} MiB")
    baseline = f"torch {torch.__version__} on {torch_device} (CUDA {v['torch_cuda']})" if torch_device else "no torch"
    print(f"  triton {v['triton']}, cuda-core {v['cuda-core']}, {baseline}; L2 {l2 >> 20} MiB ({l2_source}); "
          f"{flush / 2**20:g} MiB zero_() before every timed call")
    notes = []
    if torch is not None and torch_device is None:
        notes.append("PyTorch has no GPU here (torch.cuda.is_available() is False): no torch columns.")
    peak_libs = {"framework": (fw, clocks["framework"])}
    if torch_device == "cuda":
        peak_libs["torch"] = (torch, clocks["torch"])
    copy_bytes = 64 << 10 if interpreted else 256 << 20 if args.quick else 1 << 30
    sizes = (64,) if interpreted else (8192,) if args.quick else (4096, 8192)
    flop_dtypes = sorted({c.dtype for c in cases if c.unit == "TFLOP/s"})
    peaks, sources = gpu_timing.measure_peaks(peak_libs, flop_dtypes, ONCE if interpreted else GPU_PEAK,
                                              copy_bytes, sizes)
    print("  measured peak" + (" (interpreter: not meaningful)" if interpreted else "") + ": " +
          ", ".join(f"{value:.1f} {key} ({sources[key]})" for key, value in peaks.items()))
    for note in notes:
        print("  " + note)
    baselines = [] if not torch_device else ["torch", "torch.compile"] if args.compile else ["torch"]
    rng, rows, ran, failures = np.random.default_rng(0), [], [], []
    for case in cases:
        results, failed = run_case(case, table, args.compile, rng)
        gpu_timing.release_cached_memory(torch, torch_device)
        if failed:
            failures.append(((case.kernel, case.size, case.dtype), failed))
        if interpreted:
            ran.append([case.kernel, case.size, case.dtype, ", ".join(results)])
        else:
            rows.append(table_row(case, results, peaks, baselines))
            record["rows"].append(row_record(case, "cuda", results, baselines, failed))
    if interpreted:
        print("\ncuda rows under the interpreter (small sizes; each contender's callable built and run once, "
              "not timed):")
        print(tabulate(ran, headers=["kernel", "size", "dtype", "ran"], disable_numparse=True))
    else:
        print_table(rows, baselines)
    print_failures(failures)
    memory = []
    if any(c.kernel.startswith("linear_cross_entropy") for c in cases):
        memory = linear_cross_entropy_memory_table(LCE_MEMORY_SIZE_SMALL if interpreted else LCE_MEMORY_SIZE,
                                                   torch_device)
    attention = []
    if any(c.kernel.startswith("attention") for c in cases):
        attention = attention_memory_table(ATTENTION_MEMORY_SIZE_SMALL if interpreted else ATTENTION_MEMORY_SIZE,
                                           torch_device)
    record["gpu"] = {**info, "peaks": peaks, "peak_sources": sources, "notes": notes,
                     "budget": dataclasses.asdict(budget),
                     "linear_cross_entropy_memory": [{"contender": name, "peak_bytes": peak} for name, peak in memory],
                     "attention_memory": [{"length": length, "contender": name, "peak_bytes": peak}
                                          for length, peaks in attention for name, peak in peaks.items()],
                     "interpreter_runs": [dict(zip(("kernel", "size", "dtype", "ran"), r)) for r in ran]}
    if interpreted and failures:
        raise SystemExit("a cuda row's baseline failed under the interpreter (above)")


def check_interpreted_kernels(cases):
    """Run each kernel of the table once on the interpreted cuda, at its smallest size, against the CPU result."""
    smallest = {}
    for case in cases:
        if case.kernel not in smallest or case.work < smallest[case.kernel].work:
            smallest[case.kernel] = case
    rows = []
    for case in smallest.values():
        arrays = case.make(np.random.default_rng(0))
        results = []
        for device in ("cpu", "cuda"):
            if case.prepare is not None:  # an optimizer step: the updated parameters
                tensors = {k: [fw.from_numpy(a.copy()).to(device) for a in v] for k, v in arrays.items()}
                params = [p.requires_grad_() for p in tensors["params"]]
                for p, g in zip(params, tensors["grads"]):
                    p.grad = g
                opt = fw.optim.SGD(params, lr=0.01, momentum=0.9) if "SGD" in case.kernel else fw.optim.Adam(params)
                opt.step()
                results.append(np.concatenate([p.detach().cpu().numpy().ravel() for p in params]))
                continue
            tensors = {k: fw.from_numpy(v).to(device) for k, v in arrays.items() if k != "grad"}
            for k in case.grad_of:
                tensors[k].requires_grad_()
            out = case.op(FRAMEWORK, tensors)
            if case.grad_of:
                out.backward(fw.from_numpy(arrays["grad"]).to(device) if out.ndim else None)
                results.append(np.concatenate([tensors[k].grad.cpu().numpy().ravel() for k in case.grad_of]))
            else:
                results.append(out.detach().cpu().numpy().ravel())
        error = float(np.max(np.abs(results[0] - results[1]) / (1 + np.abs(results[0])))) if results[0].size else 0.0
        rows.append([case.kernel, case.size, case.dtype, f"{error:.1e}", "ok" if error < 1e-3 else "MISMATCH"])
    print("\ncuda kernels under the interpreter (one run each, max |cuda - cpu| / (1 + |cpu|)):")
    print(tabulate(rows, headers=["kernel", "size", "dtype", "error", ""], disable_numparse=True))
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="time a small subset quickly")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers, machine and versions as JSON")
    parser.add_argument("--compile", action="store_true", help="add torch.compile as a baseline (forward rows)")
    parser.add_argument("--only", metavar="TEXT", help="only rows whose kernel name contains TEXT")
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all",
                        help="which tables: the cpu one, the cuda one (needs a GPU or TRITON_INTERPRET=1), or both")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if torch is not None:
        torch.set_num_threads(THREADS)
    info = machine.run_info(THREADS)
    machine.print_header("framework kernel report" + (" (CPU)" if args.device != "cuda" else ""), info)
    record = {**info, "quick": args.quick, "rows": []}
    if args.device != "cuda":
        cpu_report(args, record)
    elif not fw.cuda.is_available():
        print("  " + gpu_notes()[0])
    if args.device != "cpu" and fw.cuda.is_available():
        gpu_report(args, record)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
