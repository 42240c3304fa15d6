"""The seam between the core and the devices: one backend object per device type, found by `backend_for`.

An op's computation goes through the kernel registry (autograd/registry.py: one kernel pair per op and device).
Everything else the core does with a device's memory goes through that device's backend object, never through a
module of one device:

    allocation   empty(shape, dtype)                  fill   full(shape, value, dtype)
    copies       copy_into(dst, src), from_host(array), to_host(array)
    random       random: the device's stream (Generator, default_generator, rand/normal/randint/bernoulli_mask,
                 uniform_/normal_ in place); sampling: multinomial(...)
    GradScaler   update_scale_(...)
    multi-tensor launches, where `multi_tensor_dtypes` is not empty (see MultiTensorKernels): the fused optimizer
                 step and its table, GradScaler's unscale, clip_grad_norm_'s total norm and scaling

Arrays are the backend's raw arrays (numpy on the CPU, CudaArray on `cuda`); `dtype` is a numpy dtype. So the core
(tensor, creation, autograd, optim, amp, nn, ops, random) names no device module and no triton_kernels: it calls
`backend_for(tensor.device)` (tests/backends/test_device_backend.py scans for such imports). A new device registers
one object. A recorder that captures a step for replay wraps a registered one:
`register_backend(kind, Recorder(backend_for(kind)))`, and puts the original back with `register_backend` after;
the core looks its backend up at each call, so it keeps no reference to the one replaced. The modules that may
name a device are the backends themselves, framework/cuda.py (torch.cuda) and utils/dlpack.py (DLPack's device
codes are particular runtimes' memory); the test lists them with their reasons.

A backend registers itself when its package is imported: the CPU's (backends/numpy) with `import framework`, the
cuda one with framework.backends.cuda, which imports Triton and so is loaded by `backend_for("cuda")` on first use
(`register_loader`), after checking that the device is usable. This module imports only `typing`.
"""
from typing import Protocol, runtime_checkable

_BACKENDS = {}  # device type -> its backend, in registration order
_LOADERS = {}   # device type -> a function that imports (and so registers) its backend


@runtime_checkable
class DeviceBackend(Protocol):
    """What every device's backend provides (arrays are its raw arrays, dtypes numpy dtypes)."""

    device_type: str  # "cpu", "cuda"
    device: object    # the framework.device its tensors carry (cuda:0, cpu)
    random: object    # the device's random stream: a module or object with framework.random's sampler names
    multi_tensor_dtypes: tuple  # the framework dtypes its MultiTensorKernels take; () when it has none
    array_type: type  # the class of its raw arrays (numpy.ndarray on the CPU)

    def empty(self, shape, dtype):
        """A new contiguous uninitialised array."""

    def full(self, shape, value, dtype):
        """A new contiguous array holding `value` (a Python number) everywhere."""

    def copy_into(self, dst, src):
        """dst[...] = src cast to dst's dtype (src an array that broadcasts to dst, or a Python number); dst."""

    def from_host(self, array):
        """A device array holding a copy of the numpy `array` (the array itself on the CPU)."""

    def to_host(self, array):
        """The numpy array of a device array's values (a copy; the array itself on the CPU)."""

    def multinomial(self, probs, num_samples, replacement, generator):
        """torch.multinomial on a 1-d or 2-d array of weights: int64 indices, drawn from the device's stream."""

    def update_scale_(self, scale, growth_tracker, found_inf, growth_factor, backoff_factor, growth_interval):
        """PyTorch's _amp_update_scale_ on one-element arrays (float32 scale and found_inf, int32 tracker)."""


@runtime_checkable
class MultiTensorKernels(Protocol):
    """The one-launch-for-many-tensors services of a backend whose `multi_tensor_dtypes` is not empty. The core
    uses them for tensors of one of those dtypes, contiguous, all on the device; else it runs Tensor ops."""

    def fused_optimizer_step(self, rule, rows, previous=None, **hyper):
        """One step of optimizer `rule` ("sgd", "adam", "adamax", "nadam", "radam", "rmsprop", "adagrad") over
        `rows` (per parameter: param, grad, then the rule's state arrays or None, in the rule's slot order) with
        the rule's hyper-parameters; returns the table it launched over, which is `previous` when the arrays have
        not moved (callers keep it for the next step). With `capturable=True` ("adam" only) each row ends with the
        parameter's step count (a 0-d float32 array, incremented on the device) and `lr` may be a 1-element
        float32 array: no launch argument depends on a host value that changes between steps."""

    def unscale_grads_(self, grads, scale, found_inf, previous=None):
        """GradScaler's unscale: every array in `grads` multiplied in place by the 0-d float32 `scale`, `found_inf`
        set to 1 if any held inf or nan; returns the table (kept as `fused_optimizer_step`'s)."""

    def total_norm(self, arrays, norm_type, max_norm=None):
        """The `norm_type` norm of `arrays` together (0-d, their promoted dtype); with `max_norm` each array is
        also multiplied in place by min(max_norm / (norm + 1e-6), 1) (clip_grad_norm_ in one pass)."""

    def scale_by_total_norm_(self, arrays, total, max_norm):
        """Multiply `arrays` in place by min(max_norm / (total + 1e-6), 1), `total` a 0-d array."""


def register_backend(device_type, backend):
    """Make `backend` serve `device_type` (replacing any before it: a recorder wraps the registered one)."""
    _BACKENDS[device_type] = backend
    return backend


def register_loader(device_type, load):
    """`load()` imports the backend of `device_type`, which registers itself: run by the first backend_for."""
    _LOADERS[device_type] = load


def backend_for(device):
    """The backend serving `device` (a framework.device, or a device string such as "cuda" or "cuda:0")."""
    kind = device if type(device) is str else getattr(device, "type", None)
    if kind is None:
        raise TypeError(f"backend_for() expects a device or a device string, got {type(device).__name__}")
    backend = _BACKENDS.get(kind)
    if backend is None:
        backend = _load(kind.partition(":")[0])
    return backend


def _load(kind):
    if kind not in _BACKENDS:
        load = _LOADERS.get(kind)
        if load is None:
            raise RuntimeError(f"Device '{kind}' does not have a corresponding backend registered (registered: "
                               f"{', '.join(sorted({*_BACKENDS, *_LOADERS}))})")
        load()
        if kind not in _BACKENDS:
            raise RuntimeError(f"loading the backend of device '{kind}' registered none")
    return _BACKENDS[kind]


def loaded_backends():
    """The backends registered so far (a device whose backend was never used is not loaded)."""
    return list(_BACKENDS.values())
