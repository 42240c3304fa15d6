"""torch.multinomial on `cuda`: the CPU algorithms (backends/numpy/sampling.py) on the device, drawing uniforms from
the cuda generator's Philox stream (backends/cuda/random.py), so a seed replays the same samples on every GPU and
in the interpreter (not PyTorch's CUDA values).

Without replacement, or for one sample: the indices of the largest p / E per row, E = -log(1 - u) ~ Exp(1) (the
sort kernel; argmax for one sample). With replacement: the first position where the row's normalised running sum
(float32, float64 for float64 input) is not below u (the searchsorted kernel). The input is checked on the host
(a few synchronising reads), with PyTorch's messages.
"""
import numpy as np

from triton_kernels import search as search_kernels

from .common import call, contiguous, copy_into, empty, scalar
from .random import rand
from .sorting import sort_along

_INT64 = np.dtype(np.int64)
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


def _any(flags):
    return bool(scalar(call("any", flags, tuple(range(flags.ndim)), False)))


def _check(probs, replacement, n_sample):
    last = probs.ndim - 1
    if not replacement or n_sample == 1:
        largest, smallest = scalar(call("max", probs)), scalar(call("min", probs))
        if not (largest < np.inf and smallest >= 0):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    elif _any(call("logical_not", call("ge", probs, 0))):
        raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
    elif _any(call("isinf", probs)):
        raise RuntimeError("invalid multinomial distribution (encountering probability entry = infinity or NaN)")
    if _any(call("eq", call("sum", probs, (last,), False), 0)):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")


def multinomial(probs, n_sample, replacement, generator=None):
    _check(probs, replacement, n_sample)
    wide = _FLOAT64 if probs.dtype == _FLOAT64 else _FLOAT32
    last = probs.ndim - 1
    if not replacement or n_sample == 1:
        uniforms = rand(probs.shape, wide, generator)
        exponentials = call("neg", call("log", call("sub", 1.0, uniforms)))
        ratios = call("div", probs, exponentials.astype(probs.dtype))
        if n_sample == 1:
            return call("argmax", ratios, last, True)
        order = sort_along(ratios, last, descending=True)[1]
        return order[..., :n_sample].copy()
    rows = contiguous(probs).reshape((-1, probs.shape[-1])).astype(wide)
    cumulative = call("cumsum", rows, 1)
    cumulative = call("div", cumulative, cumulative[:, -1:].copy())
    copy_into(cumulative[:, -1:], 1)
    uniforms = rand((rows.shape[0], n_sample), wide, generator)
    samples = empty(uniforms.shape, _INT64)
    search_kernels.searchsorted(contiguous(cumulative), uniforms, samples)
    return samples.reshape(probs.shape[:-1] + (n_sample,))
