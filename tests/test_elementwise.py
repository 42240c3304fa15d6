"""Elementwise ops: one table of cases, each checked by `helpers.check_op` against float64 numpy and torch.

Every case runs on fresh random inputs, on odd shapes (size-0 and size-1 dims included), on
broadcasting pairs, on non-contiguous memory, with Python scalars on either side, and on every
float dtype; integer dtypes where the op is defined for them. `gradcheck` then checks each
differentiable op's backward in float64, through broadcasting and through views.
"""
import operator
import warnings

import numpy as np
import pytest

import framework as fw
from helpers import (FLOAT_NAMES, INT_NAMES, assert_close, case, check_op, fw_dtype, gradcheck, make_tensor,
                     np_dtype, random_array, raises_like_torch, requires_torch, torch)

SHAPES = [(), (3,), (4, 5), (2, 3, 5), (1, 7), (0, 3)]
BROADCAST_PAIRS = [((4, 5), (4, 5)), ((4, 5), (5,)), ((5,), (4, 5)), ((2, 1, 5), (3, 1)), ((1, 7), (3, 1)),
                   ((0, 3), (1, 3)), ((), (2, 3)), ((3,), ()), ((2, 3, 5), (2, 3, 5))]


def _unit(x):
    return x


# name -> (numpy reference, input domain). The reference must stay real-analytic where the op is smooth
# (see helpers.py): it is differentiated by complex step.
UNARY = {
    "neg": (np.negative, dict(low=-2, high=2)),
    "exp": (np.exp, dict(low=-2, high=2)),
    "log": (np.log, dict(low=0.5, high=3)),
    "log1p": (np.log1p, dict(low=-0.5, high=2)),
    "expm1": (np.expm1, dict(low=-2, high=2)),
    "sqrt": (np.sqrt, dict(low=0.5, high=3)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), dict(low=0.5, high=3)),
    "sin": (np.sin, dict(low=-3, high=3)),
    "cos": (np.cos, dict(low=-3, high=3)),
    "tanh": (np.tanh, dict(low=-2, high=2)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), dict(low=-4, high=4)),
    "relu": (lambda x: np.where(np.real(x) > 0, x, 0), dict(low=-2, high=2, away_from_zero=0.05)),
    "abs": (lambda x: np.where(np.real(x) < 0, -x, x), dict(low=-2, high=2, away_from_zero=0.05)),
    "sign": (lambda x: np.sign(np.real(x)), dict(low=-2, high=2, away_from_zero=0.05)),
    "reciprocal": (lambda x: 1 / x, dict(low=-2, high=2, away_from_zero=0.5)),
    "square": (lambda x: x * x, dict(low=-2, high=2)),
    "floor": (lambda x: np.floor(np.real(x)), dict(low=-3, high=3)),
    "ceil": (lambda x: np.ceil(np.real(x)), dict(low=-3, high=3)),
    "round": (lambda x: np.round(np.real(x)), dict(low=-3, high=3)),
    "trunc": (lambda x: np.trunc(np.real(x)), dict(low=-3, high=3)),
}
SMOOTH_UNARY = [n for n in UNARY if n not in ("sign", "floor", "ceil", "round", "trunc")]


def _ties_max(a, b):
    """maximum with PyTorch's tie rule (the gradient split evenly) in complex-step form."""
    ra, rb = np.real(a), np.real(b)
    return np.where(ra > rb, a, np.where(ra < rb, b, (a + b) / 2))


def _ties_min(a, b):
    ra, rb = np.real(a), np.real(b)
    return np.where(ra < rb, a, np.where(ra > rb, b, (a + b) / 2))


# name -> (framework/torch call, numpy reference, domain of a, domain of b)
BINARY = {
    "add": (lambda m: m.add, operator.add, {}, {}),
    "sub": (lambda m: m.sub, operator.sub, {}, {}),
    "mul": (lambda m: m.mul, operator.mul, {}, {}),
    "div": (lambda m: m.div, operator.truediv, {}, dict(away_from_zero=0.5)),
    "pow": (lambda m: m.pow, np.power, dict(low=0.5, high=2), dict(low=-2, high=2)),
    "maximum": (lambda m: m.maximum, _ties_max, {}, {}),
    "minimum": (lambda m: m.minimum, _ties_min, {}, {}),
    # remainder is differentiable in PyTorch: d/da = 1, d/db = -floor(a / b)
    "remainder": (lambda m: m.remainder, lambda a, b: a - np.floor(np.real(a) / np.real(b)) * b,
                  dict(low=-5, high=5), dict(away_from_zero=0.7)),
}

OPERATORS = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
}
OPERATOR_DOMAINS = {"/": ({}, dict(away_from_zero=0.5)), "**": (dict(low=0.5, high=2), dict(low=-2, high=2))}


def _call(name, module):
    return getattr(module, name) if module is not None else None


# ---- unary ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("name", UNARY)
def test_unary(name, dtype, rng):
    reference, domain = UNARY[name]
    for shape in SHAPES:
        with case(shape=shape):
            x = random_array(rng, shape, "float64", **domain)
            check_op(getattr(fw, name), reference, _call(name, torch), x, dtype=dtype, rng=rng)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_noncontiguous(name, dtype, rng):
    reference, domain = UNARY[name]
    for shape in [(3,), (4, 5), (2, 3, 5)]:
        with case(shape=shape):
            x = random_array(rng, shape, "float64", **domain)
            check_op(getattr(fw, name), reference, _call(name, torch), x, dtype=dtype, noncontiguous=True, rng=rng)


@pytest.mark.parametrize("name", UNARY)
def test_unary_method_is_the_function(name, rng):
    reference, domain = UNARY[name]
    x = make_tensor(random_array(rng, (3, 4), "float32", **domain))
    assert_close(getattr(x, name)(), getattr(fw, name)(x), x.dtype)


@pytest.mark.parametrize("dtype", INT_NAMES)
@pytest.mark.parametrize("name", ["exp", "log1p", "sqrt", "sin", "tanh", "sigmoid", "reciprocal"])
def test_float_math_on_integers_gives_default_float(name, dtype, rng):
    reference, _ = UNARY[name]
    x = random_array(rng, (2, 5), dtype, low=1, high=5)
    check_op(getattr(fw, name), lambda y: reference(y.astype(np.float64)), _call(name, torch), x, grad=False,
             out_dtype=fw.float32, rng=rng)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64"])
@pytest.mark.parametrize("name", ["neg", "abs", "sign", "square", "relu", "floor", "ceil", "round", "trunc"])
def test_integer_unary_keeps_dtype(name, dtype, rng):
    reference = {"neg": np.negative, "abs": np.abs, "sign": np.sign, "square": lambda x: x * x,
                 "relu": lambda x: np.maximum(x, 0), "floor": _unit, "ceil": _unit, "round": _unit,
                 "trunc": _unit}[name]
    x = random_array(rng, (3, 4), dtype, low=-9, high=9)
    check_op(getattr(fw, name), reference, _call(name, torch), x, grad=False, out_dtype=fw_dtype(dtype), rng=rng)


# ---- binary -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("name", BINARY)
def test_binary(name, dtype, rng):
    call, reference, domain_a, domain_b = BINARY[name]
    for shapes in BROADCAST_PAIRS:
        with case(shapes=shapes):
            a = random_array(rng, shapes[0], "float64", **domain_a)
            b = random_array(rng, shapes[1], "float64", **domain_b)
            check_op(call(fw), reference, call(torch) if torch else None, a, b, dtype=dtype, rng=rng)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("name", BINARY)
def test_binary_noncontiguous(name, dtype, rng):
    call, reference, domain_a, domain_b = BINARY[name]
    for shape_a, shape_b in [((4, 5), (4, 5)), ((2, 3, 5), (3, 1)), ((6,), (6,))]:
        with case(shapes=(shape_a, shape_b)):
            a = random_array(rng, shape_a, "float64", **domain_a)
            b = random_array(rng, shape_b, "float64", **domain_b)
            check_op(call(fw), reference, call(torch) if torch else None, a, b, dtype=dtype, noncontiguous=True,
                     rng=rng)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("symbol", OPERATORS)
def test_operators_with_scalars_on_either_side(symbol, dtype, rng):
    op = OPERATORS[symbol]
    domain_a, domain_b = OPERATOR_DOMAINS.get(symbol, ({}, {}))
    for scalar in (2.5, 3, 0.75):
        if symbol == "**":
            left = random_array(rng, (3, 4), "float64", low=-2, high=2)
            check_op(lambda y: op(y, scalar), lambda y: op(y, scalar), lambda y: op(y, scalar),
                     random_array(rng, (3, 4), "float64", **domain_a), dtype=dtype, rng=rng)
            check_op(lambda y: op(scalar, y), lambda y: op(scalar, y), lambda y: op(scalar, y), left, dtype=dtype,
                     rng=rng)
            continue
        check_op(lambda y: op(y, scalar), lambda y: op(y, scalar), lambda y: op(y, scalar),
                 random_array(rng, (3, 4), "float64", **domain_a), dtype=dtype, rng=rng)
        check_op(lambda y: op(scalar, y), lambda y: op(scalar, y), lambda y: op(scalar, y),
                 random_array(rng, (3, 4), "float64", **domain_b), dtype=dtype, rng=rng)


@pytest.mark.parametrize("symbol", OPERATORS)
def test_operators_broadcast(symbol, rng):
    op = OPERATORS[symbol]
    domain_a, domain_b = OPERATOR_DOMAINS.get(symbol, ({}, {}))
    for shapes in BROADCAST_PAIRS:
        with case(shapes=shapes):
            a = random_array(rng, shapes[0], "float64", **domain_a)
            b = random_array(rng, shapes[1], "float64", **domain_b)
            check_op(op, op, op, a, b, dtype="float32", rng=rng)


def test_unary_minus_and_plus(rng):
    x = random_array(rng, (3, 4), "float64")
    check_op(operator.neg, operator.neg, operator.neg, x, rng=rng)
    t = make_tensor(x)
    assert (+t) is t or np.array_equal((+t).numpy(), x)


def test_binary_with_a_used_twice(rng):
    """x * x and x / x: both contributions reach x.grad."""
    x = random_array(rng, (3, 4), "float64", away_from_zero=0.5)
    check_op(lambda y: y * y + y / (y * 2), lambda y: y * y + y / (y * 2), lambda y: y * y + y / (y * 2), x,
             dtype="float32", rng=rng)


def test_maximum_minimum_split_the_gradient_on_ties():
    a = fw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = fw.tensor([1.0, 0.0, 3.0], requires_grad=True)
    fw.maximum(a, b).backward(fw.tensor([1.0, 1.0, 1.0]))
    assert a.grad.tolist() == [0.5, 1.0, 0.5] and b.grad.tolist() == [0.5, 0.0, 0.5]
    a.grad = b.grad = None
    fw.minimum(a, b).backward(fw.tensor([1.0, 1.0, 1.0]))
    assert a.grad.tolist() == [0.5, 0.0, 0.5] and b.grad.tolist() == [0.5, 1.0, 0.5]


# ---- integers, bool, comparisons ---------------------------------------------------

INT_BINARY = {
    "add": (operator.add, operator.add), "sub": (operator.sub, operator.sub), "mul": (operator.mul, operator.mul),
    "floor_divide": (operator.floordiv, np.floor_divide), "remainder": (operator.mod, np.remainder),
    "maximum": (lambda a, b: _maximum(a, b), np.maximum), "minimum": (lambda a, b: _minimum(a, b), np.minimum),
    "bitwise_and": (operator.and_, np.bitwise_and), "bitwise_or": (operator.or_, np.bitwise_or),
    "bitwise_xor": (operator.xor, np.bitwise_xor),
}


def _maximum(a, b):
    return (fw if isinstance(a, fw.Tensor) else torch).maximum(a, b)


def _minimum(a, b):
    return (fw if isinstance(a, fw.Tensor) else torch).minimum(a, b)


@pytest.mark.parametrize("dtype", INT_NAMES)
@pytest.mark.parametrize("name", INT_BINARY)
def test_integer_binary(name, dtype, rng):
    op, reference = INT_BINARY[name]
    low = 0 if dtype == "uint8" else -10
    a = random_array(rng, (4, 5), dtype, low=low, high=10)
    b = random_array(rng, (5,), dtype, low=low, high=10)
    if name in ("floor_divide", "remainder"):
        b[b == 0] = 3
    check_op(op, reference, op, a, b, grad=False, out_dtype=fw_dtype(dtype), rng=rng)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_true_division_gives_float(dtype, rng):
    a = random_array(rng, (3, 4), dtype, low=-10, high=10)
    b = random_array(rng, (3, 4), dtype, low=1, high=10)
    check_op(operator.truediv, operator.truediv, operator.truediv, a, b, grad=False, out_dtype=fw.float32, rng=rng)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3])
def test_integer_power(exponent, rng):
    a = random_array(rng, (3, 4), "int64", low=-5, high=5)
    check_op(lambda x: x ** exponent, lambda x: x ** exponent, lambda x: x ** exponent, a, grad=False,
             out_dtype=fw.int64, rng=rng)


def test_integer_floor_divide_and_remainder_follow_python_signs():
    a = fw.tensor([7, -7, 7, -7])
    b = fw.tensor([2, 2, -2, -2])
    assert (a // b).tolist() == [3, -4, -4, 3]
    assert (a % b).tolist() == [1, 1, -1, -1]
    assert fw.div(a, b, rounding_mode="trunc").tolist() == [3, -3, -3, 3]
    assert fw.div(a, b, rounding_mode="floor").tolist() == [3, -4, -4, 3]


def test_float_floor_divide_and_remainder(rng):
    a = random_array(rng, (4, 5), "float64", low=-5, high=5)
    b = random_array(rng, (4, 5), "float64", away_from_zero=0.7)
    check_op(operator.floordiv, np.floor_divide, operator.floordiv, a, b, grad=False, dtype="float32", rng=rng)
    check_op(operator.mod, np.remainder, operator.mod, a, b, grad=False, dtype="float32", rng=rng)


COMPARISONS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
               "ge": operator.ge}


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int64", "int8", "uint8"])
@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons_give_bool(name, dtype, rng):
    op = COMPARISONS[name]
    # small integers, so that ties happen
    a = random_array(rng, (4, 5), "int64", low=0, high=3).astype(np_dtype(dtype))
    b = random_array(rng, (5,), "int64", low=0, high=3).astype(np_dtype(dtype))
    check_op(op, op, op, a, b, grad=False, out_dtype=fw.bool, rng=rng)
    check_op(lambda x: op(x, 1), lambda x: op(x, 1), lambda x: op(x, 1), a, grad=False, out_dtype=fw.bool, rng=rng)
    check_op(lambda x: op(1, x), lambda x: op(1, x), lambda x: op(1, x), a, grad=False, out_dtype=fw.bool, rng=rng)
    named = getattr(fw, name)(make_tensor(a), make_tensor(b))
    assert np.array_equal(named.numpy(), op(a.astype(np.float64), b.astype(np.float64)))


def test_comparison_of_tensor_requiring_grad_does_not_require_grad():
    x = fw.tensor([1.0, 2.0], requires_grad=True)
    for out in (x > 1, x == x, x != 0.5, x <= x * 2):
        assert out.dtype is fw.bool and not out.requires_grad and out.grad_fn is None


def test_logical_and_bitwise_on_bool(rng):
    a = random_array(rng, (3, 4), "bool")
    b = random_array(rng, (4,), "bool")
    for op in (operator.and_, operator.or_, operator.xor):
        check_op(op, op, op, a, b, grad=False, out_dtype=fw.bool, rng=rng)
    check_op(operator.invert, np.logical_not, operator.invert, a, grad=False, out_dtype=fw.bool, rng=rng)
    for name in ("logical_and", "logical_or", "logical_xor"):
        got = getattr(fw, name)(make_tensor(a), make_tensor(b))
        assert got.dtype is fw.bool and np.array_equal(got.numpy(), getattr(np, name)(a, b))


def test_invert_on_integers(rng):
    a = random_array(rng, (3, 4), "int32", low=-50, high=50)
    check_op(operator.invert, np.invert, operator.invert, a, grad=False, out_dtype=fw.int32, rng=rng)


def test_bool_arithmetic(rng):
    a = random_array(rng, (3, 4), "bool")
    b = random_array(rng, (3, 4), "bool")
    check_op(operator.add, np.logical_or, operator.add, a, b, grad=False, out_dtype=fw.bool, rng=rng)
    check_op(operator.mul, np.logical_and, operator.mul, a, b, grad=False, out_dtype=fw.bool, rng=rng)
    check_op(lambda x: x + 1, lambda x: x.astype(np.int64) + 1, lambda x: x + 1, a, grad=False, out_dtype=fw.int64,
             rng=rng)
    check_op(lambda x: x * 1.5, lambda x: x * 1.5, lambda x: x * 1.5, a, grad=False, out_dtype=fw.float32, rng=rng)


# ---- type promotion through the ops ------------------------------------------------

@pytest.mark.parametrize("other", ["int64", "float16", "bfloat16", "float64", "int8", "bool"])
def test_mixed_dtype_binary_values_and_grads(other, rng):
    a = random_array(rng, (3, 4), "float32")
    b = random_array(rng, (4,), other, low=-3, high=3)
    out = check_op(operator.mul, operator.mul, operator.mul, a, b, rng=rng)
    assert out.dtype is fw.promote_types(fw.float32, fw_dtype(other))


def test_zero_dim_tensor_promotes_only_across_categories(rng):
    a = make_tensor(random_array(rng, (3,), "float16"))
    assert (a + fw.tensor(2.0, dtype=fw.float64)).dtype is fw.float16
    assert (make_tensor(np.array([1, 2], dtype=np.int8)) + fw.tensor(1000)).dtype is fw.int8
    assert (make_tensor(np.array([1, 2], dtype=np.int8)) + fw.tensor(1.5, dtype=fw.float64)).dtype is fw.float64


def test_numpy_scalars_act_as_python_scalars():
    x = fw.tensor([1.0, 2.0])
    for scalar in (np.float64(2.0), np.float32(2.0), np.int64(2)):
        out = x + scalar
        assert isinstance(out, fw.Tensor) and out.dtype is fw.float32 and out.tolist() == [3.0, 4.0]
        out = x * scalar
        assert isinstance(out, fw.Tensor) and out.tolist() == [2.0, 4.0]


def test_numpy_scalar_on_the_left_gives_a_tensor():
    """`np.float64(2) * t` must give a Tensor (PyTorch sets __array_priority__), not a numpy array."""
    x = fw.tensor([1.0, 2.0], requires_grad=True)
    out = np.float64(2.0) * x
    assert isinstance(out, fw.Tensor) and out.tolist() == [2.0, 4.0] and out.requires_grad


# ---- where and clamp --------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("shapes", [((4, 5), (4, 5), (4, 5)), ((4, 1), (5,), (4, 5)), ((3,), (2, 3), ()),
                                    ((0, 2), (1, 2), (2,))], ids=str)
def test_where(shapes, dtype, rng):
    condition = random_array(rng, shapes[0], "bool")
    a = random_array(rng, shapes[1], "float64")
    b = random_array(rng, shapes[2], "float64")
    check_op(lambda x, y: fw.where(make_tensor(condition, device=x.device.type), x, y),
             lambda x, y: np.where(condition, x, y),
             lambda x, y: torch.where(torch.from_numpy(condition), x, y), a, b, dtype=dtype, rng=rng)


def test_where_with_scalars(rng):
    condition = random_array(rng, (3, 4), "bool")
    a = random_array(rng, (3, 4), "float64")
    check_op(lambda x: fw.where(make_tensor(condition, device=x.device.type), x, 0.0),
             lambda x: np.where(condition, x, 0.0),
             lambda x: torch.where(torch.from_numpy(condition), x, 0.0), a, dtype="float32", rng=rng)
    check_op(lambda x: fw.where(make_tensor(condition, device=x.device.type), 1.5, x),
             lambda x: np.where(condition, 1.5, x),
             lambda x: torch.where(torch.from_numpy(condition), 1.5, x), a, dtype="float32", rng=rng)


def test_where_method_takes_self_as_the_chosen_values(rng):
    """`x.where(condition, y)` is `where(condition, x, y)`."""
    condition = random_array(rng, (3, 4), "bool")
    a = random_array(rng, (3, 4), "float32")
    got = make_tensor(a).where(make_tensor(condition), 0.0)
    assert np.array_equal(got.numpy(), np.where(condition, a, np.float32(0.0)))


def test_where_needs_a_bool_condition():
    raises_like_torch(lambda: fw.where(fw.tensor([1, 0]), fw.tensor([1.0, 2.0]), 0.0),
                      lambda: torch.where(torch.tensor([1, 0]), torch.tensor([1.0, 2.0]), 0.0),
                      match="where expected condition to be a boolean tensor")


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("bounds", [(-0.5, 0.7), (-0.5, None), (None, 0.3), (0.2, 0.1)], ids=str)
def test_clamp(bounds, dtype, rng):
    low, high = bounds
    x = random_array(rng, (4, 6), "float64", low=-2, high=2)
    # keep values off the boundaries, where the gradient is a matter of convention
    for edge in (low, high):
        if edge is not None:
            x[np.abs(x - edge) < 0.02] += 0.05

    def reference(y):
        out = y
        if low is not None:
            out = np.where(np.real(out) < low, low, out)
        if high is not None:
            out = np.where(np.real(out) > high, high, out)
        return out
    check_op(lambda y: fw.clamp(y, low, high), reference, lambda y: torch.clamp(y, low, high), x, dtype=dtype, rng=rng)
    check_op(lambda y: y.clamp(min=low, max=high), reference, lambda y: y.clamp(min=low, max=high), x, dtype=dtype,
             rng=rng)


def test_clamp_keeps_boundary_gradient_like_torch():
    x = fw.tensor([0.0, 0.5, 1.0, 2.0], requires_grad=True)
    x.clamp(0.0, 1.0).backward(fw.ones(4))
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0]


def test_clamp_with_tensor_bounds(rng):
    x = random_array(rng, (4, 5), "float64")
    low = random_array(rng, (5,), "float64", low=-1, high=0)
    high = random_array(rng, (4, 1), "float64", low=0.2, high=1)
    check_op(lambda y, lo, hi: fw.clamp(y, lo, hi), lambda y, lo, hi: _ties_min(_ties_max(y, lo), hi),
             lambda y, lo, hi: torch.clamp(y, lo, hi), x, low, high, dtype="float64", rng=rng)


def test_clamp_integers(rng):
    x = random_array(rng, (3, 4), "int64", low=-10, high=10)
    check_op(lambda y: y.clamp(-3, 4), lambda y: np.clip(y, -3, 4), lambda y: y.clamp(-3, 4), x, grad=False,
             out_dtype=fw.int64, rng=rng)
    check_op(lambda y: y.clamp(min=0.5), lambda y: np.maximum(y, 0.5), lambda y: y.clamp(min=0.5), x, grad=False,
             out_dtype=fw.float32, rng=rng)


def test_clamp_without_bounds_raises():
    raises_like_torch(lambda: fw.tensor([1.0]).clamp(), lambda: torch.tensor([1.0]).clamp(),
                      match="At least one of 'min' or 'max' must not be None")


# ---- extreme values ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_sigmoid_and_tanh_saturate_without_nan(dtype):
    x = fw.tensor([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype=fw_dtype(dtype), requires_grad=True)
    s = x.sigmoid()
    values = s.detach().float().tolist()
    assert values[0] == 0.0 and values[-1] == 1.0 and values[3] == 0.5
    assert all(np.isfinite(values))
    s.backward(fw.ones_like(s))
    assert np.all(np.isfinite(np.asarray(x.grad.float().tolist())))
    t = fw.tensor([-1e4, 1e4], dtype=fw_dtype(dtype)).tanh().float().tolist()
    assert t == [-1.0, 1.0]


@requires_torch
def test_special_values_match_torch():
    values = [0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e-30, 1e30]
    x = fw.tensor(values)
    tx = torch.tensor(values)
    for name in ("exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "tanh", "sigmoid", "relu", "abs", "sign",
                 "reciprocal", "floor", "neg", "square"):
        assert_close(getattr(x, name)(), getattr(tx, name)(), fw.float32, what=name)
    ones = fw.tensor([1.0, -1.0, 0.0])
    assert_close(ones / fw.tensor([0.0, 0.0, 0.0]), torch.tensor([1.0, -1.0, 0.0]) / 0.0, fw.float32)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_special_values_emit_no_numpy_warnings(dtype):
    """log(0), sqrt(-1), 1/0, sin(inf), overflow: -inf/nan/inf quietly, as PyTorch gives them
    (under Python's default warning filters, which the CPU backend extends for its own modules)."""
    special = [0.0, -0.0, -1.0, 1.0, float("inf"), float("-inf"), float("nan"), 1e30 if dtype == "float32" else 6e4]
    x = fw.tensor(special, dtype=fw_dtype(dtype))
    with warnings.catch_warnings(record=True) as caught:
        for name in UNARY:
            getattr(fw, name)(x)
        for op in (operator.add, operator.sub, operator.mul, operator.truediv, operator.pow, operator.floordiv,
                   operator.mod):
            op(x, x), op(x, 0.0), op(1.0, x)
        x * 1e6, x.exp() * x, fw.maximum(x, x), x.clamp(-1, 1), x.sigmoid(), x.to(fw.int64)
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []


def test_integer_division_by_zero_raises():
    for op in (operator.floordiv, operator.mod):
        raises_like_torch(lambda: op(fw.tensor([1, 2]), fw.tensor([0, 1])),
                          lambda: op(torch.tensor([1, 2]), torch.tensor([0, 1])), match="ZeroDivisionError")


def test_integer_to_negative_power_raises_runtime_error():
    raises_like_torch(lambda: fw.tensor([2, 3]) ** -1, lambda: torch.tensor([2, 3]) ** -1,
                      match="Integers to negative integer powers are not allowed")


# ---- bad input -------------------------------------------------------------------

def test_broadcast_failure_names_both_sizes():
    message = raises_like_torch(lambda: fw.ones(2, 3) + fw.ones(4), lambda: torch.ones(2, 3) + torch.ones(4))
    assert message == "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"
    message = raises_like_torch(lambda: fw.ones(5, 1, 3) * fw.ones(2, 4, 1),
                                lambda: torch.ones(5, 1, 3) * torch.ones(2, 4, 1))
    assert message == "The size of tensor a (5) must match the size of tensor b (2) at non-singleton dimension 0"


def test_bool_negation_and_subtraction_raise():
    raises_like_torch(lambda: -fw.tensor([True]), lambda: -torch.tensor([True]), match="Negation, the `-` operator")
    raises_like_torch(lambda: fw.tensor([True]) - fw.tensor([False]),
                      lambda: torch.tensor([True]) - torch.tensor([False]), match="Subtraction, the `-` operator, with a bool tensor is not supported")


def test_subtracting_a_bool_scalar_raises():
    raises_like_torch(lambda: fw.tensor([1, 2]) - True, lambda: torch.tensor([1, 2]) - True,
                      match="Subtraction, the `-` operator, with a bool tensor is not supported")
    raises_like_torch(lambda: True - fw.tensor([1, 2]), lambda: True - torch.tensor([1, 2]),
                      match="Subtraction, the `-` operator, with a bool tensor is not supported")


def test_bitwise_on_floats_raises():
    raises_like_torch(lambda: fw.tensor([1.0]) & 1, lambda: torch.tensor([1.0]) & 1, match="bitwise_and")
    raises_like_torch(lambda: ~fw.tensor([1.0]), lambda: ~torch.tensor([1.0]))


def test_unsupported_operand_types_raise_type_error():
    x = fw.tensor([1.0, 2.0])
    for bad in ("a", None, object()):
        with pytest.raises(TypeError):
            x + bad
        with pytest.raises(TypeError):
            bad * x


def test_ops_on_different_devices_raise():
    x = fw.tensor([1.0])
    if not fw.cuda.is_available():
        pytest.skip("needs a second device")
    for mixed in (lambda: x + x.cuda(), lambda: x.cuda() * x, lambda: fw.where(x > 0, x.cuda(), x)):
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least "
                                               "two devices, cuda:0 and cpu!"):
            mixed()


# ---- gradcheck: float64 central differences for every differentiable op ------------

GRADCHECK_UNARY = {name: UNARY[name][1] for name in SMOOTH_UNARY}


@pytest.mark.parametrize("name", GRADCHECK_UNARY)
def test_gradcheck_unary(name, rng):
    x = random_array(rng, (2, 3), "float64", **GRADCHECK_UNARY[name])
    gradcheck(getattr(fw, name), x)
    # through a transposed view and a broadcast (expand) view
    gradcheck(lambda y: getattr(fw, name)(y.T), x)
    gradcheck(lambda y: getattr(fw, name)(y.unsqueeze(0).expand(2, 2, 3)), x)


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round", "trunc"])
def test_gradcheck_piecewise_constant(name, rng):
    """Zero gradient away from the jumps (fractional parts kept in [0.2, 0.4])."""
    x = np.floor(random_array(rng, (2, 3), "float64", low=-3, high=3)) + rng.uniform(0.2, 0.4, size=(2, 3))
    gradcheck(getattr(fw, name), x)


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 2))], ids=str)
@pytest.mark.parametrize("name", [n for n in BINARY])
def test_gradcheck_binary(name, shapes, rng):
    call, _, domain_a, domain_b = BINARY[name]
    a = random_array(rng, shapes[0], "float64", **domain_a)
    b = random_array(rng, shapes[1], "float64", **domain_b)
    if name in ("maximum", "minimum"):
        b = b + 0.25 * np.sign(b - a.mean())  # no near-ties for finite differences to straddle
    gradcheck(call(fw), a, b)


@pytest.mark.parametrize("symbol", OPERATORS)
def test_gradcheck_operators_with_scalars(symbol, rng):
    op = OPERATORS[symbol]
    domain_a, domain_b = OPERATOR_DOMAINS.get(symbol, ({}, {}))
    a = random_array(rng, (2, 3), "float64", **domain_a)
    b = random_array(rng, (2, 3), "float64", **domain_b)
    gradcheck(lambda y: op(y, 1.5), a)
    gradcheck(lambda y: op(1.5, y), b if symbol != "**" else a)
    gradcheck(lambda x, y: op(x.T, y.T), a, b)


def test_gradcheck_where_and_clamp(rng):
    condition = make_tensor(random_array(rng, (2, 3), "bool"))
    a = random_array(rng, (2, 3), "float64")
    b = random_array(rng, (3,), "float64")
    gradcheck(lambda x, y: fw.where(condition, x, y), a, b)
    x = random_array(rng, (3, 4), "float64", low=-2, high=2)
    x[np.abs(np.abs(x) - 0.5) < 0.05] = 0.3
    gradcheck(lambda y: y.clamp(-0.5, 0.5), x)
    gradcheck(lambda y: y.clamp(min=-0.5), x)
    gradcheck(lambda y: y.clamp(max=0.5), x)
    gradcheck(lambda y: fw.where(y > 0, y * 2, y.exp()), x)


def test_gradcheck_composite_through_views(rng):
    a = random_array(rng, (2, 3), "float64")
    b = random_array(rng, (3, 2), "float64")
    gradcheck(lambda x, y: (x * y.T).sigmoid() + x.reshape(3, 2).T.tanh(), a, b)
    gradcheck(lambda x, y: x.unsqueeze(-1) * y.unsqueeze(0), a, b)


@requires_torch
def test_equal_isclose_allclose_match_torch(rng):
    a = rng.standard_normal(7).astype(np.float32)
    b = a + rng.choice([0.0, 1e-7, 1e-3], size=7).astype(np.float32)
    a[:2], b[:2] = [np.inf, np.nan], [np.inf, np.nan]
    fa, fb, ta, tb = fw.tensor(a), fw.tensor(b), torch.tensor(a), torch.tensor(b)
    for kwargs in ({}, {"equal_nan": True}, {"rtol": 1e-2, "atol": 0.0}):
        assert fw.isclose(fa, fb, **kwargs).tolist() == torch.isclose(ta, tb, **kwargs).tolist()
        assert fw.allclose(fa[2:], fb[2:], **kwargs) == torch.allclose(ta[2:], tb[2:], **kwargs)
    assert fw.equal(fa[2:], fa[2:]) and not fw.equal(fa, fa)  # nan != nan
    assert not fw.equal(fa, fa.reshape(7, 1)) and fa[2:].equal(fa[2:].clone())
