"""Peak memory of F.scaled_dot_product_attention (blockwise on the CPU, flash attention on cuda: the L x L scores
never exist whole) against the unfused softmax(Q K^T / sqrt(D)) V, one forward + backward, over sequence lengths.

On the CPU the peak is tracemalloc's (numpy reports every array allocation to it), on cuda
max_memory_allocated() (framework's, or PyTorch's for its own SDPA); each counts only what the step allocates
beyond its inputs. Target (issue #15): memory linear in L, so each doubling of L at most doubles the peak
(the unfused one quadruples).

Run: python perf/attention_memory.py [--device cpu|cuda] [--batch 1] [--heads 4] [--dim 64]
     [--lengths 512 1024 2048 4096] [--causal] [--dtype float32]
"""
import argparse
import math
import tracemalloc

import numpy as np

import framework as fw

MIB = 1 << 20
CONTENDERS = ("fused", "unfused")


def _step(lib, fused, q, k, v, causal):
    """One forward + backward through lib's (framework's or PyTorch's) attention."""
    if fused:
        out = lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    else:
        scores = lib.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
        if causal:
            length = q.shape[-2]
            above = lib.ones(length, length, dtype=lib.bool, device=q.device).triu(1)
            scores = scores.masked_fill(above, float("-inf"))
        out = lib.matmul(lib.softmax(scores, dim=-1), v)
    out.sum().backward()


def measure(lib, fused, device, shape, dtype, causal, seed=0):
    """Peak bytes beyond the inputs of one forward + backward; shape = (B, H, L, D)."""
    rng = np.random.default_rng(seed)
    dt = getattr(lib, dtype)
    q, k, v = (lib.tensor(rng.standard_normal(shape, dtype=np.float32), device=device).to(dt).requires_grad_()
               for _ in range(3))
    if device == "cuda":
        lib.cuda.synchronize()
        base = lib.cuda.memory_allocated()
        lib.cuda.reset_peak_memory_stats()
        _step(lib, fused, q, k, v, causal)
        lib.cuda.synchronize()
        return lib.cuda.max_memory_allocated() - base
    tracemalloc.start()
    _step(lib, fused, q, k, v, causal)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def rows(device, batch, heads, lengths, dim, dtype, causal, torch=None):
    """[(L, {contender: peak bytes})]: framework fused and unfused, and PyTorch's SDPA where it runs on a GPU."""
    result = []
    for length in lengths:
        shape = (batch, heads, length, dim)
        peaks = {name: measure(fw, name == "fused", device, shape, dtype, causal) for name in CONTENDERS}
        if torch is not None and device == "cuda" and torch.cuda.is_available():
            peaks["torch sdpa"] = measure(torch, True, "cuda", shape, dtype, causal)
        result.append((length, peaks))
    return result


def growth(result, name):
    """The peak's factor per doubling of L, from the first length to the last (1 constant, 2 linear, 4 quadratic)."""
    (first, peaks_first), (last, peaks_last) = result[0], result[-1]
    return (peaks_last[name] / peaks_first[name]) ** (1 / math.log2(last / first))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    print(f"attention memory, {args.device}: B={args.batch} H={args.heads} D={args.dim} {args.dtype}"
          f"{', causal' if args.causal else ''}; MiB beyond the inputs, one forward + backward")
    result = rows(args.device, args.batch, args.heads, args.lengths, args.dim, args.dtype, args.causal)
    for length, peaks in result:
        print(f"  L={length:6d}  " + "  ".join(f"{name} {peak / MIB:9.1f}" for name, peak in peaks.items())
              + f"  fused / unfused = {peaks['fused'] / peaks['unfused']:.3f}")
    if len(result) > 1:
        fused, unfused = growth(result, "fused"), growth(result, "unfused")
        verdict = "linear in L: meets" if fused <= 2.2 else "grows faster than L: misses"
        print(f"  peak per doubling of L: fused x{fused:.2f}, unfused x{unfused:.2f} ({verdict} the target)")


if __name__ == "__main__":
    main()
