"""`framework.distributed`: PyTorch's torch.distributed API over MPI (through mpi4py) for CPU tensors and
over NCCL (through nccl4py) for `cuda` tensors.

    mpiexec -n 2 python train.py        # each process: init_process_group("mpi" or "nccl"), then collectives

mpi4py (and nccl4py) load at init_process_group, not at `import framework`. pip install
"framework[distributed]" brings mpi4py and the mpich wheel (its mpiexec lands next to the Python
interpreter), and on Linux nccl4py. MPI launches the processes and carries NCCL's unique id.
"""
from .all_to_all import all_to_all, all_to_all_single
from .buffers import Work
from .collectives import (all_gather, all_gather_into_tensor, all_reduce, barrier, broadcast, gather, reduce,
                          reduce_scatter, reduce_scatter_tensor, scatter)
from .monitored_barrier import monitored_barrier
from .objects import all_gather_object, broadcast_object_list, gather_object, scatter_object_list
from .point_to_point import P2POp, batch_isend_irecv, irecv, isend, recv, send
from .process_group import (Backend, GroupMember, ProcessGroup, destroy_process_group, get_backend, get_global_rank,
                            get_group_rank, get_process_group_ranks, get_rank, get_world_size, init_process_group,
                            is_available, is_gloo_available, is_initialized, is_mpi_available, is_nccl_available,
                            new_group)
from .reduce_op import ReduceOp

group = GroupMember

__all__ = ["Backend", "GroupMember", "P2POp", "ProcessGroup", "ReduceOp", "Work", "all_gather",
           "all_gather_into_tensor", "all_gather_object", "all_reduce", "all_to_all", "all_to_all_single", "barrier",
           "batch_isend_irecv", "broadcast", "broadcast_object_list", "destroy_process_group", "gather",
           "gather_object", "get_backend", "get_global_rank", "get_group_rank",
           "get_process_group_ranks", "get_rank", "get_world_size", "init_process_group", "irecv",
           "is_available", "is_gloo_available", "is_initialized", "is_mpi_available", "is_nccl_available",
           "isend", "monitored_barrier", "new_group", "recv", "reduce", "reduce_scatter", "reduce_scatter_tensor",
           "scatter", "scatter_object_list", "send"]
