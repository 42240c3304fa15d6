"""Strided array arguments: the one convention every generic launcher follows.

An *array argument* is any object with `data_ptr()` (the address of its first element), `dtype`
(a numpy dtype; bfloat16 is ml_dtypes'), `shape` (a tuple) and `stride()` (strides in elements,
possibly 0 for broadcast dims; negative only for the source of a copy, which indexes in 64 bits: a flip is a
copy from a view with negated strides). The framework's device arrays, the tests'
`HostTensor` and PyTorch-like tensors with numpy dtypes all qualify. Under TRITON_INTERPRET=1 the
object must also offer the few methods Triton's interpreter calls (see host_tensor.py).

Kernels index up to MAX_DIMS dims: launchers first merge the dims that are laid out contiguously in
every operand (`collapse`), which turns almost every real layout (contiguous, transposed, sliced,
broadcast) into one to three dims, then left-pad to MAX_DIMS with size-1 dims.
"""
import os

import triton
import triton.language as tl

MAX_DIMS = 6


def interpreting():
    """True when kernels run in Triton's interpreter (on host memory) rather than on a GPU."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


_DTYPE_NAMES = {}


def dtype_name_of(array):
    """An array argument's dtype as a name: 'float32', 'bfloat16', 'int64', ... (numpy's; a torch dtype's without
    its 'torch.' prefix). Cached per dtype object: str() of a numpy dtype costs a few microseconds, and a launch
    asks for several of them."""
    dtype = array.dtype
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype).rsplit(".", 1)[-1]
    return name


def numel(shape):
    n = 1
    for size in shape:
        n *= size
    return n


def is_contiguous(shape, strides):
    """Whether an array of `shape` with these element `strides` is C-contiguous (size-1 dims may have any
    stride; an empty array is, whatever its strides: numpy gives empty arrays zero strides): what `collapse`
    would merge to one unit-stride dim, for a fraction of its cost."""
    if 0 in tuple(shape):
        return True
    expected = 1
    for size, stride in zip(reversed(tuple(shape)), reversed(tuple(strides))):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


def collapse(shape, *strides):
    """Merge adjacent dims that are contiguous with each other in every operand; drop size-1 dims.

    Returns (shape, [strides per operand]) with at least one dim. Dim i merges into dim i+1 when, for
    every operand, stride[i] == stride[i+1] * shape[i+1].
    """
    dims = [(size, [s[i] for s in strides]) for i, size in enumerate(shape) if size != 1]
    if not dims:
        return (1,), [(0,) for _ in strides]
    merged = [dims[-1]]
    for size, st in reversed(dims[:-1]):
        inner_size, inner_st = merged[-1]
        if all(st[k] == inner_st[k] * inner_size for k in range(len(strides))):
            merged[-1] = (size * inner_size, inner_st)
        else:
            merged.append((size, st))
    merged.reverse()
    return tuple(size for size, _ in merged), [tuple(st[k] for _, st in merged) for k in range(len(strides))]


def padded(shape, strides_list, ndim=MAX_DIMS):
    """Left-pad `shape` and every strides tuple to `ndim` dims (size 1, stride 0)."""
    if len(shape) > ndim:
        raise ValueError(f"a strided kernel handles at most {ndim} dims after merging contiguous ones, "
                         f"got shape {tuple(shape)}; make the operands contiguous first")
    pad = ndim - len(shape)
    return (1,) * pad + tuple(shape), [(0,) * pad + tuple(st) for st in strides_list]


@triton.jit
def strided_offsets(offs, size1, size2, size3, size4, size5, stride0, stride1, stride2, stride3, stride4, stride5,
                    NDIM: tl.constexpr):
    """Element offsets of the flat (row-major) indices `offs` in an array padded to 6 dims (dim 5 innermost;
    only the last NDIM dims are real, so the others cost nothing)."""
    rem = offs
    result = tl.zeros_like(offs)
    if NDIM >= 2:
        result += (rem % size5) * stride5
        rem = rem // size5
        if NDIM >= 3:
            result += (rem % size4) * stride4
            rem = rem // size4
            if NDIM >= 4:
                result += (rem % size3) * stride3
                rem = rem // size3
                if NDIM >= 5:
                    result += (rem % size2) * stride2
                    rem = rem // size2
                    if NDIM >= 6:
                        result += (rem % size1) * stride1
                        rem = rem // size1
                        result += rem * stride0
                    else:
                        result += rem * stride1
                else:
                    result += rem * stride2
            else:
                result += rem * stride3
        else:
            result += rem * stride4
    else:
        result += rem * stride5
    return result
