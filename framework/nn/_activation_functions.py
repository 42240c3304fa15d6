"""The elementwise activations of `framework.nn.functional` added to relu/gelu/silu/softplus: elu, selu, celu,
hardtanh, relu6, hardswish, hardsigmoid, mish and threshold (kernel pairs in framework.ops.nn), softsign and
tanhshrink (composed, as PyTorch composes them), prelu. `inplace=True` writes the result into the input."""
from ..ops import nn as _nn
from ..ops.inplace import apply_inplace


def _maybe_inplace(input, op, args, inplace, inplace_node=None):
    """`op(input, *args)`, written into `input` with `inplace` (its node then named `inplace_node` where PyTorch
    names the in-place form apart: elu_ shows EluBackward1)."""
    if inplace:
        return apply_inplace(input, op, *args, node_name=inplace_node)
    return op(input, *args)


def elu(input, alpha=1.0, inplace=False):
    return _maybe_inplace(input, _nn.elu, (alpha,), inplace, "EluBackward1")


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    return _maybe_inplace(input, _nn.elu, (_SELU_ALPHA, _SELU_SCALE), inplace, "EluBackward1")


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    return _maybe_inplace(input, _nn.celu, (alpha,), inplace, "CeluBackward1")


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _maybe_inplace(input, _nn.hardtanh, (min_val, max_val), inplace)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardswish(input, inplace=False):
    return _maybe_inplace(input, _nn.hardswish, (), inplace)


def hardsigmoid(input, inplace=False):
    return _maybe_inplace(input, _nn.hardsigmoid, (), inplace)


def mish(input, inplace=False):
    return _maybe_inplace(input, _nn.mish, (), inplace)


def threshold(input, threshold, value, inplace=False):
    return _maybe_inplace(input, _nn.threshold, (threshold, value), inplace, "ThresholdBackward1")


def threshold_(input, threshold, value):
    return _maybe_inplace(input, _nn.threshold, (threshold, value), True, "ThresholdBackward1")


def softsign(input):
    return input / (input.abs() + 1)


def tanhshrink(input):
    return input - input.tanh()


def prelu(input, weight):
    """x where x > 0, else weight * x; a weight of C > 1 values applies per channel (dim 1)."""
    return _nn.prelu(input, weight)
