"""Reductions, cumsum, softmax and log_softmax against a float64 numpy reference and, when it is
importable, PyTorch: values, dtypes, grad_fn names, and gradients for a random upstream gradient.

The reference gradient is the central difference of the float64 numpy reference, so no backward
formula here is trusted twice. Inputs are random and fresh each run (the `rng` fixture).
"""
import math
import warnings
from typing import Callable, NamedTuple

import ml_dtypes
import numpy as np
import pytest

import framework as fw
from framework.autograd.gradcheck import gradcheck
from helpers import DEVICES

try:
    import torch
except ImportError:
    torch = None

pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")

SHAPES = [(3,), (4, 5), (2, 3, 5), (1, 7), (0, 3), (6, 1, 4)]
# On cuda in CI every kernel launch runs in Triton's interpreter (~20 ms): the device checks take the shapes that
# reach every kernel path (rows, columns, a middle dim, size 1, empty) and leave the rest to the CPU run.
SHAPES_BY_DEVICE = {"cpu": SHAPES, "cuda": [(4, 5), (0, 3), (6, 1, 4)]}
FLOATS = ("float32", "float64", "float16", "bfloat16")
NUMPY_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16,
                "bfloat16": ml_dtypes.bfloat16, "int64": np.int64}
# (rtol, atol) per dtype: one rounding of float16/bfloat16 outputs, and of the outputs a backward reads
TOLERANCES = {"float64": (1e-7, 1e-8), "float32": (1e-5, 1e-5), "float16": (1e-2, 1e-2),
              "bfloat16": (2e-2, 2e-2), "int64": (0, 0)}
# Gradients: float64 is judged by central differences (eps=1e-6); in float32 var/std's x - mean cancels
# between neighbouring values (>= 0.0127 apart, see _random_input), as it does in PyTorch.
GRADIENT_TOLERANCES = {**TOLERANCES, "float64": (1e-6, 1e-6), "float32": (1e-4, 1e-5)}


# ---- float64 numpy references -------------------------------------------------

def _logsumexp(x, axis, keepdims=False):
    shift = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    shift = np.where(np.isfinite(shift), shift, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


def _softmax(x, axis):
    with np.errstate(invalid="ignore"):
        exps = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    return exps / np.sum(exps, axis=axis, keepdims=True)


def _norm(p):
    def reference(x, axis, keepdims):
        if math.isinf(p):  # np.max/np.min raise over nothing, as PyTorch does
            return (np.max if p > 0 else np.min)(np.abs(x), axis=axis, keepdims=keepdims)
        if p == 0:
            return np.sum(x != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
        return np.sum(np.abs(x) ** p, axis=axis, keepdims=keepdims) ** (1 / p)
    return reference


def _var(correction, root=False):
    def reference(x, axis, keepdims):
        out = np.var(x, axis=axis, ddof=correction, keepdims=keepdims)
        return np.sqrt(out) if root else out
    return reference


def _run_reference(case, x64, axis, keepdim):
    """The reference, without numpy's warnings about empty or degenerate slices (nan is the answer)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _outputs(case.reference(x64, axis=axis, keepdims=keepdim))


def _with_indices(values, indices):
    def reference(x, axis, keepdims):
        return values(x, axis=axis, keepdims=keepdims), indices(x, axis=axis, keepdims=keepdims)
    return reference


# ---- the table ------------------------------------------------------------------

def _reduce(method, *args, keepdim=True, **kwargs):
    """`x.method(*args, dim, keepdim=...)`; without a dim, `x.method(*args)` (PyTorch's forms)."""
    def call(x, dim, keep):
        if dim is None:
            return getattr(x, method)(*args, **kwargs)
        return getattr(x, method)(*args, dim, keepdim=keep, **kwargs) if keepdim else getattr(x, method)(*args, dim)
    return call


class Case(NamedTuple):
    name: str
    call: Callable                # call(x, dim, keepdim) on a framework or torch tensor
    reference: Callable           # reference(x64, axis, keepdims) in float64 numpy
    dims: str = "many"            # "many": None, ints, tuples; "some": ints, tuples; "one": None or an int;
    #                               "axis": an int
    dtypes: tuple = FLOATS
    node: str = None              # grad_fn name with a dim given (None: not differentiable)
    sparse: bool = False          # inputs with many exact zeros
    keepdim: bool = True


_INT = ("int64",)
CASES = [
    Case("sum", _reduce("sum"), np.sum, dtypes=FLOATS + _INT, node="SumBackward1"),
    Case("mean", _reduce("mean"), np.mean, node="MeanBackward1"),
    Case("prod", _reduce("prod"), np.prod, "one", FLOATS + _INT, "ProdBackward1"),
    Case("max", _reduce("max"), _with_indices(np.max, np.argmax), "one", FLOATS + _INT, "MaxBackward0"),
    Case("min", _reduce("min"), _with_indices(np.min, np.argmin), "one", FLOATS + _INT, "MinBackward0"),
    Case("amax", _reduce("amax"), np.max, dtypes=FLOATS + _INT, node="AmaxBackward0"),
    Case("amin", _reduce("amin"), np.min, node="AminBackward0"),
    Case("argmax", _reduce("argmax"), np.argmax, "one", FLOATS + _INT),
    Case("argmin", _reduce("argmin"), np.argmin, "one"),
    Case("var", _reduce("var"), _var(1), node="VarBackward0"),
    Case("var_correction0", _reduce("var", correction=0), _var(0), node="VarBackward0"),
    Case("std", _reduce("std"), _var(1, root=True), node="StdBackward0"),
    Case("std_unbiased_false", lambda x, d, k: x.std(d, False, k), _var(0, root=True), node="StdBackward0"),
    *(Case(f"norm_{p}", _reduce("norm", p), _norm(p), node="LinalgVectorNormBackward0")
      for p in (2, 1, 3, 0.5, 0, math.inf, -math.inf)),
    Case("logsumexp", lambda x, d, k: x.logsumexp(d, keepdim=k), _logsumexp, "some", node="LogsumexpBackward0"),
    Case("all", _reduce("all"), np.all, dtypes=("float32", "int64"), sparse=True),
    Case("any", _reduce("any"), np.any, dtypes=("float32", "int64"), sparse=True),
    Case("count_nonzero", _reduce("count_nonzero", keepdim=False), lambda x, axis, keepdims: np.count_nonzero(
        x, axis=axis), dtypes=("float64", "int64"), sparse=True, keepdim=False),
    Case("cumsum", lambda x, d, k: x.cumsum(d), lambda x, axis, keepdims: np.cumsum(x, axis), "axis",
         FLOATS + _INT, "CumsumBackward0"),
    Case("softmax", lambda x, d, k: x.softmax(d), lambda x, axis, keepdims: _softmax(x, axis), "axis",
         node="SoftmaxBackward0"),
    Case("log_softmax", lambda x, d, k: x.log_softmax(d), lambda x, axis, keepdims: np.log(_softmax(x, axis)),
         "axis", node="LogSoftmaxBackward0"),
]


def _dims(kind, ndim):
    ints = list(range(-ndim, ndim))
    if kind == "axis":
        return ints
    if kind == "one":
        return [None] + ints
    tuples = [tuple(range(ndim)), [0, -1]] if ndim > 1 else [(0,)]
    many = ints + tuples + ([(-1, 1)] if ndim > 2 else [])
    return many if kind == "some" else [None] + many


def _random_input(rng, shape, dtype, sparse):
    """Magnitudes in (0.1, 2) with random signs, one per stratum of width 1.9 / size, so no two are within
    0.0127 (more than bfloat16's spacing below 2): no ties after rounding, and no kinks of norms at 0.
    Every reduction is then differentiable at the input; the edge cases test zeros and ties."""
    if dtype == "int64":
        return rng.integers(-3, 4, size=shape).astype(np.int64)
    size = math.prod(shape)
    magnitude = 0.1 + 1.9 * (rng.permutation(size) + rng.uniform(0.1, 0.9, size)) / max(size, 1)
    x = (magnitude * rng.choice([-1, 1], size)).reshape(shape).astype(NUMPY_DTYPES[dtype])
    if sparse:
        x[rng.random(shape) < 0.5] = 0
    return x


def _noncontiguous(x):
    """The same values as `x` in a transposed (non-contiguous) layout."""
    order = tuple(range(x.ndim - 1, -1, -1))
    return np.ascontiguousarray(x.transpose(order)).transpose(order)


def _as_numpy(t):
    t = t.detach()
    if torch is not None and isinstance(t, torch.Tensor):
        return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    t = t.cpu()
    return np.asarray(t.numpy()).astype(np.float32) if t.dtype is fw.bfloat16 else t.numpy()


def _outputs(result):
    return tuple(result) if isinstance(result, tuple) else (result,)


def _reference_gradient(case, x64, axis, keepdim, upstream):
    """d(sum(upstream * reference(x))) / dx by central differences (exact for the multilinear prod)."""
    eps = 1e-6
    grad = np.zeros_like(x64)
    for idx in np.ndindex(x64.shape):
        total = []
        for step in (eps, -eps):
            probe = x64.copy()
            probe[idx] += step
            total.append(np.sum(upstream * _run_reference(case, probe, axis, keepdim)[0]))
        grad[idx] = (total[0] - total[1]) / (2 * eps)
    return grad


def _close(actual, expected, dtype, what, tolerances=TOLERANCES):
    rtol, atol = tolerances[dtype]
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def check_against_references(case, x, dim, keepdim, rng, device="cpu"):
    """Run `case` on framework (on `device`), numpy (float64) and torch; compare values, dtypes, grad_fn and
    gradients. Torch is compared with the CPU run only."""
    dtype = "int64" if x.dtype == np.int64 else {np.dtype(v): k for k, v in NUMPY_DTYPES.items()}[x.dtype]
    what = (f"{case.name} dtype={dtype} shape={x.shape} dim={dim} keepdim={keepdim} contiguous={x.flags.c_contiguous} "
            f"device={device}")
    x64 = x.astype(np.float64) if dtype != "int64" else x
    axis = tuple(dim) if isinstance(dim, list) else dim
    x_fw = fw.from_numpy(x).to(device)
    differentiable = case.node is not None and dtype != "int64"
    if differentiable:
        x_fw.requires_grad_()
    try:
        out_fw = _outputs(case.call(x_fw, dim, keepdim))
    except (IndexError, RuntimeError) as error:  # a reduction without identity over nothing
        with pytest.raises(Exception):
            _run_reference(case, x64, axis, keepdim)
        if torch is not None and device == "cpu":
            with pytest.raises(type(error)) as torch_error:
                case.call(torch.from_numpy(x64), dim, keepdim)
            assert str(error) == str(torch_error.value).replace("torch.", "framework."), what
        return
    expected = _run_reference(case, x64, axis, keepdim)
    for got, want in zip(out_fw, expected):
        want = np.asarray(want)
        assert got.shape == want.shape, what
        assert got.dtype.name == (dtype if want.dtype.kind == "f" else want.dtype.name), what
        _close(_as_numpy(got), want, dtype, what)
    if differentiable:
        if dim is not None:  # (without a dim the name is checked against torch below)
            assert type(out_fw[0].grad_fn).__name__ == case.node, what
        upstream = rng.standard_normal(out_fw[0].shape).astype(x.dtype)
        out_fw[0].backward(fw.from_numpy(upstream).to(device))
        reference_grad = _reference_gradient(case, x64, axis, keepdim, upstream.astype(np.float64))
        _close(_as_numpy(x_fw.grad), reference_grad, dtype, what + " (gradient)", GRADIENT_TOLERANCES)
    if torch is None or device != "cpu":
        return
    x_torch = torch.from_numpy(x64).to(getattr(torch, dtype)).requires_grad_(differentiable)
    out_torch = _outputs(case.call(x_torch, dim, keepdim))
    for got, want in zip(out_fw, out_torch):
        assert got.dtype.name == str(want.dtype).removeprefix("torch."), what
        _close(_as_numpy(got), _as_numpy(want), dtype, what + " (torch)")
    if differentiable:
        assert type(out_fw[0].grad_fn).__name__ == type(out_torch[0].grad_fn).__name__, what
    # PyTorch's float16/bfloat16 backward kernels round their intermediates (std's g / (2 * std), say) where
    # ours compute in float32: there the float64 reference above is the judge, not torch.
    if differentiable and dtype in ("float32", "float64"):
        out_torch[0].backward(torch.from_numpy(upstream.astype(np.float64)).to(x_torch.dtype))
        torch_grad = x_torch.grad if x_torch.grad is not None else torch.zeros_like(x_torch)  # norm(p=0): None
        _close(_as_numpy(x_fw.grad), _as_numpy(torch_grad), dtype, what + " (torch gradient)", GRADIENT_TOLERANCES)


@pytest.mark.parametrize("case, dtype", [pytest.param(c, d, id=f"{c.name}-{d}") for c in CASES for d in c.dtypes])
def test_op_against_references(case, dtype, rng):
    for device in DEVICES:
        for shape in SHAPES_BY_DEVICE[device]:
            x = _random_input(rng, shape, dtype, case.sparse)
            for dim in _dims(case.dims, len(shape)):
                for keepdim in ((False, True) if case.keepdim and dim is not None else (False,)):
                    check_against_references(case, x, dim, keepdim, rng, device)
            if len(shape) > 1:
                check_against_references(case, _noncontiguous(x), _dims(case.dims, len(shape))[-1], False, rng,
                                         device)


@pytest.mark.parametrize("case", [c for c in CASES if c.node is not None], ids=lambda c: c.name)
def test_gradcheck(case, rng):
    values = _random_input(rng, (3, 4), "float64", False)
    for device in DEVICES:
        x = fw.from_numpy(values).to(device).requires_grad_()
        for dim in ([None, 1, -2] if case.dims != "axis" else [1, -2]):
            assert gradcheck(lambda t: _outputs(case.call(t, dim, True))[0], (x,))


# ---- edge values, compared with fixed expectations (and torch where present) ------

def _grad_of(fn, values):
    x = fw.tensor(values, dtype=fw.float64, requires_grad=True)
    out = fn(x)
    out.backward(fw.ones_like(out))
    return out.detach().numpy(), x.grad.numpy()


inf, nan = math.inf, math.nan
EDGE_CASES = [  # name, fn (same on framework and torch), input, expected output, expected gradient
    ("softmax -inf rows", lambda x: x.softmax(1), [[-inf, -inf], [2, -inf]], [[nan, nan], [1, 0]],
     [[nan, nan], [0, 0]]),
    ("log_softmax -inf rows", lambda x: x.log_softmax(1), [[-inf, -inf], [2, -inf]], [[nan, nan], [0, -inf]],
     [[nan, nan], [-1, 1]]),
    ("softmax large", lambda x: x.softmax(0), [1000., 1000.], [0.5, 0.5], [0, 0]),
    ("log_softmax large", lambda x: x.log_softmax(0), [-1000., 0.], [-1000, 0], [1, -1]),
    ("logsumexp infinities", lambda x: x.logsumexp(1), [[-inf, -inf], [inf, 1.], [1000., 1000.]],
     [-inf, inf, 1000 + math.log(2)], [[nan, nan], [nan, 0], [0.5, 0.5]]),
    ("max ties share", lambda x: x.max(), [1., 3., 3.], 3., [0, 0.5, 0.5]),
    ("max nan", lambda x: x.max(), [1., nan, 3., nan], nan, [0, 0.5, 0, 0.5]),
    ("max dim ties: first index", lambda x: x.max(1).values, [[1., 3, 3], [2, 1, 0]], [3, 2], [[0, 1, 0], [1, 0, 0]]),
    ("amax ties share", lambda x: x.amax(1), [[1., 3, 3], [2, 1, 0]], [3, 2], [[0, .5, .5], [1, 0, 0]]),
    ("prod zeros", lambda x: x.prod(1), [[0., 2, 3], [0, 0, 1]], [0, 0], [[6, 0, 0], [0, 0, 0]]),
    ("std of constants", lambda x: x.std(1), [[1., 1, 1], [2, 1, 0]], [0, 1], [[0, 0, 0], [.5, 0, -.5]]),
    ("norm of zeros", lambda x: x.norm(dim=1), [[0., 0], [3, 4]], [0, 5], [[0, 0], [.6, .8]]),
    ("sum of nothing", lambda x: x.sum(1), [[]], [0], [[]]),
    ("mean of nothing", lambda x: x.mean(), [], nan, []),
    ("prod of nothing", lambda x: x.prod(), [], 1, []),
    ("0-d max dim", lambda x: x.max(0).values, 2., 2., 1.),
    ("0-d softmax", lambda x: x.softmax(-1), 2., 1., 0.),
    ("0-d cumsum", lambda x: x.cumsum(0), 2., 2., 1.),
    ("0-d sum dim", lambda x: x.sum(0, keepdim=True), 2., 2., 1.),
]


@pytest.mark.parametrize("name, fn, values, want, want_grad", EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_edge_values(name, fn, values, want, want_grad):
    with np.errstate(all="ignore"):
        out, grad = _grad_of(fn, values)
    np.testing.assert_allclose(out, want, equal_nan=True, rtol=1e-12)
    np.testing.assert_allclose(grad, want_grad, equal_nan=True, rtol=1e-12)
    if torch is not None:
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        expected = fn(x)
        expected.backward(torch.ones_like(expected))
        np.testing.assert_allclose(out, expected.detach().numpy(), equal_nan=True, rtol=1e-12)
        np.testing.assert_allclose(grad, x.grad.numpy(), equal_nan=True, rtol=1e-12)


DTYPE_CASES = [  # fn, input dtype, output dtype
    (lambda x: x.sum(), fw.int32, fw.int64), (lambda x: x.sum(0), fw.bool, fw.int64),
    (lambda x: x.prod(), fw.bool, fw.int64), (lambda x: x.cumsum(0), fw.bool, fw.int64),
    (lambda x: x.max(), fw.int8, fw.int8), (lambda x: x.all(), fw.uint8, fw.uint8),
    (lambda x: x.any(0), fw.float32, fw.bool), (lambda x: x.sum(dtype=fw.float64), fw.float16, fw.float64),
    (lambda x: x.mean(dtype=fw.float64), fw.int64, fw.float64), (lambda x: x.logsumexp(0), fw.int64, fw.float32),
    (lambda x: x.softmax(0, dtype=fw.float64), fw.int64, fw.float64), (lambda x: x.argmax(), fw.float16, fw.int64),
    (lambda x: fw.count_nonzero(x), fw.bfloat16, fw.int64),
    (lambda x: x.norm(dtype=fw.float64), fw.float32, fw.float64),
]


@pytest.mark.parametrize("fn, dtype, want", DTYPE_CASES)
def test_output_dtypes(fn, dtype, want, rng):
    x = fw.tensor(rng.integers(0, 3, size=(4,)).tolist(), dtype=dtype)
    assert fn(x).dtype is want


def test_max_forms_and_return_type():
    x = fw.tensor([[1., 5.], [7., 2.]])
    values, indices = fw.max(x, 1, True)
    assert values.tolist() == [[5.], [7.]] and indices.tolist() == [[1], [0]]
    result = x.min(dim=0)
    assert result.values.tolist() == [1., 2.] and result.indices.tolist() == [0, 1]
    assert repr(result) == "framework.return_types.min(\nvalues=tensor([1., 2.]),\nindices=tensor([0, 1]))"
    assert fw.max(x, fw.tensor([6., 6.])).tolist() == [[6., 6.], [7., 6.]]
    assert x.argmax(keepdim=True).shape == (1, 1)
    assert x.var(True).item() == pytest.approx(np.var([1, 5, 7, 2], ddof=1))
    assert x.var(0, False, True).shape == (1, 2)
    assert x.sum().grad_fn is None and fw.sum(x).item() == 15


ERROR_CASES = [  # fn, error type, message
    (lambda x: x.sum(2), IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda x: x.softmax(-3), IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got -3)"),
    (lambda x: x.max(5), IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got 5)"),
    (lambda x: x.cumsum(2), IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda x: x.amax((1, -1)), RuntimeError, "dim 1 appears multiple times in the list of dims"),
    (lambda x: x.long().mean(), RuntimeError, "mean(): could not infer output dtype. Input dtype must be either a "
     "floating point or complex dtype. Got: Long"),
    (lambda x: x.long().var(), RuntimeError, "std and var only support floating point and complex dtypes"),
    (lambda x: x.long().norm(), RuntimeError,
     "linalg.vector_norm: Expected a floating point or complex tensor as input. Got Long"),
    (lambda x: x.long().softmax(0), NotImplementedError, "\"softmax_kernel_impl\" not implemented for 'Long'"),
    (lambda x: x[:0].max(), RuntimeError, "max(): Expected reduction dim to be specified for input.numel() == 0. "
     "Specify the reduction dim with the 'dim' argument."),
    (lambda x: x[:0].min(0), IndexError, "min(): Expected reduction dim 0 to have non-zero size."),
    (lambda x: x[:0].amax(), RuntimeError, "amax(): Expected reduction dim to be specified for input.numel() == 0. "
     "Specify the reduction dim with the 'dim' argument."),
    (lambda x: x[:0].argmax(), IndexError, "argmax(): Expected reduction dim to be specified for input.numel() == 0."),
    (lambda x: x[:0].norm(math.inf, 0), RuntimeError, "linalg.vector_norm cannot compute the inf norm on the "
     "dimension 0because this dimension is empty and the operation does not have an identity"),
]


@pytest.mark.parametrize("fn, error, message", ERROR_CASES)
def test_errors(fn, error, message, rng):
    values = rng.standard_normal((2, 3))
    with pytest.raises(error) as raised:
        fn(fw.tensor(values))
    assert str(raised.value) == message
    if torch is not None:
        with pytest.raises(error) as raised:
            fn(torch.tensor(values))
        assert str(raised.value) == message
