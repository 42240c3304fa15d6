"""framework.utils.data: datasets, samplers, collation and DataLoader, against PyTorch's orders and rules."""
import collections

import numpy as np
import pytest

import framework as fw
from framework import random as fw_random
from framework.utils import data
from helpers import raises_like_torch, requires_torch, torch

SEEDS = [0, 1, 7, 123, 2**32 + 5]
Point = collections.namedtuple("Point", "x y")


def _plain(batch):
    """A batch with tensors as (dtype name, nested list), so framework's and torch's compare with ==."""
    if hasattr(batch, "tolist") and hasattr(batch, "dtype"):
        return str(batch.dtype).split(".")[-1], list(batch.shape), batch.tolist()
    if isinstance(batch, dict):
        return {k: _plain(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch).__name__, [_plain(v) for v in batch]
    return batch


def _datasets(n=11):
    x, y = np.arange(3 * n, dtype=np.float32).reshape(n, 3), np.arange(n) % 4
    fw_ds = data.TensorDataset(fw.tensor(x), fw.tensor(y))
    torch_ds = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)) if torch else None
    return fw_ds, torch_ds


# ---- datasets -------------------------------------------------------------

def test_tensor_dataset_items_and_size_check():
    ds, _ = _datasets(5)
    assert len(ds) == 5
    x, y = ds[2]
    assert x.tolist() == [6.0, 7.0, 8.0] and y.item() == 2
    raises_like_torch(lambda: data.TensorDataset(fw.zeros(3), fw.zeros(4)),
                      lambda: torch.utils.data.TensorDataset(torch.zeros(3), torch.zeros(4)),
                      match="Size mismatch between tensors")


def test_dataset_base_classes_are_abstract():
    with pytest.raises(NotImplementedError):
        data.Dataset()[0]
    with pytest.raises(NotImplementedError):
        iter(data.IterableDataset())


def test_subset_maps_indices():
    ds, _ = _datasets(6)
    sub = data.Subset(ds, [4, 0, 5])
    assert len(sub) == 3 and sub[0][1].item() == 0 and sub[1][0].tolist() == [0.0, 1.0, 2.0]
    assert [s[0][0].item() for s in sub.__getitems__([2, 0])] == [15.0, 12.0]


@pytest.mark.uses_random
@pytest.mark.parametrize("lengths", [[3, 8], [0.3, 0.7], [0.5, 0.25, 0.25], [11]])
def test_random_split_sizes_and_partition(lengths):
    ds, _ = _datasets(11)
    parts = data.random_split(ds, lengths, generator=fw.Generator().manual_seed(3))
    assert sum(len(p) for p in parts) == 11
    assert sorted(i for p in parts for i in p.indices) == list(range(11))
    if isinstance(lengths[0], int):
        assert [len(p) for p in parts] == lengths


@requires_torch
@pytest.mark.uses_random
@pytest.mark.parametrize("seed", SEEDS)
def test_random_split_matches_torch(seed):
    for lengths in ([4, 7], [0.2, 0.3, 0.5], [0.34, 0.66]):
        fw_parts = data.random_split(range(11), lengths, generator=fw.Generator().manual_seed(seed))
        torch_parts = torch.utils.data.random_split(range(11), lengths, generator=torch.Generator().manual_seed(seed))
        assert [p.indices for p in fw_parts] == [p.indices for p in torch_parts]
    fw.manual_seed(seed)
    torch.manual_seed(seed)  # the default generator when none is given
    assert [p.indices for p in data.random_split(range(9), [5, 4])] == \
        [p.indices for p in torch.utils.data.random_split(range(9), [5, 4])]


def test_random_split_errors():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        data.random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        data.random_split(range(10), [-0.5, 1.5])
    with pytest.warns(UserWarning, match="Length of split at index 2 is 0"):
        data.random_split(range(2), [0.5, 0.5, 0.0])


# ---- sequential loading ---------------------------------------------------

@pytest.mark.parametrize("n, batch_size, drop_last", [(11, 4, False), (11, 4, True), (12, 4, True), (1, 5, False),
                                                      (3, 1, False), (4, 5, True)])
def test_sequential_batches_shapes_and_len(n, batch_size, drop_last):
    ds, _ = _datasets(n)
    loader = data.DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    expected = n // batch_size if drop_last else -(-n // batch_size)
    assert len(loader) == len(batches) == expected
    seen = []
    for x, y in batches:
        assert x.dtype is fw.float32 and y.dtype is fw.int64
        assert x.shape == (batch_size if len(seen) + batch_size <= n else n - len(seen), 3)
        seen += y.tolist()
    assert seen == [i % 4 for i in range(expected * batch_size if drop_last else n)]


def test_tensor_dataset_batches_are_gathered_without_stacking(monkeypatch):
    ds, _ = _datasets(9)
    per_sample = [batch for batch in data.DataLoader(ds, batch_size=4, collate_fn=lambda b: data.default_collate(b))]

    def no_stack(*args, **kwargs):
        raise AssertionError("stacked per-sample tensors")
    monkeypatch.setattr("framework.utils.data.collate.stack", no_stack)
    for dataset in (ds, data.Subset(data.Subset(ds, list(range(9))), list(range(9)))):
        gathered = list(data.DataLoader(dataset, batch_size=4))
        assert _plain(gathered) == _plain(per_sample)
        assert all(type(batch) is list for batch in gathered)  # a list, as default_collate makes of tuples


def test_overridden_getitem_is_respected():
    class Doubled(data.TensorDataset):
        def __getitem__(self, index):
            return tuple(2 * t[index] for t in self.tensors)
    ds = Doubled(fw.arange(5.0))
    assert [b[0].tolist() for b in data.DataLoader(ds, batch_size=2)] == [[0.0, 2.0], [4.0, 6.0], [8.0]]


def test_batch_size_none_converts_single_samples():
    class Arrays(data.Dataset):
        def __getitem__(self, i):
            return {"x": np.full(2, i, np.int32), "i": i}

        def __len__(self):
            return 3
    loader = data.DataLoader(Arrays(), batch_size=None)
    items = list(loader)
    assert len(loader) == 3 and items[2]["i"] == 2
    assert items[2]["x"].dtype is fw.int32 and items[2]["x"].tolist() == [2, 2]


def test_custom_sampler_and_batch_sampler():
    ds, _ = _datasets(6)
    loader = data.DataLoader(ds, batch_size=2, sampler=[5, 3, 1])
    assert [b[0][:, 0].tolist() for b in loader] == [[15.0, 9.0], [3.0]]
    loader = data.DataLoader(ds, batch_sampler=[[0, 2], [4]])
    assert len(loader) == 2 and [b[1].tolist() for b in loader] == [[0, 2], [0]]
    assert list(data.BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(data.BatchSampler(range(7), 3, drop_last=True)) == 2


def test_workers_run_in_process_with_the_same_batches():
    ds, _ = _datasets(10)
    fw.manual_seed(4)
    a = _plain(list(data.DataLoader(ds, batch_size=3, shuffle=True)))
    fw.manual_seed(4)
    b = _plain(list(data.DataLoader(ds, batch_size=3, shuffle=True, num_workers=2, persistent_workers=True)))
    assert a == b and data.get_worker_info() is None


class Stream(data.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_iterable_dataset_batches():
    assert [b.tolist() for b in data.DataLoader(Stream(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in data.DataLoader(Stream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert list(data.DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]
    assert len(data.DataLoader(Stream(7), batch_size=3)) == 3
    assert len(data.DataLoader(Stream(7), batch_size=3, drop_last=True)) == 2


@pytest.mark.parametrize("n, batch_size", [(6, 3), (7, 3), (1, 4), (0, 2), (9, 1)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_iterable_dataset_length_is_the_number_of_batches(n, batch_size, drop_last):
    """len() over a sized IterableDataset counts the batches iteration yields: even and ragged
    lengths, with and without drop_last (PyTorch's rule)."""
    loader = data.DataLoader(Stream(n), batch_size=batch_size, drop_last=drop_last)
    expected = n // batch_size if drop_last else -(-n // batch_size)
    assert len(loader) == expected == len(list(loader))


def test_loader_argument_errors():
    ds, _ = _datasets(4)
    cases = [(dict(sampler=[0], shuffle=True), "sampler option is mutually exclusive with shuffle"),
             (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
             (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
             (dict(num_workers=-1), "num_workers option should be non-negative"),
             (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
             (dict(batch_size=0), "batch_size should be a positive integer value, but got batch_size=0")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            data.DataLoader(ds, **kwargs)
    with pytest.raises(ValueError, match="expected unspecified shuffle option, but got shuffle=True"):
        data.DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        data.DataLoader([], shuffle=True)


# ---- shuffling: PyTorch's stream -----------------------------------------------

@pytest.mark.uses_random
def test_shuffle_follows_the_documented_stream():
    """Without torch: base seed, then a fresh generator seeded by the next int64 gives the order."""
    ds, _ = _datasets(13)
    for seed in SEEDS:
        fw.manual_seed(seed)
        order = [i for _, y in data.DataLoader(ds, batch_size=13, shuffle=True) for i in y.tolist()]
        fw.manual_seed(seed)
        fw_random.random_int64()  # the loader's base seed
        expected = fw_random.sampler_permutation(13)
        assert order == [int(i) % 4 for i in expected]
        xs = [x[0, 0].item() for x, _ in data.DataLoader(ds, batch_size=1, shuffle=True)]
        assert sorted(xs) == [3.0 * i for i in range(13)]


@requires_torch
@pytest.mark.uses_random
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (3, False), (4, True), (17, False)])
def test_shuffle_order_matches_torch(seed, batch_size, drop_last):
    fw_ds, torch_ds = _datasets(17)
    fw.manual_seed(seed)
    torch.manual_seed(seed)
    fw_loader = data.DataLoader(fw_ds, batch_size=batch_size, shuffle=True, drop_last=drop_last)
    torch_loader = torch.utils.data.DataLoader(torch_ds, batch_size=batch_size, shuffle=True, drop_last=drop_last)
    for _ in range(3):  # epochs, then the stream after them
        assert _plain(list(fw_loader)) == _plain(list(torch_loader))
    assert fw.rand(3).tolist() == torch.rand(3).tolist()


@requires_torch
@pytest.mark.uses_random
@pytest.mark.parametrize("seed", SEEDS)
def test_shuffle_with_a_generator_matches_torch(seed):
    fw_ds, torch_ds = _datasets(10)
    fw_gen, torch_gen = fw.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    fw_loader = data.DataLoader(fw_ds, batch_size=4, shuffle=True, generator=fw_gen)
    torch_loader = torch.utils.data.DataLoader(torch_ds, batch_size=4, shuffle=True, generator=torch_gen)
    for _ in range(2):
        assert _plain(list(fw_loader)) == _plain(list(torch_loader))
    assert fw.randperm(10, generator=fw_gen).tolist() == torch.randperm(10, generator=torch_gen).tolist()


@requires_torch
@pytest.mark.uses_random
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_samplers_match_torch(seed):
    fw_gen, torch_gen = fw.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    for num_samples in (5, 40, 70):
        fw_s = data.RandomSampler(range(9), replacement=True, num_samples=num_samples, generator=fw_gen)
        torch_s = torch.utils.data.RandomSampler(range(9), replacement=True, num_samples=num_samples,
                                                 generator=torch_gen)
        assert list(fw_s) == list(torch_s) and len(fw_s) == len(torch_s) == num_samples
    fw_s = data.RandomSampler(range(6), num_samples=14, generator=fw_gen)
    assert list(fw_s) == list(torch.utils.data.RandomSampler(range(6), num_samples=14, generator=torch_gen))
    fw.manual_seed(seed)
    torch.manual_seed(seed)
    assert list(data.SubsetRandomSampler([10, 20, 30, 40])) == \
        list(torch.utils.data.SubsetRandomSampler([10, 20, 30, 40]))


# ---- collation ------------------------------------------------------------------

def _collate_cases():
    arrays = [np.array([[1, 2]], np.int16), np.array([[3, 4]], np.int16)]
    return {
        "tensors": ([fw.tensor([1.0, 2.0]), fw.tensor([3.0, 4.0])], [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])]
                    if torch else None),
        "floats": ([1.5, 2.0], None), "ints": ([1, 2, 3], None), "bools": ([True, False], None),
        "int then float": ([1, 2.5], None),
        "numpy arrays": (arrays, None), "numpy float32": ([np.float32(1), np.float32(2)], None),
        "numpy int32": ([np.int32(1), np.int32(5)], None), "numpy float64": ([np.float64(0.5)] * 2, None),
        "tuples": ([(1, 2.0, "a"), (3, 4.0, "b")], None), "lists": ([[1, 2], [3, 4]], None),
        "namedtuples": ([Point(1, 2.0), Point(3, 4.0)], None),
        "dicts": ([{"a": 1, "b": "s", "c": [0.5]}, {"a": 2, "b": "t", "c": [1.5]}], None),
        "strings": (["ab", "cd"], None), "bytes": ([b"ab", b"c"], None),
        "nested": ([{"x": (np.zeros(2, np.float32), 1)}, {"x": (np.ones(2, np.float32), 2)}], None),
    }


def test_default_collate_kinds():
    c = data.default_collate
    assert _plain(c([1.5, 2.0])) == ("float64", [2], [1.5, 2.0])
    assert _plain(c([1, 2])) == ("int64", [2], [1, 2])
    assert _plain(c([True, False])) == ("bool", [2], [True, False])
    assert _plain(c([np.int32(1), np.int32(5)])) == ("int32", [2], [1, 5])
    assert _plain(c([np.array([1, 2], np.int16)] * 3))[:2] == ("int16", [3, 2])
    assert _plain(c([fw.ones(2, 3)] * 4))[:2] == ("float32", [4, 2, 3])
    assert _plain(c([(1, 2.0), (3, 4.0)])) == ("list", [("int64", [2], [1, 3]), ("float64", [2], [2.0, 4.0])])
    point = c([Point(1, 2.0), Point(3, 4.0)])
    assert type(point) is Point and point.x.tolist() == [1, 3]
    batch = c([{"a": 1, "b": "s"}, {"a": 2, "b": "t"}])
    assert batch["a"].tolist() == [1, 2] and batch["b"] == ["s", "t"]
    assert c(["ab", "cd"]) == ["ab", "cd"]


@requires_torch
def test_default_collate_matches_torch():
    for name, (batch, torch_batch) in _collate_cases().items():
        expected = torch.utils.data.default_collate(torch_batch if torch_batch is not None else batch)
        assert _plain(data.default_collate(batch)) == _plain(expected), name


def test_default_collate_errors():
    cases = [([(1, 2), (1,)], RuntimeError, "each element in list of batch should be of equal size"),
             ([object()], TypeError, "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                                     "lists; found <class 'object'>"),
             ([np.array(["a"])], TypeError, "found <U1"),
             ([fw.zeros(3), fw.zeros(4)], RuntimeError, "stack expects each tensor to be equal size, but got [3] at "
                                                        "entry 0 and [4] at entry 1")]
    for batch, error, message in cases:
        with pytest.raises(error) as info:
            data.default_collate(batch)
        assert message in str(info.value)


def test_default_convert():
    converted = data.default_convert((np.arange(3), 4, {"k": np.float32(2)}, "s"))
    assert type(converted) is list and converted[0].dtype is fw.int64 and converted[1] == 4
    assert converted[2]["k"].dtype is fw.float32 and converted[3] == "s"
    point = data.default_convert(Point(np.zeros(1), 1))
    assert type(point) is Point and point.x.dtype is fw.float64 and point.y == 1
