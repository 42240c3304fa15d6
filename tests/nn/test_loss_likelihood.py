"""KL divergence, Poisson and Gaussian NLL, soft margin and multi-label soft margin losses: values and
gradients against float64 numpy and PyTorch on every device and float dtype, every reduction, node names,
PyTorch's warnings and errors, and the modules."""
import itertools
import math
import warnings

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (DEVICES, FLOAT_NAMES, assert_close, case, check_op, interpreted_cuda_once, make_torch,
                     random_array, raises_like_torch, requires_torch, torch, torch_name)

TF = torch.nn.functional if torch is not None else None
REDUCTIONS = ("mean", "sum", "none")
SHAPES = [(4, 5), (3,), (2, 3, 4), (1, 1)]


def cases(dtype, *axes):
    """(devices, case) over the product of `axes`: every case on the cpu, one of them (a different one for each
    dtype) on the interpreter's cuda too."""
    product = list(itertools.product(*axes))
    turn = (FLOAT_NAMES.index(dtype) * 7 + 3) % len(product)
    return [(interpreted_cuda_once(i, turn), c) for i, c in enumerate(product)]


def reduce(loss, reduction):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def both(name, **kwargs):
    """framework's and torch's F.<name>, keyword arguments given as numpy moved to the inputs' device."""
    def fw_fn(*args):
        converted = {k: fw.tensor(v, device=args[0].device) if isinstance(v, np.ndarray) else v
                     for k, v in kwargs.items()}
        return getattr(F, name)(*args, **converted)
    torch_fn = TF and (lambda *args: getattr(TF, name)(*args, **{k: make_torch(v) if isinstance(v, np.ndarray)
                                                                  else v for k, v in kwargs.items()}))
    return fw_fn, torch_fn


def tolerance(dtype):
    """These losses are composed of several ops, each rounding to a float16/bfloat16 result (as PyTorch's
    do); where terms cancel (exp(x) - t x) the error is that of the terms, not of their difference."""
    if dtype == "bfloat16":
        return dict(atol=5e-2, grad_atol=5e-2)
    return dict(atol=1.5e-2, grad_atol=1.5e-2) if dtype == "float16" else {}


def quiet(fn):
    """`fn` with warnings off (kl_div's reduction='mean' warns on every call)."""
    def call(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args)
    return call


# ---- kl_div ----------------------------------------------------------------------------------------------

def np_kl_div(x, t, reduction, log_target):
    loss = np.exp(t) * (t - x) if log_target else np.where(t.real == 0, 0, t * np.log(t)) - t * x
    if reduction == "batchmean":
        return loss.sum() / x.shape[0] if x.ndim else loss.sum()
    return reduce(loss, reduction)


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_kl_div(rng, dtype, log_target):
    for devices, (reduction, shape) in cases(dtype, REDUCTIONS + ("batchmean",), SHAPES + [()]):
        fw_fn, torch_fn = both("kl_div", reduction=reduction, log_target=log_target)
        x = random_array(rng, shape, dtype, low=-3, high=0)
        t = rng.uniform(0.05, 1.0, shape)
        if log_target:
            t = np.log(t)
        with case(shape=shape, reduction=reduction):
            out = check_op(quiet(fw_fn), lambda a, b: np_kl_div(a, b, reduction, log_target),
                           torch_fn and quiet(torch_fn), x, np.asarray(t), dtype=dtype, rng=rng, devices=devices,
                           **tolerance(dtype))
            if torch is not None:
                expected = quiet(torch_fn)(torch.tensor(x.astype(np.float64), requires_grad=True),
                                           torch.tensor(t)).grad_fn.name()
                assert out.grad_fn.name() == expected


def test_kl_div_zero_targets_contribute_nothing(rng):
    """t log t is 0 where t is 0 (xlogy), so zero probabilities add no loss and their inputs no gradient."""
    x = random_array(rng, (3, 4), "float32", low=-3, high=0)
    t = rng.dirichlet(np.ones(4), size=3).astype(np.float32)
    t[:, 1] = 0
    for device in DEVICES:
        xt = fw.tensor(x, device=device, requires_grad=True)
        loss = F.kl_div(xt, fw.tensor(t, device=device), reduction="sum")
        loss.backward()
        assert_close(loss, np_kl_div(x.astype(np.float64), t.astype(np.float64), "sum", False), "float32")
        np.testing.assert_array_equal(xt.grad.cpu().numpy()[:, 1], 0)
        assert np.isfinite(loss.item())


def test_kl_div_warns_for_mean_as_torch_does():
    x, t = fw.zeros(2, 3), fw.full((2, 3), 1 / 3)
    with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss by both the batch size and "
                                         "the support size."):
        F.kl_div(x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, t, reduction="batchmean")
        F.kl_div(x, t, reduction="sum")


# ---- poisson_nll_loss --------------------------------------------------------------------------------------

def np_poisson(x, t, log_input, full, eps, reduction):
    loss = np.exp(x) - t * x if log_input else x - t * np.log(x + eps)
    if full:
        loss = loss + np.where(t.real <= 1, 0, t * np.log(t) - t + 0.5 * np.log(2 * np.pi * t))
    return reduce(loss, reduction)


@pytest.mark.parametrize("log_input,full", [(True, False), (True, True), (False, False), (False, True)])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_poisson_nll_loss(rng, dtype, log_input, full):
    eps = 1e-8 if dtype != "float16" else 1e-3
    for devices, (reduction, shape) in cases(dtype, REDUCTIONS, SHAPES):
        fw_fn, torch_fn = both("poisson_nll_loss", log_input=log_input, full=full, eps=eps, reduction=reduction)
        x = random_array(rng, shape, dtype, low=-2, high=2) if log_input else random_array(rng, shape, dtype, 0.2, 3)
        t = np.asarray(rng.uniform(0.05, 4.0, shape))
        with case(shape=shape, reduction=reduction):
            out = check_op(fw_fn, lambda a, b: np_poisson(a, b, log_input, full, eps, reduction), torch_fn, x, t,
                           dtype=dtype, rng=rng, devices=devices, **tolerance(dtype))
            if torch is not None:
                expected = torch_fn(torch.tensor(x.astype(np.float64), requires_grad=True), torch.tensor(t))
                assert out.grad_fn.name() == expected.grad_fn.name()


# ---- gaussian_nll_loss -------------------------------------------------------------------------------------

def np_gaussian(x, t, var, full, eps, reduction):
    if not isinstance(var, np.ndarray):
        var = np.full(x.shape, var)
    if var.shape != x.shape and var.shape == x.shape[:-1]:
        var = var[..., None]
    v = var - var.real + np.maximum(var.real, eps)  # clamped value, gradient as if unclamped (PyTorch's no_grad clamp)
    loss = 0.5 * (np.log(v) + (x - t) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return reduce(loss, reduction)


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_gaussian_nll_loss(rng, dtype, full):
    layouts = [((4, 5), (4, 5), 1e-6), ((4, 5), (4,), 1e-6), ((4, 5), (4, 1), 0.3), ((2, 3, 4), (2, 1, 4), 1e-6),
               ((3,), None, 1e-6), ((2, 3), (2, 3), 0.4)]
    for devices, (reduction, (shape, var_shape, eps)) in cases(dtype, REDUCTIONS, layouts):
        fw_fn, torch_fn = both("gaussian_nll_loss", full=full, eps=eps, reduction=reduction)
        # var's gradient sums (x - t)^2 / var^2 terms over the broadcast dims, each rounded to 8 bits in
        # float16/bfloat16 (in PyTorch too); small var and far-apart x, t make them large and the sum cancel
        low_precision = dtype in ("float16", "bfloat16")
        spread, var_low = (1.0, 0.5) if low_precision else (2.0, 0.1)
        x, t = random_array(rng, shape, dtype, -spread, spread), random_array(rng, shape, dtype, -spread, spread)
        var = 0.7 if var_shape is None else random_array(rng, var_shape, dtype, low=var_low, high=2.0)
        with case(shape=shape, var=var_shape, eps=eps, reduction=reduction):
            out = check_op(fw_fn, lambda a, b, v: np_gaussian(a, b, v, full, eps, reduction), torch_fn, x, t, var,
                           dtype=dtype, rng=rng, devices=devices, **tolerance(dtype))
            if torch is not None and var_shape is not None:
                args = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, t, var)]
                assert out.grad_fn.name() == torch_fn(*args).grad_fn.name()


@requires_torch
def test_gaussian_nll_loss_errors_match_torch():
    x = np.ones((4, 5), np.float32)
    cases = [(np.ones((3, 5), np.float32), {}, "var is of incorrect size"),
             (np.ones((4, 2), np.float32), {}, "var is of incorrect size"),
             (-np.ones((4, 5), np.float32), {}, "var has negative entry/entries"),
             (-1.0, {}, "var has negative entry/entries"),
             (np.ones((4, 5), np.float32), {"reduction": "avg"}, "avg is not valid")]
    for var, kwargs, message in cases:
        fw_var = fw.tensor(var) if isinstance(var, np.ndarray) else var
        t_var = torch.tensor(var) if isinstance(var, np.ndarray) else var
        text = raises_like_torch(lambda: F.gaussian_nll_loss(fw.tensor(x), fw.tensor(x), fw_var, **kwargs),
                                 lambda: TF.gaussian_nll_loss(torch.tensor(x), torch.tensor(x), t_var, **kwargs))
        assert message in text


# ---- soft margins ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_soft_margin_loss(rng, dtype):
    """PyTorch refuses a target that requires grad: the +-1 targets are constants here."""
    for devices, (reduction, shape) in cases(dtype, REDUCTIONS, SHAPES + [(0, 3)]):
        x = random_array(rng, shape, dtype, low=-3, high=3)
        y = rng.choice([-1.0, 1.0], size=shape)
        fw_fn = lambda a: F.soft_margin_loss(a, fw.tensor(y, dtype=a.dtype, device=a.device),  # noqa: E731
                                             reduction=reduction)
        torch_fn = TF and (lambda a: TF.soft_margin_loss(a, torch.tensor(y, dtype=a.dtype), reduction=reduction))
        with case(shape=shape, reduction=reduction):
            out = check_op(fw_fn, lambda a: reduce(np.log1p(np.exp(-a * y)), reduction), torch_fn, x, dtype=dtype,
                           rng=rng, devices=devices, **tolerance(dtype))
            assert out.grad_fn.name() == "SoftMarginLossBackward0"


@requires_torch
def test_soft_margin_loss_refuses_a_target_that_requires_grad():
    x = np.ones(3, np.float32)
    raises_like_torch(lambda: F.soft_margin_loss(fw.tensor(x), fw.tensor(x, requires_grad=True)),
                      lambda: TF.soft_margin_loss(torch.tensor(x), torch.tensor(x, requires_grad=True)),
                      match="The function 'soft_margin_loss' is not differentiable with respect to argument 'target'")


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_multilabel_soft_margin_loss(rng, dtype, weighted):
    for devices, (reduction, shape) in cases(dtype, REDUCTIONS, [(4, 5), (5,), (2, 3, 4), (1, 1)]):
        weight = random_array(rng, shape[-1:], dtype, low=0.2, high=2.0) if weighted else None
        fw_fn, torch_fn = both("multilabel_soft_margin_loss", reduction=reduction,
                               **({"weight": weight} if weighted else {}))
        x = random_array(rng, shape, dtype, low=-3, high=3)
        y = (rng.random(shape) < 0.5).astype(np.float64)

        def reference(a, b):
            loss = b * np.log1p(np.exp(-a)) + (1 - b) * np.log1p(np.exp(a))
            if weighted:
                loss = loss * weight.astype(np.float64)
            return reduce(loss.sum(axis=-1) / shape[-1], reduction)
        with case(shape=shape, reduction=reduction):
            check_op(fw_fn, reference, torch_fn, x, y, dtype=dtype, rng=rng, devices=devices, **tolerance(dtype))


# ---- node names, errors, modules ---------------------------------------------------------------------------

@requires_torch
def test_errors_match_torch():
    x = np.ones((2, 3), np.float32)
    for name in ("kl_div", "poisson_nll_loss", "soft_margin_loss", "multilabel_soft_margin_loss"):
        text = raises_like_torch(lambda: getattr(F, name)(fw.tensor(x), fw.tensor(x), reduction="avg"),
                                 lambda: getattr(TF, name)(torch.tensor(x), torch.tensor(x), reduction="avg"))
        assert "avg is not" in text, name


def _modules(lib):
    n = lib.nn
    w = lib.tensor([1.0, 2.0, 3.0])
    return [n.KLDivLoss(), n.KLDivLoss(reduction="batchmean", log_target=True), n.PoissonNLLLoss(),
            n.PoissonNLLLoss(log_input=False, full=True, eps=1e-4, reduction="sum"), n.GaussianNLLLoss(),
            n.GaussianNLLLoss(full=True, eps=1e-3, reduction="none"), n.SoftMarginLoss(reduction="sum"),
            n.MultiLabelSoftMarginLoss(), n.MultiLabelSoftMarginLoss(weight=w)]


@requires_torch
def test_module_reprs_state_and_attributes_match_torch():
    for ours, theirs in zip(_modules(fw), _modules(torch)):
        assert torch_name(repr(ours)) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for name in ("reduction", "log_target", "log_input", "full", "eps"):
            assert getattr(ours, name, None) == getattr(theirs, name, None), name


def test_modules_call_their_functions(rng):
    x = fw.tensor(random_array(rng, (4, 3), "float32"))
    t = fw.tensor(rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32))
    var = fw.tensor(rng.uniform(0.5, 2.0, (4, 3)).astype(np.float32))
    w = fw.tensor([1.0, 2.0, 3.0])
    pairs = [
        (nn.KLDivLoss(reduction="batchmean")(x, t), F.kl_div(x, t, reduction="batchmean")),
        (nn.KLDivLoss(reduction="sum", log_target=True)(x, x), F.kl_div(x, x, reduction="sum", log_target=True)),
        (nn.PoissonNLLLoss(full=True)(x, t * 3), F.poisson_nll_loss(x, t * 3, full=True)),
        (nn.GaussianNLLLoss(full=True)(x, t, var), F.gaussian_nll_loss(x, t, var, full=True)),
        (nn.SoftMarginLoss()(x, t), F.soft_margin_loss(x, t)),
        (nn.MultiLabelSoftMarginLoss(w, reduction="none")(x, t),
         F.multilabel_soft_margin_loss(x, t, w, reduction="none")),
    ]
    for i, (a, b) in enumerate(pairs):
        assert_close(a, b, "float32", what=f"module {i}")


def test_legacy_reduction_arguments():
    x, t = fw.zeros(2, 3), fw.full((2, 3), 0.5)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        loss = F.kl_div(x, t, size_average=False)
    assert_close(loss, 6 * 0.5 * math.log(0.5), "float32")
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert nn.PoissonNLLLoss(reduce=False).reduction == "none"
