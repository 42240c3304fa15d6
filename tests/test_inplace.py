"""In-place ops: values, the version counter, PyTorch's rules for leaves, and backward through (or refusing to
backward through) tensors changed in place: an error exactly where PyTorch gives one."""
import operator

import numpy as np
import pytest

import framework as fw
from helpers import assert_close, make_tensor, random_array, raises_like_torch, requires_torch, torch

# name -> (in-place call, out-of-place numpy reference, domain)
INPLACE = {
    "add_": (lambda x, o: x.add_(o), np.add, {}),
    "sub_": (lambda x, o: x.sub_(o), np.subtract, {}),
    "mul_": (lambda x, o: x.mul_(o), np.multiply, {}),
    "div_": (lambda x, o: x.div_(o), np.divide, dict(away_from_zero=0.5)),
    "pow_": (lambda x, o: x.pow_(o), np.power, dict(low=0.5, high=2)),
    "iadd": (operator.iadd, np.add, {}),
    "isub": (operator.isub, np.subtract, {}),
    "imul": (operator.imul, np.multiply, {}),
    "itruediv": (operator.itruediv, np.divide, dict(away_from_zero=0.5)),
}

UNARY_INPLACE = {
    "exp_": np.exp, "log_": np.log, "sqrt_": np.sqrt, "sin_": np.sin, "cos_": np.cos, "tanh_": np.tanh,
    "sigmoid_": lambda x: 1 / (1 + np.exp(-x)), "relu_": lambda x: np.maximum(x, 0), "abs_": np.abs,
    "neg_": np.negative, "reciprocal_": np.reciprocal, "square_": np.square, "floor_": np.floor,
}


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name", INPLACE)
def test_binary_inplace_values(name, dtype, rng):
    call, reference, domain = INPLACE[name]
    a = random_array(rng, (3, 4), dtype, low=0.5, high=2)
    for other in (make_tensor(random_array(rng, (4,), dtype, **domain)), 1.5,
                  make_tensor(random_array(rng, (3, 4), dtype, **domain))):
        x = make_tensor(a)
        before = x._version
        out = call(x, other)
        assert out is x and x.dtype.name == dtype and x.shape == (3, 4)
        operand = np.asarray(other.tolist() if isinstance(other, fw.Tensor) else other)
        expected = reference(a.astype(np.float64), operand)
        assert_close(x, expected, dtype)
        assert x._version == before + 1


@pytest.mark.parametrize("name", UNARY_INPLACE)
def test_unary_inplace_values(name, rng):
    a = random_array(rng, (3, 4), "float32", low=0.5, high=2)
    x = make_tensor(a)
    assert getattr(x, name)() is x
    assert_close(x, UNARY_INPLACE[name](a.astype(np.float64)), "float32")
    assert x._version == 1


def test_fill_zero_copy_clamp(rng):
    x = make_tensor(random_array(rng, (2, 3), "float32"))
    assert x.fill_(2.5) is x and np.all(x.numpy() == 2.5)
    x.fill_(fw.tensor(1.5))
    assert np.all(x.numpy() == 1.5)
    assert x.zero_() is x and np.all(x.numpy() == 0)
    source = random_array(rng, (3,), "float64")
    x.copy_(fw.tensor(source))  # broadcasts and casts
    assert np.array_equal(x.numpy(), np.broadcast_to(source.astype(np.float32), (2, 3)))
    a = random_array(rng, (2, 3), "float32", low=-2, high=2)
    y = make_tensor(a)
    y.clamp_(-0.5, 0.5)
    assert np.array_equal(y.numpy(), np.clip(a, -0.5, 0.5))
    assert y._version == 1 and x._version == 4
    i = fw.tensor([1, 5, -3])
    assert i.clamp_(0, 2).tolist() == [1, 2, 0]


def test_fill_with_non_scalar_tensor_raises():
    raises_like_torch(lambda: fw.zeros(3).fill_(fw.ones(2)), lambda: torch.zeros(3).fill_(torch.ones(2)),
                      match="fill_ only supports 0-dimension value tensor but got tensor with 1 dimensions.")


def test_augmented_assignment_keeps_the_object():
    x = fw.tensor([1.0, 2.0])
    ident = id(x)
    x += 1
    x *= 2
    x -= 1
    x /= 2
    assert id(x) == ident and x.tolist() == [1.5, 2.5] and x._version == 4
    i = fw.tensor([7, 8])
    i //= 2
    i %= 3
    assert i.tolist() == [0, 1] and i.dtype is fw.int64


def test_out_of_place_ops_leave_the_version_alone():
    x = fw.tensor([1.0, 2.0])
    _ = x + 1, x.exp(), x.view(2, 1), x.T if x.ndim == 2 else x, x.clone()
    assert x._version == 0


def test_version_counter_is_shared_by_views():
    x = fw.zeros(2, 3)
    v = x.view(6)
    t = x.T
    v.add_(1)
    t.mul_(2)
    assert x._version == v._version == t._version == 2
    assert np.all(x.numpy() == 2)


@pytest.mark.parametrize("call", {
    "int-div": lambda m: m.ones(2, dtype=m.int64).div_(2),
    "int-mul-float": lambda m: m.ones(2, dtype=m.int64).mul_(1.5),
    "int-iadd-float": lambda m: m.ones(2, dtype=m.int64).__iadd__(1.5),
    "bool-add-int": lambda m: m.ones(2, dtype=m.bool).add_(m.ones(2, dtype=m.int64)),
    "broadcast-grows": lambda m: m.ones(3).add_(m.ones(2, 3)),
    "expanded-write": lambda m: m.zeros(3, 1).expand(3, 4).add_(1),
}.items(), ids=lambda item: item[0])
def test_inplace_errors_match_torch(call):
    name, fn = call
    message = raises_like_torch(lambda: fn(fw), lambda: fn(torch))
    expected = {
        "int-div": "result type Float can't be cast to the desired output type Long",
        "int-mul-float": "result type Float can't be cast to the desired output type Long",
        "int-iadd-float": "result type Float can't be cast to the desired output type Long",
        "bool-add-int": "result type Long can't be cast to the desired output type Bool",
        "broadcast-grows": "output with shape [3] doesn't match the broadcast shape [2, 3]",
        "expanded-write": "unsupported operation: more than one element of the written-to tensor refers to a single "
                          "memory location. Please clone() the tensor before performing the operation.",
    }[name]
    assert message == expected


def test_float_tensor_accepts_integer_operand_inplace():
    x = fw.ones(2)
    x += fw.ones(2, dtype=fw.int64)
    assert x.tolist() == [2.0, 2.0] and x.dtype is fw.float32


# ---- leaves that require grad ------------------------------------------------------------

LEAF_MESSAGE = "a leaf Variable that requires grad is being used in an in-place operation."


@pytest.mark.parametrize("op", [lambda x: x.add_(1), lambda x: x.mul_(2), lambda x: x.zero_(), lambda x: x.fill_(1),
                                lambda x: x.exp_(), lambda x: x.clamp_(0, 1), lambda x: x.copy_(fw.zeros(3)),
                                lambda x: x.__iadd__(1)],
                         ids=["add_", "mul_", "zero_", "fill_", "exp_", "clamp_", "copy_", "+="])
def test_inplace_on_leaf_that_requires_grad_raises(op):
    x = fw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        op(x)
    assert str(info.value) == LEAF_MESSAGE
    assert x.tolist() == [1.0, 2.0, 3.0] and x._version == 0


def test_inplace_on_view_of_leaf_raises():
    x = fw.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    message = raises_like_torch(lambda: x.view(4).add_(1),
                                lambda: torch.ones(2, 2, requires_grad=True).view(4).add_(1))
    assert message == "a view of a leaf Variable that requires grad is being used in an in-place operation."
    with pytest.raises(RuntimeError):
        x.T.mul_(2)


def test_inplace_on_leaf_is_allowed_under_no_grad():
    x = fw.tensor([1.0, 2.0], requires_grad=True)
    with fw.no_grad():
        x.mul_(2).add_(1)
        x.view(2).sub_(1)
    assert x.tolist() == [2.0, 4.0] and x.is_leaf and x.requires_grad and x.grad_fn is None
    (x * 3).backward(fw.ones(2))
    assert x.grad.tolist() == [3.0, 3.0]


# ---- backward through in-place ops --------------------------------------------------------

# Scenario -> x.grad PyTorch gives for x = [0.5, -1.0, 2.0], upstream gradient [1, 2, 3]; None where PyTorch
# raises "...modified by an inplace operation".
SCENARIOS = {
    "mul-then-add_": (lambda x, m: (x * 2).add_(1), [2.0, 4.0, 6.0]),
    "add-then-mul_": (lambda x, m: (x + 0).mul_(3), [3.0, 6.0, 9.0]),
    "mul_-by-itself": (lambda x, m: (x * 1).mul_(x), [1.0, -4.0, 12.0]),
    "clamp_": (lambda x, m: (x * 1).clamp_(-0.8, 1.0), [1.0, 0.0, 0.0]),
    "sin_": (lambda x, m: (x * 1).sin_(), [np.cos(0.5), 2 * np.cos(-1.0), 3 * np.cos(2.0)]),
    "neg_": (lambda x, m: (x * 1).neg_(), [-1.0, -2.0, -3.0]),
    "abs_": (lambda x, m: (x * 1).abs_(), [1.0, -2.0, 3.0]),
    "square_": (lambda x, m: (x * 1).square_(), [1.0, -4.0, 12.0]),
    "exp_": (lambda x, m: (x * 1).exp_(), [np.exp(0.5), 2 * np.exp(-1.0), 3 * np.exp(2.0)]),
    "zero_-cuts-the-graph": (lambda x, m: (x * 2).zero_(), [0.0, 0.0, 0.0]),
    "fill_-cuts-the-graph": (lambda x, m: (x * 2).fill_(3), [0.0, 0.0, 0.0]),
    "copy_-cuts-the-graph": (lambda x, m: (x * 2).copy_(m.zeros(3)), [0.0, 0.0, 0.0]),
    "sub_-from-zeros": (lambda x, m: m.zeros(3).sub_(x), [-1.0, -2.0, -3.0]),
    "add_-into-zeros": (lambda x, m: m.zeros(3).add_(x * 2), [2.0, 4.0, 6.0]),
    "a*const-then-modify-a": (lambda x, m: _modify_after(x * 2, lambda a: a * m.ones(3)), [2.0, 4.0, 6.0]),
    "a/const-then-modify-a": (lambda x, m: _modify_after(x * 2, lambda a: a / m.ones(3)), [2.0, 4.0, 6.0]),
    "a*x-then-modify-a": (lambda x, m: _modify_after(x * 2, lambda a: a * x), None),
    "const/a-then-modify-a": (lambda x, m: _modify_after(x * 2, lambda a: m.ones(3) / a), None),
    "a**2-then-modify-a": (lambda x, m: _modify_after(x * 2, lambda a: a ** 2), None),
    "sigmoid-then-mul_": (lambda x, m: x.sigmoid().mul_(2), None),
    "exp-then-add_": (lambda x, m: x.exp().add_(1), None),
    "tanh-used-then-modified": (lambda x, m: _modify_after(x.tanh(), lambda y: y + 1), None),
}


def _modify_after(a, use):
    out = use(a)
    a.add_(1)
    return out


def _run_scenario(module, build):
    x = module.tensor([0.5, -1.0, 2.0], requires_grad=True)
    out = build(x, module)
    out.backward(module.tensor([1.0, 2.0, 3.0]))
    return x.grad


@pytest.mark.parametrize("name", SCENARIOS)
def test_backward_through_inplace_ops(name):
    build, expected = SCENARIOS[name]
    if expected is None:
        with pytest.raises(RuntimeError) as info:
            _run_scenario(fw, build)
        message = str(info.value)
        assert message.startswith("one of the variables needed for gradient computation has been modified by an "
                                   "inplace operation: [framework.FloatTensor [3]]"), message
        assert "is at version 1; expected version 0 instead." in message
    else:
        assert_close(_run_scenario(fw, build), np.array(expected), "float32")
    if torch is not None:  # the table above is what PyTorch does
        if expected is None:
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                _run_scenario(torch, build)
        else:
            assert_close(_run_scenario(torch, build), np.array(expected), "float32")


def test_inplace_result_takes_over_the_history():
    x = fw.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.add_(1)
    assert y.grad_fn.name() == "AddBackward0" and y.requires_grad and not y.is_leaf
    z = fw.zeros(2)
    z.add_(x)
    assert z.requires_grad and z.grad_fn is not None
    z.backward(fw.tensor([1.0, 1.0]))
    assert x.grad.tolist() == [1.0, 1.0]


def test_copy_and_fill_carry_gradient_to_the_source():
    src = fw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    buf = fw.zeros(2, 3)
    buf.copy_(src)
    buf.backward(fw.ones(2, 3))
    assert src.grad.tolist() == [2.0, 2.0, 2.0]
    value = fw.tensor(1.5, requires_grad=True)
    fw.zeros(2, 3).fill_(value).backward(fw.ones(2, 3))
    assert value.grad.item() == 6.0


def test_saved_tensor_modified_through_a_view_is_detected():
    x = fw.tensor([0.5, 1.0], requires_grad=True)
    y = x * 3
    z = y * 2  # multiplying by a constant saves nothing of y
    with fw.no_grad():
        y.view(2).mul_(3)
    assert y._version == 1
    z.backward(fw.ones(2))
    assert x.grad.tolist() == [6.0, 6.0]
    w = x.exp()  # saves its output
    with fw.no_grad():
        w.view(2).add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.backward(fw.ones(2))


@pytest.mark.uses_random
def test_uniform_and_normal_fill_in_place():
    x = fw.empty(500)
    assert x.uniform_(-2, 3) is x and x._version == 1
    values = x.numpy()
    assert values.min() >= -2 and values.max() <= 3 and values.std() > 1
    x.normal_(5.0, 0.5)
    values = x.numpy()
    assert x._version == 2 and abs(values.mean() - 5.0) < 0.2 and 0.3 < values.std() < 0.7
    leaf = fw.empty(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        leaf.uniform_()
    with fw.no_grad():
        leaf.normal_()
    assert leaf.is_leaf and leaf.requires_grad


@requires_torch
def test_inplace_grad_fn_names_match_torch():
    x = fw.tensor([1.0, 2.0], requires_grad=True)
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda y: y.add_(1), lambda y: y.mul_(2), lambda y: y.exp_(), lambda y: y.sigmoid_(),
               lambda y: y.div_(2), lambda y: y.sub_(1)):
        assert op(x * 1).grad_fn.name() == op(t * 1).grad_fn.name()


# ---- writes through views, and views whose base changed in place ---------------------------------

def _view_scenarios(m):
    """Each returns values and gradients; framework and PyTorch must agree on all of them."""
    def stale_select():  # a view made before its base changed sees the base's new history
        x = m.ones(3, requires_grad=True)
        y = x * 2
        v = y[0]
        y.mul_(3)
        v.backward()
        return x.grad.tolist()

    def write_into_strided_view():
        x = m.arange(6.).requires_grad_()
        y = x * 1
        y.view(2, 3)[:, 1:].mul_(m.tensor([[2., 3.]]))
        (y * m.arange(6.)).sum().backward()
        return y.tolist(), x.grad.tolist()

    def zero_a_slice():
        x = m.ones(4, requires_grad=True)
        y = x * 2
        y[1:3].zero_()
        y.sum().backward()
        return x.grad.tolist()

    def setitem_on_a_view_of_a_view():
        x = m.ones(2, 3, requires_grad=True)
        y = x * 2
        y.t()[0][1] = 5.
        (y * y).sum().backward()
        return x.grad.tolist()

    def base_gains_history_after_view():
        b = m.zeros(3)
        v = b[1:]
        w = m.ones(3, requires_grad=True)
        b.add_(w * 2)
        (v * 3).sum().backward()
        return w.grad.tolist()

    def sibling_views():
        x = m.ones(3, requires_grad=True)
        y = x * 2
        first, second = y[:2], y[1:]
        first.mul_(5)
        (second * m.tensor([1., 10.])).sum().backward()
        return x.grad.tolist(), second.tolist()

    return [stale_select, write_into_strided_view, zero_a_slice, setitem_on_a_view_of_a_view,
            base_gains_history_after_view, sibling_views]


@requires_torch
@pytest.mark.parametrize("index", range(6))
def test_views_and_in_place_writes_match_torch(index):
    ours, theirs = _view_scenarios(fw)[index], _view_scenarios(torch)[index]
    assert ours() == theirs(), ours.__name__


def test_stale_view_gradient_without_torch():
    x = fw.ones(3, requires_grad=True)
    y = x * 2
    v = y[0]
    y.mul_(3)
    v.backward()
    assert x.grad.tolist() == [6.0, 0.0, 0.0]  # through both multiplications, not the stale 2
