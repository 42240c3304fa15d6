"""Moving tensors between devices."""


def to_device(x, target):
    """A copy of `x` on `target`, differentiable (ToCopyBackward0)."""
    from .. import cuda
    if target.type == "cuda" or x._device.type == "cuda":
        cuda._require_available()
    from ..autograd.function import run
    return run("to_device", (x,), (target,), "ToCopyBackward0")
