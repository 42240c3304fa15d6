"""framework.cuda.CUDAGraph, graph and make_graphed_callables on the `cuda` device (framework/backends/cuda/graphs.py).

Under Triton's interpreter the graph records the kernels and replays them; on a GPU it is a stream capture. Either
way these tests hold: a replay computes bit for bit what the eager code computes on the same values, the capture
itself leaves the device's memory as it was (a GPU's capture runs nothing), and what a CUDA graph would freeze or
cannot do is refused by name. The fake GPU's tests of the capture machinery are in test_stream_capture.py.
"""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F

pytestmark = pytest.mark.skipif(not fw.cuda.is_available(), reason="needs the cuda device (a GPU or Triton's "
                                "interpreter, TRITON_INTERPRET=1)")


def _mlp(seed=0, batch_norm=False):
    fw.manual_seed(seed)
    layers = [fw.nn.Linear(6, 8)] + ([fw.nn.BatchNorm1d(8)] if batch_norm else []) + [fw.nn.ReLU(), fw.nn.Linear(8, 3)]
    return fw.nn.Sequential(*layers).to("cuda")


def _batches(count, seed=5):
    fw.manual_seed(seed)
    return [(fw.randn(4, 6).to("cuda"), fw.randint(0, 3, (4,)).to("cuda")) for _ in range(count)]


def _host(t):
    return t.detach().cpu().numpy()


def _eager_grads(model, x, y):
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return _host(loss), [_host(p.grad) for p in model.parameters()]


def test_replays_compute_what_eager_steps_compute_and_the_capture_changes_nothing():
    """PyTorch's recipe: warm up, capture forward and backward into a graph, then per batch copy it into the
    static input and replay; the optimizer steps outside the graph."""
    model, twin = _mlp(), _mlp()
    opt, twin_opt = fw.optim.SGD(model.parameters(), lr=0.1), fw.optim.SGD(twin.parameters(), lr=0.1)
    data = _batches(4)
    static_x, static_y = data[0][0].clone(), data[0][1].clone()
    for x, y in data[:1]:  # warm-up, eager, on both
        for m, o in ((model, opt), (twin, twin_opt)):
            _eager_grads(m, x, y)
            o.step()
    before = [_host(p) for p in model.parameters()]
    g = fw.cuda.CUDAGraph()
    model.zero_grad(set_to_none=True)
    with fw.cuda.graph(g):
        static_loss = F.cross_entropy(model(static_x), static_y)
        static_loss.backward()
    assert all(np.array_equal(b, _host(p)) for b, p in zip(before, model.parameters()))
    for x, y in data[1:]:
        static_x.copy_(x)
        static_y.copy_(y)
        g.replay()
        loss, grads = _eager_grads(twin, x, y)
        assert np.array_equal(_host(static_loss), loss)
        for p, grad in zip(model.parameters(), grads):
            assert np.array_equal(_host(p.grad), grad)
        opt.step()
        twin_opt.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        assert np.array_equal(_host(p), _host(q))


def test_the_capture_leaves_running_statistics_as_they_were():
    model = _mlp(batch_norm=True)
    x, _ = _batches(1)[0]
    model(x)  # warm-up
    norm = model[1]
    mean, var, count = _host(norm.running_mean), _host(norm.running_var), _host(norm.num_batches_tracked)
    g = fw.cuda.CUDAGraph()
    with fw.cuda.graph(g):
        out = model(x)
    assert np.array_equal(_host(norm.running_mean), mean) and np.array_equal(_host(norm.running_var), var)
    assert np.array_equal(_host(norm.num_batches_tracked), count)
    g.replay()
    twin = _mlp(batch_norm=True)
    twin(x)
    expected = twin(x)
    assert np.array_equal(_host(out), _host(expected))
    assert np.array_equal(_host(norm.running_mean), _host(twin[1].running_mean))
    assert np.array_equal(_host(norm.num_batches_tracked), _host(twin[1].num_batches_tracked))


@pytest.mark.parametrize("what, code", [
    ("optimizer.step()", lambda model, x: fw.optim.SGD(model.parameters(), lr=0.1).step()),
    ("Drawing random numbers", lambda model, x: F.dropout(model(x), 0.5)),
    ("framework.cuda.synchronize()", lambda model, x: fw.cuda.synchronize()),
])
def test_what_a_cuda_graph_would_freeze_is_refused_by_name(what, code):
    model = _mlp()
    x, y = _batches(1)[0]
    _eager_grads(model, x, y)
    before = [_host(p) for p in model.parameters()]
    g = fw.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=what.replace("(", r"\(").replace(")", r"\)")):
        with fw.cuda.graph(g):
            code(model, x)
    assert all(np.array_equal(b, _host(p)) for b, p in zip(before, model.parameters()))
    with fw.cuda.graph(g):  # the runtime is usable again: the failed capture was abandoned
        model(x)


def test_reading_a_value_during_capture_is_refused():
    x = fw.ones(3, device="cuda")
    g = fw.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="captur"):
        with fw.cuda.graph(g):
            (x * 2).sum().item()
    with pytest.raises(RuntimeError, match="without a completed capture"):
        g.replay()


def test_make_graphed_callables_matches_eager_values_and_gradients():
    model, twin = _mlp(), _mlp()
    data = _batches(3)
    x0 = data[0][0].clone().requires_grad_(True)
    graphed = fw.cuda.make_graphed_callables(model, (x0,), num_warmup_iters=1)
    assert graphed is model  # a Module keeps its identity
    for x, y in data:
        x = x.clone().requires_grad_(True)
        x_twin = x.detach().clone().requires_grad_(True)
        model.zero_grad(set_to_none=True)
        twin.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        expected = F.cross_entropy(twin(x_twin), y)
        expected.backward()
        assert np.array_equal(_host(loss), _host(expected))
        assert np.array_equal(_host(x.grad), _host(x_twin.grad))
        for p, q in zip(model.parameters(), twin.parameters()):
            assert np.array_equal(_host(p.grad), _host(q.grad))
    model.eval()  # not the training flag it was captured with: the eager forward runs
    assert model(data[0][0]).grad_fn.name() == twin.eval()(data[0][0]).grad_fn.name()


def test_make_graphed_callables_of_functions_in_order():
    """Functions are graphed with respect to their arguments only (as in PyTorch: a tensor they close over gets
    no gradient), their forward graphs captured in the order given and backward graphs in reverse."""
    fw.manual_seed(0)
    w = fw.randn(6, 6, device="cuda")

    def first(x):
        return (x @ w).relu()

    def second(h):
        return h.sum(dim=1), h.mean()

    x = fw.randn(4, 6, device="cuda", requires_grad=True)
    g_first, g_second = fw.cuda.make_graphed_callables((first, second), ((x,), (first(x).detach().requires_grad_(),)),
                                                       num_warmup_iters=1)
    for seed in (1, 2):
        fw.manual_seed(seed)
        x_new = fw.randn(4, 6, device="cuda", requires_grad=True)
        rows, mean = g_second(g_first(x_new))
        (rows.sum() + mean).backward()
        x_eager = x_new.detach().clone().requires_grad_(True)
        e_rows, e_mean = second(first(x_eager))
        (e_rows.sum() + e_mean).backward()
        assert np.array_equal(_host(rows), _host(e_rows)) and np.array_equal(_host(mean), _host(e_mean))
        assert np.array_equal(_host(x_new.grad), _host(x_eager.grad))


def test_make_graphed_callables_bad_arguments():
    model = _mlp()
    x = fw.randn(4, 6, device="cuda")
    with pytest.raises(TypeError, match="tuple of Tensors"):
        fw.cuda.make_graphed_callables(model, x)
    with pytest.raises(ValueError, match="2 callables and 1 tuples"):
        fw.cuda.make_graphed_callables((model, model), ((x,),))
    with pytest.raises(RuntimeError, match="must be a cuda tensor"):
        fw.cuda.make_graphed_callables(model, (x.cpu(),))
    hooked = _mlp()
    hooked.register_forward_hook(lambda *args: None)
    with pytest.raises(RuntimeError, match="must not have hooks"):
        fw.cuda.make_graphed_callables(hooked, (x,))
