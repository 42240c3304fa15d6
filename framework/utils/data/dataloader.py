"""DataLoader: batches of a dataset, in order or shuffled, collated into tensors.

Random stream, as PyTorch's: creating an iterator (each epoch's `iter(loader)`) draws
one int64 from `generator` (the default generator when None), the base seed PyTorch
hands its workers; then a shuffling loader's RandomSampler draws its permutation (see
sampler.py). So `framework.manual_seed(s)` gives the batches `torch.manual_seed(s)` does.

Workers: `num_workers > 0` is accepted and runs like `num_workers=0`, in this process
(no subprocesses: the CPU work is numpy, which releases the GIL where it matters, and
batches of a TensorDataset are one index op each). Batches and the random stream are
the same as PyTorch's with workers; `worker_init_fn` is not called and
`get_worker_info()` returns None, as in PyTorch's main process. `pin_memory`, `timeout`,
`multiprocessing_context`, `prefetch_factor`, `persistent_workers`, `pin_memory_device`
and `in_order` are accepted (PyTorch's signature) and have no effect.
"""
import itertools

from ... import random as _random
from .collate import default_collate, default_convert
from .dataset import IterableDataset, _gather_batch
from .sampler import BatchSampler, RandomSampler, SequentialSampler


def get_worker_info():
    """None: every batch is loaded in the main process (see the module docstring)."""
    return None


class DataLoader:
    """Iterates over `dataset` in batches of `batch_size` (None: single samples, not collated)."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value is not None and value is not False:
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                     f"but got {name}={value}")
        elif sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.generator = generator
        self.pin_memory, self.timeout, self.worker_init_fn = pin_memory, timeout, worker_init_fn
        self.prefetch_factor, self.persistent_workers = prefetch_factor, persistent_workers
        self.multiprocessing_context, self.pin_memory_device, self.in_order = (multiprocessing_context,
                                                                               pin_memory_device, in_order)
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        if not self._iterable:
            return len(self._index_sampler)
        length = len(self.dataset)  # TypeError for a dataset without one, as in PyTorch
        if self.batch_size is None:
            return length
        return length // self.batch_size if self.drop_last else -(-length // self.batch_size)

    def __iter__(self):
        # Drawn now, not on the first next(): PyTorch draws the base seed when the iterator is made.
        _random.random_int64(self.generator)
        return self._iterable_batches() if self._iterable else self._map_batches()

    def _map_batches(self):
        for index in self._index_sampler:
            if not self._auto_collation:
                yield self.collate_fn(self.dataset[index])
                continue
            if self.collate_fn is default_collate and (batch := _gather_batch(self.dataset, index)) is not None:
                yield batch
                continue
            if callable(getattr(self.dataset, "__getitems__", None)):
                yield self.collate_fn(self.dataset.__getitems__(index))
            else:
                yield self.collate_fn([self.dataset[i] for i in index])

    def _iterable_batches(self):
        samples = iter(self.dataset)
        if self.batch_size is None:
            yield from map(self.collate_fn, samples)
            return
        while batch := list(itertools.islice(samples, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield self.collate_fn(batch)
