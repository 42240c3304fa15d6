"""DLPack on a GPU (framework/utils/dlpack.py with DriverRuntime), on fake_cuda.py's asynchronous fake driver:
`cuda` tensors export kDLCUDA device pointers, and `__dlpack__(stream=s)` orders the consumer's stream `s` after
the framework's queued work (an event recorded on ours, waited on there), so a consumer never reads a buffer
that a queued copy or kernel has not written yet."""
import ctypes

import numpy as np
import pytest

pytest.importorskip("triton")

import framework as fw  # noqa: E402
from framework.backends.cuda import array as cuda_array  # noqa: E402
from framework.backends.cuda import runtime as runtime_module  # noqa: E402
from framework.backends.cuda.runtime import DriverRuntime  # noqa: E402
from framework.utils import dlpack  # noqa: E402

from .fake_cuda import FakeGPU  # noqa: E402


@pytest.fixture
def gpu(monkeypatch):
    fake = FakeGPU()
    fake.install(monkeypatch)
    rt = DriverRuntime()
    monkeypatch.setattr(runtime_module, "_RUNTIME", rt)  # the process's runtime: what framework's cuda uses
    fake.rt = rt
    return fake


def _uploaded(values):
    """A cuda tensor whose upload is still queued on the framework's stream (the fake runs nothing until a sync)."""
    return fw.Tensor._from_raw(cuda_array.from_numpy(values), fw.device("cuda", 0))


def _capsule_data(capsule):
    managed = dlpack.DLManagedTensorVersioned.from_address(
        dlpack._capsule_get_pointer(capsule, dlpack._VERSIONED_NAME))
    return managed.dl_tensor


def test_export_gives_device_pointers_and_orders_the_consumer_stream(gpu):
    values = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    t = _uploaded(values)
    assert t.__dlpack_device__() == (dlpack.DLDeviceType.kDLCUDA, 0)
    consumer = gpu.rt.device.create_stream()
    consumer_handle = int(consumer.handle)
    capsule = t.__dlpack__(stream=consumer_handle, max_version=(1, 0))
    dl = _capsule_data(capsule)
    assert dl.data == t._data.data_ptr() and (dl.device.device_type, dl.device.device_id) == (2, 0)
    assert [dl.shape[i] for i in range(2)] == [2, 3] and [dl.strides[i] for i in range(2)] == [3, 1]
    events = [args for name, args in gpu.calls if name == "cuEventRecord"]
    waits = [args for name, args in gpu.calls if name == "cuStreamWaitEvent"]
    assert events == [(events[0][0], gpu.rt.stream_handle)]
    assert waits == [(consumer_handle, events[0][0], 0)]
    assert ("cuEventDestroy", (events[0][0],)) in gpu.calls
    assert gpu.waits == []  # the handshake never waits on the host
    # The upload is still queued: the consumer's stream reaches the device bytes only after it has run.
    assert ctypes.string_at(dl.data, values.nbytes) != values.tobytes()
    consumer.sync()
    assert ctypes.string_at(dl.data, values.nbytes) == values.tobytes()
    del dl
    shared = fw.from_dlpack(capsule)
    assert shared.device == t.device and shared._data.data_ptr() == t._data.data_ptr()
    np.testing.assert_array_equal(shared._data.to_numpy(), values)


@pytest.mark.parametrize("stream, waits_on", [(None, 1), (1, 1), (-1, None)])
def test_stream_conventions(gpu, stream, waits_on):
    t = _uploaded(np.ones(4, np.float32))
    t.__dlpack__(stream=stream)
    waits = [args[0] for name, args in gpu.calls if name == "cuStreamWaitEvent"]
    assert waits == ([] if waits_on is None else [waits_on])  # None and 1: the legacy default stream


def test_bad_streams_are_refused(gpu):
    t = _uploaded(np.ones(4, np.float32))
    with pytest.raises(BufferError, match="per-thread default stream is not supported."):
        t.__dlpack__(stream=2)
    with pytest.raises(AssertionError, match="unsupported stream on CUDA: 0."):
        t.__dlpack__(stream=0)


def test_importing_our_own_tensor_needs_no_event(gpu):
    values = np.arange(5, dtype=np.int64)
    t = _uploaded(values)
    u = fw.from_dlpack(t)  # we pass our own stream: already in order
    assert not any(name == "cuStreamWaitEvent" for name, _ in gpu.calls)
    assert u._data.data_ptr() == t._data.data_ptr()
    np.testing.assert_array_equal(u._data.to_numpy(), values)
    assert isinstance(u._data.storage, dlpack.ForeignStorage)


def test_another_gpus_memory_is_refused(gpu):
    capsule = _uploaded(np.ones(2, np.float32)).__dlpack__(max_version=(1, 0))
    _capsule_data(capsule).device.device_id = 1
    with pytest.raises(BufferError, match="Can't import a tensor on CUDA device 1"):
        fw.from_dlpack(capsule)
