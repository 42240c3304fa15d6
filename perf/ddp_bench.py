"""Data-parallel training on 2 MPI ranks against one process, and all-reduce bandwidth against MPI's own.

    python perf/ddp_bench.py                  # 3 rounds (a few minutes on 2 cores)
    python perf/ddp_bench.py --quick          # 1 round, few steps
    python perf/ddp_bench.py --json run.json  # the same numbers with machine, versions, commit and date
    python perf/ddp_bench.py --only allreduce # one of the two tables (training, allreduce)

Training: SGD steps (forward, cross-entropy, zero_grad, backward, step) of an MLP on a global batch, either in
one process on the whole batch or as DistributedDataParallel on 2 ranks (`mpiexec -n 2`) with half of it each,
from the same weights and batches. Variants of the 2-rank run show where the time goes: BLAS threads per rank
(PERF_THREADS, pinned by machine.py: 1 unless set; 2 ranks x 2 threads oversubscribe 2 cores), and MPICH's
asynchronous progress thread (MPIR_CVAR_ASYNC_PROGRESS=1), without which a nonblocking all-reduce advances
only inside MPI calls, so the buckets started during backward mostly move at the final wait. PyTorch's rows (when
torch is installed) run the same code with torch over gloo, its ranks also started by mpiexec. A row's number is
the median step time of its process (rank 0's), the median over rounds; every round runs every row in a
rotating order.

All-reduce: a float32 tensor of each size summed over 2 ranks with framework.distributed.all_reduce, and the
same buffer with mpi4py's Comm.Allreduce (MPI.IN_PLACE): the framework's overhead on top of the MPI library.
Bandwidth is the NCCL-tests "bus bandwidth", bytes x 2(n-1)/n / time (n = 2 ranks: bytes / time).
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import machine  # before numpy: pins the BLAS thread count
from machine import ROOT, THREADS
import numpy as np
import numpy_ref
from tabulate import tabulate

MODELS = (("MNIST", (784, 512, 512, 10), 256), ("wide", (784, 1024, 1024, 10), 512))
STEPS = (3, 20)  # warm-up, timed
QUICK_STEPS = (1, 4)
SIZES = [1 << k for k in (10, 14, 17, 20, 22, 24)]  # float32 elements: 4 KiB .. 64 MiB
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
# (label, worker, ranks, threads per process, MPICH async progress)
VARIANTS = (("1 process, 1 thread", "train", 1, 1, False), ("1 process, 2 threads", "train", 1, 2, False),
            ("2 ranks DDP, 1 thread each", "train", 2, 1, False),
            ("2 ranks DDP, 1 thread each, async progress", "train", 2, 1, True),
            ("2 ranks DDP, 2 threads each", "train", 2, 2, False),
            ("PyTorch: 1 process, 1 thread", "torch-train", 1, 1, False),
            ("PyTorch: 2 ranks DDP (gloo), 1 thread each", "torch-train", 2, 1, False))


# ---- workers ---------------------------------------------------------------------------------------------------

def _torch_process_group():
    """PyTorch over gloo, its ranks started by mpiexec too (MPICH's PMI_RANK / PMI_SIZE), rendezvous on localhost."""
    import torch
    import torch.distributed as dist
    torch.set_num_threads(THREADS)
    rank, world = int(os.environ.get("PMI_RANK", 0)), int(os.environ.get("PMI_SIZE", 1))
    if world > 1:
        dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29533", rank=rank, world_size=world)
    return torch, dist, rank, world


def train_worker(quick, library="framework"):
    """Every model's median step time, in one process (world of one: no DDP) or as DDP on each rank; the same
    code for framework over MPI and PyTorch over gloo, their APIs being the same."""
    if library == "torch":
        fw, dist, rank, world = _torch_process_group()
    else:
        import framework as fw
        import framework.distributed as dist
        dist.init_process_group("mpi")  # plain `python`: a world of one (MPI's singleton start)
        rank, world = dist.get_rank(), dist.get_world_size()
    DistributedDataParallel = fw.nn.parallel.DistributedDataParallel
    distributed = world > 1
    results = []
    for name, sizes, batch in MODELS:
        params, batches = numpy_ref.initial_mlp_state(sizes, batch, 8)
        layers = []
        for j in range(len(params) // 2):
            layers += [fw.nn.Linear(sizes[j], sizes[j + 1]), fw.nn.ReLU()]
        model = fw.nn.Sequential(*layers[:-1])
        with fw.no_grad():
            for p, array in zip(model.parameters(), params):
                p.copy_(fw.from_numpy(array))
        trained = DistributedDataParallel(model) if distributed else model
        optimizer = fw.optim.SGD(trained.parameters(), lr=0.01)
        share = batch // world
        data = [(fw.from_numpy(x[rank * share:(rank + 1) * share]), fw.from_numpy(y[rank * share:(rank + 1) * share]))
                for x, y in batches]
        warmup, count = QUICK_STEPS if quick else STEPS
        times = []
        if distributed:
            dist.barrier()
        for i in range(warmup + count):
            x, y = data[i % len(data)]
            start = time.perf_counter()
            loss = fw.nn.functional.cross_entropy(trained(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if i >= warmup:
                times.append(time.perf_counter() - start)
        results.append({"model": name, "median_s": statistics.median(times), "loss": float(loss)})
    if rank == 0:
        print(json.dumps(results))
    if dist.is_initialized():
        dist.destroy_process_group()


def allreduce_worker(quick):
    """Median seconds of framework's all_reduce and of mpi4py's Allreduce per size, on 2 ranks."""
    import framework as fw
    import framework.distributed as dist
    dist.init_process_group("mpi")
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    results = []
    for size in SIZES:
        repeats = 5 if quick else max(10, min(200, (1 << 26) // (size * 4)))
        tensor = fw.ones(size)
        array = np.ones(size, np.float32)
        timings = {"framework": [], "mpi4py": []}
        for _ in range(repeats + 2):
            for who in ("framework", "mpi4py"):
                comm.Barrier()
                start = time.perf_counter()
                if who == "framework":
                    dist.all_reduce(tensor)
                else:
                    comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
                timings[who].append(time.perf_counter() - start)
        results.append({"elements": size, **{who: statistics.median(t[2:]) for who, t in timings.items()}})
    if comm.Get_rank() == 0:
        print(json.dumps(results))
    dist.destroy_process_group()


# ---- the parent ------------------------------------------------------------------------------------------------

def spawn(worker, ranks, threads, async_progress, quick):
    env = {**os.environ, "PERF_THREADS": str(threads), "PYTHONPATH": str(ROOT) + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    env.pop("MPIR_CVAR_ASYNC_PROGRESS", None)
    if async_progress:
        env["MPIR_CVAR_ASYNC_PROGRESS"] = "1"
    command = [sys.executable, __file__, "--worker", worker] + (["--quick"] if quick else [])
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks)] + command
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{worker} worker on {ranks} rank(s) failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def training_table(rounds, quick):
    variants = [v for v in VARIANTS if v[1] != "torch-train" or importlib.util.find_spec("torch")]
    runs = {variant: [] for variant in variants}
    for r in range(rounds):
        for variant in variants[r % len(variants):] + variants[:r % len(variants)]:
            runs[variant].append(spawn(*variant[1:], quick))
    rows, records = [], []
    baseline = {}
    for variant in variants:
        for i, (model, sizes, batch) in enumerate(MODELS):
            medians = [run[i]["median_s"] for run in runs[variant]]
            median = statistics.median(medians)
            baseline.setdefault(model, median)  # the first variant: framework, one process, one thread
            rows.append([model, f"{batch}", variant[0], machine.format_seconds(median),
                         f"{machine.format_seconds(min(medians))} - {machine.format_seconds(max(medians))}",
                         machine.format_ratio(median, baseline[model]), f"{runs[variant][0][i]['loss']:.5f}"])
            records.append({"model": model, "global_batch": batch, "variant": variant[0], "median_s": median,
                            "rounds_s": medians})
    headers = ["model", "global batch", "run", "step", "spread (rounds)", "x framework 1 process, 1 thread",
               "last loss"]
    return rows, headers, records


def allreduce_table(quick):
    results = spawn("allreduce", 2, 1, False, quick)
    rows = []
    for r in results:
        nbytes = r["elements"] * 4
        rows.append([f"{nbytes / 1024:.0f} KiB" if nbytes < 1 << 20 else f"{nbytes >> 20} MiB",
                     machine.format_seconds(r["framework"]), machine.format_seconds(r["mpi4py"]),
                     f"{nbytes / r['framework'] / 1e9:.2f}", f"{nbytes / r['mpi4py'] / 1e9:.2f}",
                     machine.format_ratio(r["framework"], r["mpi4py"])])
    headers = ["size", "framework all_reduce", "mpi4py Allreduce", "framework GB/s", "MPI GB/s", "x MPI"]
    return rows, headers, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of few steps")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of alternating runs (default 3)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers, machine and versions as JSON")
    parser.add_argument("--only", choices=("training", "allreduce"), help="one of the two tables")
    parser.add_argument("--worker", choices=("train", "torch-train", "allreduce"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        if args.worker == "allreduce":
            return allreduce_worker(args.quick)
        return train_worker(args.quick, "torch" if args.worker == "torch-train" else "framework")
    if not os.path.exists(MPIEXEC):
        sys.exit(f"no mpiexec next to the interpreter ({MPIEXEC}): pip install -e '.[distributed]'")
    info = machine.run_info(THREADS)
    machine.print_header("framework data-parallel benchmark (CPU, MPI)", info)
    rounds = args.rounds or (1 if args.quick else 3)
    training = bandwidth = None
    if args.only != "allreduce":
        rows, headers, training = training_table(rounds, args.quick)
        print(f"\ntraining step, SGD, same global batch ({rounds} round(s); rank 0's median step, median over rounds)")
        print(tabulate(rows, headers=headers, disable_numparse=True))
    if args.only != "training":
        rows, headers, bandwidth = allreduce_table(args.quick)
        print("\nall-reduce (sum) of float32 on 2 ranks, one thread each (median time; GB/s = bytes / time)")
        print(tabulate(rows, headers=headers, disable_numparse=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**info, "quick": args.quick, "training": training, "allreduce": bandwidth}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
