"""The autotuner (triton_kernels/tuning.py) with fake benchmarkers: which candidate it picks, what it caches under
which key, and when it runs nothing; plus the GPU runtime's benchmarker (framework/backends/cuda/runtime.py) on
fake events. The linear launchers' use of it, with real interpreter launches, is in test_linear.py."""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before any @triton.jit decoration runs

import pytest  # noqa: E402

pytest.importorskip("triton", reason="Triton has no wheel for this platform")

from triton.runtime.errors import OutOfResources  # noqa: E402

from triton_kernels import tuning  # noqa: E402


class FakeBenchmarker:
    """Times a call as `seconds[what the call returns]` (the test's `launch` returns its candidate); counts calls."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.calls = 0

    def __call__(self, call):
        self.calls += 1
        return self.seconds[call()]


@pytest.fixture(autouse=True)
def fresh_tuner(monkeypatch):
    """No benchmarker, an empty cache and TRITON_KERNELS_AUTOTUNE unset; all put back afterwards."""
    monkeypatch.delenv(tuning.ENV_VAR, raising=False)
    previous = tuning.set_benchmarker(None)
    saved = tuning.cache_info()
    tuning.clear_cache()
    yield
    tuning.set_benchmarker(previous)
    tuning.clear_cache()
    tuning._cache.update(saved)


class Launches(list):
    """A `launch` that records the candidates it ran and returns each (for FakeBenchmarker)."""

    def __call__(self, candidate):
        self.append(candidate)
        return candidate


def test_fastest_is_chosen_cached_and_not_timed_again():
    bench = FakeBenchmarker({"a": 3e-3, "b": 1e-3, "c": 2e-3})
    tuning.set_benchmarker(bench)
    launches = Launches()
    key = ("bfloat16", 64, 512)
    assert tuning.choose("k", key, ("a", "b", "c"), launches) == "b"
    assert bench.calls == 3 and launches == ["a", "b", "c"]
    choice = tuning.cache_info()[("k", key)]
    assert choice.config == "b" and choice.seconds == (("a", 3e-3), ("b", 1e-3), ("c", 2e-3))
    assert tuning.choose("k", key, ("a", "b", "c"), launches) == "b"
    assert bench.calls == 3 and len(launches) == 3  # cached: nothing run
    # Another kernel name or key is another entry.
    assert tuning.choose("other", key, ("a", "b", "c"), launches) == "b"
    assert tuning.choose("k", key + (1,), ("a", "b", "c"), launches) == "b"
    assert bench.calls == 9 and len(tuning.cache_info()) == 3
    tuning.clear_cache()
    assert tuning.cache_info() == {}
    tuning.choose("k", key, ("a", "b", "c"), launches)
    assert bench.calls == 12  # timed again after clear_cache


def test_a_cached_choice_no_longer_among_the_candidates_is_timed_again():
    bench = FakeBenchmarker({"a": 2.0, "b": 1.0, "c": 0.5})
    tuning.set_benchmarker(bench)
    assert tuning.choose("k", "key", ("a", "b"), Launches()) == "b"
    assert tuning.choose("k", "key", ("c", "a"), Launches()) == "c" and bench.calls == 4


@pytest.mark.parametrize("seconds,expected", [
    ({"a": 1.0, "b": 1.0}, "a"),      # an exact tie: the first (the size rule's choice)
    ({"a": 1.01, "b": 1.0}, "a"),     # within TIE_TOLERANCE: still a tie
    ({"a": 1.05, "b": 1.0}, "b"),     # clearly faster
    ({"a": 0.5, "b": 1.0}, "a"),
])
def test_ties_go_to_the_first_candidate(seconds, expected):
    tuning.set_benchmarker(FakeBenchmarker(seconds))
    assert tuning.choose("k", "key", ("a", "b"), Launches()) == expected


def test_bucket_rounds_up_to_a_power_of_two():
    assert [tuning.bucket(n) for n in (0, 1, 2, 3, 64, 65, 1000, 1024, 1025)] == [0, 1, 2, 4, 64, 128, 1024, 1024,
                                                                                 2048]


def test_single_candidate_and_no_benchmarker_run_nothing():
    bench = FakeBenchmarker({"a": 1.0, "b": 0.5})
    launches = Launches()
    assert tuning.choose("k", "key", ("a", "b"), launches) == "a"  # no benchmarker: the rule's choice
    tuning.set_benchmarker(bench)
    assert tuning.choose("k", "key", ["a"], launches) == "a"  # one candidate: nothing to time
    assert bench.calls == 0 and launches == [] and tuning.cache_info() == {}
    with pytest.raises(ValueError, match="no candidates"):
        tuning.choose("k", "key", (), launches)


def test_a_key_function_is_called_only_when_there_is_something_to_tune():
    built = []

    def key():
        built.append(1)
        return "key"

    launches = Launches()
    assert tuning.choose("k", key, ("a", "b"), launches) == "a" and built == []  # no benchmarker
    tuning.set_benchmarker(FakeBenchmarker({"a": 1.0, "b": 0.5}))
    assert tuning.choose("k", key, ("a",), launches) == "a" and built == []  # one candidate
    assert tuning.choose("k", key, ("a", "b"), launches) == "b" and built == [1]
    assert tuning.choose("k", "key", ("a", "b"), launches) == "b"  # cached under what the function returned


@pytest.mark.parametrize("value", ["0", "false", "OFF", " no "])
def test_environment_variable_switches_tuning_off(monkeypatch, value):
    bench = FakeBenchmarker({"a": 1.0, "b": 0.5})
    tuning.set_benchmarker(bench)
    monkeypatch.setenv(tuning.ENV_VAR, value)
    assert not tuning.enabled()
    assert tuning.choose("k", "key", ("a", "b"), Launches()) == "a"
    assert bench.calls == 0 and tuning.cache_info() == {}  # not cached: switched on later, it still tunes
    monkeypatch.setenv(tuning.ENV_VAR, "1")
    assert tuning.choose("k", "key", ("a", "b"), Launches()) == "b" and bench.calls == 2


def test_set_benchmarker_returns_the_previous_one():
    first = FakeBenchmarker({})
    assert tuning.set_benchmarker(first) is None
    assert tuning.benchmarker() is first and tuning.enabled()
    assert tuning.set_benchmarker(None) is first
    assert not tuning.enabled()


def test_a_candidate_that_does_not_fit_is_skipped_and_other_errors_propagate():
    def launch(candidate):
        if candidate in ("big", "huge"):
            raise OutOfResources(300000, 232448, "shared memory")
        if candidate == "broken":
            raise KeyError(candidate)
        return candidate

    tuning.set_benchmarker(FakeBenchmarker({"small": 1.0}))
    assert tuning.choose("k", 1, ("big", "small"), launch) == "small"
    assert tuning.cache_info()[("k", 1)].seconds == (("big", float("inf")), ("small", 1.0))
    with pytest.raises(OutOfResources):  # nothing fits: the first candidate's error
        tuning.choose("k", 2, ("big", "huge"), launch)
    with pytest.raises(KeyError):  # a real bug is not a slow config
        tuning.choose("k", 3, ("small", "broken"), launch)
    assert set(tuning.cache_info()) == {("k", 1)}


# ---- the GPU runtime's benchmarker, on fake events ---------------------------------------------------------

class _FakeEventRuntime:
    """Stands in for DriverRuntime in its `benchmark`: events are call counters; call i (0 the warm-up) takes
    durations_ms[i]."""

    capture = None  # no CUDA graph capture under way

    def __init__(self, durations_ms):
        self.durations_ms = durations_ms
        self.calls = 0
        self.clock = 0.0

    def call(self):
        self.clock += self.durations_ms[self.calls]
        self.calls += 1

    def record_time(self):
        return self.clock

    @staticmethod
    def elapsed_ms(start, end):
        return end - start


def test_driver_runtime_benchmark_is_the_median_of_timed_calls_after_a_warm_up():
    runtime = pytest.importorskip("framework.backends.cuda.runtime")
    durations = [1000.0] + [2.0] * 10 + [1.0] * 9 + [50.0]  # warm-up (a compile), then 20 timed calls
    fake = _FakeEventRuntime(durations)
    seconds = runtime.DriverRuntime.benchmark(fake, fake.call)
    assert fake.calls == 1 + runtime.BENCHMARK_REPEATS == len(durations)
    assert seconds == pytest.approx(2.0e-3)  # the median in ms, as seconds; the warm-up and outlier ignored
    fake = _FakeEventRuntime([7.0] * 4)
    assert runtime.DriverRuntime.benchmark(fake, fake.call, repeats=3) == pytest.approx(7.0e-3)


def test_only_the_process_driver_runtime_registers_a_benchmarker(monkeypatch):
    runtime = pytest.importorskip("framework.backends.cuda.runtime")

    class StubDriverRuntime:
        def benchmark(self, call):
            return 0.0

    monkeypatch.setattr(runtime, "_RUNTIME", None)
    monkeypatch.setattr(runtime, "DriverRuntime", StubDriverRuntime)
    monkeypatch.setattr(runtime, "interpreter_requested", lambda: False)
    monkeypatch.setattr(runtime, "gpu_count", lambda: 1)
    monkeypatch.setattr(runtime.cuda_requirements, "check_gpu_stack", lambda: None)  # no cuda-core here
    rt = runtime.runtime()
    assert isinstance(rt, StubDriverRuntime) and tuning.benchmarker() == rt.benchmark
    tuning.set_benchmarker(None)
    monkeypatch.setattr(runtime, "_RUNTIME", None)
    monkeypatch.setattr(runtime, "interpreter_requested", lambda: True)
    assert isinstance(runtime.runtime(), runtime.InterpreterRuntime)
    assert tuning.benchmarker() is None
