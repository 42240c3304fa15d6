"""Margin and embedding losses (cosine embedding, hinge embedding, margin ranking, triplet margin): values and
gradients against float64 numpy and PyTorch on every device and float dtype, every reduction, node names,
PyTorch's errors, and the modules."""
import itertools

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import (FLOAT_NAMES, assert_close, case, check_op, interpreted_cuda_once, random_array,
                     raises_like_torch, requires_torch, torch, torch_name)

TF = torch.nn.functional if torch is not None else None
REDUCTIONS = ("mean", "sum", "none")
EPSILON = float(np.float32(1e-12))


def reduce(loss, reduction):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def cases(dtype, *axes):
    """(devices, case) over the product of `axes`: all on the cpu, one per dtype on the interpreter's cuda too."""
    product = list(itertools.product(*axes))
    turn = (FLOAT_NAMES.index(dtype) * 5 + 1) % len(product)
    return [(interpreted_cuda_once(i, turn), c) for i, c in enumerate(product)]


def tolerance(dtype):
    """Composed of several ops rounding to float16/bfloat16 each (as PyTorch's are)."""
    return {"bfloat16": dict(atol=3e-2, grad_atol=3e-2), "float16": dict(atol=1e-2, grad_atol=1e-2)}.get(dtype, {})


def clamp_min0(z):
    return np.where(z.real > 0, z, 0)


def check_with_labels(fw_name, reference, arrays, labels, dtype, rng, devices, **kwargs):
    """check_op over the float `arrays`, with the integer or constant `labels` fixed (PyTorch gives them no
    gradient)."""
    def fw_fn(*args):
        return getattr(F, fw_name)(*args, fw.tensor(labels, device=args[0].device), **kwargs)
    torch_fn = TF and (lambda *args: getattr(TF, fw_name)(*args, torch.tensor(labels), **kwargs))
    return check_op(fw_fn, lambda *a: reference(*a, labels), torch_fn, *arrays, dtype=dtype, rng=rng,
                    devices=devices, **tolerance(dtype))


def node_name_matches_torch(out, name, arrays, labels, **kwargs):
    if torch is None:
        return
    args = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    assert out.grad_fn.name() == getattr(TF, name)(*args, torch.tensor(labels), **kwargs).grad_fn.name()


# ---- cosine embedding -----------------------------------------------------------------------------------------

def np_cosine_embedding(x1, x2, y, margin, reduction):
    dim = y.ndim
    cos = (x1 * x2).sum(dim) / np.sqrt(((x1 * x1).sum(dim) + EPSILON) * ((x2 * x2).sum(dim) + EPSILON))
    loss = np.where(y == 1, 1 - cos, 0) + np.where(y == -1, clamp_min0(cos - margin), 0)
    return reduce(loss, reduction)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_cosine_embedding_loss(rng, dtype):
    for devices, (reduction, (shape, margin)) in cases(dtype, REDUCTIONS, [((5, 4), 0.0), ((3, 7), 0.3),
                                                                          ((6,), -0.2), ((1, 3), 0.1)]):
        while True:  # clear of the hinge at cos = margin, which a low-precision rounding could cross
            x1, x2 = random_array(rng, shape, dtype), random_array(rng, shape, dtype)
            a, b = x1.astype(np.float64), x2.astype(np.float64)
            cos = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
            norms = np.minimum(np.sqrt((a * a).sum(-1)), np.sqrt((b * b).sum(-1)))
            if np.all(np.abs(cos - margin) > 0.05) and np.all(norms > 0.5):  # (short vectors: ill-conditioned)
                break
        y = rng.choice([-1, 1], size=shape[:-1])
        kwargs = dict(margin=margin, reduction=reduction)
        with case(shape=shape, **kwargs):
            out = check_with_labels("cosine_embedding_loss",
                                    lambda a, b, t: np_cosine_embedding(a, b, t, margin, reduction), [x1, x2], y,
                                    dtype, rng, devices, **kwargs)
            node_name_matches_torch(out, "cosine_embedding_loss", [x1, x2], y, **kwargs)


# ---- hinge embedding --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_hinge_embedding_loss(rng, dtype):
    for devices, (reduction, (shape, margin)) in cases(dtype, REDUCTIONS, [((4, 5), 1.0), ((7,), 0.5),
                                                                          ((2, 3, 2), 2.0), ((0, 2), 1.0)]):
        x = random_array(rng, shape, dtype, low=-3, high=3)
        x[np.abs(x.astype(np.float64) - margin) < 0.05] = margin + 0.25  # clear of the hinge at x = margin
        y = rng.choice([-1, 1], size=shape)

        def reference(a, t):
            return reduce(np.where(t != 1, clamp_min0(margin - a), 0) + np.where(t != -1, a, 0), reduction)
        kwargs = dict(margin=margin, reduction=reduction)
        with case(shape=shape, **kwargs):
            out = check_with_labels("hinge_embedding_loss", reference, [x], y, dtype, rng, devices, **kwargs)
            node_name_matches_torch(out, "hinge_embedding_loss", [x], y, **kwargs)


# ---- margin ranking -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_margin_ranking_loss(rng, dtype):
    """The +-1 target is a float here, and gets its gradient too."""
    for devices, (reduction, (shape, margin)) in cases(dtype, REDUCTIONS, [((6,), 0.0), ((3, 4), 0.5),
                                                                          ((1,), 0.2), ((), 0.1)]):
        while True:  # clear of the hinge at -y (x1 - x2) + margin = 0
            x1, x2 = random_array(rng, shape, dtype), random_array(rng, shape, dtype)
            y = np.asarray(rng.choice([-1.0, 1.0], size=shape))
            if np.all(np.abs(-y * (x1.astype(np.float64) - x2.astype(np.float64)) + margin) > 0.05):
                break
        fw_fn = lambda a, b, t: F.margin_ranking_loss(a, b, t, margin, reduction=reduction)  # noqa: E731
        torch_fn = TF and (lambda a, b, t: TF.margin_ranking_loss(a, b, t, margin, reduction=reduction))
        with case(shape=shape, margin=margin, reduction=reduction):
            out = check_op(fw_fn, lambda a, b, t: reduce(clamp_min0(-t * (a - b) + margin), reduction), torch_fn,
                           x1, x2, y, dtype=dtype, rng=rng, devices=devices, **tolerance(dtype))
            if torch is not None:
                args = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x1, x2, y)]
                assert out.grad_fn.name() == torch_fn(*args).grad_fn.name()


# ---- triplet margin -------------------------------------------------------------------------------------------------

def np_distance(a, b, p, eps):
    d = a - b + eps
    if p == 2:
        return np.sqrt((d * d).sum(-1))
    return ((d * np.sign(d.real)) ** p).sum(-1) ** (1 / p)


def np_triplet(a, pos, neg, margin, p, eps, swap, reduction):
    d_pos, d_neg = np_distance(a, pos, p, eps), np_distance(a, neg, p, eps)
    if swap:
        d_swap = np_distance(pos, neg, p, eps)
        d_neg = np.where(d_swap.real < d_neg.real, d_swap, d_neg)
    return reduce(clamp_min0(margin + d_pos - d_neg), reduction)


def clear_triplet(rng, shape, dtype, margin, p, swap):
    """Random (anchor, positive, negative) with every decision clear of its tie in float64 (the hinge not at 0,
    swap's min not a tie): a low-precision rounding could otherwise flip it and the gradient with it."""
    while True:
        arrays = [random_array(rng, shape, dtype) for _ in range(3)]
        a, pos, neg = (x.astype(np.float64) for x in arrays)
        d_pos, d_neg = np_distance(a, pos, p, 1e-6), np_distance(a, neg, p, 1e-6)
        d_swap = np_distance(pos, neg, p, 1e-6)
        if swap:
            if np.any(np.abs(d_swap - d_neg) < 0.1):
                continue
            d_neg = np.minimum(d_neg, d_swap)
        if np.all(np.abs(margin + d_pos - d_neg) > 0.1):
            return arrays


def triplet_tolerance(dtype, arrays, p, reduction):
    """Each distance is rounded to float16/bfloat16 (in PyTorch too) and the hinge takes their difference: its
    error is that of the distances (up to ~10 for p=1 over 6 features), half an ulp each, summed over the rows."""
    found = tolerance(dtype)
    if found:
        a, pos, neg = (x.astype(np.float64) for x in arrays)
        rows = np_distance(a, pos, p, 1e-6) + np_distance(a, neg, p, 1e-6)
        total = {"sum": np.sum, "mean": np.mean}.get(reduction, np.max)(rows)
        found = dict(found, atol=max(found["atol"], float(total) * (2.0 ** -8 if dtype == "bfloat16" else 2.0 ** -11)))
    return found


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_triplet_margin_loss(rng, dtype, swap):
    layouts = [((5, 4), 1.0, 2), ((3, 6), 0.5, 1), ((4,), 2.0, 3), ((2, 3, 4), 1.0, 2), ((1, 1), 0.3, 2)]
    for devices, (reduction, (shape, margin, p)) in cases(dtype, REDUCTIONS, layouts):
        arrays = clear_triplet(rng, shape, dtype, margin, p, swap)
        kwargs = dict(margin=margin, p=p, swap=swap, reduction=reduction)
        fw_fn = lambda a, b, c: F.triplet_margin_loss(a, b, c, **kwargs)  # noqa: E731
        torch_fn = TF and (lambda a, b, c: TF.triplet_margin_loss(a, b, c, **kwargs))
        with case(shape=shape, **kwargs):
            out = check_op(fw_fn, lambda a, b, c: np_triplet(a, b, c, margin, p, 1e-6, swap, reduction), torch_fn,
                           *arrays, dtype=dtype, rng=rng, devices=devices,
                           **triplet_tolerance(dtype, arrays, p, reduction))
            if torch is not None:
                args = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
                assert out.grad_fn.name() == torch_fn(*args).grad_fn.name()


# ---- errors and modules ---------------------------------------------------------------------------------------------

@requires_torch
def test_errors_match_torch():
    def pair(fn_name, shapes, *args, **kwargs):
        fw_args = [fw.ones(s) for s in shapes] + list(args)
        t_args = [torch.ones(s) for s in shapes] + list(args)
        return raises_like_torch(lambda: getattr(F, fn_name)(*fw_args, **kwargs),
                                 lambda: getattr(TF, fn_name)(*t_args, **kwargs))
    assert "0D or 1D target tensor expected" in pair("cosine_embedding_loss", [(2, 3), (2, 3), (2, 3)])
    assert "1D target tensor expects 2D input tensors, but found inputs with sizes [3] and [3]." in pair(
        "cosine_embedding_loss", [(3,), (3,), (3,)])
    assert "0D target tensor expects 1D input tensors, but found inputs with sizes [2, 3] and [2, 3]." in pair(
        "cosine_embedding_loss", [(2, 3), (2, 3), ()])
    assert "margin_ranking_loss : All input tensors should have same dimension" in pair(
        "margin_ranking_loss", [(3,), (3,), (3, 1)])
    assert "margin_ranking_loss: all input tensors should have same size but got sizes: input1: [3], input2: [3], " \
           "target: [4]" in pair("margin_ranking_loss", [(3,), (3,), (4,)])
    assert "margin must be greater than 0, got 0" in pair("triplet_margin_loss", [(2, 3)] * 3, margin=0)
    assert "All inputs should have same dimension but got 2D, 2D and 1D inputs." in pair(
        "triplet_margin_loss", [(2, 3), (2, 3), (3,)])
    for name, n_inputs in (("cosine_embedding_loss", 2), ("hinge_embedding_loss", 1), ("margin_ranking_loss", 2),
                           ("triplet_margin_loss", 3)):
        shapes = [(2, 3)] * n_inputs + ([(2,)] if name == "cosine_embedding_loss" else
                                        [(2, 3)] if name != "triplet_margin_loss" else [])
        assert "avg is not a valid value for reduction" in pair(name, shapes, reduction="avg"), name
    raises_like_torch(lambda: nn.TripletMarginLoss(margin=-1.0), lambda: torch.nn.TripletMarginLoss(margin=-1.0),
                      match="TripletMarginLoss: expected margin to be greater than 0, got -1.0 instead")


def _modules(lib):
    n = lib.nn
    return [n.CosineEmbeddingLoss(), n.CosineEmbeddingLoss(0.5, reduction="sum"), n.HingeEmbeddingLoss(),
            n.HingeEmbeddingLoss(2.0), n.MarginRankingLoss(), n.MarginRankingLoss(0.1, reduction="none"),
            n.TripletMarginLoss(), n.TripletMarginLoss(margin=0.5, p=1.0, eps=1e-4, swap=True)]


@requires_torch
def test_module_reprs_state_and_attributes_match_torch():
    for ours, theirs in zip(_modules(fw), _modules(torch)):
        assert torch_name(repr(ours)) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for name in ("reduction", "margin", "p", "eps", "swap"):
            assert getattr(ours, name, None) == getattr(theirs, name, None), name


def test_modules_call_their_functions(rng):
    x1, x2, x3 = (fw.tensor(random_array(rng, (4, 3), "float32")) for _ in range(3))
    y = fw.tensor([1, -1, -1, 1])
    yf = fw.tensor(random_array(rng, (4, 3), "float32")).sign()
    pairs = [
        (nn.CosineEmbeddingLoss(0.2)(x1, x2, y), F.cosine_embedding_loss(x1, x2, y, 0.2)),
        (nn.HingeEmbeddingLoss(0.5, reduction="sum")(x1, yf), F.hinge_embedding_loss(x1, yf, 0.5, reduction="sum")),
        (nn.MarginRankingLoss(0.1)(x1, x2, yf), F.margin_ranking_loss(x1, x2, yf, 0.1)),
        (nn.TripletMarginLoss(0.5, p=1.0, swap=True)(x1, x2, x3), F.triplet_margin_loss(x1, x2, x3, 0.5, 1.0,
                                                                                        swap=True)),
    ]
    for i, (a, b) in enumerate(pairs):
        assert_close(a, b, "float32", what=f"module {i}")
