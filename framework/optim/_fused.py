"""The multi-tensor path of the optimizers: one launch updates all of a group's parameters.

On a device with multi-tensor kernels (`cuda`), a rule written with Tensor operators (the per-parameter path of
_fast_path.py) costs about ten kernel launches per parameter per step. Instead, the parameters of a group that
qualify -- contiguous, with a gradient and state of their own dtype and shape, of a dtype in the device
backend's `multi_tensor_dtypes` -- are updated by one `fused_optimizer_step` of the backend per (dtype, state
class), which finds their addresses in a device table (normally one launch per group). The rest take the
per-parameter path as before; the CPU backend has no such kernels, so CPU runs never come here.

The table is kept on the optimizer and uploaded again only when an address or a size changes: a new .grad
tensor each step after zero_grad(set_to_none=True) when the allocator places it elsewhere, or parameters and
state replaced (load_state_dict, `p.data = ...`).
"""
from ..backends.device_backend import backend_for
from ..graphs import recording

# Tests switch this off to run the per-parameter Tensor path on cuda.
ENABLED = True


def supports(param):
    """Whether `param` can ever take a fused launch (its device's backend has one for its dtype)."""
    return param._dtype in backend_for(param._device).multi_tensor_dtypes


def _matches(param, tensor):
    return (tensor._device == param._device and tensor._dtype is param._dtype and tensor.shape == param.shape
            and tensor._data.is_contiguous())


def split(params, state, state_names):
    """(params the fused path takes, params left to the per-parameter path). A parameter qualifies when it
    and its gradient are contiguous tensors of one device and a dtype its multi-tensor kernels take, and so are
    the `state_names` tensors it already has."""
    if not ENABLED:
        return [], params
    fused, rest = [], []
    for p in params:
        grad = p.grad
        ok = grad is not None and supports(p) and p._data.is_contiguous() and _matches(p, grad)
        if ok and p in state:
            ok = all(_matches(p, state[p][name]) for name in state_names if state[p].get(name) is not None)
        (fused if ok else rest).append(p)
    return fused, rest


class GroupLaunches:
    """The launches of one parameter group in one step, with the tables kept from the group's previous step."""

    def __init__(self, optimizer, group):
        index = next(i for i, g in enumerate(optimizer.param_groups) if g is group)
        cache = optimizer.__dict__.setdefault("_fused_tables", {})
        self._previous = cache.get(index, {})
        self._tables = cache[index] = {}  # only what this step used is kept

    def launch(self, rule, rows, **hyper):
        """One step of optimizer `rule` over `rows`: per parameter, (param, grad, *state) Tensors or None, in the
        rule's slot order (device_backend.MultiTensorKernels.fused_optimizer_step), all on one device."""
        key = tuple(id(row[0]) for row in rows)
        backend = backend_for(rows[0][0]._device)
        arrays = [tuple(None if t is None else t._data for t in row) for row in rows]
        if recording.CUDA_GRAPH is None:
            self._tables[key] = backend.fused_optimizer_step(rule, arrays, previous=self._previous.get(key), **hyper)
        else:
            # A capturable step in a framework.cuda.CUDAGraph: the launch is captured (recorded under the interpreter)
            # with these arguments, as a GPU replays it; its table is uploaded during the capture.
            tables = [self._previous.get(key)]

            def fused_launch():
                tables[0] = backend.fused_optimizer_step(rule, arrays, previous=tables[0], **hyper)

            recording.host_op(fused_launch)
            self._tables[key] = tables[0]
        for row in rows:  # written in place behind autograd's back: bump versions as in-place ops do
            for slot, tensor in enumerate(row):
                if slot != 1 and tensor is not None:
                    tensor._version_counter[0] += 1


def classes(params, key):
    """Parameters grouped by `key(p)` (insertion order kept): each class is one launch."""
    grouped = {}
    for p in params:
        grouped.setdefault(key(p), []).append(p)
    return grouped.items()
