"""What a graph capture refuses, with a clear error: host reads, data-dependent sizes, resized static inputs,
replays without a capture, nested captures. A refused capture leaves the registry as it was."""
import numpy as np
import pytest

import framework as fw
from framework import graphs
from framework.autograd.registry import KERNELS
from framework.graphs import recording


def captured_error(fn, *args):
    """The RuntimeError `fn(*args)` raises inside a capture; the capture is abandoned."""
    g = graphs.Graph()
    with pytest.raises(RuntimeError) as info:
        with graphs.graph(g):
            fn(*args)
    assert recording.ACTIVE is None
    with pytest.raises(RuntimeError, match="without a preceding successful capture"):
        g.replay()
    return str(info.value)


@pytest.mark.parametrize("read,name", [
    (lambda t: t.sum().item(), "item()"),
    (lambda t: t.tolist(), "tolist()"),
    (lambda t: t.numpy(), "numpy()"),
    (lambda t: bool(t.sum() > 0), "bool()"),
    (lambda t: float(t.sum()), "float()"),
    (lambda t: repr(t * 2), "printing"),
])
def test_host_read_during_capture_raises_naming_it(read, name):
    x = fw.randn(3, 4)
    message = captured_error(lambda: read(x * 1))
    assert f"({name})" in message and "while a graph is being captured" in message
    read(x)  # outside a capture the same read works


@pytest.mark.parametrize("op,call", [
    ("nonzero", lambda t: t.nonzero()),
    ("unique", lambda t: fw.unique(t)),
    ("masked_select", lambda t: t.masked_select(t > 0)),
    ("nonzero", lambda t: t[t > 0]),  # boolean indexing takes the mask's nonzero positions
])
def test_data_dependent_output_size_raises(op, call):
    x = fw.randn(5, 3)
    message = captured_error(call, x)
    assert message.startswith(f"{op}() cannot be captured in a graph: the size of its output depends on the values")
    call(x)


def test_failed_capture_restores_the_registry():
    before = {(op, d): pair for op, by in KERNELS.items() for d, pair in by.items()}
    captured_error(lambda: (fw.randn(2) * 3).item())
    after = {(op, d): pair for op, by in KERNELS.items() for d, pair in by.items()}
    assert after == before


def test_capture_begin_twice_raises():
    g = graphs.Graph()
    g.capture_begin()
    try:
        with pytest.raises(RuntimeError, match="capture_begin was called while a capture is already in progress"):
            g.capture_begin()
        with pytest.raises(RuntimeError, match="already in progress"):
            graphs.Graph().capture_begin()
    finally:
        g.capture_end()
    with pytest.raises(RuntimeError, match="This Graph instance already owns a captured graph. To capture a new "
                                           "graph, create a new instance."):
        g.capture_begin()


def test_replay_without_capture_or_after_reset_raises():
    g = graphs.Graph()
    with pytest.raises(RuntimeError, match=r"Called Graph::replay without a preceding successful capture\."):
        g.replay()
    with pytest.raises(RuntimeError, match="Called Graph::capture_end without a preceding capture_begin"):
        g.capture_end()
    x = fw.ones(3)
    with graphs.graph(g):
        y = x * 2
    x.copy_(fw.tensor([1.0, 2.0, 3.0]))
    g.replay()
    assert y.tolist() == [2.0, 4.0, 6.0]
    g.reset()
    with pytest.raises(RuntimeError, match="without a preceding successful capture"):
        g.replay()


def test_replay_after_a_static_input_was_resized_raises():
    x = fw.ones(4, 3)
    g = graphs.Graph()
    with graphs.graph(g):
        (x * 3).sum(0)
    x.data = fw.ones(2, 3)
    with pytest.raises(RuntimeError, match=r"resized from \[4, 3\] to \[2, 3\] after the capture"):
        g.replay()


def test_replay_after_out_resized_a_static_tensor_raises():
    x = fw.ones(4)
    out = fw.empty(4)
    g = graphs.Graph()
    with graphs.graph(g):
        out.copy_(x * 2)
    fw.zeros(6, out=out)  # out= of a new shape gives `out` new memory
    with pytest.raises(RuntimeError, match=r"resized from \[4\] to \[6\]"):
        g.replay()


def test_decorator_captures_again_for_a_new_shape_or_dtype():
    calls = []

    @graphs.capture
    def double(x):
        calls.append(x.shape)
        return x * 2

    for n in (3, 3, 3, 5, 5, 5, 3):
        x = fw.arange(n, dtype=fw.float32)
        assert np.array_equal(double(x).numpy(), np.arange(n, dtype=np.float32) * 2)
    assert len(double.graphs()) == 2
    assert len(calls) == 4  # warm-up and capture per shape; the other calls replayed
    assert double(fw.arange(3, dtype=fw.float64)).dtype == fw.float64
    assert len(double.graphs()) == 2  # float64 is warming up
    double(fw.arange(3, dtype=fw.float64))
    assert len(double.graphs()) == 3


def test_decorator_refuses_unhashable_arguments():
    step = graphs.capture(lambda x, options: x * 2)
    with pytest.raises(TypeError, match="hashable values"):
        step(fw.ones(2), np.ones(2))


def test_attention_dropout_is_refused_rather_than_replayed_with_the_same_numbers():
    q = fw.randn(1, 2, 4, 8)
    message = captured_error(lambda: fw.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=0.5))
    assert message.startswith("scaled_dot_product_attention with dropout_p > 0 cannot be captured in a graph yet")
    g = graphs.Graph()
    with graphs.graph(g):
        fw.nn.functional.scaled_dot_product_attention(q, q, q)  # without dropout it captures
    g.replay()


@pytest.mark.parametrize("draw,name", [
    (lambda: fw.randperm(5), "randperm()"),
    (lambda: fw.empty(3).uniform_(), "uniform_()"),
    (lambda: fw.multinomial(fw.ones(4), 2), "_words64()"),
])
def test_random_draws_a_replay_cannot_refresh_are_refused(draw, name):
    message = captured_error(draw)
    assert message.startswith(name) and "cannot be captured in a graph yet" in message
    draw()


def test_rand_randn_randint_draw_fresh_numbers_at_each_replay_as_eager_calls_would():
    def draws():
        return fw.rand(3) + fw.randn(3) + fw.randint(0, 5, (3,))
    fw.manual_seed(3)
    g = graphs.Graph()
    with graphs.graph(g):
        out = draws()
    captured = [out.numpy().copy()]
    for _ in range(2):
        g.replay()
        captured.append(out.numpy().copy())
    fw.manual_seed(3)
    eager = [draws().numpy() for _ in range(3)]
    assert all(np.array_equal(a, b) for a, b in zip(captured, eager))


def test_replays_check_the_values_of_new_indices_as_the_eager_step_does():
    model, table = fw.nn.Linear(4, 3), fw.nn.Embedding(5, 4)
    opt = fw.optim.SGD(list(model.parameters()) + list(table.parameters()), lr=0.1)

    @graphs.capture
    def step(x, y, rows):
        opt.zero_grad()
        loss = fw.nn.functional.cross_entropy(model(x + table(rows)), y)
        loss.backward()
        opt.step()
        return loss

    x, y, rows = fw.randn(5, 4), fw.tensor([0, 1, 2, 0, 1]), fw.tensor([0, 1, 2, 3, 4])
    for _ in range(3):
        step(x, y, rows)
    with pytest.raises(IndexError, match="^Target -1 is out of bounds.$"):  # numpy would wrap -1 around
        step(x, fw.tensor([0, 1, -1, 0, 1]), rows)
    with pytest.raises(IndexError, match="^index out of range in self$"):
        step(x, y, fw.tensor([0, 1, 2, 3, 9]))
    with pytest.raises(RuntimeError, match="all elements of target should be between 0 and 1"):
        bce = graphs.capture(lambda p, t: fw.nn.functional.binary_cross_entropy(p, t))
        for target in ([0.0, 1.0], [0.5, 1.0], [0.5, 1.0], [0.5, 2.0]):
            bce(fw.tensor([0.25, 0.75]), fw.tensor(target))
    gather = graphs.capture(lambda t, i: t.gather(0, i))
    for index in ([0, 1], [1, 0], [2, 1]):
        if index == [2, 1]:
            with pytest.raises(RuntimeError, match="index 2 is out of bounds for dimension 0 with size 2"):
                gather(fw.tensor([5.0, 6.0]), fw.tensor(index))
        else:
            gather(fw.tensor([5.0, 6.0]), fw.tensor(index))
    assert len(gather.graphs()) == 1  # the last call was a replay


@pytest.mark.skipif(not fw.cuda.is_available(), reason="no cuda device: no GPU and TRITON_INTERPRET is not 1")
def test_a_cpu_number_tensor_with_a_cuda_operand_is_refused_rather_than_baked_in():
    x, scale = fw.ones(2, device="cuda"), fw.tensor(3.0)
    message = captured_error(lambda: x * scale)
    assert "(a 0-dim CPU tensor used as a number with a tensor on another device)" in message
    assert (x * scale).tolist() == [3.0, 3.0]


def test_collectives_are_refused_during_a_capture():
    from framework.distributed import process_group

    def all_reduce():  # what every collective asks first: the backend that moves its tensors
        return process_group.device_backend(None, fw.ones(2))
    message = captured_error(all_reduce)
    assert message.startswith("all_reduce() cannot be captured in a graph yet: a collective moves data between "
                              "processes")
