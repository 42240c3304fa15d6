"""The nn ops with kernel pairs of their own: activations PyTorch keeps as single ops, fused losses, embedding.

Each function checks its arguments with PyTorch's messages, then runs the registered op.
Values are checked where they live: on the CPU class indices, embedding indices and BCE's
probabilities are checked here, before any kernel reads them; on `cuda` the kernels check
them on the device and a violation raises the same error at the next synchronising call
(backends/cuda/device_errors.py), so the host never waits for the device to check.
`framework.nn.functional` is the user-facing layer over these.
"""
import numpy as np

from .. import dtypes
from ..autograd.composite import composite
from ..autograd.function import run
from ..autograd.grad_mode import is_grad_enabled
from ..graphs import recording
from ..tensor import Tensor

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")




def _no_grad_argument(function, name, tensor):
    """PyTorch refuses, rather than silently ignore, a weight that asks for a gradient it will not get."""
    if tensor is not None and tensor._requires_grad and is_grad_enabled():
        raise RuntimeError(f"The function '{function}' is not differentiable with respect to argument '{name}'. "
                           "This input cannot have requires_grad True.")


def _require_float(op, input):
    if not input._dtype.is_floating_point:
        raise NotImplementedError(f"\"{op}\" not implemented for '{input._dtype.scalar_name}'")


# ---- activations -----------------------------------------------------------

def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    _require_float("GeluKernelImpl", input)
    return run("gelu", (input,), (approximate,))


def silu(input):
    _require_float("silu", input)
    return run("silu", (input,))


def leaky_relu(input, negative_slope=0.01):
    _require_float("leaky_relu_cpu", input)
    return run("leaky_relu", (input,), (float(negative_slope),))


def softplus(input, beta=1.0, threshold=20.0):
    _require_float("softplus_cpu", input)
    return run("softplus", (input,), (float(beta), float(threshold)))


def elu(input, alpha=1.0, scale=1.0):
    """scale * (x if x > 0 else alpha * (exp(x) - 1)); selu is elu with PyTorch's two constants."""
    _require_float("elu_cpu", input)
    return run("elu", (input,), (float(alpha), float(scale)))


def celu(input, alpha=1.0):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    _require_float("elu_cpu", input)
    return run("celu", (input,), (float(alpha),))


def hardtanh(input, min_val=-1.0, max_val=1.0):
    """clamp(x, min_val, max_val), with no gradient at the bounds; integers clamp to the bounds truncated to
    integers (PyTorch accepts them so)."""
    if not input._dtype.is_floating_point:
        from .elementwise import clamp
        return clamp(input, int(min_val), int(max_val))
    return run("hardtanh", (input,), (float(min_val), float(max_val)))


def threshold(input, threshold, value):
    """value where x <= threshold, else x; integers work too, with both numbers truncated (as in PyTorch)."""
    if not input._dtype.is_floating_point:
        from .elementwise import where
        return where(input <= int(threshold), int(value), input)
    return run("threshold", (input,), (float(threshold), float(value)))


def _parameterless(op, kernel_name):
    def activation(input):
        _require_float(kernel_name, input)
        return run(op, (input,))
    activation.__name__ = op
    return activation


hardswish = _parameterless("hardswish", "hardswish_cpu")
hardsigmoid = _parameterless("hardsigmoid", "hardsigmoid_cpu")
mish = _parameterless("mish", "mish_cpu")
logsigmoid = _parameterless("log_sigmoid", "log_sigmoid_cpu")


def prelu(input, weight):
    """x where x > 0, else weight * x: one weight, or one per channel (dim 1). Composed (where, mul) and recorded
    as PyTorch's one node."""
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    if weight._dtype is not input._dtype:
        raise RuntimeError(f"prelu: Type promoting not supported. Got {input._dtype.scalar_name} and "
                           f"{weight._dtype.scalar_name}")
    _require_float("prelu_cpu", input)
    n_weights = weight.numel()
    if n_weights != 1:
        if input.ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input.shape[1] if input.ndim >= 2 else 1
        if n_weights != channels:
            raise RuntimeError("Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{n_weights} and channel size = {channels}.")
    if weight.ndim != input.ndim:  # as PyTorch: the weight viewed as (1, C, 1, ...), its node a ViewBackward0
        weight = weight.reshape([1 if i != 1 else n_weights for i in range(input.ndim)])
    return _prelu_kernel(input, weight)


@composite("PreluKernelBackward0", inputs=("input", "weight"))
def _prelu_kernel(input, weight):
    from .elementwise import where
    return where(input > 0, input, weight * input)


# ---- class-index losses --------------------------------------------------------

def _check_class_targets(input, target, weight, ignore_index):
    """PyTorch's checks for (input, class-index target) pairs, in its order and words."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if target._dtype not in (dtypes.int64, dtypes.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {target._dtype.scalar_name}")
    if input.ndim >= 2 and (target.shape[0] if target.ndim else 0) != input.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({target.shape[0] if target.ndim else 0}).")
    if input.ndim <= 2:
        if target.ndim > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    else:
        expected = [input.shape[0]] + list(input.shape[2:])
        if list(target.shape) != expected:
            raise RuntimeError(f"Expected target size {expected}, got {list(target.shape)}")
    n_classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    if weight is not None and (weight.ndim != 1 or weight.numel() != n_classes):
        raise RuntimeError(f"weight tensor should be defined either for all {n_classes} classes or no classes but "
                           f"got weight tensor of shape: {list(weight.shape)}")
    recording.host_op(_check_target_range, target, n_classes, ignore_index)  # a graph replay checks again


def _check_target_range(target, n_classes, ignore_index):
    bounds = _host_range(target)
    if bounds is not None and (bounds[0] < 0 or bounds[1] >= n_classes):  # two reductions in the common case
        values = target._host().reshape(-1)
        bad = (values != ignore_index) & ((values < 0) | (values >= n_classes))
        if bad.any():
            raise IndexError(f"Target {values[bad.argmax()]} is out of bounds.")


def _nll_node(input, reduction):
    """The node PyTorch shows: it runs inputs of 3 or 5+ dims as 4-d ones and views 'none' results back."""
    if input.ndim <= 2:
        return "NllLossBackward0"
    return "NllLoss2DBackward0" if input.ndim == 4 or reduction != "none" else "ViewBackward0"


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """log_softmax over dim 1 (dim 0 for one unbatched row) and NLL in one fused op.

    `target` holds class indices (int64, one dim fewer than `input`) or class
    probabilities (float, `input`'s shape).
    """
    check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    _require_float("log_softmax_lastdim_kernel_impl", input)
    if input.shape == target.shape:
        if not target._dtype.is_floating_point:
            raise RuntimeError("Expected floating point type for target with class probabilities, got "
                               f"{target._dtype.scalar_name}")
        n_classes = input.shape[1] if input.ndim > 1 else input.shape[0]
        if weight is not None and (weight.ndim != 1 or weight.numel() != n_classes):
            raise RuntimeError(f"weight tensor should be defined either for all {n_classes} classes or no classes "
                               f"but got weight tensor of shape: {list(weight.shape)}")
        if target._dtype is not input._dtype:
            target = target.to(input._dtype)
        node = "DivBackward1" if reduction == "mean" else "NegBackward0"
    else:
        _check_class_targets(input, target, weight, ignore_index)
        node = "AddBackward0" if label_smoothing > 0 else _nll_node(input, reduction)
    _no_grad_argument("nll_loss_forward", "weight", weight)
    weight = _like(weight, input)
    return run("cross_entropy", (input, target, weight), (ignore_index, float(label_smoothing), reduction), node)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """-input[target] (times the class weight) per prediction; `input` holds log-probabilities."""
    check_reduction(reduction)
    _check_class_targets(input, target, weight, ignore_index)
    _require_float("nll_loss_forward_reduce_cuda_kernel_2d_index", input)
    _no_grad_argument("nll_loss_forward", "weight", weight)
    return run("nll_loss", (input, target, _like(weight, input)), (ignore_index, reduction),
               _nll_node(input, reduction))


def _like(tensor, input):
    """An optional weight-like tensor in `input`'s dtype and on its device."""
    if tensor is None:
        return None
    if tensor._dtype is not input._dtype or tensor._device != input._device:
        return tensor.to(device=input._device, dtype=input._dtype)
    return tensor


def _host_range(t):
    """(min, max) of a CPU tensor's values (nan when any is nan), or None when it is empty or not on the CPU: the
    kernels of other devices check the values themselves, on the device."""
    if t._device.type != "cpu" or t.numel() == 0:
        return None
    host = t._data  # the raw array: no autograd is involved in reading it
    if host.dtype.kind == "f" and np.isnan(host).any():
        return float("nan"), float("nan")
    return host.min(), host.max()


class _LogitsShape:
    """What `_check_class_targets` reads of the logits that linear_cross_entropy never forms: ndim and shape."""
    ndim = 2

    def __init__(self, n_rows, n_classes):
        self.shape = (n_rows, n_classes)


def linear_cross_entropy(input, weight, target, bias=None, ignore_index=-100, reduction="mean",
                         label_smoothing=0.0, chunk_size=None):
    """cross_entropy(input @ weight.T + bias, target) without materialising the (N, V) logits.

    `input` (N, K), `weight` (V, K), `bias` (V,) or None, `target` (N,) class indices. Rows run in chunks of
    `chunk_size` (default: about 4M logits at a time), so memory beyond the inputs and gradients is
    O(chunk x V); the backward recomputes each chunk's logits.
    """
    check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer))
                                   or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    if input.ndim != 2:
        raise RuntimeError(f"linear_cross_entropy: expected a 2-D input (N, K), got {input.ndim}-D of shape "
                           f"{list(input.shape)}")
    if weight.ndim != 2:
        raise RuntimeError(f"linear: expected a 2-D weight, got {weight.ndim}-D of shape {list(weight.shape)}")
    if input.shape[1] != weight.shape[1]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({input.shape[0]}x{input.shape[1]} and "
                           f"{weight.shape[1]}x{weight.shape[0]})")
    for other in (weight, bias):
        if other is not None and other._dtype is not input._dtype:
            raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {input._dtype.cpp_name} != "
                               f"{other._dtype.cpp_name}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise RuntimeError(f"linear_cross_entropy: expected a bias of shape [{weight.shape[0]}], got "
                           f"{list(bias.shape)}")
    _require_float("log_softmax_lastdim_kernel_impl", input)
    if target.ndim != 1:
        raise RuntimeError("linear_cross_entropy: expected a 1-D target of class indices (N,), got shape "
                           f"{list(target.shape)}")
    _check_class_targets(_LogitsShape(input.shape[0], weight.shape[0]), target, None, ignore_index)
    if target._dtype is not dtypes.int64:
        target = target.to(dtypes.int64)
    chunk = None if chunk_size is None else int(chunk_size)
    return run("linear_cross_entropy", (input, weight, target, bias),
               (int(ignore_index), float(label_smoothing), reduction, chunk))


# ---- binary losses ---------------------------------------------------------------

def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    check_reduction(reduction)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    recording.host_op(_check_probabilities, input, target)  # a graph replay checks again
    _no_grad_argument("binary_cross_entropy", "weight", weight)
    if weight is not None:
        from .elementwise import broadcast_shapes
        weight = _like(weight, input).expand(broadcast_shapes(tuple(target.shape), tuple(weight.shape)))
    return run("binary_cross_entropy", (input, _like(target, input), weight), (reduction,))


def _check_probabilities(input, target):
    for name, values in (("input", input), ("target", target)):
        bounds = _host_range(values)
        if bounds is not None and not (bounds[0] >= 0 and bounds[1] <= 1):  # nan fails both comparisons
            raise RuntimeError(f"all elements of {name} should be between 0 and 1")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    check_reduction(reduction)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    _no_grad_argument("binary_cross_entropy_with_logits", "weight", weight)
    _no_grad_argument("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    return run("binary_cross_entropy_with_logits",
               (input, _like(target, input), _like(weight, input), _like(pos_weight, input)), (reduction,))


# ---- embedding ---------------------------------------------------------------------

def embedding(weight, indices, padding_idx=None):
    """Rows of `weight` picked by integer `indices`; the `padding_idx` row gets no gradient."""
    if not isinstance(indices, Tensor) or indices._dtype not in (dtypes.int64, dtypes.int32):
        got = indices.type() if isinstance(indices, Tensor) else type(indices).__name__
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {got} instead (while checking arguments for embedding)")
    recording.host_op(_check_embedding_indices, indices, weight.shape[0])  # a graph replay checks again
    return run("embedding", (weight, indices), (padding_idx,))


def _check_embedding_indices(indices, rows):
    bounds = _host_range(indices)
    if bounds is not None and (bounds[0] < 0 or bounds[1] >= rows):
        raise IndexError("index out of range in self")


__all__ = ["gelu", "silu", "leaky_relu", "softplus", "elu", "celu", "hardtanh", "threshold", "hardswish",
           "hardsigmoid", "mish", "logsigmoid", "prelu", "cross_entropy", "nll_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "embedding", "linear_cross_entropy"]
