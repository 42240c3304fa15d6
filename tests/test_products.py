"""tensordot, kron, cross (and outer): values, gradients and node names against float64 numpy and torch on every
device and float dtype, broadcasting, integer dtypes, non-contiguous inputs, and PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, FLOAT_NAMES, case, check_op, random_array, raises_like_torch, requires_torch, torch)

TENSORDOT = [((2, 3), (3, 4), 1), ((3,), (2,), 0), ((2, 3), (3, 2), ([1, 0], [0, 1])), ((4, 2, 3), (2, 3, 5), 2),
             ((2, 3, 4), (4, 5, 3), ([2, 1], [0, 2])), ((0, 3), (3, 2), 1), ((2, 3), (3, 4), ([-1], [-2])),
             # one number (PyTorch: a dot product of the flattened operands)
             ((3, 4), (3, 4), 2), ((5,), (5,), 1), ((1, 3), (3, 1), 1), ((), (), 0)]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_tensordot(dtype, rng):
    for a_shape, b_shape, dims in TENSORDOT:
        with case(a=a_shape, b=b_shape, dims=dims):
            a, b = random_array(rng, a_shape, "float64"), random_array(rng, b_shape, "float64")
            np_dims = dims if isinstance(dims, int) else tuple(dims)
            tolerance = dict(rtol=3e-2, atol=3e-2) if dtype == "bfloat16" else {}
            out = check_op(lambda x, y: fw.tensordot(x, y, dims), lambda x, y: np.tensordot(x, y, np_dims),
                           lambda x, y: torch.tensordot(x, y, dims), a, b, dtype=dtype, rng=rng, **tolerance)
            assert out.grad_fn.name() == "ViewBackward0"


def test_tensordot_broadcasts_size_one_dims(rng):
    """A contracted dim of size 1 on one side: the other side's is summed first (PyTorch's rule; numpy refuses)."""
    a, b = random_array(rng, (2, 1, 4), "float64"), random_array(rng, (3, 4, 5), "float64")
    check_op(lambda x, y: fw.tensordot(x, y, ([1, 2], [0, 1])),
             lambda x, y: np.tensordot(x, y.sum(0, keepdims=True), ([1, 2], [0, 1])),
             lambda x, y: torch.tensordot(x, y, ([1, 2], [0, 1])), a, b, dtype="float64", rng=rng)


def test_tensordot_integers_and_tensor_dims(rng):
    a, b = random_array(rng, (2, 3), "int64", low=-5, high=5), random_array(rng, (3, 2), "int64", low=-5, high=5)
    check_op(lambda x, y: fw.tensordot(x, y, 1), lambda x, y: np.tensordot(x, y, 1),
             lambda x, y: torch.tensordot(x, y, 1), a, b, grad=False, out_dtype=fw.int64, rng=rng)
    check_op(lambda x, y: fw.tensordot(x, y, 2), lambda x, y: np.tensordot(x, y, 2),
             lambda x, y: torch.tensordot(x, y, 2), a, b.T.copy(), grad=False, out_dtype=fw.int64, rng=rng)
    x, y = fw.tensor(a.astype(np.float32)), fw.tensor(b.astype(np.float32))
    assert fw.tensordot(x, y, fw.tensor([[1], [0]])).tolist() == np.tensordot(a, b, ([1], [0])).tolist()


KRON = [((2, 3), (3,)), ((), (2, 3)), ((2, 1, 3), (2, 2)), ((3,), (4,)), ((0, 2), (2, 2))]


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_kron(dtype, rng):
    for a_shape, b_shape in KRON:
        with case(a=a_shape, b=b_shape):
            a, b = random_array(rng, a_shape, "float64"), random_array(rng, b_shape, "float64")
            out = check_op(fw.kron, np.kron, torch.kron if torch else None, a, b, dtype=dtype, rng=rng)
            assert out.grad_fn.name() == "UnsafeViewBackward0"


def test_kron_promotes_and_method(rng):
    a, b = random_array(rng, (3,), "int64", low=-4, high=4), random_array(rng, (2,), "float32")
    check_op(lambda x, y: x.kron(y), np.kron, lambda x, y: x.kron(y), a, b, grad=False, out_dtype=fw.float32,
             rng=rng)


def _np_cross(dim):
    return lambda a, b: np.cross(a, b, axisa=dim, axisb=dim, axisc=dim)


CROSS = [((5, 3), (5, 3), 1), ((3, 4), (3, 4), 0), ((2, 3, 4), (1, 3, 1), 1), ((4, 2, 3), (1, 2, 3), -1),
         ((3,), (3,), 0), ((0, 3), (1, 3), 1)]


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_cross(dtype, rng):
    for a_shape, b_shape, dim in CROSS:
        with case(a=a_shape, b=b_shape, dim=dim):
            a, b = random_array(rng, a_shape, "float64"), random_array(rng, b_shape, "float64")
            out = check_op(lambda x, y: fw.cross(x, y, dim=dim), _np_cross(dim),
                           lambda x, y: torch.cross(x, y, dim=dim), a, b, dtype=dtype, rng=rng)
            assert out.grad_fn.name() == "LinalgCrossBackward0"


def test_cross_noncontiguous_integers_and_default_dim(rng):
    a, b = random_array(rng, (4, 3), "float64"), random_array(rng, (4, 3), "float64")
    check_op(lambda x, y: x.cross(y, dim=1), _np_cross(1), lambda x, y: x.cross(y, dim=1), a, b, dtype="float32",
             noncontiguous=True, rng=rng)
    for dtype in ("int64", "int32", "int8"):
        a, b = (random_array(rng, (2, 3), dtype, low=-9, high=9) for _ in range(2))
        check_op(lambda x, y: fw.cross(x, y, dim=1), lambda x, y: np.cross(x, y).astype(dtype),
                 lambda x, y: torch.cross(x, y, dim=1), a, b, grad=False, out_dtype=getattr(fw, dtype), rng=rng)
    for device in DEVICES:
        x = fw.tensor(random_array(rng, (3, 4), "float32"), device=device)
        with pytest.warns(UserWarning, match="without specifying the dim arg is deprecated"):
            out = fw.cross(x, x * 2)
        assert out.shape == (3, 4) and out.is_contiguous()  # dim 0: the first of size 3


@requires_torch
@pytest.mark.parametrize("call", [
    lambda m: m.tensordot(m.zeros(2, 3), m.zeros(4, 2), ([1], [0])),
    lambda m: m.tensordot(m.zeros(2, 3), m.zeros(3, 2, dtype=m.float64), ([1], [0])),
    lambda m: m.tensordot(m.zeros(2, 3), m.zeros(3, 2), -1), lambda m: m.tensordot(m.zeros(2, 3), m.zeros(3, 2), 3),
    lambda m: m.tensordot(m.zeros(2, 3), m.zeros(3, 2), ([1], [0, 1])),
    lambda m: m.cross(m.zeros(4, 2), m.zeros(4, 2), dim=1),
    lambda m: m.cross(m.zeros(4, 3), m.zeros(4, 3, dtype=m.float64), dim=1),
    lambda m: m.cross(m.zeros(3), m.zeros(2, 3), dim=-1),
    lambda m: m.cross(m.zeros(3, dtype=m.bool), m.zeros(3, dtype=m.bool), dim=0),
    lambda m: m.cross(m.zeros(2, 3), m.zeros(4, 3), dim=1), lambda m: m.cross(m.zeros(2, 3), m.zeros(2, 3), dim=2),
    lambda m: m.outer(m.zeros(2, 3), m.zeros(2)),
])
def test_errors_match_torch(call):
    message = raises_like_torch(lambda: call(fw), lambda: call(torch))
    try:
        call(torch)
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error)
