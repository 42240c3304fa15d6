"""Datasets: the map-style and iterable protocols, TensorDataset, Subset and random_split."""
import itertools
import math
import warnings

import numpy as np

from ... import random as _random
from ...tensor import Tensor


class Dataset:
    """A map-style dataset: `dataset[i]` for `i` in `range(len(dataset))`."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class IterableDataset(Dataset):
    """A dataset read as a stream: `iter(dataset)` yields the samples (no indexing, no shuffling)."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")


class TensorDataset(Dataset):
    """Sample `i` is `tuple(t[i] for t in tensors)`; the tensors share their first dimension."""

    def __init__(self, *tensors):
        if any(t.size(0) != tensors[0].size(0) for t in tensors):
            raise AssertionError("Size mismatch between tensors")  # PyTorch asserts this too
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].size(0)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        """A batch of samples at once (the DataLoader calls this when a dataset has it)."""
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)


def _gather_batch(dataset, indices):
    """`default_collate([dataset[i] for i in indices])` as one index op per tensor, for a TensorDataset
    (possibly inside Subsets) whose indexing is not overridden; None for any other dataset."""
    while isinstance(dataset, Subset) and type(dataset).__getitems__ is Subset.__getitems__:
        indices = [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    if type(dataset).__getitem__ is not TensorDataset.__getitem__:
        return None
    index = Tensor._from_raw(np.asarray([int(i) for i in indices], dtype=np.int64))
    # a list, as default_collate makes of the samples' tuples
    return [t[index] for t in dataset.tensors]


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping Subsets of the given lengths (or fractions of it),
    PyTorch's way: `randperm(len(dataset))` from `generator` (the default generator when None),
    cut in order, so the same seed gives the same splits as torch."""
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, fraction in enumerate(lengths):
            if fraction < 0 or fraction > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(int(math.floor(len(dataset) * fraction)))
        for i in range(len(dataset) - sum(sizes)):  # hand out the remainder round-robin
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
        lengths = sizes
    if sum(lengths) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = _random.randperm(sum(lengths), generator=generator).tolist()
    return [Subset(dataset, indices[end - length:end])
            for end, length in zip(itertools.accumulate(lengths), lengths)]
