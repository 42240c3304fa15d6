"""The tutorial's tensor cells (In [4] to In [14] of shared/seed/000_64360f6de0e254ab.txt), cell by cell:
each prints, or displays as a notebook shows `repr`, exactly what PyTorch printed, `torch.` spelled
`framework.`. (tests/test_tutorial.py runs the whole tutorial script; this file pins down each cell.)"""
import pytest

import framework as fw


@pytest.fixture
def tensors():
    return {
        "tensor0d": fw.tensor(1),
        "tensor1d": fw.tensor([1, 2, 3]),
        "tensor2d": fw.tensor([[1, 2], [3, 4]]),
        "tensor3d": fw.tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]),
    }


def test_in_4_tensors_of_each_rank(tensors, capsys):
    for name in ("tensor0d", "tensor1d", "tensor2d", "tensor3d"):
        print(tensors[name])
    assert capsys.readouterr().out == (
        "tensor(1)\n"
        "tensor([1, 2, 3])\n"
        "tensor([[1, 2],\n"
        "        [3, 4]])\n"
        "tensor([[[1, 2],\n"
        "         [3, 4]],\n"
        "\n"
        "        [[5, 6],\n"
        "         [7, 8]]])\n"
    )


def test_in_5_default_integer_dtype(tensors, capsys):
    print(tensors["tensor1d"].dtype)
    assert capsys.readouterr().out == "framework.int64\n"


def test_in_6_default_float_dtype(capsys):
    floatvec = fw.tensor([1.0, 2.0, 3.0])
    print(floatvec.dtype)
    assert capsys.readouterr().out == "framework.float32\n"


def test_in_7_change_type(tensors, capsys):
    tensor1d_float = tensors["tensor1d"].to(fw.float32)
    print(tensor1d_float.dtype)
    assert capsys.readouterr().out == "framework.float32\n"
    assert repr(tensor1d_float) == "tensor([1., 2., 3.])"


def test_in_8_shapes(tensors, capsys):
    for name in ("tensor0d", "tensor1d", "tensor2d", "tensor3d"):
        print(tensors[name].shape)
    assert capsys.readouterr().out == (
        "framework.Size([])\n"
        "framework.Size([3])\n"
        "framework.Size([2, 2])\n"
        "framework.Size([2, 2, 2])\n"
    )


COLUMN = ("tensor([[1],\n"
          "        [2],\n"
          "        [3],\n"
          "        [4]])")
GRAM = ("tensor([[ 5, 11],\n"
        "        [11, 25]])")


def test_in_10_reshape(tensors):
    assert repr(tensors["tensor2d"].reshape(4, 1)) == COLUMN


def test_in_11_view(tensors):
    assert repr(tensors["tensor2d"].view(4, 1)) == COLUMN


def test_in_12_transpose(tensors):
    assert repr(tensors["tensor2d"].T) == ("tensor([[1, 3],\n"
                                           "        [2, 4]])")


def test_in_13_matmul(tensors):
    tensor2d = tensors["tensor2d"]
    assert repr(tensor2d.matmul(tensor2d.T)) == GRAM


def test_in_14_matmul_operator(tensors):
    tensor2d = tensors["tensor2d"]
    assert repr(tensor2d @ tensor2d.T) == GRAM


def test_cells_leave_the_inputs_untouched(tensors):
    tensor2d = tensors["tensor2d"]
    tensor2d.reshape(4, 1), tensor2d.view(4, 1), tensor2d.T, tensor2d @ tensor2d.T
    assert repr(tensor2d) == ("tensor([[1, 2],\n"
                              "        [3, 4]])")
    assert tensor2d._version == 0
