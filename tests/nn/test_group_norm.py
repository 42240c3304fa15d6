"""GroupNorm and F.group_norm against float64 numpy and PyTorch: every device and float dtype, layouts from
(N, C) to (N, C, H, W), one group to one per channel, with and without the affine parameters, PyTorch's node,
initialisation, reprs and errors."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (DEVICES, FLOAT_NAMES, case, check_op, interpreted_cuda_once, random_array, raises_like_torch,
                     requires_torch, torch, torch_name)

TF = torch.nn.functional if torch is not None else None


def np_group_norm(x, groups, weight=None, bias=None, eps=1e-5):
    n, c = x.shape[:2]
    rows = x.reshape(n, groups, (c // groups) * int(np.prod(x.shape[2:])))
    mean = rows.mean(axis=2, keepdims=True)
    centered = rows - mean
    var = (centered * centered).mean(axis=2, keepdims=True)
    out = (centered / np.sqrt(var + eps)).reshape(x.shape)
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(per_channel)
    if bias is not None:
        out = out + bias.reshape(per_channel)
    return out


def spread_out(rng, shape, groups, dtype):
    """Random input whose groups are not nearly constant (or single values): there rstd is large and every
    implementation's gradient, PyTorch's included, loses digits to cancellation in proportion."""
    while True:
        x = random_array(rng, shape, dtype, low=-3, high=3)
        rows = x.astype(np.float64).reshape(shape[0], groups, int(np.prod(shape[1:])) // groups)
        if rows.size == 0 or rows.shape[2] == 1 or rows.std(axis=2).min() > 0.3:
            return x


LAYOUTS = [((2, 6, 5), 3), ((3, 4), 2), ((2, 6, 3, 2), 6), ((1, 4, 7), 1), ((2, 3, 1, 1), 3), ((0, 4, 3), 2),
           ((2, 4, 0), 2)]


AFFINE = ["both", "weight", "bias", "none"]


@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_group_norm_values_and_gradients(rng, dtype, affine):
    # every layout on the cpu; on the interpreter's cuda one per (dtype, affine), all of them across the 16 cases
    turn = (FLOAT_NAMES.index(dtype) * len(AFFINE) + AFFINE.index(affine)) % len(LAYOUTS)
    for i, (shape, groups) in enumerate(LAYOUTS):
        c = shape[1]
        x = spread_out(rng, shape, groups, dtype)
        w = random_array(rng, (c,), dtype, low=0.5, high=1.5) if affine in ("both", "weight") else None
        b = random_array(rng, (c,), dtype) if affine in ("both", "bias") else None

        def fw_fn(x, *params):
            return F.group_norm(x, groups, *_params(params, w, b))

        def np_fn(x, *params):
            return np_group_norm(x, groups, *_params(params, w, b))
        torch_fn = TF and (lambda x, *params: TF.group_norm(x, groups, *_params(params, w, b)))
        if 0 in shape or affine == "bias":
            # PyTorch's weight gradient over no positions is nan (0 times a nan mean; ours is 0), and its backward
            # with a bias but no weight fails inside its engine ("tensor does not have a device")
            torch_fn = None
        if int(np.prod(shape[1:])) == 2 * groups and dtype in ("bfloat16", "float16"):
            # two values a group normalise to -1 and 1 whatever they are: the input gradient is exactly 0, ours
            # within 1e-3, PyTorch's float16/bfloat16 one cancellation noise (0.13 seen, FW_TEST_SEED=2001)
            torch_fn = None
        arrays = [x] + [a for a in (w, b) if a is not None]
        loose = {"bfloat16": dict(atol=3e-2, grad_atol=3e-2), "float16": dict(atol=1e-2, grad_atol=2e-2)}.get(dtype, {})
        if int(np.prod(shape[1:])) == groups and dtype == "float32":
            # one value a group: the exact output and gradient are 0; PyTorch's statistics and formula (dy x less
            # mean dy) leave about 3e-5 there once multiplied by rstd ~ 316, ours (centered sums) 0
            loose = dict(atol=1e-4, grad_atol=1e-4)
        with case(shape=shape, groups=groups):
            out = check_op(fw_fn, np_fn, torch_fn, *arrays, dtype=dtype, rng=rng, noncontiguous=shape == (2, 6, 5),
                           devices=interpreted_cuda_once(i, turn), **loose)
            assert out.grad_fn.name() == "NativeGroupNormBackward0"
            assert len(out.grad_fn.next_functions) == 3


def _params(given, w, b):
    """(weight, bias) from the arrays check_op passed, in the order they were given."""
    given = list(given)
    return (given.pop(0) if w is not None else None), (given.pop(0) if b is not None else None)


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_extreme_and_constant_inputs_follow_torch(device):
    """A constant group has variance 0: rstd is 1/sqrt(eps); large offsets do not cancel the variance away."""
    values = np.concatenate([np.full((1, 2, 3), 7.0), 1e4 + np.arange(6.0).reshape(1, 2, 3)], axis=1)
    for eps in (1e-5, 0.1):
        x = fw.tensor(values, dtype=fw.float32, device=device, requires_grad=True)
        t = torch.tensor(values, dtype=torch.float32, requires_grad=True)
        out, expected = F.group_norm(x, 2, eps=eps), TF.group_norm(t, 2, eps=eps)
        np.testing.assert_allclose(out.detach().cpu().numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-4)
        out.backward(fw.ones_like(out))
        expected.backward(torch.ones_like(expected))
        np.testing.assert_allclose(x.grad.cpu().numpy(), t.grad.numpy(), atol=1e-4)


@requires_torch
def test_module_matches_torch():
    for args, kwargs in [((2, 4), {}), ((1, 6), dict(eps=1e-3, affine=False)), ((3, 6), dict(bias=False))]:
        ours, theirs = nn.GroupNorm(*args, **kwargs), torch.nn.GroupNorm(*args, **kwargs)
        assert torch_name(repr(ours)) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for (name, p), (_, t) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_array_equal(p.detach().numpy(), t.detach().numpy(), err_msg=name)
        x = np.random.default_rng(0).standard_normal((2, args[1], 3)).astype(np.float32)
        np.testing.assert_allclose(ours(fw.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)
    raises_like_torch(lambda: nn.GroupNorm(4, 6), lambda: torch.nn.GroupNorm(4, 6),
                      match="num_channels (6) must be divisible by num_groups (4)")


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_mixed_precision_parameters(device):
    """A float32 weight and bias with a bfloat16/float16 input, as PyTorch's CPU kernel takes them."""
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 4, 3)), rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    for dtype in ("bfloat16", "float16"):
        xt = fw.tensor(x, dtype=getattr(fw, dtype), device=device)
        wt = fw.tensor(w, dtype=fw.float32, device=device, requires_grad=True)
        out = F.group_norm(xt, 2, wt, fw.tensor(b, dtype=fw.float32, device=device))
        expected = TF.group_norm(torch.tensor(x, dtype=getattr(torch, dtype)), 2, torch.tensor(w, dtype=torch.float32),
                                 torch.tensor(b, dtype=torch.float32))
        assert out.dtype.name == dtype
        np.testing.assert_allclose(out.detach().float().cpu().numpy(), expected.float().numpy(), atol=3e-2)
        out.sum().backward()
        assert wt.grad.dtype is fw.float32


@requires_torch
def test_errors_match_torch():
    cases = [((3,), 1, None, None, "Expected at least 2 dimensions for input tensor but received 1"),
             ((2, 6, 4), 4, None, None, "Expected number of channels in input to be divisible by num_groups, but got "
                                        "input of shape [2, 6, 4] and num_groups=4"),
             ((2, 6, 4), 3, (5,), None, "Expected weight to be a vector of size equal to the number of channels in "
                                        "input, but got weight of shape [5] and input of shape [2, 6, 4]"),
             ((1, 3, 1), 3, None, None, "Expected more than 1 value per channel when training, got input size "
                                        "[1, 3, 1]"),
             ((2, 6, 4), 0, None, None, "integer division or modulo by zero")]
    for shape, groups, w_shape, _, message in cases:
        weight = (lambda lib: lib.ones(w_shape)) if w_shape else (lambda lib: None)
        text = raises_like_torch(lambda: F.group_norm(fw.ones(shape), groups, weight(fw)),
                                 lambda: TF.group_norm(torch.ones(shape), groups, weight(torch)))
        assert message in text
    raises_like_torch(lambda: F.group_norm(fw.ones(2, 6, 4), 3, None, fw.ones(2, 3)),
                      lambda: TF.group_norm(torch.ones(2, 6, 4), 3, None, torch.ones(2, 3)),
                      match="Expected bias to be a vector of size equal to the number of channels")
    raises_like_torch(lambda: F.group_norm(fw.ones(2, 6, 4), 3, fw.ones(6, dtype=fw.float64)),
                      lambda: TF.group_norm(torch.ones(2, 6, 4), 3, torch.ones(6, dtype=torch.float64)),
                      match="mixed dtype (CPU): expect parameter to have scalar type of Float")
    raises_like_torch(lambda: F.group_norm(fw.ones(2, 6, 4, dtype=fw.float64), 3, fw.ones(6)),
                      lambda: TF.group_norm(torch.ones(2, 6, 4, dtype=torch.float64), 3, torch.ones(6)),
                      match="mixed dtype (CPU): all inputs must share same datatype.")
    raises_like_torch(lambda: F.group_norm(fw.ones(2, 6, dtype=fw.int64), 3),
                      lambda: TF.group_norm(torch.ones(2, 6, dtype=torch.int64), 3),
                      match="\"GroupNormKernelImpl\" not implemented for 'Long'")
