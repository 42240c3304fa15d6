"""GradScaler's device work (framework/amp/grad_scaler.py): one launch unscales every gradient of a dtype in
place and records on the device whether any element was inf or nan; a one-program kernel updates the scale.

The unscale launch reuses the optimizers' multi-tensor tables (triton_kernels/optimizer.py): a table row's
slots are (gradient, gradient), since `build_table` rows always carry a parameter and a gradient; only slot 0
is read. Nothing is read back to the host: the scale is read from its device tensor (so `1/scale` is computed
here, in float64 then rounded to float32 as PyTorch's `scale.double().reciprocal().float()`), and `found_inf`
(float32, 0 or 1) is written on the device.
"""
import triton
import triton.language as tl

from .optimizer import _DTYPES, _locate, _slot
from .random import float64_from_bits, float_bits
from .strided import dtype_name_of

UNSCALE_SLOTS = ("grad", "grad_again")
NUM_WARPS = 4  # elementwise, memory-bound; unmeasured on a GPU


@triton.jit
def _unscale_kernel(
    # pointers
    tensor_table_ptr, block_table_ptr, scale_ptr, found_inf_ptr,
    # meta-parameters
    N_SLOTS: tl.constexpr, DTYPE: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One block of one gradient: grad *= float32(1 / scale) in place; found_inf = 1 where any element is inf/nan.
    row_ptr, offs, mask = _locate(tensor_table_ptr, block_table_ptr, N_SLOTS, BLOCK_SIZE)
    compute_ty: tl.constexpr = tl.float64 if DTYPE == tl.float64 else tl.float32
    grad_ptr = _slot(row_ptr, 0, DTYPE) + offs
    grad = tl.load(grad_ptr, mask=mask, other=0.0).to(compute_ty)
    inv_scale = (1.0 / tl.load(scale_ptr).to(tl.float64)).to(tl.float32)
    nonfinite = tl.max(((grad - grad) != 0).to(tl.int32), axis=0)  # inf - inf and nan - nan are nan
    tl.store(grad_ptr, (grad * inv_scale.to(compute_ty)).to(DTYPE), mask=mask)
    tl.store(found_inf_ptr, 1.0, mask=nonfinite > 0)


@triton.jit(do_not_specialize=["growth_factor", "backoff_factor", "growth_interval"])
def _update_scale_kernel(scale_ptr, growth_tracker_ptr, found_inf_ptr, growth_factor, backoff_factor,
                         growth_interval):
    # PyTorch's _amp_update_scale_: back off after an overflow, grow after `growth_interval` clean steps in a row.
    scale = tl.load(scale_ptr)
    tracker = tl.load(growth_tracker_ptr)
    found = tl.load(found_inf_ptr)
    backed_off = (scale.to(tl.float64) * float64_from_bits(backoff_factor)).to(tl.float32)
    grown = (scale.to(tl.float64) * float64_from_bits(growth_factor)).to(tl.float32)
    successful = tracker + 1
    at_interval = successful == growth_interval
    grown_ok = at_interval & ((grown - grown) == 0)  # a growth that overflows float32 is skipped
    new_scale = tl.where(found != 0, backed_off, tl.where(grown_ok, grown, scale))
    new_tracker = tl.where((found != 0) | at_interval, 0, successful)
    tl.store(scale_ptr, new_scale)
    tl.store(growth_tracker_ptr, new_tracker)


def unscale_(table, scale, found_inf, num_warps=None):
    """Unscale every gradient in `table` (built with `optimizer.build_table(..., len(UNSCALE_SLOTS))`) by the
    float32 0-d `scale`, setting the float32 0-d `found_inf` to 1 where any gradient holds inf or nan."""
    for name, array in (("scale", scale), ("found_inf", found_inf)):
        if dtype_name_of(array) != "float32" or tuple(array.shape) not in ((), (1,)):
            raise TypeError(f"unscale_: {name} must be a one-element float32 array, got {array.dtype} "
                            f"{tuple(array.shape)}")
    if table.n_slots != len(UNSCALE_SLOTS):
        raise ValueError(f"unscale_: the table has {table.n_slots} slots per tensor, unscaling needs "
                         f"{len(UNSCALE_SLOTS)}")
    if table.n_programs == 0:
        return
    _unscale_kernel[(table.n_programs,)](
        table.tensors, table.blocks, scale, found_inf,
        N_SLOTS=table.n_slots, DTYPE=_DTYPES[dtype_name_of(table)], BLOCK_SIZE=table.block_size,
        num_warps=num_warps or NUM_WARPS,
    )


def update_scale_(scale, growth_tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    """PyTorch's `_amp_update_scale_` on one-element device arrays: float32 scale, int32 growth tracker,
    float32 found_inf (any non-zero value counts as an overflow)."""
    if dtype_name_of(growth_tracker) != "int32":
        raise TypeError(f"update_scale_: growth_tracker must be int32, got {growth_tracker.dtype}")
    for name, array in (("scale", scale), ("found_inf", found_inf)):
        if dtype_name_of(array) != "float32":
            raise TypeError(f"update_scale_: {name} must be float32, got {array.dtype}")
    _update_scale_kernel[(1,)](scale, growth_tracker, found_inf, float_bits(growth_factor),
                               float_bits(backoff_factor), int(growth_interval), num_warps=1)
