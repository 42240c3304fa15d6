"""quantile and nanquantile against float64 numpy and PyTorch on every device: every interpolation mode, scalar and
1-D q, dim None / int / negative with keepdim, NaN, gradients (through sort and gather), grad_fn, errors."""
import warnings

import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, assert_close, case, check_op, make_tensor, make_torch, raises_like_torch, torch

MODES = ("linear", "lower", "higher", "midpoint", "nearest")


def _reference(x, q, axis, keepdims, mode, ignore_nan):
    """numpy's (nan)quantile (PyTorch's mode names are numpy's methods); q first when it is a list."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN is the answer
        return (np.nanquantile if ignore_nan else np.quantile)(x, q, axis=axis, keepdims=keepdims, method=mode)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_against_numpy_and_torch(rng, device, dtype):
    x = rng.normal(size=(4, 6)).astype(dtype)
    x[1, 2] = np.nan
    x[2] = np.nan
    x[3, :3] = 1.5  # ties
    # cuda (the interpreter, ~20 ms a launch) takes the modes that interpolate and two forms; the CPU all of them
    forms = [(None, False), (None, True), (1, False), (-2, True)] if device == "cpu" else [(None, False), (1, True)]
    for mode in MODES if device == "cpu" else ("linear", "midpoint"):
        for q in (0.3, [0.0, 0.5, 0.77, 1.0]):
            for dim, keepdim in forms:
                for ignore_nan in (False, True):
                    with case(mode=mode, q=q, dim=dim, keepdim=keepdim, nan=ignore_nan):
                        fn = fw.nanquantile if ignore_nan else fw.quantile
                        q_arg = make_tensor(np.array(q, dtype), device=device) if isinstance(q, list) else q
                        ours = fn(make_tensor(x, device=device), q_arg, dim=dim, keepdim=keepdim,
                                  interpolation=mode)
                        expected = _reference(x.astype(np.float64), q, dim, keepdim, mode, ignore_nan)
                        if not ignore_nan and dim is None:
                            expected = np.full(np.shape(expected), np.nan)  # any NaN makes quantile NaN
                        assert_close(ours, np.asarray(expected), dtype)
                        if torch is not None:
                            tq = torch.tensor(q, dtype=getattr(torch, dtype)) if isinstance(q, list) else q
                            theirs = getattr(torch, fn.__name__)(make_torch(x), tq, dim=dim, keepdim=keepdim,
                                                                 interpolation=mode)
                            assert tuple(ours.shape) == tuple(theirs.shape)
                            assert_close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient(rng, dtype):
    x = rng.permutation(20).reshape(4, 5).astype(np.float64) / 3
    for mode in MODES:
        out = check_op(lambda t: fw.quantile(t, 0.35, dim=1, interpolation=mode),
                       lambda a: _sorted_quantile(a, 0.35, mode), lambda t: t.quantile(0.35, dim=1, interpolation=mode),
                       x, dtype=dtype)
        assert out.grad_fn.name() == "SqueezeBackward4"
    check_op(lambda t: t.nanquantile(make_tensor(np.array([0.1, 0.9], dtype), device=t.device.type)),
             lambda a: np.stack([_sorted_quantile(a.reshape(1, -1), q, "linear")[0] for q in (0.1, 0.9)]),
             lambda t: t.nanquantile(torch.tensor([0.1, 0.9], dtype=t.dtype)), x, dtype=dtype)


def _sorted_quantile(a, q, mode):
    """Each row's quantile as PyTorch computes it (sort, rank q * (n - 1), interpolate): complex-step friendly."""
    order = np.argsort(a.real, axis=1, kind="stable")
    ordered = np.take_along_axis(a, order, 1)
    rank = q * (a.shape[1] - 1)
    rank = {"lower": np.floor(rank), "higher": np.ceil(rank), "nearest": np.round(rank)}.get(mode, rank)
    below, above = ordered[:, int(np.floor(rank))], ordered[:, int(np.ceil(rank))]
    weight = 0.5 if mode == "midpoint" else rank - np.floor(rank)
    return below + weight * (above - below)


@pytest.mark.parametrize("device", DEVICES)
def test_errors_match_pytorch(device):
    if torch is None:
        pytest.skip("PyTorch is not importable: parity check skipped")
    x, tx = fw.zeros(3, 4, device=device), torch.zeros(3, 4)

    def q(m, values, **kwargs):  # a q tensor of the library m beside its input
        return m.tensor(values, device=device, **kwargs) if m is fw else m.tensor(values, **kwargs)

    cases = [
        lambda m, t: m.quantile(t, 1.5), lambda m, t: m.quantile(t, q(m, [0.5], dtype=m.float64)),
        lambda m, t: m.quantile(t, q(m, [[0.5]])), lambda m, t: m.quantile(t[:0], 0.5),
        lambda m, t: m.quantile(t, 0.5, interpolation="foo"), lambda m, t: m.quantile(t, q(m, [0.5, 2.0])),
        lambda m, t: m.quantile(t.half(), 0.5), lambda m, t: m.quantile(t.long(), 0.5),
        lambda m, t: m.nanquantile(t, -0.1), lambda m, t: m.quantile(t, 0.5, dim=2),
    ]
    for call in cases:
        message = raises_like_torch(lambda: call(fw, x), lambda: call(torch, tx))
        with pytest.raises(Exception) as theirs:
            call(torch, tx)
        assert message == str(theirs.value)
