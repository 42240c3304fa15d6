"""PyTorch's CPU random stream in numpy, bit for bit (see tests/test_random.py).

A Generator is an mt19937 stream (numpy's legacy RandomState yields PyTorch's words
for a seed) plus the normal sample PyTorch caches between calls; each sampler draws
words as PyTorch's CPU kernel does and returns a numpy array.

PyTorch picks its CPU kernels by capability (ATEN_CPU_CAPABILITY); these are bit for bit
those of its AVX2 and AVX512 kernels, i.e. every x86-64 CPU with AVX2: products and sums
fused as their FMA (_fma32, _fma64), float normal_ of 16+ elements through avx_mathfun's
log and sincos (emulated below), double normal_ through the C library's log/sin/cos
(`math`, not numpy's, whose AVX-512 versions round differently). Its DEFAULT kernels round
uniform_ and normal_ without FMA: values agree to ~1e-6 there (README, "Random numbers").
"""
import math
import os
import sys

import numpy as np

from .backends.device_backend import backend_for, loaded_backends
from .graphs import recording

_THIS_MODULE = sys.modules[__name__]  # the CPU backend's stream (backends/numpy/backend.py)
_FRESH_GENERATOR_SEED = 67280421310721  # torch.Generator().initial_seed()
_MT_WORDS = 624
_FLOAT16, _FLOAT32, _FLOAT64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


def _is_reduced(dtype):
    """float16 or bfloat16 (ml_dtypes', known by its name: asking must not import ml_dtypes)."""
    return dtype == _FLOAT16 or dtype.name == "bfloat16"


def _is_float(dtype):
    return dtype == _FLOAT32 or dtype == _FLOAT64 or _is_reduced(dtype)


def _finite_max(dtype):
    if dtype.kind == "f":  # numpy's own floats
        return float(np.finfo(dtype).max)
    import ml_dtypes  # bfloat16: loaded already, as the array exists
    return float(ml_dtypes.finfo(dtype).max)

# The bytes of torch.get_rng_state() (CPUGeneratorImplState): states move both ways.
_STATE_LAYOUT = np.dtype([
    ("initial_seed", "<u8"), ("left", "<i4"), ("seeded", "<i4"), ("next", "<u8"), ("mt", "<u8", (_MT_WORDS,)),
    ("normal_x", "<f8"), ("normal_y", "<f8"), ("normal_rho", "<f8"), ("normal_is_valid", "<i4"), ("pad", "V4"),
    ("float_normal", "<f4"), ("float_normal_is_valid", "u1"), ("pad2", "V3")])
assert _STATE_LAYOUT.itemsize == 5056


class Generator:
    """torch.Generator for the CPU. get_state() returns the 5056-byte uint8 array
    PyTorch's get_state() does; set_state() takes one (e.g. `torch_state.numpy()`)."""

    def __init__(self, device="cpu"):
        if str(device) != "cpu":
            raise ValueError(f"framework.random.Generator only supports cpu, got {device!r}")
        self.device = "cpu"
        self.manual_seed(_FRESH_GENERATOR_SEED)

    def manual_seed(self, seed):
        seed = int(seed)
        if not -2**63 <= seed < 2**64:
            raise ValueError("Overflow when unpacking long long")  # PyTorch's words
        self._initial_seed = seed % 2**64  # negative seeds wrap, as in PyTorch
        self._mt = np.random.RandomState(self._initial_seed & 0xFFFFFFFF)
        self._cached_normal = None     # PyTorch's next_double_normal_sample
        self._float_normal = (0.0, 0)  # its float twin, unused on CPU: kept for get/set_state
        return self

    def seed(self):
        self.manual_seed(seed := int.from_bytes(os.urandom(8), "little"))
        return seed

    def initial_seed(self):
        return self._initial_seed

    def get_state(self):
        _, key, pos, _, _ = self._mt.get_state(legacy=True)
        state = np.zeros((), _STATE_LAYOUT)
        state["initial_seed"], state["seeded"], state["mt"] = self._initial_seed, 1, key
        # numpy counts the words used from this block (pos); PyTorch counts the
        # ones left and reads at `next`, which a fresh seed leaves at 0.
        state["left"] = _MT_WORDS + 1 - pos
        fresh = pos == _MT_WORDS and np.array_equal(
            key, np.random.RandomState(self._initial_seed & 0xFFFFFFFF).get_state()[1])
        state["next"] = 0 if fresh else pos
        if self._cached_normal is not None:
            state["normal_is_valid"], state["normal_y"] = 1, self._cached_normal
        state["float_normal"], state["float_normal_is_valid"] = self._float_normal
        return np.frombuffer(state.tobytes(), np.uint8).copy()

    def set_state(self, new_state):
        raw = np.ascontiguousarray(new_state, dtype=np.uint8).tobytes()
        if len(raw) != _STATE_LAYOUT.itemsize:
            raise RuntimeError(f"RNG state must have {_STATE_LAYOUT.itemsize} bytes, got {len(raw)}")
        state = np.frombuffer(raw, _STATE_LAYOUT)[0]
        left = int(state["left"])
        if not (state["seeded"] and 0 < left <= _MT_WORDS):
            raise RuntimeError("Invalid mt19937 state")
        self._initial_seed = int(state["initial_seed"])
        self._mt = np.random.RandomState()
        self._mt.set_state(("MT19937", state["mt"].astype(np.uint32), _MT_WORDS + 1 - left, 0, 0.0))
        self._cached_normal = float(state["normal_y"]) if state["normal_is_valid"] else None
        self._float_normal = (float(state["float_normal"]), int(state["float_normal_is_valid"]))
        return self

    def _words(self, count):  # the next `count` 32-bit outputs
        if recording.ACTIVE is not None:
            recording.refuse_random_draw()  # a graph capture records draws as host ops, or refuses them
        return self._mt.randint(0, 2**32, size=count, dtype=np.uint32)

    def _words64(self, count):  # PyTorch's random64(): two words, the first one high
        pairs = self._words(2 * count).astype(np.uint64)
        return (pairs[0::2] << np.uint64(32)) | pairs[1::2]


default_generator = Generator()
default_generator.seed()  # PyTorch too seeds its default generator nondeterministically at import

# The seed of the last manual_seed (None: never called): a device backend loaded after it (cuda's imports Triton,
# so it loads on first use) seeds its default generator with it.
last_manual_seed = None


def manual_seed(seed):
    """Seed the default generator of every device, as torch.manual_seed does; returns the CPU generator."""
    global last_manual_seed
    default_generator.manual_seed(seed)  # first: an out-of-range seed raises before any device is seeded
    last_manual_seed = seed
    for backend in loaded_backends():
        if backend.random is not _THIS_MODULE:
            backend.random.default_generator.manual_seed(seed)
    return default_generator


def for_device(device, generator):
    """The random stream of `device` (None: the CPU) -- this module on the CPU, its backend's on other devices --
    after checking that `generator`, when given, is one of that device's."""
    kind = "cpu" if device is None else getattr(device, "type", str(device).split(":")[0])
    if generator is not None and getattr(generator, "device", "cpu") != kind:
        raise RuntimeError(f"Expected a '{kind}' device type for generator but found "
                           f"'{getattr(generator, 'device', 'cpu')}'")
    return backend_for(kind).random


seed = default_generator.seed
initial_seed = default_generator.initial_seed
get_rng_state = default_generator.get_state
set_rng_state = default_generator.set_state


def _unit24(words):  # float uniforms in [0, 1): the low 24 bits of a word (as float64)
    return (words & np.uint32(0xFFFFFF)).astype(np.float64) * 2.0**-24


def _unit53(words64):  # double uniforms in [0, 1): the low 53 bits of a 64-bit draw
    return (words64 & np.uint64(2**53 - 1)).astype(np.float64) * 2.0**-53


def _cast(values, dtype):
    """C++ static_cast: float16/bfloat16 are built from float, so a double rounds twice."""
    return np.asarray(values, np.float32 if _is_reduced(dtype) else None).astype(dtype)


def _fill_in_memory_order(array, values):
    """Write `values` in the order PyTorch's TensorIterator visits `array`: memory order."""
    view = array.transpose(sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis])))
    view[...] = values.reshape(view.shape)
    return array


def _two_sum(a, b):  # a + b rounded, and its exact rounding error
    total = a + b
    b_part = total - a
    return total, (a - (total - b_part)) + (b - b_part)


def _round_to_odd(total, error):
    """total + error rounded to odd (total is it rounded to nearest): rounding it again is exact."""
    inexact_even = (error != 0) & ((total.view(np.int64) & 1) == 0)
    return np.where(inexact_even, np.nextafter(total, np.copysign(np.inf, error)), total)


def _fma64(a, b, c):
    """Correctly rounded float64 a * b + c, the FMA PyTorch's compiler emits for `a * b + c`.
    Boldo & Melquiond's emulation: exact product (Dekker), exact sum, tails rounded to odd."""
    a, b, c = (np.asarray(v, np.float64) for v in (a, b, c))
    if np.all(np.abs(np.frexp(b)[0]) == 0.5):  # b a power of two: a * b is exact, one rounding
        return a * b + c
    product = a * b
    a_hi, b_hi = (v * 134217729.0 - (v * 134217729.0 - v) for v in (a, b))  # Veltkamp split
    a_lo, b_lo = a - a_hi, b - b_hi
    product_error = ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    high, low = _two_sum(c, product)
    return high + _round_to_odd(*_two_sum(low, product_error))


def _fma32(a, b, c):
    """Correctly rounded float32 a * b + c (vfmadd). The product is exact in float64,
    so only the float64 sum rounds; that spoils the float32 rounding only when it
    lands exactly halfway between two floats, where rounding to odd repairs it.
    (Values here stay clear of float32 subnormals, whose halfway bit sits elsewhere.)"""
    a, b, c = (np.asarray(v, np.float64) for v in (a, b, c))
    product = a * b
    total = product + c
    halfway = (total.view(np.uint64) & np.uint64(2**29 - 1)) == np.uint64(2**28)
    if halfway.any():
        error = _two_sum(product[halfway], np.broadcast_to(c, total.shape)[halfway])[1]
        total[halfway] = _round_to_odd(total[halfway], error)
    return total.astype(np.float32)


def uniform_(array, low=0.0, high=1.0, generator=None):
    """tensor.uniform_(low, high) on a float numpy array, in place."""
    gen, dtype = generator or default_generator, array.dtype
    if not _is_float(dtype):
        raise TypeError(f"uniform_ expects a floating array, got {dtype}")
    finite_max = _finite_max(dtype)
    if not (-finite_max <= float(low) <= float(high) <= finite_max and float(high) - float(low) <= finite_max):
        raise RuntimeError(f"uniform_ expects low <= high, both and high - low within {dtype}: [{low}, {high})")
    if dtype == _FLOAT64:
        values = _fma64(_unit53(gen._words64(array.size)), float(high) - float(low), float(low))
    else:  # float16/bfloat16 are drawn as float32, then rounded
        start, span = np.float32(low), np.float32(np.float32(high) - np.float32(low))
        # PyTorch computes in double; 24-bit x * 24-bit span is exact there, so one rounding.
        values = _cast(_unit24(gen._words(array.size)) * float(span) + float(start), dtype)
    values[values == _cast(high, dtype)] = _cast(low, dtype)  # PyTorch maps a rounded-up `high` to `low`
    return _fill_in_memory_order(array, values)


def rand(shape, np_dtype=np.float32, generator=None):
    return uniform_(np.empty(shape, np_dtype), 0.0, 1.0, generator)


_LOG_POLY = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
             1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]


def _avx_log(x):
    """log256_ps of PyTorch's avx_mathfun.h (cephes logf) for float32 x in (0, 1]. PyTorch's
    compiler turns each mul+add pair here and in _avx_sincos into an FMA of the product
    computed first (found against torch 2.13; unfused, ~1% of randn values differ): each _fma32."""
    bits = x.view(np.int32)
    exponent = ((bits >> 23) - 126).astype(np.float32)
    x = ((bits & ~0x7F800000) | 0x3F000000).view(np.float32)  # mantissa in [0.5, 1)
    small = x < np.float32(0.707106781186547524)
    exponent -= small.astype(np.float32)
    x = (x - np.float32(1)) + np.where(small, x, np.float32(0))
    z = x * x
    y = np.full_like(x, _LOG_POLY[0])
    for coefficient in _LOG_POLY[1:]:
        y = _fma32(y, x, np.float32(coefficient))
    y = _fma32(y * x, z, exponent * np.float32(-2.12194440e-4))
    y = _fma32(-z, np.float32(0.5), y)
    return _fma32(exponent, np.float32(0.693359375), x + y)


def _avx_sincos(x):
    """sincos256_ps of avx_mathfun.h (cephes sinf/cosf) for float32 x in [0, 2pi)."""
    octant = ((x * np.float32(1.27323954473516)).astype(np.int32) + 1) & ~1
    y = octant.astype(np.float32)
    for pi_over_4_part in (-0.78515625, -2.4187564849853515625e-4, -3.77489497744594108e-8):
        x = _fma32(y, np.float32(pi_over_4_part), x)
    z = x * x
    cos_poly = np.full_like(x, 2.443315711809948e-5)
    for coefficient in (-1.388731625493765e-3, 4.166664568298827e-2):
        cos_poly = _fma32(cos_poly, z, np.float32(coefficient))
    cos_poly = _fma32(cos_poly * z, z, -(z * np.float32(0.5))) + np.float32(1)
    sin_poly = np.full_like(x, -1.9515295891e-4)
    for coefficient in (8.3321608736e-3, -1.6666654611e-1):
        sin_poly = _fma32(sin_poly, z, np.float32(coefficient))
    sin_poly = _fma32(sin_poly * z, x, x)
    use_sin_poly = (octant & 2) == 0
    # The blend adds +0.0 (-0.0 becomes +0.0), then the sign is xor-ed in.
    sin = (np.where(use_sin_poly, sin_poly, cos_poly) + np.float32(0)).view(np.int32)
    cos = (np.where(use_sin_poly, cos_poly, sin_poly) + np.float32(0)).view(np.int32)
    return (sin ^ ((octant & 4) << 29)).view(np.float32), (cos ^ ((~(octant - 2) & 4) << 29)).view(np.float32)


def _libm(function, x):
    """A `math` function (the C library's, which PyTorch's double kernel calls) on each element of
    float64 `x`. numpy's own log/sin/cos are not used: on AVX-512 CPUs numpy runs its SIMD versions,
    which differ from libm's in the last bit. Costs ~0.2 us an element (1e6 randn doubles: ~0.3 s)."""
    return np.fromiter(map(function, x.ravel().tolist()), np.float64, x.size).reshape(x.shape)


# Rows of 16 per step: the transform's ~150 temporaries stay at 64 KiB and in
# cache; whole-array passes measured 2-5x slower on 1e6 floats (2-core dev box).
_ROWS_PER_STEP = 1024


def _box_muller(uniforms, mean, std):
    """normal_fill_16 on each row of 16 uniforms: u1 from its first 8, u2 from its last 8."""
    normals = np.empty((len(uniforms) // 16, 16), uniforms.dtype)
    for start in range(0, len(normals), _ROWS_PER_STEP):
        step = slice(start, start + _ROWS_PER_STEP)
        rows = uniforms.reshape(-1, 16)[step]
        if uniforms.dtype == _FLOAT64:
            radius = np.sqrt(-2.0 * _libm(math.log, 1.0 - rows[:, :8]))
            theta = 2.0 * math.pi * rows[:, 8:]
            sin, cos, fma = _libm(math.sin, theta), _libm(math.cos, theta), _fma64
        else:  # float32 math throughout, mean and std included
            radius = np.sqrt(np.float32(-2) * _avx_log(np.float32(1) - rows[:, :8]))
            sin, cos = _avx_sincos(np.float32(2.0 * math.pi) * rows[:, 8:])
            fma, mean, std = _fma32, np.float32(mean), np.float32(std)
        normals[step, :8], normals[step, 8:] = fma(radius * cos, std, mean), fma(radius * sin, std, mean)
    return normals.reshape(-1)


def _normal_serial(gen, count, mean, std):
    """normal_distribution<double>: double Box-Muller, its second value cached for the next call."""
    values = []
    if count and gen._cached_normal is not None:
        values, gen._cached_normal = [gen._cached_normal], None
    uniforms = _unit53(gen._words64(2 * ((count - len(values) + 1) // 2))).tolist()
    for u1, u2 in zip(uniforms[0::2], uniforms[1::2]):
        radius = math.sqrt(-2.0 * math.log1p(-u2))  # `math` is libm, as PyTorch calls it
        values += [radius * math.cos(2.0 * math.pi * u1), radius * math.sin(2.0 * math.pi * u1)]
    if len(values) > count:
        gen._cached_normal = values.pop()
    return _fma64(np.array(values, np.float64), std, mean)


def normal_(array, mean=0.0, std=1.0, generator=None):
    """tensor.normal_(mean, std) on a float numpy array, in place."""
    gen, dtype, count = generator or default_generator, array.dtype, array.size
    if not _is_float(dtype):
        raise TypeError(f"normal_ expects a floating array, got {dtype}")
    if not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    if count < 16 or not array.flags.c_contiguous:
        return _fill_in_memory_order(array, _cast(_normal_serial(gen, count, mean, std), dtype))
    # Box-Muller on blocks of 16 uniforms; a ragged end redoes the last 16 elements from
    # 16 fresh ones. float32/64 draw all `count` uniforms first, float16/bfloat16 per block.
    def draw(n):
        return _unit53(gen._words64(n)) if dtype == _FLOAT64 else _unit24(gen._words(n)).astype(np.float32)
    whole = count - count % 16
    uniforms = draw(count if dtype in (_FLOAT32, _FLOAT64) else whole)
    values = np.empty(count, uniforms.dtype)
    values[:whole] = _box_muller(uniforms[:whole], mean, std)
    if whole != count:
        values[count - 16:] = _box_muller(draw(16), mean, std)
    array[...] = _cast(values, dtype).reshape(array.shape)
    return array


def normal(shape, mean=0.0, std=1.0, np_dtype=np.float32, generator=None):
    """torch.normal(mean, std, shape); torch.randn(shape) with the defaults."""
    return normal_(np.empty(shape, np_dtype), mean, std, generator)


def randint(low, high, shape, np_dtype=np.int64, generator=None):
    """torch.randint(low, high, shape): low + word % (high - low). Float dtypes match while
    low and high - 1 are integers the dtype holds exactly (beyond, PyTorch warns and shifts them)."""
    gen, span = generator or default_generator, int(high) - int(low)
    if span <= 0:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    count = int(np.prod(shape, dtype=np.int64))
    wide = span >= 2**28  # PyTorch 2.13 draws 64 bits per value from 2^28 on (measured)
    offsets = gen._words64(count) if wide else gen._words(count).astype(np.uint64)
    offsets %= np.uint64(span)
    values = (offsets + np.uint64(int(low) % 2**64)).view(np.int64).reshape(shape)
    return _cast(values, np.dtype(np_dtype))


def randperm(n, np_dtype=np.int64, generator=None):
    """torch.randperm(n): for each i, swap r[i] with r[i + word % (n - i)]."""
    gen = generator or default_generator
    if n >= (2**32 - 1) // 20:  # PyTorch switches to a 64-bit algorithm there
        raise NotImplementedError(f"randperm({n}) is not reproduced for n >= 214748364")
    order, steps = list(range(n)), max(n - 1, 0)
    partners = (gen._words(steps) % np.arange(n, 1, -1, dtype=np.uint32) + np.arange(steps)).tolist()
    for i, j in enumerate(partners):  # inherently sequential: a plain loop over lists
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64).astype(np_dtype)


def random_int64(generator=None):
    """torch.empty((), dtype=torch.int64).random_().item(): 63 bits of one 64-bit draw."""
    return int((generator or default_generator)._words64(1)[0] & np.uint64(2**63 - 1))


def bernoulli_mask(shape, p, generator=None):
    """Boolean mask, True with probability p, drawn as tensor.bernoulli_(p) on CPU:
    u < p for a double uniform u (two words) per element.
    torch.nn.functional.dropout(x, p) is x * (mask / (1 - p)) with
    mask = bernoulli_mask(x.shape, 1 - p), the division in x's dtype."""
    count = int(np.prod(shape, dtype=np.int64))
    return (_unit53((generator or default_generator)._words64(count)) < float(p)).reshape(shape)


def sampler_permutation(n, generator=None):
    """One full epoch of RandomSampler (no replacement) over n items.
    Without a generator it seeds a fresh one from random_int64() of the default
    generator (mt19937 keeps the low 32 bits). Its empty `num_samples % n` tail
    is a second randperm, which shows only on a caller's generator. A DataLoader
    iterator first draws its base seed, random_int64(loader.generator), when created."""
    if generator is None:
        return randperm(n, generator=Generator().manual_seed(random_int64()))
    order = randperm(n, generator=generator)
    generator._words(max(n - 1, 0))  # the tail randperm: its words are drawn, its result dropped
    return order
