"""Shared pytest set-up: the random seed of the run, markers, and state reset between tests.

Inputs are random, drawn from the run's seed: 0 unless FW_TEST_SEED says otherwise, so the README's command and
CI test the same inputs on every run and machine (as PyTorch's suite seeds its tests, and as the hypothesis
profile below derandomizes). FW_TEST_SEED=random draws a fresh seed: a search for inputs that the tolerances do
not cover (nightly, or before a release). The seed is printed in the header and next to every failure; set
FW_TEST_SEED to it to replay the run.
"""
import os
import sys
import zlib

# Hypothesis keeps its example database and caches in .hypothesis/ under the working directory unless told
# otherwise: here they go to the user's cache, so a test run leaves the checkout as it was (set
# HYPOTHESIS_STORAGE_DIRECTORY to choose another place). Before hypothesis is imported: it reads this once.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "framework", "hypothesis"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS_DIR)
for path in (ROOT, TESTS_DIR):  # `import framework` and `import helpers` from any test folder
    if path not in sys.path:
        sys.path.insert(0, path)

# The `cuda` device under test: the GPU when there is one, else Triton's interpreter on host memory. Decided here,
# once, before any test module imports framework's cuda backend (kernels are decorated on import).
if "TRITON_INTERPRET" not in os.environ:
    from framework.cuda import gpu_count  # light: imports neither Triton nor the cuda backend
    if gpu_count() == 0:
        os.environ["TRITON_INTERPRET"] = "1"
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

_REQUESTED_SEED = os.environ.get("FW_TEST_SEED", "").strip()
SEED = (np.random.SeedSequence().entropy % (1 << 63) if _REQUESTED_SEED == "random"
        else int(_REQUESTED_SEED or 0))
os.environ["FW_TEST_SEED"] = str(SEED)  # helpers.py, and the kernel tests' own generators, read the same seed

# Property-based tests (tests/reliability): `ci` (the default) keeps the folder under a minute on two cores
# and draws the same examples every run, so a submission's CI cannot fail on a search it never made before;
# `pytest --hypothesis-profile=long` runs a fresh, nightly-sized search. A failure prints its falsifying
# example (and `--hypothesis-seed=N` replays a whole long run).
settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=2000, derandomize=False)
settings.load_profile("ci")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "uses_random: depends on framework.random (manual_seed, rand, randn, randint, randperm, "
                   "uniform_, normal_); a failure here may be the random module, not the op under test")
    config.addinivalue_line("markers", "slow: a long-running test (tests/reliability's 10,000-step loop)")
    config.addinivalue_line("markers", "requires_torch: compares with PyTorch; skipped when torch is not importable")


def pytest_report_header(config):
    return f"framework tests: FW_TEST_SEED={SEED}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.sections.append(("random inputs", f"replay with FW_TEST_SEED={SEED}"))


@pytest.fixture
def rng(request):
    """A numpy Generator for this test, from the run's seed and the test id."""
    return np.random.default_rng([SEED, zlib.crc32(request.node.nodeid.encode())])


@pytest.fixture(autouse=True)
def _restore_global_state():
    """A failing test must not leak a default dtype or a grad mode into the next one."""
    yield
    framework = sys.modules.get("framework")
    if framework is None:
        return
    if framework.get_default_dtype() is not framework.float32:
        framework.set_default_dtype(framework.float32)
    if not framework.is_grad_enabled():
        framework.set_grad_enabled(True)
