"""cdist (the direct path, CdistBackward0, for every p; the matmul path for p = 2, PyTorch's rule for choosing),
pairwise_distance, cosine_similarity, normalize and one_hot: values, gradients and node names against float64
numpy and torch on every device, batch broadcasting, empty inputs, edge cases and PyTorch's errors."""
import math

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from helpers import DEVICES, case, check_op, make_tensor, random_array, raises_like_torch, requires_torch, torch

TF = torch.nn.functional if torch is not None else None


def _np_cdist(p):
    """Complex-step friendly: |d| as a branch on the real part, |d|^p as (d^2)^(p/2), the max by selection."""
    def reference(a, b):
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = np.broadcast_to(a, batch + a.shape[-2:])
        b = np.broadcast_to(b, batch + b.shape[-2:])
        d = a[..., :, None, :] - b[..., None, :, :]
        magnitude = np.where(np.real(d) < 0, -d, d)
        if p == 0:
            return np.sum(np.real(d) != 0, axis=-1).astype(np.float64)
        if p == 1:
            return np.sum(magnitude, axis=-1)
        if p == math.inf:
            if d.shape[-1] == 0:
                return np.zeros(d.shape[:-1])
            index = np.argmax(np.real(magnitude), axis=-1)[..., None]
            return np.take_along_axis(magnitude, index, axis=-1)[..., 0]
        if p == 2:
            return np.sqrt(np.sum(d * d, axis=-1))
        total = np.sum((d * d) ** (p / 2), axis=-1)
        return total ** (1 / p)
    return reference


DIRECT = [((3, 4), (5, 4)), ((2, 1, 3, 4), (5, 4)), ((2, 3, 4), (1, 5, 4)), ((1, 6), (7, 6)), ((4, 1), (3, 1)),
          ((0, 4), (5, 4)), ((3, 0), (5, 0))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, math.inf, 0.5, 1.5, 3.0])
def test_cdist_direct_path(p, dtype, rng):
    for s1, s2 in DIRECT:
        with case(shapes=(s1, s2)):
            a, b = random_array(rng, s1, "float64"), random_array(rng, s2, "float64")
            out = check_op(lambda x, y: fw.cdist(x, y, p), _np_cdist(p), lambda x, y: torch.cdist(x, y, p), a, b,
                           dtype=dtype, rng=rng)
            assert out.grad_fn.name() == "CdistBackward0"


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist", "use_mm_for_euclid_dist_if_necessary"])
def test_cdist_matmul_path(mode, dtype, rng):
    shapes = [((30, 4), (5, 4)), ((2, 27, 3), (1, 4, 3))] if mode.endswith("necessary") else \
        [((3, 4), (5, 4)), ((2, 3, 4), (1, 5, 4)), ((2, 1, 3, 4), (5, 4))]
    tolerance = dict(rtol=5e-2, atol=5e-2, grad_rtol=5e-2, grad_atol=5e-2) if dtype == "bfloat16" else \
        dict(rtol=1e-4, atol=1e-4, grad_rtol=1e-3, grad_atol=1e-3) if dtype == "float32" else \
        dict(rtol=1e-8, atol=1e-8, grad_rtol=1e-7, grad_atol=1e-7)  # |x1|^2 - 2 x1.x2 + |x2|^2 cancels
    for s1, s2 in shapes:
        with case(shapes=(s1, s2)):
            a, b = random_array(rng, s1, "float64"), random_array(rng, s2, "float64")
            if dtype == "bfloat16":  # |x1|^2 - 2 x1.x2 + |x2|^2 leaves nothing of a close pair in 8 bits: its
                b = b + 3.0          # gradient (x1 - x2) / d is noise then, in PyTorch too; keep the pairs apart
            out = check_op(lambda x, y: fw.cdist(x, y, compute_mode=mode), _np_cdist(2.0),
                           lambda x, y: torch.cdist(x, y, compute_mode=mode), a, b, dtype=dtype, rng=rng, **tolerance)
            assert out.grad_fn.name() == "ViewBackward0"


def test_cdist_noncontiguous_and_forced_direct(rng):
    a, b = random_array(rng, (30, 4), "float64"), random_array(rng, (6, 4), "float64")
    out = check_op(lambda x, y: fw.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist"), _np_cdist(2.0),
                   lambda x, y: torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist"), a, b,
                   dtype="float32", noncontiguous=True, rng=rng)
    assert out.grad_fn.name() == "CdistBackward0"


@pytest.mark.parametrize("device", DEVICES)
def test_cdist_zero_distance_gradients(device):
    """Identical rows: PyTorch's subgradient 0 on both paths, never nan."""
    x = np.array([[0.0, 0.0], [1.0, 1.0]])
    for mode in ("use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        for p in (2.0, 3.0, 0.5, 1.0, math.inf):
            if p != 2.0 and mode == "use_mm_for_euclid_dist":
                continue
            t = make_tensor(x, requires_grad=True, device=device)
            fw.cdist(t, t, p, compute_mode=mode).sum().backward()
            assert np.isfinite(t.grad.cpu().numpy()).all(), (mode, p)
            if torch is not None:
                theirs = torch.tensor(x, requires_grad=True)
                torch.cdist(theirs, theirs, p, compute_mode=mode).sum().backward()
                np.testing.assert_allclose(t.grad.cpu().numpy(), theirs.grad.numpy(), rtol=1e-12, err_msg=str(p))


@requires_torch
@pytest.mark.parametrize("call", [
    lambda m: m.cdist(m.zeros(3), m.zeros(2, 3)), lambda m: m.cdist(m.zeros(2, 3), m.zeros(2, 4)),
    lambda m: m.cdist(m.ones(2, 3, dtype=m.int64), m.ones(2, 3, dtype=m.int64)),
    lambda m: m.cdist(m.zeros(2, 3), m.zeros(2, 3), p=-1),
    lambda m: m.cdist(m.zeros(2, 3), m.zeros(2, 3), compute_mode="x"),
    lambda m: m.cdist(m.zeros(2, 3), m.zeros(2, 3, dtype=m.float64)),
    lambda m: m.cdist(m.zeros(2, 3, dtype=m.float16), m.zeros(2, 3, dtype=m.float16)),
    lambda m: m.cdist(m.zeros(2, 3, 4), m.zeros(3, 5, 4)),
])
def test_cdist_errors_match_torch(call):
    message = raises_like_torch(lambda: call(fw), lambda: call(torch))
    try:
        call(torch)
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error)


# ---- pairwise_distance, cosine_similarity, normalize ---------------------------------------------------

def _np_pairwise(p, eps=1e-6, keepdim=False):
    def reference(a, b):
        d = a - b + eps
        if p == 2:
            out = np.sqrt(np.sum(d * d, axis=-1, keepdims=keepdim))
        else:
            out = np.sum(np.where(np.real(d) < 0, -d, d) ** p, axis=-1, keepdims=keepdim) ** (1 / p)
        return out
    return reference


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_pairwise_distance(dtype, rng):
    for s1, s2, p, keepdim in [((3, 4), (3, 4), 2.0, False), ((3, 4), (4,), 1.0, True), ((2, 3, 5), (3, 5), 3.0, False),
                               ((4,), (4,), 2.0, False)]:
        with case(shapes=(s1, s2), p=p, keepdim=keepdim):
            a, b = random_array(rng, s1, "float64"), random_array(rng, s2, "float64")
            out = check_op(lambda x, y: F.pairwise_distance(x, y, p, keepdim=keepdim), _np_pairwise(p, keepdim=keepdim),
                           lambda x, y: TF.pairwise_distance(x, y, p, keepdim=keepdim), a, b, dtype=dtype, rng=rng)
            assert out.grad_fn.name() == "NormBackward1"


def _np_cosine(dim, eps=1e-8):
    def reference(a, b):
        a, b = np.broadcast_arrays(a, b)
        na = np.maximum(np.sqrt(np.sum(np.real(a) ** 2, axis=dim, keepdims=True)), eps)
        nb = np.maximum(np.sqrt(np.sum(np.real(b) ** 2, axis=dim, keepdims=True)), eps)
        # the norms' own derivative, with the clamp passed straight through (PyTorch clamps them in place)
        norm_a = np.sqrt(np.sum(a * a, axis=dim, keepdims=True)) - np.sqrt(np.sum(np.real(a) ** 2, axis=dim,
                                                                                    keepdims=True)) + na
        norm_b = np.sqrt(np.sum(b * b, axis=dim, keepdims=True)) - np.sqrt(np.sum(np.real(b) ** 2, axis=dim,
                                                                                    keepdims=True)) + nb
        return np.sum((a / norm_a) * (b / norm_b), axis=dim)
    return reference


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_cosine_similarity(dtype, rng):
    # the gradient's error grows as 1 / |x|: in bfloat16, where a short vector's gradient is noise (PyTorch's too;
    # 0.09 off in 1 of 1200 draws on [-2, 2]), the entries keep |x| >= 0.5; a broadcast input's gradient sums
    # three such terms, each a few bfloat16 roundings (0.018 off for one seed, FW_TEST_SEED=1014)
    away, grad_atol = (0.5, 3e-2) if dtype == "bfloat16" else (None, None)
    for s1, s2, dim in [((3, 4), (3, 4), 1), ((3, 4), (4,), -1), ((2, 3, 5), (2, 1, 5), 0), ((5,), (5,), 0)]:
        with case(shapes=(s1, s2), dim=dim):
            a, b = (random_array(rng, s, "float64", away_from_zero=away) for s in (s1, s2))
            out = check_op(lambda x, y: F.cosine_similarity(x, y, dim), _np_cosine(dim),
                           lambda x, y: TF.cosine_similarity(x, y, dim), a, b, dtype=dtype, rng=rng,
                           grad_atol=grad_atol)
            assert out.grad_fn.name() == "SumBackward1"


@pytest.mark.parametrize("device", DEVICES)
def test_cosine_similarity_small_norms_and_integers(device):
    x1 = np.array([[3.0, 4.0], [0.0, 0.0], [1e-10, 0.0]])
    x2 = np.array([[1.0, 0.0], [1.0, 1.0], [1e-10, 0.0]])
    a, b = make_tensor(x1, True, device=device), make_tensor(x2, True, device=device)
    out = F.cosine_similarity(a, b)
    out.sum().backward()
    np.testing.assert_allclose(out.detach().cpu().numpy(), [0.6, 0.0, 1e-4], rtol=1e-12)
    if torch is not None:
        ta, tb = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
        TF.cosine_similarity(ta, tb).sum().backward()
        np.testing.assert_allclose(a.grad.cpu().numpy(), ta.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(b.grad.cpu().numpy(), tb.grad.numpy(), rtol=1e-10)
    ints = F.cosine_similarity(fw.tensor([1, 2], device=device), fw.tensor([2.0, 4.0], device=device), dim=0)
    assert ints.dtype is fw.float32 and abs(ints.item() - 1.0) < 1e-6


@requires_torch
def test_cosine_similarity_errors():
    raises_like_torch(lambda: F.cosine_similarity(fw.tensor([1, 2]), fw.tensor([2, 4]), dim=0),
                      lambda: TF.cosine_similarity(torch.tensor([1, 2]), torch.tensor([2, 4]), dim=0),
                      match="expected common dtype to be floating point, yet common dtype is Long")
    raises_like_torch(lambda: F.cosine_similarity(fw.zeros(3, 4), fw.zeros(2, 4)),
                      lambda: TF.cosine_similarity(torch.zeros(3, 4), torch.zeros(2, 4)))


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_normalize(dtype, rng):
    # as cosine_similarity's: the gradient's bfloat16 error grows as 1 / |x| (0.016 off, FW_TEST_SEED=2002)
    away, grad_atol = (0.5, 3e-2) if dtype == "bfloat16" else (None, None)
    for shape, p, dim in [((3, 4), 2.0, 1), ((2, 3, 5), 1.0, -1), ((4,), 2.0, 0), ((3, 4), 3.0, 0)]:
        with case(shape=shape, p=p, dim=dim):
            x = random_array(rng, shape, "float64", away_from_zero=away)

            def reference(a):
                norm = np.sum(np.where(np.real(a) < 0, -a, a) ** p, axis=dim, keepdims=True) ** (1 / p)
                return a / norm
            out = check_op(lambda t: F.normalize(t, p, dim), reference, lambda t: TF.normalize(t, p, dim), x,
                           dtype=dtype, rng=rng, grad_atol=grad_atol)
            assert out.grad_fn.name() == "DivBackward0"
    for device in DEVICES:
        zero = fw.zeros(2, 3, device=device, requires_grad=True)
        F.normalize(zero).sum().backward()
        assert (zero.grad.cpu().numpy() == 1e12).all()  # the eps floor, as in PyTorch


# ---- one_hot ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_one_hot(device, rng):
    for shape, classes in [((5,), 7), ((2, 3), -1), ((), 4), ((0,), 3), ((4,), 1)]:
        with case(shape=shape, classes=classes):
            values = rng.integers(0, classes if classes > 0 else 6, size=shape)
            out = F.one_hot(fw.tensor(values, device=device), classes)
            n = classes if classes > 0 else int(values.max()) + 1
            assert out.dtype is fw.int64 and out.device.type == device
            assert out.cpu().numpy().tolist() == np.eye(n, dtype=np.int64)[values].tolist()


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("call", [
    lambda m, d: m.nn.functional.one_hot(m.tensor([-1, 2], device=d)),
    # a class >= num_classes: on the host at the call on the CPU; on cuda, as PyTorch, by a device-side check
    # reported at the next read (tests/backends/cuda/test_step_without_sync.py)
    lambda m, d: m.nn.functional.one_hot(m.tensor([1, 2]), 2),
    lambda m, d: m.nn.functional.one_hot(m.tensor([1, 2], dtype=m.int32, device=d), 3),
    lambda m, d: m.nn.functional.one_hot(m.tensor([], dtype=m.int64, device=d)),
    lambda m, d: m.nn.functional.one_hot(m.tensor([1.0], device=d), 3),
])
def test_one_hot_errors_match_torch(call, device):
    message = raises_like_torch(lambda: call(fw, device), lambda: call(torch, "cpu"))
    try:
        call(torch, "cpu")
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error)
