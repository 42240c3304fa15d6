"""Captured steps replay bit for bit what eager steps compute (framework.graphs).

N steps of a model run eagerly and, from the same initial state and seed, through a captured step (warm-up,
capture, replays): the losses, the parameters and every optimizer state tensor must be equal with
np.array_equal, since a replay runs the same kernels in the same order on the same values. Covered: the
tutorial MLP (50-30-20-3, batch 32) and an MNIST-shaped MLP (784-512-512-10), SGD with momentum and Adam,
learning-rate schedulers stepped between steps, dropout (fresh numbers at each replay, the eager step's), and
gradient clipping; on the CPU and on `cuda` (tiny batches there: Triton's interpreter is slow).
"""
import numpy as np
import pytest

import framework as fw
from framework import graphs
from helpers import DEVICES

TUTORIAL, MNIST = (50, 30, 20, 3), (784, 512, 512, 10)


def make_training(device, sizes, optimizer, scheduler, dropout):
    fw.manual_seed(0)
    layers = []
    for k, n in zip(sizes, sizes[1:]):
        layers += [fw.nn.Linear(k, n), fw.nn.ReLU()] + ([fw.nn.Dropout(dropout)] if dropout else [])
    model = fw.nn.Sequential(*layers[:-2 if dropout else -1]).to(device)
    if optimizer == "SGD":
        opt = fw.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = fw.optim.Adam(model.parameters(), lr=1e-2)
    if scheduler == "StepLR":
        sched = fw.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    elif scheduler == "OneCycleLR":
        sched = fw.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=20)
    else:
        sched = None
    fw.manual_seed(1)  # the dropout stream starts here for both runs
    return model, opt, sched


def batches(device, sizes, batch, count):
    rng = np.random.default_rng(0)
    return [(fw.from_numpy(rng.standard_normal((batch, sizes[0])).astype(np.float32)).to(device),
             fw.from_numpy(rng.integers(0, sizes[-1], batch)).to(device)) for _ in range(count)]


def train(device, sizes, batch, optimizer, scheduler=None, dropout=0.0, clip=None, steps=5, mode="eager"):
    """(losses, parameters, optimizer state arrays) after `steps` steps run eagerly, or through the
    `capture` decorator ('decorator'), or through a Graph captured by hand ('graph')."""
    model, opt, sched = make_training(device, sizes, optimizer, scheduler, dropout)

    def step(x, y):
        opt.zero_grad()
        loss = fw.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if clip is not None:
            fw.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return loss

    data = batches(device, sizes, batch, steps)
    losses = []
    if mode == "graph":
        static_x, static_y = data[0][0].clone(), data[0][1].clone()
        losses.append(step(static_x, static_y).detach().cpu().numpy().copy())  # warm-up, eager
        if sched is not None:
            sched.step()
        g = graphs.Graph()
        static_x.copy_(data[1][0])
        static_y.copy_(data[1][1])
        with graphs.graph(g):
            static_loss = step(static_x, static_y)  # the capture is itself step 1
        losses.append(static_loss.detach().cpu().numpy().copy())
        if sched is not None:
            sched.step()
        for x, y in data[2:]:
            static_x.copy_(x)
            static_y.copy_(y)
            g.replay()
            losses.append(static_loss.detach().cpu().numpy().copy())
            if sched is not None:
                sched.step()
    else:
        run = graphs.capture(step) if mode == "decorator" else step
        for x, y in data:
            losses.append(run(x, y).detach().cpu().numpy().copy())
            if sched is not None:
                sched.step()
        if mode == "decorator":
            assert len(run.graphs()) == 1
    params = [p.detach().cpu().numpy() for p in model.parameters()]
    state = [v.detach().cpu().numpy() for s in opt.state.values() for v in s.values() if isinstance(v, fw.Tensor)]
    return losses, params, state


def assert_equal_runs(eager, captured):
    """Equal losses, then parameters (or module states), then optimizer states, bit for bit."""
    for what, a, b in zip(("losses", "parameters", "optimizer state"), eager, captured):
        assert len(a) == len(b) > 0, what
        for i, (x, y) in enumerate(zip(a, b)):
            assert np.array_equal(x, y), f"{what}[{i}] differs: max |diff| {np.abs(x - y).max()}"


CPU_CASES = [
    (TUTORIAL, 32, "SGD", "StepLR", 0.0, None),
    (TUTORIAL, 32, "Adam", "OneCycleLR", 0.2, 1.0),
    (TUTORIAL, 32, "SGD", None, 0.5, 0.1),
    (MNIST, 64, "SGD", "StepLR", 0.2, 1.0),
    (MNIST, 64, "Adam", "StepLR", 0.0, None),
]


@pytest.mark.parametrize("sizes,batch,optimizer,scheduler,dropout,clip", CPU_CASES)
@pytest.mark.parametrize("mode", ["decorator", "graph"])
def test_cpu_replay_is_bitwise_eager(sizes, batch, optimizer, scheduler, dropout, clip, mode):
    eager = train("cpu", sizes, batch, optimizer, scheduler, dropout, clip)
    captured = train("cpu", sizes, batch, optimizer, scheduler, dropout, clip, mode=mode)
    assert_equal_runs(eager, captured)
    assert not np.array_equal(eager[0][-1], eager[0][-2])  # the steps did change something


CUDA_CASES = [
    (TUTORIAL, 4, "Adam", "StepLR", 0.2, 1.0),
    (TUTORIAL, 4, "SGD", "OneCycleLR", 0.0, 0.1),
    ((784, 64, 10), 2, "SGD", "StepLR", 0.2, 0.1),  # MNIST-shaped (the 512-wide layers: ~50 s here)
]


@pytest.mark.skipif("cuda" not in DEVICES, reason="no cuda device: no GPU and TRITON_INTERPRET is not 1")
@pytest.mark.parametrize("sizes,batch,optimizer,scheduler,dropout,clip", CUDA_CASES)
def test_cuda_replay_is_bitwise_eager(sizes, batch, optimizer, scheduler, dropout, clip):
    eager = train("cuda", sizes, batch, optimizer, scheduler, dropout, clip, steps=4)
    captured = train("cuda", sizes, batch, optimizer, scheduler, dropout, clip, steps=4, mode="decorator")
    assert_equal_runs(eager, captured)


def small_step_run(variant, captured, steps=5):
    """Losses and every module state (BatchNorm's running statistics too) after `steps` steps of a small model
    with batch norm and dropout, one step variant: zero_grad(set_to_none=False) with Nesterov SGD and weight
    decay, AdamW with amsgrad, or the forward under bf16 autocast."""
    fw.manual_seed(0)
    model = fw.nn.Sequential(fw.nn.Linear(10, 16), fw.nn.BatchNorm1d(16), fw.nn.ReLU(), fw.nn.Dropout(0.3),
                             fw.nn.Linear(16, 4))
    if variant == "adamw":
        opt = fw.optim.AdamW(model.parameters(), lr=1e-2, amsgrad=True)
    else:
        opt = fw.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    fw.manual_seed(1)

    def step(x, y):
        opt.zero_grad(set_to_none=variant != "keep grads")
        with fw.autocast("cpu", dtype=fw.bfloat16, enabled=variant == "autocast"):
            loss = fw.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = graphs.capture(step) if captured else step
    losses = [run(x, y).detach().numpy().copy() for x, y in batches("cpu", (10, 4), 8, steps)]
    return losses, [v.numpy().copy() for v in model.state_dict().values()]


@pytest.mark.parametrize("variant", ["keep grads", "adamw", "autocast"])
def test_cpu_replay_of_batch_norm_step_variants_is_bitwise_eager(variant):
    assert_equal_runs(small_step_run(variant, False), small_step_run(variant, True))


def test_cpu_two_batch_sizes_interleaved_replay_bitwise_eager():
    """An epoch's short last batch: one graph per batch size, replays of the two interleaved, .grad rebound."""
    def run(captured):
        model, opt, sched = make_training("cpu", TUTORIAL, "SGD", "StepLR", 0.2)

        def step(x, y):
            opt.zero_grad()
            loss = fw.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        call = graphs.capture(step) if captured else step
        full, short = batches("cpu", TUTORIAL, 32, 3), batches("cpu", TUTORIAL, 20, 3)
        losses = []
        for _ in range(3):
            for x, y in (full[0], full[1], short[0], full[2], short[1]):
                losses.append(call(x, y).detach().numpy().copy())
                sched.step()
        if captured:
            assert len(call.graphs()) == 2
        return losses, [p.detach().numpy() for p in model.parameters()]

    assert_equal_runs(run(False), run(True))


def test_tensors_filled_inside_the_step_are_filled_again_at_each_replay():
    @graphs.capture
    def running_sum(x):
        total = fw.zeros(3)
        for row in x:
            total.add_(row)  # in place into the zeros made above: a replay must start from zeros again
        return total * fw.ones(3)

    x = fw.arange(6.0).reshape(2, 3)
    results = [running_sum(x).tolist() for _ in range(4)]
    assert results == [[3.0, 5.0, 7.0]] * 4
