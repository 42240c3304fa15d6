"""`Parameter`: a Tensor that a Module registers as one of its parameters when assigned to it."""
from ..creation import empty
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor sharing `data`'s storage (and version counter), with `requires_grad=True` by default.

    Assigning one to a Module attribute registers it: it then appears in
    `parameters()`, `state_dict()`, and moves with `to()`.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}")
        param = object.__new__(cls)
        Tensor._init_from(param, data._data, data._device)
        param._version_counter = data._version_counter  # one storage, one version, as PyTorch's alias
        param.requires_grad_(requires_grad)
        return param

    def __init__(self, data=None, requires_grad=True):
        pass  # all done in __new__; Tensor.__init__ would build a new tensor

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach(), self._requires_grad))


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)
