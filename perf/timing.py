"""The one timing harness behind every row of perf/report.py, for the cpu and the cuda device alike.

`time_calls` warms a contender up, then times one call per clock reading, cycling through several input
sets, until both a minimum count and a time budget are reached; `summarize` gives the median and the
spread. What differs between devices is only the clock:

* `HostClock`: `time.perf_counter()` around the call (cpu rows). There is nothing to flush: large inputs
  rotate through sets whose total size is twice the last-level cache instead.
* `EventClock`: CUDA events recorded on the stream the library launches on (`framework.cuda.Event`, or
  `torch.cuda.Event` for the PyTorch baseline), read after waiting for the end event. Before every
  repeat it writes a buffer larger than L2 (`zero_()`, a kernel on the same stream), so no repeat finds
  its inputs in L2; that write is queued before the start event and is not timed. Work a row queues
  before `flush()` (a backward row's forward) is not timed either.

Because the cpu rows run this same code in CI, the warm-up, repeat, rotation and median logic that the
GPU rows rely on is exercised everywhere; tests/perf/test_timing.py pins it with a fake clock.
"""
import dataclasses
import gc
import math
import time

import numpy as np


@dataclasses.dataclass
class Budget:
    seconds: float  # timed seconds per contender, row and round, once min_reps are done
    min_reps: int  # per round
    max_reps: int  # per round
    warmup: int  # calls per round
    max_sets: int  # input sets to rotate through
    rounds: int  # contenders alternate round by round, so a drift in the machine's load hits all of them
    min_sets: int = 1  # at least this many input sets, however large one is


def set_count(set_bytes, cache_bytes, budget):
    """How many input sets to rotate through: enough that their total is twice the cache, within the budget."""
    wanted = math.ceil(2 * cache_bytes / max(set_bytes, 1))
    return max(budget.min_sets, min(budget.max_sets, wanted))


class HostClock:
    """Host wall time around the call: the cpu rows."""

    def flush(self):
        pass

    def synchronize(self):
        pass

    def mark(self):
        return time.perf_counter()

    def seconds(self, start, end):
        return end - start


HOST = HostClock()


class EventClock:
    """CUDA events: `event_type(enable_timing=True).record()` on the library's stream (framework.cuda.Event,
    torch.cuda.Event); `synchronize` waits for that library's device work; `flush_buffer` is a tensor larger
    than L2 that `flush()` overwrites with `zero_()`."""

    def __init__(self, event_type, synchronize, flush_buffer):
        self.event_type, self._synchronize, self.flush_buffer = event_type, synchronize, flush_buffer

    def flush(self):
        self.flush_buffer.zero_()

    def synchronize(self):
        self._synchronize()

    def mark(self):
        event = self.event_type(enable_timing=True)
        event.record()
        return event

    def seconds(self, start, end):
        end.synchronize()  # torch's elapsed_time raises until the end event has completed
        return start.elapsed_time(end) / 1e3


def time_calls(prepare, sets, rebuild, budget, clock=HOST):
    """Seconds per call of prepare(set)(), cycling through `sets`; rebuild: prepare before each call (outside
    the timed region: a backward row builds its graph there). The clock is flushed before every timed call."""
    ready = None if rebuild else [prepare(s) for s in sets]
    next_call = (lambda i: prepare(sets[i % len(sets)])) if rebuild else (lambda i: ready[i % len(ready)])
    for i in range(budget.warmup):
        next_call(i)()
    clock.synchronize()
    gc.disable()  # as timeit does; no gc.collect() first: with torch imported, a full collection takes ~0.3 s
    times, timed, started = [], 0.0, time.perf_counter()
    try:
        while len(times) < budget.max_reps:
            call = next_call(len(times))
            clock.flush()
            start = clock.mark()
            call()
            end = clock.mark()
            times.append(clock.seconds(start, end))
            timed += times[-1]
            done = timed >= budget.seconds or time.perf_counter() - started > 4 * budget.seconds
            if len(times) >= budget.min_reps and done:
                break
    finally:
        gc.enable()
    clock.synchronize()
    return np.array(times)


def summarize(times):
    p25, median, p75 = np.percentile(times, [25, 50, 75])
    return {"median_s": median, "p25_s": p25, "p75_s": p75, "min_s": times.min(), "max_s": times.max(),
            "repeats": len(times)}
