"""default_collate and default_convert: samples to batches, with PyTorch's rules and messages.

default_collate, by the type of the batch's first element:
  Tensor -> stacked along a new first dim     numpy array -> tensors, stacked
  numpy scalar -> tensor of its dtype         float -> float64 tensor; int, bool -> tensor(batch)
  str, bytes -> the batch unchanged           Mapping -> the same keys, each collated
  namedtuple -> the same type, field-wise     other sequence -> transposed, each position collated
                                                (a tuple becomes a list, as in PyTorch)
"""
import collections.abc
import copy
import re

import numpy as np

from ...creation import as_tensor, from_numpy, tensor
from ...dtypes import float64
from ...ops.shape import stack
from ...tensor import Tensor

_NUMPY_NON_NUMERIC = re.compile(r"[SaUO]")  # numpy dtype strings of strings and objects
_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def default_collate(batch):
    """Merge a list of samples into a batch (see the module docstring)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if _NUMPY_NON_NUMERIC.search(elem.dtype.str) is not None:
            raise TypeError(_ERROR.format(elem.dtype))
        return default_collate([as_tensor(b) for b in batch])
    if isinstance(elem, (np.bool_, np.number, np.object_)):  # numpy scalars keep their dtype
        return from_numpy(np.array(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=float64)
    if isinstance(elem, int):  # bool included, as in PyTorch: tensor([True, False]) is a bool tensor
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:  # a mapping type that cannot be built from a dict
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(samples) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return columns
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)  # keeps a list subclass's extra attributes
                clone[:] = columns
                return clone
            return type(elem)(columns)
        except TypeError:  # e.g. range: not buildable from a list
            return columns
    raise TypeError(_ERROR.format(type(elem)))


def default_convert(data):
    """What a DataLoader without batching applies to each sample: numpy arrays (and numpy
    scalars) become tensors, inside mappings and sequences too; everything else stays."""
    if isinstance(data, np.ndarray) and _NUMPY_NON_NUMERIC.search(data.dtype.str) is None:
        return as_tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return from_numpy(np.array(data))
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
