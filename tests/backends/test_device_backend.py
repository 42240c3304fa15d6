"""The device seam (framework/backends/device_backend.py): the core names no device, every registered backend
provides the protocol, its services behave alike on every device, and a new device (or a recorder wrapping one)
only registers itself."""
import ast
import re
from pathlib import Path

import numpy as np
import pytest

import framework as fw
from framework.backends import device_backend
from framework.backends.device_backend import (DeviceBackend, MultiTensorKernels, backend_for, loaded_backends,
                                               register_backend, register_loader)
from helpers import DEVICES, requires_cuda

PACKAGE = Path(fw.__file__).parent

# Where a device's module may be named, and why. Everything else in framework/ asks backend_for(device).
MAY_NAME_A_DEVICE = {
    "backends": "the backends themselves, their registry and the transfers between them",
    "cuda.py": "torch.cuda's module: the cuda device itself (its runtime, memory statistics, streams, generator)",
    "__init__.py": "the package's entry point: it loads the CPU backend, which registers its kernels and device "
                   "backend (the cuda one loads on first use)",
    "utils/dlpack.py": "DLPack's device codes are kinds of memory of particular runtimes: exporting and importing "
                       "cuda memory is the cuda runtime's stream handshake and foreign device memory, and its "
                       "interpreter's host memory (kDLCUDAHost). It allocates, fills and draws nothing, so a step "
                       "being captured never passes through it",
    "distributed/nccl.py": "the NCCL process-group backend is the cuda runtime's transport: every NCCL call takes "
                           "the runtime's stream handle and completion is read from its events; there is no NCCL "
                           "for another device",
}
DEVICE_MODULE = re.compile(r"framework\.backends\.(cuda|numpy)(\.\w+)*|triton_kernels(\.\w+)*")


def _package_of(path):
    """framework.optim for framework/optim/adam.py and for framework/optim/__init__.py."""
    return ".".join(("framework",) + path.relative_to(PACKAGE).parent.parts)


def _imported_modules(source, package):
    """(line, module name) of every import in `source` (a module of `package`), relative imports resolved,
    `from a import b` also as `a.b`; and every string naming a module (sys.modules lookups, import_module)."""
    tree = ast.parse(source)
    package = package.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DEVICE_MODULE.fullmatch(node.value):
            yield node.lineno, node.value


def test_the_core_names_no_device_backend():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in MAY_NAME_A_DEVICE or relative.as_posix() in MAY_NAME_A_DEVICE:
            continue
        named = {}  # line -> the first module named there
        for line, module in _imported_modules(path.read_text(), _package_of(path)):
            if DEVICE_MODULE.fullmatch(module):
                named.setdefault(line, module)
        found += [f"framework/{relative.as_posix()}:{line} names {module}" for line, module in sorted(named.items())]
    assert not found, ("the core asks backend_for(device) (framework/backends/device_backend.py) instead of naming "
                       "a device's module:\n" + "\n".join(found))


def test_the_scan_sees_every_spelling():
    """The scanner itself: relative and absolute imports, `from package import module`, module-name strings."""
    source = ("from ..backends.cuda.array import empty\nfrom ..backends import numpy\nimport triton_kernels.amp\n"
              "from triton_kernels import optimizer\nimport sys\nsys.modules.get('framework.backends.cuda.random')\n"
              "from ..backends import device_backend\nx = 'backends.cuda is named in a message'\n")
    named = [(line, m) for line, m in _imported_modules(source, "framework.optim") if DEVICE_MODULE.fullmatch(m)]
    assert sorted({line for line, _ in named}) == [1, 2, 3, 4, 6]
    assert (1, "framework.backends.cuda.array") in named and (2, "framework.backends.numpy") in named


# ---- the protocol ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", DEVICES)
def test_each_backend_provides_the_protocol(kind):
    backend = backend_for(kind)
    assert isinstance(backend, DeviceBackend)
    assert backend.device_type == kind and backend.device.type == kind
    assert backend_for(backend.device) is backend and backend_for(f"{kind}:0") is backend
    for name in ("Generator", "default_generator", "rand", "normal", "randint", "bernoulli_mask", "uniform_",
                 "normal_"):
        assert hasattr(backend.random, name), f"{kind}'s random stream lacks {name}"
    if backend.multi_tensor_dtypes:
        assert isinstance(backend, MultiTensorKernels)
    assert all(isinstance(b, DeviceBackend) for b in loaded_backends())


def test_the_cpu_has_no_multi_tensor_kernels():
    """On the CPU the optimizers, clipping and unscaling run their per-tensor paths (no dead kernels there)."""
    assert backend_for("cpu").multi_tensor_dtypes == ()
    assert not isinstance(backend_for("cpu"), MultiTensorKernels)


def test_an_unknown_device_type_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"^Device 'xla' does not have a corresponding backend registered "
                                           r"\(registered: cpu, cuda.*\)$"):
        backend_for("xla")
    with pytest.raises(TypeError, match="expects a device or a device string, got int"):
        backend_for(3)


class _Device:
    def __init__(self, type):
        self.type = type


def test_a_new_device_type_only_registers(monkeypatch):
    monkeypatch.setattr(device_backend, "_BACKENDS", dict(device_backend._BACKENDS))
    monkeypatch.setattr(device_backend, "_LOADERS", dict(device_backend._LOADERS))
    ipu = object()
    register_backend("ipu", ipu)
    assert backend_for("ipu") is ipu and backend_for("ipu:1") is ipu and backend_for(_Device("ipu")) is ipu
    loads = []
    register_loader("hpu", lambda: loads.append(register_backend("hpu", "the hpu backend")))
    assert backend_for("hpu") == "the hpu backend" and backend_for("hpu") == "the hpu backend"
    assert len(loads) == 1  # loaded once, on first use
    register_loader("mtia", lambda: None)
    with pytest.raises(RuntimeError, match="loading the backend of device 'mtia' registered none"):
        backend_for("mtia")


# ---- the services, alike on every device ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", DEVICES)
def test_allocation_fill_and_copies(kind, rng):
    backend = backend_for(kind)
    host = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(backend.to_host(backend.from_host(host)), host)
    filled = backend.full((2, 3), 1.5, np.dtype(np.float16))
    assert backend.to_host(filled).dtype == np.float16
    np.testing.assert_array_equal(backend.to_host(filled), np.full((2, 3), 1.5, np.float16))
    out = backend.empty((2, 3), np.dtype(np.float64))
    assert backend.copy_into(out, backend.from_host(host)) is out  # cast to the destination's dtype
    np.testing.assert_array_equal(backend.to_host(out), host.astype(np.float64))
    backend.copy_into(out, backend.from_host(host[:1]))  # broadcast
    np.testing.assert_array_equal(backend.to_host(out), np.broadcast_to(host[:1], (2, 3)).astype(np.float64))
    backend.copy_into(out[1:, 2:], 7.0)  # a number, into a view
    assert backend.to_host(out)[1, 2] == 7.0 and backend.to_host(out)[0, 2] == host[0, 2]
    assert backend.empty((0, 4), np.dtype(np.int64)).shape == (0, 4)


@pytest.mark.parametrize("kind", DEVICES)
@pytest.mark.parametrize("found, tracker, expected", [
    (1.0, 3, (2.0, 0)),        # an overflow: back off, restart the count
    (0.0, 1, (4.0, 2)),        # no overflow: count
    (0.0, 2, (8.0, 0)),        # the growth interval reached: grow
])
def test_update_scale(kind, found, tracker, expected):
    backend = backend_for(kind)
    scale = backend.from_host(np.array(4.0, np.float32))
    growth_tracker = backend.from_host(np.array(tracker, np.int32))
    backend.update_scale_(scale, growth_tracker, backend.from_host(np.array(found, np.float32)), 2.0, 0.5, 3)
    assert (float(backend.to_host(scale)), int(backend.to_host(growth_tracker))) == expected


@pytest.mark.parametrize("kind", DEVICES)
def test_multinomial_draws_from_the_device_stream(kind):
    backend = backend_for(kind)
    probs = backend.from_host(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]], np.float32))
    drawn = backend.to_host(backend.multinomial(probs, 4, True, None))
    assert drawn.dtype == np.int64 and drawn.tolist() == [[1] * 4, [2] * 4]
    generator = backend.random.Generator()
    first = backend.to_host(backend.multinomial(backend.from_host(np.ones((1, 50), np.float32)), 5, False,
                                                generator.manual_seed(3)))
    again = backend.to_host(backend.multinomial(backend.from_host(np.ones((1, 50), np.float32)), 5, False,
                                                generator.manual_seed(3)))
    np.testing.assert_array_equal(first, again)


# ---- the core goes through the seam ----------------------------------------------------------------------------

class Recorder:
    """A backend that records each service the core asks of the one it wraps, as a capture recorder would."""

    def __init__(self, inner):
        self._inner, self.calls = inner, []

    def __getattr__(self, name):
        found = getattr(self._inner, name)
        if not callable(found):  # device, device_type, multi_tensor_dtypes, random (a module)
            return found

        def recorded(*args, **kwargs):
            self.calls.append(name)
            return found(*args, **kwargs)
        return recorded


def _record(monkeypatch, kind):
    recorder = Recorder(backend_for(kind))
    monkeypatch.setitem(device_backend._BACKENDS, kind, recorder)
    return recorder


@pytest.mark.parametrize("kind", DEVICES)
def test_factories_autograd_and_random_fills_ask_the_backend(monkeypatch, kind):
    recorder = _record(monkeypatch, kind)
    fw.zeros(2, device=kind)
    fw.empty(3, device=kind).uniform_()
    x = fw.ones(2, device=kind, requires_grad=True)
    x.sum().backward()  # the root gradient: full
    assert recorder.calls == ["full", "empty", "empty", "full", "full"]
    recorder.calls.clear()
    x.detach().tolist()
    fw.multinomial(fw.ones(3, device=kind), 2)
    assert recorder.calls == ["to_host", "full", "multinomial"]


def test_moving_between_devices_goes_through_both_backends(monkeypatch):
    if "cuda" not in DEVICES:
        pytest.skip("no cuda device: no GPU and TRITON_INTERPRET is not 1")
    cpu, cuda = _record(monkeypatch, "cpu"), _record(monkeypatch, "cuda")
    on_cuda = fw.arange(3.0).to("cuda")
    assert (cpu.calls, cuda.calls) == (["to_host"], ["from_host"])
    assert on_cuda.cpu().tolist() == [0.0, 1.0, 2.0]
    assert cuda.calls[1:] == ["to_host"] and cpu.calls[1:] == ["from_host", "to_host"]


@requires_cuda
def test_optimizer_clipping_and_grad_scaler_launch_through_the_backend(monkeypatch):
    recorder = _record(monkeypatch, "cuda")
    param = fw.ones(5, device="cuda", requires_grad=True)
    param.grad = fw.full((5,), 2.0, device="cuda")
    recorder.calls.clear()
    fw.nn.utils.clip_grad_norm_([param], 1.0)
    fw.optim.SGD([param], lr=0.5, momentum=0.9).step()
    assert recorder.calls == ["total_norm", "full", "fused_optimizer_step"]  # full: the momentum buffer
    scaler = fw.amp.GradScaler("cuda", init_scale=2.0)
    scaler.scale(fw.ones((), device="cuda"))
    recorder.calls.clear()
    scaler.unscale_(fw.optim.SGD([param], lr=0.5))
    assert recorder.calls == ["full", "unscale_grads_"]
