"""framework.random against PyTorch's CPU generator, bit for bit; plus checks that need no torch.

Parity tests take the `torch` fixture (skipped when PyTorch is missing) and
compare bytes, then the two generators' states, so a sampler that drew one word
too many or too few fails even when its values agree.
"""
import importlib.util
import math
import os
import pathlib
import subprocess
import sys
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from helpers import assert_same_bits, assert_same_draws


def _load_random_module():
    try:
        from framework import random
        return random
    except Exception:  # the package is mid-build: load the module file on its own
        path = pathlib.Path(__file__).resolve().parents[1] / "framework" / "random.py"
        spec = importlib.util.spec_from_file_location("framework_random_alone", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


fr = _load_random_module()
parity = pytest.mark.requires_torch

BF16 = np.dtype(ml_dtypes.bfloat16)
FLOAT_DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), BF16]
SEEDS = [0, 1, 123, 2**32 + 5, 2**40 + 7, 2**63 + 11, 987654321]
SIZES = [1, 2, 7, 15, 16, 17, 31, 33, 100, 1000]
BOUNDS = [(0.0, 1.0), (-0.3, 0.7), (2.5, 3.1), (-1 / 7, 1 / 7), (-100.3, 7.77), (-1e-3, 1e5)]

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is the oracle of the parity tests")


def torch_dtype(torch, dtype):
    return getattr(torch, np.dtype(dtype).name)


def assert_same_state(ours, theirs):
    """Same bytes as torch.Generator.get_state(): same stream position, same cached normal."""
    np.testing.assert_array_equal(ours.get_state(), theirs.get_state().numpy())


def generators(torch, seed):
    return fr.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)


# ---- parity with PyTorch ------------------------------------------------------------------------

@parity
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("size", SIZES)
def test_rand_matches_torch(torch, dtype, size):
    for seed in SEEDS:
        ours, theirs = generators(torch, seed)
        assert_same_bits(fr.rand((size,), dtype, ours), torch.rand(size, dtype=torch_dtype(torch, dtype),
                                                                   generator=theirs), f"seed {seed}")
        assert_same_state(ours, theirs)


@parity
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("bounds", BOUNDS, ids=str)
def test_uniform_matches_torch(torch, dtype, bounds):
    if bounds[1] > float(ml_dtypes.finfo(dtype).max):
        with pytest.raises(RuntimeError):  # both refuse bounds outside the dtype
            torch.empty(3, dtype=torch_dtype(torch, dtype)).uniform_(*bounds)
        with pytest.raises(RuntimeError):
            fr.uniform_(np.empty(3, dtype), *bounds)
        return
    for seed, size in zip(SEEDS, [1, 15, 16, 33, 1000, 4099, 20000]):
        ours, theirs = generators(torch, seed)
        expected = torch.empty(size, dtype=torch_dtype(torch, dtype)).uniform_(*bounds, generator=theirs)
        assert_same_draws(fr.uniform_(np.empty(size, dtype), *bounds, ours), expected, f"seed {seed}", bounds)
        assert_same_state(ours, theirs)


@parity
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (0.5, 2.3), (-1.25, 0.01)])
def test_normal_matches_torch(torch, dtype, size, mean, std):
    for seed in SEEDS:
        ours, theirs = generators(torch, seed)
        got = fr.normal((size,), mean, std, dtype, ours)
        expected = torch.empty(size, dtype=torch_dtype(torch, dtype)).normal_(mean, std, generator=theirs)
        assert_same_draws(got, expected, f"seed {seed}")
        assert_same_state(ours, theirs)


@parity
def test_normal_keeps_the_cached_sample_across_calls(torch):
    """Below 16 elements PyTorch's Box-Muller keeps its second value for the next call; 16+ leave it alone."""
    ours, theirs = generators(torch, 2024)
    for size, dtype in [(3, np.float32), (100, np.float32), (1, np.float64), (5, np.float16),
                        (16, np.float64), (2, BF16), (15, np.float32), (1, np.float32), (1, np.float64)]:
        got = fr.normal((size,), 0.0, 1.0, dtype, ours)
        assert_same_draws(got, torch.randn(size, dtype=torch_dtype(torch, dtype), generator=theirs), f"{size}")
        assert_same_state(ours, theirs)


@parity
def test_mixed_calls_track_the_stream_exactly(torch):
    ours, theirs = generators(torch, 7)
    steps = [
        (lambda g: fr.rand((5,), np.float32, g), lambda g: torch.rand(5, generator=g)),
        (lambda g: fr.normal((3, 7), 0, 1, np.float32, g), lambda g: torch.randn(3, 7, generator=g)),
        (lambda g: fr.randint(0, 10, (7,), np.int64, g), lambda g: torch.randint(0, 10, (7,), generator=g)),
        (lambda g: fr.rand((3,), np.float64, g), lambda g: torch.rand(3, dtype=torch.float64, generator=g)),
        (lambda g: fr.normal((3,), 0, 1, np.float64, g), lambda g: torch.randn(3, dtype=torch.float64, generator=g)),
        (lambda g: fr.randperm(10, np.int64, g), lambda g: torch.randperm(10, generator=g)),
        (lambda g: fr.normal((1,), 2.0, 3.0, np.float32, g), lambda g: torch.normal(2.0, 3.0, (1,), generator=g)),
        (lambda g: fr.uniform_(np.empty(33, BF16), -2, 2, g),
         lambda g: torch.empty(33, dtype=torch.bfloat16).uniform_(-2, 2, generator=g)),
        (lambda g: np.array(fr.random_int64(g)),
         lambda g: torch.empty((), dtype=torch.int64).random_(generator=g).numpy()),
        (lambda g: fr.bernoulli_mask((9,), 0.3, g), lambda g: torch.empty(9).bernoulli_(0.3, generator=g).bool()),
        (lambda g: fr.normal((40,), 0, 1, np.float16, g), lambda g: torch.randn(40, dtype=torch.float16, generator=g)),
    ]
    for step, (ours_draw, torch_draw) in enumerate(steps):
        assert_same_draws(ours_draw(ours), torch_draw(theirs), f"step {step}")
        assert_same_state(ours, theirs)


def _untemper(word):
    """The mt19937 state word that tempers to `word`."""
    y = word ^ (word >> 18)
    y ^= (y << 15) & 0xEFC60000
    x = y
    for _ in range(5):  # y ^= (y << 7) & 0x9D2C5680, inverted a few bits at a time
        x = y ^ ((x << 7) & 0x9D2C5680)
    y = x & 0xFFFFFFFF
    x = y
    for _ in range(3):
        x = y ^ (x >> 11)
    return x & 0xFFFFFFFF


def state_drawing(words):
    """A torch-format state whose next outputs are `words` (at most 623)."""
    state = fr.Generator().manual_seed(0).get_state()
    mt = np.zeros(624, "<u8")
    mt[1:1 + len(words)] = [_untemper(int(w)) for w in words]
    state[24:24 + 624 * 8] = mt.view(np.uint8)              # state[624] as uint64, after seed/left/seeded/next
    state[8:12] = np.array([624], "<i4").view(np.uint8)     # left: words before the next twist
    state[16:24] = np.array([1], "<u8").view(np.uint8)      # next: index of the next word
    return state


# Words whose low 24 bits sit at the ends of [0, 1): they round onto `high`, zero radius, theta near 2 pi...
EDGE_WORDS = [0xFFFFFF, 0xFFFFFE, 0xFFFFF0, 0xFFFF00, 0xFFF000, 0xFF8000, 0xFF0000, 0x800000, 0, 1,
              0xFE0000, 0x7FFFFF, 0xC00000, 0x400000, 0x200000, 0xFFFFFFFF]


@parity
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_edge_words_match_torch(torch, dtype):
    """Values that round up onto `high` come back as `low`; extreme uniforms through Box-Muller."""
    words = np.repeat(EDGE_WORDS, 2) if dtype == np.float64 else np.array(EDGE_WORDS)
    state = state_drawing(words)
    for bounds in [b for b in BOUNDS if b[1] <= float(ml_dtypes.finfo(dtype).max)]:
        ours, theirs = fr.Generator().set_state(state), torch.Generator()
        theirs.set_state(torch.from_numpy(state.copy()))
        expected = torch.empty(16, dtype=torch_dtype(torch, dtype)).uniform_(*bounds, generator=theirs)
        assert_same_draws(fr.uniform_(np.empty(16, dtype), *bounds, ours), expected, str(bounds), bounds)
    ours, theirs = fr.Generator().set_state(state), torch.Generator()
    theirs.set_state(torch.from_numpy(state.copy()))
    assert_same_draws(fr.normal((16,), 0, 1, dtype, ours),
                     torch.randn(16, dtype=torch_dtype(torch, dtype), generator=theirs), "normal")


# From a span of 2^28 on, PyTorch 2.13 draws 64 bits per value. Float dtypes keep to the
# integers they hold exactly (PyTorch warns and shifts the bounds beyond).
RANDINT_RANGES = {
    "int64": [(0, 10), (-5, 5), (0, 1), (0, 2**28 - 1), (0, 2**28), (-(2**31), 2**31 - 1), (0, 2**32),
              (-(2**40), 2**40 + 3)],
    "int32": [(0, 10), (-5, 5), (0, 2**28 - 1), (0, 2**28), (-(2**31), 2**31 - 1)],
    "int16": [(0, 10), (-5, 5), (-(2**15), 2**15 - 1)],
    "uint8": [(0, 10), (3, 250), (0, 256)],
    "float64": [(0, 10), (-5, 5), (0, 2**28), (-(2**40), 2**40)],
    "float32": [(0, 10), (-5, 5), (-(2**24), 2**24)],
    "float16": [(0, 10), (-(2**11), 2**11)],
    "bfloat16": [(0, 10), (-(2**8), 2**8)],
}


@parity
@pytest.mark.parametrize("dtype_name", RANDINT_RANGES)
def test_randint_matches_torch(torch, dtype_name):
    dtype = BF16 if dtype_name == "bfloat16" else np.dtype(dtype_name)
    for seed, (low, high) in zip(SEEDS * 2, RANDINT_RANGES[dtype_name]):
        for size in (1, 17, 1000):
            ours, theirs = generators(torch, seed)
            expected = torch.randint(low, high, (size,), dtype=torch_dtype(torch, dtype), generator=theirs)
            assert_same_bits(fr.randint(low, high, (size,), dtype, ours), expected, f"[{low}, {high})")
            assert_same_state(ours, theirs)


@parity
@pytest.mark.parametrize("n", [0, 1, 2, 7, 16, 100, 1000, 50000])
def test_randperm_matches_torch(torch, n):
    for seed in SEEDS[:3]:
        for dtype in (np.int64, np.int32):
            ours, theirs = generators(torch, seed)
            expected = torch.randperm(n, dtype=torch_dtype(torch, dtype), generator=theirs)
            assert_same_bits(fr.randperm(n, dtype, ours), expected, f"seed {seed}")
            assert_same_state(ours, theirs)


@parity
def test_random_int64_matches_torch(torch):
    for seed in SEEDS:
        ours, theirs = generators(torch, seed)
        for _ in range(5):
            assert fr.random_int64(ours) == torch.empty((), dtype=torch.int64).random_(generator=theirs).item()
        assert_same_state(ours, theirs)


@parity
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.999, 1.0])
def test_bernoulli_and_dropout_match_torch(torch, p):
    x = np.random.default_rng(0).standard_normal((7, 33)).astype(np.float32)
    for seed in SEEDS[:3]:
        ours, theirs = generators(torch, seed)
        expected = torch.empty(7, 33).bernoulli_(p, generator=theirs).bool()
        assert_same_bits(fr.bernoulli_mask((7, 33), p, ours), expected, f"seed {seed}")
        assert_same_state(ours, theirs)
        if 0 < p < 1:  # dropout(x, p) keeps with probability 1 - p and scales in x's dtype
            torch.manual_seed(seed)
            fr.manual_seed(seed)
            dropped = torch.nn.functional.dropout(torch.from_numpy(x), p, training=True)
            mask = fr.bernoulli_mask(x.shape, 1 - p)
            assert_same_bits(x * (mask.astype(np.float32) / np.float32(1 - p)), dropped, "dropout")


@parity
@pytest.mark.parametrize("fan_in, fan_out", [(50, 30), (1, 1), (784, 128), (3, 7)])
def test_linear_init_matches_torch(torch, fan_in, fan_out):
    """nn.Linear: kaiming_uniform_(a=sqrt(5)) on the (out, in) weight, then the bias, on the default generator."""
    torch.manual_seed(123)
    layer = torch.nn.Linear(fan_in, fan_out)
    fr.manual_seed(123)
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
    bound = math.sqrt(3.0) * gain / math.sqrt(fan_in)
    weight = fr.uniform_(np.empty((fan_out, fan_in), np.float32), -bound, bound)
    bias = fr.uniform_(np.empty(fan_out, np.float32), -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
    assert_same_draws(weight, layer.weight.detach(), "weight")
    assert_same_draws(bias, layer.bias.detach(), "bias")
    np.testing.assert_array_equal(fr.get_rng_state(), torch.get_rng_state().numpy())


@parity
def test_states_move_between_torch_and_ours(torch):
    theirs = torch.Generator().manual_seed(99)
    torch.randn(3, generator=theirs)  # leaves a cached normal sample in the state
    ours = fr.Generator().set_state(theirs.get_state().numpy())
    assert_same_draws(fr.normal((5,), 0, 1, np.float64, ours), torch.randn(5, dtype=torch.float64, generator=theirs))
    fr.rand((700,), np.float32, ours)  # past a twist of the mt19937 block
    theirs.set_state(torch.from_numpy(ours.get_state()))
    assert_same_draws(fr.normal((3,), 0, 1, np.float32, ours), torch.randn(3, generator=theirs))
    assert_same_state(ours, theirs)


@parity
def test_seed_semantics_match_torch(torch):
    assert fr.Generator().initial_seed() == torch.Generator().initial_seed()
    for seed in [0, 5, -1, -(2**63), 2**64 - 1, 2**32 + 9]:
        ours, theirs = generators(torch, seed)
        assert ours.initial_seed() == theirs.initial_seed()
        assert_same_state(ours, theirs)
        assert_same_bits(fr.rand((4,), np.float32, ours), torch.rand(4, generator=theirs))
    for seed in [2**64, -(2**63) - 1]:
        with pytest.raises(ValueError):
            torch.Generator().manual_seed(seed)
        with pytest.raises(ValueError):
            fr.Generator().manual_seed(seed)


@parity
def test_data_loader_epochs_match_torch(torch):
    """Each epoch: the iterator's base seed, then RandomSampler's order (see sampler_permutation)."""
    from torch.utils.data import DataLoader
    dataset = list(range(37))

    def torch_epochs(loader, count):
        epochs = []
        for _ in range(count):
            batches = iter(loader)
            epochs.append((batches._base_seed, [int(i) for batch in batches for i in batch]))
        return epochs

    for seed in SEEDS[:4]:
        torch.manual_seed(seed)
        expected = torch_epochs(DataLoader(dataset, batch_size=4, shuffle=True), 3)
        fr.manual_seed(seed)
        assert [(fr.random_int64(), fr.sampler_permutation(37).tolist()) for _ in range(3)] == expected
        np.testing.assert_array_equal(fr.get_rng_state(), torch.get_rng_state().numpy())

        ours, theirs = generators(torch, seed)  # a loader with its own generator
        expected = torch_epochs(DataLoader(dataset, batch_size=4, shuffle=True, generator=theirs), 2)
        assert [(fr.random_int64(ours), fr.sampler_permutation(37, ours).tolist()) for _ in range(2)] == expected
        assert_same_state(ours, theirs)

        torch.manual_seed(seed)  # no shuffle: the base seed is still drawn
        expected = torch_epochs(DataLoader(dataset, batch_size=4), 1)
        fr.manual_seed(seed)
        assert expected[0][0] == fr.random_int64()


@parity
def test_non_contiguous_arrays_fill_in_memory_order(torch):
    """A transposed tensor is filled in memory order; normal_ takes its serial path there, whatever the size."""
    for fill, fill_torch in [(lambda a, g: fr.uniform_(a, -1, 1, g), lambda t, g: t.uniform_(-1, 1, generator=g)),
                             (lambda a, g: fr.normal_(a, 0.5, 2, g), lambda t, g: t.normal_(0.5, 2, generator=g))]:
        ours, theirs = generators(torch, 31)
        got = fill(np.empty((50, 30), np.float32).T, ours)
        expected = fill_torch(torch.empty(50, 30).t(), theirs)
        assert_same_draws(np.ascontiguousarray(got), expected.contiguous())
        assert_same_state(ours, theirs)


# PyTorch fixes its CPU capability when it starts, so each one is checked in a fresh process that runs the
# stream parity tests under it: exact under AVX2 and AVX512, near under DEFAULT (helpers.assert_same_draws).
CAPABILITY_ORDER = ("DEFAULT", "AVX2", "AVX512")
STREAM_PARITY_TESTS = [__file__, "tests/nn/test_init.py::test_seeded_fills_equal_torch",
                       "tests/nn/test_linear.py::test_manual_seed_gives_torch_weights"]


@pytest.fixture(scope="module")
def best_capability(torch):
    """What PyTorch picks on this CPU when ATEN_CPU_CAPABILITY does not say."""
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@parity
@pytest.mark.parametrize("capability", CAPABILITY_ORDER)
def test_stream_parity_under_each_cpu_capability(torch, best_capability, capability):
    if best_capability not in CAPABILITY_ORDER:
        pytest.skip(f"PyTorch runs {best_capability} kernels here, none of {CAPABILITY_ORDER}")
    if CAPABILITY_ORDER.index(capability) > CAPABILITY_ORDER.index(best_capability):
        pytest.skip(f"this CPU offers PyTorch {best_capability} at most: its {capability} kernels cannot run here")
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability.lower()}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *STREAM_PARITY_TESTS,
               "-k", "not under_each_cpu_capability", "-m", "requires_torch or uses_random"]
    run = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " skipped" not in run.stdout, run.stdout[-2000:]


# ---- without PyTorch ----------------------------------------------------------------------------

SAMPLERS = {
    "rand": lambda g: fr.rand((40,), np.float32, g),
    "uniform_": lambda g: fr.uniform_(np.empty(40, np.float64), -3, 3, g),
    "normal": lambda g: fr.normal((40,), 0, 1, np.float32, g),
    "normal_small": lambda g: fr.normal((5,), 0, 1, np.float64, g),
    "randint": lambda g: fr.randint(-5, 5, (40,), np.int64, g),
    "randperm": lambda g: fr.randperm(40, np.int64, g),
    "bernoulli_mask": lambda g: fr.bernoulli_mask((40,), 0.5, g),
}


@pytest.mark.parametrize("name", SAMPLERS)
def test_same_seed_same_values_other_seed_other_values(name):
    draw = SAMPLERS[name]
    first = draw(fr.Generator().manual_seed(5))
    np.testing.assert_array_equal(first, draw(fr.Generator().manual_seed(5)))
    assert not np.array_equal(first, draw(fr.Generator().manual_seed(6)))


def test_state_round_trip_restores_the_stream():
    generator = fr.Generator().manual_seed(11)
    fr.normal((3,), 0, 1, np.float64, generator)  # odd count: a cached sample is part of the state
    state = generator.get_state()
    assert state.dtype == np.uint8 and state.shape == (5056,)
    first = [draw(generator) for draw in SAMPLERS.values()]
    generator.set_state(state)
    for value, draw in zip(first, SAMPLERS.values()):
        np.testing.assert_array_equal(value, draw(generator))


def test_module_functions_act_on_the_default_generator():
    assert fr.manual_seed(3) is fr.default_generator and fr.initial_seed() == 3
    state = fr.get_rng_state()
    first = fr.rand((8,))
    fr.set_rng_state(state)
    np.testing.assert_array_equal(first, fr.rand((8,)))
    seed = fr.seed()
    assert fr.initial_seed() == seed and 0 <= seed < 2**64 and seed != fr.seed()
    generator = fr.Generator()
    assert generator.device == "cpu" and generator.manual_seed(1) is generator
    with pytest.raises(ValueError):
        fr.Generator("cuda")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_shapes_dtypes_and_ranges(dtype):
    generator = fr.Generator().manual_seed(0)
    values = fr.rand((3, 4, 5), dtype, generator)
    assert values.shape == (3, 4, 5) and values.dtype == dtype
    assert 0 <= values.min() and values.max() < 1
    for low, high in BOUNDS:
        if high > float(ml_dtypes.finfo(dtype).max):
            continue
        values = fr.uniform_(np.empty(20000, dtype), low, high, generator).astype(np.float64)
        in_dtype = (lambda v: v) if dtype == np.float64 else (lambda v: float(np.float32(v).astype(dtype)))
        assert in_dtype(low) <= values.min() and values.max() < in_dtype(high)
    assert fr.normal((2, 9), 0, 1, dtype, generator).shape == (2, 9)
    assert fr.normal((), 0, 1, dtype, generator).dtype == dtype
    integers = fr.randint(-3, 4, (500,), np.int32, generator)
    assert integers.dtype == np.int32 and set(integers.tolist()) == set(range(-3, 4))
    permutation = fr.randperm(257, np.int16, generator)
    assert permutation.dtype == np.int16 and sorted(permutation.tolist()) == list(range(257))
    mask = fr.bernoulli_mask((4, 6), 0.5, generator)
    assert mask.dtype == np.bool_ and mask.shape == (4, 6)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("contiguous", [True, False])
def test_moments(dtype, contiguous):
    generator = fr.Generator().manual_seed(1)
    array = np.empty((200, 100), dtype) if contiguous else np.empty((100, 200), dtype).T
    values = fr.normal_(array, 1.5, 0.5, generator).astype(np.float64)
    assert abs(values.mean() - 1.5) < 0.02 and abs(values.std() - 0.5) < 0.02
    values = fr.uniform_(array, -1, 3, generator).astype(np.float64)
    assert abs(values.mean() - 1) < 0.05 and abs(values.var() - 16 / 12) < 0.05
    assert abs(fr.bernoulli_mask((20000,), 0.3, generator).mean() - 0.3) < 0.02


def test_fma_emulations_round_correctly():
    """_fma64 and _fma32 against exact rational arithmetic, on random and cancelling inputs."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(3000), rng.standard_normal(3000)
    cancel = -(a * b) * (1 + rng.integers(-4, 5, 3000) * 2.0**-52)  # c near -a*b: the product's low bits decide
    for c in (rng.standard_normal(3000), cancel, np.full(3000, 1e-30), np.full(3000, 3.0)):
        exact = [Fraction(x) * Fraction(y) + Fraction(z) for x, y, z in zip(a, b, c)]
        np.testing.assert_array_equal(fr._fma64(a, b, c), [float(v) for v in exact])
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    for c in (rng.standard_normal(3000), -(a32.astype(np.float64) * b32), np.full(3000, 1e-3)):
        c32 = c.astype(np.float32)
        exact = [Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)) for x, y, z in zip(a32, b32, c32)]
        np.testing.assert_array_equal(fr._fma32(a32, b32, c32), [_nearest_float32(v) for v in exact])


def _nearest_float32(exact):
    """Round a Fraction to float32, ties to even (going through float64 could round twice)."""
    guess = np.float32(float(exact))
    candidates = [guess, np.nextafter(guess, np.float32(np.inf)), np.nextafter(guess, np.float32(-np.inf))]
    return min(candidates, key=lambda f: (abs(Fraction(float(f)) - exact), int(np.array(f).view(np.int32)) & 1))


def test_fma32_resolves_halfway_double_rounding():
    """1 + a*b = 1 + 2^-24 + 2^-60: float64 rounds it onto the float32 halfway point 1 + 2^-24,
    which ties down to 1; the exact sum is above it and rounds up."""
    a, b, c = np.float32(2.0**-24 * (1 + 2.0**-12)), np.float32(1 - 2.0**-12 + 2.0**-24), np.float32(1)
    assert np.float32(float(a) * float(b) + float(c)) == 1  # the naive way gets it wrong
    assert fr._fma32(np.array([a]), b, c)[0] == np.float32(1 + 2.0**-23)


def test_invalid_arguments_raise():
    with pytest.raises(RuntimeError):
        fr.randint(5, 5, (3,))
    with pytest.raises(RuntimeError):
        fr.Generator().set_state(np.zeros(100, np.uint8))
    with pytest.raises(TypeError):
        fr.uniform_(np.empty(4, np.int64))
    for dtype, low, high in [(np.float32, 3, 2), (np.float16, -6e4, 6e4), (np.float16, 1000, 66000)]:
        with pytest.raises(RuntimeError):  # PyTorch's checks: [low, high) and high - low within the dtype
            fr.uniform_(np.empty(4, dtype), low, high)
    with pytest.raises(TypeError):
        fr.normal_(np.empty(4, np.int32))
    with pytest.raises(RuntimeError):
        fr.normal((3,), 0.0, -1.0)
