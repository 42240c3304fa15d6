"""`capture`: a whole training step, captured once per input signature and replayed after that.

    @framework.graphs.capture
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for x, y in loader:
        loss = step(x, y)      # warm-up call(s) eager, then one capture, then replays
        scheduler.step()       # outside the step: Python between kernels runs at capture only

A call whose tensor arguments have a signature (shapes, dtypes, devices) not seen `warmup` times yet runs
eagerly; the next one captures (the capture is itself that call's step, run on static copies of its tensor
arguments); later calls with that signature copy their tensors into those static inputs and replay. Each
signature keeps its own graph; other arguments (numbers, strings) are part of the signature, since a replay
cannot change them. The tensors returned are the graph's static outputs, the same objects at every replay of
one signature: clone them to keep a value past the next call.
"""
import functools

from ..tensor import Tensor
from . import recording
from .capturing import Graph, graph


def capture(fn=None, *, warmup=1):
    """Decorator: replay `fn`'s kernels after `warmup` eager calls and one capture per input signature."""
    if fn is None:
        return lambda f: capture(f, warmup=warmup)
    if not callable(fn):
        raise TypeError(f"capture() expects a callable, got {type(fn).__name__}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    return CapturedStep(fn, warmup)


class CapturedStep:
    """A step function with one captured Graph per input signature (see the module's docstring)."""

    def __init__(self, fn, warmup):
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._warmup = warmup
        self._calls = {}   # signature -> eager calls made
        self._graphs = {}  # signature -> (Graph, static input tensors, static output)

    def __repr__(self):
        return f"<captured step {getattr(self._fn, '__qualname__', self._fn)!r}: {len(self._graphs)} graph(s)>"

    def __call__(self, *args, **kwargs):
        flat = not kwargs and all(type(a) is Tensor for a in args)  # the usual step(x, y): no tree to walk
        key = tuple(_tensor_signature(a) for a in args) if flat else _signature((args, kwargs))
        captured = self._graphs.get(key)
        if captured is not None and recording.ACTIVE is None:
            g, statics, out = captured
            for static, tensor in zip(statics, args if flat else _tensors((args, kwargs))):
                if tensor is not static:
                    recording.copy_into(static._data, tensor._data)
                    static._version_counter[0] += 1
            g.replay()
            return out
        if recording.ACTIVE is not None:  # called inside another capture: its kernels are that capture's
            return self._fn(*args, **kwargs)
        done = self._calls.get(key, 0)
        if done < self._warmup:
            self._calls[key] = done + 1
            return self._fn(*args, **kwargs)
        statics = []
        static_args, static_kwargs = _with_static_tensors((args, kwargs), statics)
        g = Graph()
        with graph(g):
            out = self._fn(*static_args, **static_kwargs)
        self._graphs[key] = (g, statics, out)
        return out

    def graphs(self):
        """{signature: Graph} of the captures made so far."""
        return {key: g for key, (g, _, _) in self._graphs.items()}

    def reset(self):
        """Drop every capture (the next calls warm up and capture again)."""
        for g, _, _ in self._graphs.values():
            g.reset()
        self._graphs.clear()
        self._calls.clear()


def _signature(value):
    """A hashable key: tensors by (shape, dtype, device, requires_grad), containers by their items, the rest by
    value."""
    if isinstance(value, Tensor):
        return _tensor_signature(value)
    if isinstance(value, (tuple, list)):
        return (type(value).__name__,) + tuple(_signature(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple((k, _signature(v)) for k, v in value.items())
    try:
        hash(value)
    except TypeError:
        raise TypeError(f"a captured step's arguments must be tensors, containers of them, or hashable values (a "
                        f"replay cannot change them); got a {type(value).__name__}") from None
    return ("value", type(value).__name__, value)


def _tensor_signature(t):
    return (t._data.shape, t._dtype, t._device, t._requires_grad)


def _tensors(value):
    """The tensors of `value`, in the order of `_signature`."""
    if isinstance(value, Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


def _with_static_tensors(value, statics):
    """`value` with each tensor replaced by a static copy (appended to `statics`): the buffers a replay reads."""
    if isinstance(value, Tensor):
        static = value.detach().clone()
        if value._requires_grad:
            static.requires_grad_(True)
        statics.append(static)
        return static
    if isinstance(value, (tuple, list)):
        return type(value)(_with_static_tensors(v, statics) for v in value)
    if isinstance(value, dict):
        return {k: _with_static_tensors(v, statics) for k, v in value.items()}
    return value
