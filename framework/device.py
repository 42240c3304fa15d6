"""`framework.device`: a device type ('cpu' or 'cuda') and an index; and the default device of the factories.

`with framework.device("cuda"):` and `framework.set_default_device("cuda")` make the factory functions
(tensor, zeros, arange, rand, ...) place their results there when no `device=` is given, as PyTorch's
DeviceContext does. Both are per thread, as PyTorch's are; a `with` block wins over set_default_device.
"""
import threading


class device:
    __slots__ = ("type", "index")

    def __new__(cls, type_or_str, index=None):
        if isinstance(type_or_str, device):
            return type_or_str
        if isinstance(type_or_str, int):  # device(0) means cuda:0, as in PyTorch
            return _get("cuda", type_or_str)
        if not isinstance(type_or_str, str):
            raise TypeError(f"device() received an invalid combination of arguments - got ({type(type_or_str).__name__})")
        text = type_or_str.strip()
        kind, _, idx = text.partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(
                f"Expected one of cpu, cuda device type at start of device string: {type_or_str}")
        if idx:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {type_or_str}")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type_or_str}'")
            index = int(idx)
        if kind == "cpu" and index not in (None, 0):
            raise RuntimeError(f"CPU device index must be -1 or zero, got {index}")
        return _get(kind, index)

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))

    # `with framework.device("cuda"):` (the device objects are shared singletons: the stack is per thread)
    def __enter__(self):
        _contexts().append(self)
        return self

    def __exit__(self, *exc_info):
        _contexts().pop()
        return False


_CACHE = {}


def _get(kind, index):
    key = (kind, index)
    found = _CACHE.get(key)
    if found is None:
        found = object.__new__(device)
        found.type = kind
        found.index = index
        _CACHE[key] = found
    return found


CPU = device("cpu")


_STATE = threading.local()


def _contexts():
    stack = getattr(_STATE, "contexts", None)
    if stack is None:
        stack = _STATE.contexts = []
    return stack


def default_device():
    """The device factories use when given none: the innermost `with device(...)`, else the one set by
    set_default_device, else None (the CPU; a copy such as `tensor(t)` then keeps its source's device)."""
    stack = getattr(_STATE, "contexts", None)
    if stack:
        return stack[-1]
    return getattr(_STATE, "default", None)


def set_default_device(device_):
    """PyTorch's torch.set_default_device: None restores the CPU."""
    _STATE.default = None if device_ is None else device(device_)


def get_default_device():
    """PyTorch's torch.get_default_device: a cuda device always with its index (the current device, 0)."""
    found = default_device()
    if found is None:
        return CPU
    return _get("cuda", 0) if found.type == "cuda" and found.index is None else found
