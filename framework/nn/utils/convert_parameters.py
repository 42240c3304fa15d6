"""`parameters_to_vector` and `vector_to_parameters`: all parameters as one flat vector, and back."""
from ...ops.shape import cat
from ...tensor import Tensor, typename


def parameters_to_vector(parameters):
    """The parameters flattened and concatenated, in order (they must share one device)."""
    param_device = None
    vec = []
    for param in parameters:
        param_device = _check_param_device(param, param_device)
        vec.append(param.view(-1))
    return cat(vec)


def vector_to_parameters(vec, parameters):
    """Make each parameter's data the next `numel()` elements of `vec`, viewed in its shape."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected framework.Tensor, but got: {typename(vec)}")
    param_device = None
    pointer = 0
    for param in parameters:
        param_device = _check_param_device(param, param_device)
        num_param = param.numel()
        param.data = vec[pointer:pointer + num_param].view_as(param).data
        pointer += num_param


def _check_param_device(param, old_param_device):
    """The device index of the parameters seen so far (-1 for the cpu); PyTorch's error at the first that differs."""
    index = (param.device.index or 0) if param.device.type != "cpu" else -1
    if old_param_device is None:
        return index
    if index != old_param_device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return old_param_device
