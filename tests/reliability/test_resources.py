"""Resource safety: long training keeps host memory flat, graphs are freed (by reference counting alone,
and through reference cycles by the collector), `no_grad` is thread-local, and training in two threads at
once gives the same bits as training alone.

On `cuda` (a GPU, or Triton's interpreter when there is none; skipped when neither is available), training keeps
`framework.cuda.memory_allocated()` flat (the parameters, their gradients and the optimizer's state; each step's
graph and saved activations freed when the step ends), and a graph dropped without a backward frees its saved
tensors. Both count every live device storage exactly (framework/backends/cuda/memory.py), so the checks are equalities.
"""
import gc
import os
import threading
import tracemalloc
import weakref

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from helpers import requires_cuda


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _tiny_mlp(seed=0):
    fw.manual_seed(seed)
    return fw.nn.Sequential(fw.nn.Linear(4, 8), fw.nn.ReLU(), fw.nn.Linear(8, 1))


def _train(model, x, y, steps, lr=0.01, optimizer="sgd"):
    opt = fw.optim.SGD(model.parameters(), lr=lr, momentum=0.9) if optimizer == "sgd" else \
        fw.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc (Linux)")
def test_ten_thousand_training_steps_keep_host_memory_flat():
    model = _tiny_mlp()
    opt = fw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = fw.randn(16, 4), fw.randn(16, 1)

    def steps(n):
        for _ in range(n):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
        return loss.item()

    first = steps(500)  # warm up: caches, the optimizer's state, numpy's allocator
    gc.collect()
    before = _rss_bytes()
    tracemalloc.start()
    try:
        steps(200)
        gc.collect()
        traced_start, _ = tracemalloc.get_traced_memory()
        steps(300)
        gc.collect()
        traced_end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    last = steps(10_000 - 1_000)
    gc.collect()
    grown = _rss_bytes() - before
    # a leaked graph per step (nodes, saved 16x8 activations: > 1 KB) is > 300 KB over 300 steps
    assert traced_end - traced_start < 16 * 1024, f"Python heap grew {traced_end - traced_start} B in 300 steps"
    assert grown < 8 * 2 ** 20, f"RSS grew {grown / 2 ** 20:.1f} MiB over 10,000 steps"
    assert np.isfinite(last) and last < first


@requires_cuda
def test_training_on_cuda_keeps_device_memory_flat():
    """Steps 3.. allocate and free the same: memory after every step and the peak within one stay what they were
    after step 2 (from then on the gradients and momentum buffers exist). With the cycle collector off, so a
    graph kept alive by a reference cycle shows up too. The interpreter costs ~20 ms a kernel launch: 30 steps
    there, 1,000 on a GPU."""
    steps = 30 if fw.cuda.is_interpreted() else 1000
    model = _tiny_mlp().to("cuda")
    opt = fw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = fw.randn(16, 4).to("cuda"), fw.randn(16, 1).to("cuda")

    def step():
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    first = step()
    step()
    gc.collect()
    gc.disable()
    try:
        settled = fw.cuda.memory_allocated()
        fw.cuda.reset_peak_memory_stats()
        step()
        one_step_peak = fw.cuda.max_memory_allocated()
        after = [fw.cuda.memory_allocated()]
        for _ in range(steps - 3):
            last = step()
            after.append(fw.cuda.memory_allocated())
        peak = fw.cuda.max_memory_allocated()
    finally:
        gc.enable()
    # a leaked graph per step (saved 16x8 activations, each storage counted as >= 512 B) grows both
    assert after == [settled] * len(after), f"device memory after each step, from {settled} B: {after}"
    assert peak == one_step_peak, f"the peak grew from {one_step_peak} B (one step) to {peak} B"
    assert np.isfinite(last) and last < first


@requires_cuda
def test_cuda_graph_without_backward_frees_its_saved_tensors():
    w = fw.randn(8, 8).to("cuda").requires_grad_()
    gc.collect()
    gc.disable()  # by reference counting alone
    try:
        before = fw.cuda.memory_allocated()
        for backward in (True, False):
            h = (fw.randn(4, 8).to("cuda") @ w).relu().exp()
            loss = F.log_softmax(h, 1).sum()
            assert fw.cuda.memory_allocated() > before
            if backward:
                loss.backward()
                w.grad = None
            del h, loss
            assert fw.cuda.memory_allocated() == before, f"graph storage alive after del (backward={backward})"
    finally:
        gc.enable()


def _graph(requires_grad=True):
    w = fw.randn(8, 8, requires_grad=requires_grad)
    h = (fw.randn(4, 8) @ w).relu().exp()
    return w, F.log_softmax(h, 1).sum()


def test_graph_and_saved_tensors_are_freed_by_reference_counting():
    gc.collect()
    gc.disable()  # no cycle collector: the graph must hold no reference cycle of its own
    try:
        for backward in (True, False):
            w, loss = _graph()
            node = weakref.ref(loss.grad_fn)
            saved = weakref.ref(loss.grad_fn.next_functions[0][0]) if hasattr(loss.grad_fn, "next_functions") \
                else node
            if backward:
                loss.backward()
            del loss
            assert node() is None and saved() is None, f"graph alive after del (backward={backward})"
            assert w.grad is not None or not backward
    finally:
        gc.enable()


def test_reference_cycles_do_not_keep_graphs_alive():
    w, loss = _graph()
    node = weakref.ref(loss.grad_fn)
    holder = {"loss": loss}
    holder["self"] = holder  # a cycle through user data
    loss.register_hook(lambda g, holder=holder: g)  # and one through the graph: tensor -> hook -> tensor
    del loss, holder
    gc.collect()
    assert node() is None, "a reference cycle kept the graph alive"


def test_no_grad_is_thread_local():
    entered, checked = threading.Event(), threading.Event()
    seen = {}

    def other():
        entered.wait(5)
        seen["enabled"] = fw.is_grad_enabled()
        seen["requires_grad"] = (fw.ones(2, requires_grad=True) * 2).requires_grad
        checked.set()

    thread = threading.Thread(target=other)
    thread.start()
    with fw.no_grad():
        entered.set()
        checked.wait(5)
        assert not fw.is_grad_enabled()
    thread.join(5)
    assert seen == {"enabled": True, "requires_grad": True}

    with fw.no_grad():  # and the other way round: a thread's no_grad does not leak into this one
        done = []
        t = threading.Thread(target=lambda: done.append(fw.is_grad_enabled()))
        t.start()
        t.join(5)
    assert done == [True]
    assert fw.is_grad_enabled()


def test_training_in_two_threads_gives_the_bits_of_training_alone():
    """Each thread trains its own model from fixed weights: the results must not depend on the other."""
    specs = [("sgd", 1), ("adam", 2)]
    inits = {}
    for optimizer, seed in specs:
        model = _tiny_mlp(seed)
        inits[optimizer] = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    x, y = fw.tensor(rng.standard_normal((16, 4), dtype=np.float32)), fw.tensor(rng.standard_normal((16, 1),
                                                                                                  dtype=np.float32))

    def run(optimizer, out):
        model = fw.nn.Sequential(fw.nn.Linear(4, 8), fw.nn.ReLU(), fw.nn.Linear(8, 1))
        model.load_state_dict(inits[optimizer])
        losses = _train(model, x, y, 300, optimizer=optimizer)
        out[optimizer] = (losses, [p.detach().numpy().copy() for p in model.parameters()])

    alone = {}
    for optimizer, _ in specs:
        run(optimizer, alone)
    together = {}
    threads = [threading.Thread(target=run, args=(optimizer, together)) for optimizer, _ in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for optimizer, _ in specs:
        assert together[optimizer][0] == alone[optimizer][0], f"{optimizer}: losses differ in a thread"
        for a, b in zip(together[optimizer][1], alone[optimizer][1]):
            assert np.array_equal(a, b), f"{optimizer}: parameters differ in a thread"
