"""Ahead-of-time compilation for real GPUs, without one: proof that a kernel config builds.

`triton.compile(ASTSource(...), target=GPUTarget("cuda", arch, 32))` runs Triton's whole
pipeline down to a cubin on a machine with no GPU. `compile_all` does that for kernel configs
(`job`s) and reads what CI checks: registers and spills (from ptxas, which Triton ships), shared
memory, and whether the PTX uses Hopper's `wgmma` tensor-core instructions.

`compile_all(jobs)` runs them in ONE child process with the interpreter off (under TRITON_INTERPRET=1,
@triton.jit gives interpreted functions, and the interpreter patches `triton.language`, so `triton.compile`
cannot run reliably in that process), spread over forked workers there (each compile is single-threaded; the
fork shares the child's one Triton import); `start(jobs)` does the same in the background and `compile_for` is
one job's shorthand. `specialize` gives a job the signature a real launch of aligned, contiguous buffers
compiles; `gpu_settings` lets the launchers pick a GPU's tiles while the interpreter runs; `assert_no_spills`
checks results. The kernel tests (tests/triton_kernels) reach all this through their conftest's `aot_results`.
"""
import contextlib
import dataclasses
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

ARCHITECTURES = (80, 90)  # Ampere (A100) and Hopper (H100): every shipped config compiles for both
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class CompiledKernel:
    name: str
    arch: int
    registers: int
    spilled_bytes: int
    shared_bytes: int
    uses_wgmma: bool
    ptx: str = dataclasses.field(repr=False)

    def summary(self):
        return (f"sm_{self.arch} {self.name}: {self.registers} registers, {self.spilled_bytes} B spilled, "
                f"{self.shared_bytes} B shared, wgmma={self.uses_wgmma}")


@contextlib.contextmanager
def gpu_settings():
    """TRITON_INTERPRET=0 inside the block: the launchers' settings (tile sizes, blocks) as a GPU gets them, for
    jobs built in a process that runs the interpreter."""
    saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "0"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = saved


def _ptxas(arch):
    """The ptxas binary that ships inside Triton's wheel."""
    from triton.backends.nvidia.compiler import get_ptxas
    tool = get_ptxas(arch)
    return getattr(tool, "path", tool)


def _register_report(ptx, arch):
    """ptxas -v on the PTX: (registers per thread, bytes of spill stores + loads)."""
    sm = f"sm_{arch}a" if arch >= 90 else f"sm_{arch}"
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "kernel.ptx")
        with open(source, "w") as handle:
            handle.write(ptx)
        result = subprocess.run([_ptxas(arch), "-v", f"-arch={sm}", source, "-o", os.path.join(folder, "kernel.cubin")],
                                capture_output=True, text=True, check=True)
    report = result.stderr + result.stdout
    registers = max((int(n) for n in re.findall(r"Used (\d+) registers", report)), default=0)
    spills = sum(int(a) + int(b) for a, b in re.findall(r"(\d+) bytes spill stores, (\d+) bytes spill loads", report))
    return registers, spills


def specialize(kernel, constexprs, pointer_types, unit_args=(), aligned=True):
    """A job's signature, constexprs and divisible arguments as a real launch specialises `kernel`.

    Triton specialises a launch on its arguments: an int equal to 1 becomes a constant (`unit_args`: the unit
    strides of contiguous operands) and, with `aligned`, pointers and ints divisible by 16 carry
    tt.divisibility=16 (16-byte-aligned buffers, sizes/strides multiples of 16: vectorised, pipelined loads).
    `aligned=False` models odd sizes and strides. Every other non-constexpr argument is a pointer
    (`pointer_types[name]`, or `pointer_types` itself, e.g. "bf16") when its name ends in `_ptr`, else i32."""
    constexprs, signature, divisible = dict(constexprs), {}, []
    for name in kernel.arg_names:
        if name in constexprs:
            signature[name] = "constexpr"
        elif name in unit_args:
            signature[name], constexprs[name] = "constexpr", 1
        else:
            if name.endswith("_ptr"):
                signature[name] = "*" + (pointer_types[name] if isinstance(pointer_types, dict) else pointer_types)
            else:
                signature[name] = "i32"
            if aligned:
                divisible.append(name)
    return dict(signature=signature, constexprs=constexprs, divisible=tuple(divisible))


def _compile(kernel, signature, constexprs, arch, num_warps, num_stages, divisible):
    """In the child: `kernel` is a JITFunction there."""
    attrs = {(kernel.arg_names.index(name),): [["tt.divisibility", 16]] for name in divisible}
    source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs, attrs=attrs)
    compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32),
                              options={"num_warps": num_warps, "num_stages": num_stages})
    ptx = compiled.asm["ptx"]
    registers, spills = _register_report(ptx, arch)
    return CompiledKernel(name=compiled.metadata.name, arch=arch, registers=registers, spilled_bytes=spills,
                          shared_bytes=compiled.metadata.shared, uses_wgmma="wgmma.mma_async" in ptx, ptx=ptx)


def job(kernel, signature, constexprs, arch, num_warps=4, num_stages=3, divisible=()):
    """One config to compile: `kernel` (a @triton.jit function, interpreted or not) for sm_`arch` with the given
    argument types (`{"x_ptr": "*fp32", "n_cols": "i32", "BLOCK_SIZE": "constexpr"}`), constexpr values and the
    arguments known divisible by 16 (`divisible`, names)."""
    return dict(kernel=kernel, signature=signature, constexprs=constexprs, arch=arch, num_warps=num_warps,
                num_stages=num_stages, divisible=tuple(divisible))


def compile_for(kernel, signature, constexprs, arch, num_warps=4, num_stages=3, divisible=()):
    """Compile one config (`job`'s arguments) in a child process: batch many into one with `compile_all`."""
    return compile_all([job(kernel, signature, constexprs, arch, num_warps, num_stages, divisible)])[0]


def compile_all(jobs, workers=None, timeout=600):
    """Compile many kernel configs in one child process with the interpreter off; a CompiledKernel a job, in order.

    A job is a dict of `job`'s arguments (its kernel defined in an importable module or a test file);
    `specialize` builds its signature, constexprs and divisible. The child forks `workers` processes (default:
    one a CPU)."""
    compiling = start(jobs, workers)
    try:
        return compiling.result(timeout=timeout)
    finally:
        compiling.cancel()


def start(jobs, workers=None):
    """`compile_all` in the background: the child starts now; `.result(indices)` waits for those jobs."""
    return Compiling(jobs, workers)


class Compiling:
    """A child process compiling jobs (see `compile_all`), in their order over its workers, each result written as
    it is done; started in a session of its own so that `cancel` ends it with its workers and their ptxas runs."""

    def __init__(self, jobs, workers=None):
        jobs = [dict(job(**one), kernel=_kernel_ref(one["kernel"])) for one in jobs]
        self._count, self._results, self._process = len(jobs), {}, None
        self._folder = tempfile.TemporaryDirectory()
        if not jobs:
            return
        with open(os.path.join(self._folder.name, "jobs.pickle"), "wb") as handle:
            pickle.dump(jobs, handle)
        self._stderr = open(os.path.join(self._folder.name, "stderr.txt"), "w+b")
        workers = max(1, min(len(jobs), workers or len(os.sched_getaffinity(0))))
        code = f"import sys; sys.path.insert(0, {_ROOT!r}); from triton_kernels import aot; aot._child()"
        self._process = subprocess.Popen([sys.executable, "-c", code, self._folder.name, str(workers)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                         env=dict(os.environ, TRITON_INTERPRET="0"), start_new_session=True)

    def result(self, indices=None, timeout=600):
        """The CompiledKernels of the jobs at `indices` (default: all), in that order. Waits for them; raises if
        one failed, the child died or `timeout` seconds passed."""
        indices = list(range(self._count) if indices is None else indices)
        deadline = time.monotonic() + timeout
        for index in indices:
            path = os.path.join(self._folder.name, f"{index}.pickle")
            while index not in self._results:
                if os.path.exists(path):
                    with open(path, "rb") as handle:
                        self._results[index] = pickle.load(handle)
                elif self._process is None or (self._process.poll() is not None and not os.path.exists(path)):
                    raise RuntimeError(f"AOT compile subprocess ended without job {index}:\n{self._error()}")
                elif time.monotonic() > deadline:
                    raise TimeoutError(f"AOT compile of job {index} took over {timeout} s")
                else:
                    time.sleep(0.02)
        failed = [self._results[index] for index in indices if isinstance(self._results[index], str)]
        if failed:
            raise RuntimeError("\n\n".join(failed))
        return [self._results[index] for index in indices]

    def _error(self):
        if self._process is None:
            return "(cancelled)"
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    def cancel(self):
        """End the child (and its workers) if it still runs; results not read by now are lost."""
        if self._process is not None:
            if self._process.poll() is None:
                try:
                    os.killpg(self._process.pid, signal.SIGKILL)
                except ProcessLookupError:  # ended meanwhile
                    pass
            self._process.wait()
            self._process = None
            self._stderr.close()
        self._folder.cleanup()


def assert_no_spills(labelled):
    """`labelled`: (label, CompiledKernel) pairs. Prints each one's resources (shown with `pytest -s` or on a
    failure) and fails naming every config that spilled registers."""
    labelled = list(labelled)
    for label, compiled in labelled:
        print(f"{label}: {compiled.summary()}")
    spilled = [f"{label} sm_{compiled.arch}: {compiled.spilled_bytes} B" for label, compiled in labelled
               if compiled.spilled_bytes != 0]
    assert not spilled, f"register spills: {spilled}"


# ---- the child process ------------------------------------------------------------------------------------------

def _kernel_ref(kernel):
    """(module name, file, function name): how the child finds `kernel` (a JITFunction or an interpreted one)."""
    fn = getattr(kernel, "fn", kernel)
    return fn.__module__, os.path.abspath(fn.__code__.co_filename), fn.__name__


def _resolve(ref):
    """The kernel `ref` names, compiled from source: its module imported, or loaded from its file (a test file
    pytest imported under a name this process cannot import)."""
    import importlib
    import importlib.util
    module_name, path, name = ref
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
    if module is None or os.path.abspath(getattr(module, "__file__", "")) != path:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return getattr(module, name)


_JOBS = []  # the child's jobs, their kernels resolved: set before the fork, so a worker gets only an index


def _run_job(index):
    """(index, CompiledKernel, or the error as text: one failed job fails only the tests that read it)."""
    task = _JOBS[index]
    if isinstance(task["kernel"], str):
        return index, task["kernel"]
    try:
        return index, _compile(**task)
    except Exception as error:
        return index, (f"AOT compile of {task['kernel'].fn.__name__} for sm_{task['arch']} with {task['constexprs']} "
                       f"(num_warps={task['num_warps']}, num_stages={task['num_stages']}) failed: "
                       f"{type(error).__name__}: {error}")


def _child():
    """Entry of compile_all's child: in the folder sys.argv[1], pickled jobs in, a pickled result a job out."""
    folder = sys.argv[1]
    with open(os.path.join(folder, "jobs.pickle"), "rb") as handle:
        jobs = pickle.load(handle)
    resolved = {}
    for task in jobs:  # imported before the fork, once: the workers share the modules
        if task["kernel"] not in resolved:
            try:
                resolved[task["kernel"]] = _resolve(task["kernel"])
            except Exception as error:
                resolved[task["kernel"]] = f"AOT: cannot load kernel {task['kernel']}: {type(error).__name__}: {error}"
    _JOBS[:] = [dict(task, kernel=resolved[task["kernel"]]) for task in jobs]
    workers = int(sys.argv[2])

    def write(index, result):  # whole or not at all: the parent reads a file once it exists
        path = os.path.join(folder, f"{index}.pickle")
        with open(path + ".part", "wb") as handle:
            pickle.dump(result, handle)
        os.rename(path + ".part", path)

    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for done in as_completed([pool.submit(_run_job, index) for index in range(len(_JOBS))]):
                write(*done.result())  # a worker that died raises here: the child fails, the parent says so
    else:
        for index in range(len(_JOBS)):
            write(*_run_job(index))
