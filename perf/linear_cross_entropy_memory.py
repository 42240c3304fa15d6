"""Peak memory of F.linear_cross_entropy (chunked, logits never whole) against the unfused
F.cross_entropy(F.linear(...)), forward + backward, for an LM head: N tokens, K features, V classes.

On the CPU the peak is tracemalloc's (numpy reports every array allocation to it), on cuda
framework.cuda.max_memory_allocated(); both count only what the loss step allocates beyond its inputs.
Target (the issue): fused <= 1/4 of unfused at N=4096, K=256, V=32000 float32.

Run: python perf/linear_cross_entropy_memory.py [--device cpu|cuda] [--n 4096] [--k 256] [--v 32000]
     [--dtype float32] [--chunk-size N]
"""
import argparse
import time
import tracemalloc

import numpy as np

import framework as fw
import framework.nn.functional as F

MIB = 1 << 20


def _step(fused, x, w, b, t, chunk_size):
    if fused:
        loss = F.linear_cross_entropy(x, w, t, b, chunk_size=chunk_size)
    else:
        loss = F.cross_entropy(F.linear(x, w, b), t)
    loss.backward()
    return loss.item()


def measure(fused, device, n, k, v, dtype, chunk_size, seed=0):
    """(peak bytes beyond the inputs, seconds, loss) of one forward + backward."""
    rng = np.random.default_rng(seed)
    dt = getattr(fw, dtype)
    x = fw.tensor(rng.standard_normal((n, k), dtype=np.float32) * 0.5, dtype=dt, device=device, requires_grad=True)
    w = fw.tensor(rng.standard_normal((v, k), dtype=np.float32) * 0.05, dtype=dt, device=device,
                  requires_grad=True)
    b = fw.tensor(np.zeros(v, np.float32), dtype=dt, device=device, requires_grad=True)
    t = fw.tensor(rng.integers(0, v, n), device=device)
    if device == "cuda":
        fw.cuda.synchronize()
        base = fw.cuda.memory_allocated()
        fw.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        loss = _step(fused, x, w, b, t, chunk_size)
        seconds = time.perf_counter() - start
        peak = fw.cuda.max_memory_allocated() - base
    else:
        tracemalloc.start()
        start = time.perf_counter()
        loss = _step(fused, x, w, b, t, chunk_size)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, seconds, loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--v", type=int, default=32000)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--chunk-size", type=int, default=None)
    args = parser.parse_args()
    print(f"linear_cross_entropy memory, {args.device}: N={args.n} K={args.k} V={args.v} {args.dtype}, "
          f"chunk_size={args.chunk_size or 'default'}")
    print(f"  (N x V logits alone: {args.n * args.v * np.dtype(np.float32).itemsize / MIB:.1f} MiB in float32)")
    results = {}
    for fused in (False, True):
        peak, seconds, loss = measure(fused, args.device, args.n, args.k, args.v, args.dtype, args.chunk_size)
        name = "fused" if fused else "unfused"
        results[name] = peak
        print(f"  {name:8s} peak {peak / MIB:9.1f} MiB   {seconds:7.2f} s   loss {loss:.6f}")
    ratio = results["fused"] / results["unfused"]
    verdict = "meets" if ratio <= 0.25 else "misses"
    print(f"  fused / unfused = {ratio:.3f} ({verdict} the <= 0.25 target)")


if __name__ == "__main__":
    main()
