"""Collectives of picklable Python objects (mpi4py's lower-case methods pickle them)."""
from .process_group import _group, group_peer


def all_gather_object(object_list, obj, group=None):
    """object_list[r] becomes rank r's `obj` (object_list has one slot per rank)."""
    group = _group(group)
    if group is None:
        return None
    if len(object_list) != group.size():
        raise ValueError(f"object_list must hold one slot per rank of the group ({group.size()}), "
                         f"got {len(object_list)}")
    object_list[:] = group.comm.allgather(obj)


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Every rank's object_list becomes `src`'s (same length on every rank)."""
    group = _group(group)
    if group is None:
        return None
    root = group_peer(group, src, group_src, "src")
    received = group.comm.bcast(list(object_list) if group.rank() == root else None, root=root)
    if len(received) != len(object_list):
        raise ValueError(f"broadcast_object_list: object_list has {len(object_list)} slots here but "
                         f"{len(received)} on the source rank")
    object_list[:] = received
