"""Matrix products: matmul/@ in all of PyTorch's shapes, mm, bmm, mv, dot, outer, and linear."""
import math

from .. import dtypes
from ..autograd.function import autocast_inputs, run
from ..tensor import Tensor

# PyTorch has no bool matrix products: each path names its kernel (cpu, cuda) in the NotImplementedError
_KERNEL_NAMES = {"dot": ("dot", "dot"), "mv": ("addmv_impl_cpu", "addmv_impl_cuda"),
                 "mm": ("addmm_impl_cpu_", "addmm_cuda"), "bmm": ("bmm", "bmm_cuda")}


def _refuse_bool(input, path):
    if input._dtype is dtypes.bool:
        kernel = _KERNEL_NAMES[path][input._device.type == "cuda"]
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _same_dtype(a, b):
    if a._dtype is not b._dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a._dtype.cpp_name} != "
                           f"{b._dtype.cpp_name}")


def _dims(shape):
    return "x".join(str(s) for s in shape)


def matmul(input, other):
    """PyTorch's matmul: dot, mv, mm, or a batched product, with the errors and graph-node
    names of the path PyTorch takes for those shapes."""
    for position, (name, arg) in enumerate((("input", input), ("other", other)), 1):
        if not isinstance(arg, Tensor):
            raise TypeError(f"matmul(): argument '{name}' (position {position}) must be Tensor, not {type(arg).__name__}")
    input, other = autocast_inputs("matmul", (input, other))  # cast first: the dtype check compares the casts
    a, b = input._data.shape, other._data.shape
    if not a or not b:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {len(a)}D and {len(b)}D")
    _same_dtype(input, other)
    if len(a) == 1 and len(b) == 1:
        if a[0] != b[0]:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{a[0]}] and src [{b[0]}] to have the same "
                               f"number of elements, but got {a[0]} and {b[0]} elements respectively")
        _refuse_bool(input, "dot")
        return run("matmul", (input, other), (), "DotBackward0")
    if len(b) == 1:  # matrix (or folded batch of matrices) times vector
        rows = math.prod(a[:-1])
        if a[-1] != b[0]:
            raise RuntimeError(f"size mismatch, got input ({rows}), mat ({rows}x{a[-1]}), vec ({b[0]})")
        _refuse_bool(input, "mv")
        return run("matmul", (input, other), (), "MvBackward0" if len(a) == 2 else "UnsafeViewBackward0")
    if len(b) == 2 and len(a) <= 2 or len(a) > 2 and len(b) == 2:
        rows = math.prod(a[:-1])
        if a[-1] != b[0]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{a[-1]} and {_dims(b)})")
        _refuse_bool(input, "mm")
        name = {1: "SqueezeBackward4", 2: "MmBackward0"}.get(len(a), "UnsafeViewBackward0")
        return run("matmul", (input, other), (), name)
    from .elementwise import broadcast_shapes
    batch = math.prod(broadcast_shapes(a[:-2], b[:-2]))
    if a[-1] != b[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{batch}, {a[-1]}] but "
                           f"got: [{batch}, {b[-2]}].")
    _refuse_bool(input, "bmm")
    return run("matmul", (input, other), (), "UnsafeViewBackward0")


def mm(input, mat2):
    for name, m in (("self", input), ("mat2", mat2)):
        if m.ndim != 2:
            raise RuntimeError(f"{name} must be a matrix")
    return matmul(input, mat2)


def bmm(input, mat2):
    for name, m in (("batch1", input), ("batch2", mat2)):
        if m.ndim != 3:
            raise RuntimeError(f"{name} must be a 3D tensor")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{input.shape[0]}, "
                           f"{input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    input, mat2 = autocast_inputs("matmul", (input, mat2))
    _same_dtype(input, mat2)
    _refuse_bool(input, "bmm")
    return run("matmul", (input, mat2), (), "BmmBackward0")


def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    return matmul(input, vec)


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input._dtype is not other._dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {input._dtype.scalar_name} and "
                           f"{other._dtype.scalar_name}")
    return matmul(input, other)


def vdot(input, other):
    """The dot product of two 1-D tensors, the first conjugated (real tensors: dot, shown as VdotBackward0)."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input._dtype is not other._dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {input._dtype.scalar_name} "
                           f"and {other._dtype.scalar_name}")
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src [{other.shape[0]}] "
                           f"to have the same number of elements, but got {input.shape[0]} and {other.shape[0]} "
                           "elements respectively")
    input, other = autocast_inputs("matmul", (input, other))
    _refuse_bool(input, "dot")
    return run("matmul", (input, other), (), "VdotBackward0")


inner = dot


def outer(input, vec2):
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument self, but got {input.ndim}-D")
    return input.reshape(-1, 1) * vec2  # PyTorch's outer: a view of self as a column, times vec2


ger = outer


# The activations linear fuses into its epilogue, with the node name PyTorch shows for the activation
# (the fused node's output is the activation's). 'gelu' is nn.GELU()'s exact erf form.
LINEAR_ACTIVATIONS = {"relu": "ReluBackward0", "gelu": "GeluBackward0", "gelu_tanh": "GeluBackward0",
                      "silu": "SiluBackward0"}


def _linear_node(ndim, has_bias):
    """The node PyTorch's linear shows: addmm/mm on 2-d input; other ranks run as 2-d and are viewed back."""
    if ndim == 2:
        return "AddmmBackward0" if has_bias else "MmBackward0"
    if has_bias:
        return "ViewBackward0"
    return "SqueezeBackward4" if ndim == 1 else "UnsafeViewBackward0"


def linear(input, weight, bias=None, activation=None):
    """y = activation(input @ weight.T + bias); `activation` is None or one of LINEAR_ACTIVATIONS."""
    x_shape, w_shape = input._data.shape, weight._data.shape  # raw shapes: this is every layer's hot path
    if len(w_shape) != 2:
        raise RuntimeError(f"linear: expected a 2-D weight, got {len(w_shape)}-D of shape {list(w_shape)}")
    if not x_shape:
        raise RuntimeError("both arguments to linear need to be at least 1D, but they are 0D and 2D")
    if x_shape[-1] != w_shape[1]:
        rows = math.prod(x_shape[:-1])
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x_shape[-1]} and "
                           f"{w_shape[1]}x{w_shape[0]})")
    input, weight, bias = autocast_inputs("linear", (input, weight, bias))
    _same_dtype(input, weight)
    _refuse_bool(input, "mm")
    if bias is not None:
        _same_dtype(input, bias)
        b_shape = bias._data.shape
        if b_shape[-1:] != w_shape[:1] and bias._data.size != 1:
            raise RuntimeError(f"The size of tensor a ({w_shape[0]}) must match the size of tensor b "
                               f"({b_shape[-1]}) at non-singleton dimension {len(x_shape) - 1}")
    if activation is None:
        name = _linear_node(len(x_shape), bias is not None)
    elif activation in LINEAR_ACTIVATIONS:
        name = LINEAR_ACTIVATIONS[activation]
    else:
        raise ValueError(f"linear: unknown activation {activation!r}; expected None or one of "
                         f"{sorted(LINEAR_ACTIVATIONS)}")
    return run("linear", (input, weight, bias), (activation,), name)


TENSOR_METHODS = ("matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "outer", "ger")
__all__ = list(TENSOR_METHODS)
OPERATORS = {"__matmul__": matmul, "__rmatmul__": lambda self, other: matmul(other, self)}
