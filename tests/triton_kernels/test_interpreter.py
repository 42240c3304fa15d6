"""triton_kernels/interpreter.py: what the kernels need from Triton's interpreter beyond what it offers.

Here: inf and nan are values in a kernel (IEEE arithmetic, as on a GPU), so an interpreted launch raises none
of numpy's floating-point warnings; numpy's own settings outside the launch are left as they were.
"""
import warnings

import numpy as np

from triton_kernels import elementwise as E
from triton_kernels.host_tensor import HostTensor as H


def test_interpreted_launches_compute_inf_and_nan_without_numpy_warnings():
    a = np.array([1.0, -1.0, 0.0, np.inf, 3e38, np.nan], np.float32)
    b = np.array([0.0, 0.0, 0.0, np.inf, 1e-30, 1.0], np.float32)
    quotient, difference = np.empty_like(a), np.empty_like(a)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")  # a warning fails the test; so would numpy's "raise" reaching the kernel
        E.binary("div", H(a), H(b), H(quotient))
        E.binary("sub", H(a), H(a), H(difference))
        assert np.geterr()["divide"] == "raise"  # restored after each launch
    np.testing.assert_array_equal(quotient, [np.inf, -np.inf, np.nan, np.nan, np.inf, np.nan])
    np.testing.assert_array_equal(difference, [0.0, 0.0, 0.0, np.nan, 0.0, np.nan])
