"""erf, erfc, erfinv, nan_to_num and lerp: values and gradients against float64 numpy and torch on every
device and float dtype, integer inputs, odd shapes, non-contiguous memory, edge values and PyTorch's errors."""
import math

import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, FLOAT_NAMES, INT_NAMES, assert_close, case, check_op, random_array, raises_like_torch,
                     requires_torch, torch, with_derivative)

SHAPES = [(), (3,), (4, 5), (2, 3, 5), (1, 7), (0, 3)]

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _erfinv_float64(y):
    """erfinv by bisection on math.erf / math.erfc (independent of the framework's own method)."""
    y = np.asarray(y, dtype=np.float64)
    a = np.abs(y)
    low, high = np.zeros_like(a), np.full_like(a, 30.0)
    for _ in range(200):
        mid = (low + high) / 2
        # for |y| > 0.5 compare complements: 1 - |y| is exact there, erf(mid) - |y| would cancel
        above = np.where(a > 0.5, _erfc(mid) < 1 - a, _erf(mid) > a)
        low, high = np.where(above, low, mid), np.where(above, mid, high)
    x = np.where(a == 1, np.inf, np.where(a == 0, 0.0, (low + high) / 2))
    return np.where(np.isnan(y) | (a > 1), np.nan, np.copysign(x, y))


erf_reference = with_derivative(_erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x))
erfc_reference = with_derivative(_erfc, lambda x: -2 / math.sqrt(math.pi) * np.exp(-x * x))
erfinv_reference = with_derivative(_erfinv_float64,
                                   lambda y: math.sqrt(math.pi) / 2 * np.exp(_erfinv_float64(y) ** 2))

SPECIAL = {
    "erf": (erf_reference, dict(low=-3, high=3)),
    "erfc": (erfc_reference, dict(low=-3, high=3)),
    "erfinv": (erfinv_reference, dict(low=-0.98, high=0.98)),  # bf16 rounds 0.999 to 1
}


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("name", SPECIAL)
def test_special_values_and_grads(name, dtype, rng):
    reference, domain = SPECIAL[name]
    for shape in SHAPES:
        with case(shape=shape):
            x = random_array(rng, shape, "float64", **domain)
            # erfinv's slope grows as exp(erfinv(x)^2): hold the gradient to the input's rounding times it
            grad_rtol = 2e-2 if name == "erfinv" and dtype in ("float16", "bfloat16") else None
            check_op(getattr(fw, name), reference, getattr(torch, name, None), x, dtype=dtype, rng=rng,
                     grad_rtol=grad_rtol)


@pytest.mark.parametrize("name", SPECIAL)
def test_special_noncontiguous_and_method(name, rng):
    reference, domain = SPECIAL[name]
    x = random_array(rng, (4, 6), "float64", **domain)
    check_op(lambda t: getattr(t, name)(), reference, lambda t: getattr(t, name)(), x, dtype="float32",
             noncontiguous=True, rng=rng)


@pytest.mark.parametrize("dtype", INT_NAMES + ("bool",))
@pytest.mark.parametrize("name", SPECIAL)
def test_special_on_integers_gives_default_float(name, dtype, rng):
    reference, _ = SPECIAL[name]
    x = random_array(rng, (2, 5), dtype, low=-1 if name == "erfinv" else -3, high=1 if name == "erfinv" else 3)
    if dtype == "uint8":
        x = x % 2 if name == "erfinv" else x
    check_op(getattr(fw, name), lambda y: reference(y.astype(np.float64)), getattr(torch, name, None), x,
             grad=False, out_dtype=fw.float32, rng=rng)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_special_edge_values(device, dtype):
    edges = {"erf": [-np.inf, np.inf, np.nan, -0.0, 0.0, 1e-30, -30.0, 6.0],
             "erfc": [-np.inf, np.inf, np.nan, 30.0, -0.0, 27.0, 1e-30],
             "erfinv": [-1.0, 1.0, 1.5, -2.0, np.nan, 0.0, -0.0, 1e-30, 1 - 2 ** -24, -(1 - 2 ** -24), 0.5, -0.5]}
    if dtype == "float64":
        edges["erfinv"] += [1 - 2 ** -53, 1 - 1e-12, -(1 - 1e-9), 1e-300]
    for name, values in edges.items():
        x = np.array(values, dtype=dtype)
        got = getattr(fw, name)(fw.tensor(x, device=device))
        expected = SPECIAL[name][0](x.astype(np.float64))
        assert_close(got, expected, dtype, what=f"{name}{values}")
        number = ~np.isnan(expected)
        assert np.array_equal(np.signbit(got.cpu().numpy()[number]), np.signbit(expected[number])), name
        if torch is not None:
            assert_close(got, getattr(torch, name)(torch.from_numpy(x)), dtype, what=f"{name} vs torch")


@pytest.mark.parametrize("device", DEVICES)
def test_special_in_place(device, rng):
    for name, (reference, domain) in SPECIAL.items():
        x = random_array(rng, (3, 4), "float32", **domain)
        t = fw.tensor(x, device=device)
        version = t._version
        assert getattr(t, name + "_")() is t and t._version == version + 1
        assert_close(t, reference(x.astype(np.float64)), "float32", what=name)


# ---- nan_to_num -------------------------------------------------------------------------------

def _nan_to_num_reference(nan=0.0, posinf=None, neginf=None, dtype="float32"):
    info = np.finfo(np.float32 if dtype == "bfloat16" else dtype)
    if dtype == "bfloat16":
        import ml_dtypes
        info = ml_dtypes.finfo(ml_dtypes.bfloat16)
    top = float(info.max) if posinf is None else posinf
    bottom = float(info.min) if neginf is None else neginf

    def reference(x):
        real = np.real(x)
        # a replacement is a constant: its complex part is 0, so the gradient there is 0
        return np.where(np.isnan(real), nan, np.where(real == np.inf, top, np.where(real == -np.inf, bottom, x)))
    return reference


def _with_specials(rng, shape, dtype):
    x = random_array(rng, shape, "float64")
    flat = x.reshape(-1)
    for i, value in zip(rng.permutation(flat.size)[:3], (np.nan, np.inf, -np.inf)):
        flat[i] = value
    return x


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("args", [{}, dict(nan=1.5), dict(nan=-2.0, posinf=7.0, neginf=-8.0), dict(posinf=3)])
def test_nan_to_num(args, dtype, rng):
    for shape in [(3,), (4, 5), (2, 3, 5), (0, 2), ()]:
        with case(shape=shape):
            x = _with_specials(rng, shape, dtype)
            reference = _nan_to_num_reference(dtype=dtype, **args)
            check_op(lambda t: fw.nan_to_num(t, **args), reference,
                     lambda t: torch.nan_to_num(t, **args), x, dtype=dtype, rng=rng)


def test_nan_to_num_noncontiguous_and_method(rng):
    x = _with_specials(rng, (4, 6), "float32")
    check_op(lambda t: t.nan_to_num(posinf=1.0), _nan_to_num_reference(posinf=1.0),
             lambda t: t.nan_to_num(posinf=1.0), x, dtype="float32", noncontiguous=True, rng=rng)


@pytest.mark.parametrize("dtype", INT_NAMES + ("bool",))
def test_nan_to_num_integers_are_copies(dtype, rng):
    x = random_array(rng, (3, 4), dtype, low=-5, high=5)
    out = check_op(fw.nan_to_num, lambda y: y, torch.nan_to_num if torch else None, x, grad=False,
                   out_dtype=getattr(fw, dtype), rng=rng)
    assert out.dtype is getattr(fw, dtype)


@pytest.mark.parametrize("device", DEVICES)
def test_nan_to_num_overflowing_replacement_is_inf(device):
    x = fw.tensor([np.inf, -np.inf, 1.0], dtype=fw.float16, device=device)
    assert fw.nan_to_num(x, posinf=1e10, neginf=-1e10).tolist() == [np.inf, -np.inf, 1.0]
    t = fw.tensor([np.nan, np.inf], device=device)
    assert t.nan_to_num_() is t and t.tolist() == [0.0, float(np.finfo(np.float32).max)]


# ---- lerp ---------------------------------------------------------------------------------------

def _lerp_reference(a, b, w):
    return a + w * (b - a)


LERP_SHAPES = [((4, 5), (4, 5), (4, 5)), ((4, 5), (5,), (4, 1)), ((5,), (3, 5), ()), ((2, 1, 3), (4, 1), (3,)),
               ((0, 3), (1, 3), (3,)), ((), (), ())]


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_lerp_tensor_weight(dtype, rng):
    for shapes in LERP_SHAPES:
        with case(shapes=shapes):
            a, b = (random_array(rng, s, "float64") for s in shapes[:2])
            w = random_array(rng, shapes[2], "float64", low=-0.5, high=1.5)  # both branches of the formula
            out = check_op(fw.lerp, _lerp_reference, torch.lerp if torch else None, a, b, w, dtype=dtype, rng=rng)
            if out.requires_grad:
                assert out.grad_fn.name() == "LerpBackward1"


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0, -0.7, 2.5])
def test_lerp_scalar_weight(weight, dtype, rng):
    for shapes in LERP_SHAPES:
        with case(shapes=shapes):
            a, b = (random_array(rng, s, "float64") for s in shapes[:2])
            out = check_op(lambda x, y: fw.lerp(x, y, weight), lambda x, y: _lerp_reference(x, y, weight),
                           lambda x, y: torch.lerp(x, y, weight), a, b, dtype=dtype, rng=rng)
            if out.requires_grad:
                assert out.grad_fn.name() == "LerpBackward0"


@pytest.mark.parametrize("device", DEVICES)
def test_lerp_is_exact_at_the_ends(device, rng):
    a = fw.tensor(random_array(rng, (50,), "float32", low=-1e3, high=1e3), device=device)
    b = fw.tensor(random_array(rng, (50,), "float32", low=-1e-3, high=1e-3), device=device)
    assert fw.equal(fw.lerp(a, b, 1.0), b) and fw.equal(fw.lerp(a, b, 0.0), a)
    assert fw.equal(fw.lerp(a, b, fw.ones(50, device=device)), b)


def test_lerp_noncontiguous_method_and_in_place(rng):
    a, b, w = (random_array(rng, (4, 6), "float64") for _ in range(3))
    check_op(lambda x, y, z: x.lerp(y, z), _lerp_reference, lambda x, y, z: x.lerp(y, z), a, b, w,
             dtype="float32", noncontiguous=True, rng=rng)
    for device in DEVICES:
        t = fw.tensor(a, device=device)
        assert t.lerp_(fw.tensor(b, device=device), 0.25) is t
        assert_close(t, _lerp_reference(a, b, 0.25), "float64")


def test_lerp_zero_dim_weight_of_another_dtype_is_converted(rng):
    a, b = random_array(rng, (3,), "float32"), random_array(rng, (3,), "float32")
    for device in DEVICES:
        out = fw.lerp(fw.tensor(a, device=device), fw.tensor(b, device=device),
                      fw.tensor(0.25, dtype=fw.float64, device=device))
        assert out.dtype is fw.float32
        assert_close(out, _lerp_reference(a.astype(np.float64), b, 0.25), "float32")


@requires_torch
def test_lerp_errors():
    def both(fn):
        return lambda: fn(fw), lambda: fn(torch)
    cases = [
        lambda m: m.lerp(m.tensor([1.0]), m.tensor([2.0], dtype=m.float64), 0.5),
        lambda m: m.lerp(m.tensor([1.0]), m.tensor([2.0]), m.tensor([0.5], dtype=m.float64)),
        lambda m: m.lerp(m.tensor([1.0]), m.tensor([2.0]), m.tensor([1])),
        lambda m: m.lerp(m.tensor([1, 2]), m.tensor([3, 4]), 0.5),
        lambda m: m.lerp(m.tensor([1, 2]), m.tensor([3, 4]), m.tensor([1, 2])),
        lambda m: m.lerp(m.ones(2, 3), m.ones(4, 3), 0.5),
        lambda m: m.lerp(m.ones(2, 3), m.ones(2, 3), m.ones(4, 3)),
    ]
    for fn in cases:
        message = raises_like_torch(*both(fn))
        torch_message = None
        try:
            fn(torch)
        except Exception as error:  # noqa: BLE001 - the message is what is compared
            torch_message = str(error)
        if "dtype" in torch_message or "not implemented" in torch_message:
            assert message == torch_message
