"""Bilinear: values and gradients of F.bilinear on every device and float dtype, PyTorch's initialisation draw
for draw, node names, reprs and errors."""
import numpy as np
import pytest

import framework as fw
from framework import nn
from helpers import (FLOAT_NAMES, assert_same_draws, case, check_op, random_array, raises_like_torch, requires_torch,
                     torch, torch_name)

TF = torch.nn.functional if torch is not None else None


def np_bilinear(x1, x2, w, b=None):
    y = np.einsum("...i,oij,...j->...o", x1, w, x2)
    return y if b is None else y + b


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_bilinear_function(rng, dtype):
    for lead, with_bias in [((5,), True), ((2, 3), False), ((), True), ((0,), True), ((1,), False)]:
        x1, x2 = random_array(rng, lead + (4,), dtype), random_array(rng, lead + (3,), dtype)
        w, b = random_array(rng, (6, 4, 3), dtype), random_array(rng, (6,), dtype)
        arrays = [x1, x2, w] + ([b] if with_bias else [])
        loose = {} if dtype in ("float32", "float64") else dict(atol=3e-2, grad_atol=3e-2)  # rounded products
        with case(lead=lead, bias=with_bias):
            out = check_op(nn.functional.bilinear, np_bilinear, TF and TF.bilinear, *arrays, dtype=dtype, rng=rng,
                           noncontiguous=lead == (5,), **loose)
            assert out.shape == lead + (6,)
            if torch is not None:
                expected = TF.bilinear(*[torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays])
                assert out.grad_fn.name() == expected.grad_fn.name()
                assert len(out.grad_fn.next_functions) == len(expected.grad_fn.next_functions)


@requires_torch
@pytest.mark.uses_random
def test_module_initialises_like_torch():
    for bias in (True, False):
        fw.manual_seed(3)
        torch.manual_seed(3)
        ours, theirs = nn.Bilinear(5, 3, 4, bias=bias), torch.nn.Bilinear(5, 3, 4, bias=bias)
        assert torch_name(repr(ours)) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for (name, p), (_, t) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert_same_draws(p.detach(), t.detach(), name)
        x1, x2 = np.ones((2, 5), np.float32), np.full((2, 3), 0.5, np.float32)
        np.testing.assert_allclose(ours(fw.tensor(x1), fw.tensor(x2)).detach().numpy(),
                                   theirs(torch.tensor(x1), torch.tensor(x2)).detach().numpy(), rtol=1e-5, atol=1e-6)
    raises_like_torch(lambda: nn.Bilinear(0, 3, 4), lambda: torch.nn.Bilinear(0, 3, 4),
                      match="in1_features must be > 0, but got (in1_features=0)")


@requires_torch
def test_errors_match_torch():
    w = np.ones((4, 2, 3), np.float32)
    cases = [((5, 2), (3,), w, None, "input dimensions do not match: got 2 and 1"),
             ((5, 2), (4, 3), w, None, "input batch dimensions do not match at dim 0: got 5 and 4"),
             ((5, 3), (5, 3), w, None, "input1 size does not match weight size: got 3 but expected 2"),
             ((5, 2), (5, 2), w, None, "input2 size does not match weight size: got 2 but expected 3"),
             ((5, 2), (5, 3), w, np.ones(3, np.float32), "bias size does not match weight size: got 3 but expected 4"),
             ((5, 2), (5, 3), w.astype(np.float64), None,
              "All tensors must have the same dtype, got input1: float, input2: float, weight: double"),
             ((5, 2), (5, 3), np.ones((4, 2), np.float32), None, "Dimension out of range")]
    for s1, s2, weight, bias, message in cases:
        args = [np.ones(s1, np.float32), np.ones(s2, np.float32), weight] + ([bias] if bias is not None else [])
        text = raises_like_torch(lambda: nn.functional.bilinear(*[fw.tensor(a) for a in args]),
                                 lambda: TF.bilinear(*[torch.tensor(a) for a in args]))
        assert message in text
