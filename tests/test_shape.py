"""Shape and view ops: values and gradients against numpy and torch, storage and version-counter sharing,
PyTorch's contiguity rule for `view` and its errors."""
import numpy as np
import pytest

import framework as fw
from helpers import (check_op, gradcheck, make_tensor, random_array, raises_like_torch,
                     requires_torch, torch)


def _shares_storage(a, b):
    return np.shares_memory(a.detach().numpy(), b.detach().numpy())


# ---- the op table: framework/torch call, numpy reference, input shape ---------------

VIEW_CASES = {
    "view": (lambda x: x.view(6, 5), lambda x: x.reshape(6, 5), (2, 3, 5)),
    "view-infer": (lambda x: x.view(-1, 5), lambda x: x.reshape(-1, 5), (2, 3, 5)),
    "view-size0": (lambda x: x.view(3, 0), lambda x: x.reshape(3, 0), (0, 3)),
    "reshape": (lambda x: x.reshape(5, 6), lambda x: x.reshape(5, 6), (2, 3, 5)),
    "reshape-tuple": (lambda x: x.reshape((3, -1)), lambda x: x.reshape(3, -1), (2, 3, 5)),
    "transpose": (lambda x: x.transpose(0, 2), lambda x: np.swapaxes(x, 0, 2), (2, 3, 5)),
    "transpose-neg": (lambda x: x.transpose(-1, -2), lambda x: np.swapaxes(x, -1, -2), (2, 3, 5)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda x: np.transpose(x, (2, 0, 1)), (2, 3, 5)),
    "permute-tuple": (lambda x: x.permute((1, 2, 0)), lambda x: np.transpose(x, (1, 2, 0)), (2, 3, 5)),
    "t": (lambda x: x.t(), lambda x: x.T, (4, 5)),
    "T": (lambda x: x.T, lambda x: x.T, (4, 5)),
    "mT": (lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), (2, 3, 5)),
    "expand": (lambda x: x.expand(3, 4, 7), lambda x: np.broadcast_to(x, (3, 4, 7)), (4, 1)),
    "expand-keep": (lambda x: x.expand(2, -1, 5), lambda x: np.broadcast_to(x, (2, 1, 5)), (1, 5)),
    "expand-new-dims": (lambda x: x.expand(2, 3, 3), lambda x: np.broadcast_to(x, (2, 3, 3)), (3,)),
    "squeeze": (lambda x: x.squeeze(), lambda x: np.squeeze(x), (1, 7, 1)),
    "squeeze-dim": (lambda x: x.squeeze(0), lambda x: np.squeeze(x, 0), (1, 7, 1)),
    "squeeze-noop": (lambda x: x.squeeze(1), lambda x: x, (1, 7, 1)),
    "squeeze-neg": (lambda x: x.squeeze(-1), lambda x: np.squeeze(x, -1), (1, 7, 1)),
    "unsqueeze": (lambda x: x.unsqueeze(1), lambda x: np.expand_dims(x, 1), (4, 5)),
    "unsqueeze-neg": (lambda x: x.unsqueeze(-1), lambda x: np.expand_dims(x, -1), (4, 5)),
    "unsqueeze-0d": (lambda x: x.unsqueeze(0), lambda x: np.expand_dims(x, 0), ()),
    "flatten": (lambda x: x.flatten(), lambda x: x.reshape(-1), (2, 3, 5)),
    "flatten-range": (lambda x: x.flatten(1), lambda x: x.reshape(2, 15), (2, 3, 5)),
    "flatten-mid": (lambda x: x.flatten(0, 1), lambda x: x.reshape(6, 5), (2, 3, 5)),
    "flatten-0d": (lambda x: x.flatten(), lambda x: x.reshape(1), ()),
    "expand_as": (lambda x: x.expand_as(_like(x, (3, 4))), lambda x: np.broadcast_to(x, (3, 4)), (4,)),
}


def _like(x, shape):
    module = fw if isinstance(x, fw.Tensor) else torch
    return module.zeros(shape, dtype=x.dtype)


COPY_CASES = {
    "repeat": (lambda x: x.repeat(2, 3), lambda x: np.tile(x, (2, 3)), (2, 3)),
    "repeat-new-dims": (lambda x: x.repeat(2, 1, 2), lambda x: np.tile(x, (2, 1, 2)), (3, 2)),
    "repeat-1d": (lambda x: x.repeat(3), lambda x: np.tile(x, 3), (4,)),
    "repeat-zero": (lambda x: x.repeat(0, 2), lambda x: np.tile(x, (0, 2)), (2, 3)),
    "contiguous-of-T": (lambda x: x.T.contiguous(), lambda x: x.T, (4, 5)),
    "clone": (lambda x: x.clone(), lambda x: x, (2, 3, 5)),
    "reshape-copy": (lambda x: x.T.reshape(-1), lambda x: x.T.reshape(-1), (4, 5)),
    "movedim": (lambda x: x.movedim(0, -1), lambda x: np.moveaxis(x, 0, -1), (2, 3, 5)),
    "swapaxes": (lambda x: x.swapaxes(0, 1), lambda x: np.swapaxes(x, 0, 1), (2, 3, 5)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("name", list(VIEW_CASES) + list(COPY_CASES))
def test_shape_op_values_and_grads(name, dtype, rng):
    fn, reference, shape = {**VIEW_CASES, **COPY_CASES}[name]
    x = random_array(rng, shape, "float64")
    check_op(fn, reference, fn, x, dtype=dtype, rng=rng)


@pytest.mark.parametrize("name", list(VIEW_CASES) + list(COPY_CASES))
def test_shape_op_on_noncontiguous_input(name, rng):
    fn, reference, shape = {**VIEW_CASES, **COPY_CASES}[name]
    if name.startswith("view"):
        pytest.skip("view of strided memory: covered by the contiguity-rule tests")
    x = random_array(rng, shape, "float64")
    check_op(fn, reference, fn, x, dtype="float32", noncontiguous=True, rng=rng)


@pytest.mark.parametrize("name", VIEW_CASES)
def test_views_share_storage_and_version_counter(name, rng):
    fn, _, shape = VIEW_CASES[name]
    x = make_tensor(random_array(rng, shape, "float32"))
    v = fn(x)
    if x.numel():
        assert _shares_storage(v, x), name
    before = x._version
    v.mul_(2) if not name.startswith("expand") else x.mul_(2)
    assert x._version == v._version == before + 1, name


@pytest.mark.parametrize("name", ["repeat", "clone", "contiguous-of-T", "reshape-copy"])
def test_copies_do_not_share_storage(name, rng):
    fn, _, shape = COPY_CASES[name]
    x = make_tensor(random_array(rng, shape, "float32"))
    out = fn(x)
    assert not _shares_storage(out, x)
    before = x._version
    out.add_(1)
    assert x._version == before


def test_writes_through_a_view_reach_the_base(rng):
    a = random_array(rng, (2, 3), "float32")
    x = make_tensor(a)
    x.T.mul_(0).add_(1)
    x.view(6).split(2)[0].fill_(5.0)
    expected = np.ones((2, 3), dtype=np.float32)
    expected[0, :2] = 5.0
    assert np.array_equal(x.numpy(), expected)


# ---- view's contiguity rule -----------------------------------------------------------

VIEW_MESSAGE = ("view size is not compatible with input tensor's size and stride (at least one dimension spans "
                "across two contiguous subspaces). Use .reshape(...) instead.")


def test_view_of_transposed_raises_pytorch_error():
    x = fw.zeros(4, 5)
    with pytest.raises(RuntimeError) as info:
        x.T.view(20)
    assert str(info.value) == VIEW_MESSAGE
    raises_like_torch(lambda: fw.zeros(2, 3, 4).permute(0, 2, 1).view(2, 12),
                      lambda: torch.zeros(2, 3, 4).permute(0, 2, 1).view(2, 12), match="Use .reshape(...) instead.")


def test_view_allowed_where_pytorch_allows_it():
    assert fw.zeros(1, 3).T.view(3).shape == (3,)  # size-1 dims have no stride constraint
    assert fw.zeros(2, 3, 4).permute(1, 0, 2).view(3, 2, 2, 2).shape == (3, 2, 2, 2)  # splitting a dim
    assert fw.zeros(3, 1).expand(3, 4).view(3, 2, 2).shape == (3, 2, 2)
    assert fw.zeros(0, 3).T.view(0).shape == (0,)


def _random_layout(rng, module, array):
    t = module.from_numpy(array.copy()) if module is fw else torch.from_numpy(array.copy())
    kind = rng.integers(0, 3)
    if kind == 0 and t.ndim > 1:
        order = tuple(int(i) for i in rng.permutation(t.ndim))
        return t.permute(*order), ("permute", order)
    if kind == 1:
        return t.unsqueeze(0).expand(2, *t.shape), ("expand", None)
    return t, ("contiguous", None)


def _factorizations(n, parts):
    if parts == 1:
        return [(n,)]
    return [(d,) + rest for d in range(1, n + 1) if n % d == 0 for rest in _factorizations(n // d, parts - 1)]


@requires_torch
def test_view_compatibility_rule_matches_torch(rng):
    """Random layouts (permuted, expanded) and every factorization of their size: view succeeds exactly when
    PyTorch's does."""
    disagreements = []
    for _ in range(60):
        shape = tuple(int(s) for s in rng.integers(1, 4, size=rng.integers(1, 4)))
        array = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
        state = rng.bit_generator.state
        fw_t, how = _random_layout(rng, fw, array)
        rng.bit_generator.state = state
        torch_t, _ = _random_layout(rng, torch, array)
        n = torch_t.numel()
        for parts in (1, 2, 3):
            for target in _factorizations(n, parts):
                try:
                    torch_t.view(target)
                    torch_ok = True
                except RuntimeError:
                    torch_ok = False
                try:
                    got = fw_t.view(target)
                    fw_ok = True
                    assert np.array_equal(got.numpy(), torch_t.reshape(target).numpy())
                except RuntimeError:
                    fw_ok = False
                if fw_ok != torch_ok:
                    disagreements.append((tuple(torch_t.shape), torch_t.stride(), how, target, torch_ok))
    assert not disagreements, disagreements[:5]


@pytest.mark.parametrize("shape, message", [
    ((3,), "shape '[3]' is invalid for input of size 6"),
    ((-1, -1), "only one dimension can be inferred"),
    ((4, -1), "shape '[4, -1]' is invalid for input of size 6"),
])
def test_view_size_errors(shape, message):
    got = raises_like_torch(lambda: fw.zeros(2, 3).view(*shape), lambda: torch.zeros(2, 3).view(*shape))
    assert got == message
    raises_like_torch(lambda: fw.zeros(2, 3).reshape(*shape), lambda: torch.zeros(2, 3).reshape(*shape), match=message)


def test_reshape_views_when_it_can_and_copies_when_it_must(rng):
    x = make_tensor(random_array(rng, (4, 5), "float32"))
    viewed = x.reshape(2, 10)
    assert _shares_storage(viewed, x) and viewed.grad_fn is None
    copied = x.T.reshape(20)
    assert not _shares_storage(copied, x)
    assert np.array_equal(copied.numpy(), x.numpy().T.reshape(20))
    y = make_tensor(random_array(rng, (4, 5), "float32"), requires_grad=True)
    assert y.reshape(20).grad_fn.name() == "ViewBackward0"
    if torch is not None:
        t = torch.zeros(4, 5, requires_grad=True)
        assert y.T.reshape(20).grad_fn.name() == t.T.reshape(20).grad_fn.name()


# ---- errors -------------------------------------------------------------------------

SHAPE_ERRORS = {
    "transpose-dim-range": lambda m: m.zeros(2, 3).transpose(0, 2),
    "permute-too-few": lambda m: m.zeros(2, 3).permute(0),
    "permute-duplicate": lambda m: m.zeros(2, 3).permute(0, 0),
    "squeeze-dim-range": lambda m: m.zeros(2, 3).squeeze(2),
    "unsqueeze-dim-range": lambda m: m.zeros(2, 3).unsqueeze(3),
    "unsqueeze-neg-range": lambda m: m.zeros(2, 3).unsqueeze(-4),
    "expand-mismatch": lambda m: m.zeros(2, 3).expand(3, 3),
    "expand-too-few": lambda m: m.zeros(2, 3).expand(3),
    "repeat-too-few": lambda m: m.zeros(2, 3).repeat(2),
    "flatten-reversed": lambda m: m.zeros(2, 3).flatten(1, 0),
    "flatten-range": lambda m: m.zeros(2, 3).flatten(0, 2),
    "t-3d": lambda m: m.zeros(2, 3, 4).t(),
    "cat-sizes": lambda m: m.cat([m.zeros(2, 3), m.zeros(3, 2)]),
    "cat-ndims": lambda m: m.cat([m.zeros(2, 3), m.zeros(3)]),
    "cat-dim-range": lambda m: m.cat([m.zeros(2, 3), m.zeros(2, 3)], dim=2),
    "cat-empty": lambda m: m.cat([]),
    "cat-0d": lambda m: m.cat([m.tensor(1.0), m.tensor(2.0)]),
    "stack-sizes": lambda m: m.stack([m.zeros(2, 3), m.zeros(3, 2)]),
    "stack-empty": lambda m: m.stack([]),
    "stack-dim-range": lambda m: m.stack([m.zeros(2), m.zeros(2)], dim=3),
    "split-sizes-sum": lambda m: m.zeros(4).split([1, 2]),
    "chunk-zero": lambda m: m.zeros(4).chunk(0),
    "split-zero": lambda m: m.zeros(4).split(0),
}


@pytest.mark.parametrize("name", SHAPE_ERRORS)
def test_shape_errors_match_torch(name):
    call = SHAPE_ERRORS[name]
    message = raises_like_torch(lambda: call(fw), lambda: call(torch))
    if torch is not None:
        with pytest.raises(Exception) as info:
            call(torch)
        expected = str(info.value).replace("torch.", "framework.")
        assert message.replace("permute(sparse_coo)", "permute()") == expected.replace("permute(sparse_coo)",
                                                                                       "permute()")


# ---- cat, stack, split, chunk ------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("shapes, dim", [
    (((2, 3), (4, 3)), 0), (((2, 3), (2, 1), (2, 5)), 1), (((2, 3), (2, 3)), -1), (((0, 3), (2, 3)), 0),
    (((2, 3, 5), (2, 1, 5)), 1), (((3,), (4,)), 0),
], ids=str)
def test_cat(shapes, dim, dtype, rng):
    arrays = [random_array(rng, s, "float64") for s in shapes]
    check_op(lambda *xs: fw.cat(xs, dim), lambda *xs: np.concatenate(xs, dim),
             lambda *xs: torch.cat(xs, dim), *arrays, dtype=dtype, rng=rng)


def test_cat_promotes_dtypes_and_skips_legacy_empty():
    out = fw.cat([fw.tensor([1, 2]), fw.tensor([1.5])])
    assert out.dtype is fw.float32 and out.tolist() == [1.0, 2.0, 1.5]
    out = fw.cat([fw.zeros(2, 3), fw.tensor([])])
    assert out.shape == (2, 3)
    assert fw.concat([fw.ones(1), fw.zeros(1)]).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim, rng):
    arrays = [random_array(rng, (2, 3), "float64") for _ in range(3)]
    check_op(lambda *xs: fw.stack(xs, dim), lambda *xs: np.stack(xs, dim), lambda *xs: torch.stack(xs, dim),
             *arrays, dtype="float32", rng=rng)


@pytest.mark.parametrize("args, dim", [(2, 0), (3, 1), ([1, 4], 1), ([2, 0, 1], 0), (5, -1)], ids=str)
def test_split(args, dim, rng):
    a = random_array(rng, (3, 5), "float64")
    sizes = args if isinstance(args, list) else None
    size = a.shape[dim]
    bounds = np.cumsum(sizes)[:-1] if sizes else np.arange(args, size, args)
    check_op(lambda x: x.split(args, dim), lambda x: tuple(np.split(x, bounds, axis=dim)),
             lambda x: x.split(args, dim), a, dtype="float32", rng=rng)


@pytest.mark.parametrize("chunks, dim", [(2, 0), (3, 1), (5, 1), (4, 0)])
def test_chunk(chunks, dim, rng):
    a = random_array(rng, (3, 5), "float64")
    size = a.shape[dim]
    step = -(-size // chunks)
    bounds = np.arange(step, size, step)
    check_op(lambda x: x.chunk(chunks, dim), lambda x: tuple(np.split(x, bounds, axis=dim)),
             lambda x: x.chunk(chunks, dim), a, dtype="float32", rng=rng)


def test_split_pieces_are_views(rng):
    x = make_tensor(random_array(rng, (4, 3), "float32"))
    first, second = x.split(2)
    assert _shares_storage(first, x) and _shares_storage(second, x)
    second.zero_()
    assert np.all(x.numpy()[2:] == 0)


def test_unbind_narrow_select(rng):
    a = random_array(rng, (3, 4), "float64")
    check_op(lambda x: x.unbind(1), lambda x: tuple(x[:, i] for i in range(4)), lambda x: x.unbind(1), a, rng=rng)
    check_op(lambda x: x.narrow(1, 1, 2), lambda x: x[:, 1:3], lambda x: x.narrow(1, 1, 2), a, rng=rng)
    check_op(lambda x: x.select(0, -1), lambda x: x[-1], lambda x: x.select(0, -1), a, rng=rng)


def test_squeeze_with_tuple_of_dims():
    x = fw.zeros(1, 3, 1, 2)
    assert x.squeeze((0, 2)).shape == (3, 2)
    assert x.squeeze((0, 1)).shape == (3, 1, 2)
    assert fw.zeros(()).squeeze().shape == () and fw.zeros(()).squeeze(0).shape == ()


def test_unflatten(rng):
    a = random_array(rng, (2, 12), "float64")
    check_op(lambda x: x.unflatten(1, (3, -1)), lambda x: x.reshape(2, 3, 4), lambda x: x.unflatten(1, (3, -1)), a,
             rng=rng)


# ---- gradcheck through views ------------------------------------------------------------

GRADCHECK = {
    "view-then-mul": lambda x: x.view(3, 2) * x.view(3, 2),
    "transpose-chain": lambda x: x.T.unsqueeze(0).expand(2, 3, 2).flatten(),
    "permute-sigmoid": lambda x: x.unsqueeze(-1).permute(2, 1, 0).sigmoid(),
    "reshape-copy": lambda x: x.T.reshape(6).exp(),
    "repeat": lambda x: x.repeat(2, 2, 1),
    "cat-self": lambda x: fw.cat([x, x * 2, x.T.reshape(2, 3)], 0),
    "stack": lambda x: fw.stack([x, x.tanh()], 1),
    "split": lambda x: x.split([1, 2], 1)[1] * 3,
    "chunk-sum": lambda x: x.chunk(2, 0)[0] + x.chunk(2, 0)[1],
    "squeeze": lambda x: x.unsqueeze(0).squeeze(0).contiguous(),
    "expand-broadcast": lambda x: x.view(2, 1, 3).expand(2, 3, 3) * x.view(2, 3, 1).expand(2, 3, 3).mT,
}


@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck_through_views(name, rng):
    gradcheck(GRADCHECK[name], random_array(rng, (2, 3), "float64"))


def test_gradcheck_cat_of_two_inputs(rng):
    gradcheck(lambda a, b: fw.cat([a, b.T], 1).sin(), random_array(rng, (2, 3), "float64"),
              random_array(rng, (2, 2), "float64"))
    gradcheck(lambda a, b: fw.stack([a, b], 0) * 2, random_array(rng, (3,), "float64"),
              random_array(rng, (3,), "float64"))


def test_grad_fn_names_of_views():
    x = fw.zeros(2, 3, requires_grad=True)
    names = {
        "view": x.view(6), "reshape": x.reshape(3, 2), "transpose": x.transpose(0, 1), "permute": x.permute(1, 0),
        "t": x.t(), "T": x.T, "expand": x.unsqueeze(0).expand(2, 2, 3), "unsqueeze": x.unsqueeze(0),
        "squeeze-dim": x.unsqueeze(0).squeeze(0), "squeeze": x.unsqueeze(0).squeeze(), "repeat": x.repeat(1, 2),
        "cat": fw.cat([x, x]), "stack": fw.stack([x, x]), "clone": x.clone(), "contiguous": x.T.contiguous(),
        "flatten": x.flatten(), "split": x.split(1)[0], "chunk": x.chunk(2)[0],
    }
    expected = {"view": "ViewBackward0", "reshape": "ViewBackward0", "transpose": "TransposeBackward0",
                "permute": "PermuteBackward0", "t": "TBackward0", "T": "PermuteBackward0",
                "expand": "ExpandBackward0", "unsqueeze": "UnsqueezeBackward0", "squeeze-dim": "SqueezeBackward1",
                "squeeze": "SqueezeBackward0", "repeat": "RepeatBackward0", "cat": "CatBackward0",
                "stack": "StackBackward0", "clone": "CloneBackward0", "contiguous": "CloneBackward0",
                "flatten": "ViewBackward0", "split": "SplitBackward0", "chunk": "SplitBackward0"}
    wrong = {k: v.grad_fn.name() for k, v in names.items() if v.grad_fn.name() != expected[k]}
    assert not wrong, wrong


def test_flatten_of_a_single_dim_is_the_tensor_itself():
    x = fw.zeros(3, requires_grad=True)
    assert x.flatten() is x
    y = x * 2
    assert y.flatten() is y


# ---- narrow, chunk, split, unflatten, movedim: PyTorch's bounds and errors ------------------------------

@pytest.mark.parametrize("call", [
    lambda m: m.arange(5).narrow(0, -2, 2), lambda m: m.arange(5).narrow(0, 5, 0), lambda m: m.arange(5).narrow(0, -5, 1),
    lambda m: m.arange(6).reshape(2, 3).narrow(-1, 1, 2), lambda m: m.zeros(0).chunk(3), lambda m: m.zeros(5).chunk(4),
    lambda m: m.zeros(6).chunk(4), lambda m: m.zeros(2, 0).chunk(2, 1), lambda m: m.zeros(2, 6).unflatten(-1, (2, -1)),
    lambda m: m.zeros(2, 3, 4).movedim((0, 1), (2, 0)), lambda m: m.zeros(2, 3, 4).movedim(-1, 0),
])
def test_bounds_like_torch(call):
    ours = call(fw)
    ours = ours if isinstance(ours, tuple) else (ours,)
    if torch is None:
        return
    theirs = call(torch)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert [tuple(t.shape) for t in ours] == [tuple(t.shape) for t in theirs]
    assert [t.tolist() for t in ours] == [t.tolist() for t in theirs]


@requires_torch
@pytest.mark.parametrize("call", [
    lambda m: m.arange(3).narrow(0, 2, 2), lambda m: m.arange(3).narrow(0, 0, -1), lambda m: m.arange(3).narrow(0, 4, 0),
    lambda m: m.arange(3).narrow(0, -4, 0), lambda m: m.tensor(1).narrow(0, 0, 1), lambda m: m.tensor(1.0).chunk(2),
    lambda m: m.tensor(1.0).split(1), lambda m: m.zeros(5).split(-1), lambda m: m.zeros(5).split([6, -1]),
    lambda m: m.zeros(2, 3).unflatten(1, (2, 2)), lambda m: m.zeros(2, 3).unflatten(1, ()),
    lambda m: m.zeros(2, 3, 4).movedim((0, 1), (2,)), lambda m: m.zeros(2, 3, 4).movedim((0, 0), (2, 1)),
    lambda m: m.zeros(2, 3, 4).movedim((0, 1), (2, -1)),
])
def test_errors_like_torch(call):
    message = raises_like_torch(lambda: call(fw), lambda: call(torch))
    try:
        call(torch)
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error)
