"""DistributedSampler: PyTorch's partitions of a dataset among ranks, given explicit num_replicas and rank."""
import pytest

from framework.utils.data import DataLoader
from framework.utils.data.distributed import DistributedSampler

try:
    import torch
    from torch.utils.data.distributed import DistributedSampler as TorchDistributedSampler
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: PyTorch's partitions are the oracle")

SIZES = [0, 1, 2, 3, 5, 7, 10, 17, 100]
REPLICAS = [1, 2, 3, 4, 8]


def shares(n, replicas, **options):
    return [list(DistributedSampler(range(n), num_replicas=replicas, rank=r, **options)) for r in range(replicas)]


@needs_torch
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("drop_last", [True, False])
@pytest.mark.parametrize("seed,epoch", [(0, 0), (7, 3), (123, 1)])
def test_partitions_are_pytorchs(shuffle, drop_last, seed, epoch):
    for n in SIZES:
        for replicas in REPLICAS:
            for rank in range(replicas):
                options = dict(num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
                ours, theirs = DistributedSampler(range(n), **options), TorchDistributedSampler(range(n), **options)
                ours.set_epoch(epoch)
                theirs.set_epoch(epoch)
                assert (list(ours), len(ours)) == (list(theirs), len(theirs)), (n, replicas, rank)


def test_shares_cover_the_dataset_with_padding_from_its_head():
    assert shares(5, 2, shuffle=False) == [[0, 2, 4], [1, 3, 0]]
    assert shares(2, 4, shuffle=False) == [[0], [1], [0], [1]]  # padding repeats the whole list as needed
    assert shares(5, 2, shuffle=False, drop_last=True) == [[0, 2], [1, 3]]
    shuffled = shares(10, 3, seed=5)
    assert sorted(set(sum(shuffled, []))) == list(range(10)) and [len(s) for s in shuffled] == [4, 4, 4]


def test_epochs_and_seeds_change_the_order_and_ranks_agree():
    sampler = DistributedSampler(range(50), num_replicas=2, rank=0, seed=1)
    first = list(sampler)
    assert list(sampler) == first  # same epoch: same order
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert shares(50, 2, seed=1) != shares(50, 2, seed=2)
    assert sorted(sum(shares(50, 2, seed=1), [])) == list(range(50))  # disjoint, complete


def test_feeds_a_dataloader():
    loader = DataLoader(list(range(10)), batch_size=2,
                        sampler=DistributedSampler(range(10), num_replicas=2, rank=1, shuffle=False))
    assert [batch.tolist() for batch in loader] == [[1, 3], [5, 7], [9]]


@pytest.mark.parametrize("rank", [2, -1])
def test_invalid_rank(rank):
    with pytest.raises(ValueError, match=rf"^Invalid rank {rank}, rank should be in the interval \[0, 1\]$"):
        DistributedSampler(range(4), num_replicas=2, rank=rank)


def test_without_a_process_group_asks_for_one():
    with pytest.raises(ValueError, match="^Default process group has not been initialized, please make sure to "
                                         "call init_process_group.$"):
        DistributedSampler(range(4))
