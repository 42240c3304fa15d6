"""Captured training steps on the GPU: host time and step time, framework against PyTorch, eager and graphed.

    python perf/cuda_graph_bench.py            # on a GPU (perf/gpu_check.sh runs it)
    python perf/cuda_graph_bench.py --quick    # fewer steps; under TRITON_INTERPRET=1 it runs, meaning nothing

A step is a whole training step of an MLP with cross-entropy and Adam (`capturable=True`, a Tensor lr on the
device, so that the update itself can be captured): the tutorial's 50-30-20-3 at batch 32, the MNIST-shaped
784-512-512-10 at batch 256. Contenders, each on the same model, data and number of steps:

* framework eager, and framework with the step captured in a `framework.cuda.CUDAGraph` (replay per step);
* PyTorch eager, and PyTorch with the step captured in a `torch.cuda.CUDAGraph`, when PyTorch has a GPU.

Columns: the host's time per step (perf_counter around the launching Python, no waiting: what the CPU spends
dispatching), and the step time (steps run back to back, then one wait; the GPU's time once the host keeps up).
Issue #17's GPU target: a captured step's host time under 30 us. A contender that fails prints its error in its
row and the others still run (a first GPU run should show everything it can).
"""
import argparse
import os
import sys
import time

import numpy as np
from tabulate import tabulate

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import framework as fw  # noqa: E402
import framework.nn.functional as F  # noqa: E402

MODELS = {"tutorial": ((50, 30, 20, 3), 32), "MNIST": ((784, 512, 512, 10), 256)}
HOST_TARGET_S = 30e-6


def _mlp(lib, sizes):
    layers = []
    for k, n in zip(sizes, sizes[1:]):
        layers += [lib.nn.Linear(k, n), lib.nn.ReLU()]
    return lib.nn.Sequential(*layers[:-1])


def _contender(lib, cross_entropy, graph_api, device, sizes, batch, graphed):
    """A `step()` over static inputs and `sync()`, the model's parameters copied from one seed's numpy values."""
    rng = np.random.default_rng(0)
    model = _mlp(lib, sizes).to(device)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.1).to(device))
    x = lib.from_numpy(rng.standard_normal((batch, sizes[0])).astype(np.float32)).to(device)
    y = lib.from_numpy(rng.integers(0, sizes[-1], batch)).to(device)

    optimizer = lib.optim.Adam(model.parameters(), lr=lib.tensor(1e-3, device=device), capturable=True)

    def eager():
        optimizer.zero_grad(set_to_none=True)
        loss = cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(3):  # warm-up: compiles, tunes and allocates before timing or capturing
        eager()
    sync = graph_api.synchronize
    if not graphed:
        return eager, sync
    graph = graph_api.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    sync()
    with graph_api.graph(graph):
        cross_entropy(model(x), y).backward()
        optimizer.step()
    return graph.replay, sync


def _time(step, sync, steps):
    """(host seconds per step, wall seconds per step): the launching Python alone, then with the device."""
    sync()
    host = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        t = time.perf_counter()
        step()
        host += time.perf_counter() - t
    sync()
    return host / steps, (time.perf_counter() - start) / steps


def _contenders():
    found = [("framework", fw, F.cross_entropy, fw.cuda, "cuda")]
    try:
        import torch
    except ImportError:
        return found, "PyTorch is not installed"
    if not torch.cuda.is_available():
        return found, "PyTorch has no GPU here"
    return found + [("torch", torch, torch.nn.functional.cross_entropy, torch.cuda, "cuda")], None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    args = parser.parse_args(argv)
    if not fw.cuda.is_available():
        print("no cuda device (no GPU, and TRITON_INTERPRET is not 1): nothing to measure")
        return 0
    interpreted = fw.cuda.is_interpreted()
    steps = 3 if interpreted else (50 if args.quick else 300)
    models = {"tutorial": MODELS["tutorial"]} if interpreted else MODELS
    contenders, missing = _contenders()
    print(f"device: {fw.cuda.get_device_name()}; {steps} steps per row" +
          ("; interpreter: the numbers mean nothing" if interpreted else ""))
    if missing:
        print(f"no PyTorch rows: {missing}")
    rows = []
    for name, (sizes, batch) in models.items():
        for lib_name, lib, cross_entropy, graph_api, device in contenders:
            for graphed in (False, True):
                kind = "CUDA graph" if graphed else "eager"
                try:
                    step, sync = _contender(lib, cross_entropy, graph_api, device, sizes, batch, graphed)
                    host, wall = _time(step, sync, steps)
                except Exception as error:  # noqa: BLE001  (reported in the row; the next contender runs)
                    rows.append([name, lib_name, kind, f"error: {type(error).__name__}: {error}"[:100], "", ""])
                    continue
                verdict = ("" if not (graphed and lib_name == "framework") else
                           "met" if host < HOST_TARGET_S else "not met")
                rows.append([name, lib_name, kind, f"{host * 1e6:.1f} us", f"{wall * 1e6:.1f} us", verdict])
    print(tabulate(rows, headers=["model", "library", "step", "host time/step", "step time", "host < 30 us"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
