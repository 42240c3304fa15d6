"""Embedding: lookups, scatter-added gradients, padding_idx (zero row, no gradient), errors and reprs."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import DEVICES, assert_close, random_array, raises_like_torch, requires_torch, torch, torch_name


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("index_shape", [(5,), (3, 4), (2, 1, 3), ()])
def test_embedding_values_and_gradients(rng, dtype, index_shape):
    weight = random_array(rng, (6, 3), dtype)
    indices = rng.integers(0, 6, size=index_shape)
    w = fw.tensor(weight, requires_grad=True)
    out = F.embedding(fw.tensor(indices), w)
    assert out.shape == index_shape + (3,) and out.dtype is getattr(fw, dtype)
    np.testing.assert_array_equal(out.detach().numpy(), weight[indices])
    g = random_array(rng, index_shape + (3,), dtype)
    out.backward(fw.tensor(g))
    expected = np.zeros((6, 3))
    np.add.at(expected, indices.reshape(-1), g.astype(np.float64).reshape(-1, 3))  # repeats add up
    assert_close(w.grad, expected, dtype)
    assert out.grad_fn.name() == "EmbeddingBackward0"


def test_padding_idx():
    emb = nn.Embedding(5, 2, padding_idx=-2)
    assert emb.padding_idx == 3 and not emb.weight.detach().numpy()[3].any()
    out = emb(fw.tensor([[3, 1], [1, 3]]))
    out.sum().backward()
    grad = emb.weight.grad.numpy()
    np.testing.assert_array_equal(grad[3], [0, 0])
    np.testing.assert_array_equal(grad[1], [2, 2])
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding_idx", [0, 4, -1])
def test_padding_row_gets_no_gradient(rng, device, padding_idx):
    """Row 0 included: a padding index of 0 is falsy, and a check written as `if padding_idx:` would miss it."""
    weight = random_array(rng, (5, 3), "float32")
    indices = np.array([[0, 4, 2], [4, 0, 0], [1, 2, 3]])
    g = random_array(rng, (3, 3, 3), "float32")
    w = fw.tensor(weight, device=device, requires_grad=True)
    out = F.embedding(fw.tensor(indices, device=device), w, padding_idx=padding_idx)
    np.testing.assert_array_equal(out.detach().cpu().numpy(), weight[indices])  # the forward still reads the row
    out.backward(fw.tensor(g, device=device))
    expected = np.zeros((5, 3))
    np.add.at(expected, indices.reshape(-1), g.astype(np.float64).reshape(-1, 3))
    expected[padding_idx] = 0
    assert w.grad.device.type == device
    assert_close(w.grad, expected, "float32")
    assert not w.grad.cpu().numpy()[padding_idx].any()


def test_module_and_from_pretrained():
    weight = fw.tensor(np.arange(6.0).reshape(3, 2))
    emb = nn.Embedding.from_pretrained(weight)
    assert not emb.weight.requires_grad and emb(fw.tensor([2])).tolist() == [[4.0, 5.0]]
    assert nn.Embedding.from_pretrained(weight, freeze=False).weight.requires_grad
    assert list(nn.Embedding(4, 3).state_dict()) == ["weight"]
    assert nn.Embedding(4, 3, dtype=fw.float64).weight.dtype is fw.float64


@requires_torch
def test_errors_and_reprs_match_torch():
    for fw_idx, t_idx in [(fw.tensor([3]), torch.tensor([3])), (fw.tensor([-1]), torch.tensor([-1])),
                          (fw.tensor([1.0]), torch.tensor([1.0]))]:
        raises_like_torch(lambda: nn.Embedding(3, 2)(fw_idx), lambda: torch.nn.Embedding(3, 2)(t_idx))
    assert "index out of range in self" in raises_like_torch(lambda: nn.Embedding(3, 2)(fw.tensor([3])),
                                                             lambda: torch.nn.Embedding(3, 2)(torch.tensor([3])))
    for args, kwargs in [((10, 3), {}), ((10, 3), {"padding_idx": -1}), ((4, 2), {"padding_idx": 0})]:
        assert torch_name(repr(nn.Embedding(*args, **kwargs))) == repr(torch.nn.Embedding(*args, **kwargs))
