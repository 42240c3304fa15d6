"""Messages between two ranks: send/recv, their nonblocking isend/irecv, and batches of them (P2POp).

Peers are world ranks (`dst`, `src`) or group ranks (`group_dst`, `group_src`), as in PyTorch. `cuda`
tensors on an 'nccl' group go through NCCL, which matches messages by order, not by tag, and needs the peer.
"""
from . import nccl
from .buffers import Buffer, finished
from .process_group import _group, device_backend, group_peer


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    group = _group(group)
    if group is None:
        return None
    peer = group_peer(group, dst, group_dst, "dst")
    if device_backend(group, tensor) == "nccl":
        memory = nccl.Memory(tensor)
        return nccl.exchange(group, [(memory, 0, memory.nbytes, peer)], [])
    buffer = Buffer(tensor)
    return finished([group.comm.Isend(buffer.array, dest=peer, tag=tag)], None, True)


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    work = isend(tensor, dst, group, tag, group_dst)
    if work is not None:
        work.wait()


def _nccl_receive(group, tensor, src, group_src):
    if src is None and group_src is None:
        raise ValueError("The 'nccl' backend receives from a given rank only: pass src (NCCL has no receive "
                         "from any source)")
    memory = nccl.Memory(tensor, written=True)
    return nccl.exchange(group, [], [(memory, 0, memory.nbytes, group_peer(group, src, group_src, "src"))])


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receive into `tensor` from `src` (from any rank when both src and group_src are None)."""
    group = _group(group)
    if group is None:
        return None
    if device_backend(group, tensor) == "nccl":
        return _nccl_receive(group, tensor, src, group_src)
    from mpi4py import MPI
    peer = MPI.ANY_SOURCE if src is None and group_src is None else group_peer(group, src, group_src, "src")
    buffer = Buffer(tensor, written=True)
    return finished([group.comm.Irecv(buffer.array, source=peer, tag=tag)], buffer.finish, True)


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Blocking irecv; returns the sender's world rank (-1 outside the group)."""
    group = _group(group)
    if group is None:
        return -1
    if device_backend(group, tensor) == "nccl":
        _nccl_receive(group, tensor, src, group_src)
        return group.ranks[group_peer(group, src, group_src, "src")]
    from mpi4py import MPI
    peer = MPI.ANY_SOURCE if src is None and group_src is None else group_peer(group, src, group_src, "src")
    buffer = Buffer(tensor, written=True)
    status = MPI.Status()
    group.comm.Recv(buffer.array, source=peer, tag=tag, status=status)
    buffer.finish()
    return group.ranks[status.Get_source()]


class P2POp:
    """One message of a batch_isend_irecv: `op` is isend or irecv, `peer` a world rank."""

    def __init__(self, op, tensor, peer=None, group=None, tag=0, group_peer=None):
        if op not in (isend, irecv):
            raise ValueError("Invalid ``op``. Expected ``op`` to be of type ``torch.distributed.isend`` or "
                             "``torch.distributed.irecv``.")
        self.op, self.tensor, self.peer, self.group = op, tensor, peer, group
        self.tag, self.group_peer = tag, group_peer


def batch_isend_irecv(p2p_op_list):
    """Start every message of the list; returns their Work handles (wait on each)."""
    if not p2p_op_list or not all(isinstance(p, P2POp) for p in p2p_op_list):
        raise ValueError("Invalid ``p2p_op_list``. Each op is expected to to be of type ``torch.distributed.P2POp``.")
    works = []
    for p in p2p_op_list:
        if p.op is isend:
            works.append(isend(p.tensor, p.peer, p.group, p.tag, group_dst=p.group_peer))
        else:
            works.append(irecv(p.tensor, p.peer, p.group, p.tag, group_src=p.group_peer))
    return [work for work in works if work is not None]
