"""A whole training step (forward, backward, capturable Adam/AdamW step) in a framework.cuda.CUDAGraph.

Replays with new inputs copied in, and a scheduler changing a Tensor lr between them, compute bit for bit what
eager steps of a twin model and optimizer compute (parameters, optimizer state, losses): the fused launch reads
the step counts and lr from device memory. Non-capturable optimizers stay refused, saying what to pass.
"""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework.optim import _fused

pytestmark = pytest.mark.skipif(not fw.cuda.is_available(), reason="needs the cuda device (a GPU or Triton's "
                                "interpreter, TRITON_INTERPRET=1)")


def _mlp(seed=0):
    fw.manual_seed(seed)
    return fw.nn.Sequential(fw.nn.Linear(6, 8), fw.nn.ReLU(), fw.nn.Linear(8, 3)).to("cuda")


def _batches(count, seed=5):
    fw.manual_seed(seed)
    return [(fw.randn(4, 6).to("cuda"), fw.randint(0, 3, (4,)).to("cuda")) for _ in range(count)]


def _host(t):
    return t.detach().cpu().numpy()


def _optimizer(cls, model, **extra):
    lr = fw.tensor(0.01, device="cuda")
    if cls is fw.optim.SGD:  # PyTorch's SGD has no capturable flag: its launch reads a Tensor lr on the device
        return cls(model.parameters(), lr=lr, **extra)
    return cls(model.parameters(), lr=lr, capturable=True, **extra)


def _eager_step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return _host(loss)


def _state(opt):
    return [{k: _host(v) for k, v in s.items()} for s in opt.state.values()]


@pytest.mark.parametrize("cls, extra, fused", [
    (fw.optim.Adam, {}, True), (fw.optim.AdamW, dict(amsgrad=True), True),
    (fw.optim.Adam, dict(weight_decay=0.1, maximize=True), True),
    (fw.optim.AdamW, dict(amsgrad=True), False),  # PyTorch's capturable Tensor ops, captured op by op
    (fw.optim.SGD, dict(momentum=0.9, nesterov=True, weight_decay=1e-2), True),
    (fw.optim.SGD, dict(momentum=0.9), False),
])
def test_captured_step_replays_as_eager_steps(cls, extra, fused, monkeypatch):
    monkeypatch.setattr(_fused, "ENABLED", fused)
    model, twin = _mlp(), _mlp()
    opt, twin_opt = _optimizer(cls, model, **extra), _optimizer(cls, twin, **extra)
    sched = fw.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    twin_sched = fw.optim.lr_scheduler.StepLR(twin_opt, step_size=1, gamma=0.5)
    data = _batches(5)
    _eager_step(model, opt, *data[0])  # warm-up: the state exists before capture
    _eager_step(twin, twin_opt, *data[0])
    if cls is not fw.optim.SGD:
        assert opt.state[next(iter(model.parameters()))]["step"].device.type == "cuda"
    static_x, static_y = data[0][0].clone(), data[0][1].clone()
    before = [_host(p) for p in model.parameters()], _state(opt)
    g = fw.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with fw.cuda.graph(g):
        static_loss = F.cross_entropy(model(static_x), static_y)
        static_loss.backward()
        opt.step()
    # the capture ran nothing: parameters and state (step counts included) as they were
    assert all(np.array_equal(b, _host(p)) for b, p in zip(before[0], model.parameters()))
    assert all(np.array_equal(b[k], a[k]) for b, a in zip(before[1], _state(opt)) for k in b)
    for x, y in data[1:]:
        static_x.copy_(x)
        static_y.copy_(y)
        g.replay()
        expected_loss = _eager_step(twin, twin_opt, x, y)
        assert np.array_equal(_host(static_loss), expected_loss)
        assert all(np.array_equal(_host(p), _host(q)) for p, q in zip(model.parameters(), twin.parameters()))
        for mine, theirs in zip(_state(opt), _state(twin_opt)):
            assert mine.keys() == theirs.keys() and all(np.array_equal(mine[k], theirs[k]) for k in mine)
        sched.step()
        twin_sched.step()
    assert float(opt.param_groups[0]["lr"]) == np.float32(0.01) * 0.5 ** 4  # the scheduler wrote the Tensor lr in place
    if cls is not fw.optim.SGD:
        assert float(opt.state[next(iter(model.parameters()))]["step"]) == 5


@pytest.mark.parametrize("make, message", [
    (lambda m: fw.optim.Adam(m.parameters(), lr=0.01), "capturable=True"),
    (lambda m: fw.optim.SGD(m.parameters(), lr=0.01), "pass lr as a Tensor"),
    (lambda m: fw.optim.RMSprop(m.parameters(), lr=0.01, capturable=True), "no capturable update"),
])
def test_non_capturable_steps_are_refused(make, message):
    model = _mlp()
    opt = make(model)
    _eager_step(model, opt, *_batches(1)[0])
    g = fw.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=message):
        with fw.cuda.graph(g):
            F.cross_entropy(model(_batches(1)[0][0]), _batches(1)[0][1]).backward()
            opt.step()


@pytest.mark.parametrize("cls, extra", [(fw.optim.Adam, {}), (fw.optim.SGD, dict(momentum=0.9))])
def test_state_made_during_capture_is_refused(cls, extra):
    model = _mlp()
    opt = _optimizer(cls, model, **extra)
    x, y = _batches(1)[0]
    g = fw.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="warm up"):
        with fw.cuda.graph(g):
            F.cross_entropy(model(x), y).backward()
            opt.step()


@pytest.mark.parametrize("tensor_lr", [True, False])
def test_capturable_eager_steps_match_the_tensor_rule_and_the_default_path(tensor_lr, monkeypatch):
    """The capturable kernel against PyTorch's capturable Tensor ops (the per-parameter path, same arithmetic)
    and against capturable=False (other float32 roundings of the same update)."""
    data = _batches(3)
    results = []
    for capturable, fused in ((True, True), (True, False), (False, True)):
        monkeypatch.setattr(_fused, "ENABLED", fused)
        model = _mlp()
        lr = fw.tensor(0.01, device="cuda") if tensor_lr and capturable else 0.01
        opt = fw.optim.AdamW(model.parameters(), lr=lr, capturable=capturable, amsgrad=True)
        for x, y in data:
            _eager_step(model, opt, x, y)
        results.append([_host(p) for p in model.parameters()])
    for kernel, tensor_ops, default in zip(*results):
        np.testing.assert_allclose(kernel, tensor_ops, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(kernel, default, rtol=1e-5, atol=1e-6)


def test_capturable_state_dict_keeps_the_step_on_the_device():
    model = _mlp()
    opt = _optimizer(fw.optim.Adam, model)
    _eager_step(model, opt, *_batches(1)[0])
    saved = opt.state_dict()
    step = saved["state"][0]["step"]
    assert step.device.type == "cuda" and step.dtype == fw.float32 and step.shape == ()
    other = _optimizer(fw.optim.Adam, _mlp())
    cpu_saved = {"state": {i: dict(s, step=s["step"].cpu()) for i, s in saved["state"].items()},
                 "param_groups": saved["param_groups"]}
    other.load_state_dict(cpu_saved)
    loaded = next(iter(other.state.values()))["step"]
    assert loaded.device.type == "cuda" and float(loaded) == 1
    old_layout = {"state": {i: dict(s, step=1.0) for i, s in saved["state"].items()},  # counters as numbers
                  "param_groups": saved["param_groups"]}
    other.load_state_dict(old_layout)
    loaded = next(iter(other.state.values()))["step"]
    assert loaded.device.type == "cuda" and loaded.dtype == fw.float32 and float(loaded) == 1


@pytest.mark.parametrize("extra", [dict(), dict(weight_decay=0.1, amsgrad=True, decoupled_weight_decay=True)])
def test_capturable_steps_match_pytorchs_capturable_arithmetic(extra):
    """torch.optim.adam.adam's `capturable or differentiable` branch (float32 tensors for the step and bias
    corrections), run on the CPU through differentiable=True, against the capturable cuda kernel."""
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle of this comparison")
    from torch.optim.adam import adam as torch_adam
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(np.float32) for s in ((8, 6), (8,), (3, 8), (3,))]
    params = [fw.tensor(v, device="cuda", requires_grad=True) for v in values]
    opt = fw.optim.Adam(params, lr=fw.tensor(0.01, device="cuda"), capturable=True, **extra)
    theirs = [torch.tensor(v) for v in values]
    moments = [[torch.zeros_like(t) for t in theirs] for _ in range(3)]
    steps = [torch.tensor(0.0) for _ in theirs]
    for _ in range(3):
        grads = [rng.standard_normal(v.shape).astype(np.float32) for v in values]
        for p, g in zip(params, grads):
            p.grad = fw.tensor(g, device="cuda")
        opt.step()
        torch_adam(theirs, [torch.tensor(g) for g in grads], *moments, steps, differentiable=True,
                   amsgrad=extra.get("amsgrad", False), beta1=0.9, beta2=0.999, lr=torch.tensor(0.01),
                   weight_decay=extra.get("weight_decay", 0.0), eps=1e-8, maximize=False,
                   decoupled_weight_decay=extra.get("decoupled_weight_decay", False))
        for p, t in zip(params, theirs):  # float32 pow and division may differ by an ulp between libraries
            np.testing.assert_allclose(_host(p), t.numpy(), rtol=1e-6, atol=1e-7)


def test_one_capturable_launch_per_group_whatever_the_step_counts(monkeypatch):
    """The step counts are read per tensor on the device: parameters at different counts share one launch (the
    default path launches once per count), and each count advances only with its parameter's steps."""
    from triton_kernels import optimizer as kernels
    calls = []
    launch = kernels.capturable_adam_step
    monkeypatch.setattr(kernels, "capturable_adam_step", lambda table, **hyper: (calls.append(len(table.rows)),
                                                                                launch(table, **hyper)))
    first, second = (fw.zeros(n, device="cuda", requires_grad=True) for n in (3, 4))
    opt = fw.optim.Adam([first, second], lr=fw.tensor(0.1, device="cuda"), capturable=True)
    first.grad = fw.ones(3, device="cuda")
    opt.step()  # only `first` has a gradient
    second.grad = fw.ones(4, device="cuda")
    opt.step()
    assert calls == [1, 2]
    assert [float(opt.state[p]["step"]) for p in (first, second)] == [2, 1]
    # Adam's first step moves every element by lr (m / sqrt(v) = 1 after bias correction), here to the float32
    # rounding of PyTorch's capturable arithmetic (1 - float32(0.999) ** 1 is 1.3e-5 off 1e-3)
    np.testing.assert_allclose(_host(second), np.full(4, -0.1, np.float32), rtol=2e-5)
