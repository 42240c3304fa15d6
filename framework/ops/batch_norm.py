"""Batch normalisation as one fused op per direction (PyTorch's native_batch_norm; node NativeBatchNormBackward0).

The forward normalises each channel (dim 1) of an (N, C, *) input by its batch statistics (training) or by the
running ones (evaluation), scales and shifts it, and in training updates the running statistics in place:
running_mean = (1 - momentum) * running_mean + momentum * mean and the same for running_var with the unbiased
batch variance, as PyTorch does (the statistics tensors' version counters are left alone, as PyTorch's are). The
running statistics are not inputs of the op but params: they get no gradient and the kernels update their
memory. Statistics are taken in float32 for float16/bfloat16 inputs (float64 for float64).
"""
from .. import dtypes
from ..autograd.function import run


def _check_param(name, tensor, input, channels):
    if tensor is None:
        return
    if tensor.numel() != channels:
        raise RuntimeError(f"{name} should contain {channels} elements not {tensor.numel()}")
    low_precision = input._dtype in (dtypes.float16, dtypes.bfloat16)
    if tensor._dtype is not input._dtype and not (low_precision and tensor._dtype is dtypes.float32):
        raise RuntimeError(f"mixed dtype (CPU): expect parameter to have scalar type of "
                           f"{dtypes.float32.scalar_name if low_precision else input._dtype.scalar_name}")
    if tensor._device != input._device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{input._device} and {tensor._device}!")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """PyTorch's F.batch_norm (the checks of its Python layer and of native_batch_norm)."""
    if training:
        per_channel = input.numel() // input.shape[1] if input.ndim > 1 and input.shape[1] else input.numel()
        if per_channel == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    channels = input.shape[1] if input.ndim > 1 else 0
    for name, stat in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                       ("bias", bias)):
        _check_param(name, stat, input, channels)
    if not training:
        for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
            if stat is None:
                raise RuntimeError(f"{name} must be defined in evaluation mode")
    if not input._dtype.is_floating_point:
        raise NotImplementedError(f"\"batch_norm\" not implemented for '{input._dtype.scalar_name}'")
    if (running_mean is None) != (running_var is None):
        missing = "running_var" if running_var is None else "running_mean"
        raise RuntimeError(f"batch_norm: {missing} must be given with the other running statistic")
    stats = (None, None) if running_mean is None else (running_mean._data, running_var._data)
    return run("batch_norm", (input, weight, bias), stats + (bool(training), float(momentum), float(eps)),
               "NativeBatchNormBackward0")


__all__ = ["batch_norm"]
