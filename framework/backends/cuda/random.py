"""The `cuda` random stream: a generator is a Philox key (the seed) and a counter offset, as PyTorch's.

Every fill draws from the counters [offset, offset + used) (triton_kernels/random.py: element i takes word
i % 4 of counter offset + i // 4, or i % 2 of offset + i // 2 for 64-bit draws) and advances the offset by
`used`, so consecutive fills never share numbers and a (seed, offset) state replays a fill exactly, whatever
the launch configuration. The numbers are Philox's, not PyTorch's curand ones: a seed gives the same stream on
every GPU and in the interpreter, but not PyTorch's values.

`get_rng_state()` is PyTorch's 16-byte layout for CUDA generators: the seed (uint64), then the offset (int64).
Fills take CudaArrays and write them in place; a non-contiguous array is filled through a contiguous one.
"""
import os

import numpy as np

from ... import random as _cpu_random
from ...graphs import recording

from triton_kernels import random as _kernels

from .array import empty
from .common import copy_into

_FRESH_GENERATOR_SEED = 67280421310721  # PyTorch's default_rng_seed_val
_STATE_LAYOUT = np.dtype([("seed", "<u8"), ("offset", "<i8")])


def _is_float(dtype):
    return dtype.kind == "f" or str(dtype) == "bfloat16"  # ml_dtypes' bfloat16 has kind 'V'


class Generator:
    """torch.Generator(device='cuda'): a seed and a Philox offset."""

    device = "cuda"

    def __init__(self):
        self.manual_seed(_FRESH_GENERATOR_SEED)

    def manual_seed(self, seed):
        seed = int(seed)
        if not -2**63 <= seed < 2**64:
            raise ValueError("Overflow when unpacking long long")  # PyTorch's words
        self._seed = seed % 2**64  # negative seeds wrap, as in PyTorch
        self._offset = 0
        return self

    def seed(self):
        self.manual_seed(seed := int.from_bytes(os.urandom(8), "little"))
        return seed

    def initial_seed(self):
        return self._seed

    def get_offset(self):
        return self._offset

    def set_offset(self, offset):
        if not 0 <= int(offset) < 2**63:
            raise RuntimeError(f"the Philox offset must be in [0, 2**63), got {offset}")
        self._offset = int(offset)
        return self

    def get_state(self):
        state = np.zeros((), _STATE_LAYOUT)
        state["seed"], state["offset"] = self._seed, self._offset
        return np.frombuffer(state.tobytes(), np.uint8).copy()

    def set_state(self, new_state):
        raw = np.ascontiguousarray(new_state, dtype=np.uint8).tobytes()
        if len(raw) != _STATE_LAYOUT.itemsize:
            raise RuntimeError(f"RNG state is wrong size: a cuda generator's state has {_STATE_LAYOUT.itemsize} "
                               f"bytes, got {len(raw)}")
        state = np.frombuffer(raw, _STATE_LAYOUT)[0]
        self._seed = int(state["seed"])
        return self.set_offset(int(state["offset"]))

    def _fill(self, array, launcher, *args):
        """Run `launcher(out, seed, offset, *args)` on `array` (through a contiguous array when it is not one)."""
        recording.refuse_in_cuda_graph("Drawing random numbers (dropout, rand, randn, ...)")
        if recording.ACTIVE is not None:
            recording.refuse_random_draw()  # a graph capture records draws as host ops, or refuses them
        out = array if array.is_contiguous() else empty(array.shape, array.dtype)
        self._offset += launcher(out, self._seed, self._offset, *args)
        if out is not array:
            copy_into(array, out)
        return array


default_generator = Generator()
if _cpu_random.last_manual_seed is not None:
    default_generator.manual_seed(_cpu_random.last_manual_seed)  # framework.manual_seed ran before this loaded
else:
    default_generator.seed()  # PyTorch seeds its default CUDA generators nondeterministically too

manual_seed = default_generator.manual_seed
seed = default_generator.seed
initial_seed = default_generator.initial_seed
get_rng_state = default_generator.get_state
set_rng_state = default_generator.set_state


def _check_float(name, array):
    if not _is_float(array.dtype):
        raise TypeError(f"{name} expects a floating array, got {array.dtype}")


def uniform_(array, low=0.0, high=1.0, generator=None):
    """tensor.uniform_(low, high) on a float CudaArray, in place."""
    _check_float("uniform_", array)
    if not float(low) <= float(high):
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={low} > to={high}")
    return (generator or default_generator)._fill(array, _kernels.uniform_fill, low, high)


def normal_(array, mean=0.0, std=1.0, generator=None):
    """tensor.normal_(mean, std) on a float CudaArray, in place."""
    _check_float("normal_", array)
    if not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return (generator or default_generator)._fill(array, _kernels.normal_fill, mean, std)


def bernoulli_(array, p=0.5, generator=None):
    """tensor.bernoulli_(p) on a CudaArray of any float, integer or bool dtype: 1 with probability p.
    `p` is a float or a CudaArray of probabilities broadcastable to the array's shape."""
    if hasattr(p, "data_ptr"):
        if not _is_float(p.dtype):
            raise TypeError(f"bernoulli_ expects floating probabilities, got {p.dtype}")
        p = p if p.shape == array.shape and p.is_contiguous() else copy_into(empty(array.shape, p.dtype), p)
    elif not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return (generator or default_generator)._fill(array, _kernels.bernoulli_fill, p)


def random_(array, low, high, generator=None):
    """tensor.random_(low, high) on an integer or float CudaArray: integers uniform in [low, high)."""
    if not int(low) < int(high):
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return (generator or default_generator)._fill(array, _kernels.randint_fill, low, high)


# ---- new arrays, as framework.random's CPU samplers return them -----------------------------------------

def rand(shape, np_dtype=np.float32, generator=None):
    return uniform_(empty(shape, np_dtype), 0.0, 1.0, generator)


def normal(shape, mean=0.0, std=1.0, np_dtype=np.float32, generator=None):
    """torch.normal(mean, std, shape) on cuda; torch.randn(shape, device='cuda') with the defaults."""
    return normal_(empty(shape, np_dtype), mean, std, generator)


def randint(low, high, shape, np_dtype=np.int64, generator=None):
    return random_(empty(shape, np_dtype), low, high, generator)


def bernoulli_mask(shape, p, generator=None):
    """A bool CudaArray, True with probability p (dropout keeps the elements where it is True, p = 1 - drop)."""
    return bernoulli_(empty(shape, np.bool_), p, generator)
