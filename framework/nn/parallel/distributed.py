"""DistributedDataParallel: one model replica per process, gradients averaged across processes.

Construction makes every rank start from rank 0's parameters and buffers; each backward pass
averages the gradients in buckets while it runs (reducer.py), so after `optimizer.step()` all
replicas stay identical. Inputs are each rank's own share of the global batch (see
framework.utils.data.distributed.DistributedSampler). CPU modules over the 'mpi' backend, `cuda` modules over
'nccl' (the framework drives one GPU per process, cuda:0: launch one process per GPU).
"""
import contextlib

from ... import distributed
from ...autograd.grad_mode import is_grad_enabled, no_grad
from ...tensor import Tensor
from ..modules.module import Module
from .reducer import Reducer


def _tensors_in(value):
    """The tensors in a forward's output (nested tuples, lists and dicts)."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors_in(item)


def _leaves_reached(outputs):
    """The leaves whose gradients a backward from `outputs` would reach (ids of the tensors)."""
    from ...autograd.graph import AccumulateGrad
    seen, leaves = set(), set()
    stack = [t.grad_fn for t in _tensors_in(outputs) if t.grad_fn is not None]
    stack += [t._grad_accumulator() for t in _tensors_in(outputs) if t.grad_fn is None and t.requires_grad]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is AccumulateGrad:
            leaves.add(id(node.variable))
        stack.extend(edge[0] for edge in node._edges if edge is not None and edge[0] is not None)
    return leaves


def _index(device):
    """The GPU index in a device_ids entry (0, "cuda:0", a framework.device)."""
    from ...device import device as as_device
    return device if isinstance(device, int) else as_device(device).index or 0


class DistributedDataParallel(Module):
    """PyTorch's DistributedDataParallel for CPU and `cuda` modules. `dim`, `check_reduction`,
    `gradient_as_bucket_view` and `static_graph` are accepted and change nothing here (averaged gradients are
    copied into `.grad`); `device_ids`/`output_device` may name the module's one GPU (cuda:0), or be None."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True, init_sync=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **unsupported):
        super().__init__()
        if unsupported:
            raise TypeError(f"DistributedDataParallel does not support {', '.join(sorted(unsupported))} here")
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter that "
                               "requires a gradient.")
        devices = {p.device.type for p in module.parameters()} | {b.device.type for b in module.buffers()}
        if len(devices) != 1:
            raise RuntimeError(f"DistributedDataParallel's module must be on one device, got parameters or buffers "
                               f"on {sorted(devices)}")
        group = distributed.process_group._group(process_group)
        if group is not None:
            distributed.process_group.device_backend(group, params[0])  # the group can move them: else its error
        if devices == {"cuda"} and (any(_index(d) != 0 for d in device_ids or ())
                                    or output_device is not None and _index(output_device) != 0):
            raise ValueError(f"DistributedDataParallel: the framework drives one GPU per process, cuda:0 (make each "
                             f"process see its own GPU with CUDA_VISIBLE_DEVICES); got device_ids {device_ids}, "
                             f"output_device {output_device}")
        if devices == {"cpu"} and (device_ids is not None or output_device is not None):
            raise ValueError("DistributedDataParallel device_ids and output_device arguments only work with "
                             f"single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                             f"{device_ids}, output_device {output_device}, and module parameters {sorted(devices)}.")
        self.module = module
        self.process_group = process_group
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        self.require_backward_grad_sync = True
        self._check_same_parameters()
        if init_sync:
            self._broadcast(list(module.parameters()) + list(module.buffers()))
        self.reducer = Reducer(params, self.bucket_bytes_cap, process_group, find_unused_parameters)
        self._params = params

    def _check_same_parameters(self):
        """Every rank must wrap the same parameters: compare shapes and dtypes with rank 0's (a mismatch would
        otherwise make the collectives read past the smaller buffers)."""
        mine = [(name, tuple(p.shape), str(p.dtype)) for name, p in self.module.named_parameters()]
        everyone = [None] * distributed.get_world_size(self.process_group)
        distributed.all_gather_object(everyone, mine, group=self.process_group)
        for rank, theirs in enumerate(everyone):
            if theirs != everyone[0]:
                different = next((a, b) for a, b in zip(everyone[0] + [None], theirs + [None]) if a != b)
                raise RuntimeError(f"DistributedDataParallel: rank {rank}'s parameters differ from rank 0's: "
                                   f"{different[1]} where rank 0 has {different[0]}")

    def _broadcast(self, tensors):
        with no_grad():
            for tensor in tensors:
                distributed.broadcast(tensor, group=self.process_group, group_src=0)

    def forward(self, *inputs, **kwargs):
        if self.broadcast_buffers and distributed.get_world_size(self.process_group) > 1:
            self._broadcast(list(self.module.buffers()))
        output = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            unused = ()
            if self.find_unused_parameters:
                reached = _leaves_reached(output)
                unused = [i for i, p in enumerate(self._params) if id(p) not in reached]
            self.reducer.prepare_for_backward(unused)
        else:
            self.reducer.expecting = False
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes of forwards run inside accumulate gradients locally; the first one outside averages
        the accumulated sum."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous
