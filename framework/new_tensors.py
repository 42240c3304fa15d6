"""Tensor.new_tensor, new_full, new_zeros, new_ones, new_empty: the factories with `self`'s dtype and device as
defaults (creation.py checks the values: new_tensor([300], dtype=int8) raises PyTorch's overflow error).
Bound as Tensor methods here, once creation.py exists."""
import builtins
import warnings

from . import creation
from .tensor import Tensor

_COPY_WARNING = ("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                 "sourceTensor.detach().clone().requires_grad_(True), rather than tensor.new_tensor(sourceTensor).")


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    if isinstance(data, Tensor):
        warnings.warn(_COPY_WARNING, UserWarning, stacklevel=2)
    return creation.tensor(data, dtype=dtype or self._dtype, device=device or self._device,
                           requires_grad=requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None,
             pin_memory=False):
    if isinstance(size, builtins.int) or not isinstance(size, (tuple, list)):
        raise TypeError(f"new_full(): argument 'size' (position 1) must be tuple of ints, not {type(size).__name__}")
    return creation.full(tuple(size), fill_value, dtype=dtype or self._dtype, device=device or self._device,
                         requires_grad=requires_grad)


def _new(factory):
    def method(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
        return factory(*size, dtype=dtype or self._dtype, device=device or self._device, requires_grad=requires_grad)
    method.__name__ = "new_" + factory.__name__
    return method


new_zeros, new_ones, new_empty = _new(creation.zeros), _new(creation.ones), _new(creation.empty)

TENSOR_METHODS = ("new_tensor", "new_full", "new_zeros", "new_ones", "new_empty")
for _name in TENSOR_METHODS:
    setattr(Tensor, _name, globals()[_name])
