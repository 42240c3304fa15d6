"""F.interpolate and nn.Upsample against numpy references and PyTorch on every device: nearest, nearest-exact,
linear, bilinear (with and without align_corners), trilinear, area; sizes and scale factors (recomputed or not),
dtypes, non-contiguous inputs, node names, PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import DEVICES, assert_close, case, check_op, random_array, raises_like_torch, requires_torch, torch, torch_name

from . import conv_reference as ref

TF = torch.nn.functional if torch is not None else None


def _linear_matrix(n_in, n_out, scale, align_corners):
    """The (n_out, n_in) matrix of 1-d linear interpolation, written from PyTorch's formulas in float64."""
    matrix = np.zeros((n_out, n_in))
    for j in range(n_out):
        if align_corners:
            src = (n_in - 1) / (n_out - 1) * j if n_out > 1 else 0.0
        else:
            step = 1.0 / scale if scale else n_in / n_out
            src = max(step * (j + 0.5) - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = i0 + (i0 < n_in - 1)
        lam = min(max(src - i0, 0.0), 1.0)
        matrix[j, i0] += 1 - lam
        matrix[j, i1] += lam
    return matrix


def _nearest_matrix(n_in, n_out, scale, exact=False):
    matrix = np.zeros((n_out, n_in))
    step = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
    for j in range(n_out):
        position = np.float32(j) + np.float32(0.5) if exact else np.float32(j)
        matrix[j, min(int(np.floor(position * step)), n_in - 1)] = 1
    return matrix


def np_interpolate(x, size, scales, mode, align_corners=False):
    """Separable: one matrix per spatial dim (a tensordot each; complex-safe)."""
    out = x
    for i, (n_out, scale) in enumerate(zip(size, scales)):
        dim = 2 + i
        n_in = x.shape[dim]
        if mode in ("nearest", "nearest-exact"):
            matrix = _nearest_matrix(n_in, n_out, scale, mode == "nearest-exact")
        else:
            matrix = _linear_matrix(n_in, n_out, scale, align_corners)
        out = np.moveaxis(np.tensordot(out, matrix, axes=([dim], [1])), -1, dim)
    return out


CASES = [
    ("nearest", (2, 3, 5, 4), dict(scale_factor=2), (10, 8), (2.0, 2.0)),
    ("nearest", (2, 3, 5, 4), dict(scale_factor=1.7), (8, 6), (1.7, 1.7)),
    ("nearest", (2, 3, 7, 6), dict(size=(3, 10)), (3, 10), (None, None)),
    ("nearest", (2, 3, 7), dict(scale_factor=0.6), (4,), (0.6,)),
    ("nearest-exact", (2, 3, 5, 4), dict(scale_factor=1.5), (7, 6), (1.5, 1.5)),
    ("bilinear", (2, 3, 5, 4), dict(scale_factor=2), (10, 8), (2.0, 2.0)),
    ("bilinear", (2, 3, 5, 4), dict(size=(7, 3), align_corners=True), (7, 3), (None, None)),
    ("bilinear", (2, 3, 5, 4), dict(scale_factor=(1.5, 2.3), align_corners=False), (7, 9), (1.5, 2.3)),
    ("bilinear", (2, 3, 5, 4), dict(scale_factor=1.7, recompute_scale_factor=True), (8, 6), (None, None)),
    ("linear", (2, 3, 6), dict(scale_factor=1.5, align_corners=True), (9,), (None,)),
    ("trilinear", (1, 2, 3, 4, 3), dict(size=(5, 3, 4)), (5, 3, 4), (None, None, None)),
]
NODES = {"nearest": "UpsampleNearest{}DBackward0", "nearest-exact": "UpsampleNearestExact{}DBackward0",
         "bilinear": "UpsampleBilinear2DBackward0", "linear": "UpsampleLinear1DBackward0",
         "trilinear": "UpsampleTrilinear3DBackward0"}


@pytest.mark.parametrize("mode,shape,kwargs,size,scales", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_interpolate(rng, mode, shape, kwargs, size, scales):
    align = kwargs.get("align_corners", False)
    out = check_op(lambda t: F.interpolate(t, mode=mode, **kwargs),
                   lambda a: np_interpolate(a, size, scales, mode, align),
                   TF and (lambda t: TF.interpolate(t, mode=mode, **kwargs)), random_array(rng, shape), dtype="float64",
                   rng=rng)
    assert out.grad_fn.name() == NODES[mode].format(len(size))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_dtypes_noncontiguous(rng, mode, dtype):
    check_op(lambda t: F.interpolate(t, scale_factor=1.5, mode=mode),
             lambda a: np_interpolate(a, (6, 7), (1.5, 1.5), mode),
             TF and (lambda t: TF.interpolate(t, scale_factor=1.5, mode=mode)), random_array(rng, (2, 3, 4, 5)),
             dtype=dtype, rng=rng, noncontiguous=True)


def test_area_is_adaptive_average(rng):
    check_op(lambda t: F.interpolate(t, size=(3, 2), mode="area"), lambda a: ref.adaptive_avg_pool2d(a, (3, 2)),
             TF and (lambda t: TF.interpolate(t, size=(3, 2), mode="area")), random_array(rng, (2, 3, 7, 5)),
             dtype="float32", rng=rng)


@requires_torch
def test_interpolate_errors_match_torch():
    x, tx = fw.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8)
    cases = [
        lambda F_, m, x: F_.interpolate(x, size=4, scale_factor=2),
        lambda F_, m, x: F_.interpolate(x),
        lambda F_, m, x: F_.interpolate(x, scale_factor=2, mode="foo"),
        lambda F_, m, x: F_.interpolate(x, scale_factor=2, align_corners=True),
        lambda F_, m, x: F_.interpolate(m.zeros(2, 3, 8), scale_factor=2, mode="bilinear"),
        lambda F_, m, x: F_.interpolate(x, scale_factor=2, mode="linear"),
        lambda F_, m, x: F_.interpolate(x, size=(2, 3, 4)),
        lambda F_, m, x: F_.interpolate(x, scale_factor=(2.0, 3.0, 4.0)),
        lambda F_, m, x: F_.interpolate(x, size=0),
        lambda F_, m, x: F_.interpolate(x, scale_factor=0.1),
        lambda F_, m, x: F_.interpolate(m.zeros(3, 8), scale_factor=2),
        lambda F_, m, x: F_.interpolate(x, size=3, recompute_scale_factor=True),
        lambda F_, m, x: F_.interpolate(m.zeros(2, 3, 0, 4), scale_factor=2),
        lambda F_, m, x: F_.interpolate(m.zeros(2, 0, 4, 4), scale_factor=2),
    ]
    for i, make in enumerate(cases):
        with case(error_case=i):
            message = raises_like_torch(lambda: make(F, fw, x), lambda: make(TF, torch, tx))
            try:
                make(TF, torch, tx)
            except Exception as error:
                assert torch_name(message).split("\n")[0] == str(error).split("\n")[0]


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_upsample_layers(rng, device):
    layers = [("Upsample", dict(scale_factor=2)), ("Upsample", dict(size=(3, 4), mode="bilinear", align_corners=True)),
              ("Upsample", dict(scale_factor=(2.0, 3.0), mode="bilinear")), ("UpsamplingNearest2d", dict(scale_factor=2)),
              ("UpsamplingBilinear2d", dict(size=4))]
    x = random_array(rng, (2, 3, 5, 4), "float32")
    for name, kwargs in layers:
        layer, t_layer = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
        with case(layer=repr(t_layer)):
            assert torch_name(repr(layer)) == repr(t_layer)
            assert_close(layer(fw.tensor(x, device=device)).cpu(), t_layer(torch.tensor(x)), "float32")
