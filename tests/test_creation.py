"""Creation functions: values, dtypes, devices, requires_grad, and the errors PyTorch gives for bad input."""
import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, FLOAT_NAMES, assert_close, dtype_name, random_array, raises_like_torch,
                     requires_torch, to_numpy, torch)


# ---- tensor() -------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    1, -2.5, True, [1, 2, 3], [[1, 2], [3, 4]], [[[1, 2], [3, 4]], [[5, 6], [7, 8]]], [1.0, 2, 3],
    ((1, 2), (3, 4)), [], [[], []], [[1.5], [2.5]], [True, False], [float("nan"), float("inf")],
])
def test_tensor_from_python_data(data):
    t = fw.tensor(data)
    expected = np.array(data, dtype=np.float32 if t.dtype is fw.float32 else None)
    assert t.shape == expected.shape
    np.testing.assert_array_equal(to_numpy(t), expected.astype(to_numpy(t).dtype))
    if torch is not None:
        reference = torch.tensor(data)
        assert dtype_name(t.dtype) == dtype_name(reference.dtype) and tuple(t.shape) == tuple(reference.shape)
        np.testing.assert_array_equal(to_numpy(t), to_numpy(reference))


@pytest.mark.parametrize("name", ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16",
                                  "float32", "float64"])
def test_tensor_with_dtype(name, rng):
    data = random_array(rng, (3, 2), "float64", low=0, high=100).tolist()
    t = fw.tensor(data, dtype=getattr(fw, name))
    assert t.dtype is getattr(fw, name) and t.shape == (3, 2)
    if torch is not None:
        np.testing.assert_array_equal(to_numpy(t), to_numpy(torch.tensor(data, dtype=getattr(torch, name))))


def test_tensor_from_numpy_copies_and_keeps_dtype(rng):
    array = random_array(rng, (3, 4), "float64")
    t = fw.tensor(array)
    assert t.dtype is fw.float64
    array[0, 0] = 100.0
    assert t.tolist()[0][0] != 100.0  # a copy, unlike from_numpy
    assert fw.tensor(array[:, ::2]).is_contiguous()


def test_tensor_from_tensor_copies():
    source = fw.tensor([1.0, 2.0], requires_grad=True)
    t = fw.tensor(source.detach())
    assert not t.requires_grad and t.is_leaf
    t.add_(1)
    assert source.tolist() == [1.0, 2.0]
    assert fw.tensor(source.detach(), dtype=fw.int64).dtype is fw.int64


def test_tensor_from_list_of_zero_dim_tensors():
    t = fw.tensor([fw.tensor(1.0), fw.tensor(2.0)])
    assert t.tolist() == [1.0, 2.0] and t.dtype is fw.float32


def test_tensor_from_numpy_scalars():
    assert fw.tensor(np.float32(1.5)).dtype is fw.float32
    assert fw.tensor(np.int16(3)).dtype is fw.int16 and fw.tensor(np.int16(3)).item() == 3
    assert fw.tensor(np.float64(2.5)).shape == ()


@pytest.mark.parametrize("requires_grad", [True, False])
@pytest.mark.parametrize("name", FLOAT_NAMES)
def test_tensor_requires_grad(name, requires_grad):
    t = fw.tensor([1.0, 2.0], dtype=getattr(fw, name), requires_grad=requires_grad)
    assert t.requires_grad is requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None


def test_tensor_device():
    for device in ("cpu", fw.device("cpu"), None):
        t = fw.tensor([1, 2], device=device)
        assert t.device == fw.device("cpu") and t.device.type == "cpu" and not t.is_cuda
    assert repr(fw.tensor(1).device) == "device(type='cpu')"
    assert str(fw.tensor(1).device) == "cpu"


# ---- bad input ------------------------------------------------------------------

def test_ragged_nested_lists_raise_pytorch_error():
    message = raises_like_torch(lambda: fw.tensor([[1, 2], [3]]), lambda: torch.tensor([[1, 2], [3]]))
    assert message == "expected sequence of length 2 at dim 1 (got 1)"
    message = raises_like_torch(lambda: fw.tensor([[[1, 2], [3, 4]], [[5, 6], [7]]]),
                                lambda: torch.tensor([[[1, 2], [3, 4]], [[5, 6], [7]]]))
    assert message == "expected sequence of length 2 at dim 2 (got 1)"
    with pytest.raises(ValueError, match=r"expected sequence of length 2 at dim 1 \(got 1\)"):
        fw.tensor([[1, 2], [3]])


def test_mixed_scalars_and_sequences_raise_like_torch():
    for data in ([[1, 2], 3], [1, [2]]):
        message = raises_like_torch(lambda: fw.tensor(data), lambda: torch.tensor(data))
        assert "inhomogeneous" not in message and "array" not in message, message  # no numpy internals


def test_non_numeric_data_raises():
    for data in ("a", ["a"], None, {1: 2}, object()):
        with pytest.raises((TypeError, ValueError, RuntimeError)) as info:
            fw.tensor(data)
        assert "numpy" not in str(info.value)
    raises_like_torch(lambda: fw.tensor(None), lambda: torch.tensor(None), match="Could not infer dtype of NoneType")


def test_integer_overflow_raises():
    with pytest.raises((RuntimeError, ValueError), match="Overflow"):
        fw.tensor([2 ** 70])


@pytest.mark.parametrize("name", ["int64", "int32", "bool", "uint8"])
def test_requires_grad_on_non_float_raises(name):
    message = raises_like_torch(lambda: fw.tensor([1, 2], dtype=getattr(fw, name), requires_grad=True),
                                lambda: torch.tensor([1, 2], dtype=getattr(torch, name), requires_grad=True))
    assert message == "Only Tensors of floating point and complex dtype can require gradients"
    raises_like_torch(lambda: fw.zeros(2, dtype=getattr(fw, name), requires_grad=True),
                      lambda: torch.zeros(2, dtype=getattr(torch, name), requires_grad=True))


def test_bad_device_strings_raise():
    raises_like_torch(lambda: fw.zeros(2, device="tpu"), lambda: torch.zeros(2, device="tpu"),
                      match="device type at start of device string: tpu")
    with pytest.raises(RuntimeError):
        fw.device("cpu:1")
    with pytest.raises(RuntimeError):
        fw.device("cuda:x")


def test_bad_sizes_raise():
    raises_like_torch(lambda: fw.zeros(2, -1), lambda: torch.zeros(2, -1))
    raises_like_torch(lambda: fw.ones(2.5), lambda: torch.ones(2.5))
    raises_like_torch(lambda: fw.empty(-3), lambda: torch.empty(-3))


def test_from_numpy_rejects_non_arrays_and_negative_strides():
    raises_like_torch(lambda: fw.from_numpy([1, 2]), lambda: torch.from_numpy([1, 2]),
                      match="expected np.ndarray (got list)")
    raises_like_torch(lambda: fw.from_numpy(np.arange(4.0)[::-1]), lambda: torch.from_numpy(np.arange(4.0)[::-1]),
                      match="negative")


# ---- from_numpy / as_tensor share memory ----------------------------------------------

def test_from_numpy_shares_memory(rng):
    array = random_array(rng, (3, 4), "float32")
    t = fw.from_numpy(array)
    array[1, 2] = 42.0
    assert t.tolist()[1][2] == 42.0
    t.mul_(2)
    assert array[1, 2] == 84.0
    assert t.numpy() is array or np.shares_memory(t.numpy(), array)


def test_as_tensor_shares_when_it_can():
    array = np.arange(6, dtype=np.float32)
    shared = fw.as_tensor(array)
    array[0] = 7.0
    assert shared.tolist()[0] == 7.0
    converted = fw.as_tensor(array, dtype=fw.float64)
    array[1] = 9.0
    assert converted.tolist()[1] == 1.0 and converted.dtype is fw.float64
    t = fw.tensor([1.0])
    assert fw.as_tensor(t) is t
    assert fw.as_tensor([1, 2]).dtype is fw.int64
    assert fw.asarray([1.5]).dtype is fw.float32


# ---- filled ---------------------------------------------------------------------

SIZE_FORMS = [((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([2, 3],), (2, 3)), ((fw.Size([2, 3]),), (2, 3)), ((), ()),
              ((0, 3), (0, 3)), ((4,), (4,)), (((),), ())]


@pytest.mark.parametrize("args, shape", SIZE_FORMS, ids=str)
@pytest.mark.parametrize("fn, value", [("zeros", 0), ("ones", 1), ("empty", None)])
def test_filled_creation_size_forms(fn, value, args, shape):
    t = getattr(fw, fn)(*args)
    assert t.shape == shape and isinstance(t.shape, fw.Size) and t.dtype is fw.float32 and not t.requires_grad
    assert t.is_contiguous()
    if value is not None:
        assert np.all(t.numpy() == value)


@pytest.mark.parametrize("name", ["bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64"])
def test_filled_creation_dtypes(name):
    dtype = getattr(fw, name)
    for fn, value in (("zeros", 0), ("ones", 1)):
        t = getattr(fw, fn)(2, 3, dtype=dtype)
        assert t.dtype is dtype and np.all(to_numpy(t) == value)
    assert fw.empty(2, dtype=dtype).dtype is dtype
    assert fw.full((2,), 1, dtype=dtype).dtype is dtype
    if dtype.is_floating_point:
        assert fw.ones(2, dtype=dtype, requires_grad=True).requires_grad


@pytest.mark.parametrize("value, expected", [(3, "int64"), (1.5, "float32"), (True, "bool"), (-2, "int64")])
def test_full_infers_dtype_from_value(value, expected):
    t = fw.full((2, 3), value)
    assert t.dtype is getattr(fw, expected) and np.all(t.numpy() == value)
    assert fw.full([4], value).shape == (4,)
    if torch is not None:
        assert dtype_name(torch.full((2, 3), value).dtype) == expected


def test_full_with_dtype_casts_value():
    assert fw.full((2,), 1.7, dtype=fw.int64).tolist() == [1, 1]
    assert fw.full((), 2.5).shape == () and fw.full((), 2.5).item() == 2.5


@pytest.mark.parametrize("name", ["int64", "float16", "float64", "bool"])
def test_like_forms(name, rng):
    dtype = getattr(fw, name)
    source = fw.tensor(random_array(rng, (2, 0, 3) if name == "bool" else (2, 3), name, low=0, high=5))
    for fn, value in (("zeros_like", 0), ("ones_like", 1), ("empty_like", None)):
        t = getattr(fw, fn)(source)
        assert t.shape == source.shape and t.dtype is dtype and t.device == source.device
        if value is not None:
            assert np.all(to_numpy(t) == value)
    assert fw.full_like(source, 1).dtype is dtype and np.all(to_numpy(fw.full_like(source, 1)) == 1)
    assert fw.zeros_like(source, dtype=fw.float32).dtype is fw.float32
    assert fw.ones_like(source, dtype=fw.float32, requires_grad=True).requires_grad


def test_full_like_casts_to_the_source_dtype():
    assert fw.full_like(fw.tensor([1, 2]), 2.7).tolist() == [2, 2]
    assert fw.full_like(fw.tensor([1.0, 2.0]), 2.5).tolist() == [2.5, 2.5]


def test_like_forms_do_not_copy_requires_grad():
    source = fw.ones(2, requires_grad=True)
    assert not fw.zeros_like(source).requires_grad
    assert not fw.ones_like(source).requires_grad


# ---- ranges ---------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs", [
    ((5,), {}), ((2, 7), {}), ((0, 1, 0.1), {}), ((5, 0, -1.5), {}), ((1, 4.0), {}), ((-3, 3, 2), {}),
    ((0,), {}), ((3, 3), {}), ((0, 10, 3), {"dtype": "float64"}), ((0.5, 4), {"dtype": "int64"}),
    ((1, 2, 0.3), {"dtype": "float16"}), ((0, 2.5, 0.5), {}),
])
def test_arange(args, kwargs):
    kwargs_fw = {k: getattr(fw, v) for k, v in kwargs.items()}
    t = fw.arange(*args, **kwargs_fw)
    start, end, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) > 2 else 1)
    expected_len = max(0, int(np.ceil((end - start) / step)))
    assert t.shape == (expected_len,)
    integral = all(isinstance(a, int) for a in args)
    expected_dtype = kwargs.get("dtype", "int64" if integral else "float32")
    assert t.dtype is getattr(fw, expected_dtype)
    if torch is not None:
        reference = torch.arange(*args, **{k: getattr(torch, v) for k, v in kwargs.items()})
        assert tuple(reference.shape) == tuple(t.shape)
        assert_close(t, reference, t.dtype)
    else:
        expected = start + step * np.arange(expected_len)
        assert_close(t, expected if t.dtype.is_floating_point else expected.astype(np.int64), t.dtype)


def test_arange_errors():
    raises_like_torch(lambda: fw.arange(0, 5, 0), lambda: torch.arange(0, 5, 0), match="step must be nonzero")
    message = raises_like_torch(lambda: fw.arange(0, 5, -1), lambda: torch.arange(0, 5, -1))
    assert message == "upper bound and lower bound inconsistent with step sign"


@pytest.mark.parametrize("args, kwargs", [
    ((0, 1, 5), {}), ((2, 3, 1), {}), ((2, 3, 0), {}), ((-1, 1, 7), {}), ((0, 10, 4), {"dtype": "int64"}),
    ((1, 0, 6), {}), ((0, 1, 11), {"dtype": "float64"}), ((3, 3, 4), {}), ((0, 1, 100), {"dtype": "float16"}),
])
def test_linspace(args, kwargs):
    t = fw.linspace(*args, **{k: getattr(fw, v) for k, v in kwargs.items()})
    start, end, steps = args
    assert t.shape == (steps,) and t.dtype is getattr(fw, kwargs.get("dtype", "float32"))
    if t.dtype.is_floating_point:
        assert_close(t, np.linspace(start, end, steps), t.dtype)
    if torch is not None:
        reference = torch.linspace(*args, **{k: getattr(torch, v) for k, v in kwargs.items()})
        assert_close(t, reference, t.dtype)


def test_linspace_with_one_step_is_start():
    assert fw.linspace(2, 3, 1).tolist() == [2.0]


@pytest.mark.parametrize("args", [(3,), (2, 4), (4, 2), (0,), (1, 1)], ids=str)
def test_eye(args):
    t = fw.eye(*args)
    assert t.dtype is fw.float32
    np.testing.assert_array_equal(t.numpy(), np.eye(*args))
    assert fw.eye(*args, dtype=fw.int64).dtype is fw.int64
    assert fw.eye(*args, requires_grad=True).requires_grad


# ---- random creation (needs framework.random) ---------------------------------------------

@pytest.mark.uses_random
@pytest.mark.parametrize("name", ["float32", "float64", "float16", "bfloat16"])
def test_rand_and_randn_shapes_dtypes_ranges(name):
    dtype = getattr(fw, name)
    r = fw.rand(200, 3, dtype=dtype)
    assert r.shape == (200, 3) and r.dtype is dtype
    values = to_numpy(r)
    assert values.min() >= 0.0 and values.max() <= 1.0 and values.std() > 0.1
    n = fw.randn((400,), dtype=dtype, requires_grad=True)
    assert n.shape == (400,) and n.dtype is dtype and n.requires_grad and n.is_leaf
    values = to_numpy(n)
    assert abs(values.mean()) < 0.3 and 0.7 < values.std() < 1.3
    assert fw.rand(2, 3).dtype is fw.float32 and fw.rand(()).shape == ()


@pytest.mark.uses_random
def test_rand_on_integer_dtype_raises():
    raises_like_torch(lambda: fw.rand(2, dtype=fw.int64), lambda: torch.rand(2, dtype=torch.int64),
                      match="not implemented for 'Long'")
    raises_like_torch(lambda: fw.randn(2, dtype=fw.int32), lambda: torch.randn(2, dtype=torch.int32),
                      match="not implemented for 'Int'")


@pytest.mark.uses_random
def test_randint_and_randperm():
    r = fw.randint(3, 7, (500,))
    assert r.dtype is fw.int64 and r.shape == (500,)
    values = r.numpy()
    assert values.min() >= 3 and values.max() <= 6 and set(values.tolist()) == {3, 4, 5, 6}
    assert fw.randint(5, (2, 3)).shape == (2, 3)
    assert fw.randint(0, 2, (4,), dtype=fw.int32).dtype is fw.int32
    p = fw.randperm(10)
    assert p.dtype is fw.int64 and sorted(p.tolist()) == list(range(10))
    assert fw.randperm(0).shape == (0,)


@pytest.mark.uses_random
def test_random_like_forms_and_manual_seed_repeat():
    source = fw.zeros(3, 2, dtype=fw.float64)
    assert fw.rand_like(source).shape == (3, 2) and fw.rand_like(source).dtype is fw.float64
    assert fw.randn_like(source).dtype is fw.float64
    assert fw.randint_like(source, 5).dtype is fw.float64
    fw.manual_seed(7)
    first = fw.rand(5).tolist()
    fw.manual_seed(7)
    assert fw.rand(5).tolist() == first


@pytest.mark.uses_random
@requires_torch
def test_rand_matches_torch_stream():
    fw.manual_seed(123)
    torch.manual_seed(123)
    np.testing.assert_array_equal(fw.rand(5).numpy(), torch.rand(5).numpy())


@requires_torch
def test_creation_dtypes_match_torch():
    cases = [lambda m: m.zeros(2), lambda m: m.ones(2, dtype=m.int32), lambda m: m.arange(3),
             lambda m: m.arange(3.0), lambda m: m.linspace(0, 1, 3), lambda m: m.eye(2), lambda m: m.full((1,), 2),
             lambda m: m.empty(0), lambda m: m.zeros_like(m.tensor([1])), lambda m: m.tensor([[1.0]])]
    for case in cases:
        assert dtype_name(case(fw).dtype) == dtype_name(case(torch).dtype)


# ---- Tensor.new_tensor, new_full, new_zeros, new_ones, new_empty --------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_new_factories_take_self_dtype_and_device(device):
    x = fw.zeros(2, dtype=fw.float64, device=device)
    made = {"new_tensor": x.new_tensor([[1, 2]]), "new_full": x.new_full((1, 2), 3),
            "new_zeros": x.new_zeros(1, 2), "new_ones": x.new_ones((1, 2)), "new_empty": x.new_empty([1, 2])}
    for name, t in made.items():
        assert (t.dtype, t.device.type, tuple(t.shape)) == (fw.float64, device, (1, 2)), name
        assert not t.requires_grad, name
    assert x.new_tensor([1, 2]).tolist() == [1.0, 2.0] and x.new_full((2,), 3).tolist() == [3.0, 3.0]
    assert x.new_ones(2).tolist() == [1.0, 1.0] and x.new_zeros(2).tolist() == [0.0, 0.0]
    given = x.new_ones(3, dtype=fw.int8, device="cpu", requires_grad=False)
    assert (given.dtype, given.device.type) == (fw.int8, "cpu")
    assert x.new_tensor([1.0], requires_grad=True).requires_grad
    assert x.new_zeros(2, requires_grad=True).grad_fn is None  # a leaf


def test_new_tensor_copies_a_tensor_with_pytorchs_warning():
    source = fw.tensor([1, 2], dtype=fw.int32, requires_grad=False)
    with pytest.warns(UserWarning, match="To copy construct from a tensor, it is recommended to use "
                                         r"sourceTensor.detach\(\).clone\(\)"):
        copy = fw.zeros(1, dtype=fw.float64).new_tensor(source)
    assert copy.dtype is fw.float64 and copy.tolist() == [1.0, 2.0]
    source[0] = 5
    assert copy.tolist() == [1.0, 2.0]


@requires_torch
def test_new_factories_refuse_as_pytorch():
    raises_like_torch(lambda: fw.zeros(2).new_full(2, 3), lambda: torch.zeros(2).new_full(2, 3),
                      match="new_full(): argument 'size' (position 1) must be tuple of ints, not int")
    raises_like_torch(lambda: fw.zeros(2).new_tensor([300], dtype=fw.int8),
                      lambda: torch.zeros(2).new_tensor([300], dtype=torch.int8),
                      match="value cannot be converted to type int8 without overflow")


def test_tensor_from_a_list_of_tensors_reads_their_values_detached():
    """PyTorch reads a list of tensors by value, even tensors that require grad (whose __array__ refuses)."""
    a = fw.tensor(1.5, requires_grad=True)
    assert fw.tensor([a, a * 2]).tolist() == [1.5, 3.0]
    assert fw.tensor([fw.ones(2, requires_grad=True), fw.zeros(2)]).tolist() == [[1.0, 1.0], [0.0, 0.0]]
    assert fw.tensor([fw.tensor(2.5).bfloat16(), 1]).tolist() == [2.5, 1.0]
    assert fw.tensor([fw.tensor(3), 1]).dtype is fw.int64
