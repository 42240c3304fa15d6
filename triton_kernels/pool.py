"""Max pooling over windows given by tables: max_pool2d (kernel, stride, padding, dilation, ceil_mode) and
adaptive_max_pool2d alike, forward (values and PyTorch's int64 indices) and backward.

A window is the product of a row window and a column window. The host gives, for each output row, the input rows
of its taps (`row_index` (Ho, Th) int64) and whether each is inside the input (`row_ok` (Ho, Th), nonzero inside);
the same for columns. Indices of taps outside the input are clamped into it by the host, so every load is in
bounds, and masked. The forward scans a window's taps in row-major order as PyTorch's CPU kernel does: the first
tap inside the input sets the index, then a value greater than the best so far, or a nan, takes over (so the
result is the first maximum, or the last nan). The backward gathers: input (h, w) sums the gradients of the
outputs whose windows hold it (the transposed tables `back_*`: for each input row, the output rows that read
it) and whose index names it; no atomics, deterministic.

x is contiguous (planes, H, W); out and indices are contiguous (planes, Ho, Wo). Floats compare as themselves
(the backward sums in float32, float64 for float64); integer dtypes pool too (no nan).
"""
import triton
import triton.language as tl

from .strided import dtype_name_of, interpreting, is_contiguous

BLOCK_SIZE = 512  # outputs per program: unmeasured (no GPU run yet)
INTERPRETER_BLOCK_SIZE = 1 << 14
_INTS = {"int8": -2**7, "int16": -2**15, "int32": -2**31, "int64": -2**63, "uint8": 0}
_FLOATS = ("float16", "bfloat16", "float32", "float64")


@triton.jit
def max_pool_forward_kernel(
        # Pointers
        x_ptr, row_index_ptr, row_ok_ptr, col_index_ptr, col_ok_ptr, out_ptr, indices_ptr,
        # Sizes
        n_outputs, H, W, H_OUT, W_OUT, TH, TW,
        # Meta-parameters
        LOWEST: tl.constexpr, IS_FLOAT: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    # One program computes BLOCK_SIZE outputs (plane, oh, ow): the max over the window's taps and its index.
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_outputs
    ow = offs % W_OUT
    oh = (offs // W_OUT) % H_OUT
    plane = offs // (W_OUT * H_OUT)
    x_plane = x_ptr + plane * H * W
    # compared in float32 (float64 for float64; integers as they are): the interpreter holds bf16 as raw bits
    if IS_FLOAT:
        CMP: tl.constexpr = tl.float64 if x_ptr.dtype.element_ty == tl.float64 else tl.float32
    else:
        CMP: tl.constexpr = x_ptr.dtype.element_ty
    best = tl.full((BLOCK_SIZE,), LOWEST, CMP)
    index = tl.zeros((BLOCK_SIZE,), dtype=tl.int64)
    seen = tl.zeros((BLOCK_SIZE,), dtype=tl.int1)
    for th in range(0, TH):
        row = tl.load(row_index_ptr + oh * TH + th, mask=mask, other=0)
        row_inside = tl.load(row_ok_ptr + oh * TH + th, mask=mask, other=0) != 0
        for tw in range(0, TW):
            col = tl.load(col_index_ptr + ow * TW + tw, mask=mask, other=0)
            inside = row_inside & (tl.load(col_ok_ptr + ow * TW + tw, mask=mask, other=0) != 0) & mask
            value = tl.load(x_plane + row * W + col, mask=inside, other=LOWEST).to(CMP)
            position = row * W + col
            index = tl.where(inside & ~seen, position, index)
            seen = seen | inside
            if IS_FLOAT:
                take = inside & ((value > best) | (value != value))
            else:
                take = inside & (value > best)
            best = tl.where(take, value, best)
            index = tl.where(take, position, index)
    tl.store(out_ptr + offs, best.to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(indices_ptr + offs, index, mask=mask)


@triton.jit
def max_pool_backward_kernel(
        # Pointers
        grad_ptr, indices_ptr, back_row_ptr, back_row_ok_ptr, back_col_ptr, back_col_ok_ptr, grad_x_ptr,
        # Sizes
        n_inputs, H, W, H_OUT, W_OUT, TH, TW,
        # Meta-parameters
        BLOCK_SIZE: tl.constexpr):
    # One program computes BLOCK_SIZE input gradients (plane, h, w): the sum of the output gradients whose window
    # holds (h, w) (the transposed tables) and whose index is h * W + w.
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_inputs
    w = offs % W
    h = (offs // W) % H
    plane = offs // (W * H)
    position = h * W + w
    out_plane = plane * H_OUT * W_OUT
    ACC: tl.constexpr = tl.float64 if grad_ptr.dtype.element_ty == tl.float64 else tl.float32
    acc = tl.zeros((BLOCK_SIZE,), dtype=ACC)
    for th in range(0, TH):
        oh = tl.load(back_row_ptr + h * TH + th, mask=mask, other=0)
        row_used = tl.load(back_row_ok_ptr + h * TH + th, mask=mask, other=0) != 0
        for tw in range(0, TW):
            ow = tl.load(back_col_ptr + w * TW + tw, mask=mask, other=0)
            used = row_used & (tl.load(back_col_ok_ptr + w * TW + tw, mask=mask, other=0) != 0) & mask
            target = out_plane + oh * W_OUT + ow
            hit = used & (tl.load(indices_ptr + target, mask=used, other=-1) == position)
            acc += tl.load(grad_ptr + target, mask=hit, other=0.0).to(ACC)
    tl.store(grad_x_ptr + offs, acc.to(grad_x_ptr.dtype.element_ty), mask=mask)


def _block():
    return INTERPRETER_BLOCK_SIZE if interpreting() else BLOCK_SIZE


def _check_tables(index, ok, size, what):
    if dtype_name_of(index) != "int64" or len(index.shape) != 2 or tuple(ok.shape) != tuple(index.shape):
        raise ValueError(f"max_pool: {what} tables must be int64 (rows, taps) with a validity table of that shape")
    if index.shape[0] != size:
        raise ValueError(f"max_pool: {what} table has {index.shape[0]} rows, expected {size}")
    for array in (index, ok):
        if not is_contiguous(array.shape, array.stride()):
            raise ValueError(f"max_pool: {what} tables must be contiguous")


def max_pool_forward(x, row_index, row_ok, col_index, col_ok, out, indices):
    """out, indices (planes, Ho, Wo) = the max over each window of x (planes, H, W) and its position h * W + w."""
    name = dtype_name_of(x)
    if name not in _FLOATS and name not in _INTS:
        raise TypeError(f"max_pool: unsupported dtype {x.dtype}")
    if dtype_name_of(out) != name or dtype_name_of(indices) != "int64":
        raise TypeError(f"max_pool: out must be {x.dtype} and indices int64, got {out.dtype} and {indices.dtype}")
    planes, h, w = x.shape
    h_out, w_out = out.shape[1:]
    if tuple(out.shape) != (planes, h_out, w_out) or tuple(indices.shape) != tuple(out.shape):
        raise ValueError(f"max_pool: out {tuple(out.shape)} and indices {tuple(indices.shape)} must be "
                         f"({planes}, Ho, Wo)")
    _check_tables(row_index, row_ok, h_out, "row")
    _check_tables(col_index, col_ok, w_out, "column")
    for what, array in (("x", x), ("out", out), ("indices", indices)):
        if not is_contiguous(array.shape, array.stride()):
            raise ValueError(f"max_pool: {what} must be contiguous")
    n_outputs = planes * h_out * w_out
    if n_outputs == 0:
        return out, indices
    lowest = float("-inf") if name in _FLOATS else _INTS[name]
    block = _block()
    max_pool_forward_kernel[(triton.cdiv(n_outputs, block),)](
        x, row_index, row_ok, col_index, col_ok, out, indices, n_outputs, h, w, h_out, w_out, row_index.shape[1],
        col_index.shape[1], LOWEST=lowest, IS_FLOAT=name in _FLOATS, BLOCK_SIZE=block, num_warps=4)
    return out, indices


def max_pool_backward(grad, indices, back_row, back_row_ok, back_col, back_col_ok, grad_x):
    """grad_x (planes, H, W) = the sum of grad (planes, Ho, Wo) over the outputs whose index names each input."""
    planes, h, w = grad_x.shape
    h_out, w_out = grad.shape[1:]
    if dtype_name_of(grad) not in _FLOATS or dtype_name_of(grad_x) != dtype_name_of(grad):
        raise TypeError(f"max_pool: grad and grad_x must share a float dtype, got {grad.dtype}, {grad_x.dtype}")
    if tuple(indices.shape) != tuple(grad.shape) or grad.shape[0] != planes:
        raise ValueError(f"max_pool: grad {tuple(grad.shape)}, indices {tuple(indices.shape)} and grad_x "
                         f"{tuple(grad_x.shape)} do not agree")
    _check_tables(back_row, back_row_ok, h, "backward row")
    _check_tables(back_col, back_col_ok, w, "backward column")
    for what, array in (("grad", grad), ("indices", indices), ("grad_x", grad_x)):
        if not is_contiguous(array.shape, array.stride()):
            raise ValueError(f"max_pool: {what} must be contiguous")
    n_inputs = planes * h * w
    if n_inputs == 0:
        return grad_x
    block = _block()
    max_pool_backward_kernel[(triton.cdiv(n_inputs, block),)](
        grad, indices, back_row, back_row_ok, back_col, back_col_ok, grad_x, n_inputs, h, w, h_out, w_out,
        back_row.shape[1], back_col.shape[1], BLOCK_SIZE=block, num_warps=4)
    return grad_x
