"""Helpers of Module: repr indentation and `to()` argument parsing."""
from ... import dtypes
from ...device import device as _device
from ...tensor import Tensor


def _addindent(s_, num_spaces):
    lines = s_.split("\n")
    if len(lines) == 1:
        return s_
    first = lines.pop(0)
    return first + "\n" + "\n".join(num_spaces * " " + line for line in lines)


def _parse_to(args, kwargs):
    """The (device, dtype) of `to(device=None, dtype=None, non_blocking=False)`, `to(dtype)`, `to(tensor)`."""
    target = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() received an invalid combination of arguments - got unexpected keyword argument "
                        f"'{next(iter(kwargs))}'")
    for arg in args:
        if isinstance(arg, dtypes.dtype):
            dtype = arg
        elif isinstance(arg, Tensor):
            target, dtype = arg.device, arg.dtype
        elif isinstance(arg, (str, _device, int)) and not isinstance(arg, bool):
            target = arg
        elif not isinstance(arg, bool) and arg is not None:
            raise TypeError(f"to() received an invalid combination of arguments - got ({typename(arg)})")
    return (None if target is None else _device(target)), dtype
