"""`Optimizer`: parameter groups, per-parameter state, `zero_grad`, `step`, and state dicts in PyTorch's layout.

A subclass passes its hyper-parameters as `defaults` (every group gets the ones
it does not set) and implements `_step_group(group)`, which updates the
group's parameters in place; `step` runs the closure and then every group
under `no_grad` (with grad enabled for `differentiable=True`, as PyTorch does).
A subclass may instead override `step` itself, as PyTorch optimizers do.

PyTorch's implementation flags are accepted where PyTorch accepts them:
`foreach` only picks PyTorch's implementation (the results are the same);
`fused=True` (Adam, AdamW, SGD, Adagrad) is what the cuda path does anyway (one
multi-tensor launch per group) and on the CPU runs the same rule; `capturable=True`
is for CUDA-graph capture, which needs parameters on a capturable device (an
AssertionError otherwise, as in PyTorch). Adam and AdamW then keep the step count
on the parameter's device, as PyTorch does, and their update reads it and a Tensor
`lr` from device memory, so `step()` may run inside a framework.cuda.CUDAGraph
capture; so may SGD's when its `lr` is a Tensor on the device (its fused launch
reads it there). Other optimizers and flags are refused there: their launches take
host values that a replay would freeze. Otherwise the step count stays a CPU tensor
(framework.graphs' captures record the whole update as one call, which reads it and
the groups' hyper-parameters at each replay). `differentiable=True` runs the rule
with Tensor ops under autograd, so gradients flow through the update (and non-leaf
parameters are accepted).
"""
import copy
import warnings
from collections import defaultdict
from itertools import chain

from .. import dtypes
from ..autograd.grad_mode import enable_grad, set_grad_enabled
from ..creation import tensor
from ..graphs import recording
from ..tensor import Tensor, typename
from . import _fused

__all__ = ["Optimizer", "required"]

# The device types PyTorch names in its errors for fused=True and capturable=True (its lists, in its order).
FUSED_DEVICES = ["mps", "cuda", "xpu", "hpu", "cpu", "mtia", "privateuseone"]
CAPTURABLE_DEVICES = ["cuda", "xpu", "hpu", "privateuseone", "xla"]


class _RequiredParameter:
    """Marks a default that every parameter group must set itself."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()

def step_dtype(fused=False):
    """PyTorch's _get_scalar_dtype: the step counter is float64 only when that is the default dtype (float32
    under fused=True)."""
    return dtypes.float64 if dtypes.get_default_dtype() is dtypes.float64 and not fused else dtypes.float32


def new_step(fused=False):
    """A step counter at 0: a 0-d float tensor on the CPU, as PyTorch keeps it (see the module docstring)."""
    return tensor(0.0, dtype=step_dtype(fused))


def check_lr(lr):
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_betas(betas):
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {typename(params)}")
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ---- groups -------------------------------------------------------------

    def add_param_group(self, param_group):
        """Add a group (a dict with 'params' and any options); PyTorch's checks, in its order."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        # named_parameters() gives (name, tensor) pairs: keep the names alongside, as PyTorch does
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = params
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {typename(param)}")
            if not self.defaults.get("differentiable") and not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(params) != len(set(params)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = set()
        for group in self.param_groups:
            seen.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not seen.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- the training loop ----------------------------------------------------

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                grad.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns the closure's loss (or None)."""
        in_cuda_graph = recording.CUDA_GRAPH is not None
        if in_cuda_graph:
            self._check_capturable()
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if in_cuda_graph:
            self._update()  # its launches are captured one by one, with the arguments they have now
        else:
            recording.host_op(self._update)  # a graph capture records the update as one call, replayed as such
        return loss

    def _check_capturable(self):
        """During a framework.cuda.CUDAGraph capture: refuse unless every group with parameters can be captured."""
        for group in self.param_groups:
            if not group["params"]:
                continue
            why = self._not_capturable(group)
            if why is None and group.get("differentiable"):
                why = "with differentiable=True"
            if why is not None:
                recording.refuse_in_cuda_graph(f"optimizer.step() of {type(self).__name__} {why}")

    def _not_capturable(self, group):
        """Why this group's update cannot be captured in a framework.cuda.CUDAGraph (None when it can: its launches
        read every value that changes between steps, the step count and a Tensor lr, from device memory)."""
        return "(which has no capturable update here: Adam and AdamW with capturable=True, and SGD with lr a " \
               "Tensor on the device, have)"

    def _update(self):
        """Every group's update rule, reading the groups' hyper-parameters (a scheduler's lr) when it runs."""
        with set_grad_enabled(bool(self.defaults.get("differentiable"))):
            for group in self.param_groups:
                self._step_group(group)

    def _step_group(self, group):
        raise NotImplementedError

    # ---- what subclasses share -------------------------------------------------

    _capturable_what = "params and state_steps"  # what PyTorch's capturable error names (NAdam adds mu_products)

    def _check_fused_flags(self, fused, foreach, differentiable):
        """PyTorch's constructor checks of fused=True, in its order."""
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def _split_group(self, group, state_names):
        """(parameters the fused cuda launch takes, parameters left to the per-parameter rule) of a group's
        parameters with a gradient, after PyTorch's step-time checks of fused=True and capturable=True.
        `state_names`: the state tensors a fused parameter must hold in its own dtype and shape."""
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            if group.get("fused") and not (p._device.type in FUSED_DEVICES and p.is_floating_point()):
                raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported "
                                   f"devices: {FUSED_DEVICES} but {p.dtype} and {p._device.type}")
            if group.get("capturable") and p._device.type not in CAPTURABLE_DEVICES:
                raise AssertionError(f"If capturable=True, {self._capturable_what} must be on supported devices: "
                                     f"{CAPTURABLE_DEVICES}.")
        if group.get("differentiable"):
            return [], params  # autograd records Tensor ops, not the fused kernels
        return _fused.split(params, self.state, state_names)

    def _steps_as_tensors(self, keys=("step",)):
        """After loading an old state dict: counters saved as plain numbers become 0-d tensors (PyTorch's rule: on
        the parameter's device for a capturable group)."""
        for group in self.param_groups:
            on_device = bool(group.get("capturable"))
            for p in group["params"]:
                p_state = self.state.get(p, {})
                for key in keys:
                    if p_state and key in p_state and not isinstance(p_state[key], Tensor):
                        dtype = step_dtype(on_device and bool(group.get("fused")))
                        p_state[key] = tensor(float(p_state[key]), dtype=dtype, device=p.device if on_device else None)

    # ---- state dicts ----------------------------------------------------------

    def state_dict(self):
        """`{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}`; indices count params in order.

        As in PyTorch, the state's tensors are the optimizer's own (not copies): save or copy before changing them.
        """
        index_of = {}
        param_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            param_groups.append(packed)
        state = {(index_of[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict):
        """Load a `state_dict()` into an optimizer over parameters of the same group sizes (matched by position)."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        param_of = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                            chain.from_iterable(g["params"] for g in groups)))
        capturable = {i for g in saved_groups if g.get("capturable") for i in g["params"]}
        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in param_of:
                param = param_of[key]
                state[param] = _copy_to_param(param, value, step_on_device=key in capturable)
            else:
                state[key] = value
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.__setstate__({"state": state, "param_groups": saved_groups})


def _copy_to_param(param, value, key=None, step_on_device=False):
    """A copy of saved state `value` for `param`: tensors on its device, float tensors in its dtype.

    `step` counters stay as saved (a CPU tensor in PyTorch's layout), or go to the parameter's device as float32
    for a capturable group (PyTorch's rule). Unlike PyTorch, a tensor already on the right device and dtype is
    copied too, so the source optimizer's state is never shared.
    """
    if isinstance(value, Tensor):
        if key == "step":
            if step_on_device:
                return value.detach().to(device=param.device, dtype=dtypes.float32, copy=True)
            return value.detach().clone()
        dtype = param.dtype if param.is_floating_point() else None
        return value.detach().to(device=param.device, dtype=dtype, copy=True)
    if isinstance(value, dict):
        return {k: _copy_to_param(param, v, key=k, step_on_device=step_on_device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_to_param(param, v) for v in value)
    return value
