"""Which `cuda` this process has, its one stream, and its events.

Two runtimes serve the `cuda` device, chosen once, when it is first used:

* `DriverRuntime`: a real GPU through NVIDIA's cuda-core (0.4 or later) and cuda.bindings. One non-blocking
  stream carries every copy and every kernel, in order: Triton is pointed at it
  (`driver.active.get_current_stream`), so a launch never lands on the legacy default stream. Large
  host<->device copies are staged through two reusable pinned host buffers (see STAGING_THRESHOLD), small
  uploads through a pinned ring, so that they never wait for the device (`_ring_space`). As the
  process's runtime (`runtime()`) it registers `benchmark`, timed by events on that stream, as the kernels'
  autotuning benchmarker (triton_kernels/tuning.py).
* `InterpreterRuntime`: with TRITON_INTERPRET=1, kernels run in Triton's interpreter on host memory, so a
  program written for `cuda` runs unchanged on a machine without a GPU (CI, a laptop debugging a kernel).
  Everything is synchronous; events read the host clock. It registers no benchmarker: interpreter timings say
  nothing about a GPU, so launchers keep their size-rule configs.

TRITON_INTERPRET=1 wins when both are possible: it is the user's explicit request.
"""
import ctypes
import os
import statistics
import time
import warnings

from ...cuda import OutOfMemoryError, gpu_count
from .. import cuda_requirements
from ..cuda_requirements import INTERPRETER_HINT  # noqa: F401  (where users of this module found it)

# Host<->device copies of at least STAGING_THRESHOLD bytes go through page-locked ("pinned") staging buffers;
# smaller ones go straight from or to the numpy array's pageable memory, where the driver stages them itself.
# 64 KiB is an estimate, not yet measured on a GPU: below it a copy costs about its ~10 us call latency either way.
STAGING_THRESHOLD = 64 << 10
# Staged copies move in chunks of STAGING_CHUNK bytes through two pinned slots used in turn, so that the host's
# memcpy into (or out of) one slot overlaps the DMA of the other, and pinned memory stays at 2 x 4 MiB whatever
# the tensor's size (pinning is slow and takes memory the OS cannot page out). 4 MiB: its DMA (~0.1-0.2 ms over
# PCIe Gen4/5 x16) dwarfs the few microseconds a chunk's cuMemcpyHtoDAsync and event record cost. Also an
# estimate until measured.
STAGING_CHUNK = 4 << 20
# Timed calls per candidate when autotuning (DriverRuntime.benchmark). 20: enough for a stable median; at ~0.2 ms a
# 4096^3 bf16 GEMM, 2 candidates x 21 calls cost ~10 ms once per shape class, plus one compile per candidate.
BENCHMARK_REPEATS = 20

def interpreter_requested():
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _import_cuda_core():
    """cuda-core's classes: top-level `cuda.core` since 0.5 (and only there from 1.0), `cuda.core.experimental`
    in 0.4. Checked against the 0.4.2, 0.5.1, 0.7.0, 1.0.0 and 1.2.2 wheels."""
    try:
        from cuda.core import Device, DeviceMemoryResource, EventOptions, LegacyPinnedMemoryResource
    except ImportError:
        from cuda.core.experimental import Device, DeviceMemoryResource, EventOptions, LegacyPinnedMemoryResource
    return Device, DeviceMemoryResource, EventOptions, LegacyPinnedMemoryResource


def _timing_event_options(EventOptions):
    """Options for a timed event: the field is `timing_enabled` from cuda-core 1.0, `enable_timing` before."""
    try:
        return EventOptions(timing_enabled=True)
    except TypeError:
        return EventOptions(enable_timing=True)


class CudaDriverError(RuntimeError):
    """A CUDA driver call failed; the message names the call and the CUresult."""


def _driver_error(driver, call, err):
    """The exception for `call` having returned `err`: OutOfMemoryError for CUDA_ERROR_OUT_OF_MEMORY."""
    def lookup(describe):  # cuGetErrorName / cuGetErrorString return (CUresult, bytes)
        try:
            status, text = describe(err)
        except Exception:  # an unknown code, or a driver too broken to describe it: the number will do
            return None
        if int(status) != 0 or not text:
            return None
        return text.decode() if isinstance(text, bytes) else str(text)

    name = lookup(driver.cuGetErrorName) or f"CUresult {int(err)}"
    description = lookup(driver.cuGetErrorString)
    message = f"{call} failed: {name}" + (f" ({description})" if description else "")
    if int(err) == int(driver.CUresult.CUDA_ERROR_OUT_OF_MEMORY):
        return OutOfMemoryError(f"CUDA out of memory: {message}")
    return CudaDriverError(message)


class InterpreterRuntime:
    """The `cuda` device served from host memory; kernels run in Triton's interpreter."""

    name = "Triton interpreter (host memory)"
    device_count = 1
    capture = None  # the CUDAGraph capture under way (graphs.py records the kernels: no stream to capture)

    def __init__(self):
        # Nominal device size: what allocations may use before OutOfMemoryError (half the host's memory).
        pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 1 << 22
        self.total_memory = int(os.environ.get("FRAMEWORK_INTERPRETER_MEMORY", pages * os.sysconf("SC_PAGE_SIZE") // 2))

    def synchronize(self):
        if self.capture is not None:  # as on a GPU (DriverRuntime.synchronize)
            from .stream_capture import capture_error
            self.capture.abandon()
            raise capture_error("framework.cuda.synchronize()")

    def record_time(self):
        return time.perf_counter()

    @staticmethod
    def elapsed_ms(start, end):
        return (end - start) * 1000.0

    def device_name(self, index=0):
        return self.name

    def device_properties(self):
        """What framework.cuda.get_device_properties reports. Not a GPU: no compute capability (0.0), one
        "multiprocessor" (the interpreter runs programs one after another), no L2."""
        return dict(name=self.name, major=0, minor=0, total_memory=self.total_memory, multi_processor_count=1,
                    L2_cache_size=0)

    def copy_host_to_device(self, dst_address, host_array):
        ctypes.memmove(dst_address, host_array.ctypes.data, host_array.nbytes)

    def copy_device_to_host(self, host_array, src_address):
        ctypes.memmove(host_array.ctypes.data, src_address, host_array.nbytes)

    def copy_device_to_device(self, dst_address, src_address, nbytes):
        ctypes.memmove(dst_address, src_address, nbytes)


class DriverRuntime:
    """A real GPU through cuda-core: one device, one stream, the device's memory pool, pinned staging for copies.

    Every cuda.bindings call goes through `_call`, which unpacks the (CUresult, outputs...) tuple the bindings
    return and raises CudaDriverError naming the call (OutOfMemoryError for CUDA_ERROR_OUT_OF_MEMORY).
    Host arrays given to the copy methods must be C-contiguous (array.py makes them so).
    """

    def __init__(self, index=0, staging_threshold=STAGING_THRESHOLD, staging_chunk=STAGING_CHUNK):
        triton_driver = cuda_requirements.triton_driver()  # first: a Triton that cannot launch here says so
        Device, DeviceMemoryResource, EventOptions, LegacyPinnedMemoryResource = _import_cuda_core()
        from cuda.bindings import driver
        self._driver = driver
        self._event_options = _timing_event_options(EventOptions)
        self.device = Device(index)
        self.device.set_current()
        self.stream = self.device.create_stream()  # non-blocking: StreamOptions' default
        self.stream_handle = int(self.stream.handle)
        # The device's current (by default its default) stream-ordered pool. cuda-core >= 0.4 raises the pool's
        # release threshold, so freed blocks stay cached instead of returning to the driver at every sync.
        self.memory_resource = DeviceMemoryResource(self.device.device_id)  # an int: every version accepts it
        self.device_count = gpu_count()
        self.total_memory = int(self._call("cuDeviceTotalMem", self.device.device_id))
        self.staging_threshold = staging_threshold
        self.staging_chunk = staging_chunk
        self._pinned_resource = LegacyPinnedMemoryResource()  # cuMemAllocHost; PinnedMemoryResource needs host pools
        self._slot_buffers = None  # two pinned buffers of `staging_chunk` bytes, allocated by the first staged copy
        self._slots = None  # their host addresses; () once pinned memory proved unavailable
        self._slot_events = [None, None]  # per slot: an event recorded after the last copy that used it
        self._ring = None  # (buffer, address) of the small uploads' ring, made by the first one; () without pinning
        self._ring_half, self._ring_used = 0, 0  # the half being filled, and its bytes used
        self._ring_events = [None, None]  # per half: an event recorded after the copies of its last lap
        # Every launch asks the active driver for the current stream (JITFunction.run and CompiledKernel's runner:
        # driver.active.get_current_stream(device)): make it this one. Triton keeps that getter on the driver
        # instance (torch.cuda's raw current stream when torch drives it, always so before 3.8; from 3.8 without
        # torch, the device's default stream), so replacing the instance attribute redirects every launch. Read in
        # Triton 3.6's and 3.9's source; the torch-backed path awaits a GPU run.
        triton_driver.get_current_stream = lambda device=None: self.stream_handle
        self.capture = None  # the StreamCapture under way (stream_capture.py): every launch and copy goes to it

    def _refuse_during_capture(self, what):
        """Abandon the capture under way and raise: `what` would make the host wait for the device."""
        from .stream_capture import capture_error
        self.capture.abandon()
        raise capture_error(what)

    def _call(self, name, *args):
        """`cuda.bindings.driver.<name>(*args)`'s outputs: None, one value, or a tuple of several."""
        err, *values = getattr(self._driver, name)(*args)
        if int(err) != 0:
            raise _driver_error(self._driver, name, err)
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)

    def synchronize(self):
        if self.capture is not None:
            self._refuse_during_capture("framework.cuda.synchronize()")
        self.stream.sync()

    def record_time(self):
        return self.stream.record(options=self._event_options)

    def elapsed_ms(self, start, end):
        if self.capture is not None:
            self._refuse_during_capture("Reading a timing event (Event.elapsed_time)")
        end.sync()
        return end - start

    def device_name(self, index=0):
        return self.device.name

    def device_properties(self):
        """What framework.cuda.get_device_properties reports, from cuda-core's DeviceProperties (>= 0.4)."""
        properties = self.device.properties
        major, minor = self.device.compute_capability
        return dict(name=self.device.name, major=int(major), minor=int(minor), total_memory=self.total_memory,
                    multi_processor_count=int(properties.multiprocessor_count),
                    L2_cache_size=int(properties.l2_cache_size))

    def benchmark(self, call, repeats=BENCHMARK_REPEATS):
        """Seconds one `call()` takes on this stream (the tuner's benchmarker, triton_kernels/tuning.py): one
        untimed warm-up call (it also compiles the kernel for this config, so compile time is never timed), then
        the median of `repeats` calls, each between its own pair of timed events.

        Per-call events, not one pair around the whole loop: the median drops the outlying calls (a clock ramp, a
        host stall, another process's kernel on the GPU) that a loop-wide mean would absorb. The calls and events
        are queued back to back and read after the loop (`elapsed_ms` waits for each end event). When a kernel is
        shorter than the host's launch overhead the GPU idles between calls and each interval also holds that
        gap; it is about the same for every candidate, so it dilutes their difference rather than reversing it,
        and ties (tuning.TIE_TOLERANCE), which go to the size rule, become likelier. L2 is not flushed between
        calls (Triton's do_bench zeroes a 256 MB buffer): every candidate reads its operands equally warm, and
        tuning takes no device memory that the user's tensors may need."""
        if self.capture is not None:
            self._refuse_during_capture("Autotuning a kernel for a new shape")
        call()
        marks = []
        for _ in range(repeats):
            start = self.record_time()
            call()
            marks.append((start, self.record_time()))
        return statistics.median(self.elapsed_ms(start, end) for start, end in marks) / 1000.0

    def allocate_mapped(self, nbytes):
        """`nbytes` of pinned host memory that kernels may also write (device_errors.py's record): under unified
        addressing (every 64-bit platform CUDA supports) cuMemAllocHost memory is mapped into the device at its
        host address. A cuda-core Buffer (`handle`: the address); raises when memory cannot be pinned."""
        return self._pinned_resource.allocate(nbytes, stream=self.stream)

    def empty_cache(self):
        """Return the pool's cached, unused blocks to the driver (torch.cuda.empty_cache)."""
        if self.capture is not None:
            self._refuse_during_capture("framework.cuda.empty_cache()")
        self.stream.sync()  # blocks freed on the stream are only released once the stream has passed the free
        self._call("cuMemPoolTrimTo", self.memory_resource.handle, 0)

    def make_stream_wait(self, consumer_stream):
        """Order another library's stream (a CUstream as an int; 1 is the legacy default stream) after the work
        queued so far on ours, without a host wait: an event recorded here, waited on there (DLPack's
        handshake, framework/utils/dlpack.py). The event may be destroyed at once: the wait is already queued."""
        if consumer_stream == self.stream_handle:
            return
        event = self._call("cuEventCreate", 2)  # CU_EVENT_DISABLE_TIMING: the cheapest kind
        try:
            self._call("cuEventRecord", event, self.stream_handle)
            self._call("cuStreamWaitEvent", consumer_stream, event, 0)
        finally:
            self._call("cuEventDestroy", event)

    # ---- copies -------------------------------------------------------------------------------------------

    def copy_host_to_device(self, dst_address, host_array):
        """Small copies go through the pinned ring (`_ring_space`), large ones chunk by chunk through the pinned
        slots; either returns once `host_array` has been read, the DMA may still be running. Without pinned
        memory, copies go straight from pageable memory, and wait."""
        if self.capture is not None:
            return self.capture.upload(dst_address, host_array)
        nbytes, src = host_array.nbytes, host_array.ctypes.data
        staged = self._ring_space(nbytes) if nbytes < self.staging_threshold else None
        if staged is not None:
            ctypes.memmove(staged, src, nbytes)
            self._call("cuMemcpyHtoDAsync", dst_address, staged, nbytes, self.stream_handle)
            return
        slots = self._staging_slots(nbytes)
        if not slots:
            self._call("cuMemcpyHtoDAsync", dst_address, src, nbytes, self.stream_handle)
            self.stream.sync()  # from pageable memory the driver may read `host_array` after the call returns
            return
        for index, offset, size in self._chunks(nbytes):
            slot = index % 2
            self._wait_for_slot(slot)  # never overwrite a slot the DMA of an earlier chunk is still reading
            ctypes.memmove(slots[slot], src + offset, size)
            self._call("cuMemcpyHtoDAsync", dst_address + offset, slots[slot], size, self.stream_handle)
            self._slot_events[slot] = self.stream.record(self._slot_events[slot])

    def copy_device_to_host(self, host_array, src_address):
        """Small copies go straight to pageable memory. Large ones go chunk by chunk through the pinned slots:
        while the DMA fills one slot, the host copies the previous chunk out of the other."""
        if self.capture is not None:
            self._refuse_during_capture("Copying a cuda tensor to the host (.item(), .tolist(), .cpu(), printing)")
        nbytes, dst = host_array.nbytes, host_array.ctypes.data
        slots = self._staging_slots(nbytes)
        if not slots:
            self._call("cuMemcpyDtoHAsync", dst, src_address, nbytes, self.stream_handle)
            self.stream.sync()
            return
        pending = None
        for index, offset, size in self._chunks(nbytes):
            slot = index % 2
            # No host wait before the DMA: on the one stream it runs after any earlier copy that used this slot.
            self._call("cuMemcpyDtoHAsync", slots[slot], src_address + offset, size, self.stream_handle)
            self._slot_events[slot] = self.stream.record(self._slot_events[slot])
            if pending is not None:
                self._copy_out_of_slot(dst, *pending)
            pending = (slot, offset, size)
        self._copy_out_of_slot(dst, *pending)

    def copy_device_to_device(self, dst_address, src_address, nbytes):
        self._call("cuMemcpyDtoDAsync", dst_address, src_address, nbytes, self.stream_handle)

    def _staging_slots(self, nbytes):
        """The two pinned slots' addresses when a copy of `nbytes` is to be staged, else None."""
        if nbytes < self.staging_threshold:
            return None
        if self._slots is None:
            try:
                buffers = [self._pinned_resource.allocate(self.staging_chunk, stream=self.stream) for _ in range(2)]
            except Exception as error:  # cuda-core's CUDAError("CUDA_ERROR_OUT_OF_MEMORY: ...")
                if "OUT_OF_MEMORY" not in str(error).upper():
                    raise
                warnings.warn(f"could not pin {2 * self.staging_chunk} bytes of host memory to stage copies "
                              f"({error}); host<->device copies go through pageable memory", RuntimeWarning)
                self._slots = ()
                return None
            self._slot_buffers = buffers
            self._slots = [int(buffer.handle) for buffer in buffers]
        return self._slots or None

    def _ring_space(self, nbytes):
        """The pinned address where an upload of `nbytes` (< staging_threshold) is to be staged, or None when
        memory cannot be pinned.

        Small uploads are packed one after another into a pinned ring of two halves of staging_threshold bytes
        and DMAed from there in stream order, so the upload returns without waiting for the device (from pageable
        memory it must wait, lest the driver read the array after the caller reused it): a training step that
        uploads a small table (the fused optimizers' tensor addresses) does not stall the host. A half is refilled
        only after the copies of its previous lap have run: the host waits for an event recorded when the half
        filled, that is for copies queued hundreds of small uploads earlier, work long done."""
        if self._ring is None:
            try:
                buffer = self._pinned_resource.allocate(2 * self.staging_threshold, stream=self.stream)
            except Exception as error:  # cuda-core's CUDAError("CUDA_ERROR_OUT_OF_MEMORY: ...")
                if "OUT_OF_MEMORY" not in str(error).upper():
                    raise
                self._ring = ()
                return None
            self._ring = (buffer, int(buffer.handle))
        if not self._ring:
            return None
        if self._ring_used + nbytes > self.staging_threshold:  # this half is full: close it, refill the other
            self._ring_events[self._ring_half] = self.stream.record(self._ring_events[self._ring_half])
            self._ring_half ^= 1
            self._wait_for_ring_half(self._ring_half)
            self._ring_used = 0
        address = self._ring[1] + self._ring_half * self.staging_threshold + self._ring_used
        self._ring_used += -(-nbytes // 16) * 16  # the next upload 16-byte aligned
        return address

    def _wait_for_ring_half(self, half):
        event = self._ring_events[half]
        if event is not None:
            event.sync()

    def _chunks(self, nbytes):
        for index, offset in enumerate(range(0, nbytes, self.staging_chunk)):
            yield index, offset, min(self.staging_chunk, nbytes - offset)

    def _wait_for_slot(self, slot):
        event = self._slot_events[slot]
        if event is not None:
            event.sync()

    def _copy_out_of_slot(self, dst, slot, offset, size):
        self._slot_events[slot].sync()
        ctypes.memmove(dst + offset, self._slots[slot], size)


_RUNTIME = None


def runtime():
    """The process's runtime, created on first use; a clear RuntimeError when there is no `cuda` at all."""
    global _RUNTIME
    if _RUNTIME is None:
        if interpreter_requested():
            _RUNTIME = InterpreterRuntime()
        elif gpu_count() > 0:
            cuda_requirements.check_gpu_stack()
            _RUNTIME = DriverRuntime()
            # Registered here, for the process's runtime only, not in DriverRuntime.__init__: a DriverRuntime
            # built on the side (tests/backends/cuda's fake GPU) must not become the whole process's benchmarker.
            from triton_kernels import tuning
            tuning.set_benchmarker(_RUNTIME.benchmark)
        else:
            raise RuntimeError(cuda_requirements.unavailable_reason())
    return _RUNTIME


def available():
    return interpreter_requested() or gpu_count() > 0
