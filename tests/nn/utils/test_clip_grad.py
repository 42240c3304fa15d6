"""clip_grad_norm_, get_total_norm, clip_grads_with_norm_ and clip_grad_value_ against PyTorch: every device and
float dtype, every norm PyTorch takes, mixed dtypes, gradients left None or empty, non-finite norms, and on
`cuda` the two launches with nothing read back."""
import math
import warnings

import numpy as np
import pytest

import framework as fw
from framework.nn.utils import (clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_,
                                get_total_norm)
from helpers import (DEVICES, FLOAT_NAMES, assert_close, case, np_dtype, random_array, requires_cuda, requires_torch,
                     torch)

NORMS = (2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0)
# (parameter shape, gradient present): odd sizes, a scalar, an empty gradient and a parameter without one
LAYOUT = [((7, 3), True), ((5,), True), ((), True), ((2, 0), True), ((4,), False), ((1, 1, 9), True)]


def _grads(rng, dtype, layout=LAYOUT, scale=1.0):
    return [random_array(rng, shape, dtype) * np.asarray(scale, np_dtype(dtype)) if present else None
            for shape, present in layout]


def _fw_params(grads, shapes, device):
    params = []
    for g, shape in zip(grads, shapes):
        p = fw.nn.Parameter(fw.zeros(shape, device=device, dtype=fw.float32 if g is None else fw.tensor(g).dtype))
        if g is not None:
            p.grad = fw.tensor(g, device=device)
        params.append(p)
    return params


def _torch_params(grads, shapes):
    from helpers import make_torch
    params = []
    for g, shape in zip(grads, shapes):
        p = torch.nn.Parameter(torch.zeros(shape) if g is None else make_torch(g).clone())
        if g is not None:
            p.grad = make_torch(g)
        params.append(p)
    return params


def _reference_norm(grads, norm_type):
    """PyTorch's definition in float64: each gradient's norm, then the norm of those."""
    values = [np.abs(g.astype(np.float64)).reshape(-1) for g in grads if g is not None]
    if norm_type == 0:
        per = np.array([np.count_nonzero(v) for v in values], np.float64)
        return float(np.count_nonzero(per))
    flat = np.concatenate(values)
    if norm_type == math.inf:
        return flat.max()
    if norm_type == -math.inf:
        return flat.min()
    return (flat ** norm_type).sum() ** (1 / norm_type)


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_clip_grad_norm_matches_torch(rng, device, dtype):
    shapes = [shape for shape, _ in LAYOUT]
    for norm_type in NORMS:
        layout = LAYOUT if not math.isinf(norm_type) else [entry for entry in LAYOUT if entry[0] != (2, 0)]
        for max_norm in (0.5, 1e4):
            grads = _grads(rng, dtype, layout)
            shapes = [shape for shape, _ in layout]
            ours, theirs = _fw_params(grads, shapes, device), _torch_params(grads, shapes)
            total = clip_grad_norm_(ours, max_norm, norm_type)
            expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
            with case(norm_type=norm_type, max_norm=max_norm, device=device):
                assert total.shape == () and total.device.type == device
                assert total.dtype.name == str(expected.dtype).split(".")[1]
                assert_close(total, _reference_norm(grads, norm_type), dtype, what="total norm vs float64")
                assert_close(total, expected, dtype, rtol=2e-2 if dtype == "bfloat16" else None, what="total norm")
                for i, (p, t) in enumerate(zip(ours, theirs)):
                    assert (p.grad is None) == (t.grad is None)
                    if p.grad is not None:
                        assert p.grad.dtype.name == dtype and p.grad.device.type == device
                        assert_close(p.grad, t.grad, dtype, what=f"clipped gradient {i}")


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_mixed_dtypes_promote_like_torch(rng, device):
    """PyTorch rounds each gradient's norm to that gradient's dtype before taking the norm of the norms; the cuda
    kernels take the total in float32 (float64) and round once, so against PyTorch the total and the clipped
    float32 gradients agree to the low-precision dtypes' rounding."""
    layout = [((6,), True), ((3, 2), True), ((4,), True)]
    for dtypes in (("float32", "float16", "bfloat16"), ("float16", "float64", "float32"), ("bfloat16", "bfloat16",
                                                                                              "float16")):
        grads = [random_array(rng, shape, d) for (shape, _), d in zip(layout, dtypes)]
        shapes = [shape for shape, _ in layout]
        ours, theirs = _fw_params(grads, shapes, device), _torch_params(grads, shapes)
        total = clip_grad_norm_(ours, 0.3)
        expected = torch.nn.utils.clip_grad_norm_(theirs, 0.3)
        with case(dtypes=dtypes):
            assert total.dtype.name == str(expected.dtype).split(".")[1]
            assert_close(total, expected, "float16")
            for p, t in zip(ours, theirs):
                assert_close(p.grad, t.grad, "float16")
                assert p.grad.dtype.name == str(t.grad.dtype).split(".")[1]


@requires_cuda
def test_cuda_clip_is_two_launches_and_reads_nothing_back(rng, monkeypatch):
    """Many parameters, one of several interpreter-sized blocks: the norm and the scaling are two kernel
    launches in all, no elementwise launch per parameter, and no device array is read back."""
    from framework.backends.cuda.array import CudaArray
    from triton_kernels import elementwise, grad_norm
    sizes = [70000, 3, 1, 129, 5000] + [11] * 40
    grads = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    params = _fw_params(grads, [(n,) for n in sizes], "cuda")
    launches = []

    class Counting:
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, grid):
            launches.append(grid)
            return self.kernel[grid]
    monkeypatch.setattr(grad_norm, "_norm_partials_kernel", Counting(grad_norm._norm_partials_kernel))
    monkeypatch.setattr(grad_norm, "_finish_kernel", Counting(grad_norm._finish_kernel))
    monkeypatch.setattr(elementwise, "_launch", lambda *a, **k: pytest.fail("an elementwise launch"))
    versions = [p.grad._version for p in params]
    with monkeypatch.context() as m:
        m.setattr(CudaArray, "to_numpy", lambda self: pytest.fail("a device-to-host read"))
        total = clip_grad_norm_(params, 1.0)
    assert len(launches) == 2
    assert [p.grad._version for p in params] == [v + 1 for v in versions]
    flat = np.concatenate(grads).astype(np.float64)
    norm = np.sqrt((flat ** 2).sum())
    assert_close(total, norm, "float32")
    clipped = np.concatenate([p.grad.cpu().numpy() for p in params])
    assert_close(clipped, flat * min(1.0, 1.0 / (norm + 1e-6)), "float32")


@requires_cuda
def test_cuda_error_if_nonfinite_reads_the_norm_once(rng, monkeypatch):
    """error_if_nonfinite=True must look at the norm before scaling, as PyTorch's `if ... isinf()` does (its one
    sync): one read of the 0-dim total, the fused launches around it, no elementwise launch."""
    from framework.backends.cuda.array import CudaArray
    from triton_kernels import elementwise, grad_norm
    sizes = [300, 7, 1]
    grads = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    params = _fw_params(grads, [(n,) for n in sizes], "cuda")
    launches, reads = [], []

    class Counting:
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, grid):
            launches.append(grid)
            return self.kernel[grid]
    monkeypatch.setattr(grad_norm, "_norm_partials_kernel", Counting(grad_norm._norm_partials_kernel))
    monkeypatch.setattr(grad_norm, "_finish_kernel", Counting(grad_norm._finish_kernel))
    monkeypatch.setattr(elementwise, "_launch", lambda *a, **k: pytest.fail("an elementwise launch"))
    to_numpy = CudaArray.to_numpy
    with monkeypatch.context() as m:
        m.setattr(CudaArray, "to_numpy", lambda self: reads.append(self.shape) or to_numpy(self))
        total = clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert reads == [()] and len(launches) == 3  # norm partials, their fold, the scaling
    flat = np.concatenate(grads).astype(np.float64)
    norm = np.sqrt((flat ** 2).sum())
    assert_close(total, norm, "float32")
    assert_close(np.concatenate([p.grad.cpu().numpy() for p in params]), flat * min(1.0, 1.0 / (norm + 1e-6)),
                 "float32")


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_non_finite_norms(device):
    message = "The total norm of order 2.0 for gradients from `parameters` is non-finite"
    for bad in (math.nan, math.inf):
        values = [bad, 1.0, 2.0]
        p, t = fw.nn.Parameter(fw.zeros(3, device=device)), torch.nn.Parameter(torch.zeros(3))
        p.grad, t.grad = fw.tensor(values, device=device), torch.tensor(values)
        with pytest.raises(RuntimeError, match=message):
            clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
        np.testing.assert_array_equal(p.grad.cpu().numpy(), np.array(values, np.float32))  # untouched
        total = clip_grad_norm_(p, 1.0)
        expected = torch.nn.utils.clip_grad_norm_(t, 1.0)
        np.testing.assert_array_equal(total.cpu().numpy(), expected.numpy())
        np.testing.assert_array_equal(p.grad.cpu().numpy(), t.grad.numpy())  # nan, or inf * 0
        for norm_type in (math.inf, -math.inf, 1.0):
            p.grad = fw.tensor(values, device=device)
            t.grad = torch.tensor(values)
            np.testing.assert_array_equal(get_total_norm([p.grad], norm_type).cpu().numpy(),
                                          torch.nn.utils.get_total_norm([t.grad], norm_type).numpy())


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
def test_get_total_norm_and_clip_grads_with_norm(rng, device):
    grads = _grads(rng, "float32")
    shapes = [shape for shape, _ in LAYOUT]
    tensors = [fw.tensor(g, device=device) for g in grads if g is not None]
    expected = torch.nn.utils.get_total_norm([torch.tensor(g) for g in grads if g is not None], 3.0)
    total = get_total_norm(tensors, 3.0)
    assert_close(total, expected, "float32")
    assert_close(get_total_norm(tensors[0]), torch.nn.utils.get_total_norm(torch.tensor(grads[0])), "float32")
    ours, theirs = _fw_params(grads, shapes, device), _torch_params(grads, shapes)
    for given in (fw.tensor(2.5, device=device), fw.tensor(2.5), fw.tensor(0.1, dtype=fw.float64)):
        clip_grads_with_norm_(ours, 1.0, given)
        torch.nn.utils.clip_grads_with_norm_(theirs, 1.0, torch.tensor(given.item(), dtype=getattr(
            torch, given.dtype.name)))
        for p, t in zip(ours, theirs):
            if p.grad is not None:
                assert_close(p.grad, t.grad, "float32")
    assert get_total_norm([]).item() == 0.0 and get_total_norm([]).device.type == "cpu"


@pytest.mark.parametrize("device", DEVICES)
def test_edge_arguments(device):
    with pytest.warns(UserWarning, match="`parameters` is an empty generator, no gradient clipping will occur."):
        total = clip_grad_norm_((p for p in []), 1.0)
    assert total.item() == 0.0
    p = fw.nn.Parameter(fw.ones(2, device=device))
    assert clip_grad_norm_([p], 1.0).item() == 0.0  # no gradient at all
    p.grad = fw.tensor([3.0, 4.0], device=device)
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated"):
        assert clip_grad_norm(p, 10.0, foreach=True).item() == 5.0
    assert clip_grad_norm_(p, 1.0, norm_type="inf", foreach=False).item() == 4.0
    with pytest.raises(RuntimeError, match="cannot compute the inf norm on an empty tensor"):
        clip_grad_norm_(_with_grad(fw.zeros(0, device=device)), 1.0, math.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip_grad_norm_([p], 1.0)


def _with_grad(grad):
    p = fw.nn.Parameter(fw.zeros(grad.shape, device=grad.device))
    p.grad = grad
    return [p]


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_clip_grad_value_matches_torch(rng, device, dtype):
    grads = _grads(rng, dtype, scale=3.0)
    grads[0].reshape(-1)[0] = np.nan
    shapes = [shape for shape, _ in LAYOUT]
    ours, theirs = _fw_params(grads, shapes, device), _torch_params(grads, shapes)
    assert clip_grad_value_(ours, 1.5) is None
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, t in zip(ours, theirs):
        if p.grad is not None:
            assert p.grad.dtype.name == dtype
            assert_close(p.grad, t.grad, dtype)
    single = _with_grad(fw.tensor([-5.0, 0.5, 5.0], device=device))[0]
    clip_grad_value_(single, 2)
    np.testing.assert_array_equal(single.grad.cpu().numpy(), [-2.0, 0.5, 2.0])
