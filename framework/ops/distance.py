"""Distances: cdist (both of PyTorch's paths, chosen by its rule), pairwise_distance and cosine_similarity,
with PyTorch's dtype rules, errors and node names."""
import builtins
import math

from .. import dtypes
from ..autograd.function import autocast_inputs, run
from ..autograd.grad_mode import no_grad
from ..tensor import _wrap_dim
from . import elementwise, reduction, shape

_COMPUTE_MODES = {"use_mm_for_euclid_dist_if_necessary": 0, "use_mm_for_euclid_dist": 1,
                  "donot_use_mm_for_euclid_dist": 2}


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M), batch dims broadcast: (..., P, R).

    For p = 2 with more than 25 rows on a side (or compute_mode='use_mm_for_euclid_dist') the distances come
    from one matmul, sqrt(|x1|^2 - 2 x1.x2 + |x2|^2), as in PyTorch; otherwise from the differences directly."""
    if compute_mode not in _COMPUTE_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    mode = _COMPUTE_MODES[compute_mode]
    x1, x2 = autocast_inputs("cdist", (x1, x2))  # first: the dtype check compares the casts (both paths)
    for name, x in (("X1", x1), ("X2", x2)):
        if x.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x.ndim}D")
    if x1._data.shape[-1] != x2._data.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1._data.shape[-1]} X2: "
                           f"{x2._data.shape[-1]}")
    for name, x in (("X1", x1), ("X2", x2)):
        if not x._dtype.is_floating_point:
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: {x._dtype.scalar_name}")
    if x1._dtype is not x2._dtype:
        raise RuntimeError(f"expected scalar type {x1._dtype.scalar_name} but found {x2._dtype.scalar_name}")
    p = builtins.float(p)
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    batch = elementwise.broadcast_shapes(x1._data.shape[:-2], x2._data.shape[:-2])
    r1, r2 = x1._data.shape[-2], x2._data.shape[-2]
    empty = x1._data.size == 0 or x2._data.size == 0
    if p == 2 and (mode == 1 or (mode == 0 and (r1 > 25 or r2 > 25))) and not empty:
        return _euclidean(x1, x2, batch)
    if x1._dtype in (dtypes.float16, dtypes.bfloat16):
        raise NotImplementedError(f"\"cdist\" not implemented for '{x1._dtype.scalar_name}'")
    return run("cdist", (x1, x2), (p,))


def _euclidean(x1, x2, batch):
    """PyTorch's matmul path: batch dims expanded and flattened when they hold more than one matrix."""
    r1, r2, columns = x1._data.shape[-2], x2._data.shape[-2], x1._data.shape[-1]
    count = math.prod(batch)
    if count != 1:
        x1 = shape.view(shape.contiguous(shape.expand(x1, batch + (r1, columns))), count, r1, columns)
        x2 = shape.view(shape.contiguous(shape.expand(x2, batch + (r2, columns))), count, r2, columns)
    return shape.view(run("euclidean_dist", (x1, x2)), batch + (r1, r2))


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim of the broadcast inputs (PyTorch's nodes: NormBackward1 of
    AddBackward1)."""
    difference = elementwise._binary("add", elementwise.sub(x1, x2), eps, node_name="AddBackward1")  # add.Scalar
    ndim = builtins.max(x1.ndim, x2.ndim)
    axes = (_wrap_dim(ndim - 1, ndim),) if ndim else ()
    p = builtins.float(p)
    return run("norm", (difference,), (p, axes, keepdim), "NormBackward1")


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum((x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps))) over `dim`: each input is normalised first, as in
    PyTorch, so the result stays in [-1, 1]; the clamp is taken out of the gradient's way (PyTorch clamps its
    norms in place under no_grad)."""
    common = dtypes.result_type(x1, x2)
    if not common.is_floating_point:
        raise RuntimeError(f"expected common dtype to be floating point, yet common dtype is {common.scalar_name}")
    x1 = x1 if x1._dtype.is_floating_point else x1.to(common)
    x2 = x2 if x2._dtype.is_floating_point else x2.to(common)
    target = elementwise.broadcast_shapes(x1._data.shape, x2._data.shape)
    if x1._data.shape != target:
        x1 = shape.expand(x1, target)
    if x2._data.shape != target:
        x2 = shape.expand(x2, target)
    norms = []
    for x in (x1, x2):
        norm = shape.clone(reduction.norm(x, 2, dim, keepdim=True))
        with no_grad():
            norm.clamp_min_(eps)
        norms.append(norm)
    return reduction.sum(elementwise.mul(elementwise.div(x1, norms[0]), elementwise.div(x2, norms[1])), dim)


__all__ = ["cdist", "pairwise_distance", "cosine_similarity"]
