"""DistributedDataParallel on 2 ranks against one process on the whole batch: run by
test_distributed_data_parallel.py as `mpiexec -n 2 python ddp_program.py` (cases: case_runner.py).

Each rank builds its replica from a different seed (construction must broadcast rank 0's) and
trains on its half of every global batch; the reference trains the seed-0 model on whole batches
in the same process. Losses are means, so the average of the halves' gradients is the whole
batch's gradient: parameters agree to float32 rounding, and the ranks' agree exactly.
"""
import numpy as np

import framework as fw
import framework.distributed as dist
import framework.nn.functional as F
from framework import nn
from framework.nn.parallel import DistributedDataParallel as DDP
from tests.distributed.case_runner import Cases, run_cases

CASES = case = Cases()
GLOBAL_BATCH, STEPS = 16, 5


def mlp(seed):
    fw.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


def batches(count, seed=0):
    rng = np.random.RandomState(seed)
    return [(fw.tensor(rng.randn(GLOBAL_BATCH, 6).astype(np.float32)), fw.tensor(rng.randint(0, 4, GLOBAL_BATCH)))
            for _ in range(count)]


def half(tensor, rank):
    size = tensor.shape[0] // 2
    return tensor[rank * size:(rank + 1) * size]


def flat(module):
    return np.concatenate([p.detach().numpy().ravel() for p in module.parameters()])


def assert_ranks_identical(module):
    everyone = [None, None]
    dist.all_gather_object(everyone, flat(module))
    assert np.array_equal(everyone[0], everyone[1]), np.abs(everyone[0] - everyone[1]).max()


def assert_close(got, expected, tolerance=2e-6):
    difference = np.abs(got - expected).max()
    assert difference <= tolerance * max(1.0, np.abs(expected).max()), f"differs by {difference}"


for _cap in (None, 0.0005):  # 25 MB: one bucket; 0.0005 MB: a bucket per parameter or two
    @case(f"equivalence-bucket_cap_mb={_cap}")
    def _equivalence(rank, cap=_cap):
        model = mlp(seed=rank + 1)
        ddp = DDP(model, bucket_cap_mb=cap)
        assert np.array_equal(flat(model), flat(mlp(1)))  # rank 0's initial parameters everywhere
        assert (len(ddp.reducer.buckets) == 1) == (cap is None)
        optimizer = fw.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
        steps = batches(STEPS)
        for x, y in steps:
            optimizer.zero_grad()
            F.cross_entropy(ddp(half(x, rank)), half(y, rank)).backward()
            optimizer.step()
        assert_ranks_identical(model)
        reference = mlp(0)
        reference.load_state_dict(mlp(1).state_dict())
        optimizer = fw.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
        for x, y in steps:
            optimizer.zero_grad()
            F.cross_entropy(reference(x), y).backward()
            optimizer.step()
        assert_close(flat(model), flat(reference))


@case("no_sync-accumulation")
def _no_sync(rank):
    model = mlp(0)
    ddp = DDP(model)
    micro = batches(3, seed=1)
    with ddp.no_sync():
        for x, y in micro[:2]:
            F.cross_entropy(ddp(half(x, rank)), half(y, rank)).backward()
    local = [None, None]
    dist.all_gather_object(local, model[0].weight.grad.numpy().copy())
    assert not np.array_equal(local[0], local[1])  # not averaged inside no_sync
    x, y = micro[2]
    F.cross_entropy(ddp(half(x, rank)), half(y, rank)).backward()
    reference = mlp(0)
    for x, y in micro:
        F.cross_entropy(reference(x), y).backward()
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        assert_close(ours.grad.numpy(), theirs.grad.numpy())
    assert_ranks_identical(model)


class Branches(nn.Module):
    """`extra` is used on rank 0 only; `never` by no rank."""

    def __init__(self):
        super().__init__()
        fw.manual_seed(0)
        self.trunk, self.extra, self.never = nn.Linear(3, 2), nn.Linear(2, 2), nn.Linear(2, 2)

    def forward(self, x, use_extra):
        out = self.trunk(x)
        return self.extra(out) if use_extra else out


@case("find_unused_parameters")
def _find_unused(rank):
    model = Branches()
    ddp = DDP(model, find_unused_parameters=True, bucket_cap_mb=0.00001)
    x = fw.ones(4, 3) * (rank + 1)
    for _ in range(2):  # twice: the second pass must not be blocked by the first
        model.zero_grad()
        ddp(x, use_extra=rank == 0).sum().backward()
    assert model.never.weight.grad is None and model.never.bias.grad is None  # untouched: no rank used it
    extra = [None, None]
    dist.all_gather_object(extra, model.extra.weight.grad.numpy().copy())
    assert np.array_equal(extra[0], extra[1])
    reference = Branches()
    reference.extra(reference.trunk(fw.ones(4, 3))).sum().backward()
    assert_close(model.extra.weight.grad.numpy(), reference.extra.weight.grad.numpy() / 2)  # rank 1 adds zeros


@case("unused-parameters-without-find_unused_parameters-raise-at-the-next-forward")
def _unused_error(rank):
    model = Branches()
    ddp = DDP(model)
    ddp(fw.ones(2, 3), use_extra=False).sum().backward()
    try:
        ddp(fw.ones(2, 3), use_extra=False)
    except RuntimeError as error:
        assert str(error).startswith("Expected to have finished reduction in the prior iteration"), error
        assert "rank " + str(rank) in str(error)
    else:
        raise AssertionError("no error")


@case("buffers-state_dict-and-module")
def _buffers(rank):
    fw.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model[1].running_mean.fill_(float(rank))  # construction broadcasts rank 0's buffers
    ddp = DDP(model)
    assert ddp.module is model and model[1].running_mean.tolist() == [0.0] * 4
    assert list(ddp.state_dict()) == ["module." + key for key in model.state_dict()]
    ddp(fw.randn(5, 3) + rank).sum().backward()  # each rank's own batch statistics
    model.eval()
    with fw.no_grad():
        ddp(fw.ones(1, 3))  # a forward starts with rank 0's buffers (broadcast_buffers=True)
    everyone = [None, None]
    dist.all_gather_object(everyone, model[1].running_mean.tolist())
    assert everyone[0] == everyone[1]


@case("checkpoint-saved-on-rank-0-loaded-everywhere")
def _checkpoint(rank):
    import os
    import tempfile
    model = mlp(seed=rank + 5)
    ddp = DDP(model)
    x, y = batches(1)[0]
    F.cross_entropy(ddp(half(x, rank)), half(y, rank)).backward()
    folder = [tempfile.mkdtemp() if rank == 0 else None]
    dist.broadcast_object_list(folder, src=0)
    path = os.path.join(folder[0], "ddp.safetensors")
    if rank == 0:
        fw.save(ddp.state_dict(), path)
    dist.barrier()  # written (atomically) before anyone reads
    fresh = DDP(mlp(seed=99))
    fresh.load_state_dict(fw.load(path))
    assert np.array_equal(flat(fresh.module), flat(model))
    dist.barrier()
    if rank == 0:
        os.remove(path)
        os.rmdir(folder[0])


@case("construction-errors")
def _errors(rank):
    try:
        DDP(nn.Linear(2, 3 + rank))
    except RuntimeError as error:
        assert "rank 1's parameters differ from rank 0's" in str(error), error
    else:
        raise AssertionError("different parameters accepted")
    try:
        DDP(nn.Linear(2, 2), device_ids=[0])
    except ValueError as error:
        assert "device_ids and output_device" in str(error)
    else:
        raise AssertionError("device_ids accepted for a CPU module")
    try:
        DDP(nn.Linear(2, 2).to("cuda"))
    except RuntimeError as error:
        assert "cuda tensors need the 'nccl' backend" in str(error), error
    else:
        raise AssertionError("a cuda module accepted by an 'mpi' group")
    frozen = nn.Linear(2, 2).requires_grad_(False)
    try:
        DDP(frozen)
    except RuntimeError as error:
        assert "doesn't have any parameter that requires a gradient" in str(error)
    else:
        raise AssertionError("no error")


if __name__ == "__main__":
    run_cases(CASES)
