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


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    """`dst`'s object_gather_list[r] becomes rank r's `obj`; the other ranks pass no list."""
    group = _group(group)
    if group is None:
        return None
    root = group_peer(group, dst, group_dst, "dst")
    if group.rank() == root and (object_gather_list is None or len(object_gather_list) != group.size()):
        raise ValueError(f"object_gather_list must hold one slot per rank of the group ({group.size()}) on the "
                         "destination rank")
    gathered = group.comm.gather(obj, root=root)
    if group.rank() == root:
        object_gather_list[:] = gathered


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None, group=None,
                        group_src=None):
    """scatter_object_output_list[0] becomes `src`'s scatter_object_input_list[r] on rank r."""
    group = _group(group)
    if group is None:
        return None
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError("Expected argument scatter_object_output_list to be a list of size at least 1.")
    root = group_peer(group, src, group_src, "src")
    pieces = None
    if group.rank() == root:
        pieces = list(scatter_object_input_list or ())
        if len(pieces) != group.size():
            raise ValueError(f"scatter_object_input_list must hold one object per rank of the group "
                             f"({group.size()}) on the source rank")
    scatter_object_output_list[0] = group.comm.scatter(pieces, root=root)
