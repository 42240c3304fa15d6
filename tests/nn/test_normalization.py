"""LayerNorm and F.layer_norm (one kernel pair, PyTorch's NativeLayerNormBackward0) against float64 numpy and
PyTorch: values and gradients (input, weight, bias) on every device and float dtype, normalized shapes of one and
several dims, rows of any length (1, not a power of two), empty batches, strided inputs, each affine switch,
float32 parameters of float16/bfloat16 inputs; PyTorch's module, node and errors."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (DEVICES, FLOAT_NAMES, case, check_op, random_array, raises_like_torch, requires_torch, torch,
                     torch_name)

TF = torch.nn.functional if torch is not None else None


def np_layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    centered = x - x.mean(axis=axes, keepdims=True)
    out = centered * (np.mean(centered * centered, axis=axes, keepdims=True) + eps) ** -0.5
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


# (input shape, normalized_shape): one and several dims, lengths 1 and not powers of two, an empty batch
CASES = [((4, 6), (6,)), ((2, 3, 5), (5,)), ((2, 3, 5), (3, 5)), ((7,), (7,)), ((3, 1), (1,)), ((0, 4), (4,)),
         ((2, 1, 37), (1, 37)), ((3, 2, 2, 3), (2, 2, 3))]
AFFINE = {"none": (False, False), "weight": (True, False), "bias": (False, True), "both": (True, True)}


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("affine", list(AFFINE))
def test_layer_norm(rng, dtype, affine):
    has_weight, has_bias = AFFINE[affine]
    for shape, normalized in CASES:
        x = random_array(rng, shape, dtype, low=-3, high=3)
        w = random_array(rng, normalized, dtype, low=0.5, high=1.5) if has_weight else None
        b = random_array(rng, normalized, dtype) if has_bias else None
        params = [p for p in (w, b) if p is not None]

        def split(p):
            p = list(p)
            return (p.pop(0) if has_weight else None), (p.pop(0) if has_bias else None)
        # PyTorch's weight gradient over no rows is nan (ours 0, as its bias gradient); with a bias but no weight
        # its backward fails inside its engine. The float64 numpy reference holds those cases.
        torch_fn = None if 0 in shape or affine == "bias" else (
            lambda a, *p: TF.layer_norm(a, list(normalized), *split(p), eps=1e-3))
        loose = {"bfloat16": dict(grad_atol=2e-2), "float16": dict(grad_atol=2e-2)}.get(dtype, {})
        if normalized == (1,):  # one value a row: the exact output is the bias alone, the input's gradient 0
            loose = dict(atol=1e-4, grad_atol=1e-4) if dtype == "float32" else loose
        with case(shape=shape, normalized=normalized):
            out = check_op(lambda a, *p: F.layer_norm(a, normalized, *split(p), eps=1e-3),
                           lambda a, *p: np_layer_norm(a, normalized, *split(p), eps=1e-3),
                           torch_fn if TF is not None else None, x, *params, dtype=dtype, rng=rng,
                           noncontiguous=shape == (2, 3, 5), **loose)
            assert out.grad_fn.name() == "NativeLayerNormBackward0"
            assert len(out.grad_fn.next_functions) == 3


@pytest.mark.parametrize("device", DEVICES)
def test_rows_longer_than_a_tile_and_many_rows(rng, device):
    """A row of 70000 (wider than the interpreter's 65536-element tile: the column-block kernels) and 300 short rows
    (packed, several row blocks)."""
    for shape in ((2, 70000), (300, 3)):
        x = random_array(rng, shape, "float32", low=-3, high=3)
        w, b = random_array(rng, shape[-1:], "float32"), random_array(rng, shape[-1:], "float32")
        xt, wt, bt = (fw.tensor(a, device=device, requires_grad=True) for a in (x, w, b))
        out = F.layer_norm(xt, shape[-1:], wt, bt)
        g = random_array(rng, shape, "float32")
        out.backward(fw.tensor(g, device=device))
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        mean = x64.mean(1, keepdims=True)
        rstd = 1 / np.sqrt(((x64 - mean) ** 2).mean(1, keepdims=True) + 1e-5)
        xhat = (x64 - mean) * rstd
        wdy = g64 * w
        dx = rstd * (wdy - wdy.mean(1, keepdims=True) - xhat * (wdy * xhat).mean(1, keepdims=True))
        for got, want in ((out, xhat * w + b), (xt.grad, dx), (wt.grad, (g64 * xhat).sum(0)), (bt.grad, g64.sum(0))):
            np.testing.assert_allclose(got.detach().cpu().numpy(), want, rtol=1e-4, atol=1e-4 * max(1, np.abs(want).max()))


@pytest.mark.parametrize("device", DEVICES)
def test_empty_rows_and_empty_batches(device):
    """normalized_shape with a 0: nothing to normalize; no rows: the parameters' gradients are zeros."""
    x = fw.ones(3, 0, device=device, requires_grad=True)
    w = fw.ones(0, device=device, requires_grad=True)
    out = F.layer_norm(x, (0,), w)
    assert out.shape == (3, 0)
    out.sum().backward()
    assert x.grad.shape == (3, 0) and w.grad.shape == (0,)
    x = fw.ones(0, 3, device=device)
    w, b = fw.ones(3, device=device, requires_grad=True), fw.ones(3, device=device, requires_grad=True)
    F.layer_norm(x, (3,), w, b).sum().backward()
    assert w.grad.tolist() == [0.0, 0.0, 0.0] and b.grad.tolist() == [0.0, 0.0, 0.0]


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_extreme_and_constant_rows_follow_torch(device):
    """A constant row has variance 0 (rstd = 1/sqrt(eps)); a large offset does not cancel the variance away."""
    values = np.stack([np.full(6, 7.0), 1e4 + np.arange(6.0)])
    for eps in (1e-5, 0.1):
        x = fw.tensor(values, dtype=fw.float32, device=device, requires_grad=True)
        t = torch.tensor(values, dtype=torch.float32, requires_grad=True)
        out, expected = F.layer_norm(x, (6,), eps=eps), TF.layer_norm(t, (6,), eps=eps)
        np.testing.assert_allclose(out.detach().cpu().numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-4)
        out.backward(fw.ones_like(out))
        expected.backward(torch.ones_like(expected))
        np.testing.assert_allclose(x.grad.cpu().numpy(), t.grad.numpy(), atol=1e-4)


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_float32_parameters_of_low_precision_inputs(rng, device):
    """PyTorch's mixed precision: a float16/bfloat16 input with float32 weight and bias; the output in the input's
    dtype, the parameters' gradients in float32 (summed in float32, not rounded through the input's dtype)."""
    x, w, b = rng.standard_normal((5, 4, 6)), rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    g = rng.standard_normal((5, 4, 6))
    for dtype in ("bfloat16", "float16"):
        xt = fw.tensor(x, dtype=getattr(fw, dtype), device=device, requires_grad=True)
        wt, bt = (fw.tensor(a, dtype=fw.float32, device=device, requires_grad=True) for a in (w, b))
        out = F.layer_norm(xt, (6,), wt, bt)
        tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
        tw, tb = (torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (w, b))
        expected = TF.layer_norm(tx, (6,), tw, tb)
        assert out.dtype.name == dtype
        np.testing.assert_allclose(out.detach().float().cpu().numpy(), expected.float().detach().numpy(), atol=3e-2)
        out.backward(fw.tensor(g, dtype=getattr(fw, dtype), device=device))
        expected.backward(torch.tensor(g, dtype=getattr(torch, dtype)))
        assert wt.grad.dtype is fw.float32 and bt.grad.dtype is fw.float32 and xt.grad.dtype.name == dtype
        for ours, theirs in ((xt.grad, tx.grad), (wt.grad, tw.grad), (bt.grad, tb.grad)):
            np.testing.assert_allclose(ours.float().cpu().numpy(), theirs.float().numpy(), rtol=2e-2, atol=5e-2)


def test_layer_norm_module(rng):
    ln = nn.LayerNorm([3, 4])
    assert ln.normalized_shape == (3, 4) and ln.weight.shape == (3, 4)
    assert ln.weight.detach().numpy().all() and not ln.bias.detach().numpy().any()
    x = random_array(rng, (2, 3, 4), "float32")
    np.testing.assert_allclose(ln(fw.tensor(x)).detach().numpy(), np_layer_norm(x.astype(np.float64), (3, 4)),
                               rtol=1e-5, atol=1e-5)
    assert list(dict(nn.LayerNorm(4).named_parameters())) == ["weight", "bias"]
    assert list(dict(nn.LayerNorm(4, bias=False).named_parameters())) == ["weight"]
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    assert nn.LayerNorm(4, dtype=fw.float64).weight.dtype is fw.float64


@requires_torch
def test_layer_norm_module_matches_torch(rng):
    for args, kwargs in [((5,), {}), (([5, 4],), {"eps": 1e-3}), ((3,), {"elementwise_affine": False}),
                         ((3,), {"bias": False}), ((3,), {"elementwise_affine": False, "bias": False})]:
        ours, theirs = nn.LayerNorm(*args, **kwargs), torch.nn.LayerNorm(*args, **kwargs)
        assert torch_name(repr(ours)) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for (name, p), (_, t) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_array_equal(p.detach().numpy(), t.detach().numpy(), err_msg=name)
        shape = (2,) + tuple(ours.normalized_shape)
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(ours(fw.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)


@requires_torch
def test_errors_match_torch():
    def ln(lib, shape, normalized, w=None, b=None, dtype="float32", w_dtype=None, b_dtype=None):
        x = lib.ones(shape, dtype=getattr(lib, dtype))
        weight = None if w is None else lib.ones(w, dtype=getattr(lib, w_dtype or dtype))
        bias = None if b is None else lib.ones(b, dtype=getattr(lib, b_dtype or dtype))
        return lib.nn.functional.layer_norm(x, normalized, weight, bias)
    cases = [
        (((3, 5), (4,)), "Given normalized_shape=[4], expected input with shape [*, 4], but got input of size[3, 5]"),
        (((3, 5), (2, 5)), "Given normalized_shape=[2, 5], expected input with shape [*, 2, 5], but got input of "
                           "size[3, 5]"),
        (((5,), (3, 5)), "expected input with shape [*, 3, 5], but got input of size[5]"),
        (((3, 5), ()), "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, "
                       "but got normalized_shape = []"),
        (((3, 5), (5,), (4,)), "Expected weight to be of same shape as normalized_shape, but got weight of shape [4] "
                               "and normalized_shape = [5]"),
        (((3, 5), (5,), None, (2, 5)), "Expected bias to be of same shape as normalized_shape, but got bias of shape "
                                       "[2, 5] and normalized_shape = [5]"),
        (((3, 5), 5), "layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not int"),
        (((3, 5), [5.0]), "must be tuple of ints, but found element of type float at pos 0"),
        (((3, 5), (5,), None, None, "int32"), "\"LayerNormKernelImpl\" not implemented for 'Int'"),
        (((3, 5), (5,), (5,), None, "float32", "bfloat16"), "mixed dtype (CPU): expect parameter to have scalar type "
                                                            "of Float"),
        (((3, 5), (5,), (5,), (5,), "bfloat16", "float32", "bfloat16"), "expect parameter to have scalar type of "
                                                                         "Float"),
        (((3, 5), (5,), (5,), None, "float64", "float32"), "mixed dtype (CPU): all inputs must share same datatype."),
        (((3, 5), (5,), (5,), (5,), "float32", "float32", "float64"), "expected scalar type Float but found Double"),
    ]
    for args, message in cases:
        text = raises_like_torch(lambda: ln(fw, *args), lambda: ln(torch, *args))
        assert message in text, (args, text)
