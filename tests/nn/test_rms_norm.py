"""RMSNorm and F.rms_norm (one kernel pair) against float64 numpy and PyTorch: values and gradients on every
device and float dtype, normalized shapes of one and several dims, rows of any length, empty batches, strided
inputs, with and without a weight, eps=None, weights of another dtype; PyTorch's nodes (its CPU composes the op:
MulBackward0, ToCopyBackward0 for float16/bfloat16; its cuda kernel is FusedRmsNormBackward0), module and errors."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (DEVICES, FLOAT_NAMES, case, check_op, random_array, raises_like_torch, requires_torch, torch,
                     torch_name)

TF = torch.nn.functional if torch is not None else None
# PyTorch warns (once a process) when the weight's dtype differs from the input's
pytestmark = pytest.mark.filterwarnings("ignore:Mismatch dtype between input and weight:UserWarning")


def np_rms_norm(x, normalized_shape, weight=None, eps=None):
    eps = np.finfo(np.float32).eps if eps is None else eps
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    out = x * (np.mean(x * x, axis=axes, keepdims=True) + eps) ** -0.5
    return out if weight is None else out * weight


CASES = [((4, 6), (6,)), ((2, 3, 5), (5,)), ((2, 3, 5), (3, 5)), ((7,), (7,)), ((3, 1), (1,)), ((0, 4), (4,)),
         ((2, 1, 37), (1, 37))]


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("with_weight", [False, True], ids=["no-weight", "weight"])
def test_rms_norm(rng, dtype, with_weight):
    for shape, normalized in CASES:
        x = random_array(rng, shape, dtype, low=-3, high=3, away_from_zero=0.2)
        params = [random_array(rng, normalized, dtype, low=0.5, high=1.5)] if with_weight else []
        # PyTorch's weight gradient over no rows is nan (a sum of nothing times nan); ours is 0
        torch_fn = None if 0 in shape or TF is None else (
            lambda a, *p: TF.rms_norm(a, list(normalized), *p, eps=1e-3))
        loose = {"bfloat16": dict(grad_atol=2e-2), "float16": dict(grad_atol=2e-2)}.get(dtype, {})
        with case(shape=shape, normalized=normalized):
            out = check_op(lambda a, *p: F.rms_norm(a, normalized, *p, eps=1e-3),
                           lambda a, *p: np_rms_norm(a, normalized, *p, eps=1e-3), torch_fn, x, *params,
                           dtype=dtype, rng=rng, noncontiguous=shape == (2, 3, 5), **loose)
            assert len(out.grad_fn.next_functions) == 2


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_default_eps_follows_torch(device, dtype):
    """eps=None: the machine epsilon of the computation's dtype (float32 for float16/bfloat16, as PyTorch's kernel
    takes it, not the input dtype's): it decides the result for rows of tiny values."""
    values = np.array([[1e-4, -2e-4, 3e-4, 5e-5], [0.0, 0.0, 0.0, 0.0], [1.0, 2.0, -1.0, 0.5]])
    ours = F.rms_norm(fw.tensor(values, dtype=getattr(fw, dtype), device=device), (4,))
    theirs = TF.rms_norm(torch.tensor(values, dtype=getattr(torch, dtype)), (4,))
    np.testing.assert_allclose(ours.float().cpu().numpy(), theirs.float().numpy(), rtol=1e-2 if "16" in dtype
                               else 1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_rows_longer_than_a_tile_and_many_rows(rng, device):
    for shape in ((2, 70000), (300, 3)):
        x = random_array(rng, shape, "float32", low=-3, high=3)
        w = random_array(rng, shape[-1:], "float32")
        xt, wt = (fw.tensor(a, device=device, requires_grad=True) for a in (x, w))
        out = F.rms_norm(xt, shape[-1:], wt, 1e-5)
        g = random_array(rng, shape, "float32")
        out.backward(fw.tensor(g, device=device))
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        rstd = 1 / np.sqrt((x64 * x64).mean(1, keepdims=True) + 1e-5)
        xhat = x64 * rstd
        wdy = g64 * w
        dx = rstd * (wdy - xhat * (wdy * xhat).mean(1, keepdims=True))
        for got, want in ((out, xhat * w), (xt.grad, dx), (wt.grad, (g64 * xhat).sum(0))):
            np.testing.assert_allclose(got.detach().cpu().numpy(), want, rtol=1e-4, atol=1e-4 * max(1, np.abs(want).max()))


@pytest.mark.parametrize("device", DEVICES)
def test_empty_rows_and_empty_batches(device):
    x = fw.ones(2, 0, device=device, requires_grad=True)
    out = F.rms_norm(x, (0,), fw.ones(0, device=device))
    assert out.shape == (2, 0)
    w = fw.ones(3, device=device, requires_grad=True)
    F.rms_norm(fw.ones(0, 3, device=device), (3,), w).sum().backward()
    assert w.grad.tolist() == [0.0, 0.0, 0.0]


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_node_names_follow_torch(device):
    """PyTorch's CPU records the composition (the multiplication last, or the cast back for float16/bfloat16); its
    cuda runs _fused_rms_norm when the dtypes agree. Ours is one node named as PyTorch's last one."""
    for dtype, w_dtype in (("float32", "float32"), ("bfloat16", "bfloat16"), ("float64", None),
                           ("bfloat16", "float32")):
        x = fw.ones(2, 3, dtype=getattr(fw, dtype), device=device, requires_grad=True)
        w = None if w_dtype is None else fw.ones(3, dtype=getattr(fw, w_dtype), device=device, requires_grad=True)
        ours = F.rms_norm(x, (3,), w).grad_fn.name()
        tx = torch.ones(2, 3, dtype=getattr(torch, dtype), requires_grad=True)
        tw = None if w_dtype is None else torch.ones(3, dtype=getattr(torch, w_dtype), requires_grad=True)
        fused = device == "cuda" and (w_dtype is None or w_dtype == dtype)
        theirs = "FusedRmsNormBackward0" if fused else TF.rms_norm(tx, (3,), tw).grad_fn.name()
        assert ours == theirs, (dtype, w_dtype)


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_weights_of_another_dtype(rng, device):
    """The weight may have any dtype (PyTorch composes the op then): the output has the input's dtype, each
    gradient its tensor's; integer weights are cast."""
    x, w, g = rng.standard_normal((4, 6)), rng.uniform(0.5, 1.5, 6), rng.standard_normal((4, 6))
    for x_dtype, w_dtype in (("bfloat16", "float32"), ("float32", "bfloat16"), ("float16", "bfloat16"),
                             ("float64", "float32"), ("float32", "float64")):
        xt = fw.tensor(x, dtype=getattr(fw, x_dtype), device=device, requires_grad=True)
        wt = fw.tensor(w, dtype=getattr(fw, w_dtype), device=device, requires_grad=True)
        tx = torch.tensor(x, dtype=getattr(torch, x_dtype), requires_grad=True)
        tw = torch.tensor(w, dtype=getattr(torch, w_dtype), requires_grad=True)
        out = F.rms_norm(xt, (6,), wt)
        expected = TF.rms_norm(tx, (6,), tw)
        assert out.dtype.name == x_dtype
        tol = 3e-2 if "16" in x_dtype + w_dtype else 1e-5
        np.testing.assert_allclose(out.detach().double().cpu().numpy(), expected.double().detach().numpy(),
                                   rtol=tol, atol=tol)
        out.backward(fw.tensor(g, dtype=getattr(fw, x_dtype), device=device))
        expected.backward(torch.tensor(g, dtype=getattr(torch, x_dtype)))
        assert xt.grad.dtype.name == x_dtype and wt.grad.dtype.name == w_dtype
        for ours, theirs in ((xt.grad, tx.grad), (wt.grad, tw.grad)):
            np.testing.assert_allclose(ours.double().cpu().numpy(), theirs.double().numpy(), rtol=tol, atol=2 * tol)
    ints = F.rms_norm(fw.tensor(x, dtype=fw.float32, device=device), (6,), fw.tensor([1, 2, 3, 1, 2, 3], device=device))
    expected = TF.rms_norm(torch.tensor(x, dtype=torch.float32), (6,), torch.tensor([1, 2, 3, 1, 2, 3]))
    np.testing.assert_allclose(ints.cpu().numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


@requires_torch
def test_module_matches_torch(rng):
    for args, kwargs in [((5,), {}), (([5, 4],), {"eps": 1e-3}), ((3,), {"elementwise_affine": False}),
                         ((4,), {"eps": 0.5, "dtype": "float64"})]:
        kwargs_fw = {k: getattr(fw, v) if k == "dtype" else v for k, v in kwargs.items()}
        kwargs_torch = {k: getattr(torch, v) if k == "dtype" else v for k, v in kwargs.items()}
        ours, theirs = nn.RMSNorm(*args, **kwargs_fw), torch.nn.RMSNorm(*args, **kwargs_torch)
        assert torch_name(repr(ours)) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert (ours.normalized_shape, ours.eps) == (theirs.normalized_shape, theirs.eps)
        for (name, p), (_, t) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert p.dtype.name == str(t.dtype).split(".")[1]
            np.testing.assert_array_equal(p.detach().numpy(), t.detach().numpy(), err_msg=name)
        x = rng.standard_normal((2,) + tuple(ours.normalized_shape))
        np.testing.assert_allclose(ours(fw.tensor(x, dtype=fw.float32)).detach().numpy(),
                                   theirs.float()(torch.tensor(x, dtype=torch.float32)).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)


@requires_torch
def test_errors_match_torch():
    def rms(lib, shape, normalized, w=None, dtype="float32"):
        x = lib.ones(shape, dtype=getattr(lib, dtype))
        return lib.nn.functional.rms_norm(x, normalized, None if w is None else lib.ones(w))
    cases = [
        (((3, 5), (4,)), "Given normalized_shape=[4], expected input with shape [*4], but got input of size[3, 5]"),
        (((3, 5), (2, 5)), "expected input with shape [*2, 5], but got input of size[3, 5]"),
        (((3, 5), (3, 3, 5)), "Input tensor must have at least 3 dimensions, but got 2"),
        (((3, 5), ()), "Expected normalized_shape to be at least 1-dimensional"),
        (((3, 5), (5,), (4,)), "Expected weight to be of same shape as normalized_shape, but got weight of shape [4] "
                               "and normalized_shape = [5]"),
        (((3, 5), 5), "rms_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not int"),
        (((3, 5), (5,), None, "int64"), "\"rms_norm\" not implemented for 'Long'"),
    ]
    for args, message in cases:
        text = raises_like_torch(lambda: rms(fw, *args), lambda: rms(torch, *args))
        assert message in text, (args, text)
