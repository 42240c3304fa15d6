"""How tensors meet MPI (framework/distributed/buffers.py), checked without starting MPI: what a collective
hands MPI for each kind of tensor, and the error for tensors the 'mpi' backend cannot move."""
import numpy as np
import pytest

import framework as fw
from framework.distributed.buffers import Buffer


def test_contiguous_tensors_are_handed_over_without_a_copy():
    tensor = fw.arange(6.0).reshape(2, 3)
    buffer = Buffer(tensor, written=True)
    assert buffer.array is tensor._data and buffer.staging is None
    version = tensor._version
    buffer.finish()
    assert tensor._version == version + 1


def test_strided_tensors_go_through_a_copy_written_back():
    tensor = fw.zeros(3, 2).t()
    buffer = Buffer(tensor, written=True)
    assert buffer.array.flags.c_contiguous and not np.shares_memory(buffer.array, tensor._data)
    buffer.array[...] = [[1, 2, 3], [4, 5, 6]]
    buffer.finish()
    assert tensor.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize("dtype", [fw.bfloat16, fw.float16])
def test_16_bit_floats_move_as_words_and_reduce_in_float32(dtype):
    tensor = fw.tensor([1.5, -2.0], dtype=dtype)
    moved, reduced = Buffer(tensor), Buffer(tensor, reduce=True, written=True)
    assert moved.array.dtype == np.uint16 and np.shares_memory(moved.array, tensor._data)
    assert reduced.array.dtype == np.float32
    reduced.array[...] = [0.5, 3.0]
    reduced.finish()
    assert tensor.float().tolist() == [0.5, 3.0]


def test_booleans_move_as_bytes():
    assert Buffer(fw.tensor([True, False])).array.dtype == np.uint8


def test_cuda_tensors_are_refused_naming_nccl():
    with pytest.raises(RuntimeError, match="cuda tensors need the 'nccl' backend"):
        Buffer(fw.ones(2, device="cuda"))
    with pytest.raises(TypeError, match="must be a framework.Tensor, got ndarray"):
        Buffer(np.ones(2))
