"""CUDA graphs on a GPU (framework/backends/cuda/stream_capture.py and graphs.py), against the fake GPU.

The fake's GraphBuilder records what is queued on a capturing stream instead of running it, and its Graph queues
the recorded work again at each launch, so these tests see what a capture would put in a real graph: copies and
fills on the capture stream, allocations from the private pool, uploads from graph-owned memory, and host waits
refused. The fake runs Triton kernels in the interpreter at once, not on its stream, so the kernels' replay is
left to a GPU run; test_cuda_graphs.py checks replays under the interpreter.
"""
import numpy as np
import pytest

triton = pytest.importorskip("triton")

import framework as fw  # noqa: E402
from framework.backends.cuda import runtime as runtime_module  # noqa: E402
from framework.backends.cuda.runtime import DriverRuntime  # noqa: E402
from framework.backends.cuda.stream_capture import PrivatePool, StreamCapture  # noqa: E402

from .fake_cuda import FakeGPU  # noqa: E402

CAPTURE_ERROR = "cannot be captured in a CUDA graph"


@pytest.fixture
def gpu(monkeypatch):
    fake = FakeGPU()
    fake.install(monkeypatch)
    return fake


@pytest.fixture
def rt(gpu, monkeypatch):
    runtime = DriverRuntime()
    monkeypatch.setattr(runtime_module, "_RUNTIME", runtime)  # framework.cuda's graph API finds it
    return runtime


def _read(rt, address, like):
    out = np.empty_like(like)
    rt.copy_device_to_host(out, address)
    return out


def _device(rt, nbytes):
    buffer = rt.memory_resource.allocate(nbytes, stream=rt.stream)
    return buffer, int(buffer.handle)


def test_captured_copies_run_at_each_replay_not_during_capture(gpu, rt):
    host = np.arange(64, dtype=np.float32)
    target, target_address = _device(rt, host.nbytes)
    rt.copy_host_to_device(target_address, np.zeros_like(host))
    capture = StreamCapture(rt)
    capture.capture_begin()
    rt.copy_host_to_device(target_address, host)
    scratch = rt.memory_resource.allocate(host.nbytes, stream=rt.stream)
    rt.copy_device_to_device(int(scratch.handle), target_address, host.nbytes)
    capture.capture_end()
    np.testing.assert_array_equal(_read(rt, target_address, host), 0)  # captured, not run
    host[:] = -1  # the upload copies what the capture saw, from memory the graph owns
    capture.replay()
    np.testing.assert_array_equal(_read(rt, target_address, host), np.arange(64))
    np.testing.assert_array_equal(_read(rt, int(scratch.handle), host), np.arange(64))
    rt.copy_host_to_device(target_address, np.zeros_like(host))
    capture.replay()
    np.testing.assert_array_equal(_read(rt, target_address, host), np.arange(64))
    assert gpu.graph_launches == 2


def test_capture_runs_on_a_side_stream_that_every_launch_and_copy_uses(gpu, rt):
    main = rt.stream_handle
    capture = StreamCapture(rt)
    capture.capture_begin()
    side = rt.stream_handle
    assert side != main
    assert gpu.triton_driver.get_current_stream(0) == side  # Triton launches land in the capture
    waits = [args for call, args in gpu.calls if call == "cuStreamWaitEvent"]
    assert waits and waits[-1][0] == side  # ordered after the work queued before the capture
    capture.capture_end()
    assert rt.stream_handle == main and gpu.triton_driver.get_current_stream(0) == main
    assert rt.capture is None


def test_allocations_during_capture_come_from_the_private_pool_and_are_reused(gpu, rt):
    capture = StreamCapture(rt)
    capture.capture_begin(capture_error_mode="global")
    pool_allocations = len(gpu.allocations)
    first = rt.memory_resource.allocate(1000, stream=rt.stream)
    address = int(first.handle)
    first.close(rt.stream)
    second = rt.memory_resource.allocate(900, stream=rt.stream)  # same rounded size: the freed block again
    assert int(second.handle) == address
    third = rt.memory_resource.allocate(5000, stream=rt.stream)
    capture.capture_end()
    assert len(gpu.allocations) == pool_allocations  # nothing from the stream-ordered pool
    assert [args[0] for call, args in gpu.calls if call == "cuMemAlloc"] == [1024, 5120]
    assert gpu.capture_mode == 0  # cuMemAlloc ran in relaxed mode, and the capture's mode came back
    assert isinstance(rt.memory_resource, type(rt.memory_resource)) and not isinstance(rt.memory_resource,
                                                                                       PrivatePool)
    capture.reset()
    assert not [call for call, _ in gpu.calls if call == "cuMemFree"]  # blocks still held by tensors
    second.close()
    third.close()
    assert sorted(args[0] for call, args in gpu.calls if call == "cuMemFree") == sorted(
        [address, int(third.handle)])


def test_graphs_sharing_a_pool_keep_it_until_the_last_is_reset(gpu, rt):
    first, second = StreamCapture(rt), StreamCapture(rt)
    first.capture_begin()
    rt.memory_resource.allocate(64, stream=rt.stream).close()
    first.capture_end()
    second.capture_begin(first.pool())
    rt.memory_resource.allocate(64, stream=rt.stream).close()
    second.capture_end()
    assert second.pool() is first.pool() and first.pool().graphs == 2
    assert len([1 for call, _ in gpu.calls if call == "cuMemAlloc"]) == 1  # the second capture reused the block
    first.reset()
    assert not [call for call, _ in gpu.calls if call == "cuMemFree"]
    second.reset()
    assert len([1 for call, _ in gpu.calls if call == "cuMemFree"]) == 1


@pytest.mark.parametrize("host_wait", ["copy_device_to_host", "synchronize", "empty_cache", "elapsed_ms",
                                       "benchmark"])
def test_a_host_wait_during_capture_raises_and_ends_the_capture(gpu, rt, host_wait):
    buffer, address = _device(rt, 16)
    main_stream, main_pool = rt.stream, rt.memory_resource
    start = rt.record_time()
    calls = {"copy_device_to_host": lambda: rt.copy_device_to_host(np.empty(4, np.float32), address),
             "synchronize": rt.synchronize, "empty_cache": rt.empty_cache,
             "elapsed_ms": lambda: rt.elapsed_ms(start, start), "benchmark": lambda: rt.benchmark(lambda: None)}
    capture = StreamCapture(rt)
    capture.capture_begin()
    with pytest.raises(RuntimeError, match=CAPTURE_ERROR):
        calls[host_wait]()
    assert rt.capture is None and rt.stream is main_stream and rt.memory_resource is main_pool
    assert not gpu.capturing
    with pytest.raises(RuntimeError, match="needs a completed capture"):
        capture.replay()
    again = StreamCapture(rt)  # the runtime is usable, and can capture again
    again.capture_begin()
    again.capture_end()
    again.replay()


def test_reading_a_cuda_tensor_during_capture_names_the_problem(gpu, rt):
    x = fw.tensor([1.0, 2.0], device="cuda")  # uploaded before the capture
    g = fw.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=r"Copying a cuda tensor to the host \(\.item\(\)"):
        with fw.cuda.graph(g):
            x.tolist()
    assert rt.capture is None
    with pytest.raises(RuntimeError, match="without a completed capture"):
        g.replay()


def test_cuda_graph_api_on_a_gpu(gpu, rt):
    host = np.arange(8, dtype=np.float32)
    _, address = _device(rt, host.nbytes)
    g = fw.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="has no memory pool yet"):
        g.pool()
    with fw.cuda.graph(g):
        rt.copy_host_to_device(address, host)
    with pytest.raises(RuntimeError, match="already been captured"):
        g.capture_begin()
    g.replay()
    np.testing.assert_array_equal(_read(rt, address, host), host)
    shared = fw.cuda.CUDAGraph()
    shared.capture_begin(pool=g.pool())
    shared.capture_end()
    assert shared.pool() is g.pool()
    g.reset()
    with pytest.raises(RuntimeError, match="without a completed capture"):
        g.replay()
    handle = fw.cuda.graph_pool_handle()
    third = fw.cuda.CUDAGraph()
    third.capture_begin(pool=handle)
    third.capture_end()
    assert third.pool() is handle and isinstance(handle.pool, PrivatePool)


def test_cuda_graph_bad_arguments(gpu, rt):
    g = fw.cuda.CUDAGraph()
    with pytest.raises(TypeError, match="graph_pool_handle"):
        g.capture_begin(pool=3)
    with pytest.raises(ValueError, match="capture_error_mode"):
        g.capture_begin(capture_error_mode="strict")
    assert rt.capture is None
    with pytest.raises(TypeError, match="CUDAGraph"):
        fw.cuda.graph(object())
    with pytest.raises(NotImplementedError, match="one stream"):
        fw.cuda.graph(g, stream=object())
    with pytest.raises(RuntimeError, match="capture_end\\(\\) without a capture_begin"):
        g.capture_end()
    g.capture_begin()
    with pytest.raises(RuntimeError, match="another capture is underway"):
        fw.cuda.CUDAGraph().capture_begin()
    g.capture_end()


def test_an_exception_inside_the_block_abandons_the_capture(gpu, rt):
    g = fw.cuda.CUDAGraph()
    main_stream = rt.stream
    with pytest.raises(ZeroDivisionError):
        with fw.cuda.graph(g):
            1 / 0
    assert rt.capture is None and rt.stream is main_stream and not gpu.capturing
    with fw.cuda.graph(g):  # abandoned: the graph can capture again
        pass
    g.replay()
