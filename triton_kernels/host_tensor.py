"""HostTensor: a numpy array in the shape of the tensor arguments Triton's interpreter expects.

With TRITON_INTERPRET=1, Triton runs kernels on the host. Its launcher treats every
argument that has `data_ptr()` as a tensor and calls a few more PyTorch methods on it
(`untyped_storage`, `storage_offset`, `size`, `stride`, `new_empty`, `set_`, `copy_`)
to stage a host copy. Here the data already lives on the host, so staging is a no-op:
the storage is the array's own memory and "copying back" writes nothing.
"""
import numpy as np


def _root(array):
    """The array that owns the memory `array` views."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


class _HostStorage:
    __slots__ = ("root",)

    def __init__(self, root):
        self.root = root

    def data_ptr(self):
        return self.root.__array_interface__["data"][0]

    def cpu(self):
        return self

    def copy_(self, other):
        if other is not self and other.root is not self.root:
            np.copyto(self.root, other.root)


class HostTensor:
    """Wraps a numpy array (not copied) as a kernel argument: `data_ptr()` and `dtype` for Triton,
    plus what the interpreter calls."""

    __slots__ = ("array", "_pointer", "_storage")

    def __init__(self, array):
        self.array = array
        self._pointer = None
        self._storage = None

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def shape(self):
        return self.array.shape

    def data_ptr(self):
        if self._pointer is not None:
            return self._pointer
        return self.array.__array_interface__["data"][0]

    def untyped_storage(self):
        return self._storage if self._storage is not None else _HostStorage(_root(self.array))

    def storage_offset(self):
        origin = _HostStorage(_root(self.array)).data_ptr()
        return (self.array.__array_interface__["data"][0] - origin) // self.array.itemsize

    def size(self):
        return self.array.shape

    def stride(self):
        return tuple(s // self.array.itemsize for s in self.array.strides)

    def new_empty(self, *size, device=None):
        return HostTensor(np.empty(size, dtype=self.array.dtype))

    def set_(self, storage, offset, size, stride):
        # Point at the same memory: the interpreter then reads and writes the original array.
        self._storage = storage
        self._pointer = storage.data_ptr() + offset * self.array.itemsize
        return self

    def copy_(self, other):
        return self
