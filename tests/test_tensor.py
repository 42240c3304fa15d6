"""Tensor attributes and conversions: Size, stride, contiguity, T/mT, item/tolist/numpy, dtype and device moves."""
import copy
import pickle

import numpy as np
import pytest

import framework as fw
from helpers import (DEVICES, DTYPE_NAMES, FLOAT_NAMES, assert_close, make_tensor, np_dtype, random_array,
                     raises_like_torch, to_numpy, torch)


# ---- Size -----------------------------------------------------------------------

def test_size_prints_and_behaves_like_a_tuple():
    x = fw.zeros(2, 3)
    assert repr(x.shape) == str(x.shape) == "framework.Size([2, 3])"
    assert repr(fw.zeros(()).shape) == "framework.Size([])"
    assert repr(fw.zeros(5).shape) == "framework.Size([5])"
    assert isinstance(x.shape, tuple) and isinstance(x.shape, fw.Size)
    assert x.shape == (2, 3) and x.shape != [2, 3] and x.size() == x.shape
    assert x.shape[0] == 2 and isinstance(x.shape[0], int)
    assert isinstance(x.shape[1:], fw.Size) and x.shape[1:] == (3,)
    assert isinstance(x.shape + (1,), fw.Size) and x.shape + (1,) == (2, 3, 1)
    assert x.shape.numel() == 6 and fw.Size([]).numel() == 1
    assert fw.Size([2, 3]) == (2, 3)
    assert pickle.loads(pickle.dumps(x.shape)) == x.shape


def test_size_dim_ndim_numel():
    x = fw.zeros(2, 3, 4)
    assert x.size(0) == 2 and x.size(-1) == 4 and x.size(1) == 3
    assert x.ndim == x.dim() == x.ndimension() == 3
    assert x.numel() == x.nelement() == 24 == fw.numel(x)
    assert fw.zeros(()).numel() == 1 and fw.zeros(0, 5).numel() == 0
    assert len(x) == 2


@pytest.mark.parametrize("dim", [3, -4, 10])
def test_size_dim_out_of_range_is_index_error(dim):
    message = raises_like_torch(lambda: fw.zeros(2, 3, 4).size(dim), lambda: torch.zeros(2, 3, 4).size(dim))
    assert message == f"Dimension out of range (expected to be in range of [-3, 2], but got {dim})"


# ---- strides and contiguity ------------------------------------------------------

def _layouts(module):
    base = module.zeros(2, 3, 4)
    return {
        "contiguous": base,
        "transpose": base.transpose(0, 2),
        "permute": base.permute(2, 0, 1),
        "expand": module.zeros(3, 1).expand(3, 4),
        "unsqueeze": base.unsqueeze(1),
        "T": module.zeros(3, 5).T,
        "size1-T": module.zeros(1, 3).T,
        "empty-T": module.zeros(0, 3).T,
        "view": base.view(6, 4),
        "mT": base.mT,
    }


def test_strides_and_contiguity_match_torch_or_known_values():
    expected = {  # PyTorch's values
        "contiguous": ((12, 4, 1), True), "transpose": ((1, 4, 12), False), "permute": ((1, 12, 4), False),
        "expand": ((1, 0), False), "unsqueeze": ((12, 12, 4, 1), True), "T": ((1, 5), False),
        "size1-T": ((1, 3), True), "empty-T": ((1, 3), True), "view": ((4, 1), True), "mT": ((12, 1, 4), False),
    }
    layouts = _layouts(fw)
    for name, (strides, contiguous) in expected.items():
        t = layouts[name]
        assert t.is_contiguous() is contiguous, name
        if name not in ("size1-T", "empty-T"):  # strides of size-1 and empty dims do not matter
            assert t.stride() == strides, name
    if torch is not None:
        for name, t in _layouts(torch).items():
            assert layouts[name].is_contiguous() == t.is_contiguous(), name
    assert fw.zeros(2, 3).stride(0) == 3 and fw.zeros(2, 3).stride(-1) == 1


def test_contiguous_returns_self_when_contiguous_and_a_copy_otherwise(rng):
    x = make_tensor(random_array(rng, (3, 4), "float32"))
    assert x.contiguous() is x
    t = x.T
    c = t.contiguous()
    assert c.is_contiguous() and c.stride() == (3, 1) and np.array_equal(c.numpy(), t.numpy())
    assert not np.shares_memory(c.numpy(), x.numpy())


def test_storage_offset():
    x = fw.arange(12).view(3, 4)
    assert x.storage_offset() == 0
    assert x[1].storage_offset() == 4
    assert x[:, 2].storage_offset() == 2


@pytest.mark.parametrize("device", DEVICES)
def test_data_ptr_is_the_first_elements_address(device):
    x = fw.arange(12, dtype=fw.float32, device=device).view(3, 4)
    assert x.data_ptr() != 0 and x.view(12).data_ptr() == x.data_ptr()  # a view shares the storage
    assert x[1].data_ptr() == x.data_ptr() + 4 * x.element_size()
    assert x[:, 2].data_ptr() == x.data_ptr() + 2 * x.element_size()
    assert x.clone().data_ptr() != x.data_ptr()
    assert fw.empty(0, device=device).data_ptr() == 0  # no elements: no storage, as in PyTorch


# ---- T, mT, H -------------------------------------------------------------------

def test_transpose_properties(rng):
    a = random_array(rng, (2, 3, 4), "float32")
    x = fw.tensor(a)
    assert np.array_equal(x[0].T.numpy(), a[0].T)
    assert x.mT.shape == (2, 4, 3) and np.array_equal(x.mT.numpy(), np.swapaxes(a, -1, -2))
    assert x[0].H.shape == (4, 3)
    assert fw.tensor(2.0).T.shape == ()
    with pytest.warns(UserWarning, match="x.T` on tensors of dimension other than 2"):
        assert x.T.shape == (4, 3, 2)
    message = raises_like_torch(lambda: fw.ones(3).mT, lambda: torch.ones(3).mT)
    assert message == "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor."


# ---- item, tolist, numpy -----------------------------------------------------------

@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_item_and_tolist_give_python_types(name, rng):
    array = random_array(rng, (2, 3), name, low=0, high=5)
    t = fw.tensor(array)
    python_type = bool if name == "bool" else float if name in FLOAT_NAMES else int
    listed = t.tolist()
    assert len(listed) == 2 and all(type(v) is python_type for row in listed for v in row)
    assert listed == array.astype(np.float64 if name in FLOAT_NAMES else array.dtype).tolist()
    one = fw.tensor(array[:1, :1])
    assert type(one.item()) is python_type and one.item() == listed[0][0]
    assert type(fw.tensor(array[0, 0]).tolist()) is python_type


def test_item_on_many_or_no_elements_raises():
    message = raises_like_torch(lambda: fw.ones(2, 3).item(), lambda: torch.ones(2, 3).item())
    assert message == "a Tensor with 6 elements cannot be converted to Scalar"
    raises_like_torch(lambda: fw.zeros(0).item(), lambda: torch.zeros(0).item(),
                      match="a Tensor with 0 elements cannot be converted to Scalar")


def test_numpy_shares_memory_and_refuses_tensors_that_require_grad(rng):
    x = make_tensor(random_array(rng, (3,), "float32"))
    array = x.numpy()
    array[0] = 5.0
    assert x.tolist()[0] == 5.0
    needs_grad = fw.ones(2, requires_grad=True)
    message = raises_like_torch(lambda: needs_grad.numpy(), lambda: torch.ones(2, requires_grad=True).numpy())
    assert message == "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
    assert needs_grad.detach().numpy().tolist() == [1.0, 1.0]
    assert np.asarray(x).dtype == np.float32


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_element_size(name):
    t = fw.zeros(3, dtype=getattr(fw, name))
    assert t.element_size() == t.itemsize == np_dtype(name).itemsize
    assert t.nbytes == 3 * t.element_size()


def test_python_number_protocol():
    assert float(fw.tensor([2.5])) == 2.5 and int(fw.tensor([2.7])) == 2 and bool(fw.tensor([0.0])) is False
    assert [10, 20, 30][fw.tensor(1)] == 20
    assert f"{fw.tensor(2.5):.2f}" == "2.50"
    raises_like_torch(lambda: float(fw.ones(2)), lambda: float(torch.ones(2)),
                      match="only one element tensors can be converted to Python scalars")
    raises_like_torch(lambda: bool(fw.ones(2)), lambda: bool(torch.ones(2)),
                      match="Boolean value of Tensor with more than one value is ambiguous")
    raises_like_torch(lambda: [1, 2][fw.tensor(1.0)], lambda: [1, 2][torch.tensor(1.0)],
                      match="only integer tensors of a single element can be converted to an index")
    raises_like_torch(lambda: len(fw.tensor(1)), lambda: len(torch.tensor(1)), match="len() of a 0-d tensor")
    raises_like_torch(lambda: iter(fw.tensor(1)), lambda: iter(torch.tensor(1)), match="iteration over a 0-d tensor")


def test_iteration_yields_rows(rng):
    a = random_array(rng, (3, 2), "float32")
    rows = [r.tolist() for r in fw.tensor(a)]
    assert rows == a.astype(np.float64).tolist()


# ---- conversions ----------------------------------------------------------------

CONVERSIONS = {"float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16", "long": "int64",
               "int": "int32", "short": "int16", "char": "int8", "byte": "uint8", "bool": "bool"}


@pytest.mark.parametrize("method", CONVERSIONS)
def test_conversion_methods(method, rng):
    a = random_array(rng, (3, 4), "float64", low=0, high=100)
    t = fw.tensor(a)
    out = getattr(t, method)()
    target = CONVERSIONS[method]
    assert out.dtype is getattr(fw, target)
    assert out.dtype is t.to(getattr(fw, target)).dtype
    if torch is not None:
        expected = getattr(torch.from_numpy(a), method)()
        assert np.array_equal(to_numpy(out), to_numpy(expected))


def test_to_forms():
    x = fw.tensor([1.5, 2.5])
    assert x.to(fw.float32) is x and x.to("cpu") is x and x.cpu() is x and x.to(fw.device("cpu")) is x
    copied = x.to(fw.float32, copy=True)
    assert copied is not x and copied.tolist() == x.tolist()
    copied.add_(1)
    assert x.tolist() == [1.5, 2.5]
    assert x.to(dtype=fw.float64).dtype is fw.float64
    assert x.to("cpu", fw.int64).tolist() == [1, 2]
    assert x.to(fw.tensor([1], dtype=fw.int16)).dtype is fw.int16
    assert x.type_as(fw.tensor([1])).dtype is fw.int64
    assert x.type() == "framework.FloatTensor" and fw.tensor([1]).type() == "framework.LongTensor"
    assert x.is_floating_point() and not fw.tensor([1]).is_floating_point()


@pytest.mark.parametrize("target", ["float64", "float16", "bfloat16"])
def test_dtype_conversion_is_differentiable(target, rng):
    a = random_array(rng, (2, 3), "float32")
    x = make_tensor(a, requires_grad=True)
    y = x.to(getattr(fw, target))
    assert y.grad_fn.name() == "ToCopyBackward0" and y.dtype is getattr(fw, target)
    g = random_array(rng, (2, 3), target)
    y.backward(fw.tensor(g))
    assert x.grad.dtype is fw.float32
    assert_close(x.grad, g.astype(np.float32).astype(np.float64), "float32")


def test_cast_to_integer_is_not_differentiable():
    x = fw.tensor([1.5, 2.5], requires_grad=True)
    y = x.long()
    assert y.dtype is fw.int64 and not y.requires_grad and y.grad_fn is None


# ---- clone and detach --------------------------------------------------------------

def test_clone_copies_storage_and_carries_gradient(rng):
    a = random_array(rng, (3, 4), "float32")
    x = make_tensor(a, requires_grad=True)
    c = x.clone()
    assert c.grad_fn.name() == "CloneBackward0" and not c.is_leaf
    assert not np.shares_memory(c.detach().numpy(), x.detach().numpy())
    assert c.detach().numpy().tolist() == a.tolist()
    g = random_array(rng, (3, 4), "float32")
    c.backward(fw.tensor(g))
    assert np.array_equal(x.grad.numpy(), g)
    plain = fw.tensor([1.0, 2.0]).clone()
    assert plain.grad_fn is None and not plain.requires_grad


def test_detach_shares_storage_and_version_counter():
    x = fw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.detach().numpy())
    before = y._version
    d.add_(1)
    assert y.tolist() == [3.0, 5.0, 7.0]
    assert y._version == d._version == before + 1


def test_detached_and_data_tensors_accept_inplace_ops():
    """`.detach()` and `.data` are not autograd views: PyTorch lets you write into them."""
    x = fw.tensor([1.0, 2.0], requires_grad=True)
    x.data.mul_(2)
    assert x.tolist() == [2.0, 4.0]
    x.detach().zero_()
    assert x.tolist() == [0.0, 0.0] and x.requires_grad and x.is_leaf
    y = x * 2
    y.detach().add_(1)
    assert y.tolist() == [1.0, 1.0]


def test_requires_grad_flags():
    x = fw.tensor([1.0, 2.0])
    assert not x.requires_grad and x.is_leaf
    assert x.requires_grad_() is x and x.requires_grad and x.is_leaf
    x.requires_grad = False
    assert not x.requires_grad
    x.requires_grad = True
    y = x * 2
    assert y.requires_grad and not y.is_leaf
    assert y.requires_grad_(True) is y
    message = raises_like_torch(lambda: y.requires_grad_(False),
                                lambda: (torch.ones(2, requires_grad=True) * 2).requires_grad_(False))
    assert message.startswith("you can only change requires_grad flags of leaf variables.")
    assert not x.detach().requires_grad
    assert x.data.requires_grad is False and x.data.tolist() == [1.0, 2.0]


def test_detach_inplace():
    x = fw.tensor([1.0], requires_grad=True)
    y = x * 2
    assert y.detach_() is y and not y.requires_grad and y.is_leaf


def test_deepcopy_and_pickle():
    x = fw.tensor([1.5, 2.5], requires_grad=True)
    x.grad = fw.tensor([0.5, 0.5])
    c = copy.deepcopy(x)
    assert c is not x and c.requires_grad and c.tolist() == [1.5, 2.5] and c.grad.tolist() == [0.5, 0.5]
    assert not np.shares_memory(c.detach().numpy(), x.detach().numpy())
    p = pickle.loads(pickle.dumps(x))
    assert p.requires_grad and p.tolist() == [1.5, 2.5] and p.dtype is fw.float32
    raises_like_torch(lambda: copy.deepcopy(x * 2), lambda: copy.deepcopy(torch.ones(2, requires_grad=True) * 2),
                      match="Only Tensors created explicitly by the user (graph leaves) support the deepcopy")


def test_tensors_hash_by_identity():
    a, b = fw.tensor([1.0]), fw.tensor([1.0])
    assert len({a, b}) == 2 and a in {a: 1}


def test_is_tensor_and_device_attributes():
    x = fw.tensor([1.0])
    assert fw.is_tensor(x) and not fw.is_tensor([1.0])
    assert x.device == fw.device("cpu") and x.device == "cpu" and not x.is_cuda
    assert fw.device("cpu") is fw.device("cpu")
    assert fw.device("cuda:1").index == 1 and fw.device("cuda", 0).type == "cuda"
    assert repr(fw.device("cuda:0")) == "device(type='cuda', index=0)" and str(fw.device("cuda", 1)) == "cuda:1"
