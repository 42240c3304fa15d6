"""A fake cuda-core and cuda.bindings for testing DriverRuntime without a GPU (test_driver_runtime.py).

Shaped like the real packages as installed and read (cuda-core 1.2.2 with cuda-bindings 12.9; cuda-core 0.4's
`cuda.core.experimental` and `EventOptions(enable_timing=...)`): the same names and import paths, keyword-only
`stream=` where the real API has it, handles that are objects needing `int()`, driver functions that check their
argument types and return `(CUresult, outputs...)` tuples, cuda-core's CUDAError messages. Only what
DriverRuntime, memory.py and framework.cuda.gpu_count call is there.

Device memory and pinned memory are ctypes buffers. The stream is asynchronous, as a GPU's is: copies, frees
and event records queue up and run only when the stream or an event is synchronised, so a runtime that refills a
pinned buffer before the copy reading it has run, or reads a buffer before the copy filling it has run, gets
wrong bytes here as it would on a GPU.
"""
import collections
import ctypes
import dataclasses
import enum
import operator
import sys
import time
import types

import numpy as np


# ---- the fake: cuda.bindings.driver ------------------------------------------------------------------------

class CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_OUT_OF_MEMORY = 2
    CUDA_ERROR_NO_DEVICE = 100
    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900


_ERROR_STRINGS = {CUresult.CUDA_ERROR_INVALID_VALUE: b"invalid argument",
                  CUresult.CUDA_ERROR_OUT_OF_MEMORY: b"out of memory",
                  CUresult.CUDA_ERROR_NO_DEVICE: b"no CUDA-capable device is detected",
                  CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: b"operation not permitted when stream is capturing"}


class _Handle:
    """cuda.bindings' CUstream, CUdeviceptr, CUmemoryPool: `int()` gives the address, nothing else does."""

    def __init__(self, value):
        self._value = value

    def __int__(self):
        return self._value


class CUstream(_Handle):
    pass


class CUdeviceptr(_Handle):
    pass


class CUmemoryPool(_Handle):
    pass


class CUevent(_Handle):
    pass


def _handle_int(value, handle_type):
    """What the bindings accept for a handle argument: None, the handle type, or an int."""
    if value is None:
        return 0
    if isinstance(value, (handle_type, int)):
        return int(value)
    raise TypeError("an integer is required")


def _host_int(value):
    """What the bindings accept for a host pointer (`Any`): None, an int, or an object with the buffer protocol."""
    if value is None or isinstance(value, int):
        return value or 0
    try:
        return np.frombuffer(value, np.uint8).ctypes.data
    except TypeError:
        raise TypeError(f"Provided argument is of type {type(value)} but expected Type None, int or object "
                        "with Buffer Protocol") from None


class CUDAError(Exception):
    """cuda-core's error: "<CUresult name>: <explanation>"."""


class FakeGPU:
    """One device of `total_memory` bytes, of which the pool can hand out `pool_capacity`; host-backed."""

    def __init__(self, total_memory=1 << 30, pool_capacity=256 << 20, pinned_capacity=1 << 30):
        self.device_count = 1  # 0: a driver without a GPU (cuInit answers CUDA_ERROR_NO_DEVICE)
        self.driver_version = 12090  # the CUDA version the driver supports (cuDriverGetVersion)
        self.bindings_version = "12.9.0"  # cuda-bindings' version; its major is the CUDA it was built for
        self.total_memory = total_memory
        self.pool_capacity = pool_capacity
        self.pinned_capacity = pinned_capacity
        self.calls = []  # (driver function, args) of every copy, cuDeviceTotalMem and cuMemPoolTrimTo call
        self.waits = []  # "stream" or "event": every time the host waited for the device
        self.allocations = []  # (stream the allocation was ordered on, nbytes) of every pool allocation
        self.pinned = []  # (address, nbytes) of every pinned allocation
        self.fail = {}  # driver function name -> the CUresult it returns instead of running
        self.streams = {}  # int(handle) -> Stream
        self.device_memory = {}  # address -> ctypes buffer
        self.events = {}  # int(handle) of each driver-API event alive -> (stream, mark) of its last record, or None
        self.context_current = False
        self.capture_mode = 0  # this thread's CUstreamCaptureMode (cuThreadExchangeStreamCaptureMode); 0: GLOBAL
        self.capturing = []  # streams capturing now (a GraphBuilder between begin_building and end_building)
        self.graph_launches = 0
        self.triton_driver = types.SimpleNamespace(get_current_device=lambda: 0,
                                                   get_current_stream=lambda device: 0)

    # -- checks the real driver makes ------------------------------------------------------------------------

    def _on_device(self, address, nbytes):
        return any(start <= address and address + nbytes <= start + ctypes.sizeof(buffer)
                   for start, buffer in self.device_memory.items())

    def _stream(self, handle):
        return self.streams[_handle_int(handle, CUstream)]

    def _memcpy(self, name, dst, src, nbytes, hStream, device_side):
        stream = self._stream(hStream)
        self.calls.append((name, (dst, src, nbytes, int(stream.handle))))
        if name in self.fail:
            return (self.fail[name],)
        if not all(self._on_device(address, nbytes) for address in device_side):
            return (CUresult.CUDA_ERROR_INVALID_VALUE,)
        stream._enqueue(lambda: ctypes.memmove(dst, src, nbytes))
        return (CUresult.CUDA_SUCCESS,)

    # -- cuda.bindings.driver -------------------------------------------------------------------------------

    def driver_module(self):
        driver = types.ModuleType("cuda.bindings.driver")
        driver.CUresult, driver.CUstream, driver.CUdeviceptr, driver.CUmemoryPool, driver.CUevent = (
            CUresult, CUstream, CUdeviceptr, CUmemoryPool, CUevent)

        major, minor = (int(part) for part in self.bindings_version.split(".")[:2])
        driver.CUDA_VERSION = major * 1000 + minor * 10  # e.g. 12090: the CUDA these bindings were built for

        def cuInit(Flags):
            return (CUresult.CUDA_SUCCESS if self.device_count else CUresult.CUDA_ERROR_NO_DEVICE,)

        def cuDeviceGetCount():
            return (CUresult.CUDA_SUCCESS, self.device_count)

        def cuDriverGetVersion():
            return (CUresult.CUDA_SUCCESS, self.driver_version)

        def cuDeviceTotalMem(dev):
            operator.index(dev)
            self.calls.append(("cuDeviceTotalMem", (dev,)))
            return (self.fail.get("cuDeviceTotalMem", CUresult.CUDA_SUCCESS), self.total_memory)

        def cuMemcpyHtoDAsync(dstDevice, srcHost, ByteCount, hStream):
            dst, src = _handle_int(dstDevice, CUdeviceptr), _host_int(srcHost)
            return self._memcpy("cuMemcpyHtoDAsync", dst, src, operator.index(ByteCount),
                                hStream, device_side=[dst])

        def cuMemcpyDtoHAsync(dstHost, srcDevice, ByteCount, hStream):
            dst, src = _host_int(dstHost), _handle_int(srcDevice, CUdeviceptr)
            return self._memcpy("cuMemcpyDtoHAsync", dst, src, operator.index(ByteCount),
                                hStream, device_side=[src])

        def cuMemcpyDtoDAsync(dstDevice, srcDevice, ByteCount, hStream):
            dst, src = _handle_int(dstDevice, CUdeviceptr), _handle_int(srcDevice, CUdeviceptr)
            return self._memcpy("cuMemcpyDtoDAsync", dst, src, operator.index(ByteCount),
                                hStream, device_side=[dst, src])

        def cuMemPoolTrimTo(pool, minBytesToKeep):
            self.calls.append(("cuMemPoolTrimTo", (_handle_int(pool, CUmemoryPool), operator.index(minBytesToKeep))))
            return (CUresult.CUDA_SUCCESS,)

        def cuMemAlloc(bytesize):
            nbytes = operator.index(bytesize)
            self.calls.append(("cuMemAlloc", (nbytes,)))
            if self.capturing and self.capture_mode != 2:  # a "potentially unsafe" call outside relaxed mode
                return (CUresult.CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, None)
            raw = (ctypes.c_char * nbytes)()
            self.device_memory[ctypes.addressof(raw)] = raw
            return (CUresult.CUDA_SUCCESS, CUdeviceptr(ctypes.addressof(raw)))

        def cuMemFree(dptr):
            address = _handle_int(dptr, CUdeviceptr)
            self.calls.append(("cuMemFree", (address,)))
            if self.capturing or address not in self.device_memory:
                return (CUresult.CUDA_ERROR_INVALID_VALUE,)
            del self.device_memory[address]
            return (CUresult.CUDA_SUCCESS,)

        def cuThreadExchangeStreamCaptureMode(mode):
            previous, self.capture_mode = self.capture_mode, operator.index(mode)
            return (CUresult.CUDA_SUCCESS, previous)

        def cuEventCreate(flags):
            event = CUevent(0x9000 + 0x10 * len(self.calls))  # unique: calls only grows
            self.events[int(event)] = None  # the (stream, mark) it was last recorded at
            self.calls.append(("cuEventCreate", (operator.index(flags),)))
            return (CUresult.CUDA_SUCCESS, event)

        def cuEventRecord(hEvent, hStream):
            event, stream = _handle_int(hEvent, CUevent), self._stream(hStream)
            self.calls.append(("cuEventRecord", (event, int(stream.handle))))
            self.events[event] = (stream, stream._enqueue(lambda: None))
            return (CUresult.CUDA_SUCCESS,)

        def cuStreamWaitEvent(hStream, hEvent, flags):
            stream, event = _handle_int(hStream, CUstream), _handle_int(hEvent, CUevent)
            self.calls.append(("cuStreamWaitEvent", (stream, event, operator.index(flags))))
            recorded = self.events.get(event)
            if recorded is None:
                return (CUresult.CUDA_ERROR_INVALID_VALUE,)
            producer, mark = recorded
            waiter = self.streams.get(stream)
            if waiter is not None:  # the waiting stream runs nothing queued after this until the producer reached mark
                waiter._enqueue(lambda: producer._run_until(mark))
            return (CUresult.CUDA_SUCCESS,)

        def cuEventDestroy(hEvent):
            event = _handle_int(hEvent, CUevent)
            self.calls.append(("cuEventDestroy", (event,)))
            return (CUresult.CUDA_SUCCESS,) if self.events.pop(event, 0) != 0 else (CUresult.CUDA_ERROR_INVALID_VALUE,)

        def cuGetErrorName(error):
            return (CUresult.CUDA_SUCCESS, CUresult(error).name.encode())

        def cuGetErrorString(error):
            return (CUresult.CUDA_SUCCESS, _ERROR_STRINGS[CUresult(error)])

        for function in (cuInit, cuDeviceGetCount, cuDriverGetVersion, cuDeviceTotalMem, cuMemcpyHtoDAsync,
                         cuMemcpyDtoHAsync, cuMemcpyDtoDAsync, cuMemPoolTrimTo, cuEventCreate, cuEventRecord,
                         cuStreamWaitEvent, cuEventDestroy, cuGetErrorName, cuGetErrorString, cuMemAlloc, cuMemFree,
                         cuThreadExchangeStreamCaptureMode):
            setattr(driver, function.__name__, function)
        return driver

    # -- cuda-core -------------------------------------------------------------------------------------------

    def core_classes(self, flavor):
        gpu = self

        class Event:
            def __init__(self, stream, options):
                self._stream, self._options, self._mark, self._time = stream, options, 0, None

            def sync(self):
                gpu.waits.append("event")
                self._stream._run_until(self._mark)

            def __sub__(self, other):
                timed = [getattr(e._options, "timing_enabled", getattr(e._options, "enable_timing", False))
                         for e in (self, other)]
                if not all(timed) or self._time is None or other._time is None:
                    raise RuntimeError("Timing is disabled or an event has not completed")
                return (self._time - other._time) * 1000.0

        class Stream:
            def __init__(self):
                self._queue, self._issued, self._done = [], 0, 0
                self._builder = None  # the GraphBuilder capturing this stream
                self._address = 0x7000 + 0x100 * len(gpu.streams)
                gpu.streams[self._address] = self

            @property
            def handle(self):
                return CUstream(self._address)

            def _enqueue(self, operation):
                if self._builder is not None:  # captured, not run: the graph runs it at each launch
                    self._builder._operations.append(operation)
                    return self._issued
                self._queue.append(operation)
                self._issued += 1
                return self._issued

            def _run_until(self, mark):
                while self._done < mark:
                    self._queue.pop(0)()
                    self._done += 1

            def sync(self):
                if self._builder is not None:
                    raise CUDAError("CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: operation not permitted when stream is "
                                    "capturing")
                gpu.waits.append("stream")
                self._run_until(self._issued)

            def create_graph_builder(self):
                return GraphBuilder(self)

            def run_queued(self):
                """Run what is queued without a host wait: what a kernel launched on this stream sees when it
                starts (tests that run kernels in Triton's interpreter on this fake's memory call it first)."""
                self._run_until(self._issued)

            def record(self, event=None, options=None):
                event = Event(self, options) if event is None else event

                def stamp():
                    event._time = time.perf_counter()
                event._mark = self._enqueue(stamp)
                return event

        class GraphBuilder:
            """cuda-core's stream-capture builder: work queued on the stream between begin_building and
            end_building is recorded, not run."""

            def __init__(self, stream):
                self.stream, self._operations, self._ended = stream, [], False

            def begin_building(self, mode="relaxed"):
                if mode not in ("global", "thread_local", "relaxed"):
                    raise ValueError(f"Unsupported build mode: {mode}")
                gpu.capture_mode = {"global": 0, "thread_local": 1, "relaxed": 2}[mode]
                self.stream._builder = self
                gpu.capturing.append(self.stream)
                return self

            def end_building(self):
                if self.stream._builder is not self:
                    raise RuntimeError("Graph builder is not building.")
                self.stream._builder = None
                gpu.capturing.remove(self.stream)
                gpu.capture_mode = 0
                self._ended = True
                return self

            def complete(self, options=None):
                if not self._ended:
                    raise RuntimeError("Graph has not finished building.")
                return Graph(list(self._operations))

        class Graph:
            def __init__(self, operations):
                self._operations, self.closed = operations, False

            def upload(self, stream):
                require_stream(stream)

            def launch(self, stream):
                require_stream(stream)
                if self.closed:
                    raise CUDAError("CUDA_ERROR_INVALID_VALUE: invalid argument")
                gpu.graph_launches += 1
                for operation in self._operations:
                    stream._enqueue(operation)

            def close(self):
                self.closed = True

        def require_stream(stream):
            if not isinstance(stream, Stream):
                raise TypeError(f"stream must be a Stream, got {type(stream)}")

        class Buffer:
            def __init__(self, handle, nbytes, free):
                self._handle, self.size, self._free = handle, nbytes, free

            @property
            def handle(self):
                return self._handle

            def close(self, stream=None):
                if self._free is not None:
                    self._free(stream)
                    self._free = None

        class Device:
            _instances = {}

            def __new__(cls, device_id=None):
                device_id = 0 if device_id is None else int(device_id)
                if device_id not in cls._instances:
                    device = super().__new__(cls)
                    device._device_id = device_id
                    cls._instances[device_id] = device
                return cls._instances[device_id]

            @property
            def device_id(self):
                return self._device_id

            @property
            def name(self):
                return "Fake GPU (host memory)"

            @property
            def compute_capability(self):  # cuda-core: a ComputeCapability named tuple (major, minor)
                return collections.namedtuple("ComputeCapability", "major minor")(9, 0)

            @property
            def properties(self):  # cuda-core's DeviceProperties: an H100's numbers
                return types.SimpleNamespace(multiprocessor_count=132, l2_cache_size=50 << 20)

            def __int__(self):
                return self._device_id

            def set_current(self, ctx=None):
                gpu.context_current = True

            def create_stream(self, obj=None, options=None):
                if not gpu.context_current:
                    raise CUDAError("Device must be initialized (call Device.set_current() first)")
                return Stream()

        class DeviceMemoryResource:
            def __init__(self, device_id, options=None):
                self._device_id = int(device_id)
                self._free = gpu.pool_capacity

            @property
            def handle(self):
                return CUmemoryPool(0x9000)

            def allocate(self, size, *, stream):
                require_stream(stream)
                if size > self._free:
                    raise CUDAError("CUDA_ERROR_OUT_OF_MEMORY: The API call failed because it was unable to "
                                    "allocate enough memory or other resources to perform the requested operation.")
                raw = (ctypes.c_char * size)()
                address = ctypes.addressof(raw)
                gpu.device_memory[address] = raw
                gpu.allocations.append((stream, size))
                self._free -= size

                def free(close_stream):  # stream-ordered: after the work already queued on that stream
                    def release():
                        del gpu.device_memory[address]
                        self._free += size
                    (close_stream or stream)._enqueue(release)
                return Buffer(CUdeviceptr(address), size, free)

        class LegacyPinnedMemoryResource:
            def allocate(self, size, *, stream=None):
                if stream is not None:
                    require_stream(stream)
                if size > gpu.pinned_capacity - sum(n for _, n in gpu.pinned):
                    raise CUDAError("CUDA_ERROR_OUT_OF_MEMORY: The API call failed because it was unable to "
                                    "allocate enough memory or other resources to perform the requested operation.")
                raw = (ctypes.c_char * size)()
                gpu.pinned.append((ctypes.addressof(raw), size))
                return Buffer(ctypes.addressof(raw), size, lambda _stream, raw=raw: None)

        if flavor == "1.x":
            @dataclasses.dataclass
            class EventOptions:
                timing_enabled: bool = False
                blocking_sync: bool = False
                ipc_enabled: bool = False
        else:
            @dataclasses.dataclass
            class EventOptions:
                enable_timing: bool = False
                busy_waited_sync: bool = False
                ipc_enabled: bool = False
        return dict(Device=Device, DeviceMemoryResource=DeviceMemoryResource, EventOptions=EventOptions,
                    LegacyPinnedMemoryResource=LegacyPinnedMemoryResource, Buffer=Buffer, Stream=Stream, Event=Event)

    def install(self, monkeypatch, flavor="1.x"):
        """Put the fake packages in sys.modules and a fake Triton driver in `triton.runtime`, through pytest's
        `monkeypatch`, which undoes both after the test."""
        import triton
        cuda = types.ModuleType("cuda")
        cuda.__path__ = []
        core = types.ModuleType("cuda.core")
        core.__path__ = []
        bindings = types.ModuleType("cuda.bindings")
        bindings.__path__ = []
        bindings.__version__ = self.bindings_version
        bindings.driver = self.driver_module()
        cuda.core, cuda.bindings = core, bindings
        modules = {"cuda": cuda, "cuda.core": core, "cuda.bindings": bindings, "cuda.bindings.driver": bindings.driver}
        if flavor == "1.x":  # everything at the top level; no `experimental` any more
            core.__version__ = "1.2.2"
            vars(core).update(self.core_classes(flavor))
            modules["cuda.core.experimental"] = None
        else:  # 0.4: a bare `cuda.core`, the classes in `cuda.core.experimental`
            core.__version__ = "0.4.2"
            experimental = types.ModuleType("cuda.core.experimental")
            vars(experimental).update(self.core_classes(flavor))
            core.experimental = experimental
            modules["cuda.core.experimental"] = experimental
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, name, module)
        monkeypatch.setattr(triton.runtime, "driver", types.SimpleNamespace(active=self.triton_driver))

    # -- what the tests read ---------------------------------------------------------------------------------

    def copies(self, name):
        return [args for call, args in self.calls if call == name]

    def in_pinned(self, address, nbytes):
        return any(start <= address and address + nbytes <= start + size for start, size in self.pinned)
