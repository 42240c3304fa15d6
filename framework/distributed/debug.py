"""Mismatched collectives, caught before they corrupt memory: with TORCH_DISTRIBUTED_DEBUG=DETAIL
(PyTorch's switch, read the same way), every collective first compares its kind and its tensors'
shapes and dtypes across the group's ranks, and all ranks raise PyTorch's error on a mismatch.

Without it a rank whose tensor is smaller than the others' could have MPI write past its buffer
(or the job hang): the check costs one small object all-gather per collective, so it is off by default.
"""
import os


def enabled():
    return os.environ.get("TORCH_DISTRIBUTED_DEBUG", "OFF").upper() == "DETAIL"


def check_matching(group, kind, *tensors):
    """Raise on every rank of `group` if the ranks are not all running `kind` on like tensors."""
    if not enabled():
        return
    mine = (f"CollectiveFingerPrint(OpType={kind}, TensorShape={[list(t.shape) for t in tensors]}, "
            f"TensorDtypes={[str(t.dtype) for t in tensors]})")
    everyone = group.comm.allgather(mine)
    for rank, theirs in enumerate(everyone):
        if theirs != everyone[0]:
            raise RuntimeError(f"Detected mismatch between collectives on ranks. Rank {group.ranks[0]} is running "
                               f"collective: {everyone[0]}, but Rank {group.ranks[rank]} is running collective: "
                               f"{theirs}")
