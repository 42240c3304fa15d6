"""framework.linalg (framework/linalg.py): vector, matrix and dispatching norms, vecdot, diagonal and cross against
float64 numpy and torch on every device, values, gradients, node names and PyTorch's errors."""
import math

import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, case, check_op, random_array, raises_like_torch, requires_torch, torch

INF = math.inf


# The references run under numpy_vjp's complex step: |a| is a branch on the real part, max/min a selection.
def _abs(a):
    return np.where(a.real < 0, -a, a)


def _pick(a, axis, largest, keepdims):
    index = (np.argmax if largest else np.argmin)(a.real, axis=axis)
    picked = np.take_along_axis(a, np.expand_dims(index, axis), axis)
    return picked if keepdims else picked.squeeze(axis)


def _extreme(a, axis, largest, keepdims):
    """max/min over `axis` (None: everything; a tuple: those dims), by selection."""
    axes = tuple(range(a.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    moved = np.moveaxis(a, axes, tuple(range(-len(axes), 0)))
    flat = moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,))
    out = _pick(flat, -1, largest, False)
    if keepdims:
        out = np.expand_dims(out, tuple(sorted(d % a.ndim for d in axes)))
    return out


def _np_matrix_norm(a, ord, dims=(-2, -1), keepdim=False):
    rows, columns = (d % a.ndim for d in dims)
    if ord == "fro":
        out = np.sqrt((a * a).sum(axis=(rows, columns), keepdims=True))
    else:
        summed, extreme = (rows, columns) if abs(ord) == 1 else (columns, rows)
        out = _pick(_abs(a).sum(axis=summed, keepdims=True), extreme, ord > 0, True)
    return out if keepdim else out.squeeze(axis=(rows, columns))


@pytest.mark.parametrize("ord", [2, 1, 3.5, INF, -INF, 0.5])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, True), ((0, 2), False), (-1, False)])
def test_vector_norm(ord, dim, keepdim, rng):
    x = random_array(rng, (3, 4, 5)) + 0.1  # no zeros: the p < 1 norms' gradients are finite
    axes = None if dim is None else dim

    def reference(a):
        if abs(ord) == INF:
            return _extreme(_abs(a), axes, ord > 0, keepdim)
        return (_abs(a) ** ord).sum(axis=axes, keepdims=keepdim) ** (1 / ord)

    with case(ord=ord, dim=dim):
        check_op(lambda t: fw.linalg.vector_norm(t, ord, dim, keepdim), reference,
                 torch and (lambda t: torch.linalg.vector_norm(t, ord, dim, keepdim)), x, rng=rng)


@pytest.mark.parametrize("ord", ["fro", 1, -1, INF, -INF])
@pytest.mark.parametrize("dims", [(-2, -1), (2, 0), (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm(ord, dims, keepdim, rng):
    # distinct sums, so that amax/amin have one winner and their gradients one place to go
    a = random_array(rng, (3, 2, 4)) + np.arange(24).reshape(3, 2, 4) * 0.37
    with case(ord=ord, dims=dims, keepdim=keepdim):
        check_op(lambda t: fw.linalg.matrix_norm(t, ord, dims, keepdim),
                 lambda t: _np_matrix_norm(t, ord, dims, keepdim),
                 torch and (lambda t: torch.linalg.matrix_norm(t, ord, dims, keepdim)), a, rng=rng)


@pytest.mark.parametrize("call", [
    lambda L, a: L.linalg.norm(a), lambda L, a: L.linalg.norm(a[0], 1), lambda L, a: L.linalg.norm(a[0], -INF),
    lambda L, a: L.linalg.norm(a[0, 0], INF), lambda L, a: L.linalg.norm(a, dim=1),
    lambda L, a: L.linalg.norm(a, -1, dim=(0, 2), keepdim=True), lambda L, a: L.linalg.norm(a, "fro", dim=(1, 2)),
    lambda L, a: L.linalg.vecdot(a, a[0]), lambda L, a: L.linalg.vecdot(a, a, dim=0),
    lambda L, a: L.linalg.vecdot(a[0, 0], a[1, 1]),
    lambda L, a: L.linalg.diagonal(a, offset=1), lambda L, a: L.linalg.diagonal(a, dim1=0, dim2=2),
    lambda L, a: L.linalg.cross(a[..., :3], a[:1, :, 1:]),
])
@requires_torch
def test_norm_vecdot_diagonal_cross_match_torch(call, rng):
    a = random_array(rng, (2, 3, 4)) + np.arange(24).reshape(2, 3, 4) * 0.41
    for device in DEVICES:
        ours = fw.tensor(a, device=device, requires_grad=True)
        theirs = torch.tensor(a, requires_grad=True)
        got, want = call(fw, ours), call(torch, theirs)
        with case(device=device):
            np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-12)
            assert got.grad_fn.name() == want.grad_fn.name()
            upstream = rng.standard_normal(tuple(want.shape))
            got.backward(fw.tensor(upstream, device=device))
            want.backward(torch.tensor(upstream))
            np.testing.assert_allclose(ours.grad.cpu().numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("call", [
    lambda L, d: L.linalg.vector_norm(L.ones(3, device=d), "fro"),
    lambda L, d: L.linalg.vector_norm(L.ones(3, dtype=L.int64, device=d)),
    lambda L, d: L.linalg.vector_norm(L.ones(3, 4, device=d), 2, dim=(0, 0)),
    lambda L, d: L.linalg.vector_norm(L.ones(0, device=d), INF),
    lambda L, d: L.linalg.matrix_norm(L.ones(3, device=d)),
    lambda L, d: L.linalg.matrix_norm(L.ones(3, 4, device=d), 3),
    lambda L, d: L.linalg.matrix_norm(L.ones(3, 4, device=d), dim=(0, 0)),
    lambda L, d: L.linalg.matrix_norm(L.ones(3, 4, device=d), dim=(0,)),
    lambda L, d: L.linalg.matrix_norm(L.ones(3, 4, 5, device=d), dim=(0, 1, 2)),
    lambda L, d: L.linalg.matrix_norm(L.ones(3, 4, dtype=L.int64, device=d)),
    lambda L, d: L.linalg.norm(L.ones(2, 2, 2, device=d), 2),
    lambda L, d: L.linalg.norm(L.ones(3, 4, device=d), "fro", dim=0),
    lambda L, d: L.linalg.norm(L.ones(3, 4, device=d), 2, dim=(0, 1, 1)),
    lambda L, d: L.linalg.vecdot(L.ones(3, device=d), L.ones(3, dtype=L.float64, device=d)),
    lambda L, d: L.linalg.vecdot(L.ones(3, device=d), L.ones(4, device=d)),
])
def test_errors_match_torch(call, device):
    message = raises_like_torch(lambda: call(fw, device), lambda: call(torch, "cpu"))
    with pytest.raises(Exception) as info:
        call(torch, "cpu")
    assert message == str(info.value).replace("torch", "framework")


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_norms_that_need_singular_values_say_so(ord):
    with pytest.raises(NotImplementedError, match="needs singular values"):
        fw.linalg.matrix_norm(fw.ones(3, 3), ord)
    with pytest.raises(NotImplementedError, match="needs singular values"):
        fw.linalg.norm(fw.ones(3, 3), ord)


@pytest.mark.parametrize("device", DEVICES)
def test_low_precision_and_dtype_argument(device, rng):
    a = random_array(rng, (4, 6))
    half = fw.tensor(a, dtype=fw.bfloat16, device=device)
    got = fw.linalg.matrix_norm(half, dtype=fw.float64)
    assert got.dtype is fw.float64
    np.testing.assert_allclose(got.item(), np.sqrt((half.double().cpu().numpy() ** 2).sum()), rtol=1e-12)
    assert fw.linalg.vector_norm(half).dtype is fw.bfloat16
    assert fw.linalg.matrix_norm(half, 1).dtype is fw.bfloat16
