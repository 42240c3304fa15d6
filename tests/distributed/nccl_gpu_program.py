"""The 'nccl' backend with the real NCCL on a real GPU, as a world of one (plain `python`, MPI's singleton
start): run by test_nccl.py's GPU test, which is skipped without a GPU and nccl4py. Prints "ok" at the end;
an assertion names what differed."""
import numpy as np

import framework as fw
import framework.distributed as dist
import framework.nn.functional as F
from framework.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("nccl")
assert dist.get_backend() == "nccl" and dist.get_world_size() == 1

tensor = fw.arange(6.0, device="cuda")
dist.all_reduce(tensor, op=dist.ReduceOp.AVG)
assert tensor.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], tensor.tolist()
halves = fw.tensor([1.5, -2.0, 256.0], dtype=fw.bfloat16, device="cuda")
dist.all_reduce(halves, op=dist.ReduceOp.MAX)
assert halves.float().tolist() == [1.5, -2.0, 256.0], halves.float().tolist()
strided = fw.arange(6, device="cuda").reshape(2, 3).t()
work = dist.all_reduce(strided, op=dist.ReduceOp.PRODUCT, async_op=True)
assert work.wait() and strided.tolist() == [[0, 3], [1, 4], [2, 5]], strided.tolist()
fw.cuda.synchronize()
assert work.is_completed()
gathered = fw.zeros(6, device="cuda")
dist.all_gather_into_tensor(gathered, fw.arange(6.0, device="cuda"))
assert gathered.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
scattered = fw.zeros(4, device="cuda")
dist.reduce_scatter_tensor(scattered, fw.full((4,), 2.0, device="cuda"))
assert scattered.tolist() == [2.0] * 4
flags = fw.tensor([True, False], device="cuda")
dist.broadcast(flags, src=0)
assert flags.tolist() == [True, False]
exchanged = fw.zeros(3, dtype=fw.int64, device="cuda")
dist.all_to_all_single(exchanged, fw.tensor([7, 8, 9], device="cuda"))  # a send and a receive to itself
assert exchanged.tolist() == [7, 8, 9]
dist.barrier()

fw.manual_seed(0)
model = fw.nn.Sequential(fw.nn.Linear(6, 16), fw.nn.Tanh(), fw.nn.Linear(16, 4)).to("cuda")
alone = fw.nn.Sequential(fw.nn.Linear(6, 16), fw.nn.Tanh(), fw.nn.Linear(16, 4)).to("cuda")
alone.load_state_dict(model.state_dict())
ddp = DDP(model, device_ids=[0], bucket_cap_mb=0.0005)
optimizers = [fw.optim.SGD(m.parameters(), lr=0.1) for m in (ddp, alone)]
rng = np.random.RandomState(0)
for _ in range(3):
    x = fw.tensor(rng.randn(8, 6).astype(np.float32), device="cuda")
    y = fw.tensor(rng.randint(0, 4, 8), device="cuda")
    for module, optimizer in zip((ddp, alone), optimizers):
        optimizer.zero_grad()
        F.cross_entropy(module(x), y).backward()
        optimizer.step()
for ours, theirs in zip(model.parameters(), alone.parameters()):
    assert np.array_equal(ours.detach().cpu().numpy(), theirs.detach().cpu().numpy())
dist.destroy_process_group()
print("ok")
