"""framework.cuda and the `cuda` device: transfers, factories, memory statistics, out-of-memory, events.

In CI there is no GPU: tests/conftest.py sets TRITON_INTERPRET=1, so `cuda` is served from host memory and
every kernel runs in Triton's interpreter. On a GPU machine the same tests run on the GPU.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import framework as fw
from helpers import DTYPE_NAMES, fw_dtype, np_dtype, random_array, requires_cuda, torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@requires_cuda
def test_device_queries():
    assert fw.cuda.is_available() and fw.cuda.device_count() >= 1 and fw.cuda.current_device() == 0
    assert isinstance(fw.cuda.get_device_name(), str) and fw.cuda.get_device_properties().total_memory > 0
    fw.cuda.set_device(0)
    fw.cuda.synchronize()
    properties = fw.cuda.get_device_properties()
    assert properties.name == fw.cuda.get_device_name()
    assert fw.cuda.get_device_capability() == (properties.major, properties.minor)
    if fw.cuda.is_interpreted():  # not a GPU: no compute capability, no L2
        assert (properties.major, properties.minor, properties.L2_cache_size) == (0, 0, 0)
    else:
        assert properties.major >= 7 and properties.multi_processor_count > 0 and properties.L2_cache_size > 0


@requires_cuda
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_round_trip_to_cuda_and_back(dtype, rng):
    host = random_array(rng, (3, 4), dtype, low=-50, high=50)
    x = fw.tensor(host)
    on_device = x.cuda()
    assert on_device.device == fw.device("cuda", 0) and on_device.is_cuda and on_device.dtype is fw_dtype(dtype)
    assert str(on_device.device) == "cuda:0"
    for back in (on_device.cpu(), on_device.to("cpu"), on_device.to(fw.device("cpu"))):
        assert back.device.type == "cpu"
        np.testing.assert_array_equal(back.numpy(), host)
    assert on_device.to("cuda") is on_device  # already there: no copy, as in PyTorch
    np.testing.assert_array_equal(x.to("cuda:0", fw.float64).cpu().numpy(), host.astype(np.float64))


@requires_cuda
def test_factories_take_device():
    assert fw.zeros(2, 3, device="cuda").device.type == "cuda"
    np.testing.assert_array_equal(fw.ones(2, 3, device="cuda", dtype=fw.int64).cpu().numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(fw.full((2,), 7.5, device="cuda").cpu().numpy(), [7.5, 7.5])
    np.testing.assert_array_equal(fw.arange(5, device="cuda").cpu().numpy(), np.arange(5))
    np.testing.assert_array_equal(fw.eye(3, device="cuda").cpu().numpy(), np.eye(3))
    np.testing.assert_array_equal(fw.tensor([[1, 2]], device="cuda").cpu().numpy(), [[1, 2]])
    assert fw.empty(4, device=fw.device("cuda")).shape == (4,)
    like = fw.zeros_like(fw.ones(3, device="cuda"))
    assert like.device.type == "cuda" and like.cpu().tolist() == [0.0, 0.0, 0.0]
    leaf = fw.zeros(3, device="cuda", requires_grad=True)
    assert leaf.requires_grad and leaf.is_leaf


@requires_cuda
def test_printing_names_the_device():
    assert repr(fw.tensor([1.0, 2.0]).cuda()) == "tensor([1., 2.], device='cuda:0')"
    assert repr(fw.tensor([1, 2], dtype=fw.int32, device="cuda")) == \
        "tensor([1, 2], device='cuda:0', dtype=framework.int32)"


@requires_cuda
def test_item_tolist_and_numpy_on_cuda():
    x = fw.tensor([[1.5, 2.5]], device="cuda")
    assert x[0, 1].item() == 2.5 and x.tolist() == [[1.5, 2.5]]
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        x.numpy()


@requires_cuda
def test_gradient_flows_back_across_devices(rng):
    host = random_array(rng, (2, 3), "float32")
    x = fw.tensor(host, requires_grad=True)
    y = x.cuda()
    assert y.grad_fn.name() == "ToCopyBackward0"
    upstream = random_array(rng, (2, 3), "float32")
    y.backward(fw.tensor(upstream, device="cuda"))
    assert x.grad.device.type == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), upstream)


@requires_cuda
def test_mixing_devices_is_pytorchs_error():
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least two "
                                           "devices, cuda:0 and cpu!"):
        fw.cat([fw.ones(2, device="cuda"), fw.ones(2)])


@requires_cuda
def test_memory_statistics_follow_allocations():
    fw.cuda.synchronize()
    before = fw.cuda.memory_allocated()
    fw.cuda.reset_peak_memory_stats()
    x = fw.empty(1000, device="cuda")  # 4000 bytes, counted in 512-byte blocks as PyTorch does
    assert fw.cuda.memory_allocated() == before + 4096
    assert fw.cuda.max_memory_allocated() >= before + 4096
    del x
    assert fw.cuda.memory_allocated() == before
    assert fw.cuda.max_memory_allocated() >= before + 4096
    fw.cuda.reset_peak_memory_stats()
    assert fw.cuda.max_memory_allocated() == before
    fw.cuda.empty_cache()


@requires_cuda
def test_out_of_memory_is_a_recoverable_error():
    total = fw.cuda.get_device_properties().total_memory
    fw.cuda.set_per_process_memory_fraction(0.001)
    try:
        with pytest.raises(fw.cuda.OutOfMemoryError, match=r"CUDA out of memory\. Tried to allocate .* free"):
            fw.empty(total // 100, dtype=fw.uint8, device="cuda")
    finally:
        fw.cuda.set_per_process_memory_fraction(1.0)
    assert issubclass(fw.cuda.OutOfMemoryError, RuntimeError)
    assert fw.ones(4, device="cuda").cpu().tolist() == [1.0] * 4  # the process goes on
    with pytest.raises(ValueError, match="Invalid fraction value"):
        fw.cuda.set_per_process_memory_fraction(1.5)


@requires_cuda
def test_events_time_work_on_the_stream():
    start, end = fw.cuda.Event(enable_timing=True), fw.cuda.Event(enable_timing=True)
    start.record()
    fw.ones(1000, device="cuda").contiguous()
    end.record()
    end.synchronize()
    assert start.elapsed_time(end) >= 0.0
    with pytest.raises(RuntimeError, match="enable_timing=True"):
        fw.cuda.Event().elapsed_time(end)


@pytest.mark.skipif(fw.cuda.gpu_count() > 0, reason="a GPU is present: `cuda` is available without the interpreter")
def test_without_gpu_or_interpreter_cuda_says_how_to_get_one():
    code = ("import framework as fw\n"
            "assert not fw.cuda.is_available() and fw.cuda.device_count() == 0\n"
            "try:\n    fw.zeros(2, device='cuda')\nexcept RuntimeError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no CUDA GPUs are available" in done.stdout and "TRITON_INTERPRET=1" in done.stdout


@requires_cuda
@pytest.mark.skipif(torch is None, reason="PyTorch is not importable: parity check skipped")
def test_to_device_accepts_pytorchs_spellings():
    x = fw.ones(2)
    for spelling in ("cuda", "cuda:0", fw.device("cuda"), fw.device("cuda", 0), 0):
        assert x.to(spelling).device == fw.device("cuda", 0)
    assert x.cuda(0).device == fw.device("cuda", 0)
