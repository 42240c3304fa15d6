"""Kernel tests run in Triton's interpreter on the host (no GPU needed); their ahead-of-time compiles for
sm_80/sm_90 run in one child process beside them (the fixtures below, triton_kernels/aot.py).

NOTE: this folder must NOT have an __init__.py: as a package it would be named
`triton_kernels` and shadow the real `triton_kernels` package the tests import.
"""
import os

import pytest

# Both must be set before any @triton.jit decoration runs (i.e. before triton_kernels is imported).
os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")


def pytest_collection_modifyitems(items):
    """Tests of ahead-of-time compiles carry the `aot` mark, so `-m "not aot"` leaves them out (.ci/run's stage 2:
    the compiles do not involve PyTorch, and stage 1 runs them under the same Triton)."""
    for item in items:
        if "aot_results" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.aot)


@pytest.fixture(scope="session", autouse=True)
def _aot_compiling(request):
    """The one way these tests compile ahead of time: a test module defines `aot_jobs()`, (key, job) pairs
    (triton_kernels.aot.job), and its tests take `aot_results`. With the session's first test here, every selected
    module's jobs, in test order, start compiling in ONE child process (aot.start), which works beside the
    interpreter tests; yields {module: (keys, indices of its jobs) or the error its aot_jobs() raised}."""
    here = os.path.dirname(os.path.abspath(__file__))
    modules = [item.module for item in request.session.items
               if "aot_results" in getattr(item, "fixturenames", ()) and str(item.path).startswith(here + os.sep)]
    slices, jobs = {}, []
    for module in dict.fromkeys(modules):  # unique, in order
        try:
            keys, module_jobs = zip(*module.aot_jobs())
        except Exception as error:  # fails the tests that read this module's results, nothing else
            slices[module] = error
            continue
        slices[module] = (keys, range(len(jobs), len(jobs) + len(module_jobs)))
        jobs += module_jobs
    if not jobs:
        yield None, slices
        return
    from triton_kernels import aot
    compiling = aot.start(jobs)
    yield compiling, slices
    compiling.cancel()


@pytest.fixture(scope="module")
def aot_results(request, _aot_compiling):
    """(key, aot.CompiledKernel) pairs of this module's `aot_jobs()`, in order (waits for them)."""
    compiling, slices = _aot_compiling
    found = slices[request.module]
    if isinstance(found, Exception):
        raise found
    keys, indices = found
    return list(zip(keys, compiling.result(indices)))
