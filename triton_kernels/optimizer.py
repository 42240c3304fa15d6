"""Multi-tensor optimizer steps: ONE launch updates every parameter of a parameter group (SGD, Adam/AdamW, NAdam,
RAdam, Adamax, RMSprop, Adagrad).

A launch reads two int64 tables (built once by `build_table`, kept on the device while the tensors stay put):

    tensor table  (n_tensors, N_SLOTS + 1): the addresses of one parameter's slots (param, grad, state buffers;
                  0 for a slot the rule does not use), then its number of elements (N_SLOTS: the rule's
                  *_SLOTS, a constexpr of the launch)
    block table   (n_programs, 2): program i updates elements [start, start + BLOCK_SIZE) of tensor `index`

Every slot of a launch holds the same dtype (`DTYPE`, the parameters'): float32, float16/bfloat16 (math in
float32, state kept in the parameter's dtype as the CPU optimizers keep it) or float64 (float64 math). Each
element is read and written once; the updates are the CPU optimizers' (framework/optim), in their order:

    SGD      g = ±grad + wd * p;  buf = g (first step) or momentum * buf + (1 - dampening) * g;
             g = g + momentum * buf (nesterov) or buf;  p = p - lr * g
    Adam family (one kernel, RULE a constexpr: they share the start, the first moment and, but for Adamax,
    the second moment; only the last line differs):
             p *= 1 - lr * wd (decoupled) or g = g + wd * p;  m = lerp(m, g, 1 - beta1)
      adam   v = beta2 * v + (1 - beta2) * g * g;  v_max = max(v_max, v) (amsgrad);
             p = p - step_size * m / (sqrt(v or v_max) / sqrt(bias_correction2) + eps)
      nadam  v as Adam's;  d = sqrt(v / bias_correction2) + eps;
             p = p - grad_step_size * g / d;  p = p - step_size * m / d
      radam  v as Adam's;  p = p - m / bias_correction1 * lr * (1 / (sqrt(v) + eps) * sqrt(bias_correction2))
             * rectification  once rectified, else p = p - m / bias_correction1 * lr
      adamax u = max(beta2 * u, |g| + eps);  p = p - step_size * m / u
    RMSprop  g = ±grad + wd * p;  s = alpha * s + (1 - alpha) * g * g;  a = lerp(a, g, 1 - alpha) (centered);
             d = sqrt(s - a * a or s) + eps;  buf = momentum * buf + g / d, p = p - lr * buf (momentum) or
             p = p - lr * g / d
    Adagrad  RMSprop's kernel with the squares summed (ACCUMULATE): s = s + g * g, p = p - clr * g / (sqrt(s) + eps)
             (the same update as RMSprop without momentum, centering, or averaging)

Scalars that change between steps (lr, bias corrections) are kernel arguments computed on the host; they
travel as float64 bit patterns, so float64 parameters get them unrounded. Optional work is a constexpr flag.

Capturable Adam (CAPTURABLE, PyTorch's capturable=True, for CUDA graphs): a launch's arguments are frozen in a
captured graph, so the step count is read from device memory instead (a float32 per tensor, its address in the
tensor table's last slot, incremented by `_increment_steps_kernel` just before), and so is lr when it is a tensor
(`lr_address`, 0 for a Python float). The bias corrections are computed in the kernel in float32 with PyTorch's
capturable arithmetic (torch.optim.adam's capturable branch, Tensor for Tensor):
    bc1 = 1 - beta1 ** step;  bc2 = 1 - beta2 ** step;  step_size_neg = -(lr / bc1)
    denom = sqrt(v) / (sqrt(bc2) * step_size_neg) + eps / step_size_neg;  p = p + m / denom
(`float / tensor` is PyTorch's reciprocal(tensor) * float, two roundings; decoupled decay with a tensor lr
scales p by 1 - lr * wd in float32).
"""
import dataclasses

import numpy as np
import triton
import triton.language as tl

from .interpreter import libdevice
from .random import float64_from_bits, float_bits
from .strided import dtype_name_of, interpreting, is_contiguous, numel

SGD_SLOTS = ("param", "grad", "momentum_buffer")
ADAM_SLOTS = ("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
NADAM_SLOTS = RADAM_SLOTS = ("param", "grad", "exp_avg", "exp_avg_sq")
ADAMAX_SLOTS = ("param", "grad", "exp_avg", "exp_inf")  # the infinity norm where Adam keeps exp_avg_sq
RMSPROP_SLOTS = ("param", "grad", "square_avg", "momentum_buffer", "grad_avg")
ADAGRAD_SLOTS = ("param", "grad", "sum")  # the running sum where RMSprop keeps square_avg
CAPTURABLE_ADAM_SLOTS = ADAM_SLOTS + ("step",)  # the step count (a float32 on the device) as the last slot
_DTYPES = {"float32": tl.float32, "float16": tl.float16, "bfloat16": tl.bfloat16, "float64": tl.float64}
BLOCK_SIZE, NUM_WARPS = 1024, 4  # elementwise, memory-bound; unmeasured on a GPU
_INTERPRETER_BLOCK_SIZE = 16384  # the interpreter pays per program


@triton.jit
def _locate(tensor_table_ptr, block_table_ptr, N_SLOTS: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # This program's block: the tensor's table row, the element offsets and their mask.
    pid = tl.program_id(0).to(tl.int64)
    tensor = tl.load(block_table_ptr + 2 * pid)
    start = tl.load(block_table_ptr + 2 * pid + 1)
    row_ptr = tensor_table_ptr + tensor * (N_SLOTS + 1)
    offs = start + tl.arange(0, BLOCK_SIZE)
    mask = offs < tl.load(row_ptr + N_SLOTS)
    return row_ptr, offs, mask


@triton.jit
def _slot(row_ptr, slot, DTYPE: tl.constexpr):
    # The pointer held in `slot` of a tensor's table row.
    return tl.load(row_ptr + slot).to(tl.pointer_type(DTYPE))


@triton.jit
def _load(row_ptr, slot, offs, mask, DTYPE: tl.constexpr):
    compute_ty: tl.constexpr = tl.float64 if DTYPE == tl.float64 else tl.float32
    return tl.load(_slot(row_ptr, slot, DTYPE) + offs, mask=mask, other=0.0).to(compute_ty)


@triton.jit
def _store(row_ptr, slot, offs, mask, value, DTYPE: tl.constexpr):
    tl.store(_slot(row_ptr, slot, DTYPE) + offs, value.to(DTYPE), mask=mask)


@triton.jit
def _scalar(bits, DTYPE: tl.constexpr):
    # A float64-bits argument in the compute dtype (float32 unless the parameters are float64).
    compute_ty: tl.constexpr = tl.float64 if DTYPE == tl.float64 else tl.float32
    return float64_from_bits(bits).to(compute_ty)


@triton.jit
def _param_and_grad(row_ptr, offs, mask, weight_decay, decay_scale, DTYPE: tl.constexpr,
                    HAS_WEIGHT_DECAY: tl.constexpr, DECOUPLED: tl.constexpr, MAXIMIZE: tl.constexpr):
    # Every rule's start: the gradient negated under `maximize`, then weight decay: decoupled (the parameter
    # scaled by 1 - lr * wd, AdamW) or L2 (wd * param added to the gradient).
    param = _load(row_ptr, 0, offs, mask, DTYPE)
    grad = _load(row_ptr, 1, offs, mask, DTYPE)
    if MAXIMIZE:
        grad = -grad
    if HAS_WEIGHT_DECAY:
        if DECOUPLED:
            param = param * _scalar(decay_scale, DTYPE)
        else:
            grad = grad + param * _scalar(weight_decay, DTYPE)
    return param, grad


@triton.jit
def _div(a, b):
    # IEEE division: fp32 `/` is an approximate (2 ulp) division on GPUs; fp64 `/` is already correctly rounded.
    if a.dtype == tl.float64:
        return a / b
    return tl.div_rn(a, b)


@triton.jit
def _sqrt(x):
    # IEEE square root (tl.sqrt is the approximate one in fp32).
    if x.dtype == tl.float64:
        return tl.sqrt(x)
    return tl.sqrt_rn(x)


@triton.jit
def _lerp(out, end, weight, one_minus_weight):
    # PyTorch's lerp_: `out + (end - out) * w` below w = 0.5, `end - (end - out) * (1 - w)` above (exact at both ends).
    return tl.where(weight < 0.5, out + (end - out) * weight, end - (end - out) * one_minus_weight)


_SGD_SCALARS = ["lr", "momentum", "one_minus_dampening", "weight_decay", "first_step", "lr_address"]


@triton.jit(do_not_specialize=_SGD_SCALARS)
def _sgd_kernel(
    # pointers
    tensor_table_ptr, block_table_ptr,
    # hyper-parameters (float64 bits; first_step: 1 when the momentum buffers are new, else 0; lr_address: a
    # float32 lr in device memory, read instead of `lr` so that a captured launch sees a scheduler's writes, or 0)
    lr, momentum, one_minus_dampening, weight_decay, first_step, lr_address,
    # meta-parameters
    DTYPE: tl.constexpr, N_SLOTS: tl.constexpr, HAS_WEIGHT_DECAY: tl.constexpr, HAS_MOMENTUM: tl.constexpr,
    NESTEROV: tl.constexpr, MAXIMIZE: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program updates BLOCK_SIZE elements of one parameter (and its momentum buffer).
    row_ptr, offs, mask = _locate(tensor_table_ptr, block_table_ptr, N_SLOTS, BLOCK_SIZE)
    param, grad = _param_and_grad(row_ptr, offs, mask, weight_decay, weight_decay, DTYPE, HAS_WEIGHT_DECAY, False,
                                  MAXIMIZE)
    if HAS_MOMENTUM:
        if first_step != 0:
            buf = grad
        else:
            buf = _load(row_ptr, 2, offs, mask, DTYPE) * _scalar(momentum, DTYPE)
            buf = buf + grad * _scalar(one_minus_dampening, DTYPE)
        _store(row_ptr, 2, offs, mask, buf, DTYPE)
        if NESTEROV:
            grad = grad + buf * _scalar(momentum, DTYPE)
        else:
            grad = buf
    lr_value = _scalar(lr, DTYPE)
    if lr_address != 0:
        lr_value = tl.load(lr_address.to(tl.pointer_type(tl.float32))).to(lr_value.dtype)
    _store(row_ptr, 0, offs, mask, param + grad * -lr_value, DTYPE)


_ADAM_SCALARS = ["weight_decay", "decay_scale", "one_minus_beta1", "lerp_high", "beta2", "one_minus_beta2", "eps",
                 "step_size", "grad_step_size", "bias_correction1", "bias_correction2", "bias_correction2_sqrt",
                 "rectification", "beta1", "lr", "lr_address"]


@triton.jit
def _float32(bits):
    return float64_from_bits(bits).to(tl.float32)


@triton.jit(do_not_specialize=["n_tensors"])
def _increment_steps_kernel(tensor_table_ptr, n_tensors, N_SLOTS: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # Capturable steps: the float32 step count in each tensor's last slot += 1 (one launch, captured with the step).
    rows = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = rows < n_tensors
    address = tl.load(tensor_table_ptr + rows * (N_SLOTS + 1) + (N_SLOTS - 1), mask=mask, other=0)
    step_ptr = address.to(tl.pointer_type(tl.float32))
    tl.store(step_ptr, tl.load(step_ptr, mask=mask, other=0.0) + 1.0, mask=mask)


@triton.jit(do_not_specialize=_ADAM_SCALARS)
def _adam_kernel(
    # pointers
    tensor_table_ptr, block_table_ptr,
    # hyper-parameters (float64 bits), the bias corrections folded in on the host; a rule reads only those its
    # line in the module docstring names (RECTIFY: RAdam's step is rectified)
    weight_decay, decay_scale, one_minus_beta1, lerp_high, beta2, one_minus_beta2, eps,
    step_size, grad_step_size, bias_correction1, bias_correction2, bias_correction2_sqrt, rectification,
    # capturable Adam only (CAPTURABLE): beta1 and lr (float64 bits), lr_address: a float32 lr on the device or 0
    beta1, lr, lr_address,
    # meta-parameters
    DTYPE: tl.constexpr, N_SLOTS: tl.constexpr, RULE: tl.constexpr, HAS_WEIGHT_DECAY: tl.constexpr,
    DECOUPLED: tl.constexpr, AMSGRAD: tl.constexpr, RECTIFY: tl.constexpr, MAXIMIZE: tl.constexpr,
    CAPTURABLE: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program updates BLOCK_SIZE elements of one parameter and its moment estimates.
    tl.static_assert(not CAPTURABLE or RULE == "adam", "capturable launches are Adam's only")
    row_ptr, offs, mask = _locate(tensor_table_ptr, block_table_ptr, N_SLOTS, BLOCK_SIZE)
    if CAPTURABLE:
        # this step's scalars from device memory, in float32 as PyTorch's capturable tensors hold them; first,
        # while few registers are live (they are uniform per program), so the pow calls spill nothing
        step_count = tl.load(_slot(row_ptr, N_SLOTS - 1, tl.float32))
        lr_value = _float32(lr)
        if lr_address != 0:
            lr_value = tl.load(lr_address.to(tl.pointer_type(tl.float32)))
        one = tl.full((), 1.0, tl.float32)
        decay = _scalar(decay_scale, DTYPE)
        if lr_address != 0:
            decay = (one - lr_value * _float32(weight_decay)).to(decay.dtype)
        bias_correction1_t = one - libdevice.pow(_float32(beta1), step_count)
        bias_correction2_t = one - libdevice.pow(_float32(beta2), step_count)
        if lr_address != 0:
            step_size_neg = -_div(lr_value, bias_correction1_t)
        else:
            step_size_neg = -(_div(one, bias_correction1_t) * lr_value)
        denom_scale = _sqrt(bias_correction2_t) * step_size_neg
        eps_term = _div(one, step_size_neg) * _float32(eps)
    # capturable decoupled decay may need the lr in device memory: applied below
    param, grad = _param_and_grad(row_ptr, offs, mask, weight_decay, decay_scale, DTYPE,
                                  HAS_WEIGHT_DECAY and not (CAPTURABLE and DECOUPLED), DECOUPLED, MAXIMIZE)
    if CAPTURABLE and HAS_WEIGHT_DECAY and DECOUPLED:
        param = param * decay
    exp_avg = _lerp(_load(row_ptr, 2, offs, mask, DTYPE), grad, _scalar(one_minus_beta1, DTYPE),
                    _scalar(lerp_high, DTYPE))
    _store(row_ptr, 2, offs, mask, exp_avg, DTYPE)
    if RULE == "adamax":
        # PyTorch's torch.maximum propagates NaN
        exp_inf = tl.maximum(_load(row_ptr, 3, offs, mask, DTYPE) * _scalar(beta2, DTYPE),
                             tl.abs(grad) + _scalar(eps, DTYPE), propagate_nan=tl.PropagateNan.ALL)
        _store(row_ptr, 3, offs, mask, exp_inf, DTYPE)
        param = param + _div(exp_avg * -_scalar(step_size, DTYPE), exp_inf)
    else:
        exp_avg_sq = _load(row_ptr, 3, offs, mask, DTYPE) * _scalar(beta2, DTYPE)
        exp_avg_sq = exp_avg_sq + grad * _scalar(one_minus_beta2, DTYPE) * grad
        _store(row_ptr, 3, offs, mask, exp_avg_sq, DTYPE)
        if RULE == "adam":
            if AMSGRAD:
                exp_avg_sq = tl.maximum(_load(row_ptr, 4, offs, mask, DTYPE), exp_avg_sq,
                                        propagate_nan=tl.PropagateNan.ALL)
                _store(row_ptr, 4, offs, mask, exp_avg_sq, DTYPE)
            if CAPTURABLE:
                denom = _div(_sqrt(exp_avg_sq), denom_scale.to(exp_avg_sq.dtype)) + eps_term.to(exp_avg_sq.dtype)
                param = param + _div(exp_avg, denom)
            else:
                denom = _div(_sqrt(exp_avg_sq), _scalar(bias_correction2_sqrt, DTYPE)) + _scalar(eps, DTYPE)
                param = param + _div(exp_avg * -_scalar(step_size, DTYPE), denom)
        elif RULE == "nadam":
            denom = _sqrt(_div(exp_avg_sq, _scalar(bias_correction2, DTYPE))) + _scalar(eps, DTYPE)
            param = param + _div(grad * -_scalar(grad_step_size, DTYPE), denom)
            param = param + _div(exp_avg * -_scalar(step_size, DTYPE), denom)
        else:  # radam
            step = _div(exp_avg, _scalar(bias_correction1, DTYPE)) * _scalar(step_size, DTYPE)
            if RECTIFY:
                denom = _sqrt(exp_avg_sq) + _scalar(eps, DTYPE)
                # PyTorch's `float / tensor` is reciprocal(tensor) * float: two roundings, as here
                adaptive_lr = _div(tl.full(denom.shape, 1.0, denom.dtype), denom) * _scalar(bias_correction2_sqrt,
                                                                                             DTYPE)
                step = step * adaptive_lr * _scalar(rectification, DTYPE)
            param = param - step
    _store(row_ptr, 0, offs, mask, param, DTYPE)


@triton.jit(do_not_specialize=["lr", "momentum", "weight_decay", "eps", "alpha", "one_minus_alpha", "lerp_high"])
def _rmsprop_kernel(
    # pointers
    tensor_table_ptr, block_table_ptr,
    # hyper-parameters (float64 bits)
    lr, alpha, one_minus_alpha, eps, weight_decay, momentum, lerp_high,
    # meta-parameters
    DTYPE: tl.constexpr, N_SLOTS: tl.constexpr, ACCUMULATE: tl.constexpr, HAS_WEIGHT_DECAY: tl.constexpr,
    HAS_MOMENTUM: tl.constexpr, CENTERED: tl.constexpr, MAXIMIZE: tl.constexpr, BLOCK_SIZE: tl.constexpr,
):
    # One program updates BLOCK_SIZE elements of one parameter and its running averages (with ACCUMULATE,
    # Adagrad's running sum of squares).
    row_ptr, offs, mask = _locate(tensor_table_ptr, block_table_ptr, N_SLOTS, BLOCK_SIZE)
    param, grad = _param_and_grad(row_ptr, offs, mask, weight_decay, weight_decay, DTYPE, HAS_WEIGHT_DECAY, False,
                                  MAXIMIZE)
    if ACCUMULATE:
        square_avg = _load(row_ptr, 2, offs, mask, DTYPE) + grad * grad
    else:
        square_avg = _load(row_ptr, 2, offs, mask, DTYPE) * _scalar(alpha, DTYPE)
        square_avg = square_avg + grad * _scalar(one_minus_alpha, DTYPE) * grad
    _store(row_ptr, 2, offs, mask, square_avg, DTYPE)
    if CENTERED:
        grad_avg = _lerp(_load(row_ptr, 4, offs, mask, DTYPE), grad, _scalar(one_minus_alpha, DTYPE),
                         _scalar(lerp_high, DTYPE))
        _store(row_ptr, 4, offs, mask, grad_avg, DTYPE)
        avg = _sqrt(square_avg - grad_avg * grad_avg)
    else:
        avg = _sqrt(square_avg)
    avg = avg + _scalar(eps, DTYPE)
    if HAS_MOMENTUM:
        buf = _load(row_ptr, 3, offs, mask, DTYPE) * _scalar(momentum, DTYPE) + _div(grad, avg)
        _store(row_ptr, 3, offs, mask, buf, DTYPE)
        param = param + buf * -_scalar(lr, DTYPE)
    else:
        param = param + _div(grad * -_scalar(lr, DTYPE), avg)
    _store(row_ptr, 0, offs, mask, param, DTYPE)


# ---- host side ----------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TensorTable:
    """The two tables of one multi-tensor launch (array arguments holding int64) and what they were built from:
    `rows`, the host copy of the tensor table, tells whether the table still holds for a set of tensors."""
    tensors: object
    blocks: object
    dtype: np.dtype
    n_slots: int
    block_size: int
    n_programs: int
    rows: np.ndarray


def _address(array, i, slot, dtype, n):
    if array is None:
        return 0
    where = f"build_table: tensor {i} slot {slot}"
    if dtype_name_of(array) != dtype:
        raise TypeError(f"{where} is {array.dtype}, the parameter (slot 0) is {dtype}")
    if numel(array.shape) != n:
        raise ValueError(f"{where} has shape {tuple(array.shape)}, the parameter has {n} elements")
    if n > 1 and not is_contiguous(array.shape, array.stride()):
        raise ValueError(f"{where} is not contiguous (shape {tuple(array.shape)}, strides {tuple(array.stride())})")
    return array.data_ptr()


def tensor_rows(slots, n_slots, step_slot=None):
    """The host tensor table of `slots` (a list of per-tensor tuples of arrays, None for an unused slot):
    (n_tensors, n_slots + 1) int64, each tensor's slot addresses then its size. Checks one float dtype, and
    every slot contiguous and as large as the parameter (slot 0); a gradient (slot 1) for every tensor.
    `step_slot`: the slot that holds each tensor's step count instead (capturable: a 1-element float32)."""
    if not slots:
        raise ValueError("build_table: no tensors")
    dtype = dtype_name_of(slots[0][0])
    if dtype not in _DTYPES:
        raise TypeError(f"build_table: parameters must be float32, float16, bfloat16 or float64, got {dtype}")
    rows = np.zeros((len(slots), n_slots + 1), np.int64)
    for i, arrays in enumerate(slots):
        if len(arrays) > n_slots:
            raise ValueError(f"build_table: tensor {i} has {len(arrays)} slots, the rule has {n_slots}")
        if arrays[0] is None or len(arrays) < 2 or arrays[1] is None:
            raise ValueError(f"build_table: tensor {i} needs a parameter and a gradient")
        n = rows[i, n_slots] = numel(arrays[0].shape)
        for slot, array in enumerate(arrays):
            if slot == step_slot:
                if array is None or dtype_name_of(array) != "float32" or numel(array.shape) != 1:
                    raise TypeError(f"build_table: tensor {i} slot {slot} must be its step count, a 1-element "
                                    f"float32 array")
                rows[i, slot] = array.data_ptr()
            else:
                rows[i, slot] = _address(array, i, slot, dtype, n)
    return rows


def build_table(slots, n_slots, upload=lambda array: array, block_size=None, previous=None, step_slot=None):
    """A TensorTable for `slots` (see `tensor_rows`; a rule's slot order is its *_SLOTS). `upload` turns a host
    int64 numpy array into an array argument the kernels read (a device copy; `HostTensor` for the interpreter
    on host arrays). `previous` is returned as it is when it was built
    for the same addresses and sizes: callers keep one table per group and upload only when tensors move.
    `step_slot`: see `tensor_rows`."""
    rows = tensor_rows(slots, n_slots, step_slot)
    if block_size is None:
        block_size = _INTERPRETER_BLOCK_SIZE if interpreting() else BLOCK_SIZE
    if previous is not None and previous.block_size == block_size and np.array_equal(previous.rows, rows):
        return previous
    sizes = rows[:, n_slots]
    if (previous is not None and previous.block_size == block_size and previous.n_slots == n_slots
            and np.array_equal(previous.rows[:, n_slots], sizes)):
        # Same sizes, new addresses (fresh gradients every step, after zero_grad(set_to_none=True)): the block
        # table depends on the sizes only, so only the tensor table is uploaded again.
        return TensorTable(upload(rows.copy()), previous.blocks, np.dtype(slots[0][0].dtype), n_slots, block_size,
                           previous.n_programs, rows)
    n_blocks = -(-sizes // block_size)
    index = np.repeat(np.arange(len(slots), dtype=np.int64), n_blocks)
    first_block = np.repeat(np.cumsum(n_blocks) - n_blocks, n_blocks)
    starts = (np.arange(len(index), dtype=np.int64) - first_block) * block_size
    blocks = np.stack([index, starts], axis=1)
    return TensorTable(upload(rows.copy()), upload(np.ascontiguousarray(blocks)), np.dtype(slots[0][0].dtype),
                       n_slots, block_size, len(index), rows)


class Address(int):
    """A device address passed to a kernel as the integer it is (other hyper-parameters travel as float64 bits)."""


def _launch(kernel, table, n_slots, flags, *hyper, num_warps=None):
    if table.n_slots != n_slots:
        raise ValueError(f"{kernel.__name__}: the table has {table.n_slots} slots per tensor, the rule needs {n_slots}")
    if table.n_programs == 0:
        return
    kernel[(table.n_programs,)](
        table.tensors, table.blocks,
        *(int(value) if isinstance(value, (bool, Address)) else float_bits(value) for value in hyper),
        DTYPE=_DTYPES[dtype_name_of(table)], N_SLOTS=n_slots, **flags, BLOCK_SIZE=table.block_size,
        num_warps=num_warps or NUM_WARPS,
    )


def _lr_argument(name, lr):
    """(host lr, its Address): a float lr travels as itself (address 0), a 1-element float32 array by address."""
    if isinstance(lr, (int, float)):
        return lr, Address(0)
    if dtype_name_of(lr) != "float32" or numel(lr.shape) != 1:
        raise TypeError(f"{name}: a tensor lr must be a 1-element float32 array, got {dtype_name_of(lr)} of shape "
                        f"{tuple(lr.shape)}")
    return 0.0, Address(lr.data_ptr())


def _lerp_high(weight, dtype):
    """`1 - w` for lerp weights w >= 0.5, w first rounded to the parameters' dtype (as framework/optim does)."""
    return 1.0 - float(np.asarray(weight, dtype=dtype))


def sgd_step(table, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False,
             first_step=False, num_warps=None):
    """One SGD step of every tensor in `table` (slots SGD_SLOTS; the momentum buffer is written, and on the
    `first_step` of a buffer set to the gradient rather than read). `lr`: a float, or a 1-element float32 array
    that the kernel reads (a CUDA graph's replays see the values a scheduler writes into it)."""
    lr, lr_address = _lr_argument("sgd_step", lr)
    _launch(_sgd_kernel, table, len(SGD_SLOTS),
            dict(HAS_WEIGHT_DECAY=weight_decay != 0, HAS_MOMENTUM=momentum != 0, NESTEROV=bool(nesterov),
                 MAXIMIZE=bool(maximize)),
            lr, momentum, 1 - dampening, weight_decay, bool(first_step), lr_address, num_warps=num_warps)


def _adam_family(table, rule, slots, *, beta1, beta2, eps, weight_decay, lr, maximize, decoupled=False,
                 amsgrad=False, step_size=0.0, grad_step_size=0.0, bias_correction1=1.0, bias_correction2=1.0,
                 rectification=None, capturable=False, num_warps=None):
    """One launch of the Adam family's kernel for `rule` (the other scalars at neutral values). `capturable`:
    `lr` is a float or a 1-element float32 device array, read by the kernel (see the module docstring)."""
    lr, lr_address = _lr_argument("adam_step", lr)
    _launch(_adam_kernel, table, len(slots),
            dict(RULE=rule, HAS_WEIGHT_DECAY=weight_decay != 0, DECOUPLED=bool(decoupled), AMSGRAD=bool(amsgrad),
                 RECTIFY=rectification is not None, MAXIMIZE=bool(maximize), CAPTURABLE=bool(capturable)),
            weight_decay, 1 - lr * weight_decay, 1 - beta1, _lerp_high(1 - beta1, table.dtype), beta2, 1 - beta2,
            eps, step_size, grad_step_size, bias_correction1, bias_correction2, bias_correction2 ** 0.5,
            0.0 if rectification is None else rectification, beta1, lr, lr_address, num_warps=num_warps)


def _check_step(rule, step):
    if step < 1:
        raise ValueError(f"{rule}: step must be >= 1 (counted after its increment), got {step}")


_STEPS_BLOCK_SIZE = 1024  # tensors per program of _increment_steps_kernel


def increment_steps(table):
    """`step += 1` for every tensor of a capturable table (slots CAPTURABLE_ADAM_SLOTS): one launch."""
    n_tensors = len(table.rows)
    _increment_steps_kernel[(-(-n_tensors // _STEPS_BLOCK_SIZE),)](table.tensors, n_tensors, N_SLOTS=table.n_slots,
                                                                   BLOCK_SIZE=_STEPS_BLOCK_SIZE, num_warps=NUM_WARPS)


def capturable_adam_step(table, *, lr, beta1, beta2, eps, weight_decay, amsgrad=False, maximize=False,
                         decoupled=False, num_warps=None):
    """One capturable Adam (decoupled: AdamW) step of every tensor in `table` (slots CAPTURABLE_ADAM_SLOTS): the
    step counts are incremented on the device (one launch), then read by the update; `lr` is a float or a
    1-element float32 device array. No host value depends on the step, so the two launches can be captured."""
    if table.n_slots != len(CAPTURABLE_ADAM_SLOTS):
        raise ValueError(f"capturable_adam_step: the table has {table.n_slots} slots per tensor, the rule needs "
                         f"{len(CAPTURABLE_ADAM_SLOTS)} (the step count last)")
    increment_steps(table)  # every tensor's step counts, size-0 ones too (as PyTorch's)
    _adam_family(table, "adam", CAPTURABLE_ADAM_SLOTS, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                 lr=lr, maximize=maximize, decoupled=decoupled, amsgrad=amsgrad, capturable=True,
                 num_warps=num_warps)


def adam_step(table, *, lr, beta1, beta2, eps, weight_decay, step, amsgrad=False, maximize=False, decoupled=False,
              num_warps=None):
    """One Adam (decoupled: AdamW) step of every tensor in `table` (slots ADAM_SLOTS), `step` being the
    step count after this step's increment (>= 1), the same for every tensor of the table."""
    _check_step("adam_step", step)
    _adam_family(table, "adam", ADAM_SLOTS, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, lr=lr,
                 maximize=maximize, decoupled=decoupled, amsgrad=amsgrad, step_size=lr / (1 - beta1 ** step),
                 bias_correction2=1 - beta2 ** step, num_warps=num_warps)


def nadam_step(table, *, lr, beta1, beta2, eps, step, grad_step_size, exp_avg_step_size,
               weight_decay=0.0, maximize=False, decoupled=False, num_warps=None):
    """One NAdam step of every tensor in `table` (slots NADAM_SLOTS). The coefficients of the gradient and of
    exp_avg in the update (`grad_step_size` = lr * (1 - mu_t) / (1 - mu_product), `exp_avg_step_size` =
    lr * mu_{t+1} / (1 - mu_product * mu_{t+1}), both subtracted) depend on the product of the momentum
    coefficients that the optimizer keeps, so the caller computes them."""
    _check_step("nadam_step", step)
    _adam_family(table, "nadam", NADAM_SLOTS, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, lr=lr,
                 maximize=maximize, decoupled=decoupled, step_size=exp_avg_step_size, grad_step_size=grad_step_size,
                 bias_correction2=1 - beta2 ** step, num_warps=num_warps)


def radam_step(table, *, lr, beta1, beta2, eps, step, rectification, weight_decay=0.0, maximize=False, decoupled=False,
               num_warps=None):
    """One RAdam step of every tensor in `table` (slots RADAM_SLOTS). `rectification`: the variance
    rectification term r_t, or None while rho_t <= 5 (the update is then lr times the bias-corrected exp_avg)."""
    _check_step("radam_step", step)
    _adam_family(table, "radam", RADAM_SLOTS, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, lr=lr,
                 maximize=maximize, decoupled=decoupled, step_size=lr, bias_correction1=1 - beta1 ** step,
                 bias_correction2=1 - beta2 ** step, rectification=rectification, num_warps=num_warps)


def adamax_step(table, *, lr, beta1, beta2, eps, step, weight_decay=0.0, maximize=False, num_warps=None):
    """One Adamax step of every tensor in `table` (slots ADAMAX_SLOTS)."""
    _check_step("adamax_step", step)
    _adam_family(table, "adamax", ADAMAX_SLOTS, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, lr=lr,
                 maximize=maximize, step_size=lr / (1 - beta1 ** step), num_warps=num_warps)


def rmsprop_step(table, *, lr, alpha, eps, weight_decay=0.0, momentum=0.0, centered=False, maximize=False,
                 num_warps=None):
    """One RMSprop step of every tensor in `table` (slots RMSPROP_SLOTS; momentum_buffer only when
    momentum > 0, grad_avg only when centered)."""
    _launch(_rmsprop_kernel, table, len(RMSPROP_SLOTS),
            dict(ACCUMULATE=False, HAS_WEIGHT_DECAY=weight_decay != 0, HAS_MOMENTUM=momentum > 0,
                 CENTERED=bool(centered), MAXIMIZE=bool(maximize)),
            lr, alpha, 1 - alpha, eps, weight_decay, momentum, _lerp_high(1 - alpha, table.dtype),
            num_warps=num_warps)


def adagrad_step(table, *, lr, eps, weight_decay=0.0, maximize=False, num_warps=None):
    """One Adagrad step of every tensor in `table` (slots ADAGRAD_SLOTS), `lr` being this step's decayed rate
    (lr / (1 + (step - 1) * lr_decay))."""
    _launch(_rmsprop_kernel, table, len(ADAGRAD_SLOTS),
            dict(ACCUMULATE=True, HAS_WEIGHT_DECAY=weight_decay != 0, HAS_MOMENTUM=False, CENTERED=False,
                 MAXIMIZE=bool(maximize)),
            lr, 1.0, 0.0, eps, weight_decay, 0.0, 0.0, num_warps=num_warps)
