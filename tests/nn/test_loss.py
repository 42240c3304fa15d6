"""Losses against float64 numpy references and PyTorch: every reduction, class weights, ignore_index,
label smoothing, probability targets, a random (non-uniform) upstream gradient for reduction='none',
inputs that do not require grad, extreme values, and PyTorch's errors."""
import itertools
import warnings

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import assert_close, case, check_op, random_array, raises_like_torch, requires_torch, torch, torch_name

TF = torch.nn.functional if torch is not None else None
REDUCTIONS = ("mean", "sum", "none")


# ---- float64 numpy references (complex-step friendly) ---------------------------------

def _abs(x):
    return x * np.sign(x.real)


def _reduce(loss, reduction, denom=None):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / (loss.size if denom is None else denom)


def _rows(x):
    return x.reshape(1, -1) if x.ndim == 1 else np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _log_softmax_rows(rows):
    shifted = rows - rows.real.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def np_nll(logp_rows, target, weight, ignore_index):
    """Per-row -w[t] logp[t] and the weights w[t] (0 where ignored)."""
    t = target.reshape(-1)
    valid = t != ignore_index
    classes = np.where(valid, t, 0)
    w = np.ones(logp_rows.shape[1]) if weight is None else weight
    w_rows = w[classes] * valid
    return -w_rows * logp_rows[np.arange(t.size), classes], w_rows


def np_cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    logp = _log_softmax_rows(_rows(x))
    n_classes = logp.shape[1]
    w = np.ones(n_classes) if weight is None else weight
    if target.dtype.kind in "fc":  # class probabilities (complex while differentiating)
        probs = _rows(target) * (1 - label_smoothing) + label_smoothing / n_classes
        loss = -(probs * w * logp).sum(axis=1)
        shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
        return _reduce(loss.reshape(shape), reduction)
    nll, w_rows = np_nll(logp, target, weight, ignore_index)
    valid = target.reshape(-1) != ignore_index
    smooth = -(logp * w).sum(axis=1) * valid
    loss = (1 - label_smoothing) * nll + label_smoothing / n_classes * smooth
    return _reduce(loss.reshape(target.shape), reduction, w_rows.sum())


def np_nll_loss(x, target, weight=None, ignore_index=-100, reduction="mean"):
    loss, w_rows = np_nll(_rows(x), target, weight, ignore_index)
    return _reduce(loss.reshape(target.shape), reduction, w_rows.sum())


def np_huber(x, t, delta, scale):
    d = x - t
    size = _abs(d)
    if scale:  # smooth L1 with beta = delta
        return np.where(size.real < delta, 0.5 * d * d / delta, size - 0.5 * delta)
    return np.where(size.real < delta, 0.5 * d * d, delta * (size - 0.5 * delta))


def _both(name, **kwargs):
    """framework's and torch's F.<name> with the keyword arguments (tensors given as numpy) converted."""
    def convert(lib, device="cpu"):
        return {k: lib.tensor(v, device=device) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    fw_fn = lambda *a: getattr(F, name)(*a, **convert(fw, a[0].device))  # noqa: E731  (on the inputs' device)
    torch_fn = TF and (lambda *a: getattr(TF, name)(*a, **convert(torch)))
    return fw_fn, torch_fn


# ---- class-index losses -----------------------------------------------------------------

CE_SHAPES = [((6, 5), (6,)), ((5,), ()), ((3, 4, 2), (3, 2)), ((2, 3, 2, 2), (2, 2, 2)), ((1, 1), (1,))]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,smoothing,ignore", [(False, 0.0, False), (True, 0.0, True), (False, 0.2, True),
                                                         (True, 0.3, False), (True, 0.1, True)])
def test_cross_entropy_class_indices(rng, reduction, weighted, smoothing, ignore):
    for x_shape, t_shape in CE_SHAPES:
        n_classes = x_shape[1] if len(x_shape) > 1 else x_shape[0]
        x = random_array(rng, x_shape, "float64", low=-3, high=3)
        target = rng.integers(0, n_classes, size=t_shape)
        if ignore and target.size > 1:
            target.reshape(-1)[0] = 2 if n_classes > 2 else 0  # the ignored class, also seen as a real target
        if ignore and (target == 2).all():
            target[...] = 0  # all ignored: covered by test_everything_ignored
        kwargs = dict(reduction=reduction, label_smoothing=smoothing, ignore_index=2 if ignore else -100)
        if weighted:
            kwargs["weight"] = rng.uniform(0.2, 2.0, n_classes)
        fw_fn, torch_fn = _both("cross_entropy", **kwargs)
        with case(shape=x_shape, **kwargs):
            out = check_op(fw_fn, lambda a, t: np_cross_entropy(a, t, **kwargs), torch_fn, x, target, rng=rng)
            if torch is not None:
                expected = torch_fn(torch.tensor(x, requires_grad=True), torch.tensor(target)).grad_fn.name()
                assert out.grad_fn.name() == expected


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted,smoothing", [(False, 0.0), (True, 0.0), (False, 0.25), (True, 0.1)])
def test_cross_entropy_probability_targets(rng, reduction, weighted, smoothing):
    for x_shape in [(4, 5), (5,), (2, 3, 4)]:
        n_classes = x_shape[1] if len(x_shape) > 1 else x_shape[0]
        x = random_array(rng, x_shape, "float64", low=-3, high=3)
        probs = rng.random(x_shape)
        probs /= probs.sum(axis=1 if len(x_shape) > 1 else 0, keepdims=True)
        kwargs = dict(reduction=reduction, label_smoothing=smoothing)
        if weighted:
            kwargs["weight"] = rng.uniform(0.2, 2.0, n_classes)
        fw_fn, torch_fn = _both("cross_entropy", **kwargs)
        with case(shape=x_shape, **kwargs):  # the target's gradient is checked too
            check_op(fw_fn, lambda a, t: np_cross_entropy(a, t, **kwargs), torch_fn, x, probs, rng=rng)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(rng, reduction):
    for (x_shape, t_shape), weighted in itertools.product(CE_SHAPES[:4], (False, True)):
        n_classes = x_shape[1] if len(x_shape) > 1 else x_shape[0]
        x = np.log(rng.dirichlet(np.ones(n_classes), size=int(np.prod(t_shape))))
        x = np.moveaxis(x.reshape(t_shape + (n_classes,)), -1, 1 if len(x_shape) > 1 else 0)
        target = rng.integers(0, n_classes, size=t_shape)
        if (target == 1).all():
            target[...] = 0  # all ignored: covered by test_everything_ignored
        kwargs = dict(reduction=reduction, ignore_index=1)
        if weighted:
            kwargs["weight"] = rng.uniform(0.2, 2.0, n_classes)
        fw_fn, torch_fn = _both("nll_loss", **kwargs)
        with case(shape=x_shape, **kwargs):
            check_op(fw_fn, lambda a, t: np_nll_loss(a, t, **kwargs), torch_fn, np.ascontiguousarray(x), target,
                     rng=rng)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_cross_entropy_low_precision(rng, dtype):
    x = random_array(rng, (7, 11), dtype, low=-4, high=4)
    target = rng.integers(0, 11, size=7)
    fw_fn, torch_fn = _both("cross_entropy", label_smoothing=0.1)
    out = check_op(fw_fn, lambda a, t: np_cross_entropy(a, t, label_smoothing=0.1), torch_fn, x, target,
                   dtype=dtype, rng=rng)
    assert out.dtype is getattr(fw, dtype)


def test_cross_entropy_extremes_and_edge_cases():
    x = fw.tensor([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 5.0]], requires_grad=True)
    loss = F.cross_entropy(x, fw.tensor([1, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and abs(loss.item() - 1000.0) < 1e-3
    assert np.isfinite(x.grad.numpy()).all()
    empty = F.cross_entropy(fw.zeros(0, 3), fw.zeros(0, dtype=fw.int64), reduction="none")
    assert empty.shape == (0,)
    no_grad_input = F.cross_entropy(fw.ones(2, 3), fw.tensor([0, 2]))
    assert not no_grad_input.requires_grad and no_grad_input.grad_fn is None


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_everything_ignored(weighted, smoothing):
    """The mean divides 0 by 0: the loss is nan and the gradient exactly 0, as in PyTorch."""
    weight = fw.ones(3) if weighted else None
    for fn in (lambda x, t, r: F.cross_entropy(x, t, weight, reduction=r, label_smoothing=smoothing),
               lambda x, t, r: F.nll_loss(x, t, weight, reduction=r)):
        x = fw.ones(2, 3, requires_grad=True)
        loss = fn(x, fw.tensor([-100, -100]), "mean")
        assert np.isnan(loss.item())
        loss.backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
        assert fn(x, fw.tensor([-100, -100]), "sum").item() == 0


@requires_torch
def test_class_index_errors_match_torch():
    x = np.zeros((3, 5), np.float32)
    cases = [
        (lambda lib: lib.tensor([1, 5, 7]), {}, "Target 5 is out of bounds."),
        (lambda lib: lib.tensor([1, -3, 0]), {}, "Target -3 is out of bounds."),
        (lambda lib: lib.tensor([1, 2, 3], dtype=lib.int32), {}, "expected target dtype to be Long or Byte"),
        (lambda lib: lib.tensor([1, 2]), {}, "Expected input batch_size (3) to match target batch_size (2)."),
        (lambda lib: lib.zeros(3, 2, dtype=lib.int64), {}, "0D or 1D target tensor expected"),
        (lambda lib: lib.tensor([1, 2, 3]), {"weight": np.ones(4, np.float32)}, "weight tensor should be defined"),
        (lambda lib: lib.zeros(3, 5, dtype=lib.int64), {}, "Expected floating point type for target"),
        (lambda lib: lib.tensor([1, 2, 3]), {"reduction": "avg"}, "avg is not a valid value for reduction"),
    ]
    for make_target, kwargs, message in cases:
        for name in ("cross_entropy", "nll_loss"):
            if name == "nll_loss" and "floating" in message:
                continue
            fw_fn, torch_fn = _both(name, **kwargs)
            text = raises_like_torch(lambda: fw_fn(fw.tensor(x), make_target(fw)),
                                     lambda: torch_fn(torch.tensor(x), make_target(torch)))
            assert message in text, (name, text)
    # the ignore_index value itself may lie outside [0, C)
    assert np.isfinite(F.cross_entropy(fw.tensor(x), fw.tensor([1, -100, 4])).item())
    raises_like_torch(lambda: F.cross_entropy(fw.tensor(x), fw.tensor([1, 2, 3]), label_smoothing=1.5),
                      lambda: TF.cross_entropy(torch.tensor(x), torch.tensor([1, 2, 3]), label_smoothing=1.5))
    raises_like_torch(lambda: F.cross_entropy(fw.zeros(3, 5, 2), fw.zeros(3, 3, dtype=fw.int64)),
                      lambda: TF.cross_entropy(torch.zeros(3, 5, 2), torch.zeros(3, 3, dtype=torch.int64)),
                      match="Expected target size [3, 2], got [3, 3]")


# ---- regression losses ---------------------------------------------------------------

REGRESSION = {
    "mse_loss": ({}, lambda a, b: (a - b) ** 2),
    "l1_loss": ({}, lambda a, b: _abs(a - b)),
    "huber_loss": ({"delta": 0.7}, lambda a, b: np_huber(a, b, 0.7, False)),
    "smooth_l1_loss": ({"beta": 0.7}, lambda a, b: np_huber(a, b, 0.7, True)),
    "smooth_l1_loss_beta0": ({"beta": 0.0}, lambda a, b: _abs(a - b)),
}


@pytest.mark.parametrize("name", sorted(REGRESSION))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regression_losses(rng, name, reduction, dtype):
    extra, elementwise = REGRESSION[name]
    fn_name = name.replace("_beta0", "")
    fw_fn, torch_fn = _both(fn_name, reduction=reduction, **extra)
    for shape in [(7,), (3, 5), (2, 3, 4), (1,)]:
        x, t = random_array(rng, shape, dtype, low=-2, high=2), random_array(rng, shape, dtype, low=-2, high=2)
        with case(shape=shape):
            check_op(fw_fn, lambda a, b: _reduce(elementwise(a, b), reduction), torch_fn, x, t, dtype=dtype,
                     rng=rng)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_with_weight(rng, name, reduction):
    extra, elementwise = REGRESSION[name]
    x, t, w = (random_array(rng, (3, 4), "float64") for _ in range(3))

    def reference(a, b):
        loss = elementwise(a, b) * w
        if reduction == "mean" and name != "huber_loss":
            return loss.sum() / w.sum()
        return _reduce(loss, reduction)
    fw_fn, torch_fn = _both(name, reduction=reduction, weight=w, **extra)
    check_op(fw_fn, reference, torch_fn, x, t, rng=rng)


@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss, F.huber_loss, F.smooth_l1_loss])
def test_regression_size_mismatch_raises(loss):
    # PyTorch warns and broadcasts to a wrong loss; the issue asks for a ValueError naming both sizes
    with pytest.raises(ValueError, match=r"target size \(framework.Size\(\[3, 1\]\)\) .* input size "
                                         r"\(framework.Size\(\[3\]\)\)"):
        loss(fw.ones(3), fw.zeros(3, 1))


def test_legacy_reduction_arguments():
    x, t = fw.tensor([1.0, 2.0]), fw.tensor([0.0, 0.0])
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated, please use "
                                         "reduction='sum' instead."):
        assert F.mse_loss(x, t, size_average=False).item() == 5.0
    with pytest.warns(UserWarning, match="reduction='none'"):
        loss = nn.L1Loss(reduce=False)
    assert loss.reduction == "none"


# ---- modules ----------------------------------------------------------------------------

def _loss_modules(lib):
    n = lib.nn
    w = lib.tensor([1.0, 2.0, 3.0])
    return [n.MSELoss(), n.L1Loss(reduction="sum"), n.HuberLoss(delta=2.0), n.SmoothL1Loss(beta=0.5),
            n.NLLLoss(weight=w, ignore_index=1), n.CrossEntropyLoss(), n.CrossEntropyLoss(w, label_smoothing=0.1),
            n.BCELoss(weight=w), n.BCEWithLogitsLoss(pos_weight=w)]


@requires_torch
def test_loss_module_reprs_and_state_match_torch():
    for ours, theirs in zip(_loss_modules(fw), _loss_modules(torch)):
        assert torch_name(repr(ours)) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert ours.reduction == theirs.reduction


def test_loss_modules_call_their_functions(rng):
    x = fw.tensor(random_array(rng, (4, 3), "float32"))
    probs = fw.tensor(rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32))
    target = fw.tensor(rng.integers(0, 3, 4))
    w = fw.tensor([1.0, 2.0, 3.0])
    pairs = [
        (nn.MSELoss()(x, probs), F.mse_loss(x, probs)),
        (nn.L1Loss(reduction="sum")(x, probs), F.l1_loss(x, probs, reduction="sum")),
        (nn.HuberLoss(delta=0.5)(x, probs), F.huber_loss(x, probs, delta=0.5)),
        (nn.SmoothL1Loss(beta=0.5)(x, probs), F.smooth_l1_loss(x, probs, beta=0.5)),
        (nn.NLLLoss(w, ignore_index=0)(x, target), F.nll_loss(x, target, w, ignore_index=0)),
        (nn.CrossEntropyLoss(w, label_smoothing=0.2)(x, target), F.cross_entropy(x, target, w, label_smoothing=0.2)),
        (nn.BCELoss(w, reduction="none")(probs, probs), F.binary_cross_entropy(probs, probs, w, reduction="none")),
        (nn.BCEWithLogitsLoss(pos_weight=w)(x, probs), F.binary_cross_entropy_with_logits(x, probs, pos_weight=w)),
    ]
    for i, (a, b) in enumerate(pairs):
        assert_close(a, b, "float32", what=f"module {i}")


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_loss_node_names_match_torch(reduction):
    """huber/smooth_l1/mse are one node in PyTorch (HuberLossBackward0, ...) whose edges lead to the inputs; l1 and
    the weighted forms are PyTorch compositions."""
    calls = [("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {"delta": 0.5}), ("smooth_l1_loss", {"beta": 0.5}),
             ("smooth_l1_loss", {"beta": 0.0}), ("mse_loss", {"weight": np.full(3, 0.5)}),
             ("huber_loss", {"weight": np.full(3, 0.5)}), ("l1_loss", {"weight": np.full(3, 0.5)})]
    for name, kwargs in calls:
        fw_fn, torch_fn = _both(name, reduction=reduction, **kwargs)
        x, t = fw.tensor([0.3, -1.2, 2.0], requires_grad=True), fw.tensor([0.0, 0.5, 1.0], requires_grad=True)
        tx, tt = torch.tensor([0.3, -1.2, 2.0], requires_grad=True), torch.tensor([0.0, 0.5, 1.0], requires_grad=True)
        out, expected = fw_fn(x, t), torch_fn(tx, tt)
        with case(name=name, **kwargs):
            assert out.grad_fn.name() == expected.grad_fn.name()
            assert len(out.grad_fn.next_functions) == len(expected.grad_fn.next_functions)


@requires_torch
def test_regression_loss_parameter_errors_match_torch():
    x = np.ones(3, np.float32)
    raises_like_torch(lambda: F.huber_loss(fw.tensor(x), fw.tensor(x), delta=0.0),
                      lambda: TF.huber_loss(torch.tensor(x), torch.tensor(x), delta=0.0),
                      match="huber_loss does not support non-positive values for delta.")
    raises_like_torch(lambda: F.smooth_l1_loss(fw.tensor(x), fw.tensor(x), beta=-0.5),
                      lambda: TF.smooth_l1_loss(torch.tensor(x), torch.tensor(x), beta=-0.5),
                      match="smooth_l1_loss does not support negative values for beta.")
