"""The `cuda` path of the optimizers: one multi-tensor launch updates all of a group's parameters.

On `cuda`, a rule written with Tensor operators (the per-parameter path of _fast_path.py) costs about ten
kernel launches per parameter per step. Instead, the parameters of a group that qualify -- on cuda,
contiguous, with a gradient and state of their own dtype and shape, float32/float16/bfloat16/float64 -- are
updated by one launch of a triton_kernels.optimizer kernel per (dtype, state class), which finds their
addresses in a device table (normally one launch per group). The rest take the per-parameter path as before,
so CPU runs never come here.

The table is kept on the optimizer and uploaded again only when an address or a size changes: a new .grad
tensor each step after zero_grad(set_to_none=True) when the allocator places it elsewhere, or parameters and
state replaced (load_state_dict, `p.data = ...`).
"""
from .. import dtypes

# Tests switch this off to run the per-parameter Tensor path on cuda.
ENABLED = True

_DTYPES = (dtypes.float32, dtypes.float16, dtypes.bfloat16, dtypes.float64)


def supports(param):
    """Whether `param` can ever take a fused cuda launch (its device and dtype)."""
    return param._device.type == "cuda" and param._dtype in _DTYPES


def _matches(param, tensor):
    return (tensor._device == param._device and tensor._dtype is param._dtype and tensor.shape == param.shape
            and tensor._data.is_contiguous())


def split(params, state, state_names):
    """(params the fused path takes, params left to the per-parameter path). A parameter qualifies when it
    and its gradient are contiguous cuda tensors of one supported dtype, and so are the `state_names`
    tensors it already has."""
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

    def launch(self, step_fn, slots, rows, **hyper):
        """`step_fn(table, **hyper)` over `rows`: per parameter, (param, grad, *state) Tensors or None, in the
        order of `slots` (a rule's slot names in triton_kernels.optimizer)."""
        from triton_kernels import optimizer as kernels

        from ..backends.cuda.array import from_numpy
        key = tuple(id(row[0]) for row in rows)
        table = kernels.build_table([tuple(None if t is None else t._data for t in row) for row in rows],
                                    len(slots), upload=from_numpy, previous=self._previous.get(key))
        self._tables[key] = table
        step_fn(table, **hyper)
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
