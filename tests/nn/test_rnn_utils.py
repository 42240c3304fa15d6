"""nn.utils.rnn on every device: pad_sequence (both sides, batch_first), pack_padded_sequence (sorted or not) and
pad_packed_sequence (total_length) against PyTorch's fields and numpy-built expectations, gradients through
packing and padding, pack/unpack and pad/unpad round trips, and PyTorch's errors."""
import numpy as np
import pytest

import framework as fw
from framework.nn.utils import rnn
from helpers import DEVICES, assert_close, raises_like_torch, torch


def _sequences(rng, lengths, device, requires_grad=False):
    arrays = [rng.uniform(-1, 1, (n, 2)) for n in lengths]
    return arrays, [fw.tensor(a, device=device, requires_grad=requires_grad) for a in arrays]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence(device, batch_first, side, rng):
    arrays, seqs = _sequences(rng, [2, 4, 1], device)
    out = rnn.pad_sequence(seqs, batch_first=batch_first, padding_value=-3.0, padding_side=side)
    expected = np.full((3, 4, 2), -3.0)
    for i, a in enumerate(arrays):
        if side == "right":
            expected[i, :len(a)] = a
        else:
            expected[i, 4 - len(a):] = a
    assert_close(out, expected if batch_first else expected.transpose(1, 0, 2), "float64")
    if torch is not None:
        theirs = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(a) for a in arrays], batch_first=batch_first,
                                                 padding_value=-3.0, padding_side=side)
        assert_close(out, theirs, "float64")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_and_pad_back(device, enforce_sorted, rng):
    lengths = [4, 2, 1] if enforce_sorted else [2, 4, 1]
    arrays, seqs = _sequences(rng, lengths, device, requires_grad=True)
    padded = rnn.pad_sequence(seqs)
    packed = rnn.pack_padded_sequence(padded, lengths, enforce_sorted=enforce_sorted)
    order = np.argsort([-n for n in lengths], kind="stable")
    assert packed.batch_sizes.tolist() == [3, 2, 1, 1] and packed.batch_sizes.device.type == "cpu"
    expected_rows = [arrays[b][t] for t in range(4) for b in order if t < lengths[b]]
    assert_close(packed.data, np.array(expected_rows), "float64")
    if enforce_sorted:
        assert packed.sorted_indices is None and packed.unsorted_indices is None
    else:
        assert packed.sorted_indices.tolist() == order.tolist()
        assert packed.unsorted_indices.tolist() == np.argsort(order).tolist()
    back, back_lengths = rnn.pad_packed_sequence(packed, batch_first=True, padding_value=9.0, total_length=5)
    assert back_lengths.tolist() == lengths and back.shape == (3, 5, 2)
    expected = np.full((3, 5, 2), 9.0)
    for i, a in enumerate(arrays):
        expected[i, :len(a)] = a
    assert_close(back, expected, "float64")
    weights = rng.uniform(-1, 1, (3, 5, 2))
    (back * fw.tensor(weights, device=device)).sum().backward()
    for i, s in enumerate(seqs):  # each sequence's gradient is its rows' weights; padding gets none
        assert_close(s.grad, weights[i, :lengths[i]], "float64")
    if torch is not None:
        theirs = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(padded.detach().cpu().numpy()), lengths,
                                                         enforce_sorted=enforce_sorted)
        assert_close(packed.data, theirs.data, "float64")
        assert packed.batch_sizes.tolist() == theirs.batch_sizes.tolist()
    unpacked = rnn.unpack_sequence(rnn.pack_sequence(seqs, enforce_sorted=False))
    for a, u in zip(arrays, unpacked):
        assert_close(u, a, "float64")
    for a, u in zip(arrays, rnn.unpad_sequence(padded, fw.tensor(lengths))):
        assert_close(u, a, "float64")


def test_packed_sequence_moves_and_casts():
    packed = rnn.pack_sequence([fw.ones(3, 2), fw.ones(1, 2)], enforce_sorted=False)
    doubled = packed.double()
    assert isinstance(doubled, rnn.PackedSequence) and doubled.data.dtype is fw.float64
    assert doubled.batch_sizes is packed.batch_sizes and not packed.is_cuda
    assert packed.to(fw.float32) is packed
    assert rnn.invert_permutation(fw.tensor([2, 0, 1])).tolist() == [1, 2, 0]
    assert rnn.invert_permutation(None) is None


def _t(*shape):
    return torch.zeros(*shape)


@pytest.mark.parametrize("call,match", [
    (lambda z, m: m.pack_padded_sequence(z(4, 3, 2), [2, 3, 1]), "`lengths` array must be sorted in decreasing order "
     "when `enforce_sorted` is True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
     "pack_sequence to sidestep this requirement if you do not need ONNX exportability."),
    (lambda z, m: m.pack_padded_sequence(z(4, 3, 2), [3, 1, 0]), "Length of all samples has to be greater than 0, "
     "but found an element in 'lengths' that is <= 0"),
    (lambda z, m: m.pack_padded_sequence(z(4, 3, 2), [3, 2]), "Expected `len(lengths)` to be equal to batch_size, "
     "but got 2 (batch_size=3)"),
    (lambda z, m: m.pad_packed_sequence(m.pack_padded_sequence(z(4, 3, 2), [3, 2, 2]), total_length=2),
     "Expected total_length to be at least the length of the longest sequence in input, but got total_length=2 "
     "and max sequence length being 3"),
    (lambda z, m: m.pad_sequence([]), "received an empty list of sequences"),
    (lambda z, m: m.pad_sequence([z(2, 3)], padding_side="middle"),
     "Expected padding_side to be one of left or right, but got middle."),
])
def test_errors_are_pytorchs(call, match):
    torch_call = (lambda: call(_t, torch.nn.utils.rnn)) if torch is not None else None
    assert raises_like_torch(lambda: call(fw.zeros, rnn), torch_call, match=match) == match


def test_lengths_beyond_the_time_dimension_are_refused():
    """PyTorch accepts such lengths without an error; framework refuses them."""
    with pytest.raises(RuntimeError, match=r"no longer than the input's time dimension \(4\), but got 5"):
        rnn.pack_padded_sequence(fw.zeros(4, 3, 2), [5, 3, 1])
