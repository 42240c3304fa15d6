"""The recorder: what a capture writes down, and the hook points the core calls.

While a graph captures, every registered kernel (the forward kernels `autograd.function.run` calls, the
backward kernels the engine calls through the graph's nodes, the in-place ops' `copy_`) is swapped in the
registry for a recording twin: it runs the kernel and appends `(kernel, its raw arguments, the arrays it
returned)` to the recorder. The few things that change buffers outside kernels record themselves through
`host_op` / `first_gradient`: the engine's sum of two gradients, AccumulateGrad's first copy into `.grad`,
random draws (dropout's mask, rand/randn), clip_grad's fused cuda launches, and the optimizer's update, which
is recorded as one call of its update rule (so that a replay reads the learning rate a scheduler set, and
Adam's step count, at that moment, as an eager step does).

Replay (plan.py) calls each recorded function again on the recorded arguments and copies what it returns
into the arrays it returned at capture (the static buffers): later entries, and the tensors the user holds,
refer to those arrays, so they see the new values (an output that only later entries hold is handed to them
instead). An output that is a view of one of the call's inputs (a reshape, a kernel that returns its gradient
unchanged, an in-place write) is not copied: the same call on the same inputs makes the same view. A kernel's
`ctx` is passed again too: the forward re-saves what its backward reads.

Only the outermost call is recorded: kernels that call other kernels, and everything inside a `host_op`, run
as part of their caller's entry (`depth`).
"""
import sys
import weakref

import numpy as np

from ..backends.device_backend import loaded_backends

ACTIVE = None  # the Recorder of the capture in progress, or None
# The framework.cuda.CUDAGraph capture in progress (framework/backends/cuda/graphs.py), or None. A CUDA graph
# replays its launches with the arguments they had at capture, so what depends on host values that change
# between steps (an optimizer's learning rate and step count, a generator's offset) is refused during it.
CUDA_GRAPH = None
LIVE = weakref.WeakSet()  # Graphs holding a capture: told when a tensor's buffer is replaced (`released`)

# Ops whose output size depends on the values of their input: a replay into fixed-size buffers cannot hold them.
DATA_DEPENDENT = frozenset({"nonzero", "unique", "unique_consecutive", "unique_dim", "unique_dim_consecutive",
                            "masked_select", "bincount"})


class Recorder:
    __slots__ = ("entries", "depth", "_installed", "_registered")

    def __init__(self):
        self.entries = []
        self.depth = 0
        self._installed = None
        self._registered = 0

    # ---- recording -------------------------------------------------------------------------------------

    def record(self, fn, args, out, name):
        """Append `fn(*args)`, which returned `out`, to the entries; returns `out`, or, where it cannot serve as a
        static buffer (a numpy scalar, a read-only array of the kernel's own), an equal array that can."""
        inputs = _raw_inputs(args)
        if type(out) in (tuple, list):
            statics, fixed = [], []
            for i, o in enumerate(out):
                o, static = _static_output(o, inputs, name)
                fixed.append(o)
                if static is not None:
                    statics.append((i, static))
            out = type(out)(fixed)
            self.entries.append((fn, args, None, tuple(statics) or None))
            return out
        out, static = _static_output(out, inputs, name)
        self.entries.append((fn, args, static, None))
        return out

    # ---- the registry swap -----------------------------------------------------------------------------

    def install(self):
        from ..autograd.registry import KERNELS, KernelPair, not_differentiable
        installed = []
        for op, by_device in KERNELS.items():
            for device, pair in by_device.items():
                twin = _TWINS.get(pair)
                if twin is None:
                    backward = pair.backward  # not_differentiable raises: kept as is, so the registry still tells
                    twin = _TWINS[pair] = KernelPair(_recording(op, pair.forward, True),
                                                     backward if backward is not_differentiable else
                                                     _recording(op, backward, False))
                by_device[device] = twin
                installed.append((by_device, device, pair))
        self._installed = installed
        self._registered = len(installed)

    def uninstall(self):
        """Put the original kernels back; False when a kernel was registered meanwhile (a backend loaded during
        the capture: its kernels were not recorded)."""
        from ..autograd.registry import KERNELS
        for by_device, device, pair in self._installed:
            by_device[device] = pair
        self._installed = None
        return sum(len(by_device) for by_device in KERNELS.values()) == self._registered


_TWINS = {}  # kernel pair -> its recording twin (made once)


def _recording(op, kernel, forward):
    refuse = forward and op in DATA_DEPENDENT

    def recorded(*args):
        recorder = ACTIVE
        if recorder is None or recorder.depth:
            return kernel(*args)
        if refuse:
            raise RuntimeError(f"{op}() cannot be captured in a graph: the size of its output depends on the values "
                               "of its input, and a replay writes into buffers of the sizes seen at capture. Run it "
                               "outside the captured region.")
        recorder.depth += 1
        try:
            out = kernel(*args)
        finally:
            recorder.depth -= 1
        return recorder.record(kernel, args, out, op)
    recorded.__name__ = getattr(kernel, "__name__", op)
    recorded.__wrapped__ = kernel
    return recorded


# ---- hook points of the core ------------------------------------------------------------------------------

def host_op(fn, *args):
    """`fn(*args)`, a computation outside the registered kernels that makes or changes buffers (returns raw arrays,
    or a tuple of them, or None); recorded as one entry when a capture is in progress, and run again at replay."""
    recorder = ACTIVE
    if recorder is None or recorder.depth:
        return fn(*args)
    recorder.depth += 1
    try:
        out = fn(*args)
    finally:
        recorder.depth -= 1
    return recorder.record(fn, args, out, getattr(fn, "__name__", "host op"))


def first_gradient(variable, grad):
    """AccumulateGrad's first gradient of a leaf: `.grad` becomes a Tensor over a copy of `grad`. Recorded as a
    copy into that tensor's buffer which also makes it the leaf's `.grad` again, since code outside the graph
    (zero_grad(set_to_none=True), another captured graph) may have unset or replaced `.grad` between replays."""
    tensor = variable._wrap_like(grad.copy())
    recorder = ACTIVE
    if recorder is not None and not recorder.depth:
        recorder.entries.append((_set_gradient, (variable, tensor, grad), None, None))
    return tensor


def _set_gradient(variable, tensor, grad):
    copy_into(tensor._data, grad)
    if variable.grad is not tensor:
        variable.grad = tensor


def add(a, b):
    """The engine's sum of two raw gradients of one output."""
    return a + b if ACTIVE is None else host_op(_add, a, b)


def _add(a, b):
    return a + b


_READ_NAMES = {"__bool__": "bool()", "__float__": "float()", "__int__": "int()", "__index__": "index()",
               "__format__": "format()", "__array__": "numpy.asarray()", "__repr__": "printing", "__str__": "printing"}


def refuse_host_read(what=None):
    """Called by Tensor's host reads (`item`, `tolist`, `numpy`, printing, `bool()`): raises during a capture,
    naming `what`, or else the outermost Tensor method of the read. Reads inside a recorded host op (the
    optimizer's update rule) are part of that op."""
    recorder = ACTIVE
    if recorder is None or recorder.depth:
        return
    if what is None:
        frame, name = sys._getframe(1), None
        while frame is not None and frame.f_code.co_filename.endswith(("tensor.py", "printing.py")):
            name = frame.f_code.co_name
            frame = frame.f_back
        what = _READ_NAMES.get(name) or f"{name}()"
    raise RuntimeError(f"Cannot read a tensor's value on the host ({what}) while a graph is being captured: a replay "
                       "runs no Python, so the value read now would be stale at every replay (on a GPU this is "
                       "'operation not permitted when stream is capturing'). Read it outside the captured region, "
                       "from the graph's static output after replay().")


def released(array, new_shape):
    """A tensor's buffer `array` was replaced by another (`.data =`, an `out=` of a new shape): a graph that
    recorded it would go on reading the old buffer, so its replay now refuses."""
    for g in list(LIVE):
        shape = g._buffers.get(id(array)) if g._buffers else None
        if shape is not None:
            old, new = list(shape), list(new_shape)
            change = f"resized from {old} to {new}" if old != new else f"given new memory (shape {new})"
            g._stale = (f"A static tensor of this graph was {change} after the capture, so a replay would read and "
                        "write its old buffer. Copy new values into static tensors with copy_() (same shape), or "
                        "capture a new graph for the new shape.")


def refuse_in_cuda_graph(what):
    """Raise when a framework.cuda.CUDAGraph is being captured: `what` depends on host values that its replays
    would freeze (see CUDA_GRAPH)."""
    if CUDA_GRAPH is not None:
        raise RuntimeError(f"{what} cannot be captured in a framework.cuda.CUDAGraph: its launches would keep the "
                           f"host values of the capture (learning rate, step count, random offset) at every replay. "
                           f"Capture the forward and backward (framework.cuda.make_graphed_callables) and run it "
                           f"outside the graph, or capture the whole step with framework.graphs.capture, whose "
                           f"replays read those values afresh")


def refuse_lazy_state_in_cuda_graph(optimizer_name):
    """An optimizer making its state (moments, step counts) during a framework.cuda.CUDAGraph capture: the graph
    would zero it again at every replay."""
    if CUDA_GRAPH is not None:
        raise RuntimeError(f"{optimizer_name}'s state is made at its first step, which cannot be captured in a "
                           f"framework.cuda.CUDAGraph (each replay would reset it): warm up with a few eager steps "
                           f"before capturing")


def refuse_random_draw():
    """Called by each device's generator before it draws: a draw during a capture that no recorded host op
    makes (dropout's mask and rand/randn are recorded) would be replayed with the capture's numbers."""
    recorder = ACTIVE
    if recorder is None or recorder.depth:
        return
    frame, name = sys._getframe(1), "a random draw"
    while frame is not None and frame.f_code.co_filename.endswith("random.py"):
        name = frame.f_code.co_name
        frame = frame.f_back
    caller = f" (called from {frame.f_code.co_name})" if frame is not None else ""
    raise RuntimeError(f"{name}(){caller} cannot be captured in a graph yet: a replay would use the numbers drawn at "
                       "capture again. Dropout, rand, randn and randint are captured with fresh draws at each replay; "
                       "draw anything else outside the captured region.")


# ---- buffers ----------------------------------------------------------------------------------------------

def _backend_of(x):
    """The loaded device backend whose raw arrays are of x's type, or None."""
    for backend in loaded_backends():
        if type(x) is backend.array_type:
            return backend
    return None


def is_raw(x):
    return type(x) is np.ndarray or _backend_of(x) is not None


def _raw_inputs(args):
    found = []
    for a in args:
        if type(a) in (tuple, list):
            found.extend(x for x in a if is_raw(x))
        elif is_raw(a):
            found.append(a)
    return found


def _shares(a, b):
    if type(a) is np.ndarray:
        return type(b) is np.ndarray and np.may_share_memory(a, b)
    return type(a) is type(b) and a.storage is b.storage


def _static_output(out, inputs, name):
    """(what the caller gets, the static buffer a replay copies into, or None for no copy)."""
    if out is None:
        return None, None
    if isinstance(out, np.generic):
        out = np.asarray(out)  # a numpy scalar (a 0-d reduction): a 0-d array the replay can write into
    if not is_raw(out):
        raise RuntimeError(f"{name} cannot be captured in a graph: it returned a {type(out).__name__}, a value on "
                           "the host that a replay cannot update. Run it outside the captured region.")
    if any(_shares(out, x) for x in inputs):
        return out, None  # a view of an input, or the input written in place: the same call makes it again
    if type(out) is np.ndarray and not out.flags.writeable:
        out = np.array(out)  # a read-only array of the kernel's own (a broadcast): a writable equal buffer
    return out, out


def copy_into(static, value):
    """Write a replayed result into its static buffer."""
    if type(static) is np.ndarray:
        np.copyto(static, value)
        return
    _backend_of(static).copy_into(static, value)
