"""The 'nccl' backend: collectives on `cuda` tensors through NVIDIA's NCCL (nccl4py), on the framework's stream.

Every kernel and copy of the `cuda` device runs on one stream (backends/cuda/runtime.py), and every NCCL call
here is queued on that same stream: it starts after the kernels that wrote its inputs, and whatever is queued
later (the optimizer's step, a copy to the host) runs after it. So a collective needs no host synchronisation,
and Work.wait() has nothing to wait for on the host (PyTorch's wait() makes the current stream wait for NCCL's;
here they are the same stream).

Tensors reach NCCL as device addresses: a contiguous tensor hands over its own memory, no copy. A
non-contiguous one goes through a contiguous copy made by a kernel and is written back by another kernel
queued right after the collective. Moves that combine nothing (broadcast, gathers, scatters, point to point)
travel as bytes, so every dtype goes; reductions use NCCL's own types, booleans as uint8 (their SUM is an OR:
MAX; their PRODUCT an AND: MIN), as on the MPI backend.

nccl4py is imported here only, when a group with the 'nccl' backend is made. Its low-level bindings
(nccl.bindings.nccl: addresses, counts and the stream as ints) need NCCL's library (the nvidia-nccl-cu12
wheel) and cuda-pathfinder, not cuda-core's objects. The communicator: rank 0 of the group asks NCCL for a
unique id, MPI broadcasts it over the group, every rank joins (ncclCommInitRankScalable with that one id).
"""
import contextlib

from ..autograd.grad_mode import no_grad
from . import buffers
from .reduce_op import RedOpType

# NCCL's ncclDataType_t for the dtypes it can reduce (names as numpy spells them; bool travels as uint8)
_NCCL_TYPES = {"int8": "Int8", "uint8": "Uint8", "bool": "Uint8", "int32": "Int32", "uint32": "Uint32",
               "int64": "Int64", "uint64": "Uint64", "float16": "Float16", "float32": "Float32",
               "float64": "Float64", "bfloat16": "Bfloat16"}
_NCCL_OPS = {RedOpType.SUM: "Sum", RedOpType.PRODUCT: "Prod", RedOpType.MAX: "Max", RedOpType.MIN: "Min",
             RedOpType.AVG: "Avg"}


def bindings():
    import nccl.bindings.nccl as nccl_bindings
    return nccl_bindings


def check_cuda(tensor):
    """A tensor NCCL can move: on `cuda` (ProcessGroupNCCL's error text otherwise)."""
    if tensor.device.type != "cuda":
        raise RuntimeError("Tensors must be CUDA and dense")


def stream():
    """The framework's stream as NCCL takes it: an int (0, the default stream, under the interpreter)."""
    from ..backends.cuda.runtime import runtime
    return getattr(runtime(), "stream_handle", 0)


class NcclCommunicator:
    """The NCCL communicator of one process group (its ranks in group order)."""

    def __init__(self, group):
        from ..backends.cuda.runtime import runtime
        nccl = bindings()
        runtime()  # makes the device current: NCCL binds the communicator to it
        unique_id = bytes(nccl.get_unique_id()) if group.rank() == 0 else None
        unique_id = group.comm.bcast(unique_id, root=0)
        # as nccl4py's Communicator.initialize calls it: the ids as one bytearray, no config (0)
        self.comm = nccl.comm_init_rank_scalable(group.size(), group.rank(), 1, bytearray(unique_id), 0)
        self.rank, self.size = group.rank(), group.size()

    def destroy(self):
        if self.comm is not None:
            bindings().comm_destroy(self.comm)
            self.comm = None


class Work(buffers.Work):
    """An NCCL collective's handle (a distributed.Work, as the MPI backend's are). The collective is queued on
    the framework's stream, so later work on `cuda` is ordered after it and wait() returns at once;
    is_completed() asks the device whether it has run."""

    def __init__(self):
        from ..backends.cuda.runtime import runtime
        self._event = runtime().record_time()

    def wait(self, timeout=None):
        return True

    def is_completed(self):
        is_done = getattr(self._event, "is_done", True)  # cuda-core's Event; the interpreter's float is past
        return bool(is_done)

    def is_success(self):
        return self.is_completed()

    def result(self):
        return []


def finished(async_op):
    return Work() if async_op else None


class Memory:
    """The device memory a collective uses for `tensor`: `.address` is what NCCL sees; a non-contiguous tensor
    is staged in a contiguous copy, which finish() (when `written`) writes back by a kernel on the stream."""

    def __init__(self, tensor, written=False):
        self.tensor, self.written = tensor, written
        self.staged = None
        if not tensor.is_contiguous():
            with no_grad():
                self.staged = tensor.contiguous()
        self.address = (tensor if self.staged is None else self.staged)._data.data_ptr()
        self.nbytes = tensor.numel() * tensor.element_size()

    def finish(self):
        if not self.written:
            return
        if self.staged is not None:
            with no_grad():
                self.tensor.copy_(self.staged)  # copy_ counts the write
        else:
            self.tensor._version_counter[0] += 1


def nccl_type(dtype):
    name = _NCCL_TYPES.get(str(dtype).replace("framework.", ""))
    if name is None:
        raise RuntimeError(f"Unsupported data type for NCCL process group: {dtype}")
    return int(getattr(bindings().DataType, name))


def nccl_op(op, dtype):
    op = RedOpType(op)
    if op not in _NCCL_OPS:
        raise RuntimeError(f"Cannot use ReduceOp.{op.name} with NCCL")
    if str(dtype) == "framework.bool" and op in (RedOpType.SUM, RedOpType.PRODUCT):
        op = RedOpType.MAX if op == RedOpType.SUM else RedOpType.MIN
    return int(getattr(bindings().RedOp, _NCCL_OPS[op]))


def _byte():
    return int(bindings().DataType.Int8)


@contextlib.contextmanager
def _nccl_group():
    """ncclGroupStart/End around point-to-point calls: they are matched together, so none blocks the others."""
    nccl = bindings()
    nccl.group_start()
    try:
        yield nccl
    finally:
        nccl.group_end()


def all_reduce(group, tensor, op, async_op):
    memory = Memory(tensor, written=True)
    kind, nccl_reduction = nccl_type(tensor.dtype), nccl_op(op, tensor.dtype)
    bindings().all_reduce(memory.address, memory.address, tensor.numel(), kind, nccl_reduction, group.nccl.comm,
                          stream())
    memory.finish()
    return finished(async_op)


def reduce(group, tensor, root, op, async_op):
    memory = Memory(tensor, written=group.rank() == root)
    kind, nccl_reduction = nccl_type(tensor.dtype), nccl_op(op, tensor.dtype)
    bindings().reduce(memory.address, memory.address, tensor.numel(), kind, nccl_reduction, root, group.nccl.comm,
                      stream())
    memory.finish()
    return finished(async_op)


def broadcast(group, tensor, root, async_op):
    memory = Memory(tensor, written=group.rank() != root)
    bindings().broadcast(memory.address, memory.address, memory.nbytes, _byte(), root, group.nccl.comm, stream())
    memory.finish()
    return finished(async_op)


def all_gather_into_tensor(group, output, input, async_op):
    send, receive = Memory(input), Memory(output, written=True)
    bindings().all_gather(send.address, receive.address, send.nbytes, _byte(), group.nccl.comm, stream())
    receive.finish()
    return finished(async_op)


def reduce_scatter_tensor(group, output, input, op, async_op):
    send, receive = Memory(input), Memory(output, written=True)
    kind, nccl_reduction = nccl_type(input.dtype), nccl_op(op, input.dtype)
    bindings().reduce_scatter(send.address, receive.address, output.numel(), kind, nccl_reduction, group.nccl.comm,
                              stream())
    receive.finish()
    return finished(async_op)


def exchange(group, sends, receives, async_op=True):
    """Point-to-point messages as one NCCL group: `sends` and `receives` are (Memory, byte offset, bytes, peer)."""
    with _nccl_group() as nccl:
        for memory, offset, nbytes, peer in sends:
            nccl.send(memory.address + offset, nbytes, _byte(), peer, group.nccl.comm, stream())
        for memory, offset, nbytes, peer in receives:
            nccl.recv(memory.address + offset, nbytes, _byte(), peer, group.nccl.comm, stream())
    for memory in {id(m): m for m, *_ in receives}.values():
        memory.finish()
    return finished(async_op)


def barrier(group, async_op):
    """PyTorch's NCCL barrier: an all-reduce of one element; the host then waits for the stream."""
    from ..backends.cuda.runtime import runtime
    from ..creation import zeros
    all_reduce(group, zeros(1, device="cuda"), RedOpType.SUM, False)
    if async_op:
        return Work()
    runtime().synchronize()
    return None
