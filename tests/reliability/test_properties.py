"""Property-based fuzzing (hypothesis) of every elementwise op and reduction in the registry.

For each row of property_cases.py, hypothesis draws shapes (0- and 1-sized dims included), broadcasting
pairs, dtypes, layouts (contiguous, strided, transposed) and values (large magnitudes, -0.0, inf, nan);
the framework's result is compared with

* PyTorch, when importable, on every input: dtype, shape, values, nan/inf, the sign of zeros, and the
  exception type where PyTorch refuses the input;
* a float64 numpy reference on inputs that are all finite (rounded to the output dtype, so overflow to inf
  is expected where the dtype overflows);
* the row's `refuses` rule: the inputs that must raise, and with which exception type. With PyTorch
  importable the rule must agree with it on every drawn input; without it, the rule alone decides.

Gradients: gradcheck in float64 on small shapes drawn from each op's smooth domain.

Every case runs on `cpu` and on `cuda` (a GPU, or Triton's interpreter when there is none; skipped when
neither is available); under the interpreter cuda runs fewer examples (CUDA_EXAMPLES below).

Profiles (tests/conftest.py): `ci` by default, `--hypothesis-profile=long` for a nightly-sized search.
"""
import functools
import inspect
import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import framework as fw
from framework.autograd import registry
from helpers import (TOLERANCES, _slack, assert_close, dtype_name, gradcheck, make_torch, np_dtype, requires_cuda,
                     to_numpy, torch)

from .property_cases import (ANY, AWAY0, BINARY, EXCLUDED, FLOATS, NONINT, POSITIVE, REDUCTIONS, UNARY,
                             covered_ops)

DEVICES = ["cpu", pytest.param("cuda", marks=requires_cuda)]
LAYOUTS = ("contiguous", "strided", "transposed")
SPECIALS = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 65504.0, 3.0e38, 1e-40]


def test_every_registry_op_has_a_property_case_or_a_reason():
    covered = covered_ops()
    uncovered = sorted(set(registry.KERNELS) - covered - set(EXCLUDED))
    assert not uncovered, (f"registry ops without a property case in tests/reliability/property_cases.py "
                           f"(add a row, or a reason to EXCLUDED): {uncovered}")
    stale = sorted((covered | set(EXCLUDED)) - set(registry.KERNELS))
    assert not stale, f"property_cases.py names ops the registry no longer has: {stale}"


# Under Triton's interpreter (no GPU) every cuda kernel launch costs ~20 ms, and a gradcheck launches dozens per
# example: there the cuda param runs only the profile's first CUDA_EXAMPLES examples (derandomized in `ci`, so the
# same ones each run): ~30 s for the cuda half of this file on two cores at 6, ~50 s at the profile's 12.
# FW_CUDA_EXAMPLES=N raises it (a nightly `--hypothesis-profile=long` run, say). The cpu param, and cuda on a
# GPU, run the profile's full count.
CUDA_EXAMPLES = int(os.environ.get("FW_CUDA_EXAMPLES", 6))


def given_per_device(**strategies):
    """`@given(**strategies)`, with at most CUDA_EXAMPLES examples for device="cuda" when it is interpreted."""
    def decorate(fn):
        full = given(**strategies)(fn)
        if not fw.cuda.is_interpreted():
            return full
        few = settings(max_examples=min(CUDA_EXAMPLES, settings.default.max_examples))(given(**strategies)(fn))

        def test(*args, **kwargs):
            return (few if kwargs.get("device") == "cuda" else full)(*args, **kwargs)
        test.__dict__.update(vars(full))  # hypothesis' own attributes: its pytest plugin sees a @given test
        test.__signature__ = inspect.signature(full)
        test.__name__, test.__qualname__, test.__doc__ = full.__name__, full.__qualname__, full.__doc__
        return test
    return decorate


# ---- strategies -------------------------------------------------------------------

@st.composite
def arrays(draw, shape, dtype, max_abs=1e30, specials=True):
    """A numpy array of `dtype`: edge values (specials) mixed with large and small finite ones."""
    if dtype == "bool":
        return draw(hnp.arrays(np.bool_, shape))
    if dtype not in FLOATS:
        info = np.iinfo(dtype)
        small = st.integers(max(info.min, -4), min(info.max, 4))
        return draw(hnp.arrays(dtype, shape, elements=st.one_of(small, st.integers(info.min, info.max))))
    finite = st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False)
    edges = [v for v in SPECIALS if abs(v) <= max_abs or specials and not math.isfinite(v)]
    elements = st.one_of(st.floats(-4, 4), finite, st.sampled_from(edges))
    values = draw(hnp.arrays(np.float64, shape, elements=elements))
    with np.errstate(over="ignore"):
        return values.astype(np_dtype(dtype))


def to_framework(array, layout, device):
    """A framework tensor with `array`'s values, laid out contiguous, strided (step 2) or transposed."""
    if layout == "strided" and array.ndim:
        big = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
        big[..., ::2] = array
        return fw.from_numpy(big).to(device)[..., ::2]
    if layout == "transposed" and array.ndim >= 2:
        return fw.tensor(np.ascontiguousarray(np.swapaxes(array, -1, -2))).to(device).transpose(-1, -2)
    return fw.tensor(array).to(device)


def reference_input(array):
    """What the numpy reference computes on: floats in float64, integers in int64 (wrapping as the dtype)."""
    if array.dtype == np.bool_:
        return array
    return array.astype(np.int64) if array.dtype.kind in "iu" else array.astype(np.float64)


def all_finite(*values):
    return all(np.all(np.isfinite(np.asarray(v).astype(np.float64))) for v in values)


# ---- comparison -------------------------------------------------------------------

def _tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def run_both(fw_call, torch_call, refusal):
    """The framework's outputs and torch's (None when torch is absent), or (None, None) for a refused input.

    `refusal` is what the case's `refuses` rule says of this input: the exception type the framework must
    raise, or None where it must compute. PyTorch, when importable, must agree: refuse exactly those inputs,
    with a compatible exception type."""
    if refusal is not None:
        with pytest.raises(Exception) as info:
            fw_call()
        assert issubclass(info.type, refusal), \
            f"framework raised {info.type.__name__}: {info.value}; the case's rule expects {refusal.__name__}"
        if torch is not None:
            with pytest.raises(Exception) as torch_info:
                torch_call()
            assert issubclass(info.type, torch_info.type) or (
                info.type is RuntimeError and issubclass(torch_info.type, RuntimeError)), \
                f"framework raised {info.type.__name__}: {info.value}; torch raises " \
                f"{torch_info.type.__name__}: {torch_info.value}"
        return None, None
    if torch is None:
        return _tuple(fw_call()), None
    try:
        expected = _tuple(torch_call())
    except Exception as error:
        pytest.fail(f"torch refuses this input ({type(error).__name__}: {error}) where the case's `refuses` rule "
                    "(property_cases.py) expects a value: extend the rule")
    return _tuple(fw_call()), expected


def check_against_torch(outs, expected, signed_zeros, scale=1.0):
    """`scale` widens the absolute tolerance where results cancel: both sides round differently then."""
    for i, (out, t_out) in enumerate(zip(outs, expected)):
        assert isinstance(out, fw.Tensor), f"output {i} is a {type(out).__name__}"
        assert dtype_name(out.dtype) == dtype_name(t_out.dtype), f"output {i}: {out.dtype} vs torch {t_out.dtype}"
        assert tuple(out.shape) == tuple(t_out.shape), f"output {i}: shape {tuple(out.shape)} vs torch {tuple(t_out.shape)}"
        rtol, atol = _slack(out.dtype, None, None)
        atol = atol * scale if atol is not None else None
        assert_close(out, t_out, out.dtype, rtol, atol, what=f"output {i} vs torch")
        if signed_zeros and out.dtype.is_floating_point:
            got, want = to_numpy(out), to_numpy(t_out)
            zeros = (got == 0) & (want == 0)
            assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros])), \
                f"output {i}: the sign of zero differs from torch (got {got}, torch {want})"


def check_against_numpy(outs, references, scale=1.0):
    for i, (out, ref) in enumerate(zip(outs, references)):
        with np.errstate(all="ignore"):
            ref = np.asarray(ref).astype(np_dtype(out.dtype))  # overflow to inf, wrap integers, as the dtype does
        assert tuple(out.shape) == ref.shape, f"output {i}: shape {tuple(out.shape)} vs numpy {ref.shape}"
        name = dtype_name(out.dtype)
        atol = TOLERANCES[name][1] * scale if name in TOLERANCES else None
        assert_close(out, ref, out.dtype, atol=atol, what=f"output {i} vs float64 numpy")


def _ignoring_warnings(fn):
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    return wrapped


# ---- values: unary ----------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", UNARY, ids=lambda c: c.op)
@given_per_device(data=st.data())
@_ignoring_warnings
def test_unary_values(case, device, data):
    dtype = data.draw(st.sampled_from(case.dtypes), "dtype")
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), "shape")
    x = data.draw(arrays(shape, dtype, case.max_abs), "x")
    layout = data.draw(st.sampled_from(LAYOUTS), "layout")
    params = data.draw(case.params, "params")
    outs, expected = run_both(lambda: case.call(fw, to_framework(x, layout, device), *params),
                              lambda: case.call(torch, make_torch(x), *params), refusal=None)
    if expected is not None:
        check_against_torch(outs, expected, signed_zeros=case.signed_zeros)
    if outs is not None and all_finite(x):
        check_against_numpy(outs, _tuple(case.ref(reference_input(x), *params)))


# ---- values: binary (and where) ---------------------------------------------------

@st.composite
def binary_operands(draw, case, num_shapes=2):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=0, max_dims=3, max_side=4))
    dtype = draw(st.sampled_from(case.dtypes if case else FLOATS))
    mode = draw(st.sampled_from(["same", "mixed", "scalar"] if getattr(case, "scalar_other", True) else
                                ["same", "mixed"]))
    a = draw(arrays(shapes.input_shapes[0], dtype))
    if mode == "scalar":
        # a scalar the tensor's dtype holds exactly: PyTorch itself rounds others per op (to the dtype for
        # sub, to float32 for div on float16), which no one reference can follow
        if dtype in FLOATS:
            b = float(np.float64(draw(st.floats(-1e6, 1e6))).astype(np_dtype(dtype)))
        elif dtype == "bool":
            b = draw(st.booleans())
        else:
            b = draw(st.integers(int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)))
    else:
        other_dtype = dtype if mode == "same" else draw(st.sampled_from(case.dtypes if case else FLOATS))
        b = draw(arrays(shapes.input_shapes[1], other_dtype))
    if case is not None and case.nonzero_int_divisor:
        if isinstance(b, np.ndarray) and (b.dtype.kind in "biu"):
            b = np.where(b == 0, np.ones_like(b), b)
        elif not isinstance(b, np.ndarray) and not isinstance(b, float):
            b = b or 1
        if isinstance(b, np.ndarray) and b.dtype.kind == "f" and a.dtype.kind in "biu":
            assume(np.all(b != 0))  # an integer dividend with a float divisor: fine, but keep it simple
    return shapes, a, b


def _rounded_by_promotion(x, common):
    """Whether `x` is a 0-d float array whose value changes when rounded to the float dtype `common`."""
    floats = tuple(np_dtype(name) for name in FLOATS)
    if not isinstance(x, np.ndarray) or x.ndim or x.dtype not in floats or common not in floats or x.dtype == common:
        return False
    with np.errstate(all="ignore"):
        back = x.astype(common).astype(x.dtype)
    return not (back == x or (np.isnan(back) and np.isnan(x)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", BINARY, ids=lambda c: c.op)
@given_per_device(data=st.data())
@_ignoring_warnings
def test_binary_values(case, device, data):
    _, a, b = data.draw(binary_operands(case), "operands")
    layouts = data.draw(st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS)), "layouts")

    def operand(x, layout, lib):
        if not isinstance(x, np.ndarray):
            return x
        return to_framework(x, layout, device) if lib is fw else make_torch(x)

    outs, expected = run_both(lambda: case.call(fw, operand(a, layouts[0], fw), operand(b, layouts[1], fw)),
                              lambda: case.call(torch, operand(a, None, torch), operand(b, None, torch)),
                              refusal=case.refuses(a, b))
    common = np_dtype(fw.result_type(*(fw.tensor(x) if isinstance(x, np.ndarray) else x for x in (a, b))))
    # A 0-d float operand whose value the result dtype cannot hold (a bfloat16 subnormal or a float32 1e5 beside a
    # float16 tensor): type promotion rounds it to that dtype first, on every device, as the numpy reference below
    # does. PyTorch rounds it for add/sub but keeps it in float32 for mul/div (0 / bf16 9e-41 is 0 there, nan
    # here), per op: as for Python scalars (binary_operands), no one reference follows both; torch is not asked.
    if expected is not None and not any(_rounded_by_promotion(x, common) for x in (a, b)):
        check_against_torch(outs, expected, signed_zeros=case.signed_zeros)
    if outs is not None and all_finite(a, b):
        # the reference sees both operands as type promotion makes them (a 0-d uint8 128 is int8 -128 beside
        # an int8 tensor), then computes in float64 / int64
        with np.errstate(all="ignore"):
            a_ref, b_ref = (reference_input(x.astype(common)) if isinstance(x, np.ndarray) else x for x in (a, b))
        check_against_numpy(outs, _tuple(case.ref(a_ref, b_ref)))


@pytest.mark.parametrize("device", DEVICES)
@given_per_device(data=st.data())
@_ignoring_warnings
def test_where_values(device, data):
    shapes, a, _ = data.draw(binary_operands(None, num_shapes=3), "operands")
    b = data.draw(arrays(shapes.input_shapes[1], data.draw(st.sampled_from(FLOATS))), "b")
    condition = data.draw(hnp.arrays(np.bool_, shapes.input_shapes[2]), "condition")
    layout = data.draw(st.sampled_from(LAYOUTS), "layout")
    outs, expected = run_both(
        lambda: fw.where(to_framework(condition, layout, device), to_framework(a, layout, device),
                         to_framework(b, layout, device)),
        lambda: torch.where(make_torch(condition), make_torch(a), make_torch(b)), refusal=None)
    if expected is not None:
        check_against_torch(outs, expected, signed_zeros=True)
    check_against_numpy(outs, (np.where(condition, a.astype(np.float64), b.astype(np.float64)),))


# ---- values: reductions -----------------------------------------------------------

@st.composite
def reduction_dim(draw, kind, ndim):
    """A `dim` argument of the kind the op takes, for a tensor of `ndim` dims (0-d tensors take 0 and -1)."""
    span = st.integers(-max(ndim, 1), max(ndim, 1) - 1)
    if kind == "none":
        return None
    if kind == "single":
        return draw(span)
    if kind == "optional" or ndim == 0:
        return draw(st.one_of(st.none(), span) if kind != "given" else span)
    subset = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(
        lambda dims: tuple(d - ndim if i % 2 else d for i, d in enumerate(dims)))  # mix negative dims in
    return draw(st.one_of(span, subset) if kind == "given" else st.one_of(st.none(), span, subset))


def numpy_axis(dim, ndim):
    if dim is None or ndim == 0:
        return None
    dims = dim if isinstance(dim, tuple) else (dim,)
    return tuple(sorted(d % ndim for d in dims))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", REDUCTIONS, ids=lambda c: c.op)
@given_per_device(data=st.data())
@_ignoring_warnings
def test_reduction_values(case, device, data):
    dtype = data.draw(st.sampled_from(case.dtypes), "dtype")
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), "shape")
    x = data.draw(arrays(shape, dtype, case.max_abs), "x")
    layout = data.draw(st.sampled_from(LAYOUTS), "layout")
    dim = data.draw(reduction_dim(case.dims, x.ndim), "dim")
    keepdim = data.draw(st.booleans(), "keepdim")
    params = data.draw(case.params, "params")
    outs, expected = run_both(lambda: case.call(fw, to_framework(x, layout, device), dim, keepdim, *params),
                              lambda: case.call(torch, make_torch(x), dim, keepdim, *params),
                              refusal=case.refuses(x, dim, keepdim, *params))
    finite = all_finite(x)
    scale = float(np.sum(np.abs(x.astype(np.float64)))) if case.cancels and x.size and finite else 1.0
    if expected is not None:
        check_against_torch(outs, expected, signed_zeros=False, scale=max(1.0, scale))
    if outs is None or not finite:
        return
    try:
        references = _tuple(case.ref(reference_input(x), numpy_axis(dim, x.ndim), keepdim, *params))
    except ValueError:  # numpy has no identity for this reduction over nothing: torch is the oracle there
        return
    check_against_numpy(outs, references, scale=max(1.0, scale))


# ---- gradients: gradcheck in float64 ----------------------------------------------

def domain_values(seed, shape, domain):
    """float64 values where the op is smooth: at least 0.1 from its kinks and jumps."""
    return np.asarray(_domain_values(np.random.default_rng(seed), shape, domain), dtype=np.float64)


def _domain_values(rng, shape, domain):
    if domain == POSITIVE:
        return rng.uniform(0.2, 2.0, shape)
    if domain == AWAY0:
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape)
    if domain == NONINT:
        return rng.integers(-3, 3, shape) + rng.choice([0.25, 0.75], shape) + rng.uniform(-0.12, 0.12, shape)
    assert domain == ANY
    return rng.uniform(-2.0, 2.0, shape)


SMALL = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)
SEEDS = st.integers(0, 2 ** 32 - 1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", [c for c in UNARY if c.grad], ids=lambda c: c.op)
@given_per_device(shape=SMALL, seed=SEEDS, data=st.data())
@_ignoring_warnings
def test_unary_gradients(case, device, shape, seed, data):
    assert registry.is_differentiable(case.op)
    params = data.draw(case.params, "params")
    if case.op == "pow_scalar" and params[0] == 0.0:
        return  # x ** 0 is constant 1: nothing to check
    gradcheck(lambda x: case.call(fw, x.to(device), *params), domain_values(seed, shape, case.grad))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", [c for c in BINARY if c.grad], ids=lambda c: c.op)
@given_per_device(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1,
                                                            max_side=3), seed=SEEDS)
@_ignoring_warnings
def test_binary_gradients(case, device, shapes, seed):
    assert registry.is_differentiable(case.op)
    a, b = (domain_values(seed + k, s, case.grad) for k, s in enumerate(shapes.input_shapes))
    gradcheck(lambda x, y: case.call(fw, x.to(device), y.to(device)), a, b)


@pytest.mark.parametrize("device", DEVICES)
@given_per_device(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=2, min_side=1,
                                                            max_side=3), seed=SEEDS)
def test_where_gradients(device, shapes, seed):
    condition = fw.tensor(np.random.default_rng(seed).random(shapes.input_shapes[2]) < 0.5)
    a, b = (domain_values(seed + k, s, ANY) for k, s in enumerate(shapes.input_shapes[:2]))
    gradcheck(lambda x, y: fw.where(condition.to(device), x.to(device), y.to(device)), a, b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", [c for c in REDUCTIONS if c.grad], ids=lambda c: c.op)
@given_per_device(shape=SMALL, seed=SEEDS, data=st.data())
@_ignoring_warnings
def test_reduction_gradients(case, device, shape, seed, data):
    assert registry.is_differentiable(case.op)
    dim = data.draw(reduction_dim(case.dims, len(shape)), "dim")
    keepdim = data.draw(st.booleans(), "keepdim")
    params = data.draw(case.params, "params")
    if case.op in ("var", "std"):  # one value has no spread: var's gradient is nan by definition
        axis = numpy_axis(dim, len(shape))
        assume(math.prod(shape[a] for a in (range(len(shape)) if axis is None else axis)) >= 2)

    def fn(x):
        return case.call(fw, x.to(device), dim, keepdim, *params)[0] if case.op.endswith("_dim") else \
            case.call(fw, x.to(device), dim, keepdim, *params)
    gradcheck(fn, domain_values(seed, shape, case.grad))
