"""DLPack: zero-copy exchange of tensors with NumPy, PyTorch, JAX, CuPy (`torch.utils.dlpack`'s names).

A capsule is a PyCapsule around a C struct (DLPack's `DLManagedTensor`, or `DLManagedTensorVersioned` from
DLPack 1.0) that says where the bytes are (data pointer, device, dtype, shape, strides) and how to release
them (a `deleter` the consumer calls once it no longer needs them). The structs, the capsule and the deleter
are built with ctypes here, so no compiled extension is needed.

Lifetime. Exporting keeps the exported array (and so its memory) in `_EXPORTED`, keyed by the struct's
address, until the consumer calls our deleter, or, when no one consumed the capsule, until a sweep finds the
capsule held by nothing else (`_collect_unconsumed`, run at each export and after each garbage collection).
Importing renames the capsule to `used_dltensor[_versioned]` (so it cannot
be imported twice) and gives the memory an owner object that calls the producer's deleter when the last
array viewing the memory is gone.

Devices. CPU tensors are `(kDLCPU, 0)`. `cuda` tensors on a GPU are `(kDLCUDA, 0)` with real device
pointers, and `__dlpack__(stream=s)` makes the consumer's stream `s` wait for the kernels queued on the
framework's stream (the protocol's handshake), so a consumer never reads a buffer a kernel is still writing.
Under Triton's interpreter a `cuda` tensor's memory is host memory: it is exported as `(kDLCUDAHost, 0)`,
memory that host code may read (NumPy takes it without a copy), never as `kDLCUDA`, whose pointers a consumer
with a real GPU would dereference on the device. Importing `kDLCUDAHost` gives a `cuda` tensor under the
interpreter (the same host memory), a CPU tensor otherwise.
"""
import ctypes
import enum
import gc
import sys

import numpy as np

from .. import dtypes
from ..device import CPU, device as _device

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]


class DLDeviceType(enum.IntEnum):
    """Device kinds as numbered in dlpack.h."""
    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14
    kDLWebGPU = 15
    kDLHexagon = 16
    kDLMAIA = 17


# ---- dlpack.h's structs -------------------------------------------------------------------------------------

class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    pass


_LEGACY_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
_VERSIONED_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensorVersioned))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _LEGACY_DELETER)]
DLManagedTensorVersioned._fields_ = [("version", DLPackVersion), ("manager_ctx", ctypes.c_void_p),
                                     ("deleter", _VERSIONED_DELETER), ("flags", ctypes.c_uint64),
                                     ("dl_tensor", DLTensor)]

VERSION = (1, 0)  # the DLPack version this module writes and the newest it reads
FLAG_READ_ONLY = 1 << 0
FLAG_IS_COPIED = 1 << 1
_CODE_INT, _CODE_UINT, _CODE_FLOAT, _CODE_BFLOAT, _CODE_BOOL = 0, 1, 2, 4, 6

# The names live as long as the module: a capsule keeps a pointer to its name, not a copy.
_NAME, _USED_NAME = b"dltensor", b"used_dltensor"
_VERSIONED_NAME, _USED_VERSIONED_NAME = b"dltensor_versioned", b"used_dltensor_versioned"

# ---- the CPython capsule API, through ctypes ------------------------------------------------------------------

_api = ctypes.pythonapi
_capsule_new = _api.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_capsule_is_valid = _api.PyCapsule_IsValid
_capsule_is_valid.restype = ctypes.c_int
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_get_pointer = _api.PyCapsule_GetPointer
_capsule_get_pointer.restype = ctypes.c_void_p
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_set_name = _api.PyCapsule_SetName
_capsule_set_name.restype = ctypes.c_int
_capsule_set_name.argtypes = [ctypes.py_object, ctypes.c_char_p]


# ---- export ---------------------------------------------------------------------------------------------------

# address of a struct we exported -> (struct, shape, strides, the array keeping the memory alive, its capsule)
_EXPORTED = {}


def _release_export(address):
    _EXPORTED.pop(address, None)


@_LEGACY_DELETER
def _legacy_deleter(managed):
    _release_export(ctypes.cast(managed, ctypes.c_void_p).value)


@_VERSIONED_DELETER
def _versioned_deleter(managed):
    _release_export(ctypes.cast(managed, ctypes.c_void_p).value)


def _collect_unconsumed():
    """Release exports whose capsule only `_EXPORTED` still holds and no consumer opened: a capsule dropped
    unconsumed (say by a consumer that refused its dtype). Why not a capsule destructor: a Python callback
    cannot be one, as CPython may call it with an exception pending (a refusing consumer's), and then no C API
    call can be made from Python without losing or corrupting that exception."""
    for address, entry in list(_EXPORTED.items()):
        if _references(entry) <= _UNHELD and (_capsule_is_valid(entry[-1], _NAME) or
                                              _capsule_is_valid(entry[-1], _VERSIONED_NAME)):
            _EXPORTED.pop(address, None)


def _references(entry):
    """References to an entry's last item (its capsule): measured the same way for a probe (`_UNHELD`, an object
    only its entry holds) and for each export, so the count does not depend on how this Python counts."""
    return sys.getrefcount(entry[-1])


_UNHELD = _references((object(),))


def _collect_after_gc(phase, info):
    if phase == "stop" and _EXPORTED:
        _collect_unconsumed()


gc.callbacks.append(_collect_after_gc)


def _dl_dtype(dtype):
    if dtype is dtypes.bool:
        return _CODE_BOOL, 8
    if dtype is dtypes.bfloat16:
        return _CODE_BFLOAT, 16
    code = _CODE_FLOAT if dtype.is_floating_point else _CODE_INT if dtype.is_signed else _CODE_UINT
    return code, dtype.itemsize * 8


def _interpreted():
    """Whether the process's `cuda` runtime is Triton's interpreter (host memory) rather than a GPU."""
    from ..backends.cuda.runtime import runtime
    return not hasattr(runtime(), "stream_handle")


def dlpack_device(tensor):
    """`Tensor.__dlpack_device__()`: (DLDeviceType, index)."""
    if tensor._device.type == "cpu":
        return (DLDeviceType.kDLCPU, 0)
    kind = DLDeviceType.kDLCUDAHost if _interpreted() else DLDeviceType.kDLCUDA
    return (kind, tensor._device.index or 0)


def _wait_on_consumer_stream(stream):
    """The DLPack handshake on a GPU: the consumer's `stream` waits for the work queued on ours (PyTorch's
    conventions for the special values: None and 1 are the legacy default stream, -1 asks for no sync)."""
    if stream == -1:
        return
    if stream == 2:
        raise BufferError("per-thread default stream is not supported.")
    if stream == 0:
        raise AssertionError(f"unsupported stream on CUDA: {stream}.")
    from ..backends.cuda.runtime import runtime
    rt = runtime()
    consumer = 1 if stream is None else stream  # CU_STREAM_LEGACY
    if hasattr(rt, "make_stream_wait"):  # the interpreter runs everything in order on the host: nothing to wait for
        rt.make_stream_wait(consumer)


def export(tensor, stream=None, max_version=None, dl_device=None, copy=None):
    """`Tensor.__dlpack__`: a capsule sharing the tensor's memory (or a copy's, when `copy=True` or
    `dl_device` asks for another device)."""
    if tensor._requires_grad:
        raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
    if stream is not None and type(stream) is not int:
        raise TypeError("stream must be ``int`` or ``none``")
    own = dlpack_device(tensor)
    if tensor._device.type == "cpu" and stream is not None and stream != -1:
        raise AssertionError("stream should be None on cpu.")
    copied = False
    if dl_device is not None and (int(dl_device[0]), int(dl_device[1])) != (int(own[0]), int(own[1])):
        if copy is False:
            raise BufferError(f"cannot export a tensor on {tuple(int(v) for v in own)} to DLPack device "
                              f"{tuple(int(v) for v in dl_device)} without copying (copy=False)")
        if int(dl_device[0]) != DLDeviceType.kDLCPU:
            raise BufferError(f"Unsupported dl_device {tuple(int(v) for v in dl_device)}: a {tensor._device} tensor "
                              "can be exported on its own device or copied to the CPU ((kDLCPU, 0))")
        tensor, copied = tensor.detach().cpu(), True
        own = (DLDeviceType.kDLCPU, 0)
    elif copy:
        tensor, copied = tensor.detach().clone(), True
    if tensor._device.type == "cuda":
        _wait_on_consumer_stream(stream)
    versioned = max_version is not None and max_version[0] >= 1
    return _capsule(tensor._data, own, versioned, copied)


def _capsule(array, device, versioned, copied):
    read_only = isinstance(array, np.ndarray) and not array.flags.writeable
    if read_only and not versioned:
        raise BufferError("Cannot export readonly array since signalling readonly is unsupported by DLPack "
                          "(supported by newer DLPack version).")
    dtype = dtypes._BY_NUMPY.get(array.dtype) or dtypes.from_numpy_dtype(array.dtype)
    ndim = array.ndim
    shape = (ctypes.c_int64 * max(ndim, 1))(*array.shape)
    strides = (ctypes.c_int64 * max(ndim, 1))(*(s // array.itemsize for s in array.strides))
    managed = DLManagedTensorVersioned() if versioned else DLManagedTensor()
    dl = managed.dl_tensor
    dl.data = array.ctypes.data if isinstance(array, np.ndarray) else array.data_ptr()
    dl.device = DLDevice(int(device[0]), int(device[1]))
    dl.ndim = ndim
    dl.dtype = DLDataType(*_dl_dtype(dtype), 1)
    dl.shape = ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64))
    dl.strides = ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64))
    dl.byte_offset = 0
    if versioned:
        managed.version = DLPackVersion(*VERSION)
        managed.flags = (FLAG_READ_ONLY if read_only else 0) | (FLAG_IS_COPIED if copied else 0)
        managed.deleter = _versioned_deleter
    else:
        managed.deleter = _legacy_deleter
    _collect_unconsumed()
    address = ctypes.addressof(managed)
    capsule = _capsule_new(address, _VERSIONED_NAME if versioned else _NAME, None)
    _EXPORTED[address] = (managed, shape, strides, array, capsule)
    return capsule


def to_dlpack(tensor):
    """A legacy (DLPack 0.x) capsule sharing `tensor`'s memory, as `torch.utils.dlpack.to_dlpack`."""
    return tensor.__dlpack__()


# ---- import ---------------------------------------------------------------------------------------------------

class _Owner:
    """Holds the producer's struct; calls its deleter when the last array viewing the memory is gone. Exposes
    the memory to numpy through `__array_interface__`, so numpy arrays over it keep it as their base."""

    def __init__(self, managed, typestr, shape, strides, address, read_only):
        self._managed = managed
        self.__array_interface__ = dict(version=3, typestr=typestr, shape=shape, strides=strides,
                                        data=(address, read_only))

    def __del__(self):
        managed, self._managed = self._managed, None
        if managed is not None and managed.deleter:
            managed.deleter(ctypes.pointer(managed))


_TYPESTR = {(_CODE_BOOL, 8): "|b1", (_CODE_INT, 8): "|i1", (_CODE_INT, 16): "<i2", (_CODE_INT, 32): "<i4",
            (_CODE_INT, 64): "<i8", (_CODE_UINT, 8): "|u1", (_CODE_FLOAT, 16): "<f2", (_CODE_FLOAT, 32): "<f4",
            (_CODE_FLOAT, 64): "<f8", (_CODE_BFLOAT, 16): "<u2"}  # bfloat16: its bits, viewed as bfloat16 after
_CODE_NAMES = {_CODE_INT: "int", _CODE_UINT: "uint", _CODE_FLOAT: "float", _CODE_BFLOAT: "bfloat", _CODE_BOOL: "bool"}


def _open_capsule(capsule):
    """The capsule's struct (consumed: renamed `used_...`) and whether it is a versioned one."""
    for name, used, struct in ((_VERSIONED_NAME, _USED_VERSIONED_NAME, DLManagedTensorVersioned),
                               (_NAME, _USED_NAME, DLManagedTensor)):
        if _capsule_is_valid(capsule, name):
            managed = struct.from_address(_capsule_get_pointer(capsule, name))
            if struct is DLManagedTensorVersioned and managed.version.major > VERSION[0]:
                raise BufferError(f"DLPack version {managed.version.major}.{managed.version.minor} is not "
                                  f"supported (the newest this framework reads is {VERSION[0]}.{VERSION[1]})")
            _capsule_set_name(capsule, used)
            return managed, struct is DLManagedTensorVersioned
    raise RuntimeError("from_dlpack received an invalid capsule. Note that DLTensor capsules can be consumed only "
                       "once, so you might have already constructed a tensor from it once.")


def _target_device(kind):
    if kind == DLDeviceType.kDLCPU:
        return CPU
    if kind == DLDeviceType.kDLCUDAHost:  # host memory: the interpreter's `cuda` memory, or pinned host memory
        from ..backends.cuda.runtime import interpreter_requested
        return _device("cuda", 0) if interpreter_requested() and _interpreted() else CPU
    if kind == DLDeviceType.kDLCUDA:
        if _interpreted():
            raise BufferError("Can't import kDLCUDA memory: framework's `cuda` device runs in Triton's interpreter "
                              "on host memory (TRITON_INTERPRET=1), so it cannot read GPU memory")
        return _device("cuda", 0)
    raise BufferError(f"Unsupported device_type: {int(kind)}")


def _tensor_from_capsule(capsule):
    from ..tensor import Tensor
    managed, versioned = _open_capsule(capsule)
    owner_struct = managed  # whatever goes wrong below, the producer's memory must be released
    try:
        dl = managed.dl_tensor
        code, bits, lanes = dl.dtype.code, dl.dtype.bits, dl.dtype.lanes
        typestr = _TYPESTR.get((code, bits))
        if typestr is None or lanes != 1:
            kind = _CODE_NAMES.get(code, f"type code {code}")
            raise TypeError(f"framework has no dtype for the DLPack dtype {kind}{bits}"
                            f"{f' x{lanes} lanes' if lanes != 1 else ''}; it holds float64, float32, float16, "
                            "bfloat16, int64, int32, int16, int8, uint8 and bool")
        device = _target_device(dl.device.device_type)
        if device.type == "cuda" and dl.device.device_id != 0:
            raise BufferError(f"Can't import a tensor on CUDA device {dl.device.device_id}: framework's `cuda` "
                              "is device 0")
        ndim = dl.ndim
        shape = tuple(dl.shape[i] for i in range(ndim))
        itemsize = bits // 8
        strides = tuple(dl.strides[i] for i in range(ndim)) if dl.strides and ndim else None
        if strides is not None and any(s < 0 for s in strides):
            raise ValueError("At least one stride in the given DLPack tensor is negative, and tensors with negative "
                             "strides are not currently supported. (You can probably work around this by making a "
                             "copy of it first.)")
        read_only = versioned and bool(managed.flags & FLAG_READ_ONLY)
        address = (dl.data or 0) + dl.byte_offset
        byte_strides = None if strides is None else tuple(s * itemsize for s in strides)
        owner, owner_struct = _Owner(managed, typestr, shape, byte_strides, address, read_only), None
    finally:
        if owner_struct is not None and owner_struct.deleter:
            owner_struct.deleter(ctypes.pointer(owner_struct))
    if device.type == "cuda" and not _interpreted():
        np_dtype = dtypes.bfloat16.np if code == _CODE_BFLOAT else np.dtype(typestr)
        return Tensor._from_raw(_device_array(owner, address, shape, strides, np_dtype), device)
    array = np.asarray(owner)
    if code == _CODE_BFLOAT:
        array = array.view(dtypes.bfloat16.np)
    if device.type == "cuda":  # the interpreter's device memory is host memory: the same bytes, as a CudaArray
        return Tensor._from_raw(_host_device_array(owner, array), device)
    return Tensor._from_raw(array, CPU)


def _extent(shape, strides, itemsize):
    """Bytes from the first element to one past the last one (strides in elements, non-negative)."""
    if any(s == 0 for s in shape):
        return 0
    return (sum((n - 1) * s for n, s in zip(shape, strides)) + 1) * itemsize


def _device_array(owner, address, shape, strides, np_dtype):
    from ..backends.cuda.array import CudaArray, contiguous_strides
    strides = contiguous_strides(shape) if strides is None else strides
    storage = ForeignStorage(address, _extent(shape, strides, np_dtype.itemsize), owner)
    return CudaArray(storage, shape, strides, 0, np_dtype)


def _host_device_array(owner, array):
    from ..backends.cuda.array import CudaArray
    item = array.itemsize
    strides = tuple(s // item for s in array.strides)
    span = _extent(array.shape, strides, item)
    host = np.frombuffer((ctypes.c_uint8 * max(span, 1)).from_address(array.ctypes.data), np.uint8) if span else \
        np.empty(1, np.uint8)
    storage = ForeignStorage(host.ctypes.data, span, owner, host)
    return CudaArray(storage, array.shape, strides, 0, array.dtype)


class ForeignStorage:
    """A `cuda` storage whose memory another library owns: `owner` (the producer's deleter) keeps it alive.
    Shaped like memory.Storage (`address`, `nbytes`, `host`); not counted in framework's memory statistics."""

    __slots__ = ("address", "nbytes", "host", "owner")

    def __init__(self, address, nbytes, owner, host=None):
        self.address, self.nbytes, self.owner, self.host = address, nbytes, owner, host


def _consumer_stream(kind):
    """The stream a producer of `kind` memory must order its work before: ours, on a GPU."""
    if kind != DLDeviceType.kDLCUDA or _interpreted():
        return None
    from ..backends.cuda.runtime import runtime
    return runtime().stream_handle


def from_dlpack(ext_tensor):
    """A tensor sharing the memory of `ext_tensor`: an object with `__dlpack__` (a NumPy array, a PyTorch, JAX
    or CuPy tensor, a framework tensor) or a DLPack capsule (from `to_dlpack`), as `torch.from_dlpack`."""
    if hasattr(ext_tensor, "__dlpack__"):
        kind = ext_tensor.__dlpack_device__()[0]
        kwargs = {"max_version": VERSION}
        stream = _consumer_stream(kind)
        if stream is not None:
            kwargs["stream"] = stream
        try:
            capsule = ext_tensor.__dlpack__(**kwargs)
        except TypeError:  # a producer older than DLPack 1.0 takes no max_version
            kwargs.pop("max_version")
            capsule = ext_tensor.__dlpack__(**kwargs)
        return _tensor_from_capsule(capsule)
    if type(ext_tensor).__name__ != "PyCapsule":
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ or a DLPack capsule, got "
                        f"{type(ext_tensor).__name__}")
    return _tensor_from_capsule(ext_tensor)
