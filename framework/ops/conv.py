"""Convolutions: conv1d, conv2d, conv_transpose1d, conv_transpose2d, with PyTorch's argument rules and errors.

Every form runs the one registered op "convolution" (PyTorch's node: ConvolutionBackward0) on inputs of one or
two spatial dims: (input, weight, bias) and the params (stride, padding, dilation, transposed, output_padding,
groups, activation). `activation` (None, or one of linalg.LINEAR_ACTIVATIONS) is fused into the forward's
epilogue; nn.Sequential asks for it when a Conv is followed by ReLU/GELU/SiLU, and the node then shows the
activation's name, as linear's fused node does. Unbatched inputs run as a batch of one (unsqueeze, conv,
squeeze: PyTorch's graph). padding='same' with an even total padding in some dim pads the input on the right
first (ConstantPadNdBackward0 below the conv, as in PyTorch).
"""
import warnings

from ..autograd.function import autocast_inputs, run
from .linalg import LINEAR_ACTIVATIONS
from .padding import pad
from .shape import squeeze, unsqueeze


def _as_tuple(value, n):
    """An int or a sequence as a tuple of ints (an int repeated `n` times: PyTorch's _single/_pair)."""
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)):
        raise TypeError(f"expected an int or a tuple of ints, got {type(value).__name__}: {value!r}")
    return (int(value),) * n if isinstance(value, int) else tuple(int(v) for v in value)


def _match_dims(values, name, dims):
    """`values` for `dims` spatial dims (one value stands for all), else PyTorch's error."""
    if len(values) == dims:
        return values
    if len(values) == 1:
        return values * dims
    raise RuntimeError(f"expected {name} to be a single integer value or a list of {dims} values to match the "
                       f"convolution dimensions, but got {name}={list(values)}")


def _sizes(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _check(input, weight, bias, stride, padding, dilation, output_padding, groups, transposed):
    """PyTorch's checks of a batched convolution, in its order; the per-dim arguments for the weight's dims."""
    dims = weight.ndim - 2
    stride, padding, dilation, output_padding = (_match_dims(v, n, dims) for v, n in (
        (stride, "stride"), (padding, "padding"), (dilation, "dilation"), (output_padding, "output_padding")))
    if input.ndim != weight.ndim:
        raise RuntimeError(f"Expected {weight.ndim}-dimensional input for {weight.ndim}-dimensional weight "
                           f"{_sizes(weight.shape)}, but got {input.ndim}-dimensional input of size "
                           f"{_sizes(input.shape)} instead")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if input._dtype is not weight._dtype:
        raise RuntimeError(f"expected scalar type {input._dtype.scalar_name} but found {weight._dtype.scalar_name}")
    if bias is not None and bias._dtype is not input._dtype:
        raise RuntimeError(f"Input type ({input._dtype.cpp_name}) and bias type ({bias._dtype.cpp_name}) should be "
                           "the same")
    for other in (weight, bias):
        if other is not None and other._device != input._device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{input._device} and {other._device}!")
    if not input._dtype.is_floating_point:
        raise NotImplementedError(f"convolution: {input._dtype.scalar_name} inputs are not supported; use a floating "
                                  "dtype")
    if weight.shape[0] == 0:
        raise RuntimeError(f"Given groups={groups}, expected weight to be at least 1 at dimension 0, but got weight "
                           f"of size {_sizes(weight.shape)} instead")
    if weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, but "
                           f"got weight of size [{_sizes(weight.shape)}] instead")
    channels = weight.shape[0] if transposed else weight.shape[1] * groups
    if input.shape[1] != channels:
        kind = "transposed=1" if transposed else f"groups={groups}"
        raise RuntimeError(f"Given {kind}, weight of size {_sizes(weight.shape)}, expected input{_sizes(input.shape)} "
                           f"to have {channels} channels, but got {input.shape[1]} channels instead")
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != out_channels):
        raise RuntimeError(f"Given weight of size {_sizes(weight.shape)}, expected bias to be 1-dimensional with "
                           f"{out_channels} elements, but got bias of size {_sizes(bias.shape)} instead")
    spatial, kernel = input.shape[2:], weight.shape[2:]
    if transposed:
        if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
            names = ("height", "width") if dims == 2 else ("width",) if dims == 1 else ("depth", "height", "width")
            raise RuntimeError(
                "output padding must be smaller than either stride or dilation, but got "
                + " ".join(f"output_padding_{n}: {v}" for n, v in zip(names, output_padding)) + " "
                + " ".join(f"stride_{n}: {v}" for n, v in zip(names, stride)) + " "
                + " ".join(f"dilation_{n}: {v}" for n, v in zip(names, dilation)))
        out = output_size(spatial, kernel, stride, padding, dilation, True, output_padding)
        if any(n < 1 for n in out):
            raise RuntimeError(f"Given input size per channel: ({' x '.join(map(str, spatial))}). Calculated output "
                               f"size per channel: ({' x '.join(map(str, out))}). Output size is too small")
    else:
        padded = tuple(n + 2 * p for n, p in zip(spatial, padding))
        effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        if any(e > p for e, p in zip(effective, padded)):
            raise RuntimeError(f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel "
                               f"size: ({' x '.join(map(str, effective))}). Kernel size can't be greater than actual "
                               "input size")
    if dims not in (1, 2):
        raise NotImplementedError(f"convolution: {dims} spatial dims are not supported (1 or 2 are)")
    return stride, padding, dilation, output_padding


def _same_padding(input, weight, dilation):
    """PyTorch's padding='same': half of dilation * (k - 1) on each side; an odd total pads one more on the right
    (a copy of the input, with PyTorch's warning)."""
    dims = weight.ndim - 2
    left, extra = [], [0] * (2 * dims)
    for i, (k, d) in enumerate(zip(weight.shape[2:], dilation)):
        total = d * (k - 1)
        left.append(total // 2)
        if total % 2:
            extra[2 * (dims - 1 - i) + 1] = 1  # F.pad's order: last dim first, (left, right)
    if any(extra):
        warnings.warn("Using padding='same' with even kernel lengths and odd dilation may require a zero-padded copy "
                      "of the input be created", UserWarning, stacklevel=4)
        input = pad(input, extra)
    return input, tuple(left)


def _convolution(input, weight, bias, stride, padding, dilation, groups, dims, name, transposed=False,
                 output_padding=0, activation=None):
    """The common path of every form: `dims` is the function's (conv2d: 2), which sizes its int arguments."""
    if input.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"Expected {dims + 1}D (unbatched) or {dims + 2}D (batched) input to {name}, but got "
                           f"input of size: {_sizes(input.shape)}")
    if activation is not None and activation not in LINEAR_ACTIVATIONS:
        raise ValueError(f"{name}: unknown activation {activation!r}; expected None or one of "
                         f"{sorted(LINEAR_ACTIVATIONS)}")
    if input.ndim == dims + 1:  # unbatched: a batch of one, as PyTorch runs it
        out = _convolution(unsqueeze(input, 0), weight, bias, stride, padding, dilation, groups, dims, name,
                           transposed, output_padding, activation)
        return squeeze(out, 0)
    if weight.ndim < 3:
        raise RuntimeError("weight should have at least three dimensions")
    input, weight, bias = autocast_inputs("convolution", (input, weight, bias))  # first: _check compares dtypes
    stride, dilation = _as_tuple(stride, dims), _as_tuple(dilation, dims)
    output_padding = _as_tuple(output_padding, dims)
    if isinstance(padding, str):
        if transposed:
            raise TypeError(f"{name}(): argument 'padding' must be tuple of ints, not str")
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            if weight.ndim == input.ndim:
                input, padding = _same_padding(input, weight, _match_dims(dilation, "dilation", weight.ndim - 2))
            else:
                padding = 0  # _check names the mismatch
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    stride, padding, dilation, output_padding = _check(input, weight, bias, stride, _as_tuple(padding, dims),
                                                       dilation, output_padding, int(groups), transposed)
    node = "ConvolutionBackward0" if activation is None else LINEAR_ACTIVATIONS[activation]
    return run("convolution", (input, weight, bias),
               (stride, padding, dilation, transposed, output_padding, int(groups), activation), node)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, activation=None):
    """`activation` (not PyTorch's): None, or 'relu', 'gelu', 'gelu_tanh', 'silu' fused into the epilogue."""
    return _convolution(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d", activation=activation)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, activation=None):
    """`activation` (not PyTorch's): None, or 'relu', 'gelu', 'gelu_tanh', 'silu' fused into the epilogue."""
    return _convolution(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d", activation=activation)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _convolution(input, weight, bias, stride, padding, dilation, groups, 1, "conv_transpose1d",
                        transposed=True, output_padding=output_padding)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _convolution(input, weight, bias, stride, padding, dilation, groups, 2, "conv_transpose2d",
                        transposed=True, output_padding=output_padding)


def output_size(spatial, kernel, stride, padding, dilation, transposed=False, output_padding=None):
    """The output's spatial sizes (PyTorch's formulas)."""
    if transposed:
        return tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1
                     for n, k, s, p, d, op in zip(spatial, kernel, stride, padding, dilation, output_padding))
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in zip(spatial, kernel, stride, padding,
                                                                                  dilation))


__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]
