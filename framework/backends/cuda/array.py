"""CudaArray: the raw value of a `cuda` tensor, as numpy arrays are on the CPU.

A storage plus shape, strides (in elements) and an offset. Views (reshape, transpose, broadcast, basic
indexing) make new CudaArrays over the same storage. The metadata attributes read like numpy's
(`shape`, `ndim`, `size`, `dtype`, `strides` in bytes, `flags.c_contiguous`) so the framework's front end
treats both backends alike, and the object is an array argument for `triton_kernels` launchers
(`data_ptr()`, `dtype`, `shape`, `stride()`); under the interpreter it also answers the few calls Triton's
interpreter makes on tensor arguments.
"""
import operator

import numpy as np

from triton_kernels.host_tensor import HostTensor, _HostStorage

from . import device_errors
from .memory import Storage
from .runtime import runtime


class _Flags:
    __slots__ = ("c_contiguous",)

    def __init__(self, c_contiguous):
        self.c_contiguous = c_contiguous


def contiguous_strides(shape):
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _numel(shape):
    n = 1
    for size in shape:
        n *= size
    return n


class _ElementCount(int):
    """numpy's `array.size` (an int) that can also be called as PyTorch's `size()` (the shape): Triton's
    interpreter calls `size()` on tensor arguments, the framework reads `.size` as on numpy arrays."""

    def __new__(cls, shape):
        count = super().__new__(cls, _numel(shape))
        count.shape = shape
        return count

    def __call__(self):
        return self.shape


class CudaArray:
    __slots__ = ("storage", "shape", "_stride", "offset", "dtype")

    def __init__(self, storage, shape, stride, offset, dtype):
        self.storage = storage
        self.shape = tuple(shape)
        self._stride = tuple(stride)
        self.offset = offset
        self.dtype = dtype

    # ---- numpy-like metadata -------------------------------------------------

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return _ElementCount(self.shape)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def strides(self):
        item = self.dtype.itemsize
        return tuple(s * item for s in self._stride)

    def stride(self):
        return self._stride

    def is_contiguous(self):
        expected = 1
        for size, stride in zip(reversed(self.shape), reversed(self._stride)):
            if size == 0:
                return True
            if size != 1 and stride != expected:
                return False
            expected *= size
        return True

    @property
    def flags(self):
        return _Flags(self.is_contiguous())

    def data_ptr(self):
        return self.storage.address + self.offset * self.dtype.itemsize

    def __repr__(self):
        return f"CudaArray(shape={self.shape}, stride={self._stride}, offset={self.offset}, dtype={self.dtype})"

    # ---- what Triton's interpreter calls on a tensor argument -------------------

    def untyped_storage(self):
        return _HostStorage(self.storage.host)

    def storage_offset(self):
        return self.offset

    def new_empty(self, *size, device=None):
        return HostTensor(np.empty(0, dtype=self.dtype))

    # ---- views ------------------------------------------------------------------

    def as_strided(self, shape, stride, offset=None):
        return CudaArray(self.storage, shape, stride, self.offset if offset is None else offset, self.dtype)

    def transpose(self, axes=None):
        axes = tuple(range(self.ndim - 1, -1, -1)) if axes is None else tuple(axes)
        return self.as_strided(tuple(self.shape[a] for a in axes), tuple(self._stride[a] for a in axes))

    @property
    def T(self):
        return self.transpose()

    def broadcast_to(self, shape):
        shape = tuple(shape)
        lead = len(shape) - self.ndim
        if lead < 0:
            raise ValueError(f"cannot broadcast an array of shape {self.shape} to {shape}")
        strides = [0] * lead
        for size, own_size, stride in zip(shape[lead:], self.shape, self._stride):
            if own_size == size:
                strides.append(stride)
            elif own_size == 1:
                strides.append(0)
            else:
                raise ValueError(f"cannot broadcast an array of shape {self.shape} to {shape}")
        return self.as_strided(shape, strides)

    def reshape_view(self, shape):
        """A view with `shape`, or None when this layout cannot be viewed so (PyTorch's computeStride)."""
        shape = tuple(shape)
        if _numel(shape) != self.size:
            raise ValueError(f"cannot reshape array of size {self.size} into shape {shape}")
        if self.size == 0 or self.is_contiguous():
            return self.as_strided(shape, contiguous_strides(shape))
        new_strides = [0] * len(shape)
        view_d = len(shape) - 1
        chunk_base_stride = self._stride[-1] if self._stride else 1
        tensor_numel = 1
        view_numel = 1
        for tensor_d in range(self.ndim - 1, -1, -1):
            tensor_numel *= self.shape[tensor_d]
            if tensor_d == 0 or (self.shape[tensor_d - 1] != 1 and
                                 self._stride[tensor_d - 1] != tensor_numel * chunk_base_stride):
                while view_d >= 0 and (view_numel < tensor_numel or shape[view_d] == 1):
                    new_strides[view_d] = view_numel * chunk_base_stride
                    view_numel *= shape[view_d]
                    view_d -= 1
                if view_numel != tensor_numel:
                    return None
                if tensor_d > 0:
                    chunk_base_stride = self._stride[tensor_d - 1]
                    tensor_numel = 1
                    view_numel = 1
        if view_d != -1:
            return None
        return self.as_strided(shape, new_strides)

    def reshape(self, shape, copy=None):
        """numpy's reshape: a view when the layout allows, else a contiguous copy (with copy=False: ValueError)."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if -1 in shape:
            known = _numel(s for s in shape if s != -1)
            shape = tuple(self.size // known if s == -1 else s for s in shape) if known else shape
        view = self.reshape_view(shape)
        if view is None and copy is False:
            raise ValueError("cannot reshape the array without copying")
        return view if view is not None else self.copy().reshape_view(shape)

    def __getitem__(self, key):
        """numpy's basic indexing (ints, slices with positive steps, None, Ellipsis) as a view."""
        if not isinstance(key, tuple):
            key = (key,)
        n_used = sum(1 for k in key if k is not None and k is not Ellipsis)
        if n_used > self.ndim:
            raise IndexError(f"too many indices for array: array is {self.ndim}-dimensional, but {n_used} were indexed")
        expanded = []
        for k in key:
            if k is Ellipsis:
                expanded.extend([slice(None)] * (self.ndim - n_used))
                n_used = self.ndim
            else:
                expanded.append(k)
        shape, strides, offset, dim = [], [], self.offset, 0
        for k in expanded:
            if k is None:
                shape.append(1)
                strides.append(0)
                continue
            size, stride = self.shape[dim], self._stride[dim]
            if isinstance(k, slice):
                start, stop, step = k.indices(size)
                if step <= 0:
                    raise ValueError("step must be greater than zero")
                length = max(0, -(-(stop - start) // step))
                offset += start * stride if length else 0
                shape.append(length)
                strides.append(stride * step)
            else:
                i = operator.index(k)
                if not -size <= i < size:
                    raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
                offset += (i + size if i < 0 else i) * stride
            dim += 1
        shape.extend(self.shape[dim:])
        strides.extend(self._stride[dim:])
        return self.as_strided(shape, strides, offset)

    def __add__(self, other):
        """Sum of two gradients (the autograd engine accumulates raw arrays)."""
        from .common import call
        return call("add", self, other)

    # ---- copies -------------------------------------------------------------------

    def copy(self):
        """A contiguous copy."""
        out = empty(self.shape, self.dtype)
        from triton_kernels.copy import copy
        copy(self, out)
        return out

    def astype(self, dtype, copy=True):
        dtype = np.dtype(dtype)
        if dtype == self.dtype and not copy:
            return self
        out = empty(self.shape, dtype)
        from triton_kernels.copy import copy as copy_kernel
        copy_kernel(self, out)
        return out

    def to_numpy(self):
        """A contiguous host copy. The copy waits for every kernel queued before it: then an error that one of
        them recorded on the device is raised (device_errors.py)."""
        source = self if self.is_contiguous() else self.copy()
        host = np.empty(self.shape, dtype=self.dtype)
        if host.nbytes:
            runtime().copy_device_to_host(host, source.data_ptr())
            device_errors.check()
        return host


def empty(shape, dtype):
    """A contiguous, uninitialised array."""
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    return CudaArray(Storage(_numel(shape) * dtype.itemsize), shape, contiguous_strides(shape), 0, dtype)


def from_numpy(array):
    """A device copy of a host array (any layout)."""
    host = np.asarray(array)
    if not host.flags.c_contiguous:
        host = host.copy()  # (np.ascontiguousarray would make a 0-d array 1-d)
    out = empty(host.shape, host.dtype)
    if host.nbytes:
        runtime().copy_host_to_device(out.data_ptr(), host)
    return out
