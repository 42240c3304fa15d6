"""`framework.autocast`: regions where ops pick their precision by PyTorch's autocast policy.

Where ops pick it up: `framework.autograd.function.run`, the one call through which every registered op
runs, and the `@composite` wrapper of ops composed of others (mse_loss, layer_norm, ...). Inside an enabled
region both hand the op's name and inputs to `cast_inputs` (installed as `function.AUTOCAST` while any region
is on), which casts the floating-point inputs (never float64 ones) by the op's list:

* LOWER: the matmul family runs in the region's dtype (float16 or bfloat16), on tensor cores;
* FP32: ops that need range or precision (losses, and on cuda softmax, exp/log/pow, sums, norms) run in fp32;
* PROMOTE: ops with several float inputs run in the widest of them (float32 if any is).

Other ops run in their inputs' dtype. The lists are PyTorch's (aten/src/ATen/autocast_mode.cpp, read for
PyTorch 2.x) for the ops framework has, per device: the CPU's fp32 list is shorter than cuda's (softmax, exp,
sum... stay in bfloat16 on the CPU, as PyTorch's do). The casts are ordinary recorded ops (`to`), so gradients
reach float32 master weights in float32. A float32 leaf that requires grad (a parameter) is cast to the
region's dtype once per outermost region (`cache_enabled`), however many ops read it.
"""
import functools
import threading
import warnings

from .. import dtypes
from ..autograd import function as _function

__all__ = ["autocast", "get_autocast_dtype", "is_autocast_enabled", "is_autocast_cache_enabled"]

# mm, bmm, mv, dot's matmul path, addmm's product all run "matmul"; every conv and conv_transpose "convolution";
# the recurrent layers' step "rnn_step" (PyTorch lists their fused kernels: _cudnn_rnn and the cells on cuda,
# mkldnn_rnn_layer on the CPU); scaled_dot_product_attention is in both devices' lists too
_MATMUL_FAMILY = {"linear", "matmul", "convolution", "rnn_step", "scaled_dot_product_attention"}
LOWER = {"cpu": _MATMUL_FAMILY, "cuda": _MATMUL_FAMILY}
_LOSSES = {"cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "mse_loss", "huber_loss",
           "smooth_l1_loss"}
FP32 = {
    "cpu": _LOSSES | {"prod", "binary_cross_entropy", "cdist", "trace"},
    "cuda": _LOSSES | {"exp", "expm1", "log", "log1p", "reciprocal", "rsqrt", "pow", "pow_scalar", "square", "softplus",
                       "layer_norm", "rms_norm", "group_norm", "logsumexp", "softmax", "log_softmax", "cumsum", "cumprod", "prod",
                       "sum", "norm", "erfinv", "cdist"},
}
PROMOTE = {"cpu": {"cat", "stack"}, "cuda": {"cat", "stack", "index_put", "scatter_add"}}
# PyTorch refuses to autocast binary_cross_entropy on cuda (its message, for the same reason)
BANNED = {"cuda": {"binary_cross_entropy": (
    "framework.nn.functional.binary_cross_entropy and framework.nn.BCELoss are unsafe to autocast.\n"
    "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
    "In this case, combine the two layers using framework.nn.functional.binary_cross_entropy_with_logits\n"
    "or framework.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
    "safe to autocast.")}}

_DEFAULT_DTYPES = {"cpu": dtypes.bfloat16, "cuda": dtypes.float16}
_SUPPORTED = (dtypes.bfloat16, dtypes.float16)


class _State(threading.local):
    """Per thread, as PyTorch's: each device type's (enabled, dtype), the cache flag, the nesting depth and the
    weight-cast cache (id(tensor) -> (tensor, its cast))."""

    def __init__(self):
        self.enabled = {"cpu": False, "cuda": False}
        self.dtype = dict(_DEFAULT_DTYPES)
        self.cache_enabled = True
        self.depth = 0
        self.cache = {}


_STATE = _State()
_ACTIVE_REGIONS = [0]  # enabled regions open in any thread: the hook stays installed while there is one


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for `device_type` ('cuda' when not given, as PyTorch's)."""
    return _STATE.enabled.get(device_type or "cuda", False)


def get_autocast_dtype(device_type):
    return _STATE.dtype[device_type]


def is_autocast_cache_enabled():
    return _STATE.cache_enabled


def clear_autocast_cache():
    _STATE.cache.clear()


# ---- the policy --------------------------------------------------------------------------------------------

def _eligible(x, device_type):
    return (isinstance(x, _function.Tensor) and x._device.type == device_type and x._dtype.is_floating_point
            and x._dtype is not dtypes.float64)


def _cast(x, dtype, device_type):
    if not _eligible(x, device_type) or x._dtype is dtype:
        return x
    state = _STATE
    cacheable = (state.cache_enabled and dtype is state.dtype[device_type] and x._dtype is dtypes.float32
                 and x._requires_grad and x.grad_fn is None and x._base is None)
    if cacheable:
        found = state.cache.get(id(x))
        if found is not None and found[0] is x:
            return found[1]
    cast = x.to(dtype)
    if cacheable:
        state.cache[id(x)] = (x, cast)  # holds x: its id cannot be reused while the entry lives
    return cast


def cast_inputs(op, inputs):
    """`inputs` cast by `op`'s autocast list for their device (unchanged outside an enabled region)."""
    device_type = next((x._device.type for x in inputs if isinstance(x, _function.Tensor)), None)
    state = _STATE
    if device_type is None or not state.enabled.get(device_type):
        return inputs
    if op in LOWER[device_type]:
        target = state.dtype[device_type]
    elif op in FP32[device_type]:
        target = dtypes.float32
    elif op in PROMOTE[device_type]:
        floats = [x._dtype for x in _flat(inputs) if _eligible(x, device_type)]
        target = dtypes.float32 if dtypes.float32 in floats else state.dtype[device_type]
        return tuple([_cast(v, target, device_type) for v in x] if isinstance(x, (list, tuple)) else
                     _cast(x, target, device_type) for x in inputs)
    elif op in BANNED.get(device_type, ()):
        raise RuntimeError(BANNED[device_type][op])
    else:
        return inputs
    return tuple(_cast(x, target, device_type) for x in inputs)


def _flat(inputs):
    for x in inputs:
        if isinstance(x, (list, tuple)):
            yield from x
        else:
            yield x


# ---- the region --------------------------------------------------------------------------------------------

class autocast:
    """`with framework.autocast("cuda"):` or `@framework.autocast("cpu", dtype=framework.bfloat16)`."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _DEFAULT_DTYPES:
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self.device = device_type
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else dtype
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else cache_enabled
        if enabled and device_type == "cuda":
            from .. import cuda
            if not cuda.is_available():
                warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", stacklevel=2)
                enabled = False
        if enabled and self.fast_dtype not in _SUPPORTED:
            name = device_type.upper()
            warnings.warn(f"In {name} autocast, but the target dtype is not supported. Disabling autocast.\n"
                          f"{name} Autocast only supports dtypes of framework.bfloat16, framework.float16 currently.",
                          stacklevel=2)
            enabled = False
        self._enabled = bool(enabled)
        self._saved = []  # a stack: one decorated function may re-enter its own region

    def __enter__(self):
        state = _STATE
        self._saved.append((state.enabled[self.device], state.dtype[self.device], state.cache_enabled))
        state.enabled[self.device] = self._enabled
        state.dtype[self.device] = self.fast_dtype
        state.cache_enabled = self._cache_enabled
        state.depth += 1
        _ACTIVE_REGIONS[0] += 1
        _function.AUTOCAST = cast_inputs
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        state = _STATE
        state.enabled[self.device], state.dtype[self.device], state.cache_enabled = self._saved.pop()
        state.depth -= 1
        if state.depth == 0:  # leaving the outermost region: its casts of the weights are dropped
            state.cache.clear()
        _ACTIVE_REGIONS[0] -= 1
        if _ACTIVE_REGIONS[0] == 0:
            _function.AUTOCAST = None
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return decorate_autocast
