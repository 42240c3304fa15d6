"""Tensor.new_zeros, new_ones, new_full, new_empty, new_tensor: new tensors with this tensor's dtype and device
unless told otherwise (PyTorch's `Tensor.new_*`)."""
import builtins
import warnings

from .. import creation
from ..tensor import Tensor


def _options(self, dtype, device):
    return dict(dtype=self._dtype if dtype is None else dtype, device=self._device if device is None else device)


def _sizes(name, size):
    """new_zeros(2, 3), new_zeros((2, 3)) and new_zeros([2, 3]) alike."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return size


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    return creation.zeros(*_sizes("new_zeros", size), requires_grad=requires_grad, **_options(self, dtype, device))


def new_ones(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    return creation.ones(*_sizes("new_ones", size), requires_grad=requires_grad, **_options(self, dtype, device))


def new_empty(self, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    return creation.empty(*_sizes("new_empty", size), requires_grad=requires_grad, **_options(self, dtype, device))


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"new_full(): argument 'size' (position 1) must be tuple of ints, not {type(size).__name__}")
    return creation.full(tuple(size), fill_value, requires_grad=requires_grad, **_options(self, dtype, device))


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    """A copy of `data` (never sharing its memory) in this tensor's dtype and device unless given."""
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
                      "sourceTensor.detach().clone().requires_grad_(True), rather than "
                      "tensor.new_tensor(sourceTensor).", UserWarning, stacklevel=2)
        options = _options(self, dtype, device)
        out = data.detach().to(options["device"]).to(options["dtype"], copy=True)
        return out.requires_grad_(True) if requires_grad else out
    return creation.tensor(data, requires_grad=builtins.bool(requires_grad), **_options(self, dtype, device))


TENSOR_METHODS = ("new_zeros", "new_ones", "new_empty", "new_full", "new_tensor")
__all__ = []
