"""F.pad: constant, reflect, replicate and circular padding, with PyTorch's rules and errors.

`pad` lists (left, right) pairs from the last dim backwards, as PyTorch's does; negative amounts crop. Constant
padding takes any number of dims (op "constant_pad_nd", ConstantPadNdBackward0). The other modes pad the last
one, two or three dims of a batched or unbatched input; each padded dim is a map from output to input positions
(`source_positions`), run by resample.py's "axis_resample" op: a gather along each padded dim, whose backward
sums the gradient back along the same maps (PyTorch's nodes: ReflectionPad2DBackward0,
ReplicationPad1DBackward0, ...; circular padding shows CopySlices, the node PyTorch's composition leaves on top).
"""
import numpy as np

from .. import dtypes
from ..autograd.function import run
from .resample import axis_map, resample_axes

MODES = ("constant", "reflect", "replicate", "circular")
_NODE_NAMES = {"reflect": "ReflectionPad{}DBackward0", "replicate": "ReplicationPad{}DBackward0"}


def source_positions(size, left, right, mode):
    """For each of the `size + left + right` output positions along one dim, the input position it copies."""
    positions = np.arange(-left, size + right, dtype=np.int64)
    if mode == "reflect":
        period = 2 * (size - 1)
        if period == 0:
            return np.zeros_like(positions)
        folded = np.abs(positions) % period
        return np.where(folded >= size, period - folded, folded)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    # circular: PyTorch wraps around what is left after cropping (negative amounts), not the whole input
    start, kept = max(-left, 0), size - max(-left, 0) - max(-right, 0)
    if kept <= 0:
        return np.zeros(0, np.int64)
    return start + np.arange(-max(left, 0), kept + max(right, 0), dtype=np.int64) % kept


def _check_pairs(input, pad):
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(pad)} and input of dimension {input.ndim}")


def _constant(input, pad, value):
    shape = list(input.shape)
    for i in range(len(pad) // 2):
        dim = input.ndim - 1 - i
        new = shape[dim] + pad[2 * i] + pad[2 * i + 1]
        if new < 0:  # (PyTorch's words: its constant padding crops with narrow())
            raise RuntimeError("narrow(): length must be non-negative.")
        shape[dim] = new
    return run("constant_pad_nd", (input,), (tuple(pad), value))


def _index_pad(input, pad, mode):
    n_dims = len(pad) // 2
    if input.ndim not in (n_dims + 1, n_dims + 2) or n_dims > 3:
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
                                  "Supported combinations for non-constant padding:\n"
                                  "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
                                  "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
                                  "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    if mode != "circular":
        if any(s == 0 for s in input.shape[1:]) or (input.ndim == n_dims + 1 and input.shape[0] == 0):
            expected = {1: "2D or 3D", 2: "3D or 4D", 3: "4D or 5D"}[n_dims]
            raise RuntimeError(f"Expected {expected} (batch mode) tensor with possibly 0 batch size and other non-zero "
                               f"dimensions for input, but got: [{', '.join(map(str, input.shape))}]")
    maps = []
    for i in range(n_dims):
        dim = input.ndim - 1 - i
        left, right, size = pad[2 * i], pad[2 * i + 1], input.shape[dim]
        if mode == "reflect" and (left >= size or right >= size):
            raise RuntimeError(f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding input "
                               f"dimension, but got: padding ({left}, {right}) at dimension {dim} of input "
                               f"[{', '.join(map(str, input.shape))}]")
        if mode == "circular" and (left > size or right > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if size + left + right < 0:
            raise RuntimeError(f"input tensor with shape [{', '.join(map(str, input.shape))}] padded to a negative "
                               f"size along dimension {dim}")
        maps.append(axis_map(dim, source_positions(size, left, right, mode)[:, None], None, size, _acc(input)))
    node = "CopySlices" if mode == "circular" else _NODE_NAMES[mode].format(n_dims)
    return resample_axes(input, maps, node)


def _acc(input):
    """The dtype of the backward's weights: float64 for float64 gradients, else float32."""
    return np.float64 if input._dtype is dtypes.float64 else np.float32


def pad(input, pad, mode="constant", value=None):
    """PyTorch's F.pad."""
    pad = tuple(int(p) for p in pad)
    if mode not in MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    _check_pairs(input, pad)
    if mode == "constant":
        return _constant(input, pad, 0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    return _index_pad(input, pad, mode)


__all__ = ["pad"]
