"""trapezoid/trapz and cumulative_trapezoid: values, gradients (y and x) and node names against numpy and torch
on every device and float dtype, scalar and tensor spacings, broadcast x, empty dims, integer y, and errors."""
import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, FLOAT_NAMES, case, check_op, random_array, raises_like_torch, requires_torch, torch)


def _np_trapezoid(y, x=None, dx=1.0, axis=-1):
    y = np.moveaxis(y, axis, -1)
    if x is None:
        d = dx
    else:
        x = np.moveaxis(x, axis, -1) if x.ndim == y.ndim else x
        d = x[..., 1:] - x[..., :-1]
    return np.sum(d * (y[..., 1:] + y[..., :-1]), axis=-1) / 2


def _np_cumulative(y, x=None, dx=1.0, axis=-1):
    y = np.moveaxis(y, axis, -1)
    if x is None:
        d = dx
    else:
        x = np.moveaxis(x, axis, -1) if x.ndim == y.ndim else x
        d = x[..., 1:] - x[..., :-1]
    return np.moveaxis(np.cumsum(d * (y[..., 1:] + y[..., :-1]), axis=-1) / 2, -1, axis)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_scalar_spacing(dtype, rng):
    for shape, dim, dx in [((7,), -1, 1), ((3, 5), 0, 0.5), ((2, 3, 4), 1, -2.0), ((4, 1), -1, 3), ((1, 6), 0, 1)]:
        with case(shape=shape, dim=dim, dx=dx):
            y = random_array(rng, shape, "float64")
            out = check_op(lambda t: fw.trapezoid(t, dx=dx, dim=dim), lambda t: _np_trapezoid(t, dx=dx, axis=dim),
                           lambda t: torch.trapezoid(t, dx=dx, dim=dim), y, dtype=dtype, rng=rng)
            assert out.grad_fn.name() == "MulBackward1"
            out = check_op(lambda t: fw.cumulative_trapezoid(t, dx=dx, dim=dim),
                           lambda t: _np_cumulative(t, dx=dx, axis=dim),
                           lambda t: torch.cumulative_trapezoid(t, dx=dx, dim=dim), y, dtype=dtype, rng=rng)
            assert out.grad_fn.name() == "CumsumBackward0"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tensor_spacing(dtype, rng):
    for y_shape, x_shape, dim in [((3, 5), (5,), -1), ((3, 5), (3, 5), 0), ((2, 3, 4), (3, 4), 1), ((4, 3), (4,), 0)]:
        with case(y=y_shape, x=x_shape, dim=dim):
            y = random_array(rng, y_shape, "float64")
            x = np.sort(random_array(rng, x_shape, "float64"), axis=-1)

            def reference(fn):
                def ref(a, b):
                    if b.ndim == 1:
                        b = b.reshape([b.shape[0] if d == dim % a.ndim else 1 for d in range(a.ndim)])
                    elif b.ndim < a.ndim:
                        b = b.reshape((1,) * (a.ndim - b.ndim) + b.shape)
                    return fn(a, b, axis=dim)
                return ref
            out = check_op(lambda a, b: fw.trapezoid(a, b, dim=dim), reference(_np_trapezoid),
                           lambda a, b: torch.trapezoid(a, b, dim=dim), y, x, dtype=dtype, rng=rng)
            assert out.grad_fn.name() == "DivBackward1"
            check_op(lambda a, b: fw.cumulative_trapezoid(a, b, dim=dim), reference(_np_cumulative),
                     lambda a, b: torch.cumulative_trapezoid(a, b, dim=dim), y, x, dtype=dtype, rng=rng)


@pytest.mark.parametrize("device", DEVICES)
def test_integers_empty_and_alias(device):
    y = fw.tensor([1, 2, 4], device=device)
    assert fw.trapezoid(y).item() == 4.5 and fw.trapezoid(y).dtype is fw.float32
    assert fw.trapz(y, dx=2).item() == 9.0
    assert fw.cumulative_trapezoid(y).tolist() == [1.5, 4.5]
    empty = fw.trapezoid(fw.zeros(2, 0, device=device))
    assert empty.tolist() == [0.0, 0.0] and empty.device.type == device
    assert fw.cumulative_trapezoid(fw.zeros(3, 0, device=device)).shape == (3, 0)
    assert fw.trapezoid(fw.tensor([2.0], device=device)).item() == 0.0


@requires_torch
@pytest.mark.parametrize("call", [
    lambda m: m.trapezoid(m.tensor([True, False])), lambda m: m.trapezoid(m.zeros(3), m.zeros(4)),
    lambda m: m.cumulative_trapezoid(m.zeros(3), m.zeros(4)), lambda m: m.trapezoid(m.zeros(3), dx=True),
    lambda m: m.trapezoid(m.zeros(3), 0.5), lambda m: m.trapezoid(m.zeros(3), dim=2),
    lambda m: m.cumulative_trapezoid(m.tensor([True, False])),
])
def test_errors_match_torch(call):
    message = raises_like_torch(lambda: call(fw), lambda: call(torch))
    try:
        call(torch)
    except TypeError:
        pass
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error)
