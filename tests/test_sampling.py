"""multinomial: on the CPU, PyTorch's draws bit for bit after the same seed (and the generator's state after them;
without replacement, float16/bfloat16 ratios that tie may be taken in another order), with and without replacement, every float dtype, 1-D/2-D and strided inputs, an explicit Generator; on cuda, samples
from the Philox stream that a seed replays, that never pick a zero weight, without repeats when asked, and with
frequencies that follow the weights. PyTorch's errors on both devices."""
import numpy as np
import pytest

import framework as fw
from framework.backends.numpy.sampling import _exponentials
from helpers import DEVICES, FLOAT_NAMES, make_tensor, make_torch, np_dtype, raises_like_torch, torch

pytestmark = pytest.mark.uses_random


def _weights(rng, shape, dtype):
    weights = rng.uniform(0, 1, size=shape)
    weights[..., 1] = 0.0  # a category that is never drawn
    return weights.astype(np_dtype(dtype))


@pytest.mark.skipif(torch is None, reason="PyTorch is not importable: parity check skipped")
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("replacement", [False, True])
def test_cpu_draws_are_pytorchs(rng, dtype, replacement):
    for shape, n in [((7,), 1), ((7,), 4), ((3, 9), 5), ((3, 9), 1), ((2, 30), 20)]:
        if not replacement and n > shape[-1] - 1:
            continue
        weights = _weights(rng, shape, dtype)
        seed = int(rng.integers(0, 2**31))
        torch.manual_seed(seed)
        theirs = torch.multinomial(make_torch(weights), n, replacement)
        after_theirs = torch.rand(3)
        fw.manual_seed(seed)
        ours = fw.multinomial(make_tensor(weights), n, replacement)
        assert ours.dtype is fw.int64 and tuple(ours.shape) == tuple(theirs.shape)
        _assert_same_samples(ours, theirs, weights, seed, replacement, f"{shape} n={n}")
        np.testing.assert_array_equal(fw.rand(3).numpy(), after_theirs.numpy(), err_msg="generator state after")
    weights = _weights(rng, (4, 6), dtype)  # held transposed: the exponentials are drawn in memory order
    generator = torch.Generator().manual_seed(5)
    theirs = torch.multinomial(make_torch(weights.T.copy()).T, 2, replacement, generator=generator)
    ours = fw.multinomial(make_tensor(weights.T.copy()).T, 2, replacement, generator=fw.Generator().manual_seed(5))
    _assert_same_samples(ours, theirs, weights.T.copy().T, 5, replacement, "transposed")


def _assert_same_samples(ours, theirs, weights, seed, replacement, what):
    """The same indices; without replacement in float16/bfloat16, where ratios p / E tie often and PyTorch orders
    ties as its C++ nth_element leaves them (we: lower index first), the same ratios at each place."""
    if replacement or ours.shape[-1] == 1 or weights.dtype in (np.float32, np.float64):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=what)
        return
    ratios = weights / _exponentials(weights, fw.Generator().manual_seed(seed))
    np.testing.assert_array_equal(np.take_along_axis(ratios, ours.numpy(), -1),
                                  np.take_along_axis(ratios, theirs.numpy(), -1), err_msg=what)


@pytest.mark.parametrize("device", DEVICES)
def test_samples_follow_the_weights(rng, device):
    weights = np.array([[0.1, 0.0, 0.6, 0.3], [5.0, 0.0, 0.0, 5.0]], np.float32)
    t = make_tensor(weights, device=device)
    fw.manual_seed(11)
    first = fw.multinomial(t, 3000, replacement=True)
    fw.manual_seed(11)
    assert fw.multinomial(t, 3000, replacement=True).tolist() == first.tolist()  # a seed replays its draws
    counts = np.stack([np.bincount(row, minlength=4) for row in first.cpu().numpy()]) / 3000
    np.testing.assert_allclose(counts, weights / weights.sum(1, keepdims=True), atol=0.04)
    assert counts[:, 1].sum() == 0
    distinct = fw.multinomial(make_tensor(np.ones((5, 6), np.float32), device=device), 6).cpu().numpy()
    assert all(sorted(row) == list(range(6)) for row in distinct)
    fw.manual_seed(3)
    picks = np.stack([fw.multinomial(t[0], 2).cpu().numpy() for _ in range(40)])
    assert not (picks == 1).any() and (picks[:, 0] != picks[:, 1]).all()
    for dtype in FLOAT_NAMES:
        one = fw.multinomial(make_tensor(weights.astype(np_dtype(dtype)), device=device), 1)
        assert one.shape == (2, 1) and one.dtype is fw.int64 and one.device == t.device
    assert fw.multinomial(fw.zeros(0, 3, device=device), 2).shape == (0, 2)
    assert t.multinomial(2, generator=None).shape == (2, 2)


@pytest.mark.parametrize("device", DEVICES)
def test_errors_match_pytorch(device):
    if torch is None:
        pytest.skip("PyTorch is not importable: parity check skipped")
    cases = [
        (lambda m: m.rand(2, 2, 2), 1, False), (lambda m: m.tensor(1.0), 1, False),
        (lambda m: m.tensor([1, 2]), 1, False), (lambda m: m.tensor([1.0, 2.0]), 0, False),
        (lambda m: m.tensor([1.0, 2.0]), 3, False), (lambda m: m.tensor([1.0, -1.0]), 1, False),
        (lambda m: m.tensor([1.0, float("nan")]), 2, False), (lambda m: m.tensor([0.0, 0.0]), 1, False),
        (lambda m: m.tensor([1.0, -1.0]), 2, True), (lambda m: m.tensor([0.0, 0.0]), 2, True),
        (lambda m: m.tensor([1.0, float("inf")]), 2, True), (lambda m: m.zeros(2, 0), 1, False),
    ]
    for make, n, replacement in cases:
        ours = lambda: fw.multinomial(make(fw).to(device), n, replacement)  # noqa: E731
        theirs = lambda: torch.multinomial(make(torch), n, replacement)  # noqa: E731
        message = raises_like_torch(ours, theirs)
        with pytest.raises(Exception) as expected:
            theirs()
        assert message == str(expected.value)
    if device == "cuda":
        with pytest.raises(RuntimeError, match="Expected a 'cuda' device type for generator but found 'cpu'"):
            fw.multinomial(fw.ones(3, device=device), 1, generator=fw.Generator())
