"""Graph's PyTorch-shaped interface: pool tokens, capture state, what a capture leaves behind."""
import numpy as np

import framework as fw
from framework import graphs
from framework.autograd.registry import KERNELS
from framework.graphs import recording


def test_capture_state_pool_tokens_and_the_registry_after_a_capture():
    before = {(op, d): pair for op, by in KERNELS.items() for d, pair in by.items()}
    g = graphs.Graph()
    assert not graphs.is_current_stream_capturing()
    with graphs.graph(g, pool=graphs.graph_pool_handle()):
        assert graphs.is_current_stream_capturing()
        y = fw.ones(3) * 2
    assert not graphs.is_current_stream_capturing()
    assert {(op, d): pair for op, by in KERNELS.items() for d, pair in by.items()} == before
    other = graphs.Graph()
    with graphs.graph(other, pool=g.pool()):  # graphs may share a pool token, as in PyTorch
        (y + 1)
    assert other.pool() == g.pool()
    assert g.debug_dump() and isinstance(g.debug_dump()[0], str)


def test_only_the_captured_region_is_recorded_and_replay_writes_the_same_tensors():
    x = fw.tensor([1.0, 2.0])
    z = x * 10  # before the capture: not recorded
    g = graphs.Graph()
    with graphs.graph(g):
        y = (x + 1).exp()
    count = len(g._steps)
    _ = x * 3  # after the capture: not recorded
    assert len(g._steps) == count
    x.copy_(fw.tensor([0.0, -1.0]))
    data = y._data
    g.replay()
    assert y._data is data
    assert np.array_equal(y.numpy(), np.exp(np.array([1.0, 0.0], np.float32)))
    assert np.array_equal(z.numpy(), [10.0, 20.0])


def test_dropout_draws_fresh_numbers_at_each_replay():
    fw.manual_seed(0)
    x = fw.ones(64)
    g = graphs.Graph()
    with graphs.graph(g):
        y = fw.nn.functional.dropout(x, 0.5)
    masks = [y.numpy().copy()]
    for _ in range(2):
        g.replay()
        masks.append(y.numpy().copy())
    fw.manual_seed(0)
    eager = [fw.nn.functional.dropout(x, 0.5).numpy() for _ in range(3)]
    assert all(np.array_equal(a, b) for a, b in zip(masks, eager))
    assert not np.array_equal(masks[0], masks[1])


def test_the_decorator_returns_its_static_outputs_and_steps_inside_a_capture_are_that_capture():
    step = graphs.capture(lambda x: (x * 2, x.sum()))
    first = [step(fw.ones(3)) for _ in range(3)]
    assert first[1][0] is first[2][0]  # the capture's outputs, written again by the replay
    assert np.array_equal(step(fw.full((3,), 4.0))[0].numpy(), [8.0, 8.0, 8.0])
    outer = graphs.Graph()
    with graphs.graph(outer):
        inner = step(fw.ones(5))  # a new signature inside a capture: recorded by the outer graph
    assert recording.ACTIVE is None and inner[0].shape == (5,)


def test_outputs_nothing_else_holds_are_handed_on_and_held_ones_are_written_in_place():
    x = fw.ones(2, 3)
    w = fw.tensor(np.arange(9.0, dtype=np.float32).reshape(3, 3) - 4, requires_grad=True)
    g = graphs.Graph()
    with graphs.graph(g):
        h = (x @ w).relu()  # held by this frame: the replay must write into its buffer
        loss = (h * 2).sum()
        loss.backward()
    handed_on = sum(len(forwards or ()) for *_, forwards in g._steps)
    assert handed_on >= 2  # x @ w and h * 2 are held by nothing but the next calls
    h_buffer, grad_buffer = h._data, w.grad._data
    new = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], np.float32)
    x.copy_(fw.from_numpy(new))
    g.replay()
    expected_h = np.maximum(new @ w.detach().numpy(), 0)
    assert h._data is h_buffer and np.array_equal(h.detach().numpy(), expected_h)
    assert loss.item() == np.float32(expected_h.sum() * 2)
    assert w.grad._data is grad_buffer
    assert np.array_equal(w.grad.numpy(), new.T @ (2 * (expected_h > 0)).astype(np.float32))
