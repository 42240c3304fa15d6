"""Which `cuda` this process has, its one stream, and its events.

Two runtimes serve the `cuda` device, chosen once, when it is first used:

* `DriverRuntime`: a real GPU through NVIDIA's cuda-core. One non-blocking stream carries every copy and
  every kernel, in order: Triton is pointed at it (`driver.active.get_current_stream`), so a launch never
  lands on the legacy default stream.
* `InterpreterRuntime`: with TRITON_INTERPRET=1, kernels run in Triton's interpreter on host memory, so a
  program written for `cuda` runs unchanged on a machine without a GPU (CI, a laptop debugging a kernel).
  Everything is synchronous; events read the host clock.

TRITON_INTERPRET=1 wins when both are possible: it is the user's explicit request.
"""
import ctypes
import os
import time

from ...cuda import gpu_count

INTERPRETER_HINT = ("set TRITON_INTERPRET=1 before importing framework to run the `cuda` device's Triton "
                    "kernels in Triton's interpreter on the CPU")


def interpreter_requested():
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _import_cuda_core():
    try:
        from cuda.core import Device, DeviceMemoryResource, EventOptions  # cuda-core >= 0.4 / 1.x
    except ImportError:
        from cuda.core.experimental import Device, DeviceMemoryResource, EventOptions
    return Device, DeviceMemoryResource, EventOptions


class InterpreterRuntime:
    """The `cuda` device served from host memory; kernels run in Triton's interpreter."""

    name = "Triton interpreter (host memory)"
    device_count = 1

    def __init__(self):
        # Nominal device size: what allocations may use before OutOfMemoryError (half the host's memory).
        pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 1 << 22
        self.total_memory = int(os.environ.get("FRAMEWORK_INTERPRETER_MEMORY", pages * os.sysconf("SC_PAGE_SIZE") // 2))

    def synchronize(self):
        pass

    def record_time(self):
        return time.perf_counter()

    @staticmethod
    def elapsed_ms(start, end):
        return (end - start) * 1000.0

    def device_name(self, index=0):
        return self.name

    def copy_host_to_device(self, dst_address, host_array):
        ctypes.memmove(dst_address, host_array.ctypes.data, host_array.nbytes)

    def copy_device_to_host(self, host_array, src_address):
        ctypes.memmove(host_array.ctypes.data, src_address, host_array.nbytes)

    def copy_device_to_device(self, dst_address, src_address, nbytes):
        ctypes.memmove(dst_address, src_address, nbytes)


class DriverRuntime:
    """A real GPU through cuda-core: device 0 (or the one set_device chose), one stream, a memory pool."""

    def __init__(self, index=0):
        Device, DeviceMemoryResource, EventOptions = _import_cuda_core()
        from cuda.bindings import driver
        self._driver = driver
        self._event_options = EventOptions(enable_timing=True)
        self.device = Device(index)
        self.device.set_current()
        self.stream = self.device.create_stream()
        self.stream_handle = int(self.stream.handle)
        self.memory_resource = DeviceMemoryResource(self.device)
        self.device_count = gpu_count()
        self.total_memory = int(self._check(driver.cuDeviceTotalMem(self.device.device_id))[0])
        import triton
        # Every launch asks the active driver for the current stream: make it this one.
        triton.runtime.driver.active.get_current_stream = lambda device=None: self.stream_handle

    def _check(self, result):
        err, *values = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            _, text = self._driver.cuGetErrorString(err)
            raise RuntimeError(f"CUDA error: {text.decode() if isinstance(text, bytes) else text}")
        return values

    def synchronize(self):
        self.stream.sync()

    def record_time(self):
        return self.stream.record(options=self._event_options)

    @staticmethod
    def elapsed_ms(start, end):
        end.sync()
        return end - start

    def device_name(self, index=0):
        return self.device.name

    def copy_host_to_device(self, dst_address, host_array):
        self._check(self._driver.cuMemcpyHtoDAsync(dst_address, host_array.ctypes.data, host_array.nbytes,
                                                   self.stream_handle))
        self.stream.sync()  # the host array may be freed (or changed) as soon as we return

    def copy_device_to_host(self, host_array, src_address):
        self._check(self._driver.cuMemcpyDtoHAsync(host_array.ctypes.data, src_address, host_array.nbytes,
                                                   self.stream_handle))
        self.stream.sync()

    def copy_device_to_device(self, dst_address, src_address, nbytes):
        self._check(self._driver.cuMemcpyDtoDAsync(dst_address, src_address, nbytes, self.stream_handle))


_RUNTIME = None


def runtime():
    """The process's runtime, created on first use; a clear RuntimeError when there is no `cuda` at all."""
    global _RUNTIME
    if _RUNTIME is None:
        if interpreter_requested():
            _RUNTIME = InterpreterRuntime()
        elif gpu_count() > 0:
            try:
                _RUNTIME = DriverRuntime()
            except ImportError as error:
                raise RuntimeError(f"a CUDA GPU is present but cuda-core could not be imported ({error}): "
                                   "pip install 'framework[cuda]'") from None
        else:
            raise RuntimeError("Found no NVIDIA driver on your system: no CUDA GPUs are available. "
                               f"To run the `cuda` device without a GPU, {INTERPRETER_HINT}.")
    return _RUNTIME


def available():
    return interpreter_requested() or gpu_count() > 0
