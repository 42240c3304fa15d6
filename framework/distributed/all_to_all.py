"""Every rank sends a piece to every rank: all_to_all_single (pieces are slices along dim 0 of one tensor)
and all_to_all (pieces are tensors of lists). Pieces may differ in size; MPI's Alltoallv takes the counts."""
import numpy as np

from . import nccl
from .buffers import Buffer, finished, wire_view
from .debug import check_matching
from .process_group import _group, device_backend


def _splits(sizes, tensor, group, name):
    """Element counts and offsets of the dim-0 slices of `tensor` (equal ones when `sizes` is None)."""
    rows = tensor.shape[0] if tensor.dim() else 1
    if sizes is None or len(sizes) == 0:
        if rows % group.size():
            raise ValueError(f"all_to_all_single: dim 0 of the {name} tensor ({rows}) does not split evenly among "
                             f"{group.size()} ranks: give {name}_split_sizes")
        sizes = [rows // group.size()] * group.size()
    sizes = [int(s) for s in sizes]
    if len(sizes) != group.size() or sum(sizes) != rows or min(sizes) < 0:
        raise ValueError(f"all_to_all_single: {name}_split_sizes {sizes} must give one size per rank "
                         f"({group.size()}) adding up to dim 0 of the {name} tensor ({rows})")
    row = tensor.numel() // rows if rows else 0
    counts = np.array(sizes, dtype=np.int64) * row
    return counts, np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None, async_op=False):
    """Rank r's input slice j goes to rank j, which stores it as its output slice r."""
    group = _group(group)
    if group is None:
        return None
    backend = device_backend(group, output, input)
    if output.dtype != input.dtype:
        raise ValueError(f"all_to_all_single: input and output must have the same dtype, got {input.dtype} and "
                         f"{output.dtype}")
    check_matching(group, "ALLTOALL_BASE")
    send_counts, send_offsets = _splits(input_split_sizes, input, group, "input")
    receive_counts, receive_offsets = _splits(output_split_sizes, output, group, "output")
    if backend == "nccl":
        send, receive, size = nccl.Memory(input), nccl.Memory(output, written=True), input.element_size()
        return nccl.exchange(group, [(send, int(o) * size, int(c) * size, r)
                                     for r, (o, c) in enumerate(zip(send_offsets, send_counts))],
                             [(receive, int(o) * size, int(c) * size, r)
                              for r, (o, c) in enumerate(zip(receive_offsets, receive_counts))], async_op)
    send, receive = Buffer(input), Buffer(output, written=True)
    request = group.comm.Ialltoallv([send.array, (send_counts, send_offsets)],
                                   [receive.array, (receive_counts, receive_offsets)])
    return finished([request], receive.finish, async_op)


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Rank r's input_tensor_list[j] lands in rank j's output_tensor_list[r]."""
    group = _group(group)
    if group is None:
        return None
    for name, tensors in (("output_tensor_list", output_tensor_list), ("input_tensor_list", input_tensor_list)):
        if len(tensors) != group.size():
            raise ValueError(f"all_to_all: {name} must hold one tensor per rank ({group.size()}), got {len(tensors)}")
    backend = device_backend(group, *output_tensor_list, *input_tensor_list)
    dtypes = {t.dtype for t in list(output_tensor_list) + list(input_tensor_list)}
    if len(dtypes) != 1:
        raise ValueError(f"all_to_all: every tensor must have the same dtype, got {sorted(map(str, dtypes))}")
    check_matching(group, "ALLTOALL")
    if backend == "nccl":
        sends = [(nccl.Memory(t), 0, t.numel() * t.element_size(), r) for r, t in enumerate(input_tensor_list)]
        receives = [(nccl.Memory(t, written=True), 0, t.numel() * t.element_size(), r)
                    for r, t in enumerate(output_tensor_list)]
        return nccl.exchange(group, sends, receives, async_op)
    # the pieces travel as one flat array each way (one Alltoallv), copied out into the list at the end
    send = wire_view(np.concatenate([np.ascontiguousarray(t._data).reshape(-1) for t in input_tensor_list]))
    received = np.empty(sum(t.numel() for t in output_tensor_list), dtype=output_tensor_list[0]._data.dtype)
    send_counts = np.array([t.numel() for t in input_tensor_list], dtype=np.int64)
    receive_counts = np.array([t.numel() for t in output_tensor_list], dtype=np.int64)
    offsets = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(np.int64) for c in (send_counts, receive_counts)]
    request = group.comm.Ialltoallv([send, (send_counts, offsets[0])], [wire_view(received), (receive_counts, offsets[1])])

    def finish():
        for t, start, count in zip(output_tensor_list, offsets[1].tolist(), receive_counts.tolist()):
            t._data[...] = received[start:start + count].reshape(t._data.shape)
            t._version_counter[0] += 1
    return finished([request], finish, async_op)
