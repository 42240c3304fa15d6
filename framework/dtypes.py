"""dtype objects, PyTorch's type promotion, and the numpy mapping.

Each dtype is a singleton (`framework.float32 is framework.float32`), so the
hot path compares dtypes with `is`.

numpy's bfloat16 comes from ml_dtypes, whose import costs ~0.7 s (0.7.0), more than
the rest of `import framework`: it is imported when a bfloat16 array is first needed
(`framework.bfloat16.np`, or a bfloat16 numpy array handed in), never before.
"""
import builtins
import sys

import numpy as np

_BOOL, _INT, _FLOAT = 0, 1, 2  # promotion categories, lowest first


class dtype:
    """`scalar_name` ('Float') and `cpp_name` ('float') are how PyTorch's messages name the type;
    the legacy tensor type is `scalar_name + 'Tensor'` (`framework.FloatTensor`)."""

    __slots__ = ("name", "itemsize", "is_floating_point", "is_signed", "np", "_category", "scalar_name", "cpp_name")

    def __init__(self, name, np_dtype, category, is_signed, scalar_name, cpp_name, itemsize=None):
        self.name = name
        self.scalar_name = scalar_name
        self.cpp_name = cpp_name
        if np_dtype is not None:  # None: numpy's dtype loads on first use (__getattr__)
            self.np = np.dtype(np_dtype)
        self.itemsize = itemsize or self.np.itemsize
        self.is_floating_point = category == _FLOAT
        self.is_signed = is_signed
        self._category = category

    def __getattr__(self, attribute):
        # called only for a slot never set: bfloat16's `np` until ml_dtypes is loaded
        if attribute == "np" and self is bfloat16:
            return _load_bfloat16()
        raise AttributeError(f"'framework.dtype' object has no attribute '{attribute}'")

    def __repr__(self):
        return f"framework.{self.name}"

    def __reduce__(self):
        return (_from_name, (self.name,))

    @property
    def is_complex(self):
        return False

    def to_real(self):
        return self


def _from_name(name):
    return _BY_NAME[name]


bool = dtype("bool", np.bool_, _BOOL, False, "Bool", "bool")
uint8 = dtype("uint8", np.uint8, _INT, False, "Byte", "unsigned char")
int8 = dtype("int8", np.int8, _INT, True, "Char", "signed char")
int16 = dtype("int16", np.int16, _INT, True, "Short", "short int")
int32 = dtype("int32", np.int32, _INT, True, "Int", "int")
int64 = dtype("int64", np.int64, _INT, True, "Long", "long int")
float16 = dtype("float16", np.float16, _FLOAT, True, "Half", "c10::Half")
bfloat16 = dtype("bfloat16", None, _FLOAT, True, "BFloat16", "c10::BFloat16", itemsize=2)  # numpy's: ml_dtypes
float32 = dtype("float32", np.float32, _FLOAT, True, "Float", "float")
float64 = dtype("float64", np.float64, _FLOAT, True, "Double", "double")

ALL = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
FLOATING = (float16, bfloat16, float32, float64)
_BY_NAME = {d.name: d for d in ALL}
# PyTorch's aliases: torch.half, torch.float, torch.double, torch.short, torch.int, torch.long
half, float, double, short, int, long = float16, float32, float64, int16, int32, int64
_BY_NUMPY = {d.np: d for d in ALL if d is not bfloat16}  # bfloat16 joins when ml_dtypes loads
# The numpy dtypes that CPU kernels compute in float32 (as PyTorch's do): float16, and bfloat16 once loaded
# (no bfloat16 array exists before). A set: membership by hash is 5x faster than comparing dtypes one by one.
LOW_PRECISION_NUMPY = {np.dtype(np.float16)}


def _load_bfloat16():
    """Import ml_dtypes and register numpy's bfloat16 dtype everywhere it is looked up; returns it."""
    import ml_dtypes
    np_bfloat16 = np.dtype(ml_dtypes.bfloat16)
    bfloat16.np = np_bfloat16
    _BY_NUMPY[np_bfloat16] = bfloat16
    LOW_PRECISION_NUMPY.add(np_bfloat16)
    return np_bfloat16


if "ml_dtypes" in sys.modules:  # imported already (by the user, say): registering it now costs nothing
    _load_bfloat16()


def from_numpy_dtype(np_dtype):
    """The framework dtype holding numpy's `np_dtype`, or TypeError."""
    found = _BY_NUMPY.get(np.dtype(np_dtype))
    if found is None and np.dtype(np_dtype).name == "bfloat16" and np.dtype(np_dtype) == bfloat16.np:
        found = bfloat16  # an array made with ml_dtypes before framework needed it
    if found is None:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{np.dtype(np_dtype).name}. The only supported types are: "
            "float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool."
        )
    return found


def lowest_float(np_dtype):
    """The most negative finite value of a numpy float dtype, bfloat16 included (numpy's finfo refuses it;
    a bfloat16 array exists only once ml_dtypes is loaded, so asking never imports it first)."""
    np_dtype = np.dtype(np_dtype)
    if np_dtype.kind == "f":
        return builtins.float(np.finfo(np_dtype).min)
    import ml_dtypes
    return builtins.float(ml_dtypes.finfo(np_dtype).min)


# ---- type promotion --------------------------------------------------------

def _promote_pair(a, b):
    """PyTorch's promote_types for two dtypes."""
    if a is b:
        return a
    if a._category != b._category:
        return a if a._category > b._category else b
    if a._category == _FLOAT:
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a.itemsize > b.itemsize else b
    # integers: a signed type wide enough for both; uint8 with int8 needs int16
    if a.is_signed == b.is_signed:
        return a if a.itemsize > b.itemsize else b
    unsigned, signed = (a, b) if not a.is_signed else (b, a)
    if signed.itemsize > unsigned.itemsize:
        return signed
    return {1: int16, 2: int32, 4: int64, 8: int64}[unsigned.itemsize]


_PROMOTE = {(a, b): _promote_pair(a, b) for a in ALL for b in ALL}


def promote_types(a, b):
    return _PROMOTE[(a, b)]


_default_dtype = float32


def get_default_dtype():
    return _default_dtype


def set_default_dtype(d):
    global _default_dtype
    if d not in (float16, bfloat16, float32, float64):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_dtype = d


def scalar_dtype(value):
    """The dtype PyTorch infers for a Python scalar."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool
    if isinstance(value, (builtins.int, np.integer)):
        return int64
    return _default_dtype


def result_type(*operands):
    """PyTorch's result_type: dimensioned tensors decide, unless zero-dim tensors
    or scalars belong to a higher category (bool < integer < floating)."""
    dims = zero_dims = scalars = None
    for x in operands:
        d = getattr(x, "dtype", None)
        if not isinstance(d, dtype):  # a Python or numpy scalar
            s = scalar_dtype(x)
            scalars = s if scalars is None else _PROMOTE[(scalars, s)]
        elif x.ndim == 0:
            zero_dims = d if zero_dims is None else _PROMOTE[(zero_dims, d)]
        else:
            dims = d if dims is None else _PROMOTE[(dims, d)]
    result = dims
    for tier in (zero_dims, scalars):
        if tier is None:
            continue
        if result is None:
            result = tier
        elif tier._category > result._category:
            result = tier
    return result
