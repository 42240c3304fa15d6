"""F.pad (constant, reflect, replicate, circular) and the padding layers against numpy and PyTorch on every device:
values and gradients, negative (cropping) amounts, 1-3 padded dims, dtypes, non-contiguous inputs, node names,
PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (DEVICES, case, check_op, random_array, raises_like_torch, requires_torch, torch, torch_name)

TF = torch.nn.functional if torch is not None else None
NUMPY_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
NODES = {"constant": "ConstantPadNdBackward0", "reflect": "ReflectionPad{}DBackward0",
         "replicate": "ReplicationPad{}DBackward0", "circular": "CopySlices"}


def np_pad(x, pad, mode, value=0.0):
    """F.pad in numpy: positive amounts by np.pad, negative ones cropped afterwards (complex-safe)."""
    widths = [(0, 0)] * x.ndim
    crops = [slice(None)] * x.ndim
    for i in range(len(pad) // 2):
        dim = x.ndim - 1 - i
        left, right = pad[2 * i], pad[2 * i + 1]
        widths[dim] = (max(left, 0), max(right, 0))
        crops[dim] = slice(max(-left, 0), x.shape[dim] + max(left, 0) + max(right, 0) - max(-right, 0))
    if mode == "circular":  # PyTorch wraps what is left after cropping
        core = [slice(None)] * x.ndim
        for i in range(len(pad) // 2):
            dim = x.ndim - 1 - i
            core[dim] = slice(max(-pad[2 * i], 0), x.shape[dim] - max(-pad[2 * i + 1], 0))
        cropped = x[tuple(core)]
        return np.pad(cropped, widths, mode="wrap")
    kwargs = dict(constant_values=value) if mode == "constant" else {}
    return np.pad(x, widths, mode=NUMPY_MODES[mode], **kwargs)[tuple(crops)]


CASES = [
    ("constant", (2, 3, 5, 4), (1, 2, 3, 0)),
    ("constant", (2, 3, 5, 4), (-1, 2, 0, -2, 1, 1)),
    ("reflect", (2, 3, 5, 4), (1, 2, 3, 0)),
    ("reflect", (2, 3, 6), (2, 3)),
    ("reflect", (3, 5, 4), (-1, 2, 1, -2)),
    ("replicate", (2, 3, 5, 4), (4, 1, 0, 6)),
    ("replicate", (1, 2, 3, 4, 3), (1, 1, 2, 0, 1, 2)),
    ("circular", (2, 3, 5, 4), (1, 2, 3, 0)),
    ("circular", (2, 3, 6), (-2, 3)),
]


@pytest.mark.parametrize("mode,shape,pad", CASES, ids=[f"{m}{p}" for m, _, p in CASES])
def test_pad(rng, mode, shape, pad):
    n_dims = len(pad) // 2
    out = check_op(lambda t: F.pad(t, pad, mode=mode), lambda a: np_pad(a, pad, mode),
                   TF and (lambda t: TF.pad(t, pad, mode=mode)), random_array(rng, shape), dtype="float64", rng=rng)
    assert out.grad_fn.name() == NODES[mode].format(n_dims)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("mode", list(NUMPY_MODES))
def test_pad_dtypes_noncontiguous(rng, mode, dtype):
    check_op(lambda t: F.pad(t, (2, 1, 1, 2), mode=mode), lambda a: np_pad(a, (2, 1, 1, 2), mode),
             TF and (lambda t: TF.pad(t, (2, 1, 1, 2), mode=mode)), random_array(rng, (2, 3, 4, 5)), dtype=dtype,
             rng=rng, noncontiguous=True)


@pytest.mark.parametrize("device", DEVICES)
def test_pad_value_and_integers(device):
    x = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    got = F.pad(fw.tensor(x, device=device), (1, 2), value=3.5)
    np.testing.assert_array_equal(got.cpu().numpy(), np_pad(x, (1, 2), "constant", 3))
    for mode in ("reflect", "replicate", "circular"):
        got = F.pad(fw.tensor(x, device=device), (1, 2, 1, 0), mode=mode)
        np.testing.assert_array_equal(got.cpu().numpy(), np_pad(x, (1, 2, 1, 0), mode))
    f = F.pad(fw.tensor(np.ones((2, 3), np.float32), device=device), (1, 1, 1, 0), value=-2.0)
    np.testing.assert_array_equal(f.cpu().numpy(), np_pad(np.ones((2, 3)), (1, 1, 1, 0), "constant", -2.0))


@requires_torch
def test_pad_errors_match_torch():
    x, tx = fw.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8)
    cases = [
        lambda F_, m, x: F_.pad(x, (1, 2, 3)),
        lambda F_, m, x: F_.pad(x, (1,) * 10),
        lambda F_, m, x: F_.pad(x, (-5, -5)),
        lambda F_, m, x: F_.pad(x, (1, 1), mode="reflect"),
        lambda F_, m, x: F_.pad(m.zeros(8), (1, 1), mode="reflect"),
        lambda F_, m, x: F_.pad(x, (8, 1, 0, 0), mode="reflect"),
        lambda F_, m, x: F_.pad(x, (1, 1, 8, 0), mode="reflect"),
        lambda F_, m, x: F_.pad(x, (9, 1, 0, 0), mode="circular"),
        lambda F_, m, x: F_.pad(x, (1, 1), mode="foo"),
        lambda F_, m, x: F_.pad(x, (1, 1, 1, 1), mode="reflect", value=1.0),
        lambda F_, m, x: F_.pad(m.zeros(2, 0, 4), (1, 1), mode="reflect"),
        lambda F_, m, x: F_.pad(m.zeros(2, 0, 4, 4), (1, 1, 1, 1), mode="replicate"),
        lambda F_, m, x: F_.pad(m.zeros(8, 8), (1, 1, 2, 2), mode="reflect"),
    ]
    for i, make in enumerate(cases):
        with case(error_case=i):
            message = raises_like_torch(lambda: make(F, fw, x), lambda: make(TF, torch, tx))
            try:
                make(TF, torch, tx)
            except Exception as error:
                assert torch_name(message) == str(error)


@requires_torch
def test_padding_layers(rng):
    layers = [("ZeroPad2d", ((1, 2, 3, 4),)), ("ZeroPad1d", (2,)), ("ConstantPad2d", (2, 1.5)),
              ("ConstantPad1d", ((1, 2), -1.0)), ("ReflectionPad2d", (1,)), ("ReflectionPad1d", ((2, 1),)),
              ("ReplicationPad2d", ((1, 0, 2, 3),)), ("ReplicationPad1d", (3,)), ("CircularPad2d", (1,)),
              ("CircularPad1d", ((1, 2),))]
    for name, args in layers:
        layer, t_layer = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        with case(layer=repr(t_layer)):
            assert torch_name(repr(layer)) == repr(t_layer)
            x = random_array(rng, (2, 3, 5) if "1d" in name else (2, 3, 5, 4), "float32")
            np.testing.assert_array_equal(layer(fw.tensor(x)).numpy(), t_layer(torch.tensor(x)).numpy())
    raises_like_torch(lambda: nn.CircularPad2d(1)(fw.zeros(8, 8)), lambda: torch.nn.CircularPad2d(1)(torch.zeros(8, 8)))
