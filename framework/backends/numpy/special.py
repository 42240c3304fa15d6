"""erf, erfc and erfinv of float64 arrays, vectorised (numpy has none of them).

erfc is W. J. Cody's rational approximation (framework/backends/numpy/nn.py, shared with GELU); erf takes
Cody's small-argument branch directly (1 - erfc would lose the relative precision of tiny arguments).
erfinv starts from M. Giles' single-precision approximation ("Approximating the erfinv function", GPU
Computing Gems, 2011) and refines it with Newton steps: on erf(x) - |y| for |y| <= 0.5, and on
log(erfc(x)) - log(1 - |y|) beyond, where 1 - |y| is exact, erf(x) - |y| would cancel, and the logarithm
makes the Gaussian tail nearly quadratic (Giles' start is 12% off at 1 - 1e-16, outside its float32 range;
four steps reach 1e-15 there).
"""
import math

import numpy as np

from .nn import _ERF_A, _ERF_B, erfc

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SMALL = 0.46875  # Cody's first interval


def erf(x):
    """The error function of a float64 array, to about 1e-16 relative error."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) <= _SMALL
    z = x * x
    num, den = _ERF_A[4] * z, z
    for i in range(3):
        num, den = (num + _ERF_A[i]) * z, (den + _ERF_B[i]) * z
    direct = x * (num + _ERF_A[3]) / (den + _ERF_B[3])
    tail = np.copysign(1.0 - erfc(np.abs(x)), x)
    return np.where(small, direct, tail)


# Giles' coefficients, highest power first: w < 5 (polynomial in w - 2.5) and w >= 5 (in sqrt(w) - 3)
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
               -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _horner(coefficients, w):
    p = np.full_like(w, coefficients[0])
    for c in coefficients[1:]:
        p = p * w + c
    return p


def erfinv(y):
    """The inverse error function of a float64 array: +-inf at +-1, nan outside [-1, 1]."""
    y = np.asarray(y, dtype=np.float64)
    a = np.abs(y)
    inside = a < 1
    a_in = np.where(inside, a, 0.5)  # placeholder where the answer is inf or nan
    w = -np.log((1.0 - a_in) * (1.0 + a_in))
    x = np.where(w < 5.0, _horner(_GILES_CENTRAL, w - 2.5), _horner(_GILES_TAIL, np.sqrt(w) - 3.0)) * a_in
    tail = a_in > 0.5
    log_rest = np.log(1.0 - a_in)  # 1 - a_in is exact for a_in in [0.5, 1]
    for _ in range(4):
        slope = _TWO_OVER_SQRT_PI * np.exp(-x * x)
        complement = erfc(x)
        x = np.where(tail, x + (np.log(complement) - log_rest) * complement / slope, x - (erf(x) - a_in) / slope)
    x = np.where(inside, x, np.where(a == 1, np.inf, np.nan))
    return np.where(y == 0, y, np.copysign(x, y))  # erfinv(-0.0) is -0.0
