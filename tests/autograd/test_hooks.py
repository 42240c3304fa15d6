"""Gradient hooks that return a gradient of another shape, dtype or device, or no tensor at all: PyTorch's
errors (framework/autograd/hooks.py), never a .grad of the wrong shape or dtype. And post-accumulate-grad hooks."""
import functools

import pytest

import framework as fw
from helpers import DEVICES, raises_like_torch, torch, torch_name


def shape_hook(g):
    return g[:1]


def dtype_hook(g):
    return g.double()


def int_hook(g):
    return g.long()


def number_hook(g):
    return 5


def list_hook(g):
    return [g]


class CallableHook:
    def __call__(self, g):
        return g[:1]


HOOKS = {"shape": shape_hook, "dtype": dtype_hook, "int": int_hook, "number": number_hook, "list": list_hook,
         "lambda": lambda g: g.sum(), "object": CallableHook(), "partial": functools.partial(shape_hook)}


def _non_leaf(lib, hook, device="cpu"):
    x = lib.ones(3, requires_grad=True, device=device)
    y = x * 2
    y.register_hook(hook)
    y.sum().backward()


def _leaf(lib, hook, device="cpu"):
    x = lib.ones(3, requires_grad=True, device=device)
    x.register_hook(hook)
    (x * 2).sum().backward()


def _post_accumulate(lib, hook, device="cpu"):
    x = lib.ones(3, requires_grad=True, device=device)
    x.register_post_accumulate_grad_hook(hook)
    (x * 2).sum().backward()


@pytest.mark.parametrize("where", [_non_leaf, _leaf, _post_accumulate], ids=["non_leaf", "leaf", "post_accumulate"])
@pytest.mark.parametrize("name", sorted(HOOKS))
def test_a_hook_that_changes_the_gradient_raises_as_pytorch(where, name):
    hook = HOOKS[name]
    message = raises_like_torch(lambda: where(fw, hook), lambda: where(torch, hook))
    if torch is not None:
        with pytest.raises(Exception) as info:
            where(torch, hook)
        assert torch_name(message) == str(info.value)


@pytest.mark.parametrize("device", DEVICES)
def test_the_messages_name_the_hook_and_both_types(device):
    prefix = "framework.cuda." if device == "cuda" else "framework."
    with pytest.raises(RuntimeError, match=fr"^hook 'dtype_hook' has changed the type of value \(was "
                                           fr"{prefix}FloatTensor got {prefix}DoubleTensor\)$"):
        _non_leaf(fw, dtype_hook, device)
    with pytest.raises(RuntimeError, match="^hook '<lambda>' has changed the size of value$"):
        _leaf(fw, lambda g: g[1:], device)
    other = "cpu" if device == "cuda" else None
    if other is not None:  # a gradient moved to another device
        with pytest.raises(RuntimeError, match=f"was {prefix}FloatTensor got framework.FloatTensor"):
            _non_leaf(fw, lambda g: g.cpu(), device)


@pytest.mark.parametrize("device", DEVICES)
def test_hooks_that_keep_shape_and_dtype_replace_the_gradient(device):
    x = fw.ones(3, requires_grad=True, device=device)
    y = x * 2
    y.register_hook(lambda g: g * 3)
    x.register_hook(lambda g: g + 1)
    y.sum().backward()
    assert x.grad.tolist() == [7.0, 7.0, 7.0] and x.grad.dtype is fw.float32


def test_post_accumulate_grad_hooks_see_the_accumulated_grad():
    for lib in (fw, torch) if torch is not None else (fw,):
        x = lib.ones(3, requires_grad=True)
        seen = []
        handle = x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
        (x * 2).sum().backward()
        (x * 3).sum().backward()
        handle.remove()
        (x * 3).sum().backward()
        assert seen == [[2.0] * 3, [5.0] * 3]
        same_shape = lib.ones(3, requires_grad=True)
        same_shape.register_post_accumulate_grad_hook(lambda t: t * 0)
        with pytest.raises(RuntimeError, match="^Tensor post accumulate grad hooks should return None.$"):
            (same_shape * 2).sum().backward()


def test_post_accumulate_grad_hook_registration_errors():
    for call in (lambda L: (L.ones(3, requires_grad=True) * 2).register_post_accumulate_grad_hook(print),
                 lambda L: L.ones(3).register_post_accumulate_grad_hook(print)):
        message = raises_like_torch(lambda: call(fw), lambda: call(torch))
        if torch is not None:
            with pytest.raises(RuntimeError) as info:
                call(torch)
            assert message == str(info.value)
