"""cuda side of `nn.utils.clip_grad_norm_`, `get_total_norm` and `clip_grads_with_norm_`: the block table of a
set of tensors (kept while their addresses and sizes stay put) and the launches of triton_kernels.grad_norm.
Nothing is read back: the total norm and the clip coefficient stay on the device."""
import numpy as np

from triton_kernels import grad_norm as kernels

from .array import empty, from_numpy

_TABLES = {}  # the host rows' bytes -> kernels.Blocks; a training loop clips the same gradients every step
_MAX_TABLES = 16


def _blocks(arrays):
    rows, block = kernels.table_rows(arrays)
    key = (rows.tobytes(), block)
    blocks = _TABLES.get(key)
    if blocks is None:
        if len(_TABLES) >= _MAX_TABLES:
            _TABLES.clear()
        blocks = _TABLES[key] = kernels.build_blocks(arrays, from_numpy)
    return blocks


def total_norm(arrays, norm_type, max_norm=None):
    """The `norm_type` norm of all of `arrays` (contiguous float CudaArrays) as a 0-dim array of their promoted
    dtype; with `max_norm`, every array is also multiplied in place by min(max_norm / (norm + 1e-6), 1)."""
    blocks = _blocks(arrays)
    total = empty((), np.dtype(_numpy_name(blocks.out_dtype)))
    partials = empty((kernels.partial_count(blocks),), np.dtype(blocks.compute))
    kernels.total_norm(blocks, norm_type, total, partials, max_norm)
    return total


def scale(arrays, total, max_norm):
    """Multiply `arrays` in place by min(max_norm / (total + 1e-6), 1), `total` a 0-dim CudaArray."""
    kernels.scale_by_total(_blocks(arrays), total, max_norm)


def _numpy_name(name):
    if name == "bfloat16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    return name
