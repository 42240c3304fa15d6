"""searchsorted, bucketize, histc and bincount against numpy and PyTorch on every device: positions (left/right,
side, sorter, out_int32, N-D boundaries, scalar values, NaN), counts and their dtypes, PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, FLOAT_NAMES, case, make_tensor, make_torch, np_dtype, raises_like_torch, torch

ORDERED = ("uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64")
CUDA_DTYPES = ("int32", "int64", "bfloat16", "float32", "float64")


def _cases(dtypes):
    return [(d, t) for d in DEVICES for t in dtypes if d == "cpu" or t in CUDA_DTYPES]


def _host(t):
    return t.detach().cpu().numpy()


def _reference(boundaries, values, right):
    """np.searchsorted row by row (numpy sorts NaN last too; the boundaries here are sorted)."""
    side = "right" if right else "left"
    if boundaries.ndim == 1:
        return np.searchsorted(boundaries, values, side=side)
    rows = [np.searchsorted(b, v, side=side) for b, v in zip(boundaries.reshape(-1, boundaries.shape[-1]),
                                                               values.reshape(-1, values.shape[-1]))]
    return np.array(rows).reshape(values.shape)


@pytest.mark.parametrize("device, dtype", _cases(ORDERED))
def test_searchsorted(rng, device, dtype):
    floats = dtype in FLOAT_NAMES
    for b_shape, v_shape in [((9,), (4, 3)), ((2, 3, 8), (2, 3, 5)), ((1,), (6,)), ((5,), ()), ((0,), (3,)),
                             ((4,), (0,))]:
        boundaries = np.sort(rng.integers(0, 6, size=b_shape).astype(np.float64), axis=-1)
        values = rng.integers(-1, 8, size=v_shape).astype(np.float64)
        if floats and values.size:
            values.reshape(-1)[0] = np.nan  # NaN goes after everything
        boundaries, values = boundaries.astype(np_dtype(dtype)), values.astype(np_dtype(dtype))
        for right in (False, True):
            with case(boundaries=b_shape, values=v_shape, right=right):
                ours = fw.searchsorted(make_tensor(boundaries, device=device), make_tensor(values, device=device),
                                       right=right)
                assert ours.dtype is fw.int64 and ours.shape == values.shape
                np.testing.assert_array_equal(_host(ours), _reference(boundaries.astype(np.float64),
                                                                      values.astype(np.float64), right))
                side = fw.searchsorted(make_tensor(boundaries, device=device), make_tensor(values, device=device),
                                       side="right" if right else "left", out_int32=True)
                assert side.dtype is fw.int32
                np.testing.assert_array_equal(_host(side), _host(ours))
                if torch is not None:
                    theirs = torch.searchsorted(make_torch(boundaries), make_torch(values), right=right)
                    np.testing.assert_array_equal(_host(ours), theirs.numpy())


@pytest.mark.parametrize("device", DEVICES)
def test_searchsorted_sorter_scalars_and_bucketize(rng, device):
    boundaries = rng.permutation(10).astype(np.float32).reshape(2, 5)
    sorter = np.argsort(boundaries, axis=-1).astype(np.int64)
    values = rng.uniform(-1, 11, size=(2, 4)).astype(np.float32)
    ours = fw.searchsorted(make_tensor(boundaries, device=device), make_tensor(values, device=device),
                           sorter=make_tensor(sorter, device=device))
    expected = _reference(np.sort(boundaries, -1), values, False)
    np.testing.assert_array_equal(_host(ours), expected)
    scalar = fw.searchsorted(make_tensor(np.array([1.0, 2.0, 3.0]), device=device), 2.5)
    assert scalar.shape == () and scalar.item() == 2
    edges = make_tensor(np.array([1.0, 3.0, 5.0, 7.0]), device=device)
    x = make_tensor(np.array([[0.0, 1.0, 3.5], [5.0, 7.0, 9.0]]), device=device)
    np.testing.assert_array_equal(_host(fw.bucketize(x, edges)), [[0, 0, 2], [2, 3, 4]])
    np.testing.assert_array_equal(_host(fw.bucketize(x, edges, right=True)), [[0, 1, 2], [3, 4, 4]])
    assert fw.bucketize(2.0, edges).item() == 1 and fw.bucketize(x, edges, out_int32=True).dtype is fw.int32
    mixed = fw.searchsorted(edges, make_tensor(np.array([3, 6]), device=device))  # int values, float boundaries
    np.testing.assert_array_equal(_host(mixed), [1, 3])


@pytest.mark.parametrize("device, dtype", _cases(FLOAT_NAMES))
def test_histc(rng, device, dtype):
    x = rng.normal(0, 2, size=(7, 9)).astype(np_dtype(dtype))
    x.reshape(-1)[:3] = [np.nan, 1.0, 1.0]  # NaN is skipped in a given range (the data's range would be NaN)
    for bins, low, high in [(10, -3, 3), (1, -1, 1), (100, 0, 0), (5, 0.25, 0.75)]:
        if (low, high) == (0, 0):
            x.reshape(-1)[0] = 0.5
        t = make_tensor(x, noncontiguous=True, device=device)
        with case(bins=bins, low=low, high=high):
            ours = fw.histc(t, bins, low, high) if (low, high) != (0, 0) else t.histc(bins)
            assert ours.dtype is getattr(fw, dtype) and ours.shape == (bins,)
            finite = x.astype(np.float64)[~np.isnan(x.astype(np.float64))]
            lo, hi = (finite.min(), finite.max()) if (low, high) == (0, 0) else (low, high)
            expected = np.histogram(finite, bins, (lo, hi))[0]
            assert abs(_host(ours).astype(np.float64).sum() - expected.sum()) <= 2  # bin edges may round apart
            if torch is not None:
                theirs = torch.histc(make_torch(x), bins, low, high)
                np.testing.assert_array_equal(_host(ours).astype(np.float64), theirs.double().numpy())
    same = fw.histc(make_tensor(np.array([2.0, 2.0], np_dtype(dtype)), device=device), 3)
    np.testing.assert_array_equal(_host(same).astype(np.float64), [0, 2, 0])  # [min - 1, max + 1]


@pytest.mark.parametrize("device", DEVICES)
def test_bincount(rng, device):
    for dtype in ("uint8", "int8", "int16", "int32", "int64"):
        x = rng.integers(0, 9, size=40).astype(dtype)
        ours = fw.bincount(make_tensor(x, device=device))
        assert ours.dtype is fw.int64
        np.testing.assert_array_equal(_host(ours), np.bincount(x))
        np.testing.assert_array_equal(_host(fw.bincount(make_tensor(x, device=device), minlength=20)),
                                      np.bincount(x, minlength=20))
    x = rng.integers(0, 6, size=50)
    for weight_dtype, result in (("float32", fw.float32), ("float64", fw.float64), ("float16", fw.float64),
                                 ("int64", fw.float64)):
        weights = rng.uniform(-1, 1, size=50) if weight_dtype.startswith("float") else rng.integers(0, 5, size=50)
        weights = weights.astype(np_dtype(weight_dtype))
        ours = make_tensor(x, device=device).bincount(make_tensor(weights, device=device))
        assert ours.dtype is result
        expected = np.bincount(x, weights.astype(np.float64))
        np.testing.assert_allclose(_host(ours), expected, rtol=1e-5, atol=1e-5)
        if torch is not None and device == "cpu":  # the CPU adds in PyTorch's order: the same rounding
            theirs = torch.bincount(make_torch(x), make_torch(weights))
            np.testing.assert_array_equal(_host(ours), theirs.numpy())
    empty = fw.bincount(fw.zeros(0, dtype=fw.int64, device=device), fw.zeros(0, device=device))
    assert empty.dtype is fw.int64 and empty.shape == (0,)
    weights = fw.ones(3, device=device, requires_grad=True)
    counted = fw.bincount(fw.tensor([0, 1, 1], device=device), weights)
    assert counted.requires_grad and counted.grad_fn.name() == "NotImplemented"


@pytest.mark.parametrize("device", DEVICES)
def test_errors_match_pytorch(device):
    if torch is None:
        pytest.skip("PyTorch is not importable: parity check skipped")
    b, tb = fw.tensor([1.0, 2.0], device=device), torch.tensor([1.0, 2.0])
    cases = [
        lambda m, t: m.searchsorted(t.reshape(1, 2), (t * 0).repeat(3)),
        lambda m, t: m.searchsorted(t, t, side="left", right=True),
        lambda m, t: m.searchsorted(t, t, side="middle"),
        lambda m, t: m.searchsorted(t[0], t),
        lambda m, t: m.searchsorted(t, t, sorter=t.long() + 1),
        lambda m, t: m.searchsorted(t, t, sorter=t[:1].long()),
        lambda m, t: m.searchsorted(t, t, sorter=t),
        lambda m, t: m.searchsorted(t.bool(), t.bool()),
        lambda m, t: m.bucketize(t, t.reshape(1, 2)),
        lambda m, t: m.histc(t, bins=0),
        lambda m, t: m.histc(t, bins=3, min=2, max=1),
        lambda m, t: m.histc(t.long(), bins=3),
        lambda m, t: m.histc(t * float("inf"), bins=3),
        lambda m, t: m.bincount(t.long() - 2),
        lambda m, t: m.bincount(t.long().reshape(1, 2)),
        lambda m, t: m.bincount(t.long(), weights=t[:1]),
        lambda m, t: m.bincount(t.long(), minlength=-1),
        lambda m, t: m.bincount(t),
        lambda m, t: m.bincount(t.bool()),
    ]
    for call in cases:
        message = raises_like_torch(lambda: call(fw, b), lambda: call(torch, tb))
        with pytest.raises(Exception) as theirs:
            call(torch, tb)
        expected = str(theirs.value)
        if device == "cuda" and "_cpu" in expected:  # PyTorch names its CPU kernel; ours names the device
            expected = expected.replace("_cpu", "_cuda")
        assert message == expected, (message, expected)
