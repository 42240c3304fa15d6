"""A fake nccl4py for testing the 'nccl' backend without a GPU: install() puts it in sys.modules as
`nccl.bindings.nccl` before framework.distributed imports it.

Shaped like nccl4py 0.6.0's low-level bindings as installed and read (the names, argument order and enum
values of nccl.bindings.nccl; `comm` must be the bindings' Comm object, an int is refused as there). Under
TRITON_INTERPRET=1 a `cuda` tensor's address is host memory, so the fake reads and writes the buffers there
and moves them between processes with MPI, as NCCL moves device memory between GPUs:

* get_unique_id names the calling process (its MPI world rank) and a serial number; comm_init_rank_scalable
  sends each rank's world rank to that process, which answers with the members in rank order (NCCL's own
  bootstrap goes through the root named by the id the same way), then the members make an MPI communicator.
* Reductions gather every rank's input and reduce in NumPy, float16/bfloat16 in float32 rounded once.
* Point-to-point calls between group_start and group_end run together at group_end, as NCCL matches them.

Every call records (name, stream) in CALLS, so a test can check that all of them ran on the framework's stream.
"""
import ctypes
import enum
import struct
import sys
import types

import numpy as np

CALLS = []


class DataType(enum.IntEnum):
    Int8 = 0
    Uint8 = 1
    Int32 = 2
    Uint32 = 3
    Int64 = 4
    Uint64 = 5
    Float16 = 6
    Float32 = 7
    Float64 = 8
    Bfloat16 = 9


class RedOp(enum.IntEnum):
    Sum = 0
    Prod = 1
    Max = 2
    Min = 3
    Avg = 4


class NCCLError(Exception):
    pass


_NUMPY = {DataType.Int8: np.int8, DataType.Uint8: np.uint8, DataType.Int32: np.int32, DataType.Uint32: np.uint32,
          DataType.Int64: np.int64, DataType.Uint64: np.uint64, DataType.Float16: np.float16,
          DataType.Float32: np.float32, DataType.Float64: np.float64, DataType.Bfloat16: np.uint16}


class UniqueId:
    """128 bytes, as ncclUniqueId: here the root's world rank and a serial number."""

    def __init__(self, raw=bytes(128)):
        self._raw = bytes(raw)

    def __bytes__(self):
        return self._raw

    @classmethod
    def from_buffer(cls, raw):
        return cls(raw)


class Comm:
    def __init__(self, handle=0):
        self.handle = handle
        self.mpi = None


_serial = [0]
_group = []  # point-to-point calls queued between group_start and group_end; None outside a group


def _world():
    from mpi4py import MPI
    return MPI.COMM_WORLD


def get_unique_id():
    _serial[0] += 1
    return UniqueId(struct.pack("<ii", _world().Get_rank(), _serial[0]).ljust(128, b"\0"))


def comm_init_rank_scalable(nranks, myrank, n_id, comm_ids, config):
    from mpi4py import MPI
    if n_id != 1 or len(bytes(comm_ids)) != 128:
        raise NCCLError("invalid argument: one 128-byte unique id expected")
    root, serial = struct.unpack("<ii", bytes(comm_ids)[:8])
    world, tag = _world(), 20000 + serial
    if world.Get_rank() == root:
        members = {myrank: root}
        for _ in range(nranks - 1):
            rank, world_rank = world.recv(source=MPI.ANY_SOURCE, tag=tag)
            members[rank] = world_rank
        order = [members[r] for r in range(nranks)]
        for world_rank in order:
            if world_rank != root:
                world.send(order, dest=world_rank, tag=tag)
    else:
        world.send((myrank, world.Get_rank()), dest=root, tag=tag)
        order = world.recv(source=root, tag=tag)
    comm = Comm(id(order))
    comm.mpi = world.Create_group(world.Get_group().Incl(order), tag=tag)
    assert comm.mpi.Get_rank() == myrank
    return comm


def comm_destroy(comm):
    _check_comm(comm)
    comm.mpi.Free()
    comm.mpi = None


def comm_abort(comm):
    comm_destroy(comm)


def _check_comm(comm):
    if not isinstance(comm, Comm):
        raise TypeError(f"Cannot convert {type(comm).__name__} to nccl.bindings.nccl.Comm")
    if comm.mpi is None:
        raise NCCLError("invalid argument: the communicator is not initialised or was destroyed")


def _memory(address, count, datatype):
    """The `count` elements of `datatype` at host `address` (the interpreter's device memory), writable."""
    kind = np.dtype(_NUMPY[DataType(datatype)])
    if count == 0:
        return np.empty(0, kind)
    raw = (ctypes.c_char * (count * kind.itemsize)).from_address(address)
    return np.frombuffer(raw, dtype=kind)


def _as_float(values, datatype):
    if datatype == DataType.Bfloat16:
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values.astype(np.float32) if datatype == DataType.Float16 else values


def _from_float(values, datatype):
    if datatype == DataType.Bfloat16:  # round to nearest even, as a GPU converts
        bits = values.astype(np.float32).view(np.uint32)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return values.astype(_NUMPY[DataType(datatype)])


def _reduced(comm, send, datatype, op):
    everyone = np.empty((comm.mpi.Get_size(),) + send.shape, send.dtype)
    comm.mpi.Allgather(send.copy(), everyone)
    values = _as_float(everyone, datatype)
    result = {RedOp.Sum: np.sum, RedOp.Prod: np.prod, RedOp.Max: np.max, RedOp.Min: np.min,
              RedOp.Avg: np.mean}[RedOp(op)](values, axis=0)
    if RedOp(op) == RedOp.Avg and values.dtype.kind not in "f":
        raise NCCLError("invalid argument: ncclAvg of an integer type")
    return _from_float(result, datatype)


def _record(name, comm, stream):
    _check_comm(comm)
    if not isinstance(stream, int):
        raise TypeError("an integer is required")
    CALLS.append((name, stream))


def all_reduce(sendbuff, recvbuff, count, datatype, op, comm, stream):
    _record("all_reduce", comm, stream)
    _memory(recvbuff, count, datatype)[...] = _reduced(comm, _memory(sendbuff, count, datatype), datatype, op)


def reduce(sendbuff, recvbuff, count, datatype, op, root, comm, stream):
    _record("reduce", comm, stream)
    result = _reduced(comm, _memory(sendbuff, count, datatype), datatype, op)
    if comm.mpi.Get_rank() == root:
        _memory(recvbuff, count, datatype)[...] = result


def broadcast(sendbuff, recvbuff, count, datatype, root, comm, stream):
    _record("broadcast", comm, stream)
    received = _memory(recvbuff, count, datatype)
    if comm.mpi.Get_rank() == root and sendbuff != recvbuff:
        received[...] = _memory(sendbuff, count, datatype)
    comm.mpi.Bcast(received, root=root)


def all_gather(sendbuff, recvbuff, sendcount, datatype, comm, stream):
    _record("all_gather", comm, stream)
    send = _memory(sendbuff, sendcount, datatype).copy()
    comm.mpi.Allgather(send, _memory(recvbuff, sendcount * comm.mpi.Get_size(), datatype))


def reduce_scatter(sendbuff, recvbuff, recvcount, datatype, op, comm, stream):
    _record("reduce_scatter", comm, stream)
    size, rank = comm.mpi.Get_size(), comm.mpi.Get_rank()
    result = _reduced(comm, _memory(sendbuff, recvcount * size, datatype), datatype, op)
    _memory(recvbuff, recvcount, datatype)[...] = result[rank * recvcount:(rank + 1) * recvcount]


def send(sendbuff, count, datatype, peer, comm, stream):
    _record("send", comm, stream)
    _point_to_point(("send", _memory(sendbuff, count, datatype).copy(), peer, comm))


def recv(recvbuff, count, datatype, peer, comm, stream):
    _record("recv", comm, stream)
    _point_to_point(("recv", _memory(recvbuff, count, datatype), peer, comm))


def _point_to_point(call):
    if _group:
        _group[-1].append(call)
    else:
        _run([call])


def _run(calls):
    from mpi4py import MPI
    requests = [comm.mpi.Isend(array, dest=peer, tag=7) if kind == "send" else
                comm.mpi.Irecv(array, source=peer, tag=7) for kind, array, peer, comm in calls]
    MPI.Request.Waitall(requests)


def group_start():
    _group.append([])


def group_end():
    if not _group:
        raise NCCLError("invalid usage: group_end without group_start")
    calls = _group.pop()
    if _group:
        _group[-1].extend(calls)
    else:
        _run(calls)


def install():
    """Make `import nccl.bindings.nccl` give this module (and find_spec find it)."""
    import importlib.machinery
    import os
    if os.environ.get("TRITON_INTERPRET", "0") in ("", "0"):
        raise RuntimeError("the fake NCCL reads cuda tensors on the host: run it with TRITON_INTERPRET=1")
    this = sys.modules[__name__]
    for name in ("nccl", "nccl.bindings"):
        package = types.ModuleType(name)
        package.__path__ = []
        package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        sys.modules[name] = package
    sys.modules["nccl"].bindings = sys.modules["nccl.bindings"]
    sys.modules["nccl.bindings"].nccl = this
    sys.modules["nccl.bindings.nccl"] = this
    if this.__spec__ is None:
        this.__spec__ = importlib.machinery.ModuleSpec("nccl.bindings.nccl", None)
