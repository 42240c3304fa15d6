"""The cuda side of perf/report.py: the clocks that time framework and PyTorch on the GPU, the L2 size, the
device's measured peaks, the peak memory of fused against unfused linear+cross-entropy, and what the JSON
records about the GPU.

Under TRITON_INTERPRET=1 all of this runs too, at small sizes, on the interpreter-served `cuda` (its events
read the host clock), so CI executes the code that a GPU run depends on; its numbers mean nothing there.
"""
import machine
import numpy as np

import framework as fw
import linear_cross_entropy_memory
from timing import HOST, EventClock, time_calls

FLUSH_BYTES = 256 << 20  # written before every timed GPU call; at least twice L2 (H100/H200: 50 MiB)
INTERPRETER_FLUSH_BYTES = 64 << 10  # Triton's interpreter takes ~20 ms per MiB written
DEFAULT_L2_BYTES = 50 << 20  # H100's: the size the interpreter's rows pretend to flush


def l2_cache_bytes():
    """(bytes, where the number came from): the GPU's L2 size (framework.cuda.get_device_properties)."""
    if fw.cuda.is_interpreted():
        return DEFAULT_L2_BYTES, "nominal (interpreter)"
    return fw.cuda.get_device_properties().L2_cache_size, "device properties"


def flush_bytes(l2_bytes):
    return INTERPRETER_FLUSH_BYTES if fw.cuda.is_interpreted() else max(FLUSH_BYTES, 2 * l2_bytes)


def framework_clock(n_bytes):
    """framework.cuda events, recorded on the framework's one stream, and a flush buffer on that stream."""
    buffer = fw.empty(n_bytes // 4, dtype=fw.float32, device="cuda")
    return EventClock(fw.cuda.Event, fw.cuda.synchronize, buffer)


def torch_clock(torch, device, n_bytes):
    """torch.cuda events on torch's current stream and a flush buffer there; the host clock for torch on the cpu
    (the baseline's place under the interpreter when torch has no GPU)."""
    if device != "cuda":
        return HOST
    buffer = torch.empty(n_bytes // 4, dtype=torch.float32, device="cuda")
    return EventClock(torch.cuda.Event, torch.cuda.synchronize, buffer)


def release_cached_memory(torch, torch_device):
    """Between rows: give the pools' free blocks back, so one row's inputs do not crowd the next row's."""
    fw.cuda.empty_cache()
    if torch_device == "cuda":
        torch.cuda.empty_cache()


def measure_peaks(libs, flop_dtypes, budget, copy_bytes, matmul_sizes):
    """Measured device peaks, taken from the best call: GB/s of a large device-to-device copy (`dst.copy_(src)`,
    bytes read + written) and TFLOP/s of square matmuls per dtype ("TFLOP/s bfloat16"), the best over the
    libraries and sizes given. libs: {name: (module, clock)} for the libraries on the GPU (framework; torch's
    cuBLAS when present). Returns (peaks, {peak: "library, size"})."""
    peaks, sources = {}, {}

    def best(key, rate, source):
        if rate > peaks.get(key, 0.0):
            peaks[key], sources[key] = rate, source

    def fastest(clock, call):
        return time_calls(lambda _: call, [None], False, budget, clock).min()

    for name, (module, clock) in libs.items():
        src = module.ones(copy_bytes // 4, dtype=module.float32, device="cuda")
        dst = module.empty(copy_bytes // 4, dtype=module.float32, device="cuda")
        seconds = fastest(clock, lambda: dst.copy_(src))
        best("GB/s", 2 * copy_bytes / seconds / 1e9, f"{name} copy_, {copy_bytes / 2**20:g} MiB")
        src = dst = None  # before the matmuls' inputs are made
        for dtype in flop_dtypes:
            for size in matmul_sizes:
                a, b = (module.randn(size, size, dtype=getattr(module, dtype), device="cuda") for _ in range(2))
                seconds = fastest(clock, lambda: a @ b)
                best(f"TFLOP/s {dtype}", 2.0 * size**3 / seconds / 1e12, f"{name} matmul {size}^3")
    return peaks, sources


def _torch_linear_cross_entropy_peak(torch, n, k, v, dtype, seed=0):
    """torch.cuda.max_memory_allocated beyond the inputs of one unfused F.cross_entropy(F.linear(...)) forward +
    backward: the inputs of linear_cross_entropy_memory.measure, made the same way."""
    rng = np.random.default_rng(seed)
    dt = getattr(torch, dtype)

    def leaf(array):
        return torch.tensor(array, device="cuda").to(dt).requires_grad_()

    x = leaf(rng.standard_normal((n, k), dtype=np.float32) * 0.5)
    w = leaf(rng.standard_normal((v, k), dtype=np.float32) * 0.05)
    b = leaf(np.zeros(v, np.float32))
    t = torch.tensor(rng.integers(0, v, n), device="cuda")
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    torch.nn.functional.cross_entropy(torch.nn.functional.linear(x, w, b), t).backward()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def linear_cross_entropy_memory_rows(n, k, v, dtype, torch=None, torch_device=None):
    """Peak device memory beyond the inputs of one forward + backward: framework's F.linear_cross_entropy,
    framework's unfused F.cross_entropy(F.linear(...)), and PyTorch's unfused one on the GPU when present.
    Returns [(contender, bytes or None)]."""
    rows = []
    for fused in (True, False):
        peak, _, _ = linear_cross_entropy_memory.measure(fused, "cuda", n, k, v, dtype, None)
        rows.append(("framework, fused" if fused else "framework, unfused", peak))
    if torch is not None:
        peak = _torch_linear_cross_entropy_peak(torch, n, k, v, dtype) if torch_device == "cuda" else None
        rows.append(("torch, unfused", peak))
    return rows


def gpu_info(l2_bytes, l2_source, flush, torch=None, torch_device=None):
    """What the JSON keeps about the GPU next to machine.run_info's host, versions, commit and date."""
    props = fw.cuda.get_device_properties()
    return {"name": props.name, "total_memory": props.total_memory, "interpreted": fw.cuda.is_interpreted(),
            "l2_cache_bytes": l2_bytes, "l2_cache_source": l2_source, "flush_bytes": flush,
            "torch_device": torch_device,
            "versions": {"triton": machine._version("triton"), "cuda-core": machine._version("cuda-core"),
                         "cuda-bindings": machine._version("cuda-bindings"),
                         "torch_cuda": getattr(getattr(torch, "version", None), "cuda", None)}}
