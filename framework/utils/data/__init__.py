"""`framework.utils.data`: datasets, samplers, collation and the DataLoader, as `torch.utils.data` spells them.

Shuffling draws from framework's PyTorch-compatible generator in PyTorch's order, so
`framework.manual_seed(s)` followed by a shuffling DataLoader visits the samples in
the order `torch.manual_seed(s)` gives (see framework/random.py and dataloader.py).
"""
from .collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .distributed import DistributedSampler
from .dataset import Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = ["BatchSampler", "DataLoader", "Dataset", "DistributedSampler", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset", "default_collate",
           "default_convert", "get_worker_info", "random_split"]
