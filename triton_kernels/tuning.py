"""Autotuning: time a launcher's candidate tile configs on the GPU once per problem class, keep the fastest.

Triton's own `triton.autotune` times its candidates with `triton.testing.do_bench`, which reaches for PyTorch
(`driver.get_device_interface()` imports torch); this package must not. So the timing comes from outside: the
`cuda` runtime that owns the stream registers a *benchmarker* with `set_benchmarker(fn)`, where `fn(call)`
returns the seconds one call of the zero-argument `call` takes (framework/backends/cuda/runtime.py: the median
of event-timed calls on its stream after a warm-up). Nothing is registered under Triton's interpreter, in CI
or on the CPU, so there `choose` returns the launcher's size-rule choice without running anything.

A launcher asks `choose(kernel_name, key, candidates, launch)`:
* one candidate, no benchmarker, or TRITON_KERNELS_AUTOTUNE=0 (also "false", "off", "no") in the environment:
  the first candidate, nothing run, nothing cached (tuning switched on later still tunes);
* a cached `key`: its choice, nothing run;
* otherwise each candidate is timed, `benchmarker(lambda: launch(candidate))`, and the fastest is cached under
  (kernel_name, key) and returned. Candidates within TIE_TOLERANCE of the fastest count as ties, won by the
  earliest of them (the first candidate is by convention the size rule's choice), so that equally fast configs do
  not flip from run to run on timing noise.
  A candidate that does not fit this GPU (OutOfResources, PTXASError, CompileTimeAssertionFailure: what
  `triton.autotune` skips too) counts as infinitely slow; any other error propagates, and when every candidate
  fails the first one's error is raised.

REQUIREMENT for every launcher that uses the tuner: `launch(candidate)` runs the real kernel on the caller's
real buffers, several times per candidate, so it must be idempotent: the kernel only writes its outputs, never
reads what it writes, and no output aliases an input (no in-place update, no accumulation into an output, no
atomics adding into a buffer). The linear and matmul kernels qualify (linear.py, matmul.py). The launcher launches the
chosen config once more after `choose` returns, so its result is always the winner's, bit for bit.

The cache key is the launcher's to build and must hold everything the best config depends on: dtype, flags
(activation, bias, saved outputs), precision, alignment and unit-stride layout, the sizes. Batch-like sizes go
through `bucket` (the next power of two) so that a varying batch does not retune every call; the choice made
for the first size seen in a bucket serves the whole bucket. `cache_info()` shows the choices and their timings,
`clear_cache()` forgets them (the benchmarker stays registered). One process drives one GPU (runtime.py), so the
device is not part of the key.

Determinism: a tuned choice comes from timings, so two runs of one program may pick different configs for the
same shape and, since configs sum the reduction axis in different orders, differ in the last bits. Set
TRITON_KERNELS_AUTOTUNE=0 for bit-identical runs on a GPU (the interpreter never tunes).
"""
import collections
import os

ENV_VAR = "TRITON_KERNELS_AUTOTUNE"
_OFF = ("0", "false", "off", "no")
# Relative margin within which a candidate ties with the fastest. An estimate, not measured (no GPU run yet):
# about the run-to-run spread of a median of ~20 event-timed launches of one kernel.
TIE_TOLERANCE = 0.02

Choice = collections.namedtuple("Choice", "config seconds")
Choice.__doc__ = """A cached choice: `config`, the chosen candidate; `seconds`, ((candidate, seconds), ...) as timed
(float('inf') for a candidate that failed to compile or launch)."""

_benchmarker = None
_allowed = True
_cache = {}


def set_benchmarker(fn):
    """Register `fn(call) -> seconds for one call of call()` as the process's benchmarker (None: no tuning).
    Returns the previous one, so a caller can put it back."""
    global _benchmarker
    previous, _benchmarker = _benchmarker, fn
    return previous


def benchmarker():
    """The registered benchmarker, or None."""
    return _benchmarker


def set_allowed(flag):
    """Allow (True, the default) or forbid tuning from inside the process, whatever the environment says: the
    caller's deterministic mode (framework.use_deterministic_algorithms) forbids it, since timings may pick
    different configs in two runs. Returns the previous setting."""
    global _allowed
    previous, _allowed = _allowed, bool(flag)
    return previous


def enabled():
    """Whether `choose` may time candidates: a benchmarker is registered, tuning is allowed (set_allowed) and
    TRITON_KERNELS_AUTOTUNE is not off (read at every call, so it can be switched at run time)."""
    return (_benchmarker is not None and _allowed
            and os.environ.get(ENV_VAR, "1").strip().lower() not in _OFF)


def bucket(n):
    """`n` rounded up to a power of two (0 stays 0): the key for a size that varies from call to call."""
    return 0 if n <= 0 else 1 << (int(n) - 1).bit_length()


def cache_info():
    """{(kernel_name, key): Choice} of every choice made so far (a copy)."""
    return dict(_cache)


def clear_cache():
    """Forget every choice: the next launch of each key is timed again."""
    _cache.clear()


def _skippable_errors():
    """The exceptions that mean "this config does not fit this GPU" (what triton.autotune skips)."""
    from triton.compiler.errors import CompileTimeAssertionFailure
    from triton.runtime.errors import OutOfResources, PTXASError
    return OutOfResources, PTXASError, CompileTimeAssertionFailure


def choose(kernel_name, key, candidates, launch):
    """The candidate to launch for (kernel_name, key): cached, timed now, or the first (see the module's docstring).

    `candidates`: hashable values (config names, or indices into a config list), the size rule's choice first;
    `launch(candidate)` runs the kernel once with that candidate on the real buffers (it must be idempotent);
    `key`: hashable, everything the best candidate depends on, or a function returning it, called only when
    there is something to tune (so that launches that never tune do not pay for building it)."""
    candidates = tuple(candidates)
    if not candidates:
        raise ValueError(f"tuning.choose({kernel_name!r}): no candidates")
    if len(candidates) == 1 or not enabled():
        return candidates[0]
    if callable(key):
        key = key()
    cached = _cache.get((kernel_name, key))
    if cached is not None and cached.config in candidates:  # (a key whose candidates changed is timed again)
        return cached.config
    skippable = _skippable_errors()
    timings, first_error = [], None
    for candidate in candidates:
        try:
            seconds = float(_benchmarker(lambda candidate=candidate: launch(candidate)))
        except skippable as error:
            first_error = first_error or error
            seconds = float("inf")
        timings.append((candidate, seconds))
    fastest = min(seconds for _, seconds in timings)
    if fastest == float("inf"):
        raise first_error
    # The first candidate within the tolerance of the fastest: the rule's choice on a tie.
    chosen = next(candidate for candidate, seconds in timings if seconds <= fastest * (1.0 + TIE_TOLERANCE))
    _cache[(kernel_name, key)] = Choice(chosen, tuple(timings))
    return chosen
