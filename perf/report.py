"""Kernel timing report: framework's CPU kernels against PyTorch eager, torch.compile and numpy.

    python perf/report.py                    # every row (a few minutes on 2 cores)
    python perf/report.py --quick            # a small subset (< 20 s)
    python perf/report.py --json run.json    # the same numbers with machine, versions, commit and date
    python perf/report.py --compile          # add torch.compile (forward rows; its first compile takes 15-60 s)

How a row is timed: in each of three rounds (one in --quick) each contender, in an
order that rotates between rounds, is warmed up, then called one call per timer
reading until both a minimum count and a time budget are reached, cycling through
several input sets; the median and IQR pool the rounds. Large inputs rotate through sets whose total size is twice the
last-level cache, so no call finds its inputs cached by the previous one; tiny
inputs stay cached, as they do in a real training step. gc is off while timing,
as in timeit. Forward rows run on inputs that do not require grad, so no graph is
recorded and nothing is saved for backward; backward rows build the graph on fresh
leaves outside the timer before every repeat and time only `out.backward(grad)`.
Percent of peak: GFLOP/s against the best large float32 numpy matmul, GB/s against
large numpy copies (copy and add, bytes read + written), both measured at the start of the run
with the same thread count (machine.py); a row whose inputs stay in cache can pass 100%.
Ratios are framework time / baseline time: below 1.00x the framework is faster.
"""
import argparse
import dataclasses
import gc
import json
import math
import operator
import os
import time
from typing import Callable

import machine  # before numpy: pins the BLAS thread count
from machine import THREADS
import numpy as np
from tabulate import tabulate

import framework as fw
import numpy_ref

try:
    import torch
except ImportError:  # PyTorch is only a baseline: its columns disappear
    torch = None


class Lib:
    """The calls a case makes, for framework or torch: the API is PyTorch's, so each case is written once."""

    def __init__(self, module, linear_relu):
        self.module = module
        self.F, self.optim, self.from_numpy = module.nn.functional, module.optim, module.from_numpy
        self.linear_relu = linear_relu


FRAMEWORK = Lib(fw, lambda x, w, b: fw.ops.linalg.linear(x, w, b, activation="relu"))
TORCH = None if torch is None else Lib(torch, lambda x, w, b: torch.relu(torch.nn.functional.linear(x, w, b)))


@dataclasses.dataclass
class Case:
    kernel: str
    size: str
    dtype: str
    unit: str  # "GFLOP/s" or "GB/s"
    work: float  # FLOPs or bytes one call needs at the least
    make: Callable  # rng -> dict of numpy arrays: one input set
    op: Callable = None  # (lib, tensors) -> output: the forward, for framework and torch alike
    numpy_ref: Callable = None  # arrays -> zero-argument function; a backward's saved values are computed outside
    grad_of: tuple = ()  # inputs that require grad: non-empty makes a backward row
    prepare: Callable = None  # (lib, arrays) -> zero-argument function, for rows that are not an op (optimizers)
    quick: bool = False


# ---- the cases ---------------------------------------------------------------------------------------------

def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _linear_inputs(m, k, n, dtype):
    return lambda rng: {"x": _randn(rng, (m, k), dtype), "w": _randn(rng, (n, k), dtype) / math.sqrt(k),
                        "b": _randn(rng, (n,), dtype), "grad": _randn(rng, (m, n), dtype)}


def linear_cases(m, k, n, dtype=np.float32, relu=False, quick=False):
    label = "linear+relu" if relu else "linear"
    size, make, flops = f"{m}x{k} -> {n}", _linear_inputs(m, k, n, dtype), 2.0 * m * k * n
    op = ((lambda lib, t: lib.linear_relu(t["x"], t["w"], t["b"])) if relu
          else (lambda lib, t: lib.F.linear(t["x"], t["w"], t["b"])))
    dt = np.dtype(dtype).name
    return [Case(f"{label} fwd", size, dt, "GFLOP/s", flops, make, op,
                 lambda a: lambda: numpy_ref.linear(a["x"], a["w"], a["b"], relu), quick=quick),
            Case(f"{label} bwd", size, dt, "GFLOP/s", 2 * flops, make, op,
                 lambda a: numpy_ref.linear_backward(a["x"], a["w"], a["b"], a["grad"], relu),
                 grad_of=("x", "w", "b"), quick=quick)]


def cross_entropy_cases(n, c, quick=False):
    make = lambda rng: {"x": _randn(rng, (n, c), np.float32), "t": rng.integers(0, c, n)}  # noqa: E731
    op = lambda lib, t: lib.F.cross_entropy(t["x"], t["t"])  # noqa: E731
    fwd_bytes, bwd_bytes = 4.0 * n * c + 8 * n, 8.0 * n * c  # read logits (+targets); read saved, write grad
    return [Case("cross_entropy fwd", f"{n}x{c}", "float32", "GB/s", fwd_bytes, make, op,
                 lambda a: lambda: numpy_ref.cross_entropy_loss(a["x"], a["t"]), quick=quick),
            Case("cross_entropy bwd", f"{n}x{c}", "float32", "GB/s", bwd_bytes, make, op,
                 lambda a: numpy_ref.cross_entropy_backward(a["x"], a["t"]), grad_of=("x",), quick=quick)]


def bce_logits_cases(n, c):
    make = lambda rng: {"x": _randn(rng, (n, c), np.float32),  # noqa: E731
                        "t": rng.integers(0, 2, (n, c)).astype(np.float32)}
    op = lambda lib, t: lib.F.binary_cross_entropy_with_logits(t["x"], t["t"])  # noqa: E731
    return [Case("bce_with_logits fwd", f"{n}x{c}", "float32", "GB/s", 8.0 * n * c, make, op,
                 lambda a: lambda: numpy_ref.bce_with_logits(a["x"], a["t"])),
            Case("bce_with_logits bwd", f"{n}x{c}", "float32", "GB/s", 12.0 * n * c, make, op,
                 lambda a: numpy_ref.bce_with_logits_backward(a["x"], a["t"]), grad_of=("x",))]


def matmul_case(m, k, n, dtype=np.float32):
    make = lambda rng: {"a": _randn(rng, (m, k), dtype), "b": _randn(rng, (k, n), dtype)}  # noqa: E731
    return Case("matmul", f"{m}x{k} @ {k}x{n}", np.dtype(dtype).name, "GFLOP/s", 2.0 * m * k * n, make,
                lambda lib, t: t["a"] @ t["b"], lambda a: lambda: a["a"] @ a["b"])


def softmax_case(n, c):
    return Case("softmax", f"{n}x{c}", "float32", "GB/s", 8.0 * n * c,
                lambda rng: {"x": _randn(rng, (n, c), np.float32)},
                lambda lib, t: lib.F.softmax(t["x"], dim=1), lambda a: lambda: numpy_ref.softmax(a["x"]))


def elementwise_case(name, fn, shape, dtype=np.float32, quick=False):
    itemsize, count = np.dtype(dtype).itemsize, math.prod(shape)
    return Case(name, "x".join(map(str, shape)), np.dtype(dtype).name, "GB/s", 3.0 * itemsize * count,
                lambda rng: {"a": _randn(rng, shape, dtype), "b": _randn(rng, shape, dtype)},
                lambda lib, t: fn(t["a"], t["b"]), lambda a: lambda: fn(a["a"], a["b"]), quick=quick)


def sum_case(shape, dim=None):
    label = "sum" if dim is None else f"sum(dim={dim})"
    return Case(label, "x".join(map(str, shape)), "float32", "GB/s", 4.0 * math.prod(shape),
                lambda rng: {"a": _randn(rng, shape, np.float32)},
                lambda lib, t: t["a"].sum() if dim is None else t["a"].sum(dim=dim),
                lambda a: lambda: a["a"].sum(axis=dim))


def _mlp_arrays(sizes):
    def make(rng):
        shapes = [s for k, n in zip(sizes, sizes[1:]) for s in ((n, k), (n,))]
        return {"params": [_randn(rng, s, np.float32) * 0.1 for s in shapes],
                "grads": [_randn(rng, s, np.float32) * 0.01 for s in shapes]}
    return make


def _prepare_optimizer(name, lib, arrays):
    params = [lib.from_numpy(p.copy()).requires_grad_() for p in arrays["params"]]
    for p, g in zip(params, arrays["grads"]):
        p.grad = lib.from_numpy(g.copy())
    opt = lib.optim.SGD(params, lr=0.01, momentum=0.9) if name == "SGD" else lib.optim.Adam(params, lr=1e-3)
    return opt.step


def _numpy_optimizer(name, arrays):
    params, grads = [p.copy() for p in arrays["params"]], arrays["grads"]
    update = numpy_ref.sgd_update(params, 0.01, 0.9) if name == "SGD" else numpy_ref.adam_update(params, 1e-3)
    return lambda: update(grads)


def optimizer_case(name, label, sizes, quick=False):
    n_params = sum(n * k + n for k, n in zip(sizes, sizes[1:]))
    moved = (5 if name == "SGD" else 7) * 4.0 * n_params  # SGD+momentum: p, g, buf read; p, buf written
    kernel = f"{name} step" + (" (momentum 0.9)" if name == "SGD" else "")
    return Case(kernel, f"{label} MLP, {n_params} params", "float32", "GB/s", moved, _mlp_arrays(sizes),
                numpy_ref=lambda arrays: _numpy_optimizer(name, arrays),
                prepare=lambda lib, arrays: _prepare_optimizer(name, lib, arrays), quick=quick)


def all_cases():
    tutorial, mnist = (50, 30, 20, 3), (784, 512, 512, 10)
    return [
        *linear_cases(32, 50, 30, quick=True), *linear_cases(256, 784, 512), *linear_cases(1024, 1024, 1024),
        *linear_cases(256, 784, 512, dtype=np.float64), *linear_cases(256, 784, 512, relu=True),
        *cross_entropy_cases(32, 3), *cross_entropy_cases(256, 10, quick=True), *cross_entropy_cases(4096, 1000),
        *bce_logits_cases(32, 1), *bce_logits_cases(4096, 1024),
        matmul_case(256, 784, 512), matmul_case(1024, 1024, 1024), matmul_case(1024, 1024, 1024, np.float64),
        softmax_case(256, 10), softmax_case(4096, 1000),
        elementwise_case("add", operator.add, (32, 50), quick=True),
        elementwise_case("add", operator.add, (2048, 2048)),
        elementwise_case("add", operator.add, (2048, 2048), np.float64),
        elementwise_case("mul", operator.mul, (32, 50)), elementwise_case("mul", operator.mul, (2048, 2048)),
        sum_case((32, 50)), sum_case((2048, 2048)), sum_case((2048, 2048), dim=1),
        optimizer_case("SGD", "tutorial", tutorial), optimizer_case("SGD", "MNIST", mnist),
        optimizer_case("Adam", "tutorial", tutorial, quick=True), optimizer_case("Adam", "MNIST", mnist),
    ]


# ---- timing ------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Budget:
    seconds: float  # timed seconds per contender, row and round, once min_reps are done
    min_reps: int  # per round
    max_reps: int  # per round
    warmup: int  # calls per round
    max_sets: int  # input sets to rotate through
    rounds: int  # contenders alternate round by round, so a drift in the machine's load hits all of them


FULL, QUICK = Budget(0.15, 5, 700, 3, 8, 3), Budget(0.05, 5, 200, 2, 2, 1)


def _last_level_cache_bytes():
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as f:
            return int(f.read().strip().rstrip("K")) * 1024
    except (OSError, ValueError):
        return 32 * 2**20


def input_sets(case, budget, rng):
    first = case.make(rng)
    size = sum(a.nbytes for v in first.values() for a in (v if isinstance(v, list) else [v]))
    count = max(1, min(budget.max_sets, math.ceil(2 * _last_level_cache_bytes() / size)))
    return [first] + [case.make(rng) for _ in range(count - 1)]


def lib_preparer(case, lib, compiled=None):
    """arrays -> the zero-argument function to time, for framework or torch (or torch.compile'd)."""
    if case.prepare is not None:
        return lambda arrays: case.prepare(lib, arrays)
    forward = compiled or (lambda t: case.op(lib, t))

    def prepare(arrays):
        tensors = {k: lib.from_numpy(v) for k, v in arrays.items() if k != "grad"}
        if not case.grad_of:
            return lambda: forward(tensors)
        for k in case.grad_of:
            tensors[k] = lib.from_numpy(arrays[k]).requires_grad_()  # a fresh leaf for every repeat
        out = forward(tensors)
        grad = lib.from_numpy(arrays["grad"]) if out.ndim else None
        return lambda: out.backward(grad)
    return prepare


def time_calls(prepare, sets, rebuild, budget):
    """Seconds per call of prepare(inputs)(), cycling through the input sets; rebuild: prepare before each call."""
    ready = None if rebuild else [prepare(s) for s in sets]
    next_call = (lambda i: prepare(sets[i % len(sets)])) if rebuild else (lambda i: ready[i % len(ready)])
    for i in range(budget.warmup):
        next_call(i)()
    gc.collect()
    gc.disable()
    times, timed, started = [], 0.0, time.perf_counter()
    try:
        while len(times) < budget.max_reps:
            call = next_call(len(times))
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
            timed += times[-1]
            done = timed >= budget.seconds or time.perf_counter() - started > 4 * budget.seconds
            if len(times) >= budget.min_reps and done:
                break
    finally:
        gc.enable()
    return np.array(times)


def summarize(times):
    p25, median, p75 = np.percentile(times, [25, 50, 75])
    return {"median_s": median, "p25_s": p25, "p75_s": p75, "min_s": times.min(), "max_s": times.max(),
            "repeats": len(times)}


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


def contenders(case, use_compile):
    """(name, prepare, rebuild) for each contender present; the framework first."""
    rebuild = bool(case.grad_of)
    found = [("framework", lib_preparer(case, FRAMEWORK), rebuild)]
    if TORCH is not None:
        found.append(("torch", lib_preparer(case, TORCH), rebuild))
        if use_compile and not case.grad_of and case.prepare is None:
            compiled = torch.compile(lambda t: case.op(TORCH, t))
            found.append(("torch.compile", lib_preparer(case, TORCH, compiled), False))
    found.append(("numpy", case.numpy_ref, rebuild))
    return found


def run_case(case, budget, use_compile, rng):
    sets, entrants = input_sets(case, budget, rng), contenders(case, use_compile)
    times = {name: [] for name, _, _ in entrants}
    with np.errstate(all="ignore"):
        for r in range(budget.rounds):
            for name, prepare, rebuild in entrants[r % len(entrants):] + entrants[:r % len(entrants)]:
                times[name].append(time_calls(prepare, sets, rebuild, budget))
    return {name: summarize(np.concatenate(t)) for name, t in times.items()}


# ---- output ------------------------------------------------------------------------------------------------

def table_row(case, results, peaks, baselines):
    ours = results["framework"]
    rate = case.work / ours["median_s"] / 1e9
    row = [case.kernel, case.size, case.dtype, machine.format_seconds(ours["median_s"]),
           machine.format_seconds(ours["p75_s"] - ours["p25_s"]), f"{rate:.1f} {case.unit}",
           f"{100 * rate / peaks[case.unit]:.0f}%"]
    for name in baselines:
        base = results.get(name)
        row.append(machine.format_ratio(ours["median_s"], base and base["median_s"]))
    return row


def gpu_notes():
    if fw.cuda.is_interpreted():
        return ["GPU rows: not timed: TRITON_INTERPRET=1 runs the cuda kernels in Triton's interpreter; each kernel "
                "of the table runs there once instead (below), checked against the CPU."]
    if not fw.cuda.is_available():
        return ["GPU rows: skipped; they need a CUDA GPU (framework.cuda.is_available() is False)."]
    return ["GPU rows: not in this report yet: the CPU rows above time the numpy backend only."]


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
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if torch is not None:
        torch.set_num_threads(THREADS)
    info = machine.run_info(THREADS)
    machine.print_header("framework kernel report (CPU)", info)
    notes = gpu_notes()
    if torch is None:
        notes.append("PyTorch is not importable: no torch columns.")
    elif not args.compile:
        notes.append("torch.compile: skipped (its first compile takes 15-60 s on a 2-core machine; --compile adds it).")
    budget = QUICK if args.quick else FULL
    peaks = measure_peaks(args.quick)
    print(f"  measured peak: {peaks['GFLOP/s']:.1f} GFLOP/s (float32 numpy matmul, {THREADS} thread(s)), "
          f"{peaks['GB/s']:.1f} GB/s (numpy copy and add, read + write)")
    for note in notes:
        print("  " + note)
    cases = [c for c in all_cases() if (c.quick or not args.quick) and (not args.only or args.only in c.kernel)]
    baselines = [] if torch is None else ["torch", "torch.compile"] if args.compile else ["torch"]
    baselines.append("numpy")
    rng, rows, records = np.random.default_rng(0), [], []
    for case in cases:
        results = run_case(case, budget, args.compile, rng)
        rows.append(table_row(case, results, peaks, baselines))
        records.append({"kernel": case.kernel, "size": case.size, "dtype": case.dtype, "unit": case.unit,
                        "work": case.work, "results": results,
                        "ratios": {n: results["framework"]["median_s"] / results[n]["median_s"]
                                   for n in baselines if n in results}})
    headers = ["kernel", "size", "dtype", "median", "IQR", "rate", "% peak"] + [f"x {n}" for n in baselines]
    print()
    print(tabulate(rows, headers=headers, disable_numparse=True))
    print("\nx NAME = framework median time / NAME median time (below 1.00x: framework faster).")
    if fw.cuda.is_interpreted():
        checked = check_interpreted_kernels(cases)
        if any(row[-1] != "ok" for row in checked):
            raise SystemExit("a cuda kernel disagrees with the CPU under the interpreter (table above)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**info, "peaks": peaks, "notes": notes, "quick": args.quick, "rows": records}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
