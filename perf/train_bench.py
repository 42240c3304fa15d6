"""End-to-end training step: framework against PyTorch eager and a hand-written numpy step.

    python perf/train_bench.py                  # 5 rounds (about a minute on 2 cores)
    python perf/train_bench.py --quick          # 1 round, few steps (< 20 s)
    python perf/train_bench.py --json run.json  # the same numbers with machine, versions, commit and date
    python perf/train_bench.py --capture        # also the framework step captured (framework.graphs), fp32 rows

One step is forward, cross-entropy loss, zero_grad, backward and optimizer step
(SGD lr 0.01, or Adam lr 1e-3) for the tutorial's MLP (50-30-20-3, batch 32) and
an MNIST-sized MLP (784-512-512-10, batch 256), from the same initial weights
and batches for every contender (8 batches, rotated). Each also runs in mixed
precision: the forward and loss under autocast (bf16; on a GPU also fp16, with a
GradScaler), float32 weights, against PyTorch's autocast (numpy has no such row). Each contender runs in its
own process (numpy's and PyTorch's thread pools disturb each other inside one),
spawned with sys.executable; every round runs each contender once, in an order
that rotates between rounds, so slow drifts of the machine hit all of them. A
round's number is the median step time of that process; the table shows the
median over rounds. With --capture, rows "<model>, captured" time the same fp32 step wrapped in
framework.graphs.capture (warm-up, one capture, then replays), against the eager rows' torch and numpy. Peak memory is each process's ru_maxrss, a high-water mark:
a row's figure covers that row and the rows above it (they run in order in one
process), and "after import" is the library alone. Thread count: see machine.py.
"""
import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time

import machine  # before numpy: pins the BLAS thread count
from machine import ROOT, THREADS
import numpy_ref
from tabulate import tabulate

MODELS = (("tutorial", (50, 30, 20, 3), 32), ("MNIST", (784, 512, 512, 10), 256))
OPTIMIZERS = ("SGD", "Adam")
PRECISIONS = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "bf16", "fp16")}  # fp32, or autocast to the 16-bit dtype
STEPS = {"tutorial": (30, 300), "MNIST": (2, 15)}  # (warm-up, timed) steps per process
QUICK_STEPS = {"tutorial": (5, 40), "MNIST": (1, 3)}
N_BATCHES = 8
TARGETS = {"tutorial": 0.5, "MNIST": 1.0}  # framework step time / PyTorch's, at most (issue 6)
CAPTURED = ", captured"  # the model-name suffix of the captured rows
CAPTURE_TARGETS = {"tutorial": 0.3, "MNIST": 0.9}  # captured step time / PyTorch's eager, at most (issue 17)
CAPTURE_NUMPY_TARGET = {"tutorial": 1.5}  # captured step time / the hand-written numpy step's, at most (issue 17)
IMPORT_TARGET_S = 0.3


# ---- the worker: one contender, every model and optimizer, in this process -----------------------------------

def _initial_state(sizes, batch):
    """PyTorch-style uniform initial weights and the batches, the same in every contender's process."""
    return numpy_ref.initial_mlp_state(sizes, batch, N_BATCHES)


def build_training(lib, device, params, batches, optimizer):
    """(model, optimizer, batches) in framework or torch: the same code, since framework's API is PyTorch's."""
    layers = []
    for j in range(len(params) // 2):
        layers += [lib.nn.Linear(params[2 * j].shape[1], params[2 * j].shape[0]), lib.nn.ReLU()]
    model = lib.nn.Sequential(*layers[:-1]).to(device)
    with lib.no_grad():
        for p, array in zip(model.parameters(), params):
            p.copy_(lib.from_numpy(array).to(device))
    opt = lib.optim.SGD(model.parameters(), lr=0.01) if optimizer == "SGD" else lib.optim.Adam(model.parameters())
    return model, opt, [(lib.from_numpy(x).to(device), lib.from_numpy(y).to(device)) for x, y in batches]


def library_step(lib, device, params, batches, optimizer, precision="fp32", captured=False):
    """step(i) -> loss: forward, loss, zero_grad, backward, optimizer step (synchronized on a GPU). With
    `precision` bf16 or fp16 the forward and loss run under autocast, and fp16 scales the loss (GradScaler).
    `captured` (framework, fp32): the same step under framework.graphs.capture, replayed after two calls."""
    model, opt, data = build_training(lib, device, params, batches, optimizer)
    sync = lib.cuda.synchronize if device == "cuda" else (lambda: None)

    def train_step(x, y):
        loss = lib.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = lib.graphs.capture(train_step) if captured else train_step

    def step(i):
        loss = run(*data[i % len(data)])
        sync()
        return loss

    if precision == "fp32":
        return step
    autocast = lib.autocast(device, dtype=lib.bfloat16 if precision == "bf16" else lib.float16)
    scaler = lib.amp.GradScaler(device, enabled=precision == "fp16")

    def mixed_step(i):
        x, y = data[i % len(data)]
        with autocast:
            loss = lib.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sync()
        return loss
    return mixed_step


def numpy_step(numpy_ref, params, batches, optimizer):
    params = [p.copy() for p in params]
    update = numpy_ref.sgd_update(params, 0.01) if optimizer == "SGD" else numpy_ref.adam_update(params)
    step = numpy_ref.mlp_train_step(params, update)
    return lambda i: step(*batches[i % len(batches)])


def _maxrss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run_worker(contender, device, quick, capture=False):
    """Times every model, optimizer and precision for one contender (and, for framework with `capture`, the
    captured fp32 step); prints one JSON line."""
    if contender == "numpy":
        import numpy_ref as lib
    elif contender == "torch":
        import torch as lib
        lib.set_num_threads(THREADS)
    else:
        import framework as lib
    results, rss_import = [], _maxrss_mib()
    runs = [(model, sizes, batch, optimizer, precision) for model, sizes, batch in MODELS for optimizer in OPTIMIZERS
            for precision in PRECISIONS[device] if contender != "numpy" or precision == "fp32"]
    if capture and contender == "framework":
        runs += [(model + CAPTURED, sizes, batch, optimizer, "fp32") for model, sizes, batch in MODELS
                 for optimizer in OPTIMIZERS]
    for model, sizes, batch, optimizer, precision in runs:
        params, batches = _initial_state(sizes, batch)
        captured = model.endswith(CAPTURED)
        step = (numpy_step(lib, params, batches, optimizer) if contender == "numpy"
                else library_step(lib, device, params, batches, optimizer, precision, captured))
        warmup, count = (QUICK_STEPS if quick else STEPS)[model.removesuffix(CAPTURED)]
        if captured:
            warmup = max(warmup, 2)  # one eager call, then the capture: the timed calls are replays
        for i in range(warmup):
            step(i)
        times = []
        for i in range(warmup, warmup + count):
            t0 = time.perf_counter()
            loss = step(i)
            times.append(time.perf_counter() - t0)
        results.append({"model": model, "optimizer": optimizer, "precision": precision,
                        "median_s": statistics.median(times), "loss": float(loss), "maxrss_mib": _maxrss_mib()})
    print(json.dumps({"contender": contender, "rss_after_import_mib": rss_import, "results": results}))


# ---- the parent: spawn, alternate, aggregate -----------------------------------------------------------------

def spawn_worker(contender, device, quick, capture=False):
    command = [sys.executable, __file__, "--worker", contender, "--device", device] + (["--quick"] if quick else [])
    command += ["--capture"] if capture else []
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{contender} worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_rounds(contenders, device, rounds, quick, capture=False):
    """{contender: [worker report per round]}, contenders alternating in a rotating order."""
    reports = {c: [] for c in contenders}
    for r in range(rounds):
        for contender in contenders[r % len(contenders):] + contenders[:r % len(contenders)]:
            reports[contender].append(spawn_worker(contender, device, quick, capture))
    return reports


def aggregate(reports):
    """{(model, optimizer, precision): {contender: {median_s, min_s, max_s, loss, maxrss_mib}}} over rounds."""
    table = {}
    for contender, runs in reports.items():
        for i, first in enumerate(runs[0]["results"]):
            medians = [run["results"][i]["median_s"] for run in runs]
            table.setdefault((first["model"], first["optimizer"], first["precision"]), {})[contender] = {
                "median_s": statistics.median(medians), "min_s": min(medians), "max_s": max(medians),
                "loss": first["loss"], "maxrss_mib": max(run["results"][i]["maxrss_mib"] for run in runs)}
    return table


def measure_import(module, runs):
    """Seconds `import module` takes in a fresh interpreter, one per run."""
    code = f"import time; t0 = time.perf_counter(); import {module}; print(time.perf_counter() - t0)"
    return [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                                 check=True).stdout) for _ in range(runs)]


def step_rows(table, contenders):
    fmt = machine.format_seconds
    rows = []
    for (model, optimizer, precision), by in table.items():
        base = model.removesuffix(CAPTURED)
        captured = base != model
        if captured:  # the captured step against the eager row's torch and numpy
            by = {**table.get((base, optimizer, precision), {}), "framework": by["framework"]}
        ours, torch_ = by["framework"], by.get("torch")
        spread = f"{fmt(ours['min_s'])} - {fmt(ours['max_s'])}"
        row = [model, optimizer, precision, fmt(ours["median_s"]), spread]
        row += [fmt(by[c]["median_s"]) if c in by else "-" for c in contenders if c != "framework"]
        row += [machine.format_ratio(ours["median_s"], by[c]["median_s"]) if c in by else "-"
                for c in contenders if c != "framework"]
        if precision != "fp32":
            row.append("")  # the targets are the fp32 step's
        else:
            target = (CAPTURE_TARGETS if captured else TARGETS)[base]
            verdict = "no torch" if torch_ is None else (
                "met" if ours["median_s"] / torch_["median_s"] <= target else "NOT met")
            text = f"<= {target:.1f}x: {verdict}"
            if captured and base in CAPTURE_NUMPY_TARGET and "numpy" in by:
                limit = CAPTURE_NUMPY_TARGET[base]
                met = ours["median_s"] / by["numpy"]["median_s"] <= limit
                text += f"; <= {limit}x numpy: {'met' if met else 'NOT met'}"
            row.append(text)
        row.append(" / ".join(f"{by[c]['loss']:.4f}" for c in contenders if c in by))
        rows.append(row)
    others = [c for c in contenders if c != "framework"]
    headers = (["model", "optimizer", "precision", "framework", "fw spread (rounds)"] + others
               + [f"x {c}" for c in others] + ["target (x torch)", "final loss"])
    return rows, headers


def memory_rows(table, reports, contenders):
    rows = [["after import", "", ""] + [f"{statistics.median(r['rss_after_import_mib'] for r in reports[c]):.0f}"
                                    for c in contenders]]
    for (model, optimizer, precision), by in table.items():
        rows.append([model, optimizer, precision] + [f"{by[c]['maxrss_mib']:.0f}" if c in by else "-"
                                                     for c in contenders])
    return rows, ["model", "optimizer", "precision"] + [f"{c} peak RSS MiB" for c in contenders]


def import_rows(quick):
    rows, record = [], {}
    modules = ("numpy", "framework") + (() if quick or not importlib.util.find_spec("torch") else ("torch",))
    for module in modules:
        times = measure_import(module, 3 if quick else 7)
        record[module] = times
        target = f"<= {IMPORT_TARGET_S} s" if module == "framework" else ""
        verdict = ("met" if statistics.median(times) <= IMPORT_TARGET_S else "NOT met") if target else ""
        rows.append([f"import {module}", machine.format_seconds(statistics.median(times)),
                     machine.format_seconds(min(times)), target, verdict])
    own = statistics.median(record["framework"]) - statistics.median(record["numpy"])
    rows.insert(2, ["framework's own (median minus numpy's)", machine.format_seconds(own), "", "", ""])
    return rows, record


def phase_times(lib, params, batches, optimizer, steps):
    """Median seconds of each phase of the CPU step, timed one statement at a time."""
    model, opt, data = build_training(lib, "cpu", params, batches, optimizer)
    phases = ("forward", "loss", "zero_grad", "backward", "optimizer step")
    times = {name: [] for name in phases}
    for i in range(steps + 20):
        x, y = data[i % len(data)]
        t = [time.perf_counter()]
        out = model(x)
        t.append(time.perf_counter())
        loss = lib.nn.functional.cross_entropy(out, y)
        t.append(time.perf_counter())
        opt.zero_grad()
        t.append(time.perf_counter())
        loss.backward()
        t.append(time.perf_counter())
        opt.step()
        t.append(time.perf_counter())
        if i >= 20:  # warm-up
            for name, start, end in zip(phases, t, t[1:]):
                times[name].append(end - start)
    return {name: statistics.median(v) for name, v in times.items()}


def profile_framework_step(model, optimizer, steps=300):
    """Where the framework's CPU step goes: phase medians beside torch's, then cProfile's top functions."""
    import cProfile
    import pstats

    import framework
    sizes, batch = next((s, b) for m, s, b in MODELS if m == model)
    params, batches = _initial_state(sizes, batch)
    libs = {"framework": framework}
    if importlib.util.find_spec("torch"):
        import torch
        torch.set_num_threads(THREADS)
        libs["torch"] = torch
    by_lib = {name: phase_times(lib, params, batches, optimizer, steps) for name, lib in libs.items()}
    rows = [[phase] + [machine.format_seconds(by_lib[name][phase]) for name in libs] for phase in by_lib["framework"]]
    print(f"phases of one training step, {model} MLP, {optimizer} (medians over {steps} steps, one process)")
    print(tabulate(rows, headers=["phase"] + list(libs), disable_numparse=True))
    step = library_step(framework, "cpu", params, batches, optimizer)
    for i in range(20):
        step(i)
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [step(i) for i in range(steps)])
    print(f"\nframework step under cProfile ({steps} steps), top functions by own time")
    pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(20)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of few steps")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of alternating contenders (default 5)")
    parser.add_argument("--capture", action="store_true",
                        help="also time the framework's fp32 step captured with framework.graphs.capture")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers, machine and versions as JSON")
    parser.add_argument("--profile", nargs=2, metavar=("MODEL", "OPTIMIZER"),
                        help="cProfile the framework's step instead (e.g. --profile tutorial Adam)")
    parser.add_argument("--worker", choices=("framework", "torch", "numpy"), help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def report_device(device, contenders, args):
    rounds = args.rounds or (1 if args.quick else 5)
    reports = run_rounds(contenders, device, rounds, args.quick, args.capture)
    table = aggregate(reports)
    rows, headers = step_rows(table, contenders)
    print(f"\ntraining step on {device} ({rounds} round(s); median step time per process, median over rounds; "
          f"final loss: {', '.join(contenders)})")
    print(tabulate(rows, headers=headers, disable_numparse=True))
    rows, headers = memory_rows(table, reports, contenders)
    print(f"\npeak memory on {device} (ru_maxrss of each contender's process; high-water mark down the rows)")
    print(tabulate(rows, headers=headers, disable_numparse=True))
    return [{"device": device, "model": m, "optimizer": o, "precision": p, **{c: v for c, v in by.items()}}
            for (m, o, p), by in table.items()]


def check_interpreted_steps(framework):
    """Under TRITON_INTERPRET=1 `cuda` runs in Triton's interpreter: times would mean nothing, so one training
    step per model, optimizer and precision both devices have runs there, untimed, and its loss is compared with
    the CPU step's (under bf16 autocast the devices' policies differ a little: PyTorch's lists)."""
    print("\nGPU rows: not timed: TRITON_INTERPRET=1 runs the cuda kernels in Triton's interpreter. One step per "
          "model, optimizer and precision on the interpreted cuda (loss, and difference from the CPU step's loss):")
    rows = []
    for model, sizes, batch in MODELS:
        if model != "tutorial":
            continue  # the MNIST MLP's matmuls take minutes in the interpreter; the tutorial's use the same kernels
        for optimizer in OPTIMIZERS:
            for precision in PRECISIONS["cpu"]:
                params, batches = _initial_state(sizes, batch)
                losses = [float(library_step(framework, device, params, batches, optimizer, precision)(0))
                          for device in ("cpu", "cuda")]
                rows.append([model, optimizer, precision, f"{losses[1]:.6f}", f"{abs(losses[1] - losses[0]):.1e}"])
    print(tabulate(rows, headers=["model", "optimizer", "precision", "cuda loss", "|cuda - cpu|"],
                   disable_numparse=True))


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return run_worker(args.worker, args.device, args.quick, args.capture)
    if args.profile:
        return profile_framework_step(*args.profile)
    info = machine.run_info(THREADS)
    machine.print_header("framework end-to-end training benchmark", info)
    has_torch = importlib.util.find_spec("torch") is not None
    contenders = ["framework"] + (["torch"] if has_torch else []) + ["numpy"]
    if not has_torch:
        print("  PyTorch is not importable: no torch column, targets cannot be checked.")
    records = report_device("cpu", contenders, args)
    import framework
    if framework.cuda.is_interpreted():
        check_interpreted_steps(framework)
    elif framework.cuda.is_available():
        records += report_device("cuda", [c for c in contenders if c != "numpy"], args)
    else:
        print("\nGPU rows: skipped; they need a CUDA GPU (framework.cuda.is_available() is False).")
    rows, imports = import_rows(args.quick)
    print(f"\nimport time (fresh interpreter each run, {len(next(iter(imports.values())))} runs)")
    print(tabulate(rows, headers=["", "median", "min", "target", ""], disable_numparse=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**info, "quick": args.quick, "steps": records, "import_s": imports}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
