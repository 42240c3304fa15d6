"""The cuda generator (framework/backends/cuda/random.py): a Philox seed and offset, fills in place on CudaArrays."""
import numpy as np
import pytest

import framework as fw

pytestmark = pytest.mark.skipif(not fw.cuda.is_available(),
                                reason="no cuda device: no GPU, and TRITON_INTERPRET is not 1")


@pytest.fixture
def R():
    from framework.backends.cuda import random
    saved = random.get_rng_state()
    yield random
    random.set_rng_state(saved)


def test_seed_replays_and_fills_advance(R):
    R.manual_seed(1234)
    assert R.initial_seed() == 1234
    first, second = R.rand((5, 7)).to_numpy(), R.rand((5, 7)).to_numpy()
    assert not np.any(first == second)  # the offset moved past the first fill's counters
    R.manual_seed(1234)
    np.testing.assert_array_equal(R.rand((5, 7)).to_numpy(), first)


def test_state_is_seed_and_offset(R):
    R.manual_seed(2**64 - 5)
    R.normal((9,))  # 9 elements: 3 Philox counters
    state = R.get_rng_state()
    assert state.dtype == np.uint8 and state.shape == (16,)
    assert int(state[:8].view(np.uint64)[0]) == 2**64 - 5 and int(state[8:].view(np.int64)[0]) == 3
    drawn = R.normal((100,), 2.0, 3.0).to_numpy()
    R.set_rng_state(state)
    np.testing.assert_array_equal(R.normal((100,), 2.0, 3.0).to_numpy(), drawn)
    with pytest.raises(RuntimeError, match="16 bytes"):
        R.set_rng_state(np.zeros(5, np.uint8))


def test_generators_are_independent(R):
    gen = R.Generator().manual_seed(7)
    R.manual_seed(7)
    a = R.rand((50,), generator=gen).to_numpy()
    b = R.rand((50,)).to_numpy()
    np.testing.assert_array_equal(a, b)
    assert gen.get_offset() == R.default_generator.get_offset() == 13


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_non_contiguous_fill_matches_contiguous(R, dtype):
    from framework.backends.cuda.array import empty
    R.manual_seed(5)
    contiguous = R.rand((6, 4), dtype).to_numpy()
    R.manual_seed(5)
    base = empty((4, 6), dtype)
    view = base.transpose()
    R.uniform_(view, 0.0, 1.0)
    np.testing.assert_array_equal(view.to_numpy(), contiguous)


def test_distributions(R):
    R.manual_seed(11)
    u = R.rand((20000,)).to_numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    z = R.normal((20000,), 1.0, 2.0).to_numpy()
    assert abs(z.mean() - 1.0) < 0.05 and abs(z.std() - 2.0) < 0.05
    mask = R.bernoulli_mask((20000,), 0.25).to_numpy()
    assert mask.dtype == np.bool_ and abs(mask.mean() - 0.25) < 0.015
    ints = R.randint(-3, 4, (20000,)).to_numpy()
    assert ints.dtype == np.int64 and set(np.unique(ints)) == set(range(-3, 4))


def test_bernoulli_with_probability_array(R):
    from framework.backends.cuda.array import empty, from_numpy
    probs = from_numpy(np.array([0.0, 1.0, 0.0, 1.0], np.float32))
    out = R.bernoulli_(empty((3, 4), np.float32), probs)  # broadcast over rows
    np.testing.assert_array_equal(out.to_numpy(), np.tile([0.0, 1.0, 0.0, 1.0], (3, 1)))


def test_errors(R):
    from framework.backends.cuda.array import empty
    with pytest.raises(TypeError, match="floating"):
        R.uniform_(empty((3,), np.int32))
    with pytest.raises(RuntimeError, match="from=2"):
        R.uniform_(empty((3,), np.float32), 2.0, 1.0)
    with pytest.raises(RuntimeError, match="std"):
        R.normal_(empty((3,), np.float32), 0.0, -1.0)
    with pytest.raises(RuntimeError, match=r"\[0, 1\]"):
        R.bernoulli_(empty((3,), np.float32), 1.5)
    with pytest.raises(RuntimeError, match="from=3"):
        R.random_(empty((3,), np.int64), 3, 3)
