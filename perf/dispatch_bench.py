"""Per-op dispatch overhead on the CPU: framework against raw numpy and PyTorch.

The CPU training step of small models is dominated by the Python path from a
Tensor method to its kernel, so this times tiny ops where the kernel itself
costs almost nothing. Run: python perf/dispatch_bench.py
"""
import timeit

import machine  # before numpy: pins numpy's and torch's thread count (one, unless PERF_THREADS says otherwise)
import numpy as np
from tabulate import tabulate

import framework as fw

try:
    import torch
except ImportError:  # PyTorch is only a baseline; the table just loses its column
    torch = None


def _best_us(fn, number=2000, repeat=7):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def _cases():
    rng = np.random.default_rng(0)
    a_np, b_np = rng.random((4, 4), dtype=np.float32), rng.random((4, 4), dtype=np.float32)
    x_np = rng.random((32, 50), dtype=np.float32)
    w_np, bias_np = rng.random((30, 50), dtype=np.float32), rng.random(30, dtype=np.float32)
    a, b = fw.from_numpy(a_np), fw.from_numpy(b_np)
    x, w, bias = fw.from_numpy(x_np), fw.from_numpy(w_np).requires_grad_(), fw.from_numpy(bias_np).requires_grad_()
    cases = [
        ("add 4x4", lambda: a + b, lambda: a_np + b_np),
        ("mul by scalar 4x4", lambda: a * 2.0, lambda: a_np * 2.0),
        ("sigmoid 4x4", lambda: fw.sigmoid(a), lambda: 1 / (1 + np.exp(-a_np))),
        ("view 4x4 -> 16", lambda: a.view(16), lambda: a_np.reshape(16)),
        ("linear 32x50 -> 30 (records graph)", lambda: fw.ops.linalg.linear(x, w, bias),
         lambda: x_np @ w_np.T + bias_np),
    ]
    if torch is not None:
        ta, tb = torch.from_numpy(a_np), torch.from_numpy(b_np)
        tx, tw, tbias = torch.from_numpy(x_np), torch.from_numpy(w_np).requires_grad_(), torch.from_numpy(bias_np).requires_grad_()
        baselines = [lambda: ta + tb, lambda: ta * 2.0, lambda: torch.sigmoid(ta), lambda: ta.view(16),
                     lambda: torch.nn.functional.linear(tx, tw, tbias)]
    else:
        baselines = [None] * len(cases)
    return [(name, ours, numpy_fn, base) for (name, ours, numpy_fn), base in zip(cases, baselines)]


def main():
    if torch is not None:
        torch.set_num_threads(machine.THREADS)
    rows = []
    for name, ours, numpy_fn, torch_fn in _cases():
        ours_us, numpy_us = _best_us(ours), _best_us(numpy_fn)
        torch_us = _best_us(torch_fn) if torch_fn is not None else None
        rows.append([name, f"{ours_us:.2f}", f"{numpy_us:.2f}", f"{ours_us - numpy_us:.2f}",
                     "-" if torch_us is None else f"{torch_us:.2f}",
                     "-" if torch_us is None else f"{ours_us / torch_us:.2f}x"])
    print(tabulate(rows, headers=["op", "framework us", "numpy us", "overhead us", "torch us", "vs torch"]))


if __name__ == "__main__":
    main()
