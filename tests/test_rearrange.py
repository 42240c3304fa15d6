"""flip, fliplr, flipud, roll, rot90: values, gradients, node names and strides against numpy and torch on every
device and dtype, with odd, size-0 and size-1 shapes, non-contiguous inputs, negative dims and PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, DTYPE_NAMES, case, check_op, random_array, raises_like_torch, requires_torch, torch)

SHAPES = [(2, 3, 5), (4, 1, 3), (0, 3, 2), (1, 1, 1), (3, 4, 6)]

# name -> (framework/torch call, numpy reference, PyTorch's node name)
CASES = {
    "flip-0": (lambda x: x.flip(0), lambda x: np.flip(x, 0), "FlipBackward0"),
    "flip-neg-list": (lambda x: x.flip([-1, 0]), lambda x: np.flip(x, (-1, 0)), "FlipBackward0"),
    "flip-all": (lambda x: x.flip(0, 1, 2), lambda x: np.flip(x), "FlipBackward0"),
    "flip-none": (lambda x: x.flip(()), lambda x: x, "FlipBackward0"),
    "fliplr": (lambda x: x.fliplr(), lambda x: np.flip(x, 1), "FlipBackward0"),
    "flipud": (lambda x: x.flipud(), lambda x: np.flip(x, 0), "FlipBackward0"),
    "roll-flat": (lambda x: x.roll(4), lambda x: np.roll(x, 4), "RollBackward0"),
    "roll-flat-neg": (lambda x: x.roll(-7), lambda x: np.roll(x, -7), "RollBackward0"),
    "roll-dims": (lambda x: x.roll((1, -2), (0, 2)), lambda x: np.roll(x, (1, -2), (0, 2)), "RollBackward0"),
    "roll-big": (lambda x: x.roll(13, -1), lambda x: np.roll(x, 13, -1), "RollBackward0"),
    "roll-same-dim-twice": (lambda x: x.roll((1, 2), (1, 1)), lambda x: np.roll(x, 3, 1), "RollBackward0"),
    "rot90": (lambda x: x.rot90(), lambda x: np.rot90(x), "Rot90Backward0"),
    "rot90-2": (lambda x: x.rot90(2, (1, 2)), lambda x: np.rot90(x, 2, (1, 2)), "Rot90Backward0"),
    "rot90-3": (lambda x: x.rot90(3, (2, 0)), lambda x: np.rot90(x, 3, (2, 0)), "Rot90Backward0"),
    "rot90-neg": (lambda x: x.rot90(-1, (-1, -2)), lambda x: np.rot90(x, -1, (-1, -2)), "Rot90Backward0"),
    "rot90-0": (lambda x: x.rot90(4), lambda x: x, "Rot90Backward0"),
}


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
@pytest.mark.parametrize("name", CASES)
def test_values_grads_and_node_names(name, dtype, rng):
    fn, reference, node = CASES[name]
    for shape in SHAPES:
        with case(shape=shape):
            x = random_array(rng, shape, "float64")
            out = check_op(fn, reference, fn, x, dtype=dtype, rng=rng)
            assert out.grad_fn.name() == node
            if torch is not None and out.numel():
                assert out.stride() == fn(torch.zeros(shape)).stride()  # rot90's odd turns are transposed views


@pytest.mark.parametrize("name", CASES)
def test_noncontiguous_input(name, rng):
    fn, reference, _ = CASES[name]
    check_op(fn, reference, fn, random_array(rng, (3, 4, 6), "float64"), dtype="float32", noncontiguous=True,
             rng=rng)


@pytest.mark.parametrize("dtype", [d for d in DTYPE_NAMES if d not in ("float32", "float64")])
@pytest.mark.parametrize("name", ["flip-neg-list", "roll-dims", "roll-flat", "rot90-3"])
def test_every_dtype(name, dtype, rng):
    fn, reference, _ = CASES[name]
    x = random_array(rng, (3, 4, 5), dtype, low=-9, high=9)
    check_op(fn, reference, fn, x, grad=False, out_dtype=getattr(fw, dtype), rng=rng)


@pytest.mark.parametrize("device", DEVICES)
def test_zero_dim_inputs(device):
    x = fw.tensor(3.5, device=device)
    assert x.flip(0).item() == 3.5 and x.flip(()).item() == 3.5 and x.roll(2).item() == 3.5


@pytest.mark.parametrize("device", DEVICES)
def test_results_are_copies(device):
    x = fw.arange(6.0, device=device).reshape(2, 3)
    for out in (x.flip(0), x.roll(1, 1), x.rot90(2), x.rot90(0), x.flip(())):
        before = out.tolist()
        x.add_(1)
        assert out.tolist() == before


@requires_torch
@pytest.mark.parametrize("call", [
    lambda m, x: x.flip(0, 0), lambda m, x: x.flip((0, -3)), lambda m, x: x.flip(3), lambda m, x: m.flip(x),
    lambda m, x: x[0, 0].fliplr(), lambda m, x: x[0, 0, 0].flipud(),
    lambda m, x: x.roll((1, -1), (0,)), lambda m, x: x.roll(1, (0, 1)), lambda m, x: x.roll((), ()),
    lambda m, x: x.roll((1, 2)), lambda m, x: x[0, 0, 0].roll(1, 0), lambda m, x: x.roll(1, 5),
    lambda m, x: x[0, 0].rot90(), lambda m, x: x.rot90(1, (0, 0)), lambda m, x: x.rot90(1, (0, -3)),
    lambda m, x: x.rot90(1, (0, 1, 2)), lambda m, x: x.rot90(1, (0, 5)),
])
def test_errors_match_torch(call):
    message = raises_like_torch(lambda: call(fw, fw.zeros(2, 3, 4)), lambda: call(torch, torch.zeros(2, 3, 4)))
    try:
        call(torch, torch.zeros(2, 3, 4))
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error).replace("torch.", "framework.")


# ---- repeat_interleave ----------------------------------------------------------------------------------

REPEAT_INTERLEAVE = [  # (shape, repeats, dim, output_size)
    ((2, 3), 2, None, None), ((2, 3), 2, 1, None), ((2, 3), 3, -2, None), ((2, 3), 0, 1, None), ((4,), 1, 0, 4),
    ((2, 3), [1, 0, 2], 1, None), ((2, 3), [1, 0, 2], 1, 3), ((3, 2), [2], 0, None), ((2, 3), 2.0, 1, None),
    ((2, 3), [2, 1, 0, 1, 3, 0], None, None), ((0, 3), 2, 0, None), ((3,), [0, 0, 0], 0, None),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("shape,repeats,dim,output_size", REPEAT_INTERLEAVE, ids=str)
def test_repeat_interleave(shape, repeats, dim, output_size, dtype, rng):
    def call(module):
        def fn(x):
            count = module.tensor(repeats, device=x.device) if isinstance(repeats, list) else \
                module.tensor(int(repeats), device=x.device) if isinstance(repeats, float) else repeats
            return module.repeat_interleave(x, count, dim, output_size=output_size)
        return fn

    def reference(x):
        counts = np.array(repeats, dtype=np.int64) if isinstance(repeats, list) else int(repeats)
        return np.repeat(x, counts, axis=dim)
    out = check_op(call(fw), reference, call(torch) if torch is not None else None, random_array(rng, shape, "float64"),
                   dtype=dtype, rng=rng)
    tensor_form = isinstance(repeats, (list, float))
    assert out.grad_fn.name() == ("IndexSelectBackward0" if tensor_form else "ViewBackward0")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_repeat_interleave_indices(dtype, device):
    counts = fw.tensor([1, 2, 0, 3], dtype=getattr(fw, dtype), device=device)
    out = fw.repeat_interleave(counts)
    assert out.dtype is counts.dtype and out.device.type == device and out.tolist() == [0, 1, 1, 3, 3, 3]
    assert fw.repeat_interleave(counts, output_size=6).tolist() == [0, 1, 1, 3, 3, 3]
    assert fw.repeat_interleave(fw.tensor([], dtype=fw.int64, device=device)).tolist() == []
    x = fw.arange(4, device=device)
    assert x.repeat_interleave(counts.long()).tolist() == [0, 1, 1, 3, 3, 3]


@requires_torch
@pytest.mark.parametrize("call", [
    lambda m, x: x.repeat_interleave(-1), lambda m, x: x.repeat_interleave(m.tensor([1, 0, 2]), dim=1, output_size=4),
    lambda m, x: x.repeat_interleave(m.tensor([1, 0, 2]), dim=1, output_size=2),
    lambda m, x: x.repeat_interleave(m.tensor([2, 1])), lambda m, x: x.repeat_interleave(m.tensor([1, -1, 2]), dim=1),
    lambda m, x: x.repeat_interleave(m.tensor([[1, 1, 2]]), dim=1),
    lambda m, x: x.repeat_interleave(m.tensor([1.0, 1, 2]), dim=1), lambda m, x: m.repeat_interleave(m.tensor(3)),
    lambda m, x: m.repeat_interleave(m.tensor([3.0]), 2, output_size=3), lambda m, x: x.repeat_interleave(2, dim=3),
])
def test_repeat_interleave_errors_match_torch(call):
    message = raises_like_torch(lambda: call(fw, fw.arange(6.0).reshape(2, 3)),
                                lambda: call(torch, torch.arange(6.0).reshape(2, 3)))
    try:
        call(torch, torch.arange(6.0).reshape(2, 3))
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error)
