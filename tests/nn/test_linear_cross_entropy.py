"""F.linear_cross_entropy: cross_entropy(linear(x, W, b), target) over row chunks, never forming the (N, V)
logits. Checked against a float64 numpy reference (complex-step gradients) and PyTorch's unfused pair on cpu
and cuda: every reduction, ignored rows, label smoothing, with and without bias, chunk sizes smaller than N and
not dividing it, low precision; equality with F.cross_entropy(F.linear(...)) on every device; gradients only
for inputs that require them; argument errors."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from helpers import DEVICES, assert_close, case, check_op, random_array, torch

TF = torch.nn.functional if torch is not None else None
REDUCTIONS = ("mean", "sum", "none")


def _log_softmax_rows(z):
    shifted = z - z.real.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def np_linear_cross_entropy(x, w, target, b=None, ignore_index=-100, reduction="mean", label_smoothing=0.0,
                            chunk_size=None):
    z = x @ w.T + (0 if b is None else b)
    logp = _log_softmax_rows(z)
    n_classes = logp.shape[1]
    valid = target != ignore_index
    classes = np.where(valid, target, 0)
    nll = -logp[np.arange(target.size), classes]
    loss = ((1 - label_smoothing) * nll - label_smoothing / n_classes * logp.sum(axis=1)) * valid
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / valid.sum()


def _fns(bias, **kwargs):
    """framework's fused op, the numpy reference and torch's unfused pair, as check_op calls them."""
    if bias:
        fw_fn = lambda x, w, t, b: F.linear_cross_entropy(x, w, t, b, **kwargs)  # noqa: E731
        np_fn = lambda x, w, t, b: np_linear_cross_entropy(x, w, t, b, **kwargs)  # noqa: E731
        torch_fn = TF and (lambda x, w, t, b: TF.cross_entropy(TF.linear(x, w, b), t, **_torch_kwargs(kwargs)))
    else:
        fw_fn = lambda x, w, t: F.linear_cross_entropy(x, w, t, **kwargs)  # noqa: E731
        np_fn = lambda x, w, t: np_linear_cross_entropy(x, w, t, **kwargs)  # noqa: E731
        torch_fn = TF and (lambda x, w, t: TF.cross_entropy(TF.linear(x, w), t, **_torch_kwargs(kwargs)))
    return fw_fn, np_fn, torch_fn


def _torch_kwargs(kwargs):
    return {k: v for k, v in kwargs.items() if k != "chunk_size"}


def _inputs(rng, n, k, v, dtype="float64", ignore=False, bias=True):
    x = random_array(rng, (n, k), dtype, low=-1.5, high=1.5)
    w = random_array(rng, (v, k), dtype, low=-1.5, high=1.5)
    target = rng.integers(0, v, size=n)
    if ignore:
        target[[0, n // 2]] = 2  # ignore_index=2: also seen as a real class elsewhere
        target[1] = 2
        target[-1] = 3
    arrays = [x, w, target]
    if bias:
        arrays.append(random_array(rng, (v,), dtype, low=-1, high=1))
    return arrays


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing,ignore", [(0.0, False), (0.0, True), (0.2, True)])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_reference(rng, reduction, smoothing, ignore, bias):
    kwargs = dict(reduction=reduction, label_smoothing=smoothing, chunk_size=3)  # 7 rows: chunks of 3, 3, 1
    if ignore:
        kwargs["ignore_index"] = 2
    fw_fn, np_fn, torch_fn = _fns(bias, **kwargs)
    with case(**kwargs, bias=bias):
        out = check_op(fw_fn, np_fn, torch_fn, *_inputs(rng, 7, 5, 9, ignore=ignore, bias=bias), rng=rng)
        assert out.grad_fn.name() == "LinearCrossEntropyBackward0"


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_low_precision(rng, dtype):
    fw_fn, np_fn, torch_fn = _fns(True, label_smoothing=0.1, chunk_size=4, ignore_index=2)
    out = check_op(fw_fn, np_fn, torch_fn, *_inputs(rng, 6, 4, 11, dtype, ignore=True), dtype=dtype, rng=rng)
    assert out.dtype is getattr(fw, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_equals_unfused(rng, device, reduction):
    """Same values and gradients as F.cross_entropy(F.linear(...)), chunk by chunk or whole."""
    x, w, target, b = _inputs(rng, 10, 6, 13, "float32", ignore=True)
    grad_out = rng.standard_normal(10).astype(np.float32) if reduction == "none" else None
    results = []
    for chunk in ("unfused", 4, None, 1):
        X, W, B = (fw.tensor(a, device=device, requires_grad=True) for a in (x, w, b))
        T = fw.tensor(target, device=device)
        if chunk == "unfused":
            out = F.cross_entropy(F.linear(X, W, B), T, ignore_index=2, reduction=reduction, label_smoothing=0.1)
        else:
            out = F.linear_cross_entropy(X, W, T, B, ignore_index=2, reduction=reduction, label_smoothing=0.1,
                                         chunk_size=chunk)
        assert out.device.type == device and out.dtype is fw.float32
        out.backward(None if grad_out is None else fw.tensor(grad_out, device=device))
        results.append([t.detach().cpu().numpy() for t in (out, X.grad, W.grad, B.grad)])
    for chunk, got in zip((4, None, 1), results[1:]):
        for name, a, e in zip(("loss", "grad x", "grad weight", "grad bias"), got, results[0]):
            assert_close(a, e, "float32", 2e-6, 2e-6, what=f"{name} on {device}, chunk_size={chunk}")


@pytest.mark.parametrize("device", DEVICES)
def test_only_needed_gradients(rng, device):
    x, w, target, b = _inputs(rng, 5, 3, 4)
    T = fw.tensor(target, device=device)
    full = [fw.tensor(a, device=device, requires_grad=True) for a in (x, w, b)]
    F.linear_cross_entropy(*full[:2], T, full[2]).backward()
    for wants in ((True, False, False), (False, True, False), (False, False, True), (False, True, True)):
        X, W, B = (fw.tensor(a, device=device, requires_grad=r) for a, r in zip((x, w, b), wants))
        F.linear_cross_entropy(X, W, T, B, chunk_size=2).backward()
        for t, whole, r in zip((X, W, B), full, wants):
            assert (t.grad is not None) == r
            if r:
                assert_close(t.grad, whole.grad.cpu().numpy(), "float64")
    with fw.no_grad():
        X = fw.tensor(x, device=device, requires_grad=True)
        assert not F.linear_cross_entropy(X, fw.tensor(w, device=device), T).requires_grad


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the mean's 0 / 0
@pytest.mark.parametrize("device", DEVICES)
def test_everything_ignored_and_empty(device):
    x = fw.ones(3, 2, device=device, requires_grad=True)
    w = fw.ones(4, 2, device=device, requires_grad=True)
    t = fw.tensor([-100, -100, -100], device=device)
    loss = F.linear_cross_entropy(x, w, t, chunk_size=2)
    assert np.isnan(loss.item())  # 0 / 0, as cross_entropy
    loss.backward()
    assert not x.grad.cpu().numpy().any() and not w.grad.cpu().numpy().any()
    assert F.linear_cross_entropy(x, w, t, reduction="sum").item() == 0
    empty = F.linear_cross_entropy(fw.zeros(0, 2, device=device), fw.ones(4, 2, device=device),
                                   fw.zeros(0, dtype=fw.int64, device=device), reduction="none")
    assert tuple(empty.shape) == (0,)


def test_argument_errors():
    x, w, t = fw.ones(3, 2), fw.ones(4, 2), fw.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.linear_cross_entropy(x, w, t, reduction="avg")
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        F.linear_cross_entropy(x, w, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="chunk_size"):
        F.linear_cross_entropy(x, w, t, chunk_size=0)
    with pytest.raises(RuntimeError, match="expected a 2-D input"):
        F.linear_cross_entropy(fw.ones(3, 1, 2), w, t)
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        F.linear_cross_entropy(x, fw.ones(4, 3), t)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.linear_cross_entropy(x, fw.ones(4, 2, dtype=fw.float64), t)
    with pytest.raises(RuntimeError, match="bias of shape"):
        F.linear_cross_entropy(x, w, t, fw.ones(3))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        F.linear_cross_entropy(x, w, fw.tensor([0, 1]))
    with pytest.raises(IndexError, match="Target 4 is out of bounds."):
        F.linear_cross_entropy(x, w, fw.tensor([0, 4, 1]))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte"):
        F.linear_cross_entropy(x, w, fw.tensor([0.0, 1.0, 2.0]))
    F.linear_cross_entropy(x, w, fw.tensor([0, -100, 3]))  # ignored rows may hold any index
