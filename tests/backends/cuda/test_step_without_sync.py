"""A training step on `cuda` never waits for the device: no copy to the host, no synchronisation, from
zero_grad to the optimizer's step, so the host can queue the next launches while the GPU works.

Counted at the runtime's own entry points (every copy and every wait in framework/backends/cuda/runtime.py
goes through one of them), under both runtimes: Triton's interpreter on host memory, and DriverRuntime on the
fake GPU of fake_cuda.py, whose waits are counted once more at cuda-core's level (stream and event syncs), so
a wait hidden inside a copy is seen too. On the fake GPU the kernels still run in the interpreter, reading the
fake's device memory (host memory): the tensors stay small, below the staging threshold, where the fake's copies
complete before the call returns, as the interpreter's launches do.
"""
import collections
import ctypes
import inspect

import numpy as np
import pytest

triton = pytest.importorskip("triton")

import framework as fw  # noqa: E402
import framework.nn.functional as F  # noqa: E402
from framework.backends.cuda import array as cuda_array  # noqa: E402
from framework.backends.cuda import device_errors  # noqa: E402
from framework.backends.cuda import runtime as runtime_module  # noqa: E402
from framework.backends.cuda.runtime import DriverRuntime, InterpreterRuntime  # noqa: E402
from triton_kernels.host_tensor import _HostStorage  # noqa: E402

from .fake_cuda import FakeGPU  # noqa: E402

pytestmark = pytest.mark.skipif(not fw.cuda.is_interpreted(), reason="counts the interpreter's and a fake GPU's "
                                "calls: the kernels must run in Triton's interpreter")

ENTRY_POINTS = ("copy_device_to_host", "copy_host_to_device", "copy_device_to_device", "synchronize", "elapsed_ms",
                "empty_cache")
# A step may upload (the fused optimizers' table of tensor addresses, when the gradients moved): small uploads
# return without waiting for the device (runtime.py, `_ring_space`), which the fake GPU's count of waits checks.
WAITING = ("copy_device_to_host", "synchronize", "elapsed_ms", "empty_cache")


def count_entry_points(monkeypatch, runtime_class):
    """A Counter of calls of `runtime_class`'s copy and synchronisation methods, from now until the test ends."""
    counts = collections.Counter()
    for name in ENTRY_POINTS:
        static = inspect.getattr_static(runtime_class, name, None)
        if static is None:
            continue
        original = getattr(runtime_class, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(runtime_class, name, staticmethod(counted) if isinstance(static, staticmethod) else counted)
    return counts


def fake_gpu_runtime(monkeypatch, **fake_options):
    """The process's runtime becomes DriverRuntime on a fake GPU; interpreted kernels read its device memory."""
    gpu = FakeGPU(**fake_options)
    gpu.install(monkeypatch)
    rt = DriverRuntime()
    monkeypatch.setattr(runtime_module, "_RUNTIME", rt)
    monkeypatch.setattr(device_errors, "_RECORD", None)  # the fake's error record goes with the fake

    def untyped_storage(array):  # the fake's device memory is host memory: let the interpreter see it
        rt.stream.run_queued()  # the launch comes after the copies queued before it, as on a GPU
        storage = array.storage
        raw = (ctypes.c_uint8 * max(storage.nbytes, 1)).from_address(storage.address)
        return _HostStorage(np.ctypeslib.as_array(raw))

    monkeypatch.setattr(cuda_array.CudaArray, "untyped_storage", untyped_storage)
    return gpu, rt


def train(steps, batches, model, optimizer, clip=False):
    """`steps` training steps (an MLP, cross-entropy, Adam; with `clip`, the gradients clipped by their total
    norm) over device-resident batches; returns the losses, not read."""
    losses = []
    for step in range(steps):
        x, y = batches[step % len(batches)]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if clip:
            fw.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        losses.append(loss.detach())
    return losses


def setup_mlp():
    fw.manual_seed(0)
    model = fw.nn.Sequential(fw.nn.Linear(12, 32), fw.nn.ReLU(), fw.nn.Linear(32, 5)).to("cuda")
    optimizer = fw.optim.Adam(model.parameters(), lr=1e-2)
    batches = [(fw.randn(16, 12).to("cuda"), fw.randint(0, 5, (16,)).to("cuda")) for _ in range(2)]
    return model, optimizer, batches


def waiting(counts):
    """The calls among `counts` that wait for the device."""
    return {name: counts[name] for name in WAITING if counts[name]}


def _check_steps_wait_for_nothing(counts, waits, clip=False):
    model, optimizer, batches = setup_mlp()
    train(1, batches, model, optimizer, clip)  # warm-up: lazily made state (Adam's moments, the error record)
    counts.clear()
    waits.clear()
    losses = train(3, batches, model, optimizer, clip)
    assert waiting(counts) == {}, f"a training step copied to the host or synchronised: {dict(counts)}"
    assert waits == [], f"a training step waited for the device: {waits}"
    values = [loss.item() for loss in losses]  # the loss is read only now
    assert counts["copy_device_to_host"] == 3 and all(np.isfinite(values)), (counts, values)
    assert values[-1] < values[0]  # it trains
    return values


def test_no_copy_or_sync_in_a_step_under_the_interpreter(monkeypatch):
    _check_steps_wait_for_nothing(count_entry_points(monkeypatch, InterpreterRuntime), [])


def test_no_copy_or_sync_in_a_step_on_the_fake_gpu(monkeypatch):
    counts = count_entry_points(monkeypatch, DriverRuntime)
    gpu, _ = fake_gpu_runtime(monkeypatch)
    _check_steps_wait_for_nothing(counts, gpu.waits)
    assert gpu.copies("cuMemcpyDtoHAsync")  # the losses came from the fake's memory


@pytest.mark.parametrize("runtime", ["interpreter", "fake GPU"])
def test_clip_grad_norm_in_a_step_waits_for_nothing(monkeypatch, runtime):
    """clip_grad_norm_ (error_if_nonfinite=False, PyTorch's default, where PyTorch does not sync either) keeps the
    total norm and the clip coefficient on the device."""
    counts = count_entry_points(monkeypatch, InterpreterRuntime if runtime == "interpreter" else DriverRuntime)
    waits = fake_gpu_runtime(monkeypatch)[0].waits if runtime == "fake GPU" else []
    _check_steps_wait_for_nothing(counts, waits, clip=True)


@pytest.mark.parametrize("runtime", ["interpreter", "fake GPU"])
def test_the_counters_see_a_read_back(monkeypatch, runtime):
    """The checks above have teeth: one `.item()` in a step is one copy to the host and, on the fake, a wait."""
    counts = count_entry_points(monkeypatch, InterpreterRuntime if runtime == "interpreter" else DriverRuntime)
    waits = fake_gpu_runtime(monkeypatch)[0].waits if runtime == "fake GPU" else []
    model, optimizer, batches = setup_mlp()
    train(1, batches, model, optimizer)
    counts.clear()
    waits.clear()
    train(1, batches, model, optimizer)[0].item()
    assert waiting(counts) == {"copy_device_to_host": 1}
    assert waits == (["stream"] if runtime == "fake GPU" else [])


@pytest.mark.parametrize("pinned", [True, False])
def test_a_bad_target_on_the_fake_gpu_is_raised_at_the_next_read(monkeypatch, pinned):
    """The error record lives in pinned host memory that kernels write through (no copy to read it); without
    pinned memory, in device memory, copied back at each check. Either way the step does not read back, the
    error comes with the next read, and the next step works. (Without pinned memory uploads wait: the fused
    optimizer's table upload then waits for the device.)"""
    counts = count_entry_points(monkeypatch, DriverRuntime)
    gpu, _ = fake_gpu_runtime(monkeypatch, **({} if pinned else {"pinned_capacity": 0}))
    model, optimizer, batches = setup_mlp()
    train(1, batches, model, optimizer)
    x, y = batches[0]
    bad = fw.tensor([0, 1, 7, 2] * 4).to("cuda")
    counts.clear()
    gpu.waits.clear()
    loss = train(1, [(x, bad)], model, optimizer)[0]
    assert waiting(counts) == {} and (gpu.waits == [] or not pinned)
    with pytest.raises(IndexError) as error:
        loss.item()
    assert str(error.value) == "Target 7 is out of bounds."  # PyTorch's message (a note says where it came from)
    assert np.isfinite(train(1, [(x, y)], model, optimizer)[0].item())
    assert len(gpu.pinned) == (2 if pinned else 0)  # the error record and the small uploads' ring


def test_one_hot_with_num_classes_waits_for_nothing(monkeypatch):
    """F.one_hot(t, num_classes) on cuda reads no class back (PyTorch's device path); a class out of range is
    raised at the next read, by scatter's device-side bounds check. Without num_classes the classes must be read."""
    counts = count_entry_points(monkeypatch, InterpreterRuntime)
    labels = fw.tensor([0, 3, 1], device="cuda")
    counts.clear()
    encoded = F.one_hot(labels, 4)
    assert waiting(counts) == {}, dict(counts)
    assert encoded.cpu().tolist() == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]]
    counts.clear()
    F.one_hot(labels)
    assert waiting(counts) == {"copy_device_to_host": 1}
    for bad in (4, -1):
        late = F.one_hot(fw.tensor([0, bad], device="cuda"), 4)
        with pytest.raises(RuntimeError, match=f"index {bad} is out of bounds for dimension 1 with size 4"):
            late.cpu()
