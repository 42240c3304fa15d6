"""CudaArray (framework/backends/cuda/array.py): views agree with numpy's, copies round-trip, and the object is
a valid kernel argument. Runs on the cuda device present (the interpreter-served one in CI)."""
import ml_dtypes
import numpy as np
import pytest

from helpers import requires_cuda

pytestmark = requires_cuda


@pytest.fixture
def cuda_array():
    from framework.backends.cuda import array
    return array


def _device(array_module, host):
    return array_module.from_numpy(host)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64", "int64", "int8", "bool"])
def test_round_trip_keeps_values_and_dtype(cuda_array, dtype, rng):
    np_dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    host = (rng.standard_normal((3, 5)) * 10).astype(np_dtype)
    back = _device(cuda_array, host).to_numpy()
    assert back.dtype == np_dtype and back.shape == (3, 5)
    np.testing.assert_array_equal(back, host)


def test_zero_dim_and_empty_arrays(cuda_array):
    scalar = _device(cuda_array, np.array(2.5, np.float32))
    assert scalar.shape == () and scalar.to_numpy() == 2.5
    empty = _device(cuda_array, np.zeros((0, 4), np.float32))
    assert empty.shape == (0, 4) and empty.size == 0 and empty.to_numpy().shape == (0, 4)


@pytest.mark.parametrize("key", [
    1, -1, slice(1, None), (slice(None), 2), (Ellipsis, slice(None, None, 2)), (None, 0, slice(1, 3)),
    (slice(None), None, slice(None, None, 3)), (slice(5, 1),), (0, 0, 0),
])
def test_basic_indexing_views_match_numpy(cuda_array, key, rng):
    host = rng.standard_normal((3, 4, 6)).astype(np.float32)
    device = _device(cuda_array, host)
    view = device[key]
    assert view.storage is device.storage  # a view, not a copy
    assert view.shape == host[key].shape
    np.testing.assert_array_equal(view.to_numpy(), host[key])


def test_index_out_of_range_is_an_index_error(cuda_array):
    device = _device(cuda_array, np.zeros((3, 4), np.float32))
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        device[3]


@pytest.mark.parametrize("source,shape", [
    ("contiguous", (4, 6)), ("contiguous", (2, 2, 6)), ("transposed", (24,)), ("sliced", (3, 2)),
    ("transposed", (6, 4)), ("sliced-rows", (2, 3, 2)), ("sliced-rows", (12,)),
])
def test_reshape_views_when_layout_allows_and_copies_otherwise(cuda_array, source, shape, rng):
    host = rng.standard_normal((4, 6)).astype(np.float32)
    device = _device(cuda_array, host)
    if source == "transposed":
        host, device = host.T, device.transpose()
    elif source == "sliced":
        host, device = host[::2, ::2], device[::2, ::2]
    elif source == "sliced-rows":
        host, device = host[::2], device[::2]
    try:
        host.reshape(shape, copy=False)
        numpy_views = True
    except ValueError:
        numpy_views = False
    view = device.reshape_view(shape)
    assert (view is not None) == numpy_views
    np.testing.assert_array_equal(device.reshape(shape).to_numpy(), host.reshape(shape))


def test_broadcast_to_uses_zero_strides(cuda_array):
    device = _device(cuda_array, np.arange(3, dtype=np.int64).reshape(3, 1))
    wide = device.broadcast_to((2, 3, 4))
    assert wide.stride() == (0, 1, 0) and not wide.is_contiguous()
    np.testing.assert_array_equal(wide.to_numpy(), np.broadcast_to(np.arange(3).reshape(3, 1), (2, 3, 4)))
    with pytest.raises(ValueError, match="cannot broadcast"):
        device.broadcast_to((2, 2))


def test_numpy_style_metadata(cuda_array):
    device = _device(cuda_array, np.zeros((2, 3), np.float64))
    assert device.strides == (24, 8) and device.stride() == (3, 1) and device.itemsize == 8
    assert device.size == 6 and device.nbytes == 48 and device.ndim == 2 and device.flags.c_contiguous
    assert device.transpose().strides == (8, 24) and not device.transpose().flags.c_contiguous
    assert device[:, 1:].data_ptr() == device.data_ptr() + 8
