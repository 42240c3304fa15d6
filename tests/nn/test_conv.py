"""Convolutions: F.conv1d/conv2d/conv_transpose1d/conv_transpose2d against float64 numpy and PyTorch (values and
gradients, every option, every dtype, every device), the layers (PyTorch's initialisation draw for draw, repr,
state dict, padding modes, output_size), nn.Sequential's fused Conv+activation, and PyTorch's errors."""
import contextlib

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (DEVICES, assert_close, assert_same_draws, case, check_op, random_array, raises_like_torch,
                     requires_torch, torch, torch_name)

from . import conv_reference as ref

TF = torch.nn.functional if torch is not None else None


@pytest.fixture(autouse=True)
def _ieee_float32():
    """float32 convolutions in IEEE arithmetic: on a GPU, PyTorch's default TF32 would not meet float32's
    tolerance (the interpreter ignores the switch)."""
    saved = fw.backends.cudnn.allow_tf32
    fw.backends.cudnn.allow_tf32 = False
    yield
    fw.backends.cudnn.allow_tf32 = saved


# (input shape, weight shape, keyword arguments): odd sizes, every option
CONV2D_CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), {}),
    ((2, 4, 9, 8), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)),
    ((1, 3, 5, 5), (3, 1, 3, 3), dict(stride=2, padding=1, groups=3)),  # depthwise
    ((3, 2, 1, 9), (4, 2, 1, 3), dict(padding=(0, 1))),  # height 1
    ((2, 17, 5, 4), (18, 17, 2, 2), dict(stride=(1, 2))),  # channels past one 16-wide step
    ((2, 4, 6, 5), (4, 4, 1, 1), {}),  # 1x1
    ((2, 3, 6, 7), (2, 3, 4, 3), dict(padding="same")),  # even kernel: an extra pad on the right
    ((2, 3, 6, 7), (2, 3, 3, 3), dict(padding="valid", dilation=2)),
    ((0, 3, 5, 5), (2, 3, 3, 3), {}),  # empty batch
]


def _kwargs_text(kwargs):
    return ",".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


@pytest.mark.parametrize("x_shape,w_shape,kwargs", CONV2D_CASES, ids=[_kwargs_text(c[2]) + str(c[0]) for c in CONV2D_CASES])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(rng, x_shape, w_shape, kwargs, bias):
    x, w, b = random_array(rng, x_shape), random_array(rng, w_shape), random_array(rng, w_shape[:1])
    arrays = (x, w, b) if bias else (x, w)
    reference_kwargs = dict(kwargs)
    if kwargs.get("padding") == "same":
        reference = lambda x, w, b=None: ref.conv2d(np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 1))), w, b)  # noqa: E731
    else:
        reference_kwargs["padding"] = 0 if kwargs.get("padding") == "valid" else kwargs.get("padding", 0)
        reference = lambda x, w, b=None: ref.conv2d(x, w, b, **reference_kwargs)  # noqa: E731
    with pytest.warns(UserWarning, match="even kernel") if kwargs.get("padding") == "same" else contextlib.nullcontext():
        out = check_op(lambda *t: F.conv2d(*t, **kwargs), reference, TF and (lambda *t: TF.conv2d(*t, **kwargs)),
                       *arrays, dtype="float64", rng=rng)
    assert out.grad_fn.name() == "ConvolutionBackward0"


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_conv2d_dtypes_and_noncontiguous(rng, dtype):
    x, w, b = random_array(rng, (2, 5, 6, 7)), random_array(rng, (6, 5, 3, 3), high=1), random_array(rng, (6,))
    kwargs = dict(stride=(1, 2), padding=1)
    for noncontiguous in (False, True):
        with case(noncontiguous=noncontiguous):
            check_op(lambda *t: F.conv2d(*t, **kwargs), lambda x, w, b: ref.conv2d(x, w, b, **kwargs),
                     TF and (lambda *t: TF.conv2d(*t, **kwargs)), x, w, b, dtype=dtype, rng=rng,
                     noncontiguous=noncontiguous, out_dtype=getattr(fw, dtype))


CONV_TRANSPOSE_CASES = [
    ((2, 4, 3, 4), (4, 3, 3, 3), {}),
    ((2, 4, 3, 4), (4, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2),
                                      groups=2)),
    ((1, 3, 4, 4), (3, 1, 2, 2), dict(stride=2, groups=3)),
    ((2, 18, 3, 3), (18, 2, 3, 3), dict(stride=1, padding=1, dilation=2, output_padding=1)),
]


@pytest.mark.parametrize("x_shape,w_shape,kwargs", CONV_TRANSPOSE_CASES,
                         ids=[_kwargs_text(c[2]) for c in CONV_TRANSPOSE_CASES])
def test_conv_transpose2d(rng, x_shape, w_shape, kwargs):
    x, w, b = random_array(rng, x_shape), random_array(rng, w_shape), random_array(rng, (w_shape[1] * kwargs.get(
        "groups", 1),))
    out = check_op(lambda *t: F.conv_transpose2d(*t, **kwargs), lambda *a: ref.conv_transpose2d(*a, **kwargs),
                   TF and (lambda *t: TF.conv_transpose2d(*t, **kwargs)), x, w, b, dtype="float64", rng=rng)
    assert out.grad_fn.name() == "ConvolutionBackward0"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_conv_transpose2d_dtypes_without_bias(rng, dtype):
    x, w = random_array(rng, (2, 3, 4, 3)), random_array(rng, (3, 4, 3, 3), high=1)
    check_op(lambda *t: F.conv_transpose2d(*t, stride=2, padding=1, output_padding=1),
             lambda *a: ref.conv_transpose2d(*a, stride=2, padding=1, output_padding=1),
             TF and (lambda *t: TF.conv_transpose2d(*t, stride=2, padding=1, output_padding=1)), x, w, dtype=dtype,
             rng=rng, noncontiguous=True)


def test_conv1d_and_conv_transpose1d(rng):
    x, w, b = random_array(rng, (2, 4, 11)), random_array(rng, (6, 2, 3)), random_array(rng, (6,))
    kwargs = dict(stride=2, padding=1, dilation=2, groups=2)
    out = check_op(lambda *t: F.conv1d(*t, **kwargs), lambda *a: ref.conv1d(*a, **kwargs),
                   TF and (lambda *t: TF.conv1d(*t, **kwargs)), x, w, b, dtype="float64", rng=rng)
    assert out.grad_fn.name() == "ConvolutionBackward0"
    xt, wt = random_array(rng, (2, 4, 5)), random_array(rng, (4, 3, 3))

    def transposed_reference(x, w):
        return ref.conv_transpose2d(x[:, :, None], w[:, :, None], stride=(1, 2), padding=(0, 1),
                                    output_padding=(0, 1))[:, :, 0]
    check_op(lambda *t: F.conv_transpose1d(*t, stride=2, padding=1, output_padding=1), transposed_reference,
             TF and (lambda *t: TF.conv_transpose1d(*t, stride=2, padding=1, output_padding=1)), xt, wt,
             dtype="float32", rng=rng)


def test_unbatched_inputs(rng):
    x, w = random_array(rng, (3, 6, 5)), random_array(rng, (4, 3, 3, 3))
    out = check_op(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: ref.conv2d(x[None], w, padding=1)[0],
                   TF and (lambda x, w: TF.conv2d(x, w, padding=1)), x, w, dtype="float32", rng=rng)
    assert out.grad_fn.name() == "SqueezeBackward1"
    check_op(lambda x, w: F.conv1d(x, w), lambda x, w: ref.conv1d(x[None], w)[0], TF and TF.conv1d,
             random_array(rng, (3, 7)), random_array(rng, (2, 3, 2)), dtype="float32", rng=rng)


@requires_torch
def test_conv_errors_match_torch():
    x, w = fw.zeros(2, 3, 8, 8), fw.zeros(4, 3, 3, 3)
    tx, tw = torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3)
    cases = [
        (lambda F_, x, w, m: F_.conv2d(m.zeros(2, 5, 8, 8), w)),
        (lambda F_, x, w, m: F_.conv2d(m.zeros(2, 3, 2, 2), w)),
        (lambda F_, x, w, m: F_.conv2d(m.zeros(2, 4, 8, 8), m.zeros(3, 2, 3, 3), groups=2)),
        (lambda F_, x, w, m: F_.conv2d(m.zeros(2, 5, 8, 8), m.zeros(4, 2, 3, 3), groups=2)),
        (lambda F_, x, w, m: F_.conv2d(m.zeros(2, 3), w)),
        (lambda F_, x, w, m: F_.conv2d(m.zeros(1, 2, 3, 8, 8), w)),
        (lambda F_, x, w, m: F_.conv2d(x, m.zeros(4, 3, 3))),
        (lambda F_, x, w, m: F_.conv2d(x, m.zeros(4, 3))),
        (lambda F_, x, w, m: F_.conv2d(x, w, padding=-1)),
        (lambda F_, x, w, m: F_.conv2d(x, w, stride=0)),
        (lambda F_, x, w, m: F_.conv2d(x, w, dilation=0)),
        (lambda F_, x, w, m: F_.conv2d(x, w, groups=0)),
        (lambda F_, x, w, m: F_.conv2d(x, w, padding="same", stride=2)),
        (lambda F_, x, w, m: F_.conv2d(x, w, padding="foo")),
        (lambda F_, x, w, m: F_.conv2d(x, w, stride=(1, 1, 1))),
        (lambda F_, x, w, m: F_.conv2d(x.double(), w)),
        (lambda F_, x, w, m: F_.conv2d(x, w, m.zeros(4, dtype=m.float64))),
        (lambda F_, x, w, m: F_.conv2d(x, w, m.zeros(5))),
        (lambda F_, x, w, m: F_.conv2d(x, m.zeros(0, 3, 3, 3))),
        (lambda F_, x, w, m: F_.conv1d(x, m.zeros(4, 3, 3))),
        (lambda F_, x, w, m: F_.conv1d(m.zeros(2, 3, 8), w)),
        (lambda F_, x, w, m: F_.conv_transpose2d(m.zeros(2, 5, 8, 8), m.zeros(3, 4, 3, 3))),
        (lambda F_, x, w, m: F_.conv_transpose2d(x, m.zeros(3, 4, 3, 3), stride=2, output_padding=2)),
        (lambda F_, x, w, m: F_.conv_transpose2d(x, m.zeros(3, 4, 3, 3), groups=2)),
        (lambda F_, x, w, m: F_.conv_transpose2d(x, m.zeros(3, 4, 3, 3), padding="same")),
        (lambda F_, x, w, m: F_.conv_transpose2d(m.zeros(1, 3, 1, 1), m.zeros(3, 4, 1, 1), padding=1)),
    ]
    for i, make in enumerate(cases):
        with case(error_case=i):
            message = raises_like_torch(lambda: make(F, x, w, fw), lambda: make(TF, tx, tw, torch))
            try:
                make(TF, tx, tw, torch)
            except Exception as error:  # the same words as PyTorch's (its first line)
                assert torch_name(message).split("\n")[0] == str(error).split("\n")[0]


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_issue_14_bad_inputs_raise_pytorchs_errors_on_every_device(device):
    """Wrong channel counts, kernels larger than the padded input, groups that do not divide the channels, wrong
    input ranks, negative or oversized pooling padding: PyTorch's exception and words on every device, raised
    before any kernel runs (the checks are in framework/ops, ahead of the dispatch)."""
    def zeros(m, *shape):
        return m.zeros(*shape, device=device) if m is fw else m.zeros(*shape)
    cases = [
        lambda F_, m: F_.conv2d(zeros(m, 2, 5, 8, 8), zeros(m, 4, 3, 3, 3)),  # channels
        lambda F_, m: F_.conv2d(zeros(m, 2, 3, 2, 2), zeros(m, 4, 3, 3, 3), padding=0),  # kernel > padded input
        lambda F_, m: F_.conv2d(zeros(m, 2, 4, 8, 8), zeros(m, 3, 2, 3, 3), groups=2),  # groups
        lambda F_, m: F_.conv2d(zeros(m, 2, 3), zeros(m, 4, 3, 3, 3)),  # rank
        lambda F_, m: F_.conv_transpose2d(zeros(m, 2, 5, 8, 8), zeros(m, 3, 4, 3, 3)),  # channels
        lambda F_, m: F_.max_pool2d(zeros(m, 2, 3, 8, 8), 2, padding=-1),
        lambda F_, m: F_.max_pool2d(zeros(m, 2, 3, 8, 8), 2, padding=2),
        lambda F_, m: F_.avg_pool2d(zeros(m, 2, 3, 8, 8), 3, padding=2),
        lambda F_, m: F_.max_pool2d(zeros(m, 8, 8), 2),  # rank
        lambda F_, m: F_.batch_norm(zeros(m, 2, 3, 4), zeros(m, 4), zeros(m, 4)),  # channels
    ]
    for i, make in enumerate(cases):
        with case(error_case=i, device=device):
            message = raises_like_torch(lambda: make(F, fw), lambda: make(TF, torch))
            try:
                make(TF, torch)
            except Exception as error:
                assert torch_name(message).split("\n")[0] == str(error).split("\n")[0]


# ---- layers -----------------------------------------------------------------------------------------------------

LAYERS = [
    ("Conv2d", (3, 6, 5), {}),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=2, padding=1, dilation=2, groups=2, bias=False, padding_mode="reflect")),
    ("Conv2d", (3, 4, 3), dict(padding="same", padding_mode="circular")),
    ("Conv2d", (3, 4, 3), dict(padding="valid")),
    ("Conv2d", (3, 4, 3), dict(padding=1, padding_mode="replicate")),
    ("Conv1d", (3, 4, 3), dict(padding=2, padding_mode="reflect")),
    ("ConvTranspose2d", (3, 6, 3), dict(stride=2, output_padding=1)),
    ("ConvTranspose2d", (4, 6, 3), dict(groups=2, dilation=2, bias=False)),
    ("ConvTranspose1d", (3, 5, 2), dict(stride=3, padding=1)),
]


@pytest.mark.uses_random
@requires_torch
@pytest.mark.parametrize("seed", [0, 2024])
def test_layers_match_torch(rng, seed):
    """The same weights after the same manual_seed, the same repr and state dict keys, the same outputs."""
    fw.manual_seed(seed)
    ours = [getattr(nn, name)(*args, **kwargs) for name, args, kwargs in LAYERS]
    torch.manual_seed(seed)
    theirs = [getattr(torch.nn, name)(*args, **kwargs) for name, args, kwargs in LAYERS]
    for layer, t_layer in zip(ours, theirs):
        with case(layer=repr(t_layer)):
            assert torch_name(repr(layer)) == repr(t_layer)
            assert list(layer.state_dict()) == list(t_layer.state_dict())
            for (name, p), q in zip(layer.named_parameters(), t_layer.parameters()):
                assert_same_draws(p, q, name)
            dims = 1 if "1d" in repr(t_layer) else 2
            x = random_array(rng, (2, t_layer.in_channels) + (7,) * dims, "float32")
            with torch.no_grad():
                expected = t_layer(torch.tensor(x))
            for device in DEVICES:
                got = layer.to(device)(fw.tensor(x, device=device))
                assert_close(got.detach().cpu(), expected, "float32", rtol=1e-4, atol=1e-5)


@requires_torch
def test_layer_construction_errors():
    for kwargs in (dict(padding_mode="foo"), dict(groups=2), dict(groups=0), dict(stride=2, padding="same"),
                   dict(padding="foo")):
        with case(**kwargs):
            message = raises_like_torch(lambda: nn.Conv2d(3, 4, 3, **kwargs), lambda: torch.nn.Conv2d(3, 4, 3, **kwargs))
            try:
                torch.nn.Conv2d(3, 4, 3, **kwargs)
            except ValueError as error:  # (a set's order varies from process to process: compared as sets)
                assert sorted(message) == sorted(str(error))
    raises_like_torch(lambda: nn.Conv2d(4, 3, 3, groups=2), lambda: torch.nn.Conv2d(4, 3, 3, groups=2))
    raises_like_torch(lambda: nn.ConvTranspose2d(4, 3, 3, padding_mode="reflect"),
                      lambda: torch.nn.ConvTranspose2d(4, 3, 3, padding_mode="reflect"))


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_conv_transpose_output_size(rng, device):
    layer, t_layer = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(3, 2, 3, stride=2,
                                                                                                 padding=1)
    layer.load_state_dict({k: fw.tensor(v.numpy()) for k, v in t_layer.state_dict().items()})
    layer.to(device)
    x = random_array(rng, (1, 3, 4, 4), "float32")
    for size in ((8, 8), (7, 8), (1, 2, 8, 7)):
        with case(size=size):
            got = layer(fw.tensor(x, device=device), output_size=size)
            assert_close(got.detach().cpu(), t_layer(torch.tensor(x), output_size=size).detach(), "float32",
                         rtol=1e-4, atol=1e-5)
    for size in ((9, 9), (8,)):
        raises_like_torch(lambda: layer(fw.tensor(x, device=device), output_size=size),
                          lambda: t_layer(torch.tensor(x), output_size=size))


# ---- nn.Sequential fuses Conv + activation ----------------------------------------------------------------------

def _node_names(node):
    names, stack = [], [node]
    while stack:
        node = stack.pop()
        names.append(node.name())
        stack.extend(edge[0] for edge in node.next_functions if edge[0] is not None)  # (None, 0): no gradient
    return names


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation,node", [(nn.ReLU, "ReluBackward0"), (nn.GELU, "GeluBackward0"),
                                             (lambda: nn.GELU("tanh"), "GeluBackward0"), (nn.SiLU, "SiluBackward0")])
def test_sequential_conv_activation_fuses_and_matches(rng, device, activation, node):
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), activation(), nn.Identity(),
                          nn.Conv2d(4, 3, 2, stride=2, padding_mode="reflect", padding=1), activation())
    model.to(device, fw.float64)
    x = random_array(rng, (2, 2, 5, 6), "float64")
    fused = model(fw.tensor(x, device=device))
    names = [n for n in _node_names(fused.grad_fn) if n != "AccumulateGrad"]
    assert names.count(node) == 2 and "ConvolutionBackward0" not in names
    g = random_array(rng, tuple(fused.shape), "float64")
    fused.backward(fw.tensor(g, device=device))
    fused_grads = [p.grad.cpu().numpy().copy() for p in model.parameters()]
    model.zero_grad()
    unfused = fw.tensor(x, device=device)
    for layer in model:
        unfused = layer(unfused)
    unfused.backward(fw.tensor(g, device=device))
    assert_close(fused.detach().cpu(), unfused.detach().cpu(), "float64")
    for got, p in zip(fused_grads, model.parameters()):
        assert_close(got, p.grad.cpu(), "float64")


def test_tf32_switch_is_pytorchs():
    """framework.backends.cudnn.allow_tf32 exists with PyTorch's default (True; the fixture turns it off here), and
    the cudnn flags CNN scripts set are accepted."""
    import importlib
    cudnn = importlib.reload(fw.backends.cudnn)
    try:
        assert cudnn.allow_tf32 is True and cudnn.benchmark is False and not cudnn.is_available()
        cudnn.benchmark = True
    finally:
        cudnn.allow_tf32 = False
