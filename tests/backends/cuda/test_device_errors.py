"""Bad indices and BCE's out-of-range probabilities on `cuda` (framework/backends/cuda/device_errors.py): the op
returns without waiting, its kernel reads nothing out of bounds and records the error, and the next synchronising
call raises the CPU's exception for that op (type and message, PyTorch's); then the process goes on. On the CPU
the same calls raise at once, as before.
"""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F

pytestmark = pytest.mark.skipif(not fw.cuda.is_available(), reason="needs the cuda device (a GPU or the interpreter)")

X = np.arange(12.0, dtype=np.float32).reshape(3, 4) / 10


def _t(value, device, dtype=None):
    return fw.tensor(np.asarray(value, dtype=dtype), device=device)


def _setitem(key, value, requires_grad=False):
    def call(device):
        x = _t(X, device).requires_grad_(requires_grad).clone()  # a non-leaf when it requires grad
        x[key(device)] = value
        return x
    return call


def _bce(input_value, target_value):
    def call(device):
        x, y = np.full(4, 0.5, np.float32), np.full(4, 0.5, np.float32)
        x[2], y[1] = input_value, target_value
        return F.binary_cross_entropy(_t(x, device), _t(y, device))
    return call


# (id, call(device) -> a result, the good call's twin or None, exception type, PyTorch's message)
CASES = [
    ("cross_entropy", lambda d: F.cross_entropy(_t(X, d), _t([1, 5, 0], d)), IndexError,
     "Target 5 is out of bounds."),
    ("cross_entropy spatial weighted smoothed", lambda d: F.cross_entropy(
        _t(np.ones((2, 4, 3)), d, np.float32), _t([[0, 1, 2], [3, -1, -100]], d), weight=_t(np.ones(4), d, np.float32),
        label_smoothing=0.1), IndexError, "Target -1 is out of bounds."),
    ("nll_loss", lambda d: F.nll_loss(_t(X, d), _t([1, -3, 0], d), reduction="none"), IndexError,
     "Target -3 is out of bounds."),
    ("nll_loss 4-d", lambda d: F.nll_loss(_t(np.ones((2, 4, 2, 2)), d, np.float32),
                                          _t(np.full((2, 2, 2), 4), d)), IndexError, "Target 4 is out of bounds."),
    ("linear_cross_entropy", lambda d: F.linear_cross_entropy(_t(X, d), _t(np.ones((5, 4)), d, np.float32),
                                                              _t([0, 5, 1], d)), IndexError,
     "Target 5 is out of bounds."),
    ("embedding", lambda d: fw.nn.Embedding(4, 2).to(d)(_t([1, 4], d)), IndexError, "index out of range in self"),
    ("embedding negative", lambda d: F.embedding(_t([[-1, 0]], d), _t(X, d)), IndexError,
     "index out of range in self"),
    ("index_select", lambda d: fw.index_select(_t(X, d), 0, _t([0, 3], d)), IndexError,
     "index out of range in self"),
    ("gather", lambda d: fw.gather(_t(X, d), 1, _t([[5]], d)), RuntimeError,
     "index 5 is out of bounds for dimension 1 with size 4"),
    ("gather negative", lambda d: fw.gather(_t(X, d), 1, _t([[0], [-1]], d)), RuntimeError,
     "index -1 is out of bounds for dimension 1 with size 4"),
    ("take_along_dim", lambda d: fw.take_along_dim(_t(X, d), _t([[7]], d), 0), RuntimeError,
     "index 7 is out of bounds for dimension 0 with size 3"),
    ("scatter", lambda d: fw.scatter(_t(X, d), 0, _t([[3, 0]], d), _t(np.ones((1, 2)), d, np.float32)),
     RuntimeError, "index 3 is out of bounds for dimension 0 with size 3"),
    ("scatter value", lambda d: fw.scatter(_t(X, d), 1, _t([[1], [4]], d), value=2.0), RuntimeError,
     "index 4 is out of bounds for dimension 1 with size 4"),
    ("scatter_add", lambda d: fw.scatter_add(_t(X, d), 1, _t([[9]], d), _t(np.ones((1, 1)), d, np.float32)),
     RuntimeError, "index 9 is out of bounds for dimension 1 with size 4"),
    ("x[index]", lambda d: _t(X, d)[_t([0, 5], d)], IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    ("x[slice, index]", lambda d: _t(X, d)[1:, _t([4], d)], IndexError,
     "index 4 is out of bounds for dimension 1 with size 4"),
    ("x[index, index]", lambda d: _t(X, d)[_t([0, -1], d), _t([-5, 1], d)], IndexError,
     "index -5 is out of bounds for dimension 1 with size 4"),
    ("x[index] = value", _setitem(lambda d: _t([3], d), 1.0), IndexError,
     "index 3 is out of bounds for dimension 0 with size 3"),
    ("x[index] = value with grad", _setitem(lambda d: (slice(None), _t([1, -6], d)), 1.0, requires_grad=True),
     IndexError, "index -6 is out of bounds for dimension 1 with size 4"),
    ("binary_cross_entropy input", _bce(1.5, 0.5), RuntimeError, "all elements of input should be between 0 and 1"),
    ("binary_cross_entropy nan input", _bce(np.nan, 0.5), RuntimeError,
     "all elements of input should be between 0 and 1"),
    ("binary_cross_entropy target", _bce(0.5, -0.25), RuntimeError,
     "all elements of target should be between 0 and 1"),
]


def _raises(kind, message, call):
    with pytest.raises(kind) as error:
        call()
    assert str(error.value) == message  # exactly PyTorch's text (on cuda a note under it says where it came from)


@pytest.mark.parametrize("name,call,kind,message", CASES, ids=[case[0] for case in CASES])
def test_the_error_arrives_at_the_next_synchronising_call(name, call, kind, message):
    result = call("cuda")  # no wait, no error yet
    _raises(kind, message, result.cpu)
    result.cpu()  # the record was cleared: the same result reads back without an error
    fw.cuda.synchronize()
    assert fw.ones(2, device="cuda").sum().item() == 2.0  # and the device goes on working


@pytest.mark.parametrize("name,call,kind,message", CASES, ids=[case[0] for case in CASES])
def test_the_cpu_raises_the_same_error_at_once(name, call, kind, message):
    _raises(kind, message, lambda: call("cpu"))


SYNCS = {
    "item": lambda t: t.sum().item(),
    "cpu": lambda t: t.cpu(),
    "to cpu": lambda t: t.to("cpu"),
    "tolist": lambda t: t.tolist(),
    "repr": repr,
    "float": lambda t: float(t.sum()),
    "bool": lambda t: bool(t.sum() > 0),
    "cuda.synchronize": lambda t: fw.cuda.synchronize(),
    "Event.synchronize": lambda t: fw.cuda.Event().synchronize(),
}


@pytest.mark.parametrize("sync", list(SYNCS))
def test_every_synchronising_call_raises_it(sync):
    """Any call that waits for the device raises the recorded error, whatever tensor it reads."""
    other = fw.ones(3, device="cuda")
    F.cross_entropy(fw.zeros(2, 3, device="cuda"), fw.tensor([0, 3], device="cuda"))
    _raises(IndexError, "Target 3 is out of bounds.", lambda: SYNCS[sync](other))
    SYNCS[sync](other)


def test_the_first_error_is_the_one_raised():
    """As PyTorch reports the first failed device assert: a later bad op leaves the first record alone."""
    weight = fw.randn(4, 3, device="cuda")
    rows = F.embedding(fw.tensor([0, 4], device="cuda"), weight)
    loss = F.cross_entropy(rows, fw.tensor([1, 7], device="cuda"))
    _raises(IndexError, "index out of range in self", loss.item)
    loss.item()


def test_bad_values_give_safe_results_and_backwards_check_again():
    """A gather of a bad index reads nothing out of bounds (it gives 0); a backward over the same indices finds them
    again (after the forward's error was raised and cleared), so its gradient is never silently used."""
    x = fw.tensor(X, device="cuda", requires_grad=True)
    picked = fw.gather(x, 1, fw.tensor([[1], [9], [3]], device="cuda"))
    _raises(RuntimeError, "index 9 is out of bounds for dimension 1 with size 4", picked.cpu)
    np.testing.assert_array_equal(picked.detach().cpu().numpy()[:, 0], [X[0, 1], 0.0, X[2, 3]])
    picked.sum().backward()
    _raises(RuntimeError, "index 9 is out of bounds for dimension 1 with size 4", x.grad.cpu)
    np.testing.assert_array_equal(x.grad.cpu().numpy(), np.eye(4, dtype=np.float32)[[1, 0, 3]] * [[1], [0], [1]])
    logits = fw.zeros(2, 3, device="cuda", requires_grad=True)
    loss = F.cross_entropy(logits, fw.tensor([2, -7], device="cuda"), reduction="sum")
    _raises(IndexError, "Target -7 is out of bounds.", loss.item)
    loss.backward()
    _raises(IndexError, "Target -7 is out of bounds.", logits.grad.cpu)
    np.testing.assert_allclose(logits.grad.cpu().numpy(), [[1 / 3, 1 / 3, -2 / 3], [0, 0, 0]], rtol=1e-6)


def test_good_values_after_an_error_match_the_cpu():
    F.nll_loss(fw.zeros(2, 3, device="cuda"), fw.tensor([0, 3], device="cuda"))
    _raises(IndexError, "Target 3 is out of bounds.", fw.cuda.synchronize)
    for device_result, cpu_result in [
            (F.cross_entropy(fw.tensor(X, device="cuda"), fw.tensor([1, 3, 0], device="cuda")),
             F.cross_entropy(fw.tensor(X), fw.tensor([1, 3, 0]))),
            (fw.tensor(X, device="cuda")[fw.tensor([2, -3], device="cuda")], fw.tensor(X)[fw.tensor([2, -3])])]:
        np.testing.assert_allclose(device_result.cpu().numpy(), cpu_result.numpy(), rtol=1e-6)
