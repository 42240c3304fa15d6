"""Shared test helpers: one tolerance table, one op checker, conversions to numpy and torch.

`check_op(fw_fn, np_fn, torch_fn, *inputs)` runs an op three ways on the same
values and compares values and gradients:

* framework, on the inputs rounded to the dtype under test;
* numpy in float64 on those same rounded values: the reference. Its gradients
  come from the complex-step derivative (f(x + ih).imag / h, exact to float64
  rounding), so each op needs only its forward written in numpy. Write
  `np_fn` so that it is real-analytic where the op is smooth: `np.where(x.real
  > 0, x, 0)` rather than `np.maximum(x, 0)`, `np.sign(x.real)` for a
  piecewise-constant op;
* PyTorch, when importable: same values, same dtype; values, dtype, shape and
  gradients must agree.
"""
import contextlib
import math
import os

import ml_dtypes
import numpy as np
import pytest

import framework as fw

try:
    import torch
except ImportError:  # the numpy-reference half of every check still runs
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not importable: parity check skipped")

DTYPE_NAMES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64")
FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")
INT_NAMES = ("uint8", "int8", "int16", "int32", "int64")

# (rtol, atol) per dtype, against a float64 reference. atol is scaled by max(1, max|expected|),
# so a value near zero in a tensor of large ones is held to the tensor's precision.
TOLERANCES = {
    "float64": (1e-10, 1e-10),
    "float32": (1e-5, 1e-5),
    "float16": (1e-2, 1e-2),
    "bfloat16": (1e-2, 1e-2),
}

# PyTorch's low-precision CPU kernels round some intermediates (a backward's products, say) to the
# dtype, so its results can sit a few units in the last place from ours; the float64 numpy reference
# holds the tight line, torch is held to this multiple of the table.
TORCH_SLACK = {"float16": 4.0, "bfloat16": 4.0}

def _devices():
    """The devices every op check runs on: FW_TEST_DEVICES (comma-separated), else cpu plus cuda when present
    (with TRITON_INTERPRET=1 and no GPU, the interpreter-served cuda)."""
    chosen = os.environ.get("FW_TEST_DEVICES")
    if chosen:
        return tuple(d.strip() for d in chosen.split(",") if d.strip())
    return ("cpu", "cuda") if fw.cuda.is_available() else ("cpu",)


DEVICES = _devices()
requires_cuda = pytest.mark.skipif("cuda" not in DEVICES, reason="no cuda device: no GPU and TRITON_INTERPRET is not 1")

SEED = int(os.environ.get("FW_TEST_SEED") or 0)  # tests/conftest.py has set it (to 0 unless asked otherwise)
RNG = np.random.default_rng(SEED)  # for callers without the `rng` fixture



def example_module(name):
    """examples/<name>.py loaded as a module (a fresh one per call), for tests that call its functions."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"{name}_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def np_dtype(dtype):
    """numpy's dtype for a framework dtype or dtype name (bfloat16 through ml_dtypes)."""
    name = dtype if isinstance(dtype, str) else dtype.name
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def fw_dtype(name):
    return getattr(fw, name)


def torch_dtype(dtype):
    name = dtype if isinstance(dtype, str) else dtype.name
    return getattr(torch, name)


def dtype_name(dtype):
    """'float32' for framework.float32, torch.float32, np.float32 or 'float32'."""
    if isinstance(dtype, str):
        return dtype
    if isinstance(dtype, fw.dtype):
        return dtype.name
    if torch is not None and isinstance(dtype, torch.dtype):
        return str(dtype).split(".")[1]
    return np.dtype(dtype).name


# ---- conversions ----------------------------------------------------------------

def to_numpy(x):
    """Values of a framework or torch tensor (or array, or scalar) as a numpy array, floats as float64."""
    if isinstance(x, fw.Tensor):
        x = np.asarray(x.detach()._host())
    elif torch is not None and isinstance(x, torch.Tensor):
        x = x.detach()
        x = (x.to(torch.float64) if x.is_floating_point() else x).numpy()
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.kind == "f" or x.dtype == np_dtype("bfloat16") else x


def noncontiguous_copy(array):
    """The same values in a numpy view with stride 2 along the last dim (a non-contiguous layout)."""
    if array.ndim == 0:
        return array
    big = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
    view = big[..., ::2]
    view[...] = array
    return view


def make_tensor(array, requires_grad=False, noncontiguous=False, device="cpu"):
    """A framework leaf on `device` holding `array`'s values; with `noncontiguous`, over strided memory."""
    if noncontiguous:
        out = fw.from_numpy(noncontiguous_copy(np.asarray(array)))
        if device != "cpu":
            array = np.asarray(array)
            wide = fw.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=out.dtype, device=device) \
                if array.ndim else None
            if wide is None:
                out = out.to(device)
            else:
                wide[..., ::2] = out.to(device)
                out = wide[..., ::2].detach()
        if array.size > 1 and array.shape[-1] > 1:
            assert not out.is_contiguous()
    else:
        out = fw.tensor(array, device=device)
    if requires_grad:
        out.requires_grad_(True)
    return out


def make_torch(array, requires_grad=False):
    array = np.asarray(array)
    if array.dtype == np_dtype("bfloat16"):
        out = torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)
    else:
        out = torch.from_numpy(array.copy())
    return out.requires_grad_(requires_grad)


def random_array(rng, shape, dtype="float64", low=-2.0, high=2.0, away_from_zero=None):
    """Uniform values in [low, high) rounded to `dtype`; `away_from_zero=m` keeps |x| >= m with random signs."""
    name = dtype_name(dtype)
    if name == "bool":
        return rng.random(shape) < 0.5
    if name in INT_NAMES:
        info = np.iinfo(name)
        return rng.integers(max(int(low), info.min), min(int(high), info.max) + 1, size=shape).astype(name)
    values = rng.uniform(low, high, size=shape)
    if away_from_zero is not None:
        values = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(away_from_zero, max(abs(low), abs(high)),
                                                                    size=shape)
    return np.asarray(values).astype(np_dtype(name))


# ---- comparison -----------------------------------------------------------------

def assert_close(got, expected, dtype=None, rtol=None, atol=None, what=""):
    """`got` (a tensor or array) against `expected` within the tolerance of `dtype`.

    Shapes must match exactly; integer and bool results must be equal.
    """
    name = dtype_name(dtype) if dtype is not None else dtype_name(getattr(got, "dtype", np.float64))
    got_values, expected_values = to_numpy(got), to_numpy(expected)
    assert got_values.shape == expected_values.shape, f"{what}: shape {got_values.shape} != {expected_values.shape}"
    if name not in TOLERANCES:
        np.testing.assert_array_equal(got_values, expected_values, err_msg=what)
        return
    default_rtol, default_atol = TOLERANCES[name]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    finite = np.abs(expected_values[np.isfinite(expected_values)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    with np.errstate(invalid="ignore"):
        if np.all((np.abs(got_values - expected_values) <= atol * scale + rtol * np.abs(expected_values))
                  | (got_values == expected_values) | (np.isnan(got_values) & np.isnan(expected_values))):
            return  # the common case, without assert_allclose's overhead
    np.testing.assert_allclose(got_values, expected_values, rtol=rtol, atol=atol * scale, equal_nan=True,
                               err_msg=f"{what} ({name}, rtol={rtol}, atol={atol}*{scale:.3g})")


# ---- random draws against PyTorch's ------------------------------------------------
# PyTorch picks its CPU kernels by capability (ATEN_CPU_CAPABILITY, else the best the CPU has).
# framework.random reproduces the rounding of its AVX2 and AVX512 kernels (FMA; avx_mathfun's float
# log and sincos) bit for bit. Its DEFAULT kernels (CPUs without AVX2) round uniform_ and normal_
# without FMA and take float normal_'s log/sin/cos from libm: there the same words give values this
# close (relative, and absolute at the scale of the draw), and the generator states still agree exactly.
EXACT_STREAM_CAPABILITIES = ("AVX2", "AVX512")
NEAR_DRAW_TOLERANCE = {"float32": 1e-6, "float64": 1e-15, "float16": 2e-3, "bfloat16": 1.6e-2}


def _raw_numpy(x):
    """A torch tensor's values in its own dtype (bfloat16 through ml_dtypes); arrays as they are."""
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().contiguous()
        return x.float().numpy().astype(np_dtype("bfloat16")) if x.dtype == torch.bfloat16 else x.numpy()
    return np.asarray(x.detach()._host()) if isinstance(x, fw.Tensor) else np.asarray(x)


def assert_same_bits(ours, theirs, what=""):
    ours, theirs = _raw_numpy(ours), _raw_numpy(theirs)
    assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), what
    as_bits = [np.ascontiguousarray(a).reshape(-1).view(f"u{a.dtype.itemsize}") for a in (ours, theirs)]
    bad = np.flatnonzero(as_bits[0] != as_bits[1])
    assert bad.size == 0, (f"{what}: {bad.size} of {ours.size} differ, first at {bad[:5]}: "
                           f"{ours.reshape(-1)[bad[:3]]} vs {theirs.reshape(-1)[bad[:3]]}")


def assert_same_draws(ours, theirs, what="", bounds=None):
    """Random draws against PyTorch's: bit for bit under its AVX2/AVX512 CPU kernels; floating draws
    within NEAR_DRAW_TOLERANCE under its DEFAULT ones. uniform_(low, high) returns a draw that rounds
    onto `high` as `low`: give `bounds` and, under DEFAULT, `low` is compared as `high` on both sides."""
    ours = _raw_numpy(ours)
    if dtype_name(ours.dtype) not in FLOAT_NAMES or torch.backends.cpu.get_cpu_capability() in EXACT_STREAM_CAPABILITIES:
        return assert_same_bits(ours, theirs, what)
    tolerance = NEAR_DRAW_TOLERANCE[dtype_name(ours.dtype)]
    wrap = [float(np.asarray(b, ours.dtype)) for b in bounds] if bounds is not None else None
    ours, theirs = ours.astype(np.float64), _raw_numpy(theirs).astype(np.float64)
    if wrap is not None:
        ours, theirs = (np.where(v == wrap[0], wrap[1], v) for v in (ours, theirs))
    np.testing.assert_allclose(ours, theirs, tolerance, tolerance * max(1.0, np.abs(theirs).max(initial=0.0)),
                               err_msg=what)


def numpy_vjp(np_fn, args, grad_outputs, wrt, step=1e-20):
    """d(sum(grad_outputs * np_fn(*args)))/d(args[k]) for k in `wrt`, by complex-step differentiation."""
    grad_outputs = grad_outputs if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
    grads = []
    for k in wrt:
        x = np.asarray(args[k], dtype=np.float64)
        grad = np.zeros(x.shape)
        for index in np.ndindex(x.shape):
            perturbed = x.astype(np.complex128)
            perturbed[index] += 1j * step
            probe = list(args)
            probe[k] = perturbed
            outputs = np_fn(*probe)
            outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
            grad[index] = sum(np.sum(g * np.imag(o)) for g, o in zip(grad_outputs, outputs)) / step
        grads.append(grad)
    return grads


def with_derivative(f, df):
    """A float64 reference f whose complex-step derivative is df: f(x + ih) = f(x) + ih f'(x) (for
    references built on functions numpy has no complex form of, such as erf)."""
    def reference(x):
        if np.iscomplexobj(x):
            return f(x.real) + 1j * x.imag * df(x.real)
        return f(x)
    return reference


_erf = np.vectorize(math.erf, otypes=[np.float64])
# nn.GELU()'s exact form, x * Phi(x), and its derivative
gelu_reference = with_derivative(lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
                                 lambda x: 0.5 * (1 + _erf(x / math.sqrt(2)))
                                 + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _slack(dtype, rtol, atol):
    """The tolerance against torch: the table's (or the given one) times TORCH_SLACK for the dtype."""
    name = dtype_name(dtype)
    if name not in TOLERANCES:
        return rtol, atol
    factor = TORCH_SLACK.get(name, 1.0)
    default_rtol, default_atol = TOLERANCES[name]
    return ((default_rtol if rtol is None else rtol) * factor, (default_atol if atol is None else atol) * factor)


def interpreted_cuda_once(index, turn):
    """The devices for case `index` of a loop whose case `turn` (taken modulo the loop's length by the caller)
    runs on every device: under Triton's interpreter each cuda launch costs ~30 ms, so a composed op (a loss of
    a dozen ops, forward and backward) checks one case per loop there and the rest on the other devices. On a
    GPU every case runs everywhere."""
    if index == turn or os.environ.get("TRITON_INTERPRET") != "1":
        return DEVICES
    return tuple(d for d in DEVICES if d != "cuda") or DEVICES


def check_op(fw_fn, np_fn, torch_fn, *inputs, dtype=None, grad=True, noncontiguous=False, rng=None, rtol=None,
             atol=None, grad_rtol=None, grad_atol=None, out_dtype=None, devices=None):
    """Check `fw_fn(*inputs)` against `np_fn` in float64 and `torch_fn`, values and gradients.

    `inputs` are numpy arrays or Python scalars; floating arrays are first rounded to `dtype` (a
    framework dtype or name) when it is given. With `grad`, floating inputs require grad and a random
    upstream gradient is propagated. `noncontiguous` puts every array input in strided memory.
    `torch_fn=None` skips the torch half. `devices` (default: DEVICES) are the devices it runs on.
    Returns the framework output.
    """
    rng = RNG if rng is None else rng
    arrays = []
    for x in inputs:
        if isinstance(x, np.ndarray) and dtype is not None and x.dtype.kind == "f":
            x = x.astype(np_dtype(dtype))
        arrays.append(x)
    floating = [isinstance(x, np.ndarray) and (x.dtype.kind == "f" or x.dtype == np_dtype("bfloat16"))
                for x in arrays]
    ref_args = [x.astype(np.float64) if f else x for x, f in zip(arrays, floating)]
    expected = _as_tuple(np_fn(*ref_args))
    grad_outs = None
    references = None
    results = {}
    devices = DEVICES if devices is None else devices
    for device in devices:
        fw_inputs = [make_tensor(x, requires_grad=grad and f, noncontiguous=noncontiguous, device=device)
                     if isinstance(x, np.ndarray) else x for x, f in zip(arrays, floating)]
        outs = _as_tuple(fw_fn(*fw_inputs))
        results[device] = (fw_inputs, outs)
        on = f" on {device}"
        assert len(outs) == len(expected)
        for i, (out, exp) in enumerate(zip(outs, expected)):
            assert isinstance(out, fw.Tensor), f"output {i} is a {type(out).__name__}, not a Tensor"
            assert out.device.type == device, f"output {i} is on {out.device}, not {device}"
            if out_dtype is not None:
                assert out.dtype is out_dtype, f"output {i} dtype {out.dtype}, expected {out_dtype}{on}"
            assert_close(out, np.asarray(exp), out.dtype, rtol, atol, what=f"value of output {i} vs numpy{on}")

        diff = [i for i, t in enumerate(fw_inputs) if isinstance(t, fw.Tensor) and t.requires_grad]
        if diff:
            for i, out in enumerate(outs):
                assert out.requires_grad and out.grad_fn is not None, f"output {i} has no grad_fn{on}"
            if grad_outs is None:
                grad_outs = [random_array(rng, out.shape, out.dtype) for out in outs]
                references = numpy_vjp(np_fn, ref_args, [g.astype(np.float64) for g in grad_outs], diff)
            fw.autograd.backward(list(outs), [fw.tensor(g, device=device) for g in grad_outs])
            for i, reference in zip(diff, references):
                t = fw_inputs[i]
                assert t.grad is not None, f"input {i} got no gradient{on}"
                assert t.grad.shape == t.shape and t.grad.dtype is t.dtype, \
                    f"input {i}: grad {t.grad.dtype}{list(t.grad.shape)} for input {t.dtype}{list(t.shape)}{on}"
                assert t.grad.device == t.device, f"input {i}: grad on {t.grad.device}, input on {t.device}"
                assert_close(t.grad, reference, t.dtype, grad_rtol, grad_atol,
                             what=f"gradient of input {i} vs numpy{on}")
    fw_inputs, outs = results[devices[0]]
    diff = [i for i, t in enumerate(fw_inputs) if isinstance(t, fw.Tensor) and t.requires_grad]

    if torch is None or torch_fn is None:
        return outs[0] if len(outs) == 1 else outs
    t_inputs = [make_torch(x, requires_grad=grad and f) if isinstance(x, np.ndarray) else x
                for x, f in zip(arrays, floating)]
    t_outs = _as_tuple(torch_fn(*t_inputs))
    for i, (out, t_out) in enumerate(zip(outs, t_outs)):
        assert dtype_name(out.dtype) == dtype_name(t_out.dtype), f"output {i}: {out.dtype} vs torch {t_out.dtype}"
        assert tuple(out.shape) == tuple(t_out.shape), f"output {i}: shape {out.shape} vs torch {t_out.shape}"
        assert_close(out, t_out, out.dtype, *_slack(out.dtype, rtol, atol), what=f"value of output {i} vs torch")
    if diff:
        torch.autograd.backward(list(t_outs), [make_torch(g) for g in grad_outs])
        for i in diff:
            assert_close(fw_inputs[i].grad, t_inputs[i].grad, fw_inputs[i].dtype,
                         *_slack(fw_inputs[i].dtype, grad_rtol, grad_atol), what=f"gradient of input {i} vs torch")
    return outs[0] if len(outs) == 1 else outs


@contextlib.contextmanager
def case(**info):
    """Name the case in a failure raised inside the block (for loops over shapes within one test)."""
    try:
        yield
    except AssertionError as error:
        detail = ", ".join(f"{k}={v}" for k, v in info.items())
        raise AssertionError(f"[{detail}] {error}") from error


def gradcheck(fn, *arrays, **kwargs):
    """framework.autograd.gradcheck on float64 leaves holding `arrays` (non-arrays passed through)."""
    inputs = tuple(make_tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
                   if isinstance(a, np.ndarray) else a for a in arrays)
    assert fw.autograd.gradcheck(fn, inputs, **kwargs)


def torch_name(text):
    """PyTorch's spelling of a framework string: `framework.` -> `torch.`."""
    return text.replace("framework.", "torch.")


def raises_like_torch(fw_call, torch_call, match=None):
    """Both calls raise the same exception type (torch's when importable); returns framework's message."""
    expected_type = Exception
    torch_message = None
    if torch is not None:
        with pytest.raises(Exception) as t_info:
            torch_call()
        expected_type = t_info.type
        torch_message = str(t_info.value)
    with pytest.raises(Exception) as info:
        fw_call()
    # PyTorch's NotImplementedError is a RuntimeError: either way round, `except` clauses written for one catch both
    compatible = issubclass(info.type, expected_type) or (
        info.type is RuntimeError and issubclass(expected_type, RuntimeError))
    assert compatible, \
        f"framework raised {info.type.__name__}: {info.value}; torch raises {expected_type.__name__}: {torch_message}"
    if match is not None:
        assert match in str(info.value), f"{match!r} not in {str(info.value)!r}"
    return str(info.value)
