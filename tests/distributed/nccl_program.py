"""The 'nccl' backend on 2 ranks, against a fake NCCL (fake_nccl.py): every collective on `cuda` tensors (served
by Triton's interpreter from host memory) against the NumPy references of collectives_program.py, the argument
checks, and DistributedDataParallel on `cuda` against one process on the whole batch. Run by test_nccl.py as
`mpiexec -n 2 python nccl_program.py` (cases: case_runner.py). Sizes stay tiny: each kernel is interpreted.
"""
import numpy as np

import framework as fw
import framework.distributed as dist
import framework.nn.functional as F
from framework.nn.parallel import DistributedDataParallel as DDP
from tests.distributed import fake_nccl
from tests.distributed.case_runner import Cases, run_cases
from tests.distributed.collectives_program import as_numpy, floating, reduced, values
from tests.nn.parallel.ddp_program import batches, half, mlp

CASES = case = Cases()
DTYPES = ["float32", "float64", "bfloat16", "float16", "int64", "int32", "uint8", "bool"]
OPS = ["SUM", "AVG", "PRODUCT", "MIN", "MAX"]


def make(array, dtype, strided=False):
    """A cuda tensor holding `array`; strided: a non-contiguous (transposed) view holding the same values."""
    array = np.asarray(array)
    if strided and array.ndim == 2:
        return fw.tensor(np.ascontiguousarray(array.T)).to(getattr(fw, dtype)).to("cuda").t()
    return fw.tensor(array).to(getattr(fw, dtype)).to("cuda")


def expect(tensor, reference, dtype):
    reference = np.asarray(reference)
    reference = reference if dtype == "bool" else reference.astype(np.float64)
    assert tensor.device.type == "cuda" and tensor.dtype == getattr(fw, dtype), (tensor.device, tensor.dtype)
    got = as_numpy(tensor.cpu())
    assert got.shape == reference.shape and np.array_equal(got.astype(reference.dtype), reference), \
        f"got {got.tolist()}, expected {reference.tolist()}"


def zeros(shape, dtype):
    return make(np.zeros(shape, bool if dtype == "bool" else int), dtype)


def expect_error(kind, text, call):
    try:
        call()
    except kind as error:
        assert text in str(error), error
    else:
        raise AssertionError(f"no {kind.__name__} ({text})")


for _dtype in DTYPES:
    for _op in OPS:
        if _op == "AVG" and not floating(_dtype):
            continue

        @case(f"all_reduce-{_dtype}-{_op}")
        def _all_reduce(rank, dtype=_dtype, op=_op):
            tensor = make(values(rank, (3, 4), dtype), dtype)
            version = tensor._version
            assert dist.all_reduce(tensor, op=getattr(dist.ReduceOp, op)) is None
            expect(tensor, reduced([values(r, (3, 4), dtype) for r in (0, 1)], op, dtype), dtype)
            assert tensor._version > version

for _dtype in ("float32", "bfloat16"):
    @case(f"all_reduce-{_dtype}-strided-async")
    def _all_reduce_strided(rank, dtype=_dtype):
        tensor = make(values(rank, (3, 4), dtype), dtype, strided=True)
        work = dist.all_reduce(tensor, op=dist.ReduceOp.MAX, async_op=True)
        assert isinstance(work, dist.Work) and work.wait() is True and work.is_completed()
        expect(tensor, reduced([values(r, (3, 4), dtype) for r in (0, 1)], "MAX", dtype), dtype)


@case("all_reduce-bfloat16-rounds-once")
def _bf16_rounding(rank):
    tensor = make(np.array([256.0, 1.0]) if rank == 0 else np.array([1.0, 0.0]), "bfloat16")
    dist.all_reduce(tensor)
    assert as_numpy(tensor.cpu()).tolist() == [256.0, 1.0]


@case("all_reduce-0-dim-and-empty")
def _all_reduce_small(rank):
    scalar, empty = fw.tensor(float(rank + 2), device="cuda"), fw.zeros(0, 3, device="cuda")
    dist.all_reduce(scalar, op=dist.ReduceOp.PRODUCT)
    dist.all_reduce(empty)
    assert scalar.item() == 6.0 and empty.shape == (0, 3)


for _dtype in ("float32", "bfloat16", "int64", "bool"):
    for _src in (0, 1):
        @case(f"broadcast-{_dtype}-from-{_src}")
        def _broadcast(rank, dtype=_dtype, src=_src):
            tensor = make(values(rank, (4, 3), dtype), dtype, strided=True)
            dist.broadcast(tensor, src=src)
            expect(tensor, values(src, (4, 3), dtype), dtype)

    @case(f"all_gather-{_dtype}")
    def _all_gather(rank, dtype=_dtype):
        outputs = [zeros((2, 3), dtype) for _ in range(2)]
        dist.all_gather(outputs, make(values(rank, (2, 3), dtype), dtype, strided=True))
        for r in (0, 1):
            expect(outputs[r], values(r, (2, 3), dtype), dtype)

    @case(f"all_gather_into_tensor-{_dtype}")
    def _all_gather_into(rank, dtype=_dtype):
        stacked, concatenated = zeros((2, 2, 3), dtype), zeros((4, 3), dtype)
        work = dist.all_gather_into_tensor(stacked, make(values(rank, (2, 3), dtype), dtype), async_op=True)
        dist.all_gather_into_tensor(concatenated, make(values(rank, (2, 3), dtype), dtype))
        work.wait()
        expect(stacked, np.stack([values(r, (2, 3), dtype) for r in (0, 1)]), dtype)
        expect(concatenated, np.concatenate([values(r, (2, 3), dtype) for r in (0, 1)]), dtype)

    @case(f"gather-{_dtype}")
    def _gather(rank, dtype=_dtype):
        into = [zeros(3, dtype) for _ in range(2)] if rank == 1 else None
        dist.gather(make(values(rank, 3, dtype), dtype), into, dst=1)
        if rank == 1:
            for r in (0, 1):
                expect(into[r], values(r, 3, dtype), dtype)

    @case(f"scatter-{_dtype}")
    def _scatter(rank, dtype=_dtype):
        pieces = [make(values(9, (2, 2), dtype, salt=r), dtype) for r in (0, 1)] if rank == 0 else None
        out = zeros((2, 2), dtype)
        dist.scatter(out, pieces, src=0)
        expect(out, values(9, (2, 2), dtype, salt=rank), dtype)

for _dtype in ("float32", "bfloat16", "int32"):
    for _op in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
        if _op == "AVG" and not floating(_dtype):
            continue

        @case(f"reduce_scatter_tensor-{_dtype}-{_op}")
        def _reduce_scatter(rank, dtype=_dtype, op=_op):
            out = zeros(3, dtype)
            dist.reduce_scatter_tensor(out, make(values(rank, 6, dtype), dtype), op=getattr(dist.ReduceOp, op))
            expect(out, reduced([values(r, 6, dtype) for r in (0, 1)], op, dtype)[3 * rank:3 * rank + 3], dtype)

        @case(f"reduce-{_dtype}-{_op}-to-1")
        def _reduce(rank, dtype=_dtype, op=_op):
            tensor = make(values(rank, (2, 3), dtype), dtype, strided=True)
            dist.reduce(tensor, dst=1, op=getattr(dist.ReduceOp, op))
            mine = values(rank, (2, 3), dtype)
            expect(tensor, reduced([values(r, (2, 3), dtype) for r in (0, 1)], op, dtype) if rank == 1 else mine,
                   dtype)


for _dtype in ("float32", "int64"):
    @case(f"reduce_scatter-list-{_dtype}")
    def _reduce_scatter_list(rank, dtype=_dtype):
        out = zeros(3, dtype)
        dist.reduce_scatter(out, [make(values(rank, 3, dtype, salt=j), dtype) for j in (0, 1)])
        expect(out, sum(values(r, 3, dtype, salt=rank) for r in (0, 1)), dtype)

    @case(f"all_to_all_single-{_dtype}")
    def _all_to_all_single(rank, dtype=_dtype):
        even = zeros((4, 3), dtype)
        dist.all_to_all_single(even, make(values(rank, (4, 3), dtype), dtype, strided=True), async_op=True).wait()
        expect(even, np.concatenate([values(r, (4, 3), dtype)[2 * rank:2 * rank + 2] for r in (0, 1)]), dtype)
        send_sizes = [1 + rank, 4 - rank]  # uneven: rank r sends rows [0, 1 + r) to rank 0, the rest to rank 1
        receive_sizes = [1 + r if rank == 0 else 4 - r for r in (0, 1)]
        uneven = zeros((sum(receive_sizes), 2), dtype)
        dist.all_to_all_single(uneven, make(values(rank, (5, 2), dtype), dtype), receive_sizes, send_sizes)
        pieces = [values(r, (5, 2), dtype)[:1 + r] if rank == 0 else values(r, (5, 2), dtype)[1 + r:] for r in (0, 1)]
        expect(uneven, np.concatenate(pieces), dtype)

    @case(f"all_to_all-lists-{_dtype}")
    def _all_to_all_lists(rank, dtype=_dtype):
        sends = [make(values(rank, (rank + 1, j + 1), dtype, salt=j), dtype) for j in (0, 1)]
        outs = [zeros((r + 1, rank + 1), dtype) for r in (0, 1)]
        dist.all_to_all(outs, sends)
        for r in (0, 1):
            expect(outs[r], values(r, (r + 1, rank + 1), dtype, salt=rank), dtype)


@case("send-recv-isend-irecv")
def _point_to_point(rank):
    other = 1 - rank
    if rank == 0:
        dist.send(fw.arange(5.0, device="cuda"), dst=1)
    else:
        received = fw.zeros(5, device="cuda")
        assert dist.recv(received, src=0) == 0
        assert received.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    out = fw.zeros(3, dtype=fw.int64, device="cuda")
    works = dist.batch_isend_irecv([dist.P2POp(dist.isend, fw.tensor([rank, 10, 20], device="cuda"), other),
                                    dist.P2POp(dist.irecv, out, other)])
    for work in works:
        work.wait()
    assert out.tolist() == [other, 10, 20]
    expect_error(ValueError, "pass src", lambda: dist.recv(fw.zeros(1, device="cuda")))


@case("barrier-and-objects")
def _barrier(rank):
    assert dist.barrier() is None and dist.barrier(async_op=True).wait()
    gathered = [None, None]
    dist.all_gather_object(gathered, {"rank": rank})  # objects go over the group's MPI communicator
    assert gathered == [{"rank": 0}, {"rank": 1}]


@case("groups")
def _groups(rank):
    alone, both = dist.new_group([1]), dist.new_group()  # each gets its own NCCL communicator
    if rank == 1:
        tensor = fw.ones(2, device="cuda")
        dist.all_reduce(tensor, group=alone)
        assert tensor.tolist() == [1.0, 1.0] and dist.get_backend(alone) == "nccl"
        dist.destroy_process_group(alone)
    tensor = fw.full((2,), float(rank), device="cuda")
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=both)
    assert tensor.tolist() == [1.0, 1.0]
    dist.destroy_process_group(both)


@case("cpu-and-gpu-tensors-on-one-group")
def _both(rank):
    both = dist.new_group(backend="cpu:mpi,cuda:nccl")  # PyTorch's spelling of a backend per device
    assert dist.get_backend(both) == "cpu:mpi,cuda:nccl"
    on_cpu, on_gpu = fw.full((2,), float(rank + 1)), fw.full((2,), float(rank + 1), device="cuda")
    dist.all_reduce(on_cpu, group=both)
    dist.all_reduce(on_gpu, op=dist.ReduceOp.MAX, group=both)
    assert on_cpu.tolist() == [3.0, 3.0] and on_gpu.tolist() == [2.0, 2.0]
    assert dist.barrier(group=both) is None
    expect_error(ValueError, "mpi moves cpu tensors, not cuda ones", lambda: dist.new_group(backend="cuda:mpi"))
    dist.destroy_process_group(both)


@case("every-call-on-the-framework-stream")
def _streams(rank):
    from framework.backends.cuda.runtime import runtime
    start = len(fake_nccl.CALLS)
    dist.all_reduce(fw.ones(2, device="cuda"))
    dist.broadcast(fw.ones(2, device="cuda"), src=0)
    calls = fake_nccl.CALLS[start:]
    assert [name for name, _ in calls] == ["all_reduce", "broadcast"]
    assert {stream for _, stream in calls} == {getattr(runtime(), "stream_handle", 0)}


@case("argument-errors")
def _errors(rank):
    expect_error(RuntimeError, "No backend type associated with device type cpu", lambda: dist.all_reduce(fw.ones(2)))
    expect_error(RuntimeError, "Tensors must be CUDA and dense",
                 lambda: dist.all_gather_into_tensor(fw.zeros(4, device="cuda"), fw.ones(2)))
    expect_error(RuntimeError, "Tensors must be CUDA and dense",
                 lambda: dist.all_gather([fw.zeros(2), fw.zeros(2)], fw.ones(2, device="cuda")))
    expect_error(ValueError, "same dtype", lambda: dist.all_gather_into_tensor(
        fw.zeros(4, device="cuda", dtype=fw.float64), fw.ones(2, device="cuda")))
    expect_error(ValueError, "world_size (2) times",
                 lambda: dist.reduce_scatter_tensor(fw.zeros(3, device="cuda"), fw.ones(4, device="cuda")))
    expect_error(ValueError, "floating point",
                 lambda: dist.all_reduce(fw.ones(2, dtype=fw.int64, device="cuda"), op=dist.ReduceOp.AVG))
    expect_error(RuntimeError, "Cannot use ReduceOp.BAND with NCCL",
                 lambda: dist.all_reduce(fw.ones(2, dtype=fw.int64, device="cuda"), op=dist.ReduceOp.BAND))
    expect_error(RuntimeError, "Unsupported data type for NCCL process group: framework.int16",
                 lambda: dist.all_reduce(fw.ones(2, dtype=fw.int16, device="cuda")))
    moved = fw.full((2,), float(rank), dtype=fw.int16, device="cuda")  # moves that reduce nothing take any dtype
    dist.broadcast(moved, src=1)
    assert moved.tolist() == [1, 1]
    expect_error(RuntimeError, "No backend type associated with device type cpu", lambda: DDP(fw.nn.Linear(2, 2)))
    expect_error(ValueError, "one GPU per process, cuda:0",
                 lambda: DDP(fw.nn.Linear(2, 2).to("cuda"), device_ids=["cuda:1"]))


@case("debug-mode-catches-mismatched-shapes")
def _mismatch(rank):
    import os
    os.environ["TORCH_DISTRIBUTED_DEBUG"] = "DETAIL"  # read at every collective
    try:
        expect_error(RuntimeError, "Detected mismatch between collectives on ranks",
                     lambda: dist.all_reduce(fw.ones(3 + rank, device="cuda")))
        tensor = fw.ones(3, device="cuda")
        dist.all_reduce(tensor)
        assert tensor.tolist() == [2.0] * 3
    finally:
        del os.environ["TORCH_DISTRIBUTED_DEBUG"]


@case("ddp-equivalence")
def _ddp(rank):
    model = mlp(seed=rank + 1).to("cuda")
    ddp = DDP(model, bucket_cap_mb=0.0005, device_ids=[0])  # several buckets, each reduced as it fills
    optimizer = fw.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    steps = [(x.to("cuda"), y.to("cuda")) for x, y in batches(2)]
    for x, y in steps:
        optimizer.zero_grad()
        F.cross_entropy(ddp(half(x, rank)), half(y, rank)).backward()
        optimizer.step()
    mine = np.concatenate([p.detach().cpu().numpy().ravel() for p in model.parameters()])
    everyone = [None, None]
    dist.all_gather_object(everyone, mine)
    assert np.array_equal(everyone[0], everyone[1])
    reference = mlp(1)  # rank 0's initial parameters, on the whole batch, on the CPU
    optimizer = fw.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for x, y in steps:
        optimizer.zero_grad()
        F.cross_entropy(reference(x.cpu()), y.cpu()).backward()
        optimizer.step()
    expected = np.concatenate([p.detach().numpy().ravel() for p in reference.parameters()])
    assert np.abs(mine - expected).max() <= 1e-5, np.abs(mine - expected).max()


@case("ddp-no_sync-and-find_unused_parameters")
def _ddp_options(rank):
    from tests.nn.parallel.ddp_program import Branches
    model = Branches().to("cuda")
    ddp = DDP(model, find_unused_parameters=True, bucket_cap_mb=0.00001)
    x = fw.ones(4, 3, device="cuda") * (rank + 1)
    with ddp.no_sync():  # accumulated locally: differs between the ranks
        ddp(x, use_extra=True).sum().backward()
    ddp(x, use_extra=rank == 0).sum().backward()  # `extra` used on rank 0 only, `never` by no rank
    assert model.never.weight.grad is None
    grads = [None, None]
    dist.all_gather_object(grads, [p.grad.cpu().numpy() for p in (model.trunk.weight, model.extra.weight)])
    for mine, theirs in zip(*grads):
        assert np.array_equal(mine, theirs)
    reference = Branches()  # the same sums on the CPU: both ranks' inputs, halved, plus each rank's local pass
    for r in (0, 1):
        xr = fw.ones(4, 3) * (r + 1)
        reference.extra(reference.trunk(xr)).sum().backward()
        (reference.extra(reference.trunk(xr)) if r == 0 else reference.trunk(xr)).sum().backward()
    # rank 1 did not use `extra` in the synced pass: it contributes what no_sync accumulated (PyTorch's rule)
    for got, expected in zip(grads[0], (reference.trunk.weight.grad, reference.extra.weight.grad)):
        assert np.abs(got - expected.numpy() / 2).max() <= 1e-5, (got, expected.numpy() / 2)


if __name__ == "__main__":
    fake_nccl.install()  # here only: the pytest process that imports this file for CASES keeps no fake
    run_cases(CASES, backend="nccl")
