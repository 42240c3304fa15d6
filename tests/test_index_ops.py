"""index_add, index_copy, index_fill, scatter_reduce (and scatter's legacy reduce=), take, masked_scatter and
index_put against a float64 numpy reference (gradients by complex step) and PyTorch (values, dtypes, gradients,
node names, errors), on every device; cuda's out-of-range indices raised at the next sync.
"""
import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, FLOAT_NAMES, INT_NAMES, assert_close, check_op, gradcheck, random_array,
                     raises_like_torch, requires_cuda, requires_torch, torch)

A = np.array


def _lib_call(name, *args, **kwargs):
    """`name(*args, **kwargs)` of framework or torch, whichever the first tensor argument belongs to."""
    lib = fw if any(isinstance(a, fw.Tensor) for a in args) else torch
    return getattr(lib, name)(*args, **kwargs)


def _np_index_add(x, dim, index, source, alpha=1):
    out = x.astype(np.result_type(x, source))
    key = [slice(None)] * x.ndim
    key[dim] = index
    np.add.at(out, tuple(key), alpha * source)
    return out


def _along_key(index, dim, shape):
    key = list(np.ix_(*[np.arange(s) for s in shape]))
    key[dim] = index
    return tuple(key)


# ---- index_add, index_copy, index_fill --------------------------------------------------------------------

@pytest.mark.parametrize("noncontiguous", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_index_add(rng, dtype, noncontiguous):
    x = random_array(rng, (4, 5))
    kw = dict(rng=rng, dtype=dtype, noncontiguous=noncontiguous)
    index = A([3, 0, 3])  # a repeated index adds twice
    check_op(lambda a, s: fw.index_add(a, 0, fw.tensor(index, device=a.device), s),
             lambda a, s: _np_index_add(a, 0, index, s),
             torch and (lambda a, s: torch.index_add(a, 0, torch.tensor(index), s)),
             x, random_array(rng, (3, 5)), **kw)
    check_op(lambda a, s: a.index_add(-1, fw.tensor(index.astype(np.int32), device=a.device), s, alpha=2.5),
             lambda a, s: _np_index_add(a, 1, index, s, 2.5),
             torch and (lambda a, s: a.index_add(-1, torch.tensor(index, dtype=torch.int32), s, alpha=2.5)),
             x, random_array(rng, (4, 3)), **kw)


@pytest.mark.parametrize("dtype", INT_NAMES + ("bool",))
@pytest.mark.parametrize("device", DEVICES)
def test_index_functions_on_integers_and_bool(rng, dtype, device):
    x = random_array(rng, (3, 4), dtype, low=-5, high=5)
    source = random_array(rng, (3, 2), dtype, low=-5, high=5)
    index = A([3, 1])
    calls = [lambda L, a, s, i: L.index_copy(a, 1, i, s), lambda L, a, s, i: L.index_fill(a, 1, i, 1),
             lambda L, a, s, i: L.take(a, i)]
    if dtype != "bool":
        calls.append(lambda L, a, s, i: L.index_add(a, 1, i, s, alpha=3))
    for call in calls:
        got = call(fw, fw.tensor(x, device=device), fw.tensor(source, device=device), fw.tensor(index, device=device))
        assert got.dtype is getattr(fw, dtype) and got.device.type == device
        if torch is not None:
            expected = call(torch, torch.tensor(x), torch.tensor(source), torch.tensor(index))
            assert got.tolist() == expected.tolist()


@pytest.mark.parametrize("noncontiguous", [False, True])
def test_index_copy_and_index_fill(rng, noncontiguous):
    x = random_array(rng, (3, 5))
    kw = dict(rng=rng, noncontiguous=noncontiguous)
    index = A([4, 0, 2])

    def np_copy(a, s):
        out = a.astype(np.result_type(a, s))
        out[:, index] = s
        return out
    check_op(lambda a, s: fw.index_copy(a, 1, fw.tensor(index, device=a.device), s), np_copy,
             torch and (lambda a, s: torch.index_copy(a, 1, torch.tensor(index), s)), x, random_array(rng, (3, 3)),
             **kw)
    fill_index = A([-1, 0, 0])  # negative and repeated indices fill once

    def np_fill(a, v):
        out = a.astype(np.result_type(a, v))
        out[fill_index] = v
        return out
    check_op(lambda a: fw.index_fill(a, 0, fw.tensor(fill_index, device=a.device), -1.5),
             lambda a: np_fill(a, -1.5), torch and (lambda a: torch.index_fill(a, 0, torch.tensor(fill_index), -1.5)),
             x, **kw)
    fill_index[0] = 2  # (PyTorch's gradient of a tensor value reads negative indices with index_select: an error)
    check_op(lambda a, v: a.index_fill(0, fw.tensor(fill_index, device=a.device), v), np_fill,
             torch and (lambda a, v: a.index_fill(0, torch.tensor(fill_index), v)), x, random_array(rng, ()), **kw)


def test_index_functions_on_0_dim_and_empty_tensors(rng):
    scalar, one = random_array(rng, ()), A([0])
    check_op(lambda a, s: fw.index_add(a, 0, fw.tensor(one, device=a.device), s), lambda a, s: a + s,
             torch and (lambda a, s: torch.index_add(a, 0, torch.tensor(one), s)), scalar, random_array(rng, ()),
             rng=rng)
    check_op(lambda a, s: fw.index_copy(a, 0, fw.tensor(one, device=a.device), s), lambda a, s: s + 0 * a,
             torch and (lambda a, s: torch.index_copy(a, 0, torch.tensor(one), s)), scalar, random_array(rng, ()),
             rng=rng)
    check_op(lambda a: fw.index_fill(a, 0, fw.tensor(A(0), device=a.device), 2.0), lambda a: 0 * a + 2.0,
             torch and (lambda a: torch.index_fill(a, 0, torch.tensor(0), 2.0)), scalar, rng=rng)
    empty = np.zeros(0, np.int64)
    check_op(lambda a, s: fw.index_add(a, 1, fw.tensor(empty, device=a.device), s), lambda a, s: a + 0 * s.sum(),
             torch and (lambda a, s: torch.index_add(a, 1, torch.tensor(empty), s)), random_array(rng, (2, 3)),
             random_array(rng, (2, 0)), rng=rng)


# ---- scatter_reduce -----------------------------------------------------------------------------------------

_UFUNCS = {"sum": np.add, "prod": np.multiply, "mean": np.add, "amax": np.maximum, "amin": np.minimum}


def _np_scatter_reduce(x, dim, index, src, reduce, include_self):
    """The float64 reference (complex for the complex-step gradient: amax/amin compare real parts)."""
    key = _along_key(index, dim, index.shape)
    part = src[tuple(slice(0, s) for s in index.shape)]
    out = x.astype(np.result_type(x, src))
    hit = np.zeros(x.shape, bool)
    hit[key] = True
    if not include_self:
        out[hit] = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}[reduce]
    if reduce in ("amax", "amin"):
        pick = np.greater if reduce == "amax" else np.less
        for position in np.ndindex(index.shape):
            target = tuple(key_part[position] if np.ndim(key_part) else key_part for key_part in
                           np.broadcast_arrays(*key))
            if pick(part[position].real, out[target].real):
                out[target] = part[position]
        return out
    _UFUNCS[reduce].at(out, key, part)
    if reduce == "mean":
        counts = np.full(x.shape, 1 if include_self else 0)
        np.add.at(counts, key, 1)
        out = out / np.maximum(counts, 1)
    return out


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce(rng, reduce, include_self):
    x = random_array(rng, (3, 5), away_from_zero=0.5)
    index = rng.integers(0, 5, size=(3, 6))  # about one repeat per target
    src = random_array(rng, (3, 6), away_from_zero=0.5)
    check_op(lambda a, s: fw.scatter_reduce(a, 1, fw.tensor(index, device=a.device), s, reduce,
                                            include_self=include_self),
             lambda a, s: _np_scatter_reduce(a, 1, index, s, reduce, include_self),
             torch and (lambda a, s: torch.scatter_reduce(a, 1, torch.tensor(index), s, reduce,
                                                          include_self=include_self)),
             x, src, rng=rng)
    for dtype in ("float32", "bfloat16"):  # low precision: float32 accumulation, against torch
        check_op(lambda a, s: a.scatter_reduce(0, fw.tensor(index[:2, :5].T.copy(), device=a.device), s, reduce,
                                               include_self=include_self),
                 lambda a, s: _np_scatter_reduce(a, 0, index[:2, :5].T, s, reduce, include_self),
                 torch and (lambda a, s: a.scatter_reduce(0, torch.tensor(index[:2, :5].T.copy()), s, reduce,
                                                          include_self=include_self)),
                 random_array(rng, (5, 2), away_from_zero=0.5), random_array(rng, (5, 2), away_from_zero=0.5),
                 rng=rng, dtype=dtype, noncontiguous=True, grad_rtol=3e-2, grad_atol=3e-2)


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["prod", "amax", "amin", "mean"])
@pytest.mark.parametrize("device", DEVICES)
def test_scatter_reduce_gradients_at_zeros_ties_and_nan(device, reduce, include_self):
    """PyTorch's gradients where the simple formulas break: zeros in a product (one, two, in self), ties in a
    maximum (shared evenly), NaN; and positions nothing is scattered to."""
    if torch is None:
        pytest.skip("PyTorch is not importable: these gradients are PyTorch's conventions")
    x = A([[0.0, 2.0, 3.0, 4.0], [5.0, 1.0, 7.0, 1.0]])
    index = A([[0, 0, 1, 1, 2], [3, 1, 3, 3, 1]])
    src = A([[0.0, 5.0, 2.0, 2.0, 3.0], [1.0, 0.0, 1.0, np.nan, 0.0]])
    upstream = A([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    leaves = [fw.tensor(v, device=device, requires_grad=True) for v in (x, src)]
    out = fw.scatter_reduce(leaves[0], 1, fw.tensor(index, device=device), leaves[1], reduce,
                            include_self=include_self)
    out.backward(fw.tensor(upstream, device=device))
    t_leaves = [torch.tensor(v, requires_grad=True) for v in (x, src)]
    t_out = torch.scatter_reduce(t_leaves[0], 1, torch.tensor(index), t_leaves[1], reduce, include_self=include_self)
    t_out.backward(torch.tensor(upstream))
    assert out.grad_fn.name() == type(t_out.grad_fn).__name__ == "ScatterReduceBackward0"
    assert_close(out, t_out, fw.float64, what="value")
    for ours, theirs, what in zip(leaves, t_leaves, ("self", "src")):
        assert_close(ours.grad, theirs.grad, fw.float64, what=f"gradient of {what}")


@pytest.mark.parametrize("dtype", INT_NAMES + ("bool", "float16"))
@pytest.mark.parametrize("device", DEVICES)
def test_scatter_reduce_dtypes(rng, dtype, device):
    """Integer products wrap, integer means floor, bool sums or; as PyTorch's."""
    x = random_array(rng, (2, 4), dtype, low=-6, high=6)
    src = random_array(rng, (2, 7), dtype, low=-6, high=6)
    index = rng.integers(0, 4, size=(2, 7))
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            call = lambda L, a, i, s: L.scatter_reduce(a, 1, i, s, reduce, include_self=include_self)  # noqa: E731
            if dtype == "bool" and reduce == "mean":
                raises_like_torch(lambda: call(fw, *(fw.tensor(v, device=device) for v in (x, index, src))),
                                  lambda: call(torch, *(torch.tensor(v) for v in (x, index, src))))
                continue
            got = call(fw, *(fw.tensor(v, device=device) for v in (x, index, src)))
            assert got.dtype is getattr(fw, dtype)
            if torch is not None:
                expected = call(torch, *(torch.tensor(v) for v in (x, index, src)))
                assert_close(got, expected, dtype, what=f"{reduce} include_self={include_self}")


@pytest.mark.parametrize("device", DEVICES)
def test_scatter_legacy_reduce_has_no_derivative(rng, device):
    x = random_array(rng, (2, 4))
    index, src = A([[0, 0, 3]]), random_array(rng, (1, 3))
    for reduce in ("add", "multiply"):
        for value in (src, 1.5):
            call = lambda L, a, i, v: L.scatter(a, 1, i, v, reduce=reduce)  # noqa: E731
            wrap = lambda L, v: (fw.tensor(v, device=device) if L is fw else torch.tensor(v)) \
                if isinstance(v, np.ndarray) else v  # noqa: E731
            got = call(fw, *(wrap(fw, v) for v in (x, index, value)))
            expected = _np_scatter_reduce(x, 1, index, np.broadcast_to(value, (1, 3)),
                                          "sum" if reduce == "add" else "prod", True)
            assert_close(got, expected, fw.float64)
    leaf = fw.tensor(x, device=device, requires_grad=True)
    out = leaf.scatter(1, fw.tensor(index, device=device), 2.0, reduce="add")
    assert out.grad_fn.name() == "NotImplemented"
    with pytest.raises(RuntimeError, match="^derivative for aten::scatter is not implemented$"):
        out.sum().backward()


# ---- take, masked_scatter -----------------------------------------------------------------------------------

@pytest.mark.parametrize("noncontiguous", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_take(rng, dtype, noncontiguous):
    index = A([[0, -1, 7], [7, 3, -12]])  # negative, repeated
    check_op(lambda a: fw.take(a, fw.tensor(index, device=a.device)), lambda a: a.reshape(-1)[index],
             torch and (lambda a: torch.take(a, torch.tensor(index))), random_array(rng, (3, 4)), rng=rng,
             dtype=dtype, noncontiguous=noncontiguous)
    check_op(lambda a: a.take(fw.tensor(A(2), device=a.device)), lambda a: a.reshape(-1)[2],
             torch and (lambda a: a.take(torch.tensor(2))), random_array(rng, (5,)), rng=rng, dtype=dtype)


@pytest.mark.parametrize("noncontiguous", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_masked_scatter(rng, dtype, noncontiguous):
    mask = random_array(rng, (2, 3, 4), "bool")
    count = int(mask.sum())

    def np_masked_scatter(a, s):
        out = np.broadcast_to(a, mask.shape).astype(np.result_type(a, s))
        out[mask] = s.reshape(-1)[:count]
        return out
    check_op(lambda a, s: a.masked_scatter(fw.tensor(mask, device=a.device), s), np_masked_scatter,
             torch and (lambda a, s: a.masked_scatter(torch.tensor(mask), s)),
             random_array(rng, (3, 4)), random_array(rng, (5, 6)), rng=rng, dtype=dtype, noncontiguous=noncontiguous)


# ---- index_put ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_index_put(rng, dtype, accumulate):
    rows, columns = A([2, 0, 2]), A([1, 3, 1])  # a repeated position: accumulated, or one of the writes wins
    if not accumulate:
        rows, columns = rows[:2], columns[:2]

    def np_put(a, v):
        out = a.astype(np.result_type(a, v))
        if accumulate:
            np.add.at(out, (rows, columns), np.broadcast_to(v, rows.shape))
        else:
            out[rows, columns] = v
        return out
    indices = lambda L, device=None: (L.tensor(rows, device=device), L.tensor(columns, device=device))  # noqa: E731
    check_op(lambda a, v: a.index_put(indices(fw, a.device), v, accumulate=accumulate), np_put,
             torch and (lambda a, v: a.index_put(indices(torch), v, accumulate=accumulate)),
             random_array(rng, (3, 4)), random_array(rng, (1,)), rng=rng, dtype=dtype)
    random_rows = A([True, False, True])
    check_op(lambda a, v: fw.index_put(a, (fw.tensor(random_rows, device=a.device),), v, accumulate),
             lambda a, v: np_mask_put(a, v, random_rows, accumulate),
             torch and (lambda a, v: torch.index_put(a, (torch.tensor(random_rows),), v, accumulate)),
             random_array(rng, (3, 4)), random_array(rng, (4,)), rng=rng, dtype=dtype)


def np_mask_put(a, v, rows, accumulate):
    out = a.astype(np.result_type(a, v))  # complex when only v carries the complex step
    out[rows] = out[rows] + v if accumulate else v
    return out


@pytest.mark.parametrize("device", DEVICES)
def test_index_put_in_place(rng, device):
    values = random_array(rng, (3, 4))
    x = fw.tensor(values, device=device)
    version = x._version
    returned = x.index_put_((fw.tensor([0, 0, 2], device=device),), fw.ones(4, dtype=x.dtype, device=device),
                            accumulate=True)
    assert returned is x and x._version == version + 1
    expected = values.copy()
    expected[0] += 2
    expected[2] += 1
    assert_close(x, expected, fw.float64)
    x.index_put_([fw.tensor([True, False, True], device=device)], fw.tensor(-1.0, dtype=fw.float64))
    expected[[0, 2]] = -1
    assert_close(x, expected, fw.float64)
    for dtype in ("float16", "int8"):  # accumulated in a wider copy on cuda
        small = fw.zeros(3, dtype=getattr(fw, dtype), device=device)
        small.index_put_((fw.tensor([1, 1, 1], device=device),), fw.full((3,), 5, dtype=small.dtype, device=device),
                         accumulate=True)
        assert small.tolist() == [0, 15, 0]
    leaf = fw.tensor(values, device=device, requires_grad=True)
    y = leaf * 2
    y.index_put_((fw.tensor([1], device=device),), fw.tensor(3.0, dtype=fw.float64, device=device), accumulate=True)
    assert y.grad_fn.name() == "IndexPutBackward0"
    y.sum().backward()
    assert_close(leaf.grad, np.full((3, 4), 2.0), fw.float64)  # accumulate: x's gradient passes everywhere


# ---- in-place forms, autograd bookkeeping, gradcheck -----------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_in_place_forms(rng, device):
    values = random_array(rng, (3, 4))
    calls = {
        "index_add_": lambda t, d: t.index_add_(1, fw.tensor([0, 0], device=d), fw.ones(3, 2, dtype=t.dtype, device=d)),
        "index_copy_": lambda t, d: t.index_copy_(0, fw.tensor([2], device=d), fw.ones(1, 4, dtype=t.dtype, device=d)),
        "index_fill_": lambda t, d: t.index_fill_(1, fw.tensor([3], device=d), 7.0),
        "scatter_reduce_": lambda t, d: t.scatter_reduce_(0, fw.tensor([[1, 1]], device=d),
                                                          fw.full((1, 2), 2.0, dtype=t.dtype, device=d), "prod"),
        "masked_scatter_": lambda t, d: t.masked_scatter_(fw.tensor([True, False, False, True], device=d),
                                                          fw.arange(12.0, dtype=t.dtype, device=d)),
    }
    for name, call in calls.items():
        x = fw.tensor(values, device=device)
        version = x._version
        assert call(x, device) is x and x._version == version + 1, name
        if torch is not None:
            t = torch.tensor(values)
            call_t = {"index_add_": lambda: t.index_add_(1, torch.tensor([0, 0]), torch.ones(3, 2, dtype=t.dtype)),
                      "index_copy_": lambda: t.index_copy_(0, torch.tensor([2]), torch.ones(1, 4, dtype=t.dtype)),
                      "index_fill_": lambda: t.index_fill_(1, torch.tensor([3]), 7.0),
                      "scatter_reduce_": lambda: t.scatter_reduce_(0, torch.tensor([[1, 1]]),
                                                                   torch.full((1, 2), 2.0, dtype=t.dtype), "prod"),
                      "masked_scatter_": lambda: t.masked_scatter_(torch.tensor([True, False, False, True]),
                                                                   torch.arange(12.0, dtype=t.dtype))}[name]
            assert_close(x, call_t(), fw.float64, what=name)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            call(fw.tensor(values, device=device, requires_grad=True), device)
        leaf = fw.tensor(values, device=device, requires_grad=True)
        y = leaf * 1
        call(y, device).sum().backward()  # the in-place op on a tensor with history: its gradient flows
        assert leaf.grad is not None and leaf.grad.shape == leaf.shape


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduce", ["prod", "amax", "mean"])
def test_in_place_scatter_reduce_into_a_tensor_without_history(rng, reduce, device):
    """Only src needs a gradient: the op saves self's value for src's gradient, so it must read a copy of self,
    not self, which the write then overwrites (a silently wrong gradient otherwise)."""
    values, source = random_array(rng, (2, 3), away_from_zero=0.5), random_array(rng, (2, 2), away_from_zero=0.5)
    results = []
    for L, where in ((fw, device), (torch, "cpu")):
        x = L.tensor(values, device=where)
        s = L.tensor(source, device=where, requires_grad=True)
        x.scatter_reduce_(1, L.tensor([[0, 0], [2, 0]], device=where), s, reduce)
        (x * x).sum().backward()
        results.append((x.detach().cpu().numpy(), s.grad.cpu().numpy(), x.grad_fn.name()))
    (ours, ours_grad, name), (theirs, theirs_grad, _) = results
    assert_close(ours, theirs, fw.float64)
    assert_close(ours_grad, theirs_grad, fw.float64)
    assert name == "ScatterReduceBackward0"


def test_node_names_as_pytorch(rng):
    values = random_array(rng, (3, 4))
    calls = [
        lambda L, x: L.index_add(x, 0, L.tensor([0]), x[:1]), lambda L, x: L.index_copy(x, 0, L.tensor([0]), x[:1]),
        lambda L, x: L.index_fill(x, 0, L.tensor([0]), 1.0), lambda L, x: L.index_fill(x, 0, L.tensor([0]), x[0, 0]),
        lambda L, x: L.take(x, L.tensor([1])), lambda L, x: x.masked_scatter(L.tensor([True, False, True, False]), x),
        lambda L, x: x.index_put((L.tensor([0]),), x[0, 0]), lambda L, x: L.scatter_reduce(x, 0, L.tensor([[0]]),
                                                                                             x, "amax"),
    ]
    for call in calls:
        got = call(fw, fw.tensor(values, requires_grad=True) * 1).grad_fn.name()
        if torch is not None:
            assert got == type(call(torch, torch.tensor(values, requires_grad=True) * 1).grad_fn).__name__


def test_gradcheck_index_functions(rng):
    index = fw.tensor([2, 0, 2])
    gradcheck(lambda a, s: fw.index_add(a, 1, index, s, alpha=0.5), random_array(rng, (2, 3)),
              random_array(rng, (2, 3)))
    gradcheck(lambda a, s: fw.index_copy(a, 0, fw.tensor([1, 0]), s), random_array(rng, (2, 3)),
              random_array(rng, (2, 3)))
    gradcheck(lambda a, v: fw.index_fill(a, 1, index, v), random_array(rng, (2, 3)), random_array(rng, ()))
    gradcheck(lambda a: fw.take(a, fw.tensor([[5, -6], [0, 0]])), random_array(rng, (2, 3)))
    gradcheck(lambda a, s: a.masked_scatter(fw.tensor([True, False, True]), s), random_array(rng, (2, 3)),
              random_array(rng, (7,)))
    gradcheck(lambda a, v: a.index_put((fw.tensor([1, 1]), fw.tensor([0, 2])), v, accumulate=True),
              random_array(rng, (2, 3)), random_array(rng, (2,)))
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            gradcheck(lambda a, s: fw.scatter_reduce(a, 1, fw.tensor([[0, 2, 2, 1]]), s, reduce,
                                                     include_self=include_self),
                      random_array(rng, (1, 3), away_from_zero=0.5), rng.permutation([0.7, -1.1, 1.9, 1.3])[None])


# ---- errors: PyTorch's types and messages; cuda's at the next sync ---------------------------------------------

def _t(lib, value, dtype=None):
    value = np.asarray(value, dtype=dtype)
    return fw.tensor(value) if lib is fw else torch.tensor(value)


X, I64 = np.zeros((3, 4)), np.int64
ERRORS = [
    (lambda L: L.index_add(_t(L, X), 0, _t(L, [0.0]), _t(L, np.ones((1, 4)))),
     "index_add_(): Expected dtype int32/int64 for index but got: Double"),
    (lambda L: L.index_add(_t(L, X), 0, _t(L, [[0]]), _t(L, np.ones((1, 4)))),
     "index_add_(): Index is supposed to be a vector, but got dim: 2 with type: Long and size: [1, 1]"),
    (lambda L: L.index_add(_t(L, X), 0, _t(L, [3]), _t(L, np.ones((1, 4)))),
     "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda L: L.index_add(_t(L, X), 0, _t(L, [0]), _t(L, np.ones((2, 4)))),
     "index_add_(): Number of indices (1) should be equal to source.size(dim): (2), for dim: 0"),
    (lambda L: L.index_add(_t(L, X), 0, _t(L, [0]), _t(L, np.ones((1, 3)))),
     "source tensor shape must match self tensor shape, excluding the specified dimension. Got self.shape = [3, 4] "
     "source.shape = [1, 3]"),
    (lambda L: L.index_add(_t(L, X), 0, _t(L, [0]), _t(L, np.ones((1, 4), np.float32))),
     "index_add_(): self (Double) and source (Float) must have the same scalar type"),
    (lambda L: L.index_copy(_t(L, X), 1, _t(L, [4]), _t(L, np.ones((3, 1)))),
     "index_copy_(): index 4 is out of bounds for dimension 1 with size 4"),
    (lambda L: L.index_copy(_t(L, X), 1, _t(L, [0], np.int32), _t(L, np.ones((3, 1)))),
     "index_copy_(): Expected a long tensor for index, but got Int"),
    (lambda L: L.index_copy(_t(L, X), 1, _t(L, [0, 1]), _t(L, np.ones((3, 1)))),
     "index_copy_(): Number of indices (2) should be equal to source.size(dim) (1)"),
    (lambda L: L.index_copy(_t(L, X), 1, _t(L, [0]), _t(L, np.ones((2, 1)))),
     "index_copy_(): Source/destination tensor must have same slice shapes. Destination slice shape: 3 at "
     "dimension 1 and source slice shape: 2 at dimension 0."),
    (lambda L: L.index_fill(_t(L, X), 1, _t(L, [-5]), 1.0), "index -5 is out of bounds for dimension 1 with size 4"),
    (lambda L: L.index_fill(_t(L, X), 1, _t(L, [0], np.int32), 1.0), "index_fill_(): Expected dtype int64 for index."),
    (lambda L: L.index_fill(_t(L, X), 1, _t(L, [[0]]), 1.0), "Index has to be a vector/scalar"),
    (lambda L: L.index_fill(_t(L, X), 1, _t(L, [0]), _t(L, [1.0])),
     "index_fill_ only supports a 0-dimensional value tensor, but got tensor with 1 dimension(s)."),
    (lambda L: L.index_fill(_t(L, X, np.int8), 1, _t(L, [0]), 300),
     "value cannot be converted to type int8_t without overflow"),
    (lambda L: L.take(_t(L, X), _t(L, [12])), "out of range: tried to access index 12 on a tensor of 12 elements."),
    (lambda L: L.take(_t(L, X), _t(L, [-13])), "out of range: tried to access index -13 on a tensor of 12 elements."),
    (lambda L: L.take(_t(L, X), _t(L, [1], np.int32)), "take(): Expected a long tensor for index, but got Int"),
    (lambda L: L.take(_t(L, np.zeros(0)), _t(L, [0])), "take(): tried to take from an empty tensor"),
    (lambda L: _t(L, X).masked_scatter(_t(L, [True] * 4), _t(L, np.ones(5))),
     "Number of elements of source < number of ones in mask"),
    (lambda L: _t(L, X).masked_scatter(_t(L, [1, 0, 1, 0], np.uint8), _t(L, np.ones(12))),
     "masked_scatter_ only supports boolean masks, but got mask with dtype Byte"),
    (lambda L: _t(L, X).masked_scatter(_t(L, [True] * 4), _t(L, np.ones(12), np.float32)),
     "masked_scatter: expected self and source to have same dtypes but gotDouble and Float"),
    (lambda L: L.scatter_reduce(_t(L, X), 1, _t(L, [[0]]), _t(L, [[1.0]]), "add"),
     "reduce argument must be either sum, prod, mean, amax or amin, got add"),
    (lambda L: L.scatter_reduce(_t(L, X), 1, _t(L, [[4]]), _t(L, [[1.0]]), "amax"),
     "index 4 is out of bounds for dimension 1 with size 4"),
    (lambda L: L.scatter_reduce(_t(L, X), 1, _t(L, [[0]]), 1.0, "sum"),
     "scatter_reduce(): argument 'src' (position 4) must be Tensor, not float"),
    (lambda L: L.scatter_reduce(_t(L, X), 1, _t(L, [[0]]), _t(L, [[1.0]], np.float32), "sum"),
     "scatter(): Expected self.dtype to be equal to src.dtype"),
    (lambda L: L.scatter(_t(L, X), 1, _t(L, [[0]]), 1.0, reduce="mean"),
     "reduce argument must be either add or multiply."),
    (lambda L: _t(L, X).index_put_((_t(L, [0]),), 1.0),
     "index_put_(): argument 'values' (position 2) must be Tensor, not float"),
    (lambda L: _t(L, X).index_put_(([0],), _t(L, 1.0)), "expected Tensor as element 0 in argument 0, but got list"),
    (lambda L: _t(L, X).index_put_((_t(L, [0]),), _t(L, 1)),
     "Index put requires the source and destination dtypes match, got Double for the destination and Long for the "
     "source."),
    (lambda L: _t(L, X).index_put_((_t(L, [0]),) * 3, _t(L, 1.0)),
     "too many indices for tensor of dimension 2 (got 3)"),
    (lambda L: _t(L, X).index_put_((_t(L, [5]),), _t(L, 1.0), accumulate=True),
     "index 5 is out of bounds for dimension 0 with size 3"),
    (lambda L: _t(L, X).index_put_((_t(L, [0, 1]),), _t(L, np.ones(3))),
     "shape mismatch: value tensor of shape [3] cannot be broadcast to indexing result of shape [2, 4]"),
    (lambda L: _t(L, X).index_put_((_t(L, [0], np.int8),), _t(L, 1.0)),
     "tensors used as indices must be long, int, byte or bool tensors"),
]


@pytest.mark.parametrize("call,message", ERRORS, ids=[m[:50] for _, m in ERRORS])
def test_errors_match_pytorch(call, message):
    got = raises_like_torch(lambda: call(fw), lambda: call(torch), match=message)
    assert got == message


# out-of-range positions found by cuda's kernels: nothing waits for them; the error comes at the next sync
DEVICE_ERRORS = [
    (lambda x: fw.index_add(x, 0, fw.tensor([3], device="cuda"), x[:1]), RuntimeError,
     "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: fw.index_copy(x, 1, fw.tensor([-1], device="cuda"), x[:, :1]), IndexError,
     "index_copy_(): index -1 is out of bounds for dimension 1 with size 4"),
    (lambda x: fw.index_fill(x, 1, fw.tensor([4], device="cuda"), 1.0), IndexError,
     "index 4 is out of bounds for dimension 1 with size 4"),
    (lambda x: fw.take(x, fw.tensor([[1, -13]], device="cuda")), IndexError,
     "out of range: tried to access index -13 on a tensor of 12 elements."),
    (lambda x: x.masked_scatter(fw.tensor([True, False, True, True], device="cuda"), fw.ones(8, device="cuda")),
     RuntimeError, "Number of elements of source < number of ones in mask"),
    (lambda x: fw.scatter_reduce(x, 0, fw.tensor([[0, 3]], device="cuda"), x[:1, :2], "prod"), RuntimeError,
     "index 3 is out of bounds for dimension 0 with size 3"),
    (lambda x: x.index_put((fw.tensor([0, 3], device="cuda"),), fw.tensor(1.0), accumulate=True), IndexError,
     "index 3 is out of bounds for dimension 0 with size 3"),
]


@requires_cuda
@pytest.mark.parametrize("call,kind,message", DEVICE_ERRORS, ids=[m[:40] for _, _, m in DEVICE_ERRORS])
def test_cuda_errors_arrive_at_the_next_sync(call, kind, message):
    out = call(fw.zeros(3, 4, device="cuda"))  # launched: no host read of the indices
    with pytest.raises(kind) as raised:
        out.cpu()
    assert str(raised.value) == message  # PyTorch's text; where it came from is in the exception's note
    assert fw.zeros(1, device="cuda").item() == 0.0  # the record is cleared: the process goes on
