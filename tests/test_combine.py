"""meshgrid, cartesian_prod, broadcast_tensors, atleast_1d/2d/3d, hstack/vstack/row_stack/dstack/column_stack and
tensor_split: values, gradients, views and node names against numpy and torch on every device, with 0-d, size-0
and size-1 inputs, dtypes, and PyTorch's errors and meshgrid's warning."""
import warnings

import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, case, check_op, make_tensor, random_array, raises_like_torch, requires_torch, torch)


def _module(x):
    return fw if isinstance(x, fw.Tensor) else torch


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing, dtype, rng):
    for shapes in [((3,), (2,)), ((4,), (1,), (3,)), ((3,),), ((), (4,)), ((0,), (3,))]:
        with case(shapes=shapes):
            inputs = [random_array(rng, s, "float64") for s in shapes]
            outs = check_op(lambda *t: _module(t[0]).meshgrid(*t, indexing=indexing),
                            lambda *t: np.meshgrid(*[np.atleast_1d(v) for v in t], indexing=indexing),
                            lambda *t: torch.meshgrid(*t, indexing=indexing), *inputs, dtype=dtype, rng=rng)
            outs = outs if isinstance(outs, tuple) else (outs,)
            assert all(o.grad_fn.name() == "ExpandBackward0" and o._base is not None for o in outs)


def test_meshgrid_list_and_default_warning(rng):
    a, b = fw.arange(3.0), fw.arange(2.0)
    with pytest.warns(UserWarning, match="in an upcoming release, it will be required to pass the indexing"):
        grids = fw.meshgrid(a, b)
    assert [g.shape for g in grids] == [(3, 2), (3, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [g.shape for g in fw.meshgrid([a, b], indexing="xy")] == [(2, 3), (2, 3)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cartesian_prod(dtype, rng):
    for shapes in [((3,), (2,)), ((2,), (3,), (2,)), ((0,), (2,))]:
        with case(shapes=shapes):
            inputs = [random_array(rng, s, "float64") for s in shapes]

            def reference(*t):
                if len(t) == 1:
                    return t[0]
                grids = np.meshgrid(*t, indexing="ij")
                return np.stack([g.reshape(-1) for g in grids], 1)
            out = check_op(lambda *t: _module(t[0]).cartesian_prod(*t), reference,
                           lambda *t: torch.cartesian_prod(*t), *inputs, dtype=dtype, rng=rng)
            if len(shapes) > 1:
                assert out.grad_fn.name() == "StackBackward0"
    x = fw.arange(3)
    assert fw.cartesian_prod(x) is x
    assert fw.cartesian_prod(x, fw.arange(2)).dtype is fw.int64


def test_broadcast_tensors(rng):
    a, b, c = (random_array(rng, s, "float64") for s in ((2, 3), (3,), (4, 1, 1)))
    outs = check_op(lambda *t: _module(t[0]).broadcast_tensors(*t),
                    lambda *t: tuple(np.broadcast_arrays(*t)), lambda *t: torch.broadcast_tensors(*t), a, b, c,
                    dtype="float32", rng=rng)
    assert all(o.shape == (4, 2, 3) and o.grad_fn.name() == "ExpandBackward0" for o in outs)
    for device in DEVICES:
        x = fw.zeros(2, 3, device=device)
        same = fw.broadcast_tensors(x, fw.zeros(3, device=device))
        assert same[0] is x and same[1].shape == (2, 3)


ATLEAST = {  # input shape -> (1d, 2d, 3d) result shapes and node names (None: the input itself)
    (): [((1,), "ViewBackward0"), ((1, 1), "ViewBackward0"), ((1, 1, 1), "ViewBackward0")],
    (3,): [((3,), None), ((1, 3), "UnsqueezeBackward0"), ((1, 3, 1), "UnsqueezeBackward0")],
    (2, 3): [((2, 3), None), ((2, 3), None), ((2, 3, 1), "UnsqueezeBackward0")],
    (1, 2, 3, 4): [((1, 2, 3, 4), None)] * 3,
    (0, 2): [((0, 2), None), ((0, 2), None), ((0, 2, 1), "UnsqueezeBackward0")],
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", list(ATLEAST), ids=str)
def test_atleast(shape, device, rng):
    values = random_array(rng, shape, "float32")
    for rank, (expected_shape, node) in zip((1, 2, 3), ATLEAST[shape]):
        x = make_tensor(values, requires_grad=True, device=device)
        out = getattr(fw, f"atleast_{rank}d")(x)
        assert out.shape == expected_shape
        assert (out is x) if node is None else (out.grad_fn.name() == node and out._base is x)
        assert out.detach().cpu().numpy().reshape(-1).tolist() == values.reshape(-1).tolist()
        if torch is not None:
            theirs = getattr(torch, f"atleast_{rank}d")(torch.from_numpy(values))
            assert tuple(theirs.shape) == expected_shape


def test_atleast_many_inputs():
    a, b = fw.tensor(1.0), fw.arange(3.0)
    assert [t.shape for t in fw.atleast_2d(a, b)] == [(1, 1), (1, 3)]
    assert [t.shape for t in fw.atleast_1d([a, b])] == [(1,), (3,)]
    single = fw.atleast_3d((b,))
    assert isinstance(single, tuple) and single[0].shape == (1, 3, 1)


STACKS = {
    "hstack": (lambda m, t: m.hstack(t), lambda t: np.hstack(t)),
    "vstack": (lambda m, t: m.vstack(t), lambda t: np.vstack(t)),
    "row_stack": (lambda m, t: m.row_stack(t), lambda t: np.vstack(t)),
    "dstack": (lambda m, t: m.dstack(t), lambda t: np.dstack(t)),
    "column_stack": (lambda m, t: m.column_stack(t), lambda t: np.column_stack(t)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("name", STACKS)
def test_stacks(name, dtype, rng):
    fn, reference = STACKS[name]
    groups = {"hstack": [((3,), (2,)), ((2, 3), (2, 1)), ((), ())],
              "vstack": [((3,), (3,)), ((2, 3), (1, 3)), ((), ())],
              "dstack": [((3,), (3,)), ((2, 3), (2, 3)), ((), ()), ((2, 3, 1), (2, 3, 2))],
              "column_stack": [((3,), (3,), (3, 2)), ((), ()), ((0,), (0, 2))]}
    groups["row_stack"] = groups["vstack"]
    for shapes in groups[name]:
        with case(shapes=shapes):
            inputs = [random_array(rng, s, "float64") for s in shapes]
            out = check_op(lambda *t: fn(_module(t[0]), list(t)), lambda *t: reference(list(t)),
                           lambda *t: fn(torch, list(t)), *inputs, dtype=dtype, rng=rng)
            assert out.grad_fn.name() == "CatBackward0"


def test_stacks_promote_dtypes(rng):
    out = fw.hstack([fw.arange(3.0), fw.arange(3)])
    assert out.dtype is fw.float32 and out.tolist() == [0, 1, 2, 0, 1, 2]


TENSOR_SPLITS = [(7, 3, 0), (7, [1, 5, 9], 0), (7, [5, 1], 0), (6, 4, 0), ((2, 5), 2, 1), ((2, 5), [2], -1),
                 (0, 3, 0), (7, 1, 0), (7, 10, 0)]


@pytest.mark.parametrize("size,sections,dim", TENSOR_SPLITS, ids=str)
def test_tensor_split(size, sections, dim, rng):
    shape = (size,) if isinstance(size, int) else size
    values = random_array(rng, shape, "float64")

    def reference(x):
        moved = np.moveaxis(x, dim, 0)
        n = moved.shape[0]
        if isinstance(sections, int):
            bounds = np.cumsum([0] + [n // sections + (1 if i < n % sections else 0) for i in range(sections)])
            pieces = [moved[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        else:
            edges = [0] + list(sections) + [n]
            pieces = [moved[a:max(a, b)] for a, b in zip(edges[:-1], edges[1:])]
        return tuple(np.moveaxis(p, 0, dim) for p in pieces)
    outs = check_op(lambda t: t.tensor_split(sections, dim), reference, lambda t: t.tensor_split(sections, dim),
                    values, dtype="float32", rng=rng)
    outs = outs if isinstance(outs, tuple) else (outs,)
    assert all(o._base is not None for o in outs)


def test_tensor_split_tensor_argument(rng):
    x = fw.arange(7.0)
    assert [p.tolist() for p in x.tensor_split(fw.tensor(3))] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [p.tolist() for p in fw.tensor_split(x, fw.tensor([1, 4]))] == [[0], [1, 2, 3], [4, 5, 6]]


@requires_torch
@pytest.mark.parametrize("call", [
    lambda m: m.meshgrid(m.zeros(2, 3), m.zeros(2), indexing="ij"), lambda m: m.meshgrid(m.zeros(2), indexing="foo"),
    lambda m: m.meshgrid(indexing="ij"), lambda m: m.meshgrid(m.zeros(2), m.arange(2), indexing="ij"),
    lambda m: m.cartesian_prod(m.zeros(2, 3)), lambda m: m.cartesian_prod(m.zeros(2), m.arange(2)),
    lambda m: m.cartesian_prod(), lambda m: m.broadcast_tensors(m.zeros(2, 3), m.zeros(2)),
    lambda m: m.hstack([]), lambda m: m.vstack([]), lambda m: m.dstack([]), lambda m: m.column_stack([]),
    lambda m: m.hstack([m.zeros(2, 3), m.zeros(3, 3)]),
    lambda m: m.arange(7.0).tensor_split(0), lambda m: m.tensor(1.0).tensor_split(2),
    lambda m: m.arange(7.0).tensor_split(m.tensor([1.0, 4.0])), lambda m: m.arange(7.0).tensor_split(m.tensor([[1]])),
    lambda m: m.arange(7.0).tensor_split(2, 1),
])
def test_errors_match_torch(call):
    message = raises_like_torch(lambda: call(fw), lambda: call(torch))
    try:
        call(torch)
    except Exception as error:  # noqa: BLE001 - comparing messages
        theirs = str(error).replace("torch.", "framework.")
        if "but got:" not in theirs:  # meshgrid prints the offending tensor in C++'s layout
            assert message == theirs


def test_broadcast_shapes():
    assert fw.broadcast_shapes((2, 1), (3,), [1, 1, 1]) == (1, 2, 3)
    assert repr(fw.broadcast_shapes(5, (2, 1))) == "framework.Size([2, 5])" and fw.broadcast_shapes() == ()
    for shapes in [((2, 1), (3, 2)), ((2,), (-1,)), ((2.0,),)]:
        message = raises_like_torch(lambda: fw.broadcast_shapes(*shapes), lambda: torch.broadcast_shapes(*shapes))
        if torch is not None:
            try:
                torch.broadcast_shapes(*shapes)
            except Exception as error:  # noqa: BLE001 - comparing messages
                assert message == str(error).replace("torch.", "framework.")
