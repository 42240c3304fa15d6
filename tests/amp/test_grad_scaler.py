"""framework.amp.GradScaler against torch.amp.GradScaler (on the CPU, which PyTorch supports): the same scale
trajectory, growth tracker, skipped steps and parameters on the same sequence of overflows, on every device;
on cuda, one unscale launch per gradient dtype and no host read before `step`'s one question."""
import pickle

import numpy as np
import pytest

import framework as fw

from helpers import DEVICES

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the oracle) is not installed")


def _same(ours, theirs, rtol=1e-6):
    """Scales, growth trackers (and so which steps were skipped) exactly; parameters to float32 rounding (the
    losses' gradients are computed by each library's own kernels)."""
    assert [h[:2] for h in ours] == [h[:2] for h in theirs]
    for mine, other in zip(ours, theirs):
        for a, b in zip(mine[2:], other[2:]):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=rtol)


def _train(lib, device, overflows, dtype="float32", **settings):
    """SGD steps on two parameters; step i's loss is multiplied by inf/nan where overflows[i] says so."""
    make_dtype = getattr(lib, dtype)
    p = lib.tensor([1.0, -2.0, 3.0, 0.25], dtype=make_dtype, device=device, requires_grad=True)
    q = lib.tensor([[0.5], [-1.5]], dtype=make_dtype, device=device, requires_grad=True)
    optimizer = lib.optim.SGD([p, q], lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", **settings) if lib is torch else fw.amp.GradScaler(device, **settings)
    history = []
    for overflow in overflows:
        optimizer.zero_grad()
        loss = (p * p * 3).sum() + (q * q).sum() * 0.5
        if overflow:
            loss = loss * {"inf": float("inf"), "nan": float("nan")}[overflow]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        history.append((scaler.get_scale(), scaler._get_growth_tracker(), p.detach().float().cpu().tolist(),
                        q.detach().float().cpu().tolist()))
    return history, scaler.state_dict()


PATTERNS = {
    "growth": ([None] * 7, dict(init_scale=8.0, growth_interval=3)),
    "backoff": ([None, "inf", None, None, "nan", "nan", None, None, None, None], dict(init_scale=2.0 ** 10,
                                                                                   growth_interval=2,
                                                                                   backoff_factor=0.3)),
    "defaults": ([None, "inf", None], {}),
    "growth_overflows": ([None, None, None], dict(init_scale=float(np.finfo(np.float32).max) / 1.5,
                                                  growth_interval=1)),
}


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_trajectory_matches_pytorch(device, pattern):
    overflows, settings = PATTERNS[pattern]
    ours, ours_state = _train(fw, device, overflows, **settings)
    theirs, theirs_state = _train(torch, "cpu", overflows, **settings)
    _same(ours, theirs)
    assert ours_state == theirs_state


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["bfloat16", "float64"])
def test_other_gradient_dtypes_match_pytorch(device, dtype):
    overflows, settings = PATTERNS["backoff"]
    ours, ours_state = _train(fw, device, overflows[:5], dtype, **settings)
    theirs, theirs_state = _train(torch, "cpu", overflows[:5], dtype, **settings)
    _same(ours, theirs, rtol=1e-2 if dtype == "bfloat16" else 1e-12)
    assert ours_state == theirs_state


@pytest.mark.parametrize("device", DEVICES)
def test_unscale_values_and_state_machine(device, rng):
    grads = [rng.standard_normal(s).astype(np.float32) for s in ((3, 5), (1,), (0,), (4, 6))]
    params = [fw.zeros(g.shape, device=device, requires_grad=True) for g in grads]
    noncontiguous = fw.tensor(grads[3].T.copy(), device=device).t()  # non-contiguous: the per-tensor path
    for p, g in zip(params, grads):
        p.grad = fw.tensor(g, device=device)
    params[3].grad = noncontiguous
    optimizer = fw.optim.SGD(params, lr=1.0)
    scaler = fw.amp.GradScaler(device, init_scale=8.0)
    scaler.scale(fw.ones((), device=device))
    scaler.unscale_(optimizer)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.cpu().numpy(), g * np.float32(0.125))
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called on this optimizer since the last"):
        scaler.unscale_(optimizer)
    scaler.step(optimizer)
    np.testing.assert_array_equal(params[0].detach().cpu().numpy(), -grads[0] * np.float32(0.125))
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called since the last update\\(\\)."):
        scaler.step(optimizer)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step\\(\\)."):
        scaler.unscale_(optimizer)
    scaler.update()
    assert scaler.get_scale() == 8.0 and scaler._get_growth_tracker() == 1


@pytest.mark.parametrize("device", DEVICES)
def test_bad_use_is_refused_as_pytorch_does(device):
    p = fw.zeros(2, dtype=fw.float16, device=device, requires_grad=True)
    p.grad = fw.ones(2, dtype=fw.float16, device=device)
    scaler = fw.amp.GradScaler(device)
    with pytest.raises(AssertionError, match="Attempted step but _scale is None."):
        scaler.step(fw.optim.SGD([p], lr=0.1))
    scaler.scale(fw.ones((), device=device))
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients."):
        scaler.unscale_(fw.optim.SGD([p], lr=0.1))
    with pytest.raises(AssertionError, match="The growth factor must be > 1.0."):
        fw.amp.GradScaler(device, growth_factor=1.0)
    with pytest.raises(AssertionError, match="The backoff factor must be < 1.0."):
        fw.amp.GradScaler(device, backoff_factor=1.0)
    with pytest.raises(ValueError, match="outputs must be a Tensor or an iterable of Tensors"):
        scaler.scale(3.0)


def test_disabled_scaler_is_a_pass_through():
    p = fw.ones(2, requires_grad=True)
    p.grad = fw.ones(2)
    scaler = fw.amp.GradScaler("cpu", enabled=False)
    loss = fw.tensor(2.0)
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    scaler.step(fw.optim.SGD([p], lr=0.5))
    scaler.update()
    assert p.tolist() == [0.5, 0.5]


def test_state_dict_round_trip_and_pickling():
    overflows, settings = PATTERNS["backoff"]
    _, state = _train(fw, "cpu", overflows[:4], **settings)
    restored = fw.amp.GradScaler("cpu")
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    again = pickle.loads(pickle.dumps(restored))
    assert again.state_dict() == state
    with pytest.raises(RuntimeError, match="The source state dict is empty"):
        restored.load_state_dict({})


@pytest.mark.skipif("cuda" not in DEVICES, reason="no cuda device (neither a GPU nor Triton's interpreter)")
def test_cuda_unscales_in_one_launch_per_dtype_without_host_reads(monkeypatch):
    from triton_kernels import amp as kernels
    from framework.backends.cuda.array import CudaArray
    params = [fw.zeros(n, device="cuda", requires_grad=True) for n in (3, 7, 1, 5)]
    params.append(fw.zeros(4, dtype=fw.bfloat16, device="cuda", requires_grad=True))
    for p in params:
        p.grad = fw.full(p.shape, 2.0, dtype=p.dtype, device="cuda")
    optimizer = fw.optim.SGD(params, lr=1.0)
    scaler = fw.amp.GradScaler("cuda", init_scale=4.0)
    scaler.scale(fw.ones((), device="cuda"))
    launches, reads = [], []
    real_unscale, real_to_numpy = kernels.unscale_, CudaArray.to_numpy
    monkeypatch.setattr(kernels, "unscale_", lambda *a, **k: (launches.append(a[0].n_programs), real_unscale(*a, **k)))
    monkeypatch.setattr(CudaArray, "to_numpy", lambda self: (reads.append(self.shape), real_to_numpy(self))[1])
    scaler.unscale_(optimizer)
    assert len(launches) == 2 and reads == []  # float32 and bfloat16: one launch each; nothing read back
    scaler.step(optimizer)
    assert reads == [()]  # step's one question: did any gradient overflow?
    scaler.update()
    assert reads == [()]  # the scale is updated on the device
    monkeypatch.setattr(CudaArray, "to_numpy", real_to_numpy)
    assert [p.tolist() for p in params] == [[-0.5] * p.numel() for p in params]
