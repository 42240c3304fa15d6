"""DriverRuntime (framework/backends/cuda/runtime.py), the real-GPU runtime, on a machine without a GPU.

It runs against the fake cuda-core and cuda.bindings of fake_cuda.py, put in sys.modules for each test (and a
fake Triton driver in `triton.runtime`), all undone afterwards. The fake's stream is asynchronous, so these tests
catch a pinned buffer reused too early, a copy read before it has run, and a call shaped unlike the real API.
"""
import dataclasses
import gc
import inspect

import numpy as np
import pytest

triton = pytest.importorskip("triton")

import framework as fw  # noqa: E402
from framework.backends.cuda import array as cuda_array  # noqa: E402
from framework.backends.cuda import memory  # noqa: E402
from framework.backends.cuda import runtime as runtime_module  # noqa: E402
from framework.backends.cuda.runtime import (  # noqa: E402
    STAGING_CHUNK, STAGING_THRESHOLD, CudaDriverError, DriverRuntime)

from .fake_cuda import CUresult, FakeGPU  # noqa: E402


@pytest.fixture
def gpu(monkeypatch):
    fake = FakeGPU()
    fake.install(monkeypatch)
    return fake


def _device_buffer(rt, nbytes):
    buffer = rt.memory_resource.allocate(max(nbytes, 1), stream=rt.stream)
    return buffer, int(buffer.handle)


def _round_trip(rt, host):
    """host -> device -> a new host array; `host` is scribbled on as soon as the upload returns."""
    original = host.copy()
    buffer, address = _device_buffer(rt, host.nbytes)
    rt.copy_host_to_device(address, host)
    host[...] = 0  # the caller may reuse its array the moment the copy returns
    back = np.empty_like(host)
    rt.copy_device_to_host(back, address)
    np.testing.assert_array_equal(back, original)
    return buffer


# ---- tests -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flavor", ["1.x", "0.4"])
def test_construction_on_each_cuda_core_layout(monkeypatch, flavor):
    gpu = FakeGPU()
    gpu.install(monkeypatch, flavor)
    rt = DriverRuntime()
    assert rt.total_memory == gpu.total_memory and rt.device_count == 1
    assert rt.device_name() == "Fake GPU (host memory)"
    start, end = rt.record_time(), rt.record_time()
    assert rt.elapsed_ms(start, end) >= 0.0  # the events were created with timing on, whatever the field's name
    assert gpu.pinned == []  # pinned staging is allocated by the first large copy, not up front


def test_device_properties_come_from_cuda_core(gpu, monkeypatch):
    rt = DriverRuntime()
    assert rt.device_properties() == dict(name="Fake GPU (host memory)", major=9, minor=0,
                                          total_memory=gpu.total_memory, multi_processor_count=132,
                                          L2_cache_size=50 << 20)
    monkeypatch.setattr(runtime_module, "_RUNTIME", rt)  # framework.cuda reads the process's runtime
    monkeypatch.setattr(fw.cuda, "_require_available", lambda: rt)
    properties = fw.cuda.get_device_properties()
    assert (properties.major, properties.minor, properties.L2_cache_size) == (9, 0, 50 << 20)
    assert fw.cuda.get_device_capability() == (9, 0)
    assert repr(properties) == (f"_CudaDeviceProperties(name='Fake GPU (host memory)', major=9, minor=0, "
                                f"total_memory={gpu.total_memory >> 20}MB, multi_processor_count=132, "
                                f"L2_cache_size=50MB)")


def test_triton_launches_and_every_copy_use_the_one_stream(gpu):
    rt = DriverRuntime()
    assert rt.stream_handle == int(rt.stream.handle)
    assert triton.runtime.driver.active.get_current_stream(0) == rt.stream_handle  # where Triton launches
    for nbytes in (100, STAGING_THRESHOLD, 2 * STAGING_CHUNK + 5):
        _round_trip(rt, np.arange(nbytes, dtype=np.uint8))
    _, a = _device_buffer(rt, 64)
    _, b = _device_buffer(rt, 64)
    rt.copy_device_to_device(b, a, 64)
    streams = {args[3] for name in ("cuMemcpyHtoDAsync", "cuMemcpyDtoHAsync", "cuMemcpyDtoDAsync")
               for args in gpu.copies(name)}
    assert streams == {rt.stream_handle}
    assert {stream for stream, _ in gpu.allocations} == {rt.stream}
    assert len(gpu.streams) == 1


@pytest.mark.parametrize("nbytes", [1, 4099, STAGING_THRESHOLD - 1])
def test_small_uploads_go_through_the_pinned_ring_without_waiting(gpu, nbytes, rng):
    """A small upload is copied into the pinned ring and DMAed from there: it returns without waiting for the
    device (a training step that uploads a small table does not stall). A small download goes straight to the
    pageable array, and waits."""
    rt = DriverRuntime()
    host = rng.integers(0, 256, nbytes, dtype=np.uint8)
    _, address = _device_buffer(rt, nbytes)
    rt.copy_host_to_device(address, host)
    (upload,) = gpu.copies("cuMemcpyHtoDAsync")
    assert gpu.in_pinned(upload[1], nbytes) and upload[2] == nbytes and gpu.waits == []
    assert [size for _, size in gpu.pinned] == [2 * STAGING_THRESHOLD]  # the ring; the large copies' slots not yet
    _round_trip(rt, host)
    (download,) = gpu.copies("cuMemcpyDtoHAsync")
    assert not gpu.in_pinned(download[0], nbytes) and download[2] == nbytes and gpu.waits == ["stream"]


def _ring_laps(rt, rng, n_uploads=60, nbytes=5000):
    """`n_uploads` small uploads, back to back with no wait in between (about two laps of the ring), each array
    scribbled on as soon as its upload returns; then every buffer read back."""
    expected, buffers = [], []
    for _ in range(n_uploads):
        host = rng.integers(0, 256, nbytes, dtype=np.uint8)
        buffer, address = _device_buffer(rt, nbytes)
        rt.copy_host_to_device(address, host)
        expected.append(host.copy())
        buffers.append((buffer, address))
        host[...] = 0
    got = []
    for (_, address), want in zip(buffers, expected):
        back = np.empty_like(want)
        rt.copy_device_to_host(back, address)
        got.append(back)
    return expected, got


def test_the_ring_refills_a_half_only_after_its_copies_ran(gpu, rng):
    rt = DriverRuntime()
    expected, got = _ring_laps(rt, rng)
    for want, back in zip(expected, got):
        np.testing.assert_array_equal(back, want)
    assert gpu.waits.count("event") == 60 * 5008 // STAGING_THRESHOLD - 1  # once a lap of a half, on work long done


def test_the_fake_stream_catches_a_ring_half_refilled_too_early(gpu, monkeypatch, rng):
    """The check above has teeth: without the wait for the half's last lap, uploads come back wrong."""
    rt = DriverRuntime()
    monkeypatch.setattr(rt, "_wait_for_ring_half", lambda half: None)
    expected, got = _ring_laps(rt, rng)
    assert not all(np.array_equal(back, want) for want, back in zip(expected, got))


@pytest.mark.parametrize("shape,dtype", [
    ((STAGING_THRESHOLD,), np.uint8),  # exactly the threshold: staged, one partial chunk
    ((STAGING_CHUNK,), np.uint8),  # exactly one chunk
    ((2 * STAGING_CHUNK + 12345,), np.uint8),  # three chunks, the last partial: a slot is used twice
    ((1823, 781), np.float32),  # odd shape, two chunks
    ((3, 5, 7, 11, 13, 17), np.float64),  # 1.3 MiB, one chunk
])
def test_large_copies_are_staged_through_pinned_chunks(gpu, shape, dtype, rng):
    rt = DriverRuntime()
    host = rng.standard_normal(shape).astype(dtype) if dtype != np.uint8 else rng.integers(0, 256, shape, dtype)
    _round_trip(rt, host)
    n_chunks = -(-host.nbytes // STAGING_CHUNK)
    uploads, downloads = gpu.copies("cuMemcpyHtoDAsync"), gpu.copies("cuMemcpyDtoHAsync")
    assert len(uploads) == len(downloads) == n_chunks
    assert all(gpu.in_pinned(src, n) for _, src, n, _ in uploads)
    assert all(gpu.in_pinned(dst, n) for dst, _, n, _ in downloads)
    assert sum(n for _, _, n, _ in uploads) == host.nbytes


def test_staging_is_allocated_once_and_reused(gpu, rng):
    rt = DriverRuntime()
    for nbytes in (STAGING_THRESHOLD, 3 * STAGING_CHUNK, 10, 5 * STAGING_CHUNK + 1, STAGING_CHUNK // 2):
        _round_trip(rt, rng.integers(0, 256, nbytes, dtype=np.uint8))
    assert sorted(size for _, size in gpu.pinned) == [2 * STAGING_THRESHOLD, STAGING_CHUNK, STAGING_CHUNK]


def test_back_to_back_uploads_wait_for_their_slot(gpu, rng):
    """Staged uploads return before their DMA has run; the next upload must not refill a slot still being read."""
    rt = DriverRuntime()
    first, second = (rng.integers(0, 256, 3 * STAGING_CHUNK + 7, dtype=np.uint8) for _ in range(2))
    expected = first.copy(), second.copy()
    (_, a), (_, b) = _device_buffer(rt, first.nbytes), _device_buffer(rt, second.nbytes)
    rt.copy_host_to_device(a, first)
    rt.copy_host_to_device(b, second)
    for address, want in zip((a, b), expected):
        back = np.empty_like(want)
        rt.copy_device_to_host(back, address)
        np.testing.assert_array_equal(back, want)


def test_the_fake_stream_catches_a_slot_refilled_too_early(gpu, monkeypatch, rng):
    """The check above has teeth: without the wait, the bytes come back wrong."""
    rt = DriverRuntime()
    monkeypatch.setattr(rt, "_wait_for_slot", lambda slot: None)
    host = rng.integers(0, 256, 3 * STAGING_CHUNK, dtype=np.uint8)
    expected = host.copy()
    _, address = _device_buffer(rt, host.nbytes)
    rt.copy_host_to_device(address, host)
    back = np.empty_like(host)
    rt.copy_device_to_host(back, address)
    assert not np.array_equal(back, expected)


def test_no_pinned_memory_falls_back_to_pageable_copies(monkeypatch, rng):
    gpu = FakeGPU(pinned_capacity=0)
    gpu.install(monkeypatch)
    rt = DriverRuntime()
    with pytest.warns(RuntimeWarning, match="could not pin"):
        _round_trip(rt, rng.integers(0, 256, 2 * STAGING_CHUNK, dtype=np.uint8))
    _round_trip(rt, rng.integers(0, 256, 2 * STAGING_CHUNK, dtype=np.uint8))  # no second try, no second warning
    assert len(gpu.copies("cuMemcpyHtoDAsync")) == 2 and gpu.pinned == []
    gpu.waits.clear()
    _round_trip(rt, rng.integers(0, 256, 100, dtype=np.uint8))  # small uploads too: from pageable memory, waiting
    assert gpu.waits == ["stream", "stream"] and gpu.pinned == []


def test_a_driver_error_names_the_call(gpu):
    rt = DriverRuntime()
    _, address = _device_buffer(rt, 16)
    gpu.fail["cuMemcpyHtoDAsync"] = CUresult.CUDA_ERROR_INVALID_VALUE
    with pytest.raises(CudaDriverError, match=r"^cuMemcpyHtoDAsync failed: CUDA_ERROR_INVALID_VALUE "
                                              r"\(invalid argument\)$"):
        rt.copy_host_to_device(address, np.zeros(16, np.uint8))
    del gpu.fail["cuMemcpyHtoDAsync"]
    with pytest.raises(CudaDriverError, match="cuMemcpyDtoHAsync failed: CUDA_ERROR_INVALID_VALUE"):
        rt.copy_device_to_host(np.zeros(32, np.uint8), address)  # past the end of the allocation
    assert issubclass(CudaDriverError, RuntimeError)


def test_out_of_memory_is_framework_out_of_memory_error(gpu, monkeypatch):
    rt = DriverRuntime()
    gpu.fail["cuMemcpyDtoDAsync"] = CUresult.CUDA_ERROR_OUT_OF_MEMORY
    with pytest.raises(fw.cuda.OutOfMemoryError, match="cuMemcpyDtoDAsync failed: CUDA_ERROR_OUT_OF_MEMORY"):
        rt.copy_device_to_device(0, 0, 0)
    # The pool (cuda-core's CUDAError) refusing an allocation the statistics allowed: OutOfMemoryError too.
    monkeypatch.setattr(runtime_module, "_RUNTIME", rt)
    allocated = memory.STATS.allocated
    with pytest.raises(fw.cuda.OutOfMemoryError, match="CUDA out of memory. Tried to allocate 512.00 MiB"):
        memory.Storage(512 << 20)
    assert memory.STATS.allocated == allocated


def test_cuda_arrays_round_trip_on_the_driver_runtime(gpu, monkeypatch, rng):
    """array.py and memory.py over DriverRuntime: stream-ordered allocation, staged copies, empty_cache."""
    rt = DriverRuntime()
    monkeypatch.setattr(runtime_module, "_RUNTIME", rt)
    gc.collect()  # earlier tests' garbage (tensors held in cycles, e.g. by a caught exception's traceback) goes now
    allocated = memory.STATS.allocated
    host = rng.standard_normal((517, 1031)).astype(np.float32)  # 2.0 MiB: staged
    device = cuda_array.from_numpy(host)
    small = cuda_array.from_numpy(np.arange(7, dtype=np.int64))
    np.testing.assert_array_equal(device.to_numpy(), host)
    np.testing.assert_array_equal(small.to_numpy(), np.arange(7))
    assert memory.STATS.allocated > allocated
    del device, small
    gc.collect()
    rt.synchronize()  # the stream-ordered frees run
    assert memory.STATS.allocated == allocated and gpu.device_memory == {}
    memory.empty_cache()
    assert gpu.calls[-1] == ("cuMemPoolTrimTo", (0x9000, 0))


def _parameters(function):
    return [(p.name, p.kind, p.default is p.empty) for p in inspect.signature(function).parameters.values()]


def test_the_fake_has_the_signatures_of_the_installed_cuda_core():
    """Where cuda-core 1.x is installed (a GPU machine), the fake's calls must take the real ones' parameters."""
    core = pytest.importorskip("cuda.core")
    if int(core.__version__.split(".")[0]) < 1:
        pytest.skip(f"the fake copies cuda-core 1.x, this is {core.__version__}")
    from cuda.bindings import driver
    fake = FakeGPU()
    classes, fake_driver = fake.core_classes("1.x"), fake.driver_module()
    for cls, method in [("Device", "__new__"), ("Device", "set_current"), ("Device", "create_stream"),
                        ("DeviceMemoryResource", "allocate"), ("LegacyPinnedMemoryResource", "allocate"),
                        ("Buffer", "close"), ("Stream", "record"), ("Stream", "sync"), ("Event", "sync")]:
        assert _parameters(getattr(classes[cls], method)) == _parameters(getattr(getattr(core, cls), method)), \
            f"{cls}.{method}"
    for name in ("cuInit", "cuDeviceGetCount", "cuDriverGetVersion", "cuDeviceTotalMem", "cuMemcpyHtoDAsync",
                 "cuMemcpyDtoHAsync", "cuMemcpyDtoDAsync", "cuMemPoolTrimTo", "cuGetErrorName", "cuGetErrorString"):
        assert [p[:2] for p in _parameters(getattr(fake_driver, name))] == \
            [p[:2] for p in _parameters(getattr(driver, name))], name
    assert [f.name for f in dataclasses.fields(classes["EventOptions"])] == \
        [f.name for f in dataclasses.fields(core.EventOptions)]
    for property_name in ("name", "device_id"):
        assert isinstance(getattr(core.Device, property_name), property)
