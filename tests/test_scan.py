"""cumprod, cummax, cummin, logcumsumexp (and the in-place cumsum_/cumprod_) against float64 numpy and PyTorch on every
device: values, indices (ties and NaN move to the later element, as PyTorch), dtypes, grad_fn names, gradients
(cumprod's through zeros), odd shapes, 0-d, empty and non-contiguous inputs, negative dims, errors."""
import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, DTYPE_NAMES, FLOAT_NAMES, assert_close, case, check_op, make_tensor, make_torch,
                     np_dtype, raises_like_torch, torch)

SHAPES = {"cpu": [(6,), (3, 7), (2, 3, 4), (1, 1), (0, 3), ()], "cuda": [(3, 7), (2, 3, 4), (0, 3), ()]}
CUDA_DTYPES = ("bool", "uint8", "int64", "bfloat16", "float32", "float64")


def _cases(dtypes):
    return [(d, t) for d in DEVICES for t in dtypes if d == "cpu" or t in CUDA_DTYPES]


def _dims(shape, device):
    if not shape:
        return [0, -1]
    return [-1] if device == "cuda" and len(shape) < 3 else sorted({0, len(shape) - 1, -1})


def _values(rng, shape, dtype, special=True):
    if dtype == "bool":
        return rng.random(shape) < 0.7
    values = rng.integers(-2, 3, size=shape).astype(np.float64)
    if dtype in FLOAT_NAMES and special:
        values = np.where(rng.random(shape) < 0.15, rng.choice([np.nan, -0.0, np.inf, -np.inf], size=shape), values)
    elif dtype == "uint8":
        values = values + 2
    return np.asarray(values).astype(np_dtype(dtype))


def _host(t):
    t = t.detach().cpu()
    return t.float().numpy() if t.dtype in (fw.bfloat16, getattr(torch, "bfloat16", None)) else t.numpy()


def _running(x, axis, is_max):
    """(values, indices) by PyTorch's rule, element by element (the test's own reference)."""
    wide = np.moveaxis(x.reshape(x.shape or (1,)).astype(np.float64), axis, -1)
    values, indices = np.empty_like(wide), np.zeros(wide.shape, np.int64)
    for row in np.ndindex(wide.shape[:-1]):
        best, where = None, 0
        for j, v in enumerate(wide[row]):
            if best is None or np.isnan(v) or (not np.isnan(best) and (v >= best if is_max else v <= best)):
                best, where = v, j
            values[row + (j,)], indices[row + (j,)] = best, where
    shape = x.shape
    return np.moveaxis(values, -1, axis).reshape(shape), np.moveaxis(indices, -1, axis).reshape(shape)


@pytest.mark.parametrize("device, dtype", _cases(DTYPE_NAMES))
def test_cummax_cummin(rng, device, dtype):
    for shape in SHAPES[device]:
        x = _values(rng, shape, dtype)
        for dim in _dims(shape, device):
            for op in ("cummax", "cummin"):
                with case(op=op, shape=shape, dim=dim):
                    values, indices = getattr(fw, op)(make_tensor(x, noncontiguous=len(shape) > 1, device=device),
                                                      dim)
                    assert values.dtype is getattr(fw, dtype) and indices.dtype is fw.int64
                    expected, where = _running(x, dim % max(len(shape), 1), op == "cummax")
                    np.testing.assert_array_equal(_host(values).astype(np.float64), expected)
                    np.testing.assert_array_equal(_host(indices), where)
                    if torch is not None:
                        theirs = getattr(torch, op)(make_torch(x), dim)
                        np.testing.assert_array_equal(_host(indices), theirs.indices.numpy())


@pytest.mark.parametrize("device, dtype", _cases(DTYPE_NAMES))
def test_cumprod_values_and_dtype(rng, device, dtype):
    for shape in SHAPES[device]:
        x = _values(rng, shape, dtype)
        for dim in _dims(shape, device):
            with case(shape=shape, dim=dim):
                out = fw.cumprod(make_tensor(x, device=device), dim)
                integral = dtype not in FLOAT_NAMES
                assert out.dtype is (fw.int64 if integral else getattr(fw, dtype))
                wide = x.reshape(x.shape or (1,)).astype(np.int64 if integral else np.float64)
                with np.errstate(invalid="ignore"):  # inf * 0 is nan, as it is the answer
                    expected = np.cumprod(wide, axis=dim % max(len(shape), 1)).reshape(shape)
                assert_close(out, expected, dtype if not integral else "int64")
                if torch is not None:
                    assert_close(out, torch.cumprod(make_torch(x), dim), dtype if not integral else "int64",
                                 rtol=4e-2 if dtype in ("float16", "bfloat16") else None)
    assert fw.cumprod(make_tensor(np.arange(1, 5, dtype=np.int32), device=device), 0, dtype=fw.float64).dtype \
        is fw.float64


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_cumprod_gradient_with_zeros(rng, dtype):
    """PyTorch's cumprod gradient holds through zeros: one, two, and at the ends."""
    x = rng.uniform(0.5, 1.5, size=(4, 6)) * rng.choice([-1.0, 1.0], size=(4, 6))
    x[1, 2] = 0.0
    x[2, 1] = x[2, 4] = 0.0
    x[3, 0] = x[3, 5] = 0.0
    for dim in (1, 0, -1):
        out = check_op(lambda t: fw.cumprod(t, dim), lambda a: np.cumprod(a, axis=dim), lambda t: t.cumprod(dim), x,
                       dtype=dtype)
        assert out.grad_fn.name() == "CumprodBackward0"
    check_op(lambda t: t.cumprod(0), lambda a: np.cumprod(a, axis=0), lambda t: t.cumprod(0), np.array([0.0]),
             dtype=dtype)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_cummax_cummin_gradients(rng, dtype):
    x = rng.permutation(24).reshape(4, 6).astype(np.float64) - 12

    def running(a, axis, is_max):
        order = _running(a.real, axis, is_max)[1]
        return np.take_along_axis(a, order, axis)

    for op in ("cummax", "cummin"):
        for dim in (1, 0):
            out = check_op(lambda t: getattr(fw, op)(t, dim)[0], lambda a: running(a, dim, op == "cummax"),
                           lambda t: getattr(torch, op)(t, dim)[0], x, dtype=dtype)
            assert out.grad_fn.name() == op.capitalize() + "Backward0"


@pytest.mark.parametrize("device, dtype", _cases(FLOAT_NAMES))
def test_logcumsumexp(rng, device, dtype):
    def reference(a, axis):
        shift = np.max(a.real) if a.size else 0.0
        return np.log(np.cumsum(np.exp(a - shift), axis=axis)) + shift

    # The gradient reads the rounded output: in float16/bfloat16 exp(x - out) carries out's rounding (and the
    # positive and negative parts of the sum cancel), in PyTorch as here.
    low_precision = dtype in ("float16", "bfloat16")
    loose = dict(grad_rtol=5e-2, grad_atol=5e-2) if low_precision else {}
    x = rng.uniform(-3, 3, size=(3, 7))
    out = check_op(lambda t: fw.logcumsumexp(t, 1), lambda a: reference(a, 1), lambda t: t.logcumsumexp(1), x,
                   dtype=dtype, **loose)
    assert out.grad_fn.name() == "LogcumsumexpBackward0"
    spread = 8 if low_precision else 80
    check_op(lambda t: t.logcumsumexp(-3), lambda a: reference(a, 0), lambda t: t.logcumsumexp(-3),
             rng.uniform(-spread, spread, size=(5, 2, 3)), dtype=dtype, **loose)
    special = np.array([[-np.inf, -np.inf, 1.0, np.inf, 2.0], [np.nan, 1.0, -np.inf, 3.0, 4.0]])
    ours = fw.logcumsumexp(make_tensor(special.astype(np_dtype(dtype)), device=device), 1)
    with np.errstate(all="ignore"):
        expected = np.logaddexp.accumulate(special, axis=1)
    assert_close(ours, expected, dtype)
    for shape in ((0, 3), ()):
        empty = make_tensor(np.zeros(shape, np_dtype(dtype)), device=device)
        assert fw.logcumsumexp(empty, 0).shape == shape


@pytest.mark.parametrize("device", DEVICES)
def test_in_place_and_errors(rng, device):
    x = rng.standard_normal((3, 4))
    t = make_tensor(x, device=device)
    assert t.cumsum_(1) is t
    assert_close(t, np.cumsum(x, 1), "float32")
    t.cumprod_(0)
    assert_close(t, np.cumprod(np.cumsum(x, 1), 0), "float32", rtol=1e-4)
    ints = make_tensor(np.array([1, 2, 3], np.int32), device=device)
    assert ints.cumsum_(0).dtype is fw.int32 and ints.tolist() == [1, 3, 6]
    if torch is None:
        return
    x, tx = fw.ones(2, 3, device=device), torch.ones(2, 3)
    for call in (lambda m, t: m.cumprod(t, 2), lambda m, t: m.cummax(t, -3),
                 lambda m, t: m.logcumsumexp(t.long(), 0), lambda m, t: m.logcumsumexp(t.bool(), 0)):
        message = raises_like_torch(lambda: call(fw, x), lambda: call(torch, tx))
        with pytest.raises(Exception) as theirs:
            call(torch, tx)
        if device == "cpu":
            assert message == str(theirs.value)
