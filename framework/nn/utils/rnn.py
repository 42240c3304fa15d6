"""`framework.nn.utils.rnn`: variable-length batches for the recurrent layers, as torch.nn.utils.rnn has them.

A PackedSequence stores a batch of sequences sorted by decreasing length, time step by time step: `data` holds
the rows of step 0 (one per sequence), then those of step 1 (one per sequence still running), ...;
`batch_sizes[t]` (an int64 CPU tensor) counts the rows of step t. `sorted_indices[i]` is the batch position of
the i-th longest sequence (None when the batch came sorted), `unsorted_indices` its inverse. Packing and
padding are slices and concatenations of framework ops, so they are differentiable on every device.
"""
import collections

import numpy as np

from ...creation import full, tensor
from ...ops.shape import cat, stack
from ...tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]

_PackedSequenceBase = collections.namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices",
                                                                "unsorted_indices"])


class PackedSequence(_PackedSequenceBase):
    """Holds the data and the list of batch_sizes of a packed sequence (see the module's docstring)."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # PackedSequence(*other) with other a (data, batch_sizes) tuple, as PyTorch allows
            data, batch_sizes = data
        if batch_sizes.device.type != "cpu":
            raise ValueError("batch_sizes should always be on CPU. Instances of PackedSequence should never be "
                             "created manually. They should be instantiated by functions like pack_sequence and "
                             "pack_padded_sequences in nn.utils.rnn. https://pytorch.org/docs/stable/nn.html"
                             "#torch.nn.utils.rnn.pack_sequence")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The same packed sequence with `data` (and the indices, to its device) moved or cast as Tensor.to does."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = lambda index: None if index is None else index.to(data.device)  # noqa: E731
        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cuda(self, *args, **kwargs):
        return self.to("cuda")

    def cpu(self, *args, **kwargs):
        return self.to("cpu")

    def double(self):
        from ... import dtypes
        return self.to(dtypes.float64)

    def float(self):
        from ... import dtypes
        return self.to(dtypes.float32)

    def half(self):
        from ... import dtypes
        return self.to(dtypes.float16)

    @property
    def is_cuda(self):
        return self.data.is_cuda


def invert_permutation(permutation):
    """The inverse of an int64 permutation tensor (None stays None)."""
    if permutation is None:
        return None
    order = permutation.cpu().numpy()
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size, dtype=order.dtype)
    return tensor(inverse).to(permutation.device)


def _lengths_array(lengths):
    if isinstance(lengths, Tensor):
        return lengths.detach().cpu().numpy().astype(np.int64).reshape(-1)
    return np.asarray(list(lengths), dtype=np.int64).reshape(-1)


def _batch_sizes(sorted_lengths):
    """batch_sizes[t] = how many sequences (sorted longest first) are longer than t."""
    steps = np.arange(int(sorted_lengths[0]) if sorted_lengths.size else 0)
    return (sorted_lengths[None, :] > steps[:, None]).sum(1).astype(np.int64)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs a padded batch (T x B x * or, batch_first, B x T x *) of sequences of the given lengths."""
    lengths = _lengths_array(lengths)
    if enforce_sorted:
        if np.any(lengths[:-1] < lengths[1:]):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
        order = np.arange(lengths.size)
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = tensor(order.astype(np.int64)).to(input.device)
    batch_dim = 0 if batch_first else 1
    if lengths.size != input.shape[batch_dim]:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {lengths.size} "
                           f"(batch_size={input.shape[batch_dim]})")
    if lengths.size and lengths.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if lengths.size and lengths.max() > input.shape[1 - batch_dim]:
        raise RuntimeError(f"Expected sequence length to be no longer than the input's time dimension "
                           f"({input.shape[1 - batch_dim]}), but got {int(lengths.max())}")
    if sorted_indices is not None:
        input = input.index_select(batch_dim, sorted_indices)
    if batch_first:
        input = input.transpose(0, 1)
    sizes = _batch_sizes(lengths[order])
    data = cat([input[t, :int(size)] for t, size in enumerate(sizes)], 0)
    return PackedSequence(data, tensor(sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Pads a packed batch back: (padded T x B x * (B x T x * with batch_first), lengths as an int64 tensor)."""
    data, sizes = sequence.data, sequence.batch_sizes.numpy().astype(np.int64)
    steps, batch = sizes.size, int(sizes[0]) if sizes.size else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, but "
                             f"got total_length={total_length} and max sequence length being {steps}")
    else:
        total_length = steps
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rest = tuple(data.shape[1:])
    rows = []
    for t in range(total_length):
        size = int(sizes[t]) if t < steps else 0
        piece = data[int(offsets[t]):int(offsets[t]) + size] if t < steps else data[:0]
        if size < batch:
            piece = cat([piece, full((batch - size,) + rest, padding_value, dtype=data.dtype, device=data.device)], 0)
        rows.append(piece)
    padded = stack(rows, 0) if rows else full((0, batch) + rest, padding_value, dtype=data.dtype,
                                               device=data.device)
    lengths = (sizes[None, :] > np.arange(batch)[:, None]).sum(1).astype(np.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.cpu().numpy()]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, tensor(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks tensors of shapes (L_i x *) into one (max L x B x *) (B x max L x * with batch_first), padded."""
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    longest = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        rest = tuple(s.shape[1:])
        if tuple(sequences[0].shape[1:]) != rest:
            raise RuntimeError(f"The size of tensor a ({sequences[0].shape[1] if sequences[0].ndim > 1 else 0}) "
                               f"must match the size of tensor b ({s.shape[1] if s.ndim > 1 else 0}) at "
                               "non-singleton dimension 1")
        pad = full((longest - s.shape[0],) + rest, padding_value, dtype=s.dtype, device=s.device)
        rows.append(cat([s, pad] if padding_side == "right" else [pad, s], 0))
    return stack(rows, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of the batch's sequences, each cut to its length (the inverse of pad_sequence)."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(_lengths_array(lengths))]


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of tensors of shapes (L_i x *): pad_sequence, then pack_padded_sequence."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of the packed sequences, each as long as it is (the inverse of pack_sequence)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
