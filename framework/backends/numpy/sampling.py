"""torch.multinomial on the CPU, drawing PyTorch's CPU random stream bit for bit (framework/random.py).

Without replacement, or for one sample, PyTorch draws one exponential E ~ Exp(1) per probability (memory order of
the input's layout: -log(1 - u) for a 53-bit double uniform u, through the C library's log, rounded to the input's
dtype) and returns the indices of the largest p / E per row (argmax; topk for several samples). Where ratios tie
(float16/bfloat16 rounding, or zero weights once the nonzero ones are used up) PyTorch's topk takes them in the
order its C++ library's nth_element leaves them; here the lower index comes first.
With replacement it walks the rows: the running sum of the row (in float32 for float32 and narrower dtypes,
float64 for float64) divided by the total, the last entry set to 1, then per sample one double uniform u and the
first position whose cumulative value is not below u. A row that is invalid raises when the walk reaches it, after
the rows before it drew their samples, as PyTorch's does.
"""
import math

import numpy as np

from ... import random as _random
from .search import _searchsorted_forward

_NEGATIVE = "invalid multinomial distribution (encountering probability entry < 0)"
_NOT_FINITE = "invalid multinomial distribution (encountering probability entry = infinity or NaN)"
_EMPTY = "invalid multinomial distribution (sum of probabilities <= 0)"


def _exponentials(probs, gen):
    """exponential_(1) over an array laid out as `probs` (its memory order), in probs' dtype."""
    uniforms = _random._unit53(gen._words64(probs.size))
    draws = _random._cast(_random._libm(math.log, 1.0 - uniforms) * -1.0, probs.dtype)
    return _random._fill_in_memory_order(np.empty_like(probs), draws)


def _largest(ratios, n_sample):
    """Indices of the n_sample largest ratios of each row, largest first (ties: the lower index first)."""
    if n_sample == 1:
        return np.argmax(ratios, axis=-1)[..., None].astype(np.int64)
    order = np.argsort(-ratios.astype(np.float64), axis=-1, kind="stable")
    return order[..., :n_sample].astype(np.int64)


def _first_invalid(rows):
    """(row, message) of the first row that PyTorch's with-replacement walk rejects, or None."""
    for r, row in enumerate(rows):  # rows, not elements: each check is vectorised over its row
        bad = np.flatnonzero(~(row >= 0) | ~np.isfinite(row))
        if bad.size:
            return r, _NEGATIVE if not row[bad[0]] >= 0 else _NOT_FINITE
        if not row.sum(dtype=row.dtype) > 0:
            return r, _EMPTY
    return None


def multinomial(probs, n_sample, replacement, generator=None):
    """int64 indices, (n_sample,) for 1-D `probs`, (rows, n_sample) for 2-D ones (already checked by the op)."""
    gen = generator or _random.default_generator
    if not replacement or n_sample == 1:
        if not (np.max(probs) < np.inf and np.min(probs) >= 0):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if np.any(np.sum(probs.astype(np.float64), axis=-1) == 0):
            raise RuntimeError(_EMPTY)
        return _largest(probs / _exponentials(probs, gen), n_sample).reshape(probs.shape[:-1] + (n_sample,))
    rows = probs.reshape(-1, probs.shape[-1])
    accumulate = np.float64 if probs.dtype == np.float64 else np.float32
    wide = rows.astype(accumulate)
    invalid = _first_invalid(wide)
    n_rows = rows.shape[0] if invalid is None else invalid[0]
    uniforms = _random._unit53(gen._words64(n_rows * n_sample)).reshape(n_rows, n_sample)
    if invalid is not None:
        raise RuntimeError(invalid[1])
    cumulative = np.cumsum(wide, axis=-1, dtype=accumulate)  # one element after another, in order
    cumulative = cumulative / cumulative[:, -1:]
    cumulative[:, -1] = 1
    samples = _searchsorted_forward(None, cumulative.astype(np.float64), uniforms, None, False, False)
    return samples.reshape(probs.shape[:-1] + (n_sample,))
