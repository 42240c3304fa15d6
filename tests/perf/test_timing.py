"""perf/timing.py, the harness behind every report row (cpu and cuda), pinned with fake clocks: which calls are
timed, on which input set, with a flush before each, and the median and spread of what the clock read."""
import importlib.util
import itertools
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(name):
    spec = importlib.util.spec_from_file_location(f"perf_{name}", os.path.join(ROOT, "perf", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


timing = _load("timing")
Budget = timing.Budget
FOREVER = 1e9  # a time budget never reached: the repeat count alone decides


class FakeClock:
    """Logs what the harness asks of it; the i-th timed call 'takes' durations[i] seconds."""

    def __init__(self, durations, log):
        self.durations, self.log = list(durations), log

    def flush(self):
        self.log.append("flush")

    def synchronize(self):
        self.log.append("sync")

    def mark(self):
        self.log.append("mark")
        return len(self.log)

    def seconds(self, start, end):
        return self.durations.pop(0)


def _preparer(log):
    def prepare(inputs):
        log.append(f"prepare {inputs}")
        return lambda: log.append(f"call {inputs}")
    return prepare


def test_prepared_calls_rotate_through_the_sets_and_each_timed_call_is_flushed_first():
    log = []
    budget = Budget(FOREVER, min_reps=5, max_reps=5, warmup=2, max_sets=3, rounds=1)
    times = timing.time_calls(_preparer(log), ["a", "b", "c"], False, budget, FakeClock([5, 1, 3, 2, 4], log))
    assert list(times) == [5, 1, 3, 2, 4]
    timed = [step for s in "abcab" for step in ("flush", "mark", f"call {s}", "mark")]
    assert log == ["prepare a", "prepare b", "prepare c", "call a", "call b", "sync"] + timed + ["sync"]


def test_rebuilt_calls_are_prepared_outside_the_timed_region_before_every_repeat():
    log = []
    budget = Budget(FOREVER, min_reps=3, max_reps=3, warmup=1, max_sets=2, rounds=1)
    timing.time_calls(_preparer(log), ["a", "b"], True, budget, FakeClock([1, 1, 1], log))
    timed = [step for s in "aba" for step in (f"prepare {s}", "flush", "mark", f"call {s}", "mark")]
    assert log == ["prepare a", "call a", "sync"] + timed + ["sync"]


@pytest.mark.parametrize("seconds, expected", [(1.0, 3), (0.1, 2), (FOREVER, 10)])
def test_repeats_stop_at_the_time_budget_once_the_minimum_count_is_done(seconds, expected):
    budget = Budget(seconds, min_reps=2, max_reps=10, warmup=0, max_sets=1, rounds=1)
    times = timing.time_calls(_preparer([]), ["a"], False, budget, FakeClock([0.4] * 10, []))
    assert len(times) == expected


def test_summary_is_the_median_and_interquartile_range_of_the_readings():
    summary = timing.summarize(timing.np.array([5.0, 1.0, 3.0, 2.0, 4.0]))
    assert summary == {"median_s": 3.0, "p25_s": 2.0, "p75_s": 4.0, "min_s": 1.0, "max_s": 5.0, "repeats": 5}


@pytest.mark.parametrize("set_mib, cache_mib, min_sets, max_sets, expected", [
    (10, 32, 1, 8, 7),  # enough sets to outgrow twice the cache: ceil(64 / 10)
    (1, 32, 1, 8, 8),  # ... but no more than max_sets
    (512, 50, 1, 4, 1),  # one set larger than the cache
    (512, 50, 2, 4, 2),  # the cuda tables rotate at least two copies, however large
])
def test_set_count(set_mib, cache_mib, min_sets, max_sets, expected):
    budget = Budget(1.0, 1, 1, 0, max_sets, 1, min_sets=min_sets)
    assert timing.set_count(set_mib << 20, cache_mib << 20, budget) == expected


def test_event_clock_records_timing_events_flushes_and_reads_seconds_after_the_end_event():
    ticks, zeroed = itertools.count(0, 7), []  # each event is recorded 7 ms after the one before

    class Event:  # framework.cuda.Event / torch.cuda.Event, as the clock uses them
        def __init__(self, enable_timing=False):
            assert enable_timing
            self.done = False

        def record(self):
            self.ms = next(ticks)

        def synchronize(self):
            self.done = True

        def elapsed_time(self, end):
            assert end.done, "torch raises when the end event has not completed"
            return end.ms - self.ms

    class Buffer:
        def zero_(self):
            zeroed.append(1)

    synced = []
    clock = timing.EventClock(Event, lambda: synced.append(1), Buffer())
    budget = Budget(FOREVER, min_reps=4, max_reps=4, warmup=1, max_sets=1, rounds=1)
    times = timing.time_calls(lambda s: lambda: None, [None], False, budget, clock)
    assert list(times) == pytest.approx([0.007] * 4)
    assert len(zeroed) == 4 and len(synced) == 2  # one flush per timed call; synchronized after warm-up and at the end
