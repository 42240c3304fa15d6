"""Grad mode: whether ops record the graph. Thread-local, as in PyTorch."""
import functools
import threading

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "enabled", True)


def _set_enabled(mode):
    _state.enabled = mode


class _GradModeContext:
    """Context manager and decorator (`@no_grad()` or bare `@no_grad`) that sets grad mode and
    restores it on exit."""

    _mode = None

    def __new__(cls, *args, **kwargs):
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]) and not kwargs:
            return cls()(args[0])  # used bare as a decorator
        return super().__new__(cls)

    def __enter__(self):
        self._previous = is_grad_enabled()
        _set_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _set_enabled(self._previous)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        mode = self._mode
        return wrapper


class no_grad(_GradModeContext):
    _mode = False


class enable_grad(_GradModeContext):
    _mode = True


class set_grad_enabled(_GradModeContext):
    """Sets grad mode on construction (like PyTorch), so it works as a plain call too."""

    def __init__(self, mode):
        self._mode = bool(mode)
        self._previous = is_grad_enabled()
        _set_enabled(self._mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set_enabled(self._previous)
        return False

    def __call__(self, fn):
        _set_enabled(self._previous)  # used as a decorator: construction must not leak the mode
        return super().__call__(fn)


class inference_mode(no_grad):
    def __init__(self, mode=True):
        self._mode = not mode
