"""Every collective on 2 ranks against NumPy references: run by test_collectives.py as
`mpiexec -n 2 python collectives_program.py`. Each case runs on both ranks; rank 0 prints one
JSON object {case: [rank 0's error or null, rank 1's error or null]} as the last line of output.

Inputs are small integers, exact in every dtype (bfloat16 included), so results compare exactly.
"""
import datetime

import numpy as np

import framework as fw
import framework.distributed as dist
from tests.distributed.case_runner import Cases, run_cases

DTYPES = ["float32", "float64", "bfloat16", "float16", "int64", "int32", "uint8", "bool"]
OPS = ["SUM", "AVG", "PRODUCT", "MIN", "MAX"]
CASES = case = Cases()


def values(rank, shape, dtype, salt=0):
    """Rank `rank`'s input: small integers (0/1 for bool, non-negative for uint8)."""
    ints = np.random.RandomState(100 * salt + rank).randint(-3, 4, shape)
    if dtype == "bool":
        return ints > 0
    return np.abs(ints) if dtype == "uint8" else ints


def make(array, dtype, strided=False):
    """A tensor holding `array`; strided: a non-contiguous (transposed) view holding the same values."""
    if strided and array.ndim == 2:
        return fw.tensor(np.ascontiguousarray(array.T)).to(getattr(fw, dtype)).t()
    return fw.tensor(np.asarray(array)).to(getattr(fw, dtype))


def as_numpy(tensor):
    return tensor.to(fw.float64).numpy() if tensor.dtype in (fw.bfloat16, fw.float16) else tensor.numpy()


def expect(tensor, reference, dtype):
    reference = np.asarray(reference)
    reference = reference if dtype == "bool" else reference.astype(np.float64)
    got = as_numpy(tensor)
    assert tensor.dtype == getattr(fw, dtype), tensor.dtype
    assert got.shape == reference.shape and np.array_equal(got.astype(reference.dtype), reference), \
        f"got {got.tolist()}, expected {reference.tolist()}"


def reduced(arrays, op, dtype):
    a = [np.asarray(x, dtype=np.float64) for x in arrays]
    result = {"SUM": sum(a), "AVG": sum(a) / len(a), "PRODUCT": np.prod(a, axis=0), "MIN": np.min(a, axis=0),
              "MAX": np.max(a, axis=0)}[op]
    return result > 0 if dtype == "bool" else result


def floating(dtype):
    return dtype in ("float32", "float64", "bfloat16", "float16")


for _dtype in DTYPES:
    for _op in OPS:
        if _op == "AVG" and not floating(_dtype):
            continue
        for _strided in (False, True):
            for _async in (False, True):
                @case(f"all_reduce-{_dtype}-{_op}-{'strided' if _strided else 'contiguous'}-"
                      f"{'async' if _async else 'sync'}")
                def _all_reduce(rank, dtype=_dtype, op=_op, strided=_strided, async_op=_async):
                    tensor = make(values(rank, (3, 4), dtype), dtype, strided)
                    version = tensor._version
                    work = dist.all_reduce(tensor, op=getattr(dist.ReduceOp, op), async_op=async_op)
                    if async_op:
                        assert work.wait() is True and work.is_completed()
                    else:
                        assert work is None
                    expect(tensor, reduced([values(r, (3, 4), dtype) for r in (0, 1)], op, dtype), dtype)
                    assert tensor._version > version


@case("all_reduce-0-dim-and-empty")
def _all_reduce_small(rank):
    scalar, empty = fw.tensor(float(rank + 2)), fw.zeros(0, 3)
    dist.all_reduce(scalar, op=dist.ReduceOp.PRODUCT)
    dist.all_reduce(empty)
    assert scalar.item() == 6.0 and empty.shape == (0, 3)


@case("all_reduce-avg-of-integers-is-refused")
def _avg_int(rank):
    try:
        dist.all_reduce(fw.ones(2, dtype=fw.int64), op=dist.ReduceOp.AVG)
    except ValueError as error:
        assert "floating point" in str(error)
    else:
        raise AssertionError("no error")


@case("all_reduce-bfloat16-sums-in-float32")
def _bf16_accumulation(rank):
    # 256 + 1 is not a bfloat16: each rank's [256, 1] and [0, 1] sums to 257 -> rounds once to 256 (even)
    tensor = make(np.array([256.0, 1.0]) if rank == 0 else np.array([1.0, 0.0]), "bfloat16")
    dist.all_reduce(tensor)
    assert as_numpy(tensor).tolist() == [256.0, 1.0]


for _dtype in ("float32", "bfloat16", "int64", "bool"):
    for _src in (0, 1):
        @case(f"broadcast-{_dtype}-from-{_src}")
        def _broadcast(rank, dtype=_dtype, src=_src):
            tensor = make(values(rank, (4, 3), dtype), dtype, strided=True)
            dist.broadcast(tensor, src=src)
            expect(tensor, values(src, (4, 3), dtype), dtype)

    @case(f"all_gather-{_dtype}")
    def _all_gather(rank, dtype=_dtype):
        outputs = [make(np.zeros((2, 3), bool if dtype == "bool" else int), dtype) for _ in range(2)]
        dist.all_gather(outputs, make(values(rank, (2, 3), dtype), dtype, strided=True))
        for r in (0, 1):
            expect(outputs[r], values(r, (2, 3), dtype), dtype)

    @case(f"all_gather_into_tensor-{_dtype}")
    def _all_gather_into(rank, dtype=_dtype):
        zeros = np.zeros((2, 2, 3), bool if dtype == "bool" else int)
        stacked, concatenated = make(zeros, dtype), make(zeros.reshape(4, 3), dtype)
        work = dist.all_gather_into_tensor(stacked, make(values(rank, (2, 3), dtype), dtype), async_op=True)
        dist.all_gather_into_tensor(concatenated, make(values(rank, (2, 3), dtype), dtype))
        work.wait()
        expect(stacked, np.stack([values(r, (2, 3), dtype) for r in (0, 1)]), dtype)
        expect(concatenated, np.concatenate([values(r, (2, 3), dtype) for r in (0, 1)]), dtype)

    @case(f"gather-{_dtype}")
    def _gather(rank, dtype=_dtype):
        zeros = np.zeros(3, bool if dtype == "bool" else int)
        into = [make(zeros, dtype) for _ in range(2)] if rank == 1 else None
        dist.gather(make(values(rank, 3, dtype), dtype), into, dst=1)
        if rank == 1:
            for r in (0, 1):
                expect(into[r], values(r, 3, dtype), dtype)

    @case(f"scatter-{_dtype}")
    def _scatter(rank, dtype=_dtype):
        pieces = [make(values(9, (2, 2), dtype, salt=r), dtype) for r in (0, 1)] if rank == 0 else None
        out = make(np.zeros((2, 2), bool if dtype == "bool" else int), dtype)
        dist.scatter(out, pieces, src=0)
        expect(out, values(9, (2, 2), dtype, salt=rank), dtype)

for _dtype in ("float32", "bfloat16", "int32"):
    for _op in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
        if _op == "AVG" and not floating(_dtype):
            continue

        @case(f"reduce_scatter_tensor-{_dtype}-{_op}")
        def _reduce_scatter(rank, dtype=_dtype, op=_op):
            out = make(np.zeros(3, int), dtype)
            dist.reduce_scatter_tensor(out, make(values(rank, 6, dtype), dtype), op=getattr(dist.ReduceOp, op))
            full = reduced([values(r, 6, dtype) for r in (0, 1)], op, dtype)
            expect(out, full[3 * rank:3 * rank + 3], dtype)

        @case(f"reduce-{_dtype}-{_op}-to-1")
        def _reduce(rank, dtype=_dtype, op=_op):
            tensor = make(values(rank, (2, 3), dtype), dtype, strided=True)
            dist.reduce(tensor, dst=1, op=getattr(dist.ReduceOp, op))
            mine = values(rank, (2, 3), dtype)
            expect(tensor, reduced([values(r, (2, 3), dtype) for r in (0, 1)], op, dtype) if rank == 1 else mine,
                   dtype)


for _dtype in ("float32", "bfloat16", "int64"):
    @case(f"reduce_scatter-list-{_dtype}")
    def _reduce_scatter_list(rank, dtype=_dtype):
        out = make(np.zeros(3, int), dtype)
        dist.reduce_scatter(out, [make(values(rank, 3, dtype, salt=j), dtype) for j in (0, 1)])
        expect(out, sum(values(r, 3, dtype, salt=rank) for r in (0, 1)), dtype)

    @case(f"all_to_all_single-even-{_dtype}")
    def _all_to_all_even(rank, dtype=_dtype):
        out = make(np.zeros((4, 3), int), dtype)
        work = dist.all_to_all_single(out, make(values(rank, (4, 3), dtype), dtype, strided=True), async_op=True)
        work.wait()
        expect(out, np.concatenate([values(r, (4, 3), dtype)[2 * rank:2 * rank + 2] for r in (0, 1)]), dtype)

    @case(f"all_to_all_single-uneven-{_dtype}")
    def _all_to_all_uneven(rank, dtype=_dtype):
        # rank r sends rows [0, 1 + r) to rank 0 and the rest (5 rows in all) to rank 1
        send_sizes = [1 + rank, 4 - rank]
        receive_sizes = [1 + r if rank == 0 else 4 - r for r in (0, 1)]
        out = make(np.zeros((sum(receive_sizes), 2), int), dtype)
        dist.all_to_all_single(out, make(values(rank, (5, 2), dtype), dtype), receive_sizes, send_sizes)
        pieces = [values(r, (5, 2), dtype)[:1 + r] if rank == 0 else values(r, (5, 2), dtype)[1 + r:] for r in (0, 1)]
        expect(out, np.concatenate(pieces), dtype)

    @case(f"all_to_all-lists-{_dtype}")
    def _all_to_all_lists(rank, dtype=_dtype):
        # rank r sends a piece of shape (r + 1, j + 1) to rank j
        sends = [make(values(rank, (rank + 1, j + 1), dtype, salt=j), dtype) for j in (0, 1)]
        outs = [make(np.zeros((r + 1, rank + 1), int), dtype) for r in (0, 1)]
        dist.all_to_all(outs, sends)
        for r in (0, 1):
            expect(outs[r], values(r, (r + 1, rank + 1), dtype, salt=rank), dtype)


@case("send-recv")
def _send_recv(rank):
    if rank == 0:
        dist.send(fw.arange(5.0), dst=1)
        received = fw.zeros(2, dtype=fw.bfloat16)
        assert dist.recv(received) == 1  # from any rank: the sender is reported
        assert received.float().tolist() == [1.5, -2.0]
    else:
        received = fw.zeros(5)
        assert dist.recv(received, src=0) == 0
        assert received.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
        dist.send(fw.tensor([1.5, -2.0], dtype=fw.bfloat16), dst=0)


@case("isend-irecv")
def _isend_irecv(rank):
    other = 1 - rank
    out = fw.zeros(3, dtype=fw.int64)
    receiving = dist.irecv(out, src=other, tag=7)
    sending = dist.isend(fw.tensor([rank, 10, 20]), dst=other, tag=7)
    sending.wait()
    receiving.wait()
    assert out.tolist() == [other, 10, 20] and receiving.is_completed()


@case("batch_isend_irecv")
def _batch(rank):
    other = 1 - rank
    out = fw.zeros(2)
    works = dist.batch_isend_irecv([dist.P2POp(dist.isend, fw.full((2,), float(rank)), other),
                                    dist.P2POp(dist.irecv, out, other)])
    for work in works:
        work.wait()
    assert out.tolist() == [float(other)] * 2


@case("barrier")
def _barrier(rank):
    assert dist.barrier() is None
    work = dist.barrier(async_op=True)
    assert work.wait() and work.is_completed()


def _expect_runtime_error(text, call):
    try:
        call()
    except RuntimeError as error:
        assert str(error).startswith(text), error
    else:
        raise AssertionError(f"no error ({text})")


@case("monitored_barrier-names-the-late-rank")
def _monitored_barrier(rank):
    # rank 1 is late: it enters each failing barrier only once rank 0 has given up on it (told by a message)
    short = datetime.timedelta(milliseconds=200)
    for wait_all_ranks in (False, True):
        if rank == 0:
            _expect_runtime_error(f"[Rank 0]: Rank{'s' if wait_all_ranks else ''} 1 failed to pass monitoredBarrier "
                                  "in 200 ms", lambda: dist.monitored_barrier(timeout=short,
                                                                              wait_all_ranks=wait_all_ranks))
            dist.send(fw.ones(1), dst=1)
        else:
            dist.recv(fw.ones(1), src=0)
            _expect_runtime_error("Rank 1 successfully reached monitoredBarrier, but received errors while waiting "
                                  "for send/recv from rank 0", lambda: dist.monitored_barrier(timeout=short))
    assert dist.monitored_barrier(timeout=datetime.timedelta(seconds=60)) is None  # on time: both pass
    assert dist.monitored_barrier(wait_all_ranks=True) is None


@case("objects")
def _objects(rank):
    gathered = [None, None]
    dist.all_gather_object(gathered, {"rank": rank, "tensor": fw.tensor([rank])})
    assert [g["rank"] for g in gathered] == [0, 1] and gathered[1]["tensor"].tolist() == [1]
    objects = [f"from {rank}", rank, None]
    dist.broadcast_object_list(objects, src=1)
    assert objects == ["from 1", 1, None]
    into = [None, None] if rank == 1 else None
    dist.gather_object({"from": rank}, into, dst=1)
    assert into is None or into == [{"from": 0}, {"from": 1}]
    out = [None]
    dist.scatter_object_list(out, [f"to {r}" for r in (0, 1)] if rank == 0 else None, src=0)
    assert out == [f"to {rank}"]


@case("groups")
def _groups(rank):
    alone = dist.new_group([1])
    both = dist.new_group()
    if rank == 0:
        assert alone is dist.GroupMember.NON_GROUP_MEMBER
        assert dist.get_rank(alone) == -1 and dist.get_world_size(alone) == -1
        assert dist.all_reduce(fw.ones(1), group=alone) is None
    else:
        assert dist.get_rank(alone) == 0 and dist.get_world_size(alone) == 1
        tensor = fw.ones(2)
        dist.all_reduce(tensor, group=alone)
        dist.broadcast(tensor, src=1, group=alone)  # src: a world rank
        assert tensor.tolist() == [1.0, 1.0] and dist.get_process_group_ranks(alone) == [1]
        dist.destroy_process_group(alone)
    tensor = fw.full((2,), float(rank))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=both)
    assert tensor.tolist() == [1.0, 1.0] and dist.get_world_size(both) == 2
    dist.destroy_process_group(both)


@case("state-and-errors")
def _state(rank):
    assert dist.is_initialized() and dist.get_backend() == "mpi" and dist.get_rank() == rank
    assert dist.get_world_size() == 2
    try:
        dist.init_process_group("mpi")
    except ValueError as error:
        assert str(error) == "trying to initialize the default process group twice!"
    else:
        raise AssertionError("initialised twice")
    try:
        dist.all_gather([fw.zeros(2)], fw.zeros(2))
    except ValueError as error:
        assert "one tensor per rank" in str(error), error
    else:
        raise AssertionError("a list of the wrong length was accepted")
    try:
        dist.all_gather_into_tensor(fw.zeros(3), fw.zeros(2))
    except ValueError as error:
        assert "world_size (2) times" in str(error), error
    else:
        raise AssertionError("an output of the wrong size was accepted")


if __name__ == "__main__":
    run_cases(CASES)
