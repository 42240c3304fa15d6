"""CPU kernels of the elementwise activations added to nn.py's four: elu (and selu), celu, hardtanh, hardswish,
hardsigmoid, mish, logsigmoid and threshold, with PyTorch's CPU formulas (its branch at the kinks, and for nan, included:
its tests are `x <= 0` for elu and celu, so 0 takes the exp side and nan the other; hardtanh passes no
gradient at its bounds). The cuda twins are the ops of the
same names in triton_kernels/elementwise.py.
"""
import numpy as np

from .nn import _activation, _sigmoid


def _elu(x, alpha, scale):
    return np.where(x <= 0, scale * alpha * np.expm1(x), scale * x).astype(x.dtype, copy=False)


def _elu_grad(g, x, alpha, scale):
    return np.where(x <= 0, g * (scale * alpha) * np.exp(x), g * scale).astype(x.dtype, copy=False)


def _celu(x, alpha):
    return np.where(x <= 0, alpha * np.expm1(x / alpha), x).astype(x.dtype, copy=False)


def _celu_grad(g, x, alpha):
    return np.where(x <= 0, g * np.exp(x / alpha), g).astype(x.dtype, copy=False)


def _hardtanh(x, low, high):
    return np.minimum(high, np.maximum(low, x)).astype(x.dtype, copy=False)  # clamp's: nan stays nan


def _hardtanh_grad(g, x, low, high):
    return np.where((x <= low) | (x >= high), 0, g).astype(g.dtype, copy=False)


def _relu6(x):
    return np.where(x > 6, 6, np.where(x < 0, 0, x)).astype(x.dtype, copy=False)  # nan stays nan


def _hardswish_grad(g, x):
    return np.where(x <= -3, 0, np.where(x < 3, g * (x / 3 + 0.5), g)).astype(g.dtype, copy=False)


def _hardsigmoid_grad(g, x):
    return np.where((x > -3) & (x < 3), g / 6, 0).astype(g.dtype, copy=False)


def _mish(x):
    return x * np.tanh(np.log1p(np.exp(x)))  # exp overflowing to inf still gives x


def _mish_grad(g, x):
    t = np.tanh(np.log1p(np.exp(x)))
    return g * (t + x * _sigmoid(x) * (1 - t * t))


def _logsigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _logsigmoid_grad(g, x):
    z = np.exp(-np.abs(x))
    side = z / (1 + z)
    return g * np.where(x < 0, 1 - side, side).astype(x.dtype, copy=False)


_activation("elu", _elu, _elu_grad)
_activation("celu", _celu, _celu_grad)
_activation("hardtanh", _hardtanh, _hardtanh_grad)
_activation("hardswish", lambda x: x * _relu6(x + 3) / 6, _hardswish_grad)
_activation("hardsigmoid", lambda x: _relu6(x + 3) / 6, _hardsigmoid_grad)
_activation("mish", _mish, _mish_grad)
_activation("log_sigmoid", _logsigmoid, _logsigmoid_grad)
_activation("threshold", lambda x, threshold, value: np.where(x <= threshold, value, x).astype(x.dtype, copy=False),
            lambda g, x, threshold, value: np.where(x <= threshold, 0, g).astype(g.dtype, copy=False))
