"""What every perf script records: the thread count, the machine, versions, commit, date, load.

Import this module before numpy: importing it pins the thread count (THREADS),
which must happen before numpy loads OpenBLAS, which reads it once.

Thread choice: numpy's BLAS and PyTorch get the same count, so neither side has
more hardware than the other: one thread unless PERF_THREADS=N says otherwise
(subprocesses inherit it). One, not every core, because these machines are
shared: a thread pool whose barrier waits on a descheduled thread slows down
many-fold (measured here with load ~2 on 2 cores: the MNIST-MLP step took
144 ms with 2 threads, 18 ms with 1, for numpy and PyTorch alike), and because
the small-model rows are bound by Python dispatch, which threads do not speed
up. On a quiet machine, PERF_THREADS=$(nproc) measures the all-cores case.
"""
import datetime
import importlib.metadata
import os
import pathlib
import platform
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python perf/report.py` puts perf/ first on the path, not the repo root
    sys.path.insert(0, str(ROOT))

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def pin_threads():
    """Sets one thread count for numpy's BLAS and PyTorch's pools (env vars); returns it."""
    threads = int(os.environ.get("PERF_THREADS") or 1)
    os.environ["PERF_THREADS"] = str(threads)
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    return threads


THREADS = pin_threads()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit():
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def run_info(threads):
    """Machine, versions, commit, date and load, as recorded next to every table."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "machine": {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": available_cores(),
                    "platform": platform.platform(), "load_average_1_5_15": load},
        "threads": threads,
        "versions": {"python": platform.python_version(), "numpy": _version("numpy"),
                     "framework": _version("framework"), "torch": _version("torch")},
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def busy_warning(info):
    """A line to print when other processes load the machine enough to slow the timings, else None."""
    load = info["machine"]["load_average_1_5_15"]
    cores = info["machine"]["usable_cores"]
    if load is not None and load[0] > 0.5 * cores:
        return (f"WARNING: load average {load[0]:.2f} on {cores} cores: other processes share this machine, "
                "so times are inflated and noisy")
    return None


def print_header(title, info):
    m, v = info["machine"], info["versions"]
    print(title)
    print(f"  cpu: {m['cpu']} ({m['usable_cores']} usable of {m['logical_cores']} cores); "
          f"threads: {info['threads']} for numpy's BLAS and for torch (PERF_THREADS to change)")
    print(f"  python {v['python']}, numpy {v['numpy']}, framework {v['framework']}, torch {v['torch'] or 'absent'}; "
          f"commit {(info['commit'] or 'unknown')[:12]}; {info['date']}")
    if m["load_average_1_5_15"] is not None:
        print("  load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in m["load_average_1_5_15"]))
    warning = busy_warning(info)
    if warning:
        print("  " + warning)


def format_seconds(seconds):
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_ratio(ours, baseline):
    return "-" if ours is None or not baseline else f"{ours / baseline:.2f}x"
