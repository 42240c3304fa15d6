"""DLPack exchange (framework/utils/dlpack.py): zero-copy both ways with NumPy and PyTorch, capsules' lifetime,
layouts and dtypes, the protocol's errors, and `cuda` under the interpreter (host memory: kDLCUDAHost).
The GPU handshake (kDLCUDA pointers, stream ordering) is tested on the fake driver in
tests/backends/cuda/test_dlpack_driver.py."""
import gc

import numpy as np
import pytest

import framework as fw
from framework.utils import dlpack

from helpers import DEVICES, np_dtype

try:
    import torch
except ImportError:  # PyTorch is only an oracle: its round trips are skipped without it
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the other side of the exchange) is not installed")
ALL_DTYPES = ["float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"]


def _values(rng, shape, name):
    if name == "bool":
        return rng.random(shape) < 0.5
    if name in ("int8", "int16", "int32", "int64", "uint8"):
        return rng.integers(0, 100, shape).astype(name)
    return rng.standard_normal(shape).astype(np_dtype(name))


def _exports():
    return len(dlpack._EXPORTED)


# ---- NumPy ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [name for name in ALL_DTYPES if name != "bfloat16"])
def test_numpy_round_trip_shares_memory_every_dtype(rng, name):
    values = _values(rng, (3, 5), name)
    t = fw.from_numpy(values.copy())
    a = np.from_dlpack(t)
    assert a.dtype == t.numpy().dtype and a.shape == (3, 5)
    assert np.shares_memory(a, t.numpy())
    np.testing.assert_array_equal(a, values)
    back = fw.from_dlpack(a)
    assert back.dtype is t.dtype and np.shares_memory(back.numpy(), t.numpy())
    a[1, 2] = a[0, 0]  # a write through numpy shows through both tensors
    assert t[1, 2].item() == t[0, 0].item() and back[1, 2].item() == t[0, 0].item()


def test_bfloat16_which_numpy_cannot_import_is_released():
    gc.collect()
    before = _exports()
    t = fw.arange(3.0).bfloat16()
    with pytest.raises(RuntimeError, match="Unsupported dtype"):  # NumPy's DLPack has no bfloat16 (ml_dtypes' is not)
        np.from_dlpack(t)
    gc.collect()
    assert _exports() == before
    back = fw.from_dlpack(t)  # framework reads its own (and PyTorch's) kDLBfloat
    assert back.dtype is fw.bfloat16 and back.numpy().ctypes.data == t.numpy().ctypes.data


def test_write_through_framework_is_visible_in_numpy(rng):
    source = rng.standard_normal((4, 3))
    t = fw.from_dlpack(source)
    t.mul_(2.0)
    np.testing.assert_array_equal(source, t.numpy())
    assert np.shares_memory(source, t.numpy())


@pytest.mark.parametrize("view", ["transposed", "sliced", "offset", "size0", "size1", "scalar", "broadcast"])
def test_strides_and_offsets_survive_both_ways(rng, view):
    base = rng.standard_normal((6, 8)).astype(np.float32)
    make = {"transposed": lambda a: a.T, "sliced": lambda a: a[1::2, ::3], "offset": lambda a: a[2:, 3:5],
            "size0": lambda a: a[:0], "size1": lambda a: a[3:4, 2:3], "scalar": lambda a: a[2:3, 5:6].reshape(()),
            "broadcast": lambda a: np.broadcast_to(a[:1], (6, 8))}[view]
    array = make(base)
    t = fw.from_dlpack(array)
    assert t.shape == array.shape and t.stride() == tuple(s // 4 for s in array.strides)
    np.testing.assert_array_equal(t.numpy(), array)
    out = np.from_dlpack(make(fw.from_numpy(base)))
    np.testing.assert_array_equal(out, array)
    if array.size:
        assert np.shares_memory(out, base)


def test_read_only_arrays_import_read_only_and_export_only_versioned():
    source = np.arange(5.0)
    source.flags.writeable = False
    t = fw.from_dlpack(source)  # NumPy signals read-only in a DLPack 1.0 capsule
    assert not t.numpy().flags.writeable and np.shares_memory(t.numpy(), source)
    with pytest.raises(RuntimeError, match="memory is read-only"):
        t.add_(1.0)
    with pytest.raises(BufferError, match="readonly"):
        t.__dlpack__()  # a legacy capsule cannot say read-only
    assert not np.from_dlpack(t).flags.writeable


def test_negative_strides_are_refused_clearly():
    with pytest.raises(ValueError, match="negative"):
        fw.from_dlpack(np.arange(6.0)[::-1])


def test_asarray_is_a_view_with_pytorchs_rules():
    t = fw.arange(6.0).reshape(2, 3)
    assert np.asarray(t) is t.numpy()
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert not np.shares_memory(np.array(t, copy=True), t.numpy())
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        np.asarray(fw.ones(2, requires_grad=True))
    assert np.asarray(fw.ones(2, requires_grad=True).detach()).tolist() == [1.0, 1.0]


# ---- capsules and their lifetime -----------------------------------------------------------------------------

def test_legacy_capsule_is_consumed_once():
    t = fw.arange(4)
    capsule = dlpack.to_dlpack(t)
    assert "dltensor" in repr(capsule)
    u = fw.utils.dlpack.from_dlpack(capsule)
    u[0] = 9
    assert t.tolist() == [9, 1, 2, 3]
    with pytest.raises(RuntimeError, match="consumed only once"):
        fw.from_dlpack(capsule)
    assert "used_dltensor" in repr(capsule)


def test_versioned_capsule_says_copied_and_read_only():
    t = fw.arange(3.0)
    capsule = t.__dlpack__(max_version=(1, 0), copy=True)
    assert "dltensor_versioned" in repr(capsule)
    managed, versioned = dlpack._open_capsule(capsule)
    assert versioned and (managed.version.major, managed.version.minor) == (1, 0)
    assert managed.flags & dlpack.FLAG_IS_COPIED and not managed.flags & dlpack.FLAG_READ_ONLY
    assert managed.dl_tensor.data != t.numpy().ctypes.data  # a copy, as asked
    managed.deleter(managed)  # we consumed it: releasing is ours


def test_exported_memory_lives_as_long_as_the_consumer():
    gc.collect()
    before = _exports()
    t = fw.arange(1000.0)
    a = np.from_dlpack(t)
    del t
    gc.collect()
    assert _exports() == before + 1  # numpy holds the capsule's struct: the memory stays
    assert a[999] == 999.0 and a.sum() == 499500.0
    del a
    gc.collect()
    assert _exports() == before


def test_imported_memory_lives_as_long_as_the_tensor_and_is_released_after():
    gc.collect()
    before = _exports()
    producer = fw.arange(5.0)
    t = fw.from_dlpack(producer)  # framework on both sides: its own deleter tells when the consumer let go
    del producer
    gc.collect()
    assert _exports() == before + 1 and t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    view = t[2:]
    del t
    gc.collect()
    assert _exports() == before + 1 and view.tolist() == [2.0, 3.0, 4.0]  # a view holds it too
    del view
    gc.collect()
    assert _exports() == before


def test_a_capsule_the_user_holds_survives_sweeps_until_consumed():
    t = fw.arange(3.0)
    capsule = dlpack.to_dlpack(t)
    other = fw.arange(2).__dlpack__()  # another export sweeps the registry; so does a garbage collection
    gc.collect()
    assert fw.from_dlpack(capsule).tolist() == [0.0, 1.0, 2.0]
    del other


def test_unconsumed_capsules_release_their_export():
    gc.collect()
    before = _exports()
    for versioned in (None, (1, 0)):
        capsule = fw.arange(3).__dlpack__(max_version=versioned)
        assert _exports() == before + 1
        del capsule
        gc.collect()
        assert _exports() == before


# ---- bad input -----------------------------------------------------------------------------------------------

def test_protocol_errors_match_pytorch():
    with pytest.raises(BufferError, match="Can't export tensors that require gradient, use tensor.detach\\(\\)"):
        fw.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(AssertionError, match="stream should be None on cpu."):
        fw.ones(2).__dlpack__(stream=5)
    with pytest.raises(TypeError, match="stream must be ``int`` or ``none``"):
        fw.ones(2).__dlpack__(stream="default")
    with pytest.raises(TypeError, match="expected an object with __dlpack__ or a DLPack capsule, got list"):
        fw.from_dlpack([1, 2])
    assert fw.ones(2).__dlpack_device__() == (dlpack.DLDeviceType.kDLCPU, 0)


def test_a_dtype_the_framework_lacks_is_refused_and_released():
    gc.collect()
    before = _exports()
    with pytest.raises(TypeError, match="framework has no dtype for the DLPack dtype uint16"):
        fw.from_dlpack(np.zeros(3, np.uint16))
    with pytest.raises(TypeError, match="DLPack dtype type code 5"):  # complex
        fw.from_dlpack(np.zeros(3, np.complex64))
    capsule = fw.arange(3).__dlpack__(max_version=(1, 0))  # a capsule of ours, retyped as float8: refused ...
    managed = dlpack.DLManagedTensorVersioned.from_address(dlpack._capsule_get_pointer(capsule, dlpack._VERSIONED_NAME))
    managed.dl_tensor.dtype.code, managed.dl_tensor.dtype.bits = dlpack._CODE_FLOAT, 8
    with pytest.raises(TypeError, match="float8"):
        fw.from_dlpack(capsule)
    del capsule, managed
    gc.collect()
    assert _exports() == before  # ... and its memory released all the same


def test_an_unsupported_device_is_refused():
    capsule = fw.arange(3).__dlpack__()
    managed = dlpack.DLManagedTensor.from_address(dlpack._capsule_get_pointer(capsule, dlpack._NAME))
    managed.dl_tensor.device.device_type = dlpack.DLDeviceType.kDLVulkan
    with pytest.raises(BufferError, match="Unsupported device_type: 7"):
        fw.from_dlpack(capsule)


def test_dl_device_and_copy_requests():
    t = fw.arange(4.0)
    assert np.shares_memory(np.from_dlpack(t, copy=False), t.numpy())
    assert not np.shares_memory(np.from_dlpack(t, copy=True), t.numpy())
    with pytest.raises(BufferError, match="Unsupported dl_device"):
        t.__dlpack__(dl_device=(dlpack.DLDeviceType.kDLCUDA, 0))


def test_tensor_and_as_tensor_accept_dlpack_exporters():
    class Exporter:  # any object speaking the protocol (a JAX or CuPy array would)
        def __init__(self, array):
            self.array = array

        def __dlpack__(self, **kwargs):
            return self.array.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.array.__dlpack_device__()

    source = np.arange(6, dtype=np.int32).reshape(2, 3)
    copied = fw.tensor(Exporter(source), dtype=fw.float32)
    shared = fw.as_tensor(Exporter(source))
    source[0, 0] = 100
    assert copied.dtype is fw.float32 and copied[0, 0].item() == 0.0
    assert shared.dtype is fw.int32 and shared[0, 0].item() == 100


# ---- PyTorch -------------------------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("name", ALL_DTYPES)
def test_pytorch_round_trip_shares_memory_every_dtype(rng, name):
    values = _values(rng, (4, 3), name)
    ours = fw.from_numpy(values.copy())
    theirs = torch.from_dlpack(ours)
    assert str(theirs.dtype) == f"torch.{name}" and theirs.shape == (4, 3)
    np.testing.assert_array_equal(theirs.float().numpy() if name == "bfloat16" else theirs.numpy(),
                                  values.astype(np.float32) if name == "bfloat16" else values)
    assert theirs.data_ptr() == ours.numpy().ctypes.data
    back = fw.from_dlpack(theirs)
    assert back.dtype is ours.dtype and back.numpy().ctypes.data == theirs.data_ptr()
    theirs[2, 1] = theirs[0, 0]
    assert ours[2, 1].tolist() == ours[0, 0].tolist() == back[2, 1].tolist()


@needs_torch
def test_pytorch_views_and_legacy_capsules():
    base = torch.arange(24.0).reshape(4, 6)
    view = base[1:, ::2].t()
    ours = fw.from_dlpack(view)
    assert ours.shape == view.shape and ours.stride() == view.stride()
    np.testing.assert_array_equal(ours.numpy(), view.numpy())
    ours.zero_()
    assert base[1:, ::2].sum().item() == 0.0 and base[0].sum().item() == 15.0
    legacy = fw.from_dlpack(torch.utils.dlpack.to_dlpack(torch.arange(3)))
    assert legacy.tolist() == [0, 1, 2]
    theirs = torch.utils.dlpack.from_dlpack(fw.utils.dlpack.to_dlpack(fw.arange(3.0)[1:]))
    assert theirs.tolist() == [1.0, 2.0]


@needs_torch
def test_torch_tensor_into_framework_tensor_copies():
    source = torch.arange(4.0)
    copied = fw.tensor(source)
    source[0] = 7
    assert copied.tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(BufferError, match="Can't export tensors that require gradient"):
        fw.from_dlpack(torch.ones(2, requires_grad=True))


# ---- cuda under the interpreter: host memory, honestly kDLCUDAHost --------------------------------------------

@pytest.mark.skipif("cuda" not in DEVICES, reason="no cuda device (neither a GPU nor Triton's interpreter)")
def test_cuda_tensors_exchange_their_memory():
    from framework.backends.cuda.runtime import runtime
    t = fw.arange(12.0, device="cuda").reshape(3, 4)
    if hasattr(runtime(), "stream_handle"):  # a GPU: device pointers, which NumPy cannot read
        assert t.__dlpack_device__() == (dlpack.DLDeviceType.kDLCUDA, 0)
        back = fw.from_dlpack(t)
        assert back.device == t.device and back._data.data_ptr() == t._data.data_ptr()
        back[0, 0] = 5.0
        assert t[0, 0].item() == 5.0
        return
    assert t.__dlpack_device__() == (dlpack.DLDeviceType.kDLCUDAHost, 0)
    host = np.from_dlpack(t)  # the interpreter's device memory is host memory: NumPy reads it in place
    host[1, 2] = -1.0
    assert t[1, 2].item() == -1.0
    view = fw.from_dlpack(t.t()[1:])
    assert view.device == t.device and view.stride() == (1, 4)
    view.mul_(10.0)
    assert t[0].tolist() == [0.0, 10.0, 20.0, 30.0]
    np.testing.assert_array_equal(fw.from_dlpack(t.bfloat16()).float().cpu().numpy(), t.cpu().numpy())
    copied = fw.from_dlpack(t.__dlpack__(dl_device=(dlpack.DLDeviceType.kDLCPU, 0)))
    assert copied.device.type == "cpu" and copied.tolist() == t.tolist()
    with pytest.raises(BufferError, match="without copying"):
        t.__dlpack__(dl_device=(dlpack.DLDeviceType.kDLCPU, 0), copy=False)
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        np.asarray(t)


@pytest.mark.skipif("cuda" not in DEVICES, reason="no cuda device (neither a GPU nor Triton's interpreter)")
def test_interpreter_refuses_gpu_pointers():
    from framework.backends.cuda.runtime import runtime
    if hasattr(runtime(), "stream_handle"):
        pytest.skip("a real GPU reads kDLCUDA pointers")
    capsule = fw.arange(3).__dlpack__()
    managed = dlpack.DLManagedTensor.from_address(dlpack._capsule_get_pointer(capsule, dlpack._NAME))
    managed.dl_tensor.device.device_type = dlpack.DLDeviceType.kDLCUDA
    with pytest.raises(BufferError, match="Triton's interpreter on host memory"):
        fw.from_dlpack(capsule)
