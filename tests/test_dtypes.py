"""dtypes: the objects, PyTorch's inference and type promotion (tensor-tensor, tensor-scalar, 0-d), and the
default dtype."""
import itertools
import pickle

import numpy as np
import pytest

import framework as fw
from helpers import DTYPE_NAMES, FLOAT_NAMES, INT_NAMES, dtype_name, np_dtype, requires_torch, torch

ALL = [getattr(fw, name) for name in DTYPE_NAMES]


def test_dtype_objects():
    for name in DTYPE_NAMES:
        d = getattr(fw, name)
        assert isinstance(d, fw.dtype)
        assert repr(d) == str(d) == f"framework.{name}"
        assert d.itemsize == np.dtype(np_dtype(name)).itemsize
        assert d.is_floating_point == (name in FLOAT_NAMES)
        assert pickle.loads(pickle.dumps(d)) is d
    assert fw.float is fw.float32 and fw.double is fw.float64 and fw.half is fw.float16
    assert fw.long is fw.int64 and fw.int is fw.int32 and fw.short is fw.int16
    assert fw.bfloat16.itemsize == 2


@requires_torch
def test_dtype_attributes_match_torch():
    for name in DTYPE_NAMES:
        d, t = getattr(fw, name), getattr(torch, name)
        assert (d.itemsize, d.is_floating_point, d.is_signed) == (t.itemsize, t.is_floating_point, t.is_signed), name


# PyTorch's promotion for the pairs that are easy to get wrong, written out so it is checked without torch too.
KNOWN_PROMOTIONS = [
    ("uint8", "int8", "int16"), ("uint8", "int16", "int16"), ("uint8", "int64", "int64"),
    ("int8", "int16", "int16"), ("int32", "int64", "int64"), ("bool", "uint8", "uint8"), ("bool", "int8", "int8"),
    ("bool", "float16", "float16"), ("int64", "float16", "float16"), ("int64", "bfloat16", "bfloat16"),
    ("float16", "bfloat16", "float32"), ("float16", "float32", "float32"), ("bfloat16", "float64", "float64"),
    ("int64", "float32", "float32"), ("bool", "bool", "bool"), ("uint8", "uint8", "uint8"),
]


@pytest.mark.parametrize("a, b, expected", KNOWN_PROMOTIONS)
def test_promote_types_known_pairs(a, b, expected):
    assert fw.promote_types(getattr(fw, a), getattr(fw, b)) is getattr(fw, expected)
    assert fw.promote_types(getattr(fw, b), getattr(fw, a)) is getattr(fw, expected)


@requires_torch
def test_promote_types_every_pair_matches_torch():
    wrong = []
    for a, b in itertools.product(DTYPE_NAMES, DTYPE_NAMES):
        got = fw.promote_types(getattr(fw, a), getattr(fw, b))
        expected = dtype_name(torch.promote_types(getattr(torch, a), getattr(torch, b)))
        if got.name != expected:
            wrong.append(f"{a}+{b}: {got.name}, torch {expected}")
    assert not wrong, "; ".join(wrong)


def _pair(a_name, a_ndim, b_name, b_ndim, module):
    a = module.ones((2,) * a_ndim, dtype=getattr(module, a_name))
    b = module.ones((2,) * b_ndim, dtype=getattr(module, b_name))
    return a, b


@requires_torch
@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_result_type_tensors_and_zero_dim_match_torch(a):
    wrong = []
    for b, a_ndim, b_ndim in itertools.product(DTYPE_NAMES, (0, 1), (0, 1)):
        got = fw.result_type(*_pair(a, a_ndim, b, b_ndim, fw))
        expected = dtype_name(torch.result_type(*_pair(a, a_ndim, b, b_ndim, torch)))
        if got.name != expected:
            wrong.append(f"{a}[{a_ndim}d]+{b}[{b_ndim}d]: {got.name}, torch {expected}")
    assert not wrong, "; ".join(wrong)


SCALARS = [True, False, 0, 2, -3, 2 ** 40, 2.5, -0.5, 1e10]


@requires_torch
@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_result_type_with_python_scalars_matches_torch(a):
    wrong = []
    for scalar, ndim in itertools.product(SCALARS, (0, 1, 2)):
        tensor = fw.ones((2,) * ndim, dtype=getattr(fw, a))
        t_tensor = torch.ones((2,) * ndim, dtype=getattr(torch, a))
        got = fw.result_type(tensor, scalar)
        expected = dtype_name(torch.result_type(t_tensor, scalar))
        if got.name != expected:
            wrong.append(f"{a}[{ndim}d] with {scalar!r}: {got.name}, torch {expected}")
    assert not wrong, "; ".join(wrong)


@requires_torch
@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum", "eq"])
def test_op_result_dtypes_match_torch_for_every_pair(op):
    """What the ops return, not only what result_type says: every dtype pair, dims and 0-d."""
    wrong = []
    for a, b, a_ndim, b_ndim in itertools.product(DTYPE_NAMES, DTYPE_NAMES, (0, 1), (1,)):
        if op == "maximum" and "bool" in (a, b) and a != b:
            continue
        fw_a, fw_b = _pair(a, a_ndim, b, b_ndim, fw)
        t_a, t_b = _pair(a, a_ndim, b, b_ndim, torch)
        got = getattr(fw, op)(fw_a, fw_b).dtype.name
        expected = dtype_name(getattr(torch, op)(t_a, t_b).dtype)
        if got != expected:
            wrong.append(f"{op}({a}[{a_ndim}d], {b}): {got}, torch {expected}")
    assert not wrong, "; ".join(wrong)


@requires_torch
@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_op_result_dtypes_with_scalars_on_either_side(a):
    wrong = []
    for scalar in (True, 3, 2.5):
        bool_involved = a == "bool" or scalar is True
        for expression in ("x + s", "s + x", "x * s", "x * s" if bool_involved else "s - x", "x / s",
                           "x > s", "x ** s" if a == "bool" else "s ** x"):
            x = fw.ones(2, dtype=getattr(fw, a))
            got = eval(expression, {"x": x, "s": scalar}).dtype.name
            expected = dtype_name(eval(expression, {"x": torch.ones(2, dtype=getattr(torch, a)), "s": scalar}).dtype)
            if got != expected:
                wrong.append(f"{expression} with x {a}, s={scalar!r}: {got}, torch {expected}")
    assert not wrong, "; ".join(wrong)


def test_scalar_promotion_rules_without_torch():
    i8 = fw.ones(2, dtype=fw.int8)
    f16 = fw.ones(2, dtype=fw.float16)
    b = fw.ones(2, dtype=fw.bool)
    assert (i8 + 100).dtype is fw.int8  # same category: the tensor decides
    assert (i8 + 2.5).dtype is fw.float32  # higher category: the default float
    assert (f16 * 1e3).dtype is fw.float16
    assert (b + 1).dtype is fw.int64 and (b + True).dtype is fw.bool and (b * 1.5).dtype is fw.float32
    assert (i8 / 2).dtype is fw.float32
    assert (fw.tensor([1, 2]) / fw.tensor([2, 2])).dtype is fw.float32


# ---- inference ------------------------------------------------------------------

@pytest.mark.parametrize("data, expected", [
    (1, "int64"), (1.5, "float32"), (True, "bool"), ([1, 2], "int64"), ([1.0, 2], "float32"),
    ([True, False], "bool"), ([True, 2], "int64"), ([True, 2.5], "float32"), ([[1, 2], [3, 4]], "int64"),
    ([], "float32"), (np.float32(1.5), "float32"), (np.int32(3), "int32"), (np.bool_(True), "bool"),
    (np.array([1, 2], dtype=np.int16), "int16"), (np.array([1.0]), "float64"),
])
def test_inferred_dtype(data, expected):
    assert fw.tensor(data).dtype is getattr(fw, expected)
    if torch is not None:
        assert dtype_name(torch.tensor(data).dtype) == expected


def test_default_dtype_drives_inference():
    assert fw.get_default_dtype() is fw.float32
    fw.set_default_dtype(fw.float64)
    try:
        assert fw.get_default_dtype() is fw.float64
        assert fw.tensor([1.5]).dtype is fw.float64
        assert fw.zeros(2).dtype is fw.float64 and fw.ones(2).dtype is fw.float64
        assert fw.arange(0.5, 2).dtype is fw.float64 and fw.full((2,), 1.5).dtype is fw.float64
        assert (fw.tensor([1]) + 1.5).dtype is fw.float64
        assert fw.tensor([1]).exp().dtype is fw.float64
        assert fw.tensor([1, 2]).dtype is fw.int64
        assert fw.tensor(np.float32(1.5)).dtype is fw.float32
    finally:
        fw.set_default_dtype(fw.float32)
    assert fw.tensor([1.5]).dtype is fw.float32


@pytest.mark.parametrize("name", ["int64", "int32", "bool", "uint8"])
def test_set_default_dtype_rejects_non_float(name):
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
        fw.set_default_dtype(getattr(fw, name))
    assert fw.get_default_dtype() is fw.float32


# ---- numpy mapping and conversion -------------------------------------------------

@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_numpy_round_trip_keeps_dtype(name, rng):
    from helpers import random_array
    array = random_array(rng, (3, 2), name, low=-5, high=5)
    t = fw.from_numpy(array)
    assert t.dtype is getattr(fw, name)
    assert t.element_size() == array.itemsize
    back = t.numpy()
    assert back.dtype == array.dtype and np.array_equal(back.astype(np.float64), array.astype(np.float64))


@pytest.mark.parametrize("np_type", [np.complex64, np.complex128, np.uint16, np.uint32])
def test_unsupported_numpy_dtypes_raise_type_error(np_type):
    with pytest.raises(TypeError, match="can't convert np.ndarray of type"):
        fw.from_numpy(np.zeros(2, dtype=np_type))


def test_object_arrays_raise_type_error():
    with pytest.raises(TypeError):
        fw.tensor(np.array([object(), object()]))


@pytest.mark.parametrize("source", DTYPE_NAMES)
def test_conversions_between_every_dtype_match_torch(source, rng):
    from helpers import random_array, to_numpy
    low = 0 if source == "uint8" else -100
    array = random_array(rng, (20,), source, low=low, high=100)
    t = fw.tensor(array)
    for target in DTYPE_NAMES:
        if source in FLOAT_NAMES and target in INT_NAMES and target == "uint8":
            continue  # negative floats to uint8 is undefined behaviour in C++, so in PyTorch
        out = t.to(getattr(fw, target))
        assert out.dtype is getattr(fw, target)
        if torch is not None:
            from helpers import make_torch
            expected = make_torch(array).to(getattr(torch, target))
            np.testing.assert_array_equal(to_numpy(out), to_numpy(expected), err_msg=f"{source} -> {target}")


def test_float_to_int_truncates_toward_zero_and_float_to_bool_tests_nonzero():
    assert fw.tensor([1.7, -1.7, 2.5, -0.2]).to(fw.int64).tolist() == [1, -1, 2, 0]
    assert fw.tensor([0.0, 0.5, -2.0]).bool().tolist() == [False, True, True]
    assert fw.tensor([True, False]).float().tolist() == [1.0, 0.0]


def test_bfloat16_rounds_to_nearest_even():
    # 1 + 2**-8 lies halfway between bfloat16's neighbours 1 and 1 + 2**-7: ties go to even (1.0)
    values = [1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.14159]
    got = fw.tensor(values).bfloat16().float().tolist()
    assert got[:2] == [1.0, 1 + 2 * 2 ** -7]
    if torch is not None:
        assert got == torch.tensor(values).bfloat16().float().tolist()


def test_out_of_range_integer_scalars_wrap_like_torch():
    """The scalar is cast to the tensor's dtype (C++ wrap-around), not rejected with numpy's OverflowError."""
    assert (fw.ones(2, dtype=fw.int8) + 1000).tolist() == [-23, -23]
    assert (fw.ones(2, dtype=fw.int8) * 300).tolist() == [44, 44]
    assert (fw.ones(2, dtype=fw.uint8) + (-1)).tolist() == [0, 0]
    assert (fw.ones(2, dtype=fw.uint8) - 3).tolist() == [254, 254]
