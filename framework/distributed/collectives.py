"""Tensor collectives with PyTorch's signatures (point-to-point messages: point_to_point.py).

CPU tensors go through MPI: each call starts MPI's nonblocking version of the operation on the
tensors' own buffers (see buffers.py); with `async_op=True` it returns the Work at once, otherwise
it waits. `cuda` tensors on a group with the 'nccl' backend go through NCCL (nccl.py), after the
same argument checks.
Roots (`src`, `dst`) are ranks of the world, `group_src`/`group_dst` ranks of the
group, as in PyTorch. A rank outside `group` does nothing and gets None.
"""
import numpy as np

from . import nccl
from .buffers import Buffer, check_cpu, finished
from .debug import check_matching
from .process_group import _group, device_backend, group_peer
from .reduce_op import RedOpType, ReduceOp, mpi_op


def _check_reduction(op, tensor):
    """What every backend refuses: AVG of integers, bitwise ops on floats."""
    op = RedOpType(op)
    if op == RedOpType.AVG and not tensor.is_floating_point() and not tensor.is_complex():
        raise ValueError(f"ReduceOp.AVG needs a floating point tensor, got {tensor.dtype}")
    if op in (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR) and (tensor.is_floating_point() or tensor.is_complex()):
        raise ValueError(f"{op.name} needs an integer or bool tensor, got {tensor.dtype}")
    return op


def _reduction(op, buffers, size):
    """The MPI op for `op` on these buffers, and the epilogue that completes it (AVG's division)."""
    op = _check_reduction(op, buffers[0].tensor)
    first = buffers[0].values

    def finish():
        if op == RedOpType.AVG:
            for buffer in buffers:
                if buffer.written:
                    np.divide(buffer.values, size, out=buffer.values, casting="unsafe")
        for buffer in buffers:
            buffer.finish()
    return mpi_op(op, first.dtype == np.bool_), finish


def _finish_all(*parts):
    def finish():
        for part in parts:
            part()
    return finish


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Every rank's `tensor` becomes the reduction of all of them, in place."""
    group = _group(group)
    if group is None:
        return None
    check_matching(group, f"ALLREDUCE.{RedOpType(op).name}", tensor)
    if device_backend(group, tensor) == "nccl":
        return nccl.all_reduce(group, tensor, _check_reduction(op, tensor), async_op)
    from mpi4py import MPI
    buffer = Buffer(tensor, reduce=True, written=True)
    mpi, finish = _reduction(op, [buffer], group.size())
    if not async_op:
        # the blocking call: MPICH's blocking all-reduce (shared memory within a machine) ran a 4 MiB sum in
        # 2.3 ms where its nonblocking one took 3.0 (perf/ddp_bench.py's sizes, 2 ranks)
        group.comm.Allreduce(MPI.IN_PLACE, buffer.array, op=mpi)
        finish()
        return None
    return finished([group.comm.Iallreduce(MPI.IN_PLACE, buffer.array, op=mpi)], finish, async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    group = _group(group)
    if group is None:
        return None
    root = group_peer(group, src, group_src, "src")
    check_matching(group, f"BROADCAST.root{root}", tensor)
    if device_backend(group, tensor) == "nccl":
        return nccl.broadcast(group, tensor, root, async_op)
    buffer = Buffer(tensor, written=group.rank() != root)
    return finished([group.comm.Ibcast(buffer.array, root=root)], buffer.finish, async_op)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """The reduction lands in `dst`'s tensor; the other ranks' tensors are left as they were."""
    group = _group(group)
    if group is None:
        return None
    root = group_peer(group, dst, group_dst, "dst")
    check_matching(group, f"REDUCE.{RedOpType(op).name}.root{root}", tensor)
    if device_backend(group, tensor) == "nccl":
        return nccl.reduce(group, tensor, root, _check_reduction(op, tensor), async_op)
    from mpi4py import MPI
    at_root = group.rank() == root
    buffer = Buffer(tensor, reduce=True, written=at_root)
    mpi, finish = _reduction(op, [buffer], group.size())
    send, receive = (MPI.IN_PLACE, buffer.array) if at_root else (buffer.array, None)
    return finished([group.comm.Ireduce(send, receive, op=mpi, root=root)], finish, async_op)


def _stacked(tensors, like, name, backend="mpi"):
    """One contiguous buffer (on `like`'s device) for a list of same-shaped tensors, one per rank."""
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise ValueError(f"{name} must be a non-empty list of tensors")
    for t in tensors:
        check_cpu(t, name) if backend == "mpi" else nccl.check_cuda(t)
        if tuple(t.shape) != tuple(like.shape) or t.dtype != like.dtype:
            raise ValueError(f"{name}: every tensor must have the shape {tuple(like.shape)} and dtype {like.dtype} "
                             f"of the input, got {tuple(t.shape)} and {t.dtype}")
    from ..creation import empty
    return empty((len(tensors),) + tuple(like.shape), dtype=like.dtype, device=like.device)


def _copy_out(stack, tensors):
    def finish():
        from ..autograd.grad_mode import no_grad
        with no_grad():
            for i, t in enumerate(tensors):
                t.copy_(stack[i])
    return finish


def _copy_in(stack, tensors):
    from ..autograd.grad_mode import no_grad
    with no_grad():
        for i, t in enumerate(tensors):
            stack[i].copy_(t)


def _check_count(tensors, group, name):
    if len(tensors) != group.size():
        raise ValueError(f"{name} must hold one tensor per rank of the group ({group.size()}), got {len(tensors)}")


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] receives rank r's `tensor` (every rank's tensor has the same shape and dtype)."""
    group = _group(group)
    if group is None:
        return None
    check_matching(group, "ALLGATHER", tensor)
    backend = device_backend(group, tensor)
    stack = _stacked(tensor_list, tensor, "tensor_list", backend)
    _check_count(tensor_list, group, "tensor_list")
    if backend == "nccl":
        nccl.all_gather_into_tensor(group, stack, tensor, False)
        _copy_out(stack, tensor_list)()
        return nccl.finished(async_op)
    send, receive = Buffer(tensor), Buffer(stack, written=True)
    return finished([group.comm.Iallgather(send.array, receive.array)], _copy_out(stack, tensor_list), async_op)


def _check_sizes(output, input, factor, what):
    if output.numel() != input.numel() * factor if what == "all_gather" else input.numel() != output.numel() * factor:
        big, small = (output, input) if what == "all_gather" else (input, output)
        raise ValueError(f"{what}: the {'output' if big is output else 'input'} tensor must hold world_size "
                         f"({factor}) times the elements of the {'input' if small is input else 'output'} "
                         f"tensor, got {big.numel()} and {small.numel()}")
    if output.dtype != input.dtype:
        raise ValueError(f"{what}: input and output tensors must have the same dtype, got {input.dtype} and "
                         f"{output.dtype}")


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """The ranks' inputs, concatenated (or stacked) in rank order into one output tensor."""
    group = _group(group)
    if group is None:
        return None
    backend = device_backend(group, output_tensor, input_tensor)
    _check_sizes(output_tensor, input_tensor, group.size(), "all_gather")
    check_matching(group, "_ALLGATHER_BASE", input_tensor, output_tensor)
    if backend == "nccl":
        return nccl.all_gather_into_tensor(group, output_tensor, input_tensor, async_op)
    send, receive = Buffer(input_tensor), Buffer(output_tensor, written=True)
    return finished([group.comm.Iallgather(send.array, receive.array)], receive.finish, async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce the ranks' inputs, then rank r keeps the r-th of world_size equal chunks."""
    group = _group(group)
    if group is None:
        return None
    backend = device_backend(group, output, input)
    _check_sizes(output, input, group.size(), "reduce_scatter")
    check_matching(group, f"_REDUCE_SCATTER_BASE.{RedOpType(op).name}", input, output)
    if backend == "nccl":
        return nccl.reduce_scatter_tensor(group, output, input, _check_reduction(op, input), async_op)
    send, receive = Buffer(input, reduce=True), Buffer(output, reduce=True, written=True)
    mpi, finish = _reduction(op, [receive, send], group.size())
    return finished([group.comm.Ireduce_scatter_block(send.array, receive.array, op=mpi)], finish, async_op)


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """`dst`'s gather_list[r] receives rank r's tensor; the other ranks pass no list."""
    group = _group(group)
    if group is None:
        return None
    root = group_peer(group, dst, group_dst, "dst")
    check_matching(group, f"GATHER.root{root}", tensor)
    backend = device_backend(group, tensor)
    if group.rank() != root:
        if gather_list:
            raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination ranks.")
        if backend == "nccl":
            send = nccl.Memory(tensor)
            return nccl.exchange(group, [(send, 0, send.nbytes, root)], [], async_op)
        return finished([group.comm.Igather(Buffer(tensor).array, None, root=root)], None, async_op)
    if not gather_list:
        raise ValueError("Argument ``gather_list`` must be specified on destination rank.")
    stack = _stacked(gather_list, tensor, "gather_list", backend)
    _check_count(gather_list, group, "gather_list")
    if backend == "nccl":
        receive, size = nccl.Memory(stack, written=True), tensor.numel() * tensor.element_size()
        _copy_in(stack[root:root + 1], [tensor])
        nccl.exchange(group, [], [(receive, r * size, size, r) for r in range(group.size()) if r != root], False)
        _copy_out(stack, gather_list)()
        return nccl.finished(async_op)
    send = Buffer(tensor)
    receive = Buffer(stack, written=True)
    return finished([group.comm.Igather(send.array, receive.array, root=root)], _copy_out(stack, gather_list),
                    async_op)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank r's `tensor` receives `src`'s scatter_list[r]; the other ranks pass no list."""
    group = _group(group)
    if group is None:
        return None
    root = group_peer(group, src, group_src, "src")
    check_matching(group, f"SCATTER.root{root}", tensor)
    backend = device_backend(group, tensor)
    if group.rank() != root:
        if scatter_list:
            raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source ranks.")
        if backend == "nccl":
            receive = nccl.Memory(tensor, written=True)
            return nccl.exchange(group, [], [(receive, 0, receive.nbytes, root)], async_op)
        receive = Buffer(tensor, written=True)
        return finished([group.comm.Iscatter(None, receive.array, root=root)], receive.finish, async_op)
    if not scatter_list:
        raise ValueError("Argument ``scatter_list`` must be specified on source rank.")
    stack = _stacked(scatter_list, tensor, "scatter_list", backend)
    _check_count(scatter_list, group, "scatter_list")
    _copy_in(stack, scatter_list)
    if backend == "nccl":
        send, size = nccl.Memory(stack), tensor.numel() * tensor.element_size()
        nccl.exchange(group, [(send, r * size, size, r) for r in range(group.size()) if r != root], [], False)
        from ..autograd.grad_mode import no_grad
        with no_grad():
            tensor.copy_(stack[root])
        return nccl.finished(async_op)
    receive = Buffer(tensor, written=True)
    send = Buffer(stack)
    return finished([group.comm.Iscatter(send.array, receive.array, root=root)], receive.finish, async_op)


def barrier(group=None, async_op=False, device_ids=None):
    group = _group(group)
    if group is None:
        return None
    check_matching(group, "BARRIER")
    if "cpu" not in group.device_backends:
        return nccl.barrier(group, async_op)
    return finished([group.comm.Ibarrier()], None, async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """reduce_scatter_tensor with the input given as one tensor per rank."""
    group = _group(group)
    if group is None:
        return None
    stack = _stacked(input_list, output, "input_list", device_backend(group, output))
    _check_count(input_list, group, "input_list")
    _copy_in(stack, input_list)
    return reduce_scatter_tensor(output, stack, op, group, async_op)
