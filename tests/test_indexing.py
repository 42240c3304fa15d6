"""Indexing against numpy (float64 reference) and PyTorch: x[key], x[key] = v, and the index functions.

Keys are written once with numpy arrays for index tensors; `_key(..., lib)` turns them into framework or
torch tensors. Gradients of x[key] are checked against the numpy scatter-add of a random upstream
gradient over the positions that key reads (np.bincount of an index map), so duplicates accumulate.
"""
import warnings

import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, requires_cuda, assert_close, check_op, gradcheck, make_torch, random_array, raises_like_torch
from helpers import torch

A = np.array


def _key(key, lib, device="cpu"):
    """Numpy arrays in `key` as tensors of `lib` (fw on `device`, or torch); everything else as is."""
    if isinstance(key, tuple):
        return tuple(_key(k, lib, device) for k in key)
    if isinstance(key, np.ndarray):
        return fw.tensor(key, device=device) if lib is fw else torch.from_numpy(key.copy())
    return key


def _m(*values):
    return np.array(values, dtype=bool)


# (shape, key, numpy function when numpy's placement differs from PyTorch's ints-first rule)
GETITEM_CASES = [
    ((3, 4, 5), 0, None), ((3, 4, 5), -1, None), ((3, 4, 5), (1, 2), None), ((3, 4, 5), (1, -2, 3), None),
    ((3, 4, 5), slice(1, 3), None), ((3, 4, 5), slice(None, None, 2), None), ((3, 4, 5), slice(5, 9), None),
    ((3, 4, 5), slice(-10, 2), None), ((3, 4, 5), slice(2, 1), None),
    ((3, 4, 5), (slice(None), slice(1, None, 3)), None),
    ((3, 4, 5), None, None), ((3, 4, 5), (None, 0), None), ((3, 4, 5), (Ellipsis, None), None),
    ((3, 4, 5), (0, Ellipsis, 1), None), ((3, 4, 5), Ellipsis, None), ((3, 4, 5), (slice(None),) * 3, None),
    ((3, 4, 5), A(1), None), ((3, 4, 5), (A(2), slice(1, 3)), None),
    ((3, 4, 5), A([0, 2]), None), ((3, 4, 5), A([[0, 1], [2, 2]]), None), ((3, 4, 5), (A([0, 1]), A([1, 3])), None),
    ((3, 4, 5), (slice(None), A([0, 0, 3])), None), ((3, 4, 5), (A([2, 0, 2]), slice(None), A([1, 1, 4])), None),
    ((3, 4, 5), (0, slice(None), A([0, 1])), lambda a: a[0][:, [0, 1]]),
    ((3, 4, 5), (slice(None), A([0, 3]), slice(None), ), None), ((3, 4, 5), (slice(None), A([1, 0]), 0), None),
    ((2, 4, 5, 3), (slice(None), A([1, 2]), slice(1, 4), -1), lambda a: a[..., -1][:, [1, 2], 1:4]),
    ((3, 4, 5), (Ellipsis, A([1, -1])), None), ((3, 4, 5), (None, A([0, 1])), None),
    ((3, 4, 5), (A([0, 1]), None, A([0, 1])), None), ((3, 4, 5), (slice(1, 3), A([[0], [3]]), A([1, 2])), None),
    ((3, 4, 5), (A([-1, 0]), A([-4, 3]), A([[4], [0]])), None), ((3, 4, 5), A([], dtype=np.int64), None),
    ((3, 4, 5), A([1, 2], dtype=np.int32), None), ((3, 4, 5), True, None), ((3, 4, 5), False, None),
    ((3, 4, 5), (0, True), lambda a: a[0][None]),
    ((3, 4, 5), _m(True, False, True), None), ((3, 4, 5), (slice(None), _m(False, True, True, False)), None),
    ((3, 4, 5), (_m(True, False, True), 0), lambda a: a[:, 0][[0, 2]]),
    ((3, 4, 5), (_m(True, False, True), A([1, 2])), None),
    ((3, 4, 5), (1, _m(True, False, True, True), slice(None, None, 2)), lambda a: a[1][[0, 2, 3], ::2]),
    ((0, 3), A([], dtype=np.int64), None), ((0, 3), (slice(None), A([0, 2])), None), ((3, 0), A([0, 2]), None),
    ((3, 0), (slice(None), slice(1, None)), None), ((1, 1, 4), (0, 0, A([3, 0, 3])), None),
    ((1, 1, 4), (A([0, 0]),), None),
    ((0,), _m(), None), ((1,), (None, 0, None), None), ((), None, None), ((), Ellipsis, None), ((), (), None),
    ((), True, None), ((6,), slice(1, None, 4), None), ((2, 3, 1, 2), (Ellipsis, 0, A([1, 0])), None),
]


def _positions_read(shape, key, np_fn):
    """For every element of x[key], the flat position of x it reads."""
    positions = np.arange(int(np.prod(shape))).reshape(shape)
    return np.asarray(np_fn(positions) if np_fn else positions[key])


def _leaf_and_input(values, noncontiguous, device="cpu"):
    """A leaf holding `values` and the tensor to index: the leaf, or a transposed (non-contiguous) view of it."""
    if not noncontiguous or values.ndim < 2:
        leaf = fw.tensor(values, requires_grad=True, device=device)
        return leaf, leaf, lambda g: g
    order = tuple(range(values.ndim))[::-1]
    leaf = fw.tensor(np.ascontiguousarray(values.transpose(order)), requires_grad=True, device=device)
    x = leaf.permute(*order)
    assert not x.is_contiguous() or sum(s > 1 for s in values.shape) < 2
    return leaf, x, lambda g: g.transpose(order)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("noncontiguous", [False, True])
@pytest.mark.parametrize("shape,key,np_fn", GETITEM_CASES, ids=[f"{c[0]}-{c[1]!r}" for c in GETITEM_CASES])
def test_getitem_values_and_grads(rng, shape, key, np_fn, noncontiguous, device):
    values = random_array(rng, shape, "float64")
    leaf, x, leaf_grad_as_x = _leaf_and_input(values, noncontiguous, device)
    out = x[_key(key, fw, device)]
    assert out.device == x.device
    expected = np.asarray(np_fn(values) if np_fn else values[key])
    assert_close(out, expected, fw.float64, what="value")
    upstream = random_array(rng, expected.shape, "float64")
    out.backward(fw.tensor(upstream, device=device))
    read = _positions_read(shape, key, np_fn)
    grad = np.bincount(read.ravel(), weights=upstream.ravel(), minlength=values.size).reshape(shape)
    assert_close(leaf_grad_as_x(leaf.grad.cpu().numpy()), grad, fw.float64, what="grad")
    if torch is not None:
        t = make_torch(values, requires_grad=True)
        t_out = t[_key(key, torch)]
        assert tuple(out.shape) == tuple(t_out.shape)
        assert_close(out, t_out, fw.float64, what="value vs torch")
        assert out.grad_fn.name() == type(t_out.grad_fn).__name__
        t_out.backward(make_torch(upstream))
        assert_close(leaf_grad_as_x(leaf.grad.cpu().numpy()), t.grad, fw.float64, what="grad vs torch")
        assert (out._base is not None) == (t_out._base is not None), "a view where PyTorch makes a copy, or back"


# Keys of Python data, given as they are (not turned into tensors): PyTorch reads a range, a list or a numpy array
# as an int64 index (floats truncated, numpy's int8/int16 widened), as a mask when its elements are bools (or
# numpy's uint8), and a short list holding a sequence, a slice, None or `...` as a tuple.
PYTHON_KEYS = {
    "range": range(2), "range_step": range(0, 3, 2), "range_backwards": range(2, -1, -1), "empty_range": range(0),
    "ranges": (range(2), range(1, 3)), "range_and_list": (range(3), [0, 1, 2]), "slice_then_range": (slice(None),
                                                                                                      range(2)),
    "list": [0, 2], "negative_list": [-1, -3], "nested_list": [[0, 1], [2, 0]], "tuple_of_lists": ([0, 1], [1, 2]),
    "tuple_of_tuples": ((0, 1), (1, 2)), "list_of_ranges": [range(2), range(1, 3)], "list_with_slice": [slice(None), 0],
    "list_with_none": [None, 0], "list_with_ellipsis": [Ellipsis, 0], "list_of_32_lists": [[0]] * 32,
    "bool_list": [True, False, True], "bool_and_int_list": [True, 1], "float_list": [0.5, 2.7],
    "numpy": np.array([0, 2]), "numpy_2d": np.array([[0, 1], [1, 2]]), "numpy_int8": np.array([1, 0], np.int8),
    "numpy_int16": np.array([2], np.int16), "numpy_float": np.array([1.0]), "numpy_bool": np.array([True, False, True]),
    "numpy_int_scalar": np.int64(1), "numpy_0d": np.array(2), "none_list_slice_list": (None, [0, 1], slice(None), [1, 2]),
    "ellipsis_list": (Ellipsis, [0, 1]), "lists_apart": ([0, 1], slice(None), [1, 2]), "lists_around_none": ([0, 1],
                                                                                                           None, [1, 2]),
    "int_slice_list": (0, slice(None), [1, 2]), "list_int_list": ([0, 1], 1, [1, 2]),
    "ellipsis_none_list": (Ellipsis, None, [0, 1]), "list_ellipsis_list": ([0, 1], Ellipsis, [0, 1]),
    "bool_then_list": (True, [0, 1]), "list_bools_list": ([True, False, True], [0, 1]),
    "nested_bool_rows": [[True, False, True, False], [False] * 4, [True] * 4],
}
# Keys PyTorch refuses, with its IndexError (a list of three bool rows reads as a tuple of three masks)
PYTHON_KEYS_REFUSED = {"nested_bool_rows": "The shape of the mask [4] at index 0 does not match the shape of the "
                                           "indexed tensor [3, 4, 5] at index 0"}


def _python_key_call(key):
    return lambda L, d: (L.arange(60.0, device=d) if L is fw else L.arange(60.0)).reshape(3, 4, 5)[key]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(PYTHON_KEYS))
def test_python_data_keys_as_pytorch(name, device):
    key = PYTHON_KEYS[name]
    values = np.arange(60.0).reshape(3, 4, 5)
    leaf = fw.tensor(values, requires_grad=True, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation of list keys read as tuples, checked below
        if torch is None:
            if name in PYTHON_KEYS_REFUSED:
                with pytest.raises(IndexError) as info:
                    leaf[key]
                assert str(info.value) == PYTHON_KEYS_REFUSED[name]
            else:
                leaf[key]
            return
        t_leaf = torch.tensor(values, requires_grad=True)
        try:
            t_out = t_leaf[key]
            assert name not in PYTHON_KEYS_REFUSED, f"PyTorch now accepts {name}: take it off PYTHON_KEYS_REFUSED"
        except IndexError as error:
            assert str(error) == PYTHON_KEYS_REFUSED.get(name), "PyTorch refuses a key: list it in PYTHON_KEYS_REFUSED"
            with pytest.raises(IndexError) as info:
                leaf[key]
            assert str(info.value) == str(error)
            return
        out = leaf[key]
    assert out.device == leaf.device and tuple(out.shape) == tuple(t_out.shape)
    assert_close(out, t_out, fw.float64, what="value vs torch")
    assert (out._base is not None) == (t_out._base is not None), "a view where PyTorch makes a copy, or back"
    upstream = np.random.default_rng(0).normal(size=tuple(out.shape))
    out.backward(fw.tensor(upstream, device=device))
    t_out.backward(torch.from_numpy(upstream))
    assert_close(leaf.grad, t_leaf.grad, fw.float64, what="grad vs torch")


def test_list_keys_read_as_tuples_warn_as_pytorch():
    x = fw.zeros(3, 4)
    for key in ([[0, 1], [1, 2]], [slice(None), 0], [None, 0], [fw.tensor(0), 1]):
        with pytest.warns(UserWarning, match="Using a non-tuple sequence for multidimensional indexing is deprecated"):
            x[key]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x[[0, 1]], x[[[0]] * 32], x[range(2)], x[np.array([[0, 1]])]  # one index each: no warning
    with pytest.warns(UserWarning, match="indexing with dtype framework.uint8 is now deprecated"):
        assert x[fw.tensor([1, 0, 1], dtype=fw.uint8)].shape == (2, 4)


@pytest.mark.parametrize("dtype", ["int8", "int16", "uint8", "int32", "int64", "bool"])
def test_index_tensors_of_every_integer_dtype(dtype):
    """int32/int64 index, bool/uint8 mask (uint8 deprecated), int8/int16 refused; 0-dim ones of any integer dtype
    select (a uint8 one masks)."""
    x = fw.arange(12.0).reshape(3, 4)
    values = np.array([1, 0, 1], dtype=dtype)
    call = lambda L, t: (L.arange(12.0).reshape(3, 4))[t]  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index in (values, values[0]):
            if torch is None:
                if dtype in ("int8", "int16") and np.ndim(index):
                    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool"):
                        call(fw, fw.tensor(index))
                else:
                    call(fw, fw.tensor(index))
                continue
            try:
                expected = call(torch, torch.tensor(index))
            except IndexError as error:
                with pytest.raises(IndexError, match=str(error)):
                    call(fw, fw.tensor(index))
                continue
            got = call(fw, fw.tensor(index))
            assert tuple(got.shape) == tuple(expected.shape) and got.tolist() == expected.tolist()
            assert (got._base is not None) == (expected._base is not None)
        assert x[fw.tensor(1, dtype=getattr(fw, dtype))].shape == ((1, 3, 4) if dtype in ("uint8", "bool") else (4,))


@requires_cuda
def test_index_tensors_from_the_other_device():
    values = np.arange(12.0).reshape(3, 4)
    x = fw.tensor(values, device="cuda")
    assert x[fw.tensor([2, 0])].device.type == "cuda"  # a CPU index for a cuda tensor: PyTorch allows it
    assert x[fw.tensor([True, False, True]), fw.tensor(1)].tolist() == [1.0, 9.0]
    x[fw.tensor([0])] = 5.0
    x[fw.tensor([1]), fw.tensor([2])] = fw.tensor(7.0)  # a 0-dim CPU value is moved
    assert x.cpu().numpy()[0].tolist() == [5.0] * 4 and x[1, 2].item() == 7.0
    cpu = fw.tensor(values)
    assert cpu[fw.tensor(1, device="cuda")].tolist() == values[1].tolist()  # 0-dim: read as an int
    message = r"indices should be either on cpu or on the same device as the indexed tensor \(cpu\)"
    with pytest.raises(RuntimeError, match=message):
        cpu[fw.tensor([0, 1], device="cuda")]
    with pytest.raises(RuntimeError, match=message):
        cpu[fw.tensor([0]), fw.tensor([True, False, True, True], device="cuda")]
    with pytest.raises(RuntimeError, match=message):
        cpu[fw.tensor([0], device="cuda")] = 1.0
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        x[fw.tensor([0, 1])] = fw.ones(2, 4)  # a value with elements must be on the tensor's device
    x[0:2] = fw.ones(2, 4)  # a basic key copies from any device
    assert x[:2].sum().item() == 8.0


@requires_cuda
def test_cuda_index_errors_arrive_at_the_next_sync():
    """An index outside its dim found by the kernel (no host read of the index): raised at the next sync."""
    x = fw.zeros(3, 4, device="cuda")
    for key in ([0, 5], (slice(None), fw.tensor([-5], device="cuda")), (fw.tensor([3]), fw.tensor([0]))):
        out = x[key]
        with pytest.raises(IndexError, match="out of bounds for dimension"):
            out.cpu()
    x[[4]] = 1.0
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 3"):
        fw.cuda.synchronize()


@pytest.mark.parametrize("key,name", [
    (0, "SelectBackward0"), (slice(1, 3), "SliceBackward0"), (slice(None), "SliceBackward0"),
    (Ellipsis, "AliasBackward0"),
    ((slice(None), slice(0, 4)), "AliasBackward0"), (None, "UnsqueezeBackward0"), ((0, None), "UnsqueezeBackward0"),
    ((None, 0), "SelectBackward0"), ((slice(1, 2), 0), "SelectBackward0"), ((0, slice(1, 2)), "SliceBackward0"),
    (A([0, 1]), "IndexBackward0"), ((0, A([0, 1])), "IndexBackward0"), (A(1), "SelectBackward0"),
])
@pytest.mark.parametrize("device", DEVICES)
def test_grad_fn_names_and_views(rng, key, name, device):
    x = fw.tensor(random_array(rng, (3, 4, 5)), requires_grad=True, device=device) * 1
    out = x[_key(key, fw, device)]
    assert out.grad_fn.name() == name
    if torch is not None:
        assert name == type((make_torch(random_array(rng, (3, 4, 5)), True) * 1)[_key(key, torch)].grad_fn).__name__
    basic = name != "IndexBackward0"
    assert (out._base is not None) == basic
    if device == "cpu":
        assert np.shares_memory(out._data, x._data) == (basic and out.numel() > 0)
    else:
        assert (out._data.storage is x._data.storage) == basic


@pytest.mark.parametrize("device", DEVICES)
def test_view_writes_reach_the_base_and_bump_the_version(rng, device):
    base = fw.tensor(random_array(rng, (4, 6)), device=device)
    view = base[1:3, ::2]
    before = base._version
    view[0] = 7.0
    assert base._version == view._version == before + 1
    assert (base.cpu().numpy()[1, ::2] == 7).all()
    view.add_(1)
    assert base._version == before + 2 and (base.cpu().numpy()[1, ::2] == 8).all()
    base[2, 0] = -1.0
    assert view[1, 0].item() == -1.0 and view._version == before + 3
    copy = base[[0, 1]]
    copy[0] = 100.0
    assert base._version == before + 3 and (base.cpu().numpy()[0] != 100).all()


def test_saved_view_detects_setitem_on_base(rng):
    x = fw.tensor(random_array(rng, (3, 4)), requires_grad=True)
    y = x * 1
    z = y[0]
    w = z.sin()  # sin saves its input z, a view of y
    y[0, 1] = 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.sum().backward()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8",
                                   "uint8", "bool"])
def test_getitem_and_setitem_dtypes(rng, dtype, device):
    values = random_array(rng, (4, 5), dtype, low=0, high=9)
    x = fw.tensor(values, device=device)
    for key in [(1, slice(None, None, 2)), (A([3, 0, 3]),), (slice(None), A([4, 1])), (A([-1, 0]), A([[1], [-2]]))]:
        out = x[_key(key, fw, device)]
        assert out.dtype is x.dtype
        np.testing.assert_array_equal(out.cpu().numpy().astype(np.float64), values[key].astype(np.float64))
    update = random_array(rng, (2, 5), dtype, low=0, high=9)
    x[_key((A([2, 0]),), fw, device)] = fw.tensor(update, device=device)
    x[_key((slice(None), A([4])), fw, device)] = 1
    expected = values.copy()
    expected[[2, 0]] = update
    expected[:, [4]] = 1
    np.testing.assert_array_equal(x.cpu().numpy().astype(np.float64), expected.astype(np.float64))


# (shape, key, value shape or None for a Python scalar); numpy's placement agrees with PyTorch's for these keys
SETITEM_CASES = [
    ((3, 4), 0, None), ((3, 4), 1, (4,)), ((3, 4), 1, (1, 4)), ((3, 4), slice(0, 2), (2, 1)),
    ((3, 4), (Ellipsis, 2), (3,)),
    ((3, 4), (slice(None), slice(1, None, 2)), ()), ((3, 4), A([0, 2]), (2, 4)), ((3, 4), A([2, 0]), (4,)),
    ((3, 4), (A([0, 1, 2]), A([3, 3, 0])), (3,)), ((3, 4), (slice(None), A([1])), (3, 1)),
    ((3, 4), _m(True, False, True), None),
    ((3, 4), (slice(1, None), _m(True, False, False, True)), (1, 1, 2)), ((2, 3, 4), (0, slice(None), A([1, 2])), None),
    ((2, 3, 4), (A([1]), slice(None), A([0, 3])), (1, 3)), ((0, 3), A([], dtype=np.int64), (3,)),
    ((3, 1), (slice(None), 0), (3,)),
    ((4,), slice(5, 9), None), ((), Ellipsis, ()), ((3, 4), (None, 1), (4,)),
]


def _sum_to(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    grad = grad.reshape((1,) * (len(shape) - grad.ndim) + grad.shape)  # the value's leading size-1 dims
    return grad.sum(axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True).reshape(shape)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,key,value_shape", SETITEM_CASES, ids=[f"{c[0]}-{c[1]!r}-{c[2]}" for c in SETITEM_CASES])
def test_setitem_in_place(rng, shape, key, value_shape, device):
    values = random_array(rng, shape)
    value = float(rng.normal()) if value_shape is None else random_array(rng, value_shape)
    x = fw.tensor(values, device=device)
    storage, version = x._data, x._version
    x[_key(key, fw, device)] = value if value_shape is None else fw.tensor(value, device=device)
    expected = values.copy()
    expected[key] = value
    assert_close(x, expected, fw.float64)
    assert x._data is storage and x._version == version + 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,key,value_shape", SETITEM_CASES, ids=[f"{c[0]}-{c[1]!r}-{c[2]}" for c in SETITEM_CASES])
def test_setitem_autograd(rng, shape, key, value_shape, device):
    values, weights = random_array(rng, shape), random_array(rng, shape)
    value = float(rng.normal()) if value_shape is None else random_array(rng, value_shape)
    leaf = fw.tensor(values, requires_grad=True, device=device)
    v = value if value_shape is None else fw.tensor(value, requires_grad=True, device=device)
    y = leaf * 1
    y[_key(key, fw, device)] = v
    items = key if isinstance(key, tuple) else (key,)
    into_x = all(isinstance(k, np.ndarray) or k == slice(None) or k is Ellipsis for k in items)  # else via a view
    advanced = any(isinstance(k, np.ndarray) for k in items)
    assert y.grad_fn.name() == ("CopySlices" if not into_x else "IndexPutBackward0" if advanced else "CopyBackwards")
    (y * fw.tensor(weights, device=device)).sum().backward()
    written = np.zeros(shape, bool)
    written[key] = True
    assert_close(leaf.grad, np.where(written, 0.0, weights), fw.float64, what="grad of x")
    if value_shape is not None:
        assert_close(v.grad, _sum_to(np.asarray(weights[key]), value_shape), fw.float64, what="grad of value")
    if torch is not None:
        t_leaf = make_torch(values, True)
        t_v = value if value_shape is None else make_torch(value, True)
        t_y = t_leaf * 1
        t_y[_key(key, torch)] = t_v
        assert y.grad_fn.name() == type(t_y.grad_fn).__name__
        assert_close(y, t_y, fw.float64)
        (t_y * make_torch(weights)).sum().backward()
        assert_close(leaf.grad, t_leaf.grad, fw.float64)
        if value_shape is not None:
            assert_close(v.grad, t_v.grad, fw.float64)


@pytest.mark.parametrize("device", DEVICES)
def test_setitem_casts_and_no_grad(rng, device):
    x = fw.zeros(3, dtype=fw.int64, device=device)
    x[0] = 2.7
    x[[1, 2]] = fw.tensor([3.9, -1.2], device=device)
    assert x.tolist() == [2, 3, -1]
    leaf = fw.tensor(random_array(rng, (3,)), requires_grad=True, device=device)
    with fw.no_grad():
        leaf[0] = 5.0
        leaf[[1]] = fw.tensor([6.0], requires_grad=True, device=device)
    assert leaf.tolist()[:2] == [5.0, 6.0] and leaf.grad_fn is None and leaf._version == 2
    z = fw.zeros(3, device=device)
    z[1:] = fw.tensor([1.0], requires_grad=True, device=device)
    assert z.requires_grad and z.grad_fn.name() == "CopySlices"


def test_gradcheck_getitem_and_setitem(rng):
    gradcheck(lambda x: x[1:, A([0, 2, 2])] * 1, random_array(rng, (3, 4)))
    gradcheck(lambda x: x[fw.tensor(_m(True, False, True))][:, ::2], random_array(rng, (3, 4)))

    def put(x, v):
        y = x * 1
        y[:, [1, 3]] = v
        y[0] = v[0, 0]
        return y
    gradcheck(put, random_array(rng, (3, 4)), random_array(rng, (1, 2)))


# ---- index functions (framework, numpy float64 reference, PyTorch through helpers.check_op) -------------

def _np_gather(x, dim, index):
    return np.take_along_axis(x[tuple(slice(0, s) if d != dim else slice(None) for d, s in enumerate(index.shape))],
                              index, dim)


def _np_scatter(x, dim, index, src, add=False):
    out = x.astype(np.result_type(x, src))
    key = list(np.ix_(*[np.arange(s) for s in index.shape]))
    key[dim] = index
    part = src[tuple(slice(0, s) for s in index.shape)]
    if add:
        np.add.at(out, tuple(key), part)
    else:
        out[tuple(key)] = part
    return out


@pytest.mark.parametrize("noncontiguous", [False, True])
def test_index_functions(rng, noncontiguous):
    x = random_array(rng, (4, 5))
    kw = dict(rng=rng, noncontiguous=noncontiguous)
    idx = A([3, 0, 3, 1])
    check_op(fw.index_select, lambda a, d, i: np.take(a, i, d), torch and torch.index_select, x, 0, idx, **kw)
    check_op(lambda a, i: a.index_select(-1, i), lambda a, i: np.take(a, i, 1),
             torch and (lambda a, i: a.index_select(-1, i)), x, idx.astype(np.int32), **kw)
    gidx = rng.integers(0, 5, size=(3, 7))
    check_op(fw.gather, _np_gather, torch and torch.gather, x, 1, gidx, **kw)
    check_op(fw.gather, _np_gather, torch and torch.gather, x, 0, rng.integers(0, 4, size=(2, 5)), **kw)
    sidx = np.stack([rng.permutation(5)[:3] for _ in range(2)])
    src = random_array(rng, (3, 4))
    check_op(fw.scatter, _np_scatter, torch and torch.scatter, x, 1, sidx, src[:2, :3], **kw)
    aidx = rng.integers(0, 5, size=(3, 4))
    check_op(fw.scatter_add, lambda *a: _np_scatter(*a, add=True), torch and torch.scatter_add, x, 1, aidx, src, **kw)
    # src larger than index: PyTorch 2.x's backward returns a gradient of the index's shape there, so numpy only
    check_op(fw.scatter, _np_scatter, None, x, 1, sidx, src, **kw)
    check_op(fw.scatter_add, lambda *a: _np_scatter(*a, add=True), None, x, 1, aidx[:2], src, **kw)
    check_op(lambda a, i: fw.scatter(a, 1, i, 2.5), lambda a, i: _np_scatter(a, 1, i, np.full(i.shape, 2.5)),
             torch and (lambda a, i: torch.scatter(a, 1, i, 2.5)), x, sidx, **kw)
    mask = random_array(rng, (4, 5), "bool")
    check_op(fw.masked_fill, lambda a, m, v: np.where(m, v, a), torch and torch.masked_fill, x, mask, A(1.5), **kw)
    check_op(lambda a, m: a.masked_fill(m, -3.0), lambda a, m: np.where(m, -3.0, a),
             torch and (lambda a, m: a.masked_fill(m, -3.0)), x, mask[0], **kw)
    check_op(fw.masked_select, lambda a, m: np.broadcast_to(a, m.shape)[m], torch and torch.masked_select,
             x[0], random_array(rng, (2, 4, 5), "bool"), **kw)
    check_op(lambda a, i: fw.take_along_dim(a, i, 1), lambda a, i: _np_gather(a, 1, i),
             torch and (lambda a, i: torch.take_along_dim(a, i, 1)),
             x, rng.integers(0, 5, size=(4, 2)), **kw)
    check_op(lambda a, i: fw.take_along_dim(a, i), lambda a, i: a.reshape(-1)[i.reshape(-1)],
             torch and torch.take_along_dim, x, rng.integers(0, 20, size=(3, 2)), **kw)


def test_index_functions_edge_shapes(rng):
    check_op(fw.gather, _np_gather, torch and torch.gather, random_array(rng, (0, 3)), 1, np.zeros((0, 2), np.int64),
             rng=rng)
    check_op(fw.index_select, lambda a, d, i: np.take(a, i, d), torch and torch.index_select,
             random_array(rng, (2, 3)), 1,
             np.zeros(0, np.int64), rng=rng)
    check_op(fw.gather, lambda a, d, i: a.reshape(1)[i.reshape(1)].reshape(()), torch and torch.gather,
             random_array(rng, ()), 0, A(0), rng=rng)
    check_op(fw.masked_select, lambda a, m: a[m], torch and torch.masked_select, random_array(rng, (1, 3)),
             np.zeros((1, 3), bool), rng=rng)


@pytest.mark.parametrize("shape", [(3, 4), (5,), (), (0, 2), (2, 1, 3)])
def test_nonzero(rng, shape):
    values = random_array(rng, shape, "int64", low=0, high=2)
    x = fw.tensor(values)
    out = fw.nonzero(x)
    assert out.dtype is fw.int64
    np.testing.assert_array_equal(out.numpy(), np.argwhere(values))
    columns = x.nonzero(as_tuple=True)
    expected = np.nonzero(values) if values.ndim else np.nonzero(values.reshape(1))
    assert len(columns) == len(expected)
    for got, want in zip(columns, expected):
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(fw.argwhere(x).numpy(), np.argwhere(values))
    if values.ndim:
        for got, want in zip(fw.where(x > 0), np.nonzero(values > 0)):
            np.testing.assert_array_equal(got.numpy(), want)


def test_inplace_functions(rng):
    x = fw.tensor(random_array(rng, (3, 4)), requires_grad=True)
    y = x * 2
    mask = fw.tensor(random_array(rng, (3, 4), "bool"))
    y.masked_fill_(mask, 0.0).scatter_(1, fw.tensor([[0], [1], [2]]), 1.0)
    y.scatter_add_(0, fw.tensor([[2, 2, 2, 2]]), fw.ones(1, 4, dtype=fw.float64))
    y.sum().backward()
    expected = np.where(mask.numpy(), 0.0, 2.0)
    expected[[0, 1, 2], [0, 1, 2]] = 0.0
    assert_close(x.grad, expected, fw.float64)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x.masked_fill_(mask, 0.0)


def test_gradcheck_index_functions(rng):
    index = fw.tensor(A([[0, 2, 2], [1, 1, 0]]))
    gradcheck(lambda a: fw.gather(a, 1, index), random_array(rng, (2, 3)))
    gradcheck(lambda a, s: fw.scatter_add(a, 1, index, s), random_array(rng, (2, 3)), random_array(rng, (2, 4)))
    gradcheck(lambda a, s: fw.scatter(a, 0, fw.tensor(A([[1, 0, 1]])), s), random_array(rng, (2, 3)),
              random_array(rng, (1, 3)))
    mask = fw.tensor(random_array(rng, (2, 3), "bool"))
    gradcheck(lambda a, v: fw.masked_fill(a, mask, v), random_array(rng, (2, 3)), random_array(rng, ()))
    gradcheck(lambda a: fw.masked_select(a, mask) * 1, random_array(rng, (3,)))
    gradcheck(lambda a: fw.index_select(a, 0, fw.tensor(A([1, 1, 0]))), random_array(rng, (2, 3)))


# ---- errors: same type as PyTorch, PyTorch's message ---------------------------------------------------

def _t(lib, value, dtype=None):
    value = np.asarray(value, dtype=dtype)
    return fw.tensor(value) if lib is fw else torch.from_numpy(value.copy())


Z = np.zeros((3, 4))
I = np.int64
ERRORS = [
    (lambda L: _t(L, Z)[5], "index 5 is out of bounds for dimension 0 with size 3"),
    (lambda L: _t(L, Z)[0, -5], "index -5 is out of bounds for dimension 1 with size 4"),
    (lambda L: _t(L, Z)[0, 0, 0], "too many indices for tensor of dimension 2"),
    (lambda L: _t(L, np.zeros(4))[_t(L, np.ones(3, bool))],
     "The shape of the mask [3] at index 0 does not match the shape of the indexed tensor [4] at index 0"),
    (lambda L: _t(L, Z)[[True, False]], "The shape of the mask [2] at index 0"),
    (lambda L: _t(L, Z)[_t(L, [0.0])], "tensors used as indices must be long, int, byte or bool tensors"),
    (lambda L: _t(L, Z)[_t(L, [1], np.int16)], "tensors used as indices must be long, int, byte or bool tensors"),
    (lambda L: _t(L, Z)[_t(L, [5])], "index 5 is out of bounds for dimension 0 with size 3"),
    (lambda L: _t(L, Z)[1:, _t(L, [4])], "index 4 is out of bounds for dimension 1 with size 4"),
    (lambda L: _t(L, Z)[[0, 1], [0, 1, 2]], "shape mismatch: indexing tensors could not be broadcast together"),
    (lambda L: _t(L, Z)[::-1], "step must be greater than zero"),
    (lambda L: _t(L, Z)[::0], "slice step cannot be zero"),
    (lambda L: _t(L, Z)[1.5], "(got float)"),
    (lambda L: _t(L, 1.0)[0], "invalid index of a 0-dim tensor"),
    (lambda L: _t(L, 1.0)[0:1], "slice() cannot be applied to a 0-dim tensor."),
    (lambda L: _t(L, Z).__setitem__(3, 1.0), "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda L: _t(L, Z).__setitem__(0, [1.0, 2.0]), "can't assign a list to a"),
    (lambda L: _t(L, Z).__setitem__(0, _t(L, np.ones(3))), "The expanded size of the tensor (4) must match"),
    (lambda L: _t(L, Z).__setitem__([0, 1], _t(L, np.ones(3))),
     "shape mismatch: value tensor of shape [3] cannot be broadcast to indexing result of shape [2, 4]"),
    (lambda L: _t(L, Z).requires_grad_().__setitem__(0, 1.0), "a view of a leaf Variable that requires grad"),
    (lambda L: _t(L, Z).requires_grad_().__setitem__([0], 1.0), "a leaf Variable that requires grad is being used"),
    (lambda L: L.index_select(_t(L, Z), 0, _t(L, [0.0])), "index_select(): Expected dtype int32 or int64 for index"),
    (lambda L: L.index_select(_t(L, Z), 0, _t(L, [[0]])), "index_select(): Index is supposed to be a vector"),
    (lambda L: L.index_select(_t(L, Z), 0, _t(L, [3])), "index out of range in self"),
    (lambda L: L.index_select(_t(L, Z), 2, _t(L, [0])), "Dimension out of range"),
    (lambda L: L.gather(_t(L, Z), 1, _t(L, [[5]])), "index 5 is out of bounds for dimension 1 with size 4"),
    (lambda L: L.gather(_t(L, Z), 1, _t(L, [[-1]])), "index -1 is out of bounds for dimension 1 with size 4"),
    (lambda L: L.gather(_t(L, Z), 1, _t(L, [0])), "Index tensor must have the same number of dimensions as input"),
    (lambda L: L.gather(_t(L, Z), 1, _t(L, [[0.0]])), "gather(): Expected dtype int32/int64 for index"),
    (lambda L: L.gather(_t(L, Z), 1, _t(L, np.zeros((4, 1), I))),
     "Size does not match at dimension 0 expected index [4, 1] to be no larger than self [3, 4] apart from "
     "dimension 1"),
    (lambda L: L.scatter(_t(L, Z), 1, _t(L, [[0, 1, 2]]), _t(L, np.ones((1, 2)))),
     "Expected index [1, 3] to be no larger than self [3, 4] apart from dimension 1 and to be no larger size than src"),
    (lambda L: L.scatter(_t(L, Z), 1, _t(L, [[0]]), _t(L, np.ones((1, 1), np.float32))),
     "scatter(): Expected self.dtype to be equal to src.dtype"),
    (lambda L: L.scatter_add(_t(L, Z), 1, _t(L, [[9]]), _t(L, np.ones((1, 1)))),
     "index 9 is out of bounds for dimension 1 with size 4"),
    (lambda L: L.scatter_add(_t(L, Z), 1, _t(L, [[0]]), 1.0), "must be Tensor, not float"),
    (lambda L: L.masked_fill(_t(L, Z), _t(L, Z), 0.0),
     "masked_fill_ only supports boolean masks, but got mask with dtype double"),
    (lambda L: L.masked_fill(_t(L, Z), _t(L, Z > 0), _t(L, [1.0])), "only supports a 0-dimensional value tensor"),
    (lambda L: L.masked_fill(_t(L, Z), _t(L, np.ones(5, bool)), 0.0), "The size of tensor a (5) must match the size"),
    (lambda L: _t(L, Z).masked_fill_(_t(L, np.ones((2, 3, 4), bool)), 0.0),
     "output with shape [3, 4] doesn't match the broadcast shape [2, 3, 4]"),
    (lambda L: L.masked_select(_t(L, Z), _t(L, Z)), "masked_select: expected BoolTensor for mask"),
    (lambda L: L.take_along_dim(_t(L, Z), _t(L, [0]), 0),
     "input and indices should have the same number of dimensions"),
    (lambda L: L.take_along_dim(_t(L, Z), _t(L, [[0]], np.int32), 0), "dtype of indices should be Long but got Int"),
]


@pytest.mark.parametrize("call,message", ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_errors_match_pytorch(call, message):
    raises_like_torch(lambda: call(fw), lambda: call(torch), match=message)
