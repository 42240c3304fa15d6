"""clamp with tensor bounds (PyTorch's ClampBackward0 gradient rules: ties, min > max, nan), clamp_min/clamp_max
node names, where with two scalars, and isclose/allclose/equal on every dtype with PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, DTYPE_NAMES, FLOAT_NAMES, assert_close, case, check_op, make_tensor, random_array,
                     raises_like_torch, requires_torch, torch)

NAN = float("nan")


# ---- clamp with tensor bounds ----------------------------------------------------------------------

def _clamp_reference(with_low, with_high):
    """min(max(x, low), high) with the gradient of whichever operand is the result: x on ties; high when
    low > high. Values are kept off exact ties by the test, so complex step sees one operand each place."""
    def reference(x, *bounds):
        bounds = list(bounds)
        low = bounds.pop(0) if with_low else None
        high = bounds.pop(0) if with_high else None
        out = x
        if low is not None:
            out = np.where(np.real(out) < np.real(low), low, out)
        if high is not None:
            out = np.where(np.real(out) > np.real(high), high, out)
        return out
    return reference


# PyTorch's backward fails when x is smaller than the broadcast result ("output with shape [5] doesn't match the
# broadcast shape [3, 5]", torch 2.13): those shapes are checked against numpy only
BOUND_SHAPES = [((4, 5), (4, 5), (4, 5)), ((4, 5), (5,), (4, 1)), ((3, 5), (5,), ()), ((0, 3), (3,), (1, 3)),
                ((), (), ()), ((5,), (3, 5), ())]


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("which", ["both", "min", "max"])
def test_clamp_tensor_bounds(which, dtype, rng):
    with_low, with_high = which in ("both", "min"), which in ("both", "max")
    for shapes in BOUND_SHAPES:
        with case(shapes=shapes):
            x = random_array(rng, shapes[0], "float64", low=-2, high=2)
            low = random_array(rng, shapes[1], "float64", low=-1.5, high=0.5)
            high = random_array(rng, shapes[2], "float64", low=-0.5, high=1.5)  # some low > high
            bounds = ([low] if with_low else []) + ([high] if with_high else [])

            def call(module):
                def fn(y, *b):
                    b = list(b)
                    kwargs = dict(min=b.pop(0) if with_low else None, max=b.pop(0) if with_high else None)
                    return module.clamp(y, **kwargs)
                return fn
            x_is_broadcast = shapes[0] != np.broadcast_shapes(*(b.shape for b in [x] + bounds))
            out = check_op(call(fw), _clamp_reference(with_low, with_high),
                           call(torch) if torch and not x_is_broadcast else None, x, *bounds, dtype=dtype, rng=rng)
            if out.requires_grad:
                assert out.grad_fn.name() == "ClampBackward0"


@pytest.mark.parametrize("device", DEVICES)
def test_clamp_tensor_bounds_edges_like_torch(device):
    """Ties go to x; where min > max the result and gradient are max's; nan anywhere gives nan and no gradient."""
    values = ([0., 1., 2., 3., 4., 5., NAN, 2.], [1., 1., 1., 3., 3., 6., 0., NAN], [4., 4., 4., 3., 3., 2., 1., 3.])
    expected = {"both": ([1, 1, 2, 3, 3, 2, NAN, NAN], [0, 2, 3, 4, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0],
                         [0, 0, 0, 0, 5, 6, 0, 0]),
                "min": ([1, 1, 2, 3, 4, 6, NAN, NAN], [0, 2, 3, 4, 5, 0, 0, 0], [1, 0, 0, 0, 0, 6, 0, 0], None),
                "max": ([0, 1, 2, 3, 3, 2, NAN, 2], [1, 2, 3, 4, 0, 0, 0, 8], None, [0, 0, 0, 0, 5, 6, 0, 0])}
    for which, (out, grad_x, grad_low, grad_high) in expected.items():
        x, low, high = (fw.tensor(v, device=device, requires_grad=True) for v in values)
        y = fw.clamp(x, min=low if which != "max" else None, max=high if which != "min" else None)
        y.backward(fw.arange(1.0, 9.0, device=device))
        np.testing.assert_array_equal(y.detach().cpu().numpy(), np.array(out, dtype=np.float32), err_msg=which)
        for t, want in ((x, grad_x), (low, grad_low), (high, grad_high)):
            assert (t.grad is None) == (want is None), which
            if want is not None:
                assert t.grad.tolist() == want, which


@pytest.mark.parametrize("device", DEVICES)
def test_clamp_tensor_bounds_keeps_signed_zero(device):
    x = fw.tensor([-0.0, 0.0], device=device)
    assert np.signbit(fw.clamp(x, fw.tensor([0.0, -0.0], device=device)).cpu().numpy()).tolist() == [True, False]
    assert np.signbit(fw.clamp(x, max=fw.tensor([0.0, -0.0], device=device)).cpu().numpy()).tolist() == [True, False]


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "bool"])
def test_clamp_tensor_bounds_integers(dtype, rng):
    x = random_array(rng, (3, 4), dtype, low=0, high=9)
    low = random_array(rng, (4,), dtype, low=0, high=4)
    high = random_array(rng, (3, 1), dtype, low=4, high=9)
    if dtype == "bool":  # PyTorch clamps bools against one tensor bound, not two
        check_op(lambda y, a: fw.clamp(y, a), lambda y, a: np.maximum(a, y), lambda y, a: torch.clamp(y, a), x, low,
                 grad=False, out_dtype=fw.bool, rng=rng)
        raises_like_torch(lambda: fw.clamp(fw.tensor(x), fw.tensor(low), fw.tensor(high)),
                          lambda: torch.clamp(torch.tensor(x), torch.tensor(low), torch.tensor(high)),
                          match="\"clamp_cpu\" not implemented for 'Bool'")
        return
    check_op(lambda y, a, b: fw.clamp(y, a, b), lambda y, a, b: np.minimum(b, np.maximum(a, y)),
             lambda y, a, b: torch.clamp(y, a, b), x, low, high, grad=False, out_dtype=getattr(fw, dtype), rng=rng)


def test_clamp_tensor_bounds_promote_and_broadcast(rng):
    x = random_array(rng, (2,), "int64", low=-5, high=5)
    low = random_array(rng, (3, 1), "float32")
    check_op(lambda y, a: fw.clamp(y, min=a), lambda y, a: np.maximum(a, y), lambda y, a: torch.clamp(y, min=a),
             x, low, grad=False, out_dtype=fw.float32, rng=rng)


@pytest.mark.parametrize("device", DEVICES)
def test_clamp_node_names(device):
    x = fw.tensor([1.0, 5.0], device=device, requires_grad=True)
    bound = fw.tensor([2.0], device=device)
    names = [fw.clamp(x, bound).grad_fn.name(), fw.clamp_min(x, bound).grad_fn.name(),
             fw.clamp_max(x, bound).grad_fn.name(), x.clamp_min(1).grad_fn.name(), x.clamp_max(1).grad_fn.name(),
             x.clamp(0, 1).grad_fn.name(), x.clamp(min=bound).grad_fn.name()]
    assert names == ["ClampBackward0", "ClampMinBackward1", "ClampMaxBackward1", "ClampMinBackward0",
                     "ClampMaxBackward0", "ClampBackward1", "ClampBackward0"]


def test_clamp_tensor_bounds_in_place_and_noncontiguous(rng):
    x, low, high = (random_array(rng, (4, 6), "float64", low=lo, high=hi) for lo, hi in ((-2, 2), (-1, 0), (0, 1)))
    check_op(lambda y, a, b: y.clamp(a, b), _clamp_reference(True, True), lambda y, a, b: y.clamp(a, b), x, low,
             high, dtype="float32", noncontiguous=True, rng=rng)
    for device in DEVICES:
        t = fw.tensor(x, device=device)
        assert t.clamp_(fw.tensor(low, device=device), fw.tensor(high, device=device)) is t
        assert_close(t, np.minimum(high, np.maximum(low, x)), "float64")


@requires_torch
def test_clamp_mixing_a_tensor_and_a_number_is_a_type_error():
    message = raises_like_torch(lambda: fw.clamp(fw.tensor([1.0, 5.0]), fw.tensor([2.0]), 3.0),
                                lambda: torch.clamp(torch.tensor([1.0, 5.0]), torch.tensor([2.0]), 3.0))
    assert message.startswith("clamp() received an invalid combination of arguments - got (Tensor, Tensor, float)")
    message = raises_like_torch(lambda: fw.clip(fw.tensor([1.0]), fw.tensor([2.0]), 3),
                                lambda: torch.clip(torch.tensor([1.0]), torch.tensor([2.0]), 3))
    assert message.startswith("clip() received an invalid combination of arguments - got (Tensor, Tensor, int)")
    raises_like_torch(lambda: fw.clamp(fw.ones(2, 3), fw.ones(4, 3)), lambda: torch.clamp(torch.ones(2, 3),
                                                                                           torch.ones(4, 3)))
    # by keyword, as a method, in place and as clip: a tensor bound with a number bound is PyTorch's TypeError
    for call in (lambda m, x, t: m.clamp(x, min=t, max=1.0), lambda m, x, t: x.clamp(min=0.0, max=t),
                 lambda m, x, t: x.clamp_(min=t, max=1.0), lambda m, x, t: m.clip(x, t, 2),
                 lambda m, x, t: x.clip(0, max=t)):
        # (the "got (...)" part lists the arguments as given positionally: PyTorch shows keywords as `max=float`)
        for device in DEVICES:
            raises_like_torch(lambda: call(fw, fw.ones(2, 3, device=device), fw.zeros(3, device=device)),
                              lambda: call(torch, torch.ones(2, 3), torch.zeros(3)))


# ---- where with scalars ---------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("values", [(1.5, -2.0), (3, 0), (True, False), (2, 0.5)], ids=str)
def test_where_two_scalars(values, device):
    condition = [True, False, True]
    got = fw.where(fw.tensor(condition, device=device), *values)
    expected = np.where(condition, *values)
    assert got.device.type == device and got.tolist() == expected.tolist()
    if torch is not None:
        theirs = torch.where(torch.tensor(condition), *values)
        assert str(got.dtype).split(".")[1] == str(theirs.dtype).split(".")[1]


# ---- isclose, allclose, equal ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_isclose_every_dtype(dtype, rng):
    a = random_array(rng, (5, 4), dtype, low=-50, high=50)
    b = a.copy()
    b[::2] = random_array(rng, (3, 4), dtype, low=-50, high=50)
    if dtype in FLOAT_NAMES:
        b[1] = (a[1].astype(np.float64) * (1 + 1e-6)).astype(b.dtype)
        a[0, :3], b[0, :3] = [np.inf, np.nan, np.inf], [np.inf, np.nan, -np.inf]
    for kwargs in ({}, dict(equal_nan=True), dict(rtol=0.1, atol=1.0), dict(rtol=0, atol=0)):
        for device in DEVICES:
            fa, fb = make_tensor(a, device=device), make_tensor(b, device=device)
            got = fw.isclose(fa, fb, **kwargs)
            assert got.dtype is fw.bool and got.device.type == device
            if torch is not None:
                expected = torch.isclose(make_torch_like(a), make_torch_like(b), **kwargs)
                assert got.tolist() == expected.tolist(), (device, kwargs)
                assert fw.allclose(fa, fb, **kwargs) == torch.allclose(make_torch_like(a), make_torch_like(b),
                                                                        **kwargs)
                assert fw.equal(fa, fb) == torch.equal(make_torch_like(a), make_torch_like(b))


def make_torch_like(array):
    from helpers import make_torch
    return make_torch(array)


@requires_torch
def test_isclose_errors():
    raises_like_torch(lambda: fw.isclose(fw.tensor([1, 2]), fw.tensor([1.0, 3.0])),
                      lambda: torch.isclose(torch.tensor([1, 2]), torch.tensor([1.0, 3.0])),
                      match="Long did not match Float")
    for kwargs, text in ((dict(rtol=-1), "rtol must be greater than or equal to zero, but got -1"),
                         (dict(atol=-0.5), "atol must be greater than or equal to zero, but got -0.5")):
        message = raises_like_torch(lambda: fw.isclose(fw.ones(2), fw.ones(2), **kwargs),
                                    lambda: torch.isclose(torch.ones(2), torch.ones(2), **kwargs))
        assert message == text
    raises_like_torch(lambda: fw.allclose(fw.ones(2), fw.ones(3)), lambda: torch.allclose(torch.ones(2), torch.ones(3)))


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_isclose_compares_integers_in_the_default_float_dtype(device):
    """No wrap-around (int8 100 vs -100 are 200 apart) and float32 rounding (2**24 + 1 is 2**24), as PyTorch."""
    for a, b, dtype, kwargs in (([100], [-100], "int8", dict(rtol=0, atol=60)), ([0, 4], [1, 5], "uint8", {}),
                                ([0, 4], [1, 5], "uint8", dict(rtol=0.0, atol=1.0)),
                                ([16777217], [16777216], "int64", dict(rtol=0.0, atol=0.5))):
        ours = fw.isclose(fw.tensor(a, dtype=getattr(fw, dtype), device=device),
                          fw.tensor(b, dtype=getattr(fw, dtype), device=device), **kwargs)
        theirs = torch.isclose(torch.tensor(a, dtype=getattr(torch, dtype)),
                               torch.tensor(b, dtype=getattr(torch, dtype)), **kwargs)
        assert ours.tolist() == theirs.tolist(), (a, b, dtype, kwargs)
