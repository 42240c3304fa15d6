"""The gradient reducer of DistributedDataParallel: buckets of gradients averaged across ranks
while the backward pass is still running.

Parameters are cut into buckets of about `bucket_cap_mb` in reverse registration order (the
order backward reaches them). Each parameter's post-accumulate-grad hook copies its fresh
`.grad` into its bucket's flat buffer; once every parameter of a bucket is in, the bucket's
average is started as an asynchronous all_reduce, so communication overlaps the rest of the
backward. Buckets start strictly in index order, the same on every rank, because MPI requires
every rank to issue its collectives in the same order. A callback queued on the autograd
engine waits for them all at the end of the pass and writes the averages back into `.grad`.
Buckets live on the parameters' device, and the copies in and out of them are framework ops, so on
`cuda` they are kernels on the stream that also carries NCCL's reductions: nothing waits on the host.
"""
import numpy as np

from ... import distributed
from ...autograd.engine import queue_callback
from ...autograd.grad_mode import no_grad

_UNFINISHED = ("Expected to have finished reduction in the prior iteration before starting a new one. This error "
               "indicates that your module has parameters that were not used in producing loss. You can enable "
               "unused parameter detection by passing the keyword argument `find_unused_parameters=True` to "
               "`framework.nn.parallel.DistributedDataParallel`, and by making sure all `forward` function outputs "
               "participate in calculating loss. Parameter indices which did not receive grad for rank {rank}: "
               "{indices}")


class Bucket:
    def __init__(self, indices, params):
        from ...creation import zeros
        self.indices = indices  # positions in the module's parameter list
        self.params = params
        self.offsets = np.cumsum([0] + [p.numel() for p in params]).tolist()
        self.flat = zeros(self.offsets[-1], dtype=params[0].dtype, device=params[0].device)
        self.ready = set()
        self.work = None


FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


def make_buckets(params, cap_bytes):
    """Reverse order, one dtype per bucket, a new bucket once the current one holds cap_bytes. The first bucket
    closes at 1 MiB already (PyTorch's rule): the last layers' gradients, ready first, start moving while backward
    still computes the others."""
    buckets, current, size = [], [], 0
    for index in reversed(range(len(params))):
        param = params[index]
        cap = min(cap_bytes, FIRST_BUCKET_BYTES) if not buckets else cap_bytes
        if current and (size >= cap or params[current[-1]].dtype != param.dtype):
            buckets.append(current)
            current, size = [], 0
        current.append(index)
        size += param.numel() * param.element_size()
    if current:
        buckets.append(current)
    return [Bucket(indices, [params[i] for i in indices]) for indices in buckets]


class Reducer:
    def __init__(self, params, cap_bytes, group, find_unused_parameters):
        self.params = params
        self.group = group
        self.find_unused_parameters = find_unused_parameters
        self.buckets = make_buckets(params, cap_bytes)
        self.where = {}  # parameter index -> (bucket, position in bucket)
        for bucket in self.buckets:
            for position, index in enumerate(bucket.indices):
                self.where[index] = (bucket, position)
        self.expecting = False  # a forward with grad enabled, outside no_sync, awaits its backward
        self.callback_queued = False
        self.next_bucket = 0
        self.locally_used = np.zeros(len(params), dtype=np.int32)
        self.unfinished = None
        self.handles = [param.register_post_accumulate_grad_hook(self._hook(index))
                        for index, param in enumerate(params)]

    def prepare_for_backward(self, unused=()):
        """Called by forward: the next backward reduces; `unused` (find_unused_parameters) count as ready."""
        if self.unfinished is not None:
            unfinished, self.unfinished = self.unfinished, None
            raise RuntimeError(_UNFINISHED.format(rank=distributed.get_rank(self.group), indices=unfinished))
        for bucket in self.buckets:
            if bucket.work is not None:  # started by a forward whose backward never came: complete it
                bucket.work.wait()
            bucket.ready.clear()
            bucket.work = None
        self.next_bucket = 0
        self.locally_used[:] = 0
        self.expecting = True
        self.callback_queued = False
        for index in unused:  # their gradient as it stands (accumulated under no_sync), else zeros: PyTorch's rule
            bucket, position = self.where[index]
            slot, grad = bucket.flat[bucket.offsets[position]:bucket.offsets[position + 1]], self.params[index].grad
            with no_grad():
                slot.zero_() if grad is None else slot.copy_(grad.reshape(-1))
            self._mark_ready(bucket, position)

    def _hook(self, index):
        def hook(param):
            if not self.expecting:
                return
            if not self.callback_queued:
                self.callback_queued = True
                queue_callback(self._finish)
            bucket, position = self.where[index]
            with no_grad():
                bucket.flat[bucket.offsets[position]:bucket.offsets[position + 1]].copy_(param.grad.reshape(-1))
            self.locally_used[index] = 1
            self._mark_ready(bucket, position)
        return hook

    def _mark_ready(self, bucket, position):
        bucket.ready.add(position)
        while self.next_bucket < len(self.buckets):
            ready = self.buckets[self.next_bucket]
            if len(ready.ready) < len(ready.params):
                break
            ready.work = distributed.all_reduce(ready.flat, op=distributed.ReduceOp.AVG, group=self.group,
                                                async_op=True)
            self.next_bucket += 1

    def _finish(self):
        """End of backward: wait for the buckets, write the averages into `.grad`."""
        self.expecting = False
        if self.next_bucket < len(self.buckets):
            # some parameter got no gradient: the buckets after it cannot start (PyTorch reports it at the next
            # forward); the ones started are still completed so that no request is left behind
            self.unfinished = sorted(i for b in self.buckets[self.next_bucket:] for p, i in enumerate(b.indices)
                                     if p not in b.ready)
        used = None
        if self.find_unused_parameters:
            # a parameter no rank used keeps its .grad as it was
            used = self.locally_used.copy()
            self._all_reduce_max(used)
        for bucket in self.buckets[:self.next_bucket]:
            bucket.work.wait()
            for position, (index, param) in enumerate(zip(bucket.indices, bucket.params)):
                if used is not None and not used[index]:
                    continue
                average = bucket.flat[bucket.offsets[position]:bucket.offsets[position + 1]].view(param.shape)
                with no_grad():
                    if param.grad is None:
                        param.grad = average.clone()
                    else:
                        param.grad.copy_(average)

    def _all_reduce_max(self, flags):
        """The flags' maximum over the ranks, moved on the parameters' device (the group's backend for it)."""
        from ...creation import from_numpy
        moved = from_numpy(flags).to(self.params[0].device)
        distributed.all_reduce(moved, op=distributed.ReduceOp.MAX, group=self.group)
        flags[...] = moved.cpu().numpy()

    def remove_hooks(self):
        for handle in self.handles:
            handle.remove()
