"""Gradient clipping: `clip_grad_norm_`, `get_total_norm`, `clip_grads_with_norm_`, `clip_grad_value_`.

On a device with multi-tensor kernels (`cuda`), when every gradient is a contiguous float tensor of one device,
the total norm is one launch over all of them (partial sums per program) and clipping a second (the partials
folded, the coefficient min(max_norm / (norm + 1e-6), 1) computed and applied on the device): no per-parameter
launches and nothing read back (the device backend's total_norm and scale_by_total_norm_; on cuda
triton_kernels/grad_norm.py). Anywhere else -- the CPU, gradients on several devices, the 0 "norm",
an empty gradient under an inf norm -- PyTorch's own composition runs: each tensor's norm, the norm of those,
then a multiply by the coefficient, all as tensor ops on the tensors' devices.
`error_if_nonfinite=True` reads the total back once, as PyTorch does, to raise before anything is scaled.
"""
import math
import types
import warnings

from ... import dtypes
from ...autograd.grad_mode import no_grad
from ...backends.device_backend import backend_for
from ...creation import tensor
from ...graphs import recording  # the fused cuda launches are host ops of a graph capture
from ...ops.shape import stack
from ...tensor import Tensor

def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _fused(tensors, norm_type=2.0):
    """Whether the device's multi-tensor kernels take these tensors: one device, contiguous, dtypes the kernels
    take, a sum-of-powers norm."""
    first = tensors[0]._device
    fused_dtypes = backend_for(first).multi_tensor_dtypes
    if not fused_dtypes or norm_type == 0:
        return False
    for t in tensors:
        if t._device != first or t._dtype not in fused_dtypes or not t._data.is_contiguous():
            return False
        if math.isinf(norm_type) and t.numel() == 0:
            return False  # vector_norm refuses the inf norms of nothing: the composed path raises it
    return True


def _check_finite(total, norm_type):
    if not math.isfinite(total.item()):  # the one read of the 0-dim total (PyTorch's one sync here too)
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
                           "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
                           "anyway, set `error_if_nonfinite=False`")


def _composed_total_norm(tensors, norm_type):
    """PyTorch's: each tensor's norm, then the norm of those (stacked on the first tensor's device)."""
    first = tensors[0]._device
    norms = [t.norm(norm_type) for t in tensors]
    dtype = norms[0]._dtype
    for n in norms[1:]:
        dtype = dtypes.promote_types(dtype, n._dtype)
    return stack([n.to(device=first, dtype=dtype) for n in norms]).norm(norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The `norm_type` norm of all `tensors` together, as if concatenated into one vector (a 0-dim tensor of
    their promoted dtype on the first one's device). `foreach` is accepted for PyTorch's signature: both
    devices take the multi-tensor path."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return tensor(0.0)
    with no_grad():
        if _fused(tensors, norm_type):
            backend = backend_for(tensors[0]._device)
            total = Tensor._from_raw(recording.host_op(backend.total_norm, [t._data for t in tensors], norm_type),
                                     tensors[0]._device)
        else:
            total = _composed_total_norm(tensors, norm_type)
        if error_if_nonfinite:
            _check_finite(total, norm_type)
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Multiply every gradient in place by min(max_norm / (total_norm + 1e-6), 1), `total_norm` given."""
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm = float(max_norm)
    if not grads:
        return
    with no_grad():
        if _fused(grads):
            total = total_norm if total_norm._device == grads[0]._device else total_norm.to(grads[0]._device)
            recording.host_op(backend_for(grads[0]._device).scale_by_total_norm_, [g._data for g in grads], total._data,
                              max_norm)
            _bump_versions(grads)
            return
        # max_norm / (total + 1e-6) as PyTorch evaluates it (a number over a tensor is reciprocal, then multiply)
        clip_coef = (total_norm + 1e-6).reciprocal() * max_norm
        clip_coef_clamped = clip_coef.clamp(max=1.0)
        for g in grads:
            g.mul_(clip_coef_clamped.to(g._device))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients of `parameters` in place so that their total `norm_type` norm is at most `max_norm`;
    returns the total norm before clipping (a 0-dim tensor)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3)
    grads = [p.grad for p in parameters if p.grad is not None]
    norm_type = float(norm_type)
    if grads and not error_if_nonfinite and _fused(grads, norm_type):
        with no_grad():
            total = recording.host_op(backend_for(grads[0]._device).total_norm, [g._data for g in grads], norm_type,
                                      float(max_norm))
        _bump_versions(grads)
        return Tensor._from_raw(total, grads[0]._device)
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated spelling of `clip_grad_norm_`."""
    warnings.warn("`framework.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`framework.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    parameters = _as_list(parameters)
    clip_value = float(clip_value)
    with no_grad():
        for p in parameters:
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)


def _bump_versions(grads):
    for g in grads:  # written in place behind autograd's back, as in-place ops count
        g._version_counter[0] += 1
