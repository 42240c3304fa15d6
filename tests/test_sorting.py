"""sort, argsort, msort, topk, kthvalue, median, nanmedian and mode against an independent float64 numpy reference
and PyTorch, on every device: values, indices, dtypes, named results (printing), grad_fn names, gradients, errors.

Inputs hold ties, NaN, +-inf and -0.0. PyTorch's stable=True sort, median's indices and mode's (rows under 16
elements) are reproduced exactly; where PyTorch leaves tie order unspecified (topk, kthvalue, sort(stable=False))
the test checks the values and that every index points at its value.
"""
import ml_dtypes
import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, DTYPE_NAMES, FLOAT_NAMES, assert_close, case, check_op, make_tensor, make_torch,
                     np_dtype, raises_like_torch, requires_torch, torch, torch_name)

# The interpreter serves cuda at ~20-100 ms a launch (a sort ~80 ms, a median ~300 ms): cuda takes the shapes that
# reach every path, the sort kernel every dtype, and the ops built on it one dtype of each key kind (32-bit and
# 64-bit integers, 16-bit floats, float32, float64), leaving the rest to the CPU run.
SHAPES = {"cpu": [(7,), (4, 9), (2, 3, 5), (1, 1), (0, 3), (3, 0), ()],
          "cuda": [(4, 9), (2, 3, 5), (0, 3), ()]}
CUDA_DTYPES = ("uint8", "int64", "bfloat16", "float32", "float64")


def _dims(shape, device="cpu"):
    if not shape:
        return [-1]
    if device == "cuda":
        return [0] if len(shape) == 3 else [-1]
    return sorted({0, len(shape) - 1, -1})


def _cases(dtypes, all_on_cuda=False):
    """(device, dtype) pairs: every dtype on the CPU, CUDA_DTYPES (or all) on cuda."""
    return [(device, dtype) for device in DEVICES for dtype in dtypes
            if device == "cpu" or all_on_cuda or dtype in CUDA_DTYPES]


def _values(rng, shape, dtype):
    """Few distinct values (ties), and for floats NaN, +-inf, -0.0 and 0.0 among them."""
    name = dtype if isinstance(dtype, str) else dtype.name
    if name == "bool":
        return rng.random(shape) < 0.5
    values = rng.integers(-3, 4, size=shape).astype(np.float64)
    if name in FLOAT_NAMES:
        special = rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.0, 2.5], size=shape)
        values = np.where(rng.random(shape) < 0.3, special, values)
    elif name == "uint8":
        values = values + 3
    return np.asarray(values).astype(np_dtype(name))


def _stable_order(x, axis, descending=False):
    """The stable sort order PyTorch gives, by a lexsort on (NaN last, value, position): independent of the code
    under test. -0.0 and 0.0 compare equal."""
    wide = x.astype(np.float64).reshape(x.shape or (1,))
    moved = np.moveaxis(wide, axis, -1)
    position = np.broadcast_to(np.arange(moved.shape[-1]), moved.shape)
    nan = np.isnan(moved)
    value = np.where(nan, 0.0, moved)
    keys = (position, -value, ~nan) if descending else (position, value, nan)
    order = np.lexsort(keys, axis=-1) if moved.size else np.zeros(moved.shape, np.int64)
    return np.moveaxis(order, -1, axis)


def _same(got, expected, what):
    """Equal values, NaN equal to NaN, -0.0 and 0.0 told apart only when it matters (it does not here)."""
    def host(a):
        if torch is not None and isinstance(a, torch.Tensor):
            return (a.float() if a.dtype == torch.bfloat16 else a).detach().numpy()
        return np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a)

    got, expected = host(got), host(expected)
    assert got.shape == np.shape(expected), f"{what}: shape {got.shape} vs {np.shape(expected)}"
    if got.dtype == np_dtype("bfloat16"):
        got = got.astype(np.float32)
    expected = np.asarray(expected)
    if expected.dtype == np_dtype("bfloat16"):
        expected = expected.astype(np.float32)
    np.testing.assert_array_equal(got, expected, err_msg=what)


def _points_at_values(x, values, indices, axis, what):
    """x[indices] == values along `axis` (NaN at NaN)."""
    if not x.ndim:
        _same(values, x, what)
        return
    picked = np.take_along_axis(x, np.asarray(indices.cpu().numpy()), axis)
    _same(values, picked, what)


# ---- sort, argsort, msort ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("device, dtype", _cases(DTYPE_NAMES, all_on_cuda=True))
def test_sort_is_stable_with_nan_last(rng, device, dtype):
    for shape in SHAPES[device]:
        x = _values(rng, shape, dtype)
        for dim in _dims(shape, device):
            for descending in (False, True):
                with case(shape=shape, dim=dim, descending=descending):
                    t = make_tensor(x, device=device)
                    values, indices = fw.sort(t, dim, descending, stable=True)
                    assert values.dtype is t.dtype and indices.dtype is fw.int64 and values.device == t.device
                    expected = _stable_order(x, dim if shape else 0, descending).reshape(shape)
                    _same(indices, expected, "indices")
                    _same(values, np.take_along_axis(x.reshape(shape or (1,)), expected.reshape(shape or (1,)),
                                                     dim if shape else 0).reshape(shape), "values")
                    _same(t.argsort(dim, descending, stable=True), expected, "argsort")
                    if torch is not None:
                        reference = torch.sort(make_torch(x), dim=dim, descending=descending, stable=True)
                        _same(indices, reference.indices, "indices vs torch")


@pytest.mark.parametrize("device", DEVICES)
def test_sort_noncontiguous_and_long_rows(rng, device):
    """A strided input, and rows longer than one GPU block (cross-block merges; the interpreter sorts rows of up to
    65536 in one block: tests/triton_kernels/test_sort.py reaches its merges with small blocks)."""
    x = rng.standard_normal((3, 1024 + 77)).astype(np.float32)
    x[:, ::7] = 0.5  # ties across blocks
    for noncontiguous in (False, True):
        t = make_tensor(x, noncontiguous=noncontiguous, device=device)
        for descending in (False, True):
            values, indices = t.sort(descending=descending, stable=True)
            expected = _stable_order(x, 1, descending)
            _same(indices, expected, f"indices noncontiguous={noncontiguous}")
            _same(values, np.take_along_axis(x, expected, 1), "values")
    columns = make_tensor(x[:, :40].T.copy(), device=device)  # sorting along dim 0 of a (40, 3) tensor
    _same(columns.msort(), np.sort(x[:, :40].T, axis=0), "msort")


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_sort_gradient(rng, dtype):
    x = rng.permutation(24).reshape(4, 6).astype(np.float64) / 4  # distinct: every order is determined

    def reference(x64, dim, descending):
        order = np.argsort(-x64.real if descending else x64.real, axis=dim, kind="stable")
        return np.take_along_axis(x64, order, dim)

    for dim, descending in ((1, False), (0, True), (-1, True)):
        out = check_op(lambda t: fw.sort(t, dim, descending)[0], lambda a: reference(a, dim, descending),
                       lambda t: torch.sort(t, dim, descending)[0], x, dtype=dtype, rng=rng)
        assert out.grad_fn.name() == "SortBackward0"
    for device in DEVICES:
        stable = fw.sort(make_tensor(x, requires_grad=True, device=device), stable=True).values
        assert stable.grad_fn.name() == "SortBackward1"
        assert fw.msort(make_tensor(x, requires_grad=True, device=device)).grad_fn.name() == "SortBackward0"
        assert not fw.argsort(make_tensor(x, requires_grad=True, device=device)).requires_grad


# ---- topk, kthvalue ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("device, dtype", _cases([d for d in DTYPE_NAMES if d != "bool"]))
def test_topk_values_and_indices(rng, device, dtype):
    for shape in SHAPES[device]:
        x = _values(rng, shape, dtype)
        for dim in _dims(shape, device):
            size = shape[dim] if shape else 1
            for k in sorted({0, min(1, size), size // 2, size}) if device == "cpu" else [size // 2]:
                for largest in (True, False):
                    with case(shape=shape, dim=dim, k=k, largest=largest):
                        values, indices = fw.topk(make_tensor(x, device=device), k, dim, largest)
                        order = _stable_order(x, dim if shape else 0, descending=largest)
                        first = np.take(order, np.arange(k), axis=dim if shape else 0)
                        expected = np.take_along_axis(x.reshape(shape or (1,)), first, dim if shape else 0)
                        _same(values, expected.reshape(values.shape) if shape else x, "values")
                        _points_at_values(x, values, indices, dim if shape else 0, "indices")
                        if torch is not None:
                            reference = torch.topk(make_torch(x), k, dim, largest)
                            _same(values, reference.values, "values vs torch")


@pytest.mark.parametrize("device", DEVICES)
def test_topk_noncontiguous_and_long_rows(rng, device, monkeypatch):
    """topk along the middle dim of strided inputs (two-level rows, outputs k wide). On cuda the blocks shrink to 8
    pairs (a GPU's 1024, scaled for the interpreter), so rows of 21 are halved block by block (k up to 8) or
    sorted whole (k above 8): the k taken are the first k of the stable sort either way."""
    if device == "cuda":
        from triton_kernels import sort as sort_kernels
        monkeypatch.setattr(sort_kernels, "INTERPRETER_TILE", 8)
        monkeypatch.setattr(sort_kernels, "MAX_BLOCK", {False: 8, True: 8})
    x = _values(rng, (2, 21, 3), "float32")
    for noncontiguous in (False, True):
        t = make_tensor(x, noncontiguous=noncontiguous, device=device)
        for k in (5, 9):
            for largest in (True, False):
                with case(noncontiguous=noncontiguous, k=k, largest=largest):
                    values, indices = t.topk(k, 1, largest)
                    first = _stable_order(x, 1, descending=largest)[:, :k]
                    _same(indices, first, "indices")
                    _same(values, np.take_along_axis(x, first, 1), "values")
                    if torch is not None:
                        _same(values, torch.topk(make_torch(x), k, 1, largest).values, "values vs torch")


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_topk_and_kthvalue_gradients(rng, dtype):
    x = rng.permutation(30).reshape(5, 6).astype(np.float64) - 10.5

    def top(x64, k, dim, largest):
        order = np.argsort(-x64.real if largest else x64.real, axis=dim, kind="stable")
        return np.take_along_axis(x64, np.take(order, np.arange(k), axis=dim), dim)

    out = check_op(lambda t: t.topk(3, 1)[0], lambda a: top(a, 3, 1, True), lambda t: t.topk(3, 1)[0], x,
                   dtype=dtype, rng=rng)
    assert out.grad_fn.name() == "TopkBackward0"
    check_op(lambda t: fw.topk(t, 2, 0, largest=False, sorted=False)[0], lambda a: top(a, 2, 0, False),
             None, x, dtype=dtype, rng=rng)
    out = check_op(lambda t: t.kthvalue(4, 0, keepdim=True)[0], lambda a: top(a, 4, 0, False)[3:4],
                   lambda t: t.kthvalue(4, 0, keepdim=True)[0], x, dtype=dtype, rng=rng)
    assert out.grad_fn.name() == "KthvalueBackward0"


@pytest.mark.parametrize("device, dtype", _cases([d for d in DTYPE_NAMES if d != "bool"]))
def test_kthvalue(rng, device, dtype):
    for shape in SHAPES[device]:
        x = _values(rng, shape, dtype)
        for dim in _dims(shape, device):
            size = shape[dim] if shape else 1
            if size == 0 and x.size == 0 and any(s for d, s in enumerate(shape) if d != dim % len(shape)):
                continue  # no k is in range (an error, tested below)
            for k in sorted({1, size}) if size else [1]:
                for keepdim in (False, True) if device == "cpu" else (dim == 0,):
                    with case(shape=shape, dim=dim, k=k, keepdim=keepdim):
                        values, indices = fw.kthvalue(make_tensor(x, device=device), k, dim, keepdim)
                        axis = dim if shape else 0
                        sorted_x = np.take_along_axis(x.reshape(shape or (1,)), _stable_order(x, axis).reshape(
                            shape or (1,)), axis)
                        expected = np.take(sorted_x, [k - 1], axis=axis) if size else sorted_x
                        if not keepdim or not shape:
                            expected = expected.reshape(values.shape)
                        _same(values, expected, "values")
                        _points_at_values(x, values if keepdim or not shape else values.unsqueeze(axis),
                                          indices if keepdim or not shape else indices.unsqueeze(axis), axis,
                                          "indices")
                        if torch is not None and size:
                            _same(values, torch.kthvalue(make_torch(x), k, dim, keepdim).values, "vs torch")


# ---- median, nanmedian, mode ------------------------------------------------------------------------------------

@pytest.mark.parametrize("device, dtype", _cases([d for d in DTYPE_NAMES if d != "bool"]))
def test_median_and_nanmedian(rng, device, dtype):
    for shape in SHAPES[device]:
        x = _values(rng, shape, dtype)
        wide = x.astype(np.float64)
        flat = np.sort(wide.reshape(-1))
        expected = np.nan if flat.size == 0 or np.isnan(flat).any() else flat[(flat.size - 1) // 2]
        numbers = flat[~np.isnan(flat)]
        expected_nan = numbers[(numbers.size - 1) // 2] if numbers.size else np.nan
        t = make_tensor(x, device=device)
        with case(shape=shape, dim=None):
            if flat.size == 0 and dtype not in FLOAT_NAMES:
                # an integer has no nan: PyTorch's median of an empty one is the value its kernel leaves, so only
                # the oracle can say which (without it, nothing to compare)
                expected = expected_nan = float(torch.median(make_torch(x))) if torch is not None else None
            if expected is not None:
                _same(fw.median(t).double(), np.float64(expected), "median()")
                _same(t.nanmedian().double(), np.float64(expected_nan), "nanmedian()")
        for dim in _dims(shape, device):
            axis = dim if shape else 0
            if x.size == 0 and (shape[axis] == 0):
                continue
            for keepdim in (False, True) if device == "cpu" else (dim == 0,):
                with case(shape=shape, dim=dim, keepdim=keepdim):
                    for op in ("median", "nanmedian"):
                        values, indices = getattr(fw, op)(t, dim, keepdim)
                        kept = values if keepdim or not shape else values.unsqueeze(axis)
                        kept_indices = indices if keepdim or not shape else indices.unsqueeze(axis)
                        _points_at_values(x, kept, kept_indices, axis, f"{op} indices")
                        if torch is not None:
                            reference = getattr(torch, op)(make_torch(x), dim, keepdim)
                            _same(values, reference.values, f"{op} values vs torch")
                            all_nan = np.isnan(wide).all(axis=axis) if wide.size else np.zeros(0, bool)
                            if op == "median" or not np.any(all_nan):  # PyTorch's index for a row of NaN varies
                                _same(indices, reference.indices, f"{op} indices vs torch")


@pytest.mark.parametrize("device, dtype", _cases(FLOAT_NAMES))
def test_median_gradients(rng, device, dtype):
    x = rng.permutation(20).reshape(4, 5).astype(np.float64)

    def middle(x64, axis, ignore_nan=False):
        order = np.argsort(x64.real, axis=axis, kind="stable")
        return np.take(np.take_along_axis(x64, order, axis), [(x64.shape[axis] - 1) // 2], axis=axis)

    out = check_op(lambda t: t.median(1)[0], lambda a: middle(a, 1)[:, 0], lambda t: t.median(1)[0], x,
                   dtype=dtype, rng=rng)
    assert out.grad_fn.name() == "MedianBackward1"
    out = check_op(lambda t: fw.nanmedian(t, 0, True)[0], lambda a: middle(a, 0), lambda t: t.nanmedian(0, True)[0],
                   x, dtype=dtype, rng=rng)
    assert out.grad_fn.name() == "NanmedianBackward1"
    tied = np.array([[1.0, 2.0, 1.0, 2.0], [2.0, 1.0, 3.0, 2.0]])  # median() == 2 twice: the gradient is shared
    for op, node in (("median", "MedianBackward0"), ("nanmedian", "NanmedianBackward0")):
        t = make_tensor(tied, requires_grad=True, device=device)
        out = getattr(fw, op)(t)
        assert out.grad_fn.name() == node
        out.backward(fw.tensor(3.0, device=device, dtype=t.dtype))
        expected = np.where(tied == 2.0, 0.75, 0.0)  # lower median 2.0 (4th of 8), found four times: 3 / 4 each
        assert_close(t.grad, expected, "float64")
    with_nan = make_tensor(np.array([1.0, np.nan, 2.0, np.nan]), requires_grad=True, device=device)
    fw.median(with_nan).backward()
    assert_close(with_nan.grad, np.array([0.0, 0.5, 0.0, 0.5]), "float64")


@pytest.mark.parametrize("device, dtype", _cases(DTYPE_NAMES))
def test_mode(rng, device, dtype):
    for shape in [s for s in SHAPES[device] if 0 not in s]:
        x = _values(rng, shape, dtype)
        if x.dtype.kind == "f" or x.dtype == np_dtype("bfloat16"):
            x = np.where(np.isnan(x.astype(np.float64)), 1, x).astype(x.dtype)  # PyTorch's mode of NaN is undefined
        for dim in _dims(shape, device):
            axis = dim if shape else 0
            with case(shape=shape, dim=dim):
                values, indices = fw.mode(make_tensor(x, device=device), dim, keepdim=True)
                moved = np.moveaxis(x.reshape(shape or (1,)).astype(np.float64), axis, -1)
                expected = np.empty(moved.shape[:-1])
                last = np.empty(moved.shape[:-1], np.int64)
                for row in np.ndindex(moved.shape[:-1]):  # test reference: the smallest most frequent value
                    distinct, counts = np.unique(moved[row], return_counts=True)
                    expected[row] = distinct[np.argmax(counts)]
                    last[row] = np.flatnonzero(moved[row] == expected[row])[-1]
                _same(values.double(), np.moveaxis(expected[..., None], -1, axis).reshape(values.shape), "values")
                _same(indices, np.moveaxis(last[..., None], -1, axis).reshape(values.shape), "indices")
                if torch is not None:
                    _same(indices, torch.mode(make_torch(x), dim, keepdim=True).indices, "indices vs torch")
    t = make_tensor(np.array([[1.0, 2.0, 2.0], [0.5, 0.5, 3.0]]), requires_grad=True, device=device)
    values = fw.mode(t).values
    assert values.grad_fn.name() == "ModeBackward0"
    values.backward(fw.tensor([2.0, 3.0], device=device, dtype=t.dtype))
    assert_close(t.grad, np.array([[0.0, 0.0, 2.0], [0.0, 3.0, 0.0]]), "float64")


# ---- named results, printing, errors ----------------------------------------------------------------------------

@requires_torch
def test_named_results_print_as_pytorch():
    x = np.array([[3.0, 1.0, 2.0], [0.0, -1.0, 5.0]], np.float32)
    for name, call in [("sort", lambda m, t: m.sort(t, 1)), ("topk", lambda m, t: m.topk(t, 2)),
                       ("kthvalue", lambda m, t: m.kthvalue(t, 2)), ("median", lambda m, t: m.median(t, 1)),
                       ("nanmedian", lambda m, t: m.nanmedian(t, 0)), ("mode", lambda m, t: m.mode(t, 1)),
                       ("cummax", lambda m, t: m.cummax(t, 1)), ("cummin", lambda m, t: m.cummin(t, 0))]:
        ours, theirs = call(fw, fw.tensor(x)), call(torch, torch.tensor(x))
        assert torch_name(repr(ours)) == repr(theirs), name
        assert type(ours).__name__ == type(theirs).__name__ and type(ours).__module__ == "framework.return_types"
        assert ours.values is ours[0] and ours.indices is ours[1]
        values, indices = ours  # unpacks as a tuple
    assert fw.return_types.sort is type(fw.sort(fw.tensor([1.0])))


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_errors_match_pytorch(device):
    x, tx = fw.zeros(3, 4, device=device), torch.zeros(3, 4)
    cases = [  # (call, whether the message is PyTorch's word for word)
        (lambda m, t: m.sort(t, 2), True), (lambda m, t: m.sort(t, 1.5), False),
        (lambda m, t: m.topk(t, 5), True), (lambda m, t: m.topk(t, -1), True),
        (lambda m, t: m.topk(t.bool(), 1), device == "cpu"),
        (lambda m, t: m.kthvalue(t, 0), True), (lambda m, t: m.kthvalue(t, 5), True),
        (lambda m, t: m.kthvalue(t.bool(), 1), device == "cpu"),
        (lambda m, t: m.median(t.bool()), device == "cpu"), (lambda m, t: m.median(t.bool(), 0), True),
        (lambda m, t: m.median(t[:0], 0), True), (lambda m, t: m.mode(t[:, :0], 1), True),
        (lambda m, t: m.nanmedian(t[:0], 0), True),
    ]
    for call, same_message in cases:
        message = raises_like_torch(lambda: call(fw, x), lambda: call(torch, tx))
        if same_message:
            with pytest.raises(Exception) as theirs:
                call(torch, tx)
            assert message == str(theirs.value), message


@pytest.mark.parametrize("device", DEVICES)
def test_empty_and_scalar_inputs(device):
    scalar = fw.tensor(2.5, device=device)
    assert fw.sort(scalar).values.item() == 2.5 and fw.sort(scalar).indices.shape == ()
    assert fw.topk(scalar, 1).indices.item() == 0 and fw.kthvalue(scalar, 1).values.item() == 2.5
    assert fw.median(fw.zeros(0, device=device)).isnan().item()
    empty_rows = fw.zeros(0, 3, device=device)
    assert fw.median(empty_rows, 1).values.shape == (0,) and fw.mode(empty_rows, 1).indices.shape == (0,)
    assert fw.topk(fw.zeros(3, 0, device=device), 0).values.shape == (3, 0)
