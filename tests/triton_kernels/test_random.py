"""Philox random fills through Triton's interpreter (conftest sets TRITON_INTERPRET=1) against a numpy Philox4x32-10,
plus ahead-of-time compiles for sm_80/sm_90 (no register spills)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import random as rnd
from triton_kernels.host_tensor import HostTensor

FLOATS = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
SEED = 0x1234_5678_9ABC_DEF0


def philox(seed, counters):
    """Philox4x32-10 of (counter lo, counter hi, 0, 0) under key (seed lo, seed hi): four uint32 arrays."""
    counters = np.asarray(counters, np.uint64)
    c0, c1 = counters & np.uint64(0xFFFFFFFF), counters >> np.uint64(32)
    c2 = c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    mask = np.uint64(0xFFFFFFFF)
    for _ in range(10):
        p0, p2 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p2 >> np.uint64(32)) ^ c1 ^ k0, p2 & mask, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & mask
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & mask, (k1 + np.uint64(0xBB67AE85)) & mask
    return [c.astype(np.uint32) for c in (c0, c1, c2, c3)]


def words32(seed, offset, n):
    """The 32-bit word of each of n elements: word i % 4 of counter offset + i // 4."""
    return np.stack(philox(seed, offset + np.arange(-(-n // 4))), axis=1).reshape(-1)[:n]


def words64(seed, offset, n):
    r = np.stack(philox(seed, offset + np.arange(-(-n // 2))), axis=1).astype(np.uint64)
    pairs = (r[:, 0::2] << np.uint64(32)) | r[:, 1::2]
    return pairs.reshape(-1)[:n]


def unit_float32(words):
    """Triton's uint_to_uniform_float: 31 bits, in [0, 1)."""
    x = words.view(np.int32)
    x = np.where(x < 0, ~x, x)
    return x.astype(np.float32) * np.float32(4.6566127342e-10)


def to_dtype(x, dtype):
    """float32 `x` as the interpreter stores it in `dtype`: it truncates float32 to bfloat16 (a GPU rounds to
    nearest even, as numpy does for the other dtypes)."""
    if dtype == "bfloat16":
        x = (np.asarray(x, np.float32).view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    return np.asarray(x).astype(FLOATS[dtype])


def fill(fn, shape, dtype, *args, **kwargs):
    out = np.full(shape, 7, dtype)
    used = fn(HostTensor(out), *args, **kwargs)
    return out, used


@pytest.mark.parametrize("n", [0, 1, 7, 1000, 4099])
def test_words_match_numpy_philox(n):
    """randint over [0, 2**32) stores the raw words: bit-exact against the numpy Philox, counters = ceil(n / 4)."""
    out, used = fill(rnd.randint_fill, (n,), np.int64, SEED, 5, 0, 2**32)
    assert used == -(-n // 4)
    np.testing.assert_array_equal(out, words32(SEED, 5, n).astype(np.int64))


@pytest.mark.parametrize("block_size", [4, 64, 1024, 16384])
@pytest.mark.parametrize("fn,dtype", [(rnd.uniform_fill, np.float32), (rnd.normal_fill, np.float16),
                                      (rnd.uniform_fill, np.float64)])
def test_numbers_depend_on_element_index_not_launch(block_size, fn, dtype):
    """Any block size gives the same numbers, and a fill at offset k continues one at offset 0 after k counters."""
    n = {4: 103, 64: 1030}.get(block_size, 4099)  # the interpreter pays per program
    base, used = fill(fn, (n,), dtype, SEED, 0, block_size=16384)
    out, _ = fill(fn, (n,), dtype, SEED, 0, block_size=block_size)
    np.testing.assert_array_equal(out, base)
    k, words = used - 10, 2 if dtype == np.float64 else 4
    later, _ = fill(fn, (n - words * k,), dtype, SEED, k, block_size=block_size)
    np.testing.assert_array_equal(later, base[words * k:])
    other_seed, _ = fill(fn, (n,), dtype, SEED + 1, 0, block_size=block_size)
    assert np.mean(other_seed == base) < 0.01


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 3, 2**64 - 1])
def test_uniform_float32_exact_for_every_seed_width(seed):
    out, _ = fill(rnd.uniform_fill, (7, 13), np.float32, seed, 2**40 + 3)  # a 64-bit counter
    np.testing.assert_array_equal(out.reshape(-1), unit_float32(words32(seed, 2**40 + 3, 91)))


@pytest.mark.parametrize("dtype", list(FLOATS))
@pytest.mark.parametrize("low,high", [(0.0, 1.0), (-3.0, 5.5), (2.0, 2.0)])
def test_uniform_dtypes_and_range(dtype, low, high):
    n = 20000
    out, used = fill(rnd.uniform_fill, (n,), FLOATS[dtype], SEED, 11, low, high)
    values = out.astype(np.float64)
    if dtype == "float64":  # 53 bits from two words, float64 math
        assert used == n // 2
        expected = low + (words64(SEED, 11, n) >> np.uint64(11)).astype(np.float64) * 2.0**-53 * (high - low)
        np.testing.assert_allclose(values, expected, rtol=1e-15, atol=1e-15)
    else:  # float32 from 31 bits, then rounded to the dtype
        assert used == n // 4
        expected = to_dtype(np.float32(low) + unit_float32(words32(SEED, 11, n)) * np.float32(high - low), dtype)
        expected = np.where(expected == FLOATS[dtype](high), FLOATS[dtype](low), expected)
        np.testing.assert_allclose(values, expected.astype(np.float64), rtol=1e-6, atol=1e-6)
    if high > low:
        assert np.all((values >= low) & (values < high))  # `high` itself never appears: rounded-up values become low
        assert abs(values.mean() - (low + high) / 2) < 0.02 * (high - low)
        assert abs(values.std() - (high - low) / 12 ** 0.5) < 0.02 * (high - low)
    else:
        assert np.all(values == low)


def test_uniform_rounding_to_high_becomes_low():
    """float16 in [512, 1024) has steps of 0.5: U[1000, 1024) rounds up to 1024 for ~1% of the draws; those must
    read 1000, as PyTorch. (bfloat16 would do, but the interpreter truncates float32 to bfloat16: no round-ups.)"""
    out, _ = fill(rnd.uniform_fill, (20000,), np.float16, SEED, 0, 1000.0, 1024.0)
    u = unit_float32(words32(SEED, 0, 20000))
    rounds_up = (np.float32(1000) + u * np.float32(24)).astype(np.float16) == 1024
    assert rounds_up.sum() > 50
    assert np.all(out[rounds_up] == 1000) and np.all(out < 1024)


@pytest.mark.parametrize("dtype", list(FLOATS))
def test_normal_matches_box_muller_and_moments(dtype):
    n, mean, std = 40000, 1.5, 2.0
    out, used = fill(rnd.normal_fill, (n,), FLOATS[dtype], SEED, 3, mean, std)
    assert used == n // 4
    u = unit_float32(words32(SEED, 3, n)).astype(np.float64).reshape(-1, 2)
    radius = np.sqrt(-2.0 * np.log(np.maximum(u[:, 0], 1e-7)))
    z = np.stack([radius * np.cos(2 * np.pi * u[:, 1]), radius * np.sin(2 * np.pi * u[:, 1])], axis=1).reshape(-1)
    tol = {"float32": 1e-4, "float64": 1e-4, "float16": 4e-3, "bfloat16": 3e-2}[dtype]
    np.testing.assert_allclose(out.astype(np.float64), mean + std * z, rtol=tol, atol=tol)
    values = out.astype(np.float64)
    assert abs(values.mean() - mean) < 0.05 and abs(values.std() - std) < 0.05
    assert abs(np.mean(np.abs(values - mean) < std) - 0.6827) < 0.01


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int32, np.float32, ml_dtypes.bfloat16, np.float64])
def test_bernoulli_scalar_p(dtype):
    n, p = 20000, 0.3
    out, used = fill(rnd.bernoulli_fill, (n,), dtype, SEED, 8, p)
    assert used == n // 4
    expected = unit_float32(words32(SEED, 8, n)) < np.float32(p)
    np.testing.assert_array_equal(out.astype(bool), expected)
    assert set(np.unique(out.astype(np.float64))) <= {0.0, 1.0}
    assert abs(out.astype(np.float64).mean() - p) < 0.02


@pytest.mark.parametrize("p_dtype", [np.float32, np.float16, np.float64])
def test_bernoulli_per_element_probabilities(p_dtype):
    rng = np.random.default_rng()
    probs = rng.uniform(0, 1, (7, 13)).astype(p_dtype)
    probs[0, :3] = [0.0, 1.0, 0.5]
    out, _ = fill(rnd.bernoulli_fill, (7, 13), np.float32, SEED, 0, HostTensor(probs))
    expected = unit_float32(words32(SEED, 0, 91)) < probs.reshape(-1).astype(np.float32)
    np.testing.assert_array_equal(out.reshape(-1).astype(bool), expected)
    assert out[0, 0] == 0 and out[0, 1] == 1


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint8, np.float32, np.float64])
def test_randint_narrow_range(dtype):
    low, high = (0, 200) if dtype == np.uint8 else (-7, 93)
    out, used = fill(rnd.randint_fill, (5000,), dtype, SEED, 2, low, high)
    assert used == 1250
    expected = low + (words32(SEED, 2, 5000).astype(np.int64) % (high - low))
    np.testing.assert_array_equal(out.astype(np.int64), expected)
    assert len(np.unique(out)) == high - low


def test_randint_wide_range_uses_64_bit_words():
    low, high = -2**62, 2**62 - 1
    out, used = fill(rnd.randint_fill, (1001,), np.int64, SEED, 9, low, high)
    assert used == 501
    expected = (words64(SEED, 9, 1001) % np.uint64(high - low)).astype(np.int64) + low
    np.testing.assert_array_equal(out, expected)
    assert out.min() < -2**60 and out.max() > 2**60


def test_launcher_checks():
    out = HostTensor(np.zeros(8, np.float32))
    with pytest.raises(TypeError, match="int32"):
        rnd.uniform_fill(HostTensor(np.zeros(8, np.int32)), 0, 0)
    with pytest.raises(ValueError, match="contiguous"):
        rnd.uniform_fill(HostTensor(np.zeros((4, 4), np.float32)[:, ::2]), 0, 0)
    with pytest.raises(ValueError, match="low <= high"):
        rnd.uniform_fill(out, 0, 0, 2.0, 1.0)
    with pytest.raises(ValueError, match="std"):
        rnd.normal_fill(out, 0, 0, 0.0, -1.0)
    with pytest.raises(ValueError, match="p <= 1"):
        rnd.bernoulli_fill(out, 0, 0, 1.5)
    with pytest.raises(ValueError, match="probabilities"):
        rnd.bernoulli_fill(out, 0, 0, HostTensor(np.zeros(7, np.float32)))
    with pytest.raises(ValueError, match="low < high"):
        rnd.randint_fill(HostTensor(np.zeros(8, np.int64)), 0, 0, 3, 3)
    with pytest.raises(ValueError, match="seed"):
        rnd.uniform_fill(out, 2**64, 0)
    with pytest.raises(ValueError, match="offset"):
        rnd.uniform_fill(out, 0, -1)
    with pytest.raises(ValueError, match="block_size"):
        rnd.uniform_fill(out, 0, 0, block_size=12)


# Ahead-of-time compiles at the shipped config: one per distribution, the widest paths (float64, 64-bit words).
AOT_CASES = [  # (name, out dtype, p dtype, DIST, WIDE, FP64, P_IS_ARRAY)
    ("uniform_bf16", "bf16", "bf16", rnd.UNIFORM, False, False, False),
    ("uniform_fp64", "fp64", "fp64", rnd.UNIFORM, True, True, False),
    ("normal_fp32", "fp32", "fp32", rnd.NORMAL, False, False, False),
    ("bernoulli_u1", "u1", "fp32", rnd.BERNOULLI, False, False, True),
    ("randint_i64", "i64", "i64", rnd.RANDINT, True, False, False),
]


def aot_jobs():
    labelled = []
    for arch in aot.ARCHITECTURES:
        for name, out_dt, p_dt, dist, wide, fp64, p_is_array in AOT_CASES:
            signature = dict(out_ptr=f"*{out_dt}", p_ptr=f"*{p_dt}", n_elements="i32", seed="u64", offset="i64",
                             a_bits="i64", b_bits="i64", c_bits="i64", int_low="i64", int_range="i64",
                             DIST="constexpr", WIDE="constexpr", FP64="constexpr", P_IS_ARRAY="constexpr",
                             BLOCK_SIZE="constexpr")
            constexprs = dict(DIST=dist, WIDE=wide, FP64=fp64, P_IS_ARRAY=p_is_array, BLOCK_SIZE=rnd._BLOCK_SIZE)
            labelled.append((name, aot.job(rnd._philox_fill_kernel, signature, constexprs, arch, rnd._NUM_WARPS)))
    return labelled


def test_random_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * len(AOT_CASES)
    aot.assert_no_spills(aot_results)
