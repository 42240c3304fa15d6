"""unique and unique_consecutive (flattened and along a dim) against numpy and PyTorch on every device: values,
inverse, counts, dtypes, the result tuple's shape, NaN (each NaN distinct), -0.0, empty and 0-d inputs, grad_fn
names and PyTorch's error at backward."""
import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, DTYPE_NAMES, FLOAT_NAMES, case, make_tensor, make_torch, np_dtype, raises_like_torch
from helpers import torch

CUDA_DTYPES = ("bool", "int64", "bfloat16", "float32")


def _cases(dtypes):
    return [(d, t) for d in DEVICES for t in dtypes if d == "cpu" or t in CUDA_DTYPES]


def _values(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    values = rng.integers(0, 4, size=shape).astype(np.float64)
    if dtype in FLOAT_NAMES:
        values = np.where(rng.random(shape) < 0.2, rng.choice([np.nan, -0.0, np.inf], size=shape), values)
    return np.asarray(values).astype(np_dtype(dtype))


def _host(t):
    t = t.detach().cpu()
    return t.float().numpy() if t.dtype in (fw.bfloat16, getattr(torch, "bfloat16", None)) else t.numpy()


def _equal(ours, theirs, what):
    ours, theirs = _host(ours), _host(theirs) if not isinstance(theirs, np.ndarray) else theirs
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs {theirs.shape}"
    np.testing.assert_array_equal(ours, theirs, err_msg=what)


def _reference_unique(x):
    """(values, inverse, counts) by numpy, with NaNs each distinct (np.unique merges them since numpy 1.21)."""
    flat = x.reshape(-1).astype(np.float64)
    nan = np.isnan(flat)
    order = np.lexsort((np.arange(flat.size), np.where(nan, 0.0, flat), nan))  # NaN last, stable
    ordered = flat[order]
    starts = np.ones(flat.size, bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    groups = np.cumsum(starts) - 1
    inverse = np.empty(flat.size, np.int64)
    inverse[order] = groups
    return ordered[starts], inverse.reshape(x.shape), np.diff(np.append(np.flatnonzero(starts), flat.size))


@pytest.mark.parametrize("device, dtype", _cases(DTYPE_NAMES))
def test_unique_flattened(rng, device, dtype):
    for shape in [(11,), (3, 4), (2, 3, 2), (0,), (1,), ()]:
        x = _values(rng, shape, dtype)
        with case(shape=shape):
            values, inverse, counts = fw.unique(make_tensor(x, device=device), return_inverse=True,
                                                return_counts=True)
            assert values.dtype is getattr(fw, dtype) and inverse.dtype is counts.dtype is fw.int64
            expected = _reference_unique(x)
            _equal(values.double() if dtype != "bool" else values, expected[0].astype(
                np.float64 if dtype != "bool" else bool), "values")
            _equal(inverse, expected[1], "inverse")
            _equal(counts, expected[2], "counts")
            if torch is not None:
                theirs = torch.unique(make_torch(x), return_inverse=True, return_counts=True)
                for i, what in enumerate(("values", "inverse", "counts")):
                    _equal((values, inverse, counts)[i], theirs[i], f"{what} vs torch")


@pytest.mark.parametrize("device, dtype", _cases(DTYPE_NAMES))
def test_unique_consecutive_flattened(rng, device, dtype):
    for shape in [(12,), (3, 4), (0,), ()]:
        x = _values(rng, shape, dtype)
        with case(shape=shape):
            ours = fw.unique_consecutive(make_tensor(x, device=device), return_inverse=True, return_counts=True)
            flat = x.reshape(-1).astype(np.float64)
            starts = np.ones(flat.size, bool)
            starts[1:] = flat[1:] != flat[:-1]
            _equal(ours[0].double() if dtype != "bool" else ours[0],
                   flat[starts].astype(np.float64 if dtype != "bool" else bool), "values")
            _equal(ours[1], (np.cumsum(starts) - 1).reshape(x.shape), "inverse")
            _equal(ours[2], np.diff(np.append(np.flatnonzero(starts), flat.size)), "counts")
            if torch is not None:
                theirs = torch.unique_consecutive(make_torch(x), return_inverse=True, return_counts=True)
                for i in range(3):
                    _equal(ours[i], theirs[i], f"output {i} vs torch")


@pytest.mark.parametrize("device, dtype", _cases(("bool", "uint8", "int64", "float16", "bfloat16", "float32",
                                                   "float64")))
def test_unique_along_a_dim(rng, device, dtype):
    for shape, dim in [((6, 3), 0), ((6, 3), 1), ((4, 2, 3), 1), ((4, 2, 3), -1), ((5, 1), 0), ((0, 3), 0)]:
        x = _values(rng, shape, dtype)
        if x.size:
            x[1] = x[0] if dim == 0 else x[1]  # a repeated slice
        with case(shape=shape, dim=dim):
            t = make_tensor(x, device=device)
            ours = fw.unique(t, return_inverse=True, return_counts=True, dim=dim)
            consecutive = fw.unique_consecutive(t, return_inverse=True, return_counts=True, dim=dim)
            if torch is None:
                continue
            theirs = torch.unique(make_torch(x), return_inverse=True, return_counts=True, dim=dim)
            if x.dtype == bool or not np.isnan(x.astype(np.float64)).any():  # PyTorch orders NaN slices arbitrarily
                for i in range(3):
                    _equal(ours[i], theirs[i], f"unique output {i} vs torch")
            theirs = torch.unique_consecutive(make_torch(x), return_inverse=True, return_counts=True, dim=dim)
            for i in range(3):
                _equal(consecutive[i], theirs[i], f"unique_consecutive output {i} vs torch")


@pytest.mark.parametrize("device", DEVICES)
def test_results_grad_fn_and_errors(device):
    x = fw.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 5.0]], device=device, requires_grad=True)
    assert fw.unique(x).grad_fn.name() == "Unique2Backward0"
    assert x.unique(dim=0).grad_fn.name() == "UniqueDimBackward0"
    assert fw.unique_consecutive(x).grad_fn.name() == "UniqueConsecutiveBackward0"
    assert fw.unique_consecutive(x, dim=0).grad_fn.name() == "UniqueConsecutiveBackward0"
    assert isinstance(fw.unique(x), fw.Tensor) and len(fw.unique(x, return_counts=True)) == 2
    values, inverse = x.unique(sorted=False, return_inverse=True)
    assert inverse.shape == x.shape
    if torch is None:
        return
    tx = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 5.0]], requires_grad=True)
    for call in (lambda m, t: m.unique(t).sum().backward(), lambda m, t: m.unique(t, dim=0).sum().backward(),
                 lambda m, t: m.unique_consecutive(t).sum().backward()):
        message = raises_like_torch(lambda: call(fw, x), lambda: call(torch, tx))
        with pytest.raises(Exception) as theirs:
            call(torch, tx)
        assert message == str(theirs.value)
    for call in (lambda m, t: m.unique(t, dim=2), lambda m, t: m.unique(t.sum(), dim=0),
                 lambda m, t: m.unique(t[:, :0], dim=0)):
        message = raises_like_torch(lambda: call(fw, x.detach()), lambda: call(torch, tx.detach()))
        with pytest.raises(Exception) as theirs:
            call(torch, tx.detach())
        assert message == str(theirs.value)
