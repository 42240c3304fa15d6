"""tril, triu, tril_indices, triu_indices, diagonal, diag, diag_embed, trace, block_diag: values, gradients, node
names, views and strides against numpy and torch on every device and dtype, odd/empty shapes, non-contiguous
inputs, negative dims and offsets, and PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, FLOAT_NAMES, INT_NAMES, assert_close, case, check_op, make_tensor,
                     random_array, raises_like_torch, requires_torch, torch)


def _np_diagonal(x, offset=0, dim1=0, dim2=1):
    return np.diagonal(x, offset, dim1, dim2)


def _np_diag_embed(x, offset=0, dim1=-2, dim2=-1):
    n = x.shape[-1] + abs(offset)
    out = np.zeros(x.shape[:-1] + (n, n), dtype=x.dtype)
    index = np.arange(x.shape[-1])
    out[..., index + max(-offset, 0), index + max(offset, 0)] = x
    ndim = x.ndim + 1
    d1, d2 = dim1 % ndim, dim2 % ndim
    # the new dims sit last in `out`; move them to dim1 and dim2
    order = [None] * ndim
    order[d1], order[d2] = ndim - 2, ndim - 1
    rest = iter(range(ndim - 2))
    return out.transpose([o if o is not None else next(rest) for o in order])


def _np_block_diag(*blocks):
    blocks = [np.atleast_2d(b) if b.ndim < 2 else b for b in blocks]
    rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)
    out = np.zeros((rows, cols), dtype=np.result_type(*blocks))
    r = c = 0
    for b in blocks:
        out[r:r + b.shape[0], c:c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    return out


# name -> (framework/torch call, numpy reference, input shape, PyTorch's node name)
CASES = {
    "tril": (lambda x: x.tril(), np.tril, (5, 7), "TrilBackward0"),
    "tril-neg": (lambda x: x.tril(-2), lambda x: np.tril(x, -2), (2, 5, 4), "TrilBackward0"),
    "tril-big": (lambda x: x.tril(9), lambda x: np.tril(x, 9), (3, 4), "TrilBackward0"),
    "triu": (lambda x: x.triu(1), lambda x: np.triu(x, 1), (2, 3, 4, 5), "TriuBackward0"),
    "triu-far": (lambda x: x.triu(-9), lambda x: np.triu(x, -9), (4, 3), "TriuBackward0"),
    "triu-empty": (lambda x: x.triu(), np.triu, (0, 3, 2), "TriuBackward0"),
    "diagonal": (lambda x: x.diagonal(), _np_diagonal, (4, 6), "DiagonalBackward0"),
    "diagonal-3d": (lambda x: x.diagonal(1, 2, 0), lambda x: _np_diagonal(x, 1, 2, 0), (3, 2, 5), "DiagonalBackward0"),
    "diagonal-neg": (lambda x: x.diagonal(-1, -1, -3), lambda x: _np_diagonal(x, -1, -1, -3), (4, 2, 3),
                     "DiagonalBackward0"),
    "diagonal-out": (lambda x: x.diagonal(7), lambda x: _np_diagonal(x, 7), (3, 4), "DiagonalBackward0"),
    "diag-1d": (lambda x: x.diag(), np.diag, (5,), "DiagEmbedBackward0"),
    "diag-1d-off": (lambda x: x.diag(-2), lambda x: np.diag(x, -2), (3,), "DiagEmbedBackward0"),
    "diag-2d": (lambda x: x.diag(1), lambda x: np.diag(x, 1), (4, 5), "DiagonalBackward0_copy"),
    "diag-2d-neg": (lambda x: x.diag(-3), lambda x: np.diag(x, -3), (4, 5), "DiagonalBackward0_copy"),
    "diag_embed": (lambda x: x.diag_embed(), _np_diag_embed, (2, 3), "DiagEmbedBackward0"),
    "diag_embed-dims": (lambda x: x.diag_embed(1, 0, 2), lambda x: _np_diag_embed(x, 1, 0, 2), (3, 4),
                        "DiagEmbedBackward0"),
    "diag_embed-neg": (lambda x: x.diag_embed(-2, -1, -3), lambda x: _np_diag_embed(x, -2, -1, -3), (2, 3),
                       "DiagEmbedBackward0"),
    "trace": (lambda x: x.trace(), np.trace, (4, 6), "TraceBackward0"),
    "trace-tall": (lambda x: x.trace(), np.trace, (5, 2), "TraceBackward0"),
    "trace-empty": (lambda x: x.trace(), np.trace, (0, 3), "TraceBackward0"),
}


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("name", CASES)
def test_values_grads_and_node_names(name, dtype, rng):
    fn, reference, shape, node = CASES[name]
    out = check_op(fn, reference, fn, random_array(rng, shape, "float64"), dtype=dtype, rng=rng)
    assert out.grad_fn.name() == node
    if torch is not None and out.numel():
        theirs = fn(torch.zeros(shape))
        assert out.stride() == theirs.stride() and out.storage_offset() == theirs.storage_offset()


@pytest.mark.parametrize("name", CASES)
def test_noncontiguous_input(name, rng):
    fn, reference, shape, _ = CASES[name]
    if len(shape) < 2 or 0 in shape:
        pytest.skip("needs a 2-d input with a last dim to stride")
    check_op(fn, reference, fn, random_array(rng, shape, "float64"), dtype="float32", noncontiguous=True, rng=rng)


@pytest.mark.parametrize("dtype", INT_NAMES + ("bool",))
@pytest.mark.parametrize("name", ["tril-neg", "triu", "diagonal-3d", "diag-1d-off", "diag-2d", "diag_embed-dims"])
def test_integer_and_bool(name, dtype, rng):
    fn, reference, shape, _ = CASES[name]
    check_op(fn, reference, fn, random_array(rng, shape, dtype, low=-9, high=9), grad=False,
             out_dtype=getattr(fw, dtype), rng=rng)


@pytest.mark.parametrize("dtype", INT_NAMES + ("float16", "bfloat16"))
def test_trace_accumulates(dtype, rng):
    x = random_array(rng, (40, 40), dtype, low=-100, high=100)
    expected_dtype = fw.int64 if dtype in INT_NAMES else getattr(fw, dtype)
    check_op(lambda t: t.trace(), lambda t: np.trace(t.astype(np.int64 if dtype in INT_NAMES else np.float64)),
             torch.trace if torch else None, x, grad=False, out_dtype=expected_dtype, rng=rng)


@pytest.mark.parametrize("device", DEVICES)
def test_diagonal_is_a_view(device):
    x = fw.zeros(3, 4, device=device)
    d = x.diagonal(1)
    d.fill_(5)
    assert x.tolist() == [[0, 5, 0, 0], [0, 0, 5, 0], [0, 0, 0, 5]]
    assert d._version == x._version and d._base is x
    y = fw.zeros(2, 3, 3, device=device)
    y.diagonal(0, 1, 2).copy_(fw.arange(6.0, device=device).reshape(2, 3))
    assert y[1].tolist() == [[3, 0, 0], [0, 4, 0], [0, 0, 5]]


def test_diagonal_in_place_through_the_graph(rng):
    """Writing into a diagonal view of a tensor with history sends the gradient through both paths."""
    a = random_array(rng, (3, 3), "float64")
    for device in DEVICES:
        x = make_tensor(a, requires_grad=True, device=device)
        y = x * 2
        y.diagonal().mul_(3)
        y.sum().backward()
        assert_close(x.grad, 2 * np.where(np.eye(3, dtype=bool), 3.0, 1.0), "float64")


@pytest.mark.parametrize("device", DEVICES)
def test_tril_triu_in_place(device, rng):
    a = random_array(rng, (2, 4, 3), "float32")
    for name in ("tril", "triu"):
        x = fw.tensor(a, device=device)
        assert getattr(x, name + "_")(-1) is x
        assert x.tolist() == getattr(np, name)(a, -1).tolist()


# ---- block_diag -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_block_diag(dtype, rng):
    for shapes in [((2, 3), (4,), ()), ((1, 1),), ((0, 3), (2, 2), (3, 0)), ((3, 2), (2, 5))]:
        with case(shapes=shapes):
            blocks = [random_array(rng, s, "float64") for s in shapes]
            out = check_op(fw.block_diag, _np_block_diag, torch.block_diag if torch else None, *blocks,
                           dtype=dtype, rng=rng)
            assert out.grad_fn is None or out.grad_fn.name() == "BlockDiagBackward0"


def test_block_diag_promotes_and_handles_no_input(rng):
    a = random_array(rng, (2, 2), "int32", low=-5, high=5)
    b = random_array(rng, (1,), "float64")
    out = check_op(fw.block_diag, _np_block_diag, torch.block_diag if torch else None, a, b, grad=False,
                   out_dtype=fw.float64, rng=rng)
    assert out.shape == (3, 3)
    assert fw.block_diag().shape == (1, 0) and fw.block_diag().dtype is fw.float32


# ---- tril_indices, triu_indices ----------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("args", [(3, 4), (4, 3, -1), (5, 5, 2), (0, 3), (3, 0), (4, 4, -9), (3, 5, 9), (1, 1)])
def test_triangle_indices(args, device):
    for name in ("tril_indices", "triu_indices"):
        got = getattr(fw, name)(*args, device=device)
        assert got.device.type == device and got.dtype is fw.int64 and got.shape[0] == 2
        np_fn = np.tril_indices if name == "tril_indices" else np.triu_indices
        rows, cols = np_fn(args[0], args[2] if len(args) > 2 else 0, args[1])
        assert got.tolist() == [rows.tolist(), cols.tolist()]
        if torch is not None:
            assert got.tolist() == getattr(torch, name)(*args).tolist()
    assert fw.tril_indices(3, 3, dtype=fw.int32, device=device).dtype is fw.int32


# ---- errors ---------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("call", [
    lambda m: m.zeros(3).tril(), lambda m: m.zeros(3).triu(1), lambda m: m.tril_indices(-1, 4),
    lambda m: m.triu_indices(3, -2), lambda m: m.tril_indices(3, 3, dtype=m.float32),
    lambda m: m.diag(m.zeros(2, 3, 4)), lambda m: m.diag(m.tensor(1.0)), lambda m: m.zeros(2, 3).diagonal(0, 1, 1),
    lambda m: m.zeros(3).diagonal(), lambda m: m.zeros(2, 3).diagonal(0, 0, 2),
    lambda m: m.diag_embed(m.zeros(3), 0, 1, 1),
    lambda m: m.diag_embed(m.tensor(1.0)), lambda m: m.zeros(2, 3, 4).trace(), lambda m: m.zeros(3).trace(),
    lambda m: m.ones(2, 2, dtype=m.bool).trace(), lambda m: m.block_diag(m.zeros(2, 3, 4)),
    lambda m: m.block_diag(m.zeros(2), [1.0]),
])
def test_errors_match_torch(call):
    message = raises_like_torch(lambda: call(fw), lambda: call(torch))
    try:
        call(torch)
    except TypeError:
        pass  # argument-parser messages differ in wording; the type is what matters
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error).replace("torch.", "framework.")
