"""A world of one, started by plain `python` (no mpiexec), over MPI then over the fake NCCL: run by
test_process_group.py.
Prints one line per check; the test compares them."""
import framework as fw
import framework.distributed as dist
from tests.distributed import fake_nccl

dist.init_process_group(backend="mpi", world_size=1, rank=0)
tensor = fw.arange(4.0)
dist.all_reduce(tensor, op=dist.ReduceOp.AVG)
print("world", dist.get_rank(), dist.get_world_size(), dist.get_backend(), tensor.tolist())
dist.destroy_process_group()
print("destroyed", dist.is_initialized())
try:
    dist.init_process_group(backend="mpi", world_size=3)
except ValueError as error:
    print("world_size", "MPI started 1 processes" in str(error))
try:
    dist.init_process_group(backend="nccl")
except RuntimeError as error:
    print("nccl", "needs nccl4py" in str(error))
fake_nccl.install()  # a world of one over the fake NCCL: cuda tensors served by Triton's interpreter
dist.init_process_group(backend="nccl")
tensor = fw.arange(4.0, device="cuda")
dist.all_reduce(tensor, op=dist.ReduceOp.AVG)
dist.broadcast(tensor, src=0)
print("nccl world", dist.get_world_size(), dist.get_backend(), tensor.tolist(), fake_nccl.CALLS[-2:])
dist.destroy_process_group()
