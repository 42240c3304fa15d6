"""Grad mode: no_grad, enable_grad, set_grad_enabled, inference_mode; context managers and decorators;
thread-local as in PyTorch."""
import threading

import pytest

import framework as fw


def _records(x):
    return (x * 2).requires_grad


def test_no_grad_context():
    x = fw.ones(2, requires_grad=True)
    assert fw.is_grad_enabled()
    with fw.no_grad():
        assert not fw.is_grad_enabled()
        y = x * 2
        z = x.exp().view(2, 1)
    assert fw.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert not z.requires_grad
    assert _records(x)


def test_enable_grad_inside_no_grad():
    x = fw.ones(2, requires_grad=True)
    with fw.no_grad():
        with fw.enable_grad():
            assert fw.is_grad_enabled() and _records(x)
        assert not fw.is_grad_enabled() and not _records(x)


def test_set_grad_enabled_as_context_and_as_function():
    x = fw.ones(2, requires_grad=True)
    with fw.set_grad_enabled(False):
        assert not _records(x)
        with fw.set_grad_enabled(True):
            assert _records(x)
        assert not _records(x)
    assert fw.is_grad_enabled()
    fw.set_grad_enabled(False)
    try:
        assert not fw.is_grad_enabled() and not _records(x)
    finally:
        fw.set_grad_enabled(True)
    assert fw.is_grad_enabled()


def test_decorators():
    x = fw.ones(2, requires_grad=True)

    @fw.no_grad()
    def no_grad_fn(t):
        return t * 2

    @fw.enable_grad()
    def enable_grad_fn(t):
        return t * 2

    @fw.set_grad_enabled(False)
    def disabled_fn(t):
        return t * 2

    assert fw.is_grad_enabled()  # decorating changes nothing by itself
    assert not no_grad_fn(x).requires_grad and not disabled_fn(x).requires_grad
    with fw.no_grad():
        assert enable_grad_fn(x).requires_grad
    assert no_grad_fn.__name__ == "no_grad_fn"
    assert _records(x)


def test_bare_no_grad_decorator():
    """PyTorch 2 accepts `@torch.no_grad` without parentheses."""
    @fw.no_grad
    def fn(t):
        return t * 2

    assert not fn(fw.ones(2, requires_grad=True)).requires_grad
    assert fw.is_grad_enabled()


def test_mode_restored_after_an_exception():
    with pytest.raises(ValueError):
        with fw.no_grad():
            raise ValueError("boom")
    assert fw.is_grad_enabled()

    @fw.no_grad()
    def failing():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        failing()
    assert fw.is_grad_enabled()


def test_inference_mode():
    x = fw.ones(2, requires_grad=True)
    with fw.inference_mode():
        assert not fw.is_grad_enabled() and not _records(x)
    with fw.inference_mode(False):
        assert fw.is_grad_enabled()
    assert fw.is_grad_enabled()


def test_autograd_namespace_exports_the_same_objects():
    assert fw.autograd.no_grad is fw.no_grad and fw.autograd.enable_grad is fw.enable_grad
    assert fw.autograd.set_grad_enabled is fw.set_grad_enabled


def test_grad_mode_is_thread_local():
    results = {}
    started, release = threading.Event(), threading.Event()

    def worker():
        results["initial"] = fw.is_grad_enabled()  # a new thread starts enabled, whatever the main thread does
        with fw.no_grad():
            started.set()
            release.wait(5)
            results["inside"] = fw.is_grad_enabled()
        results["after"] = fw.is_grad_enabled()

    with fw.no_grad():
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait(5)
        release.set()
        thread.join(5)
        assert not fw.is_grad_enabled()
    assert fw.is_grad_enabled()
    assert results == {"initial": True, "inside": False, "after": True}

    def disabler():
        fw.set_grad_enabled(False)
        results["other"] = fw.is_grad_enabled()

    thread = threading.Thread(target=disabler)
    thread.start()
    thread.join(5)
    assert results["other"] is False and fw.is_grad_enabled()


def test_backward_is_unaffected_by_the_callers_grad_mode():
    x = fw.ones(2, requires_grad=True)
    y = x.exp()
    with fw.no_grad():
        y.backward(fw.ones(2))
    assert x.grad is not None
