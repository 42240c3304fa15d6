"""Adagrad (lr decay, weight decay, maximize): PyTorch's single-tensor update, in its order."""
from ..creation import full_like
from . import _fast_path, _fused
from .optimizer import Optimizer, check_lr, new_step

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """`torch.optim.Adagrad(..., foreach=False)` step for step:

        g = -grad if maximize else grad;  g = g + weight_decay * param
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g * g;  param -= clr * g / (sqrt(sum) + eps)

    As in PyTorch, every parameter's state (step 0, sum = initial_accumulator_value) exists from construction.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        self._check_fused_flags(fused, foreach, differentiable)
        for group in self.param_groups:
            for p in group["params"]:
                # PyTorch fills every group's sums from the constructor's value, whatever the group says
                self._init_state(p, group, initial_accumulator_value)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("foreach", None), ("maximize", False), ("differentiable", False),
                                 ("fused", None)):
                group.setdefault(key, default)
        self._steps_as_tensors()

    def _init_state(self, p, group, initial_accumulator_value):
        state = self.state[p]
        state["step"] = new_step(group["fused"])
        state["sum"] = full_like(p, initial_accumulator_value)
        return state

    def _state_of(self, p, group):
        # a parameter added after construction gets its state on its first step, from the optimizer's defaults
        return self.state[p] or self._init_state(p, group, self.defaults["initial_accumulator_value"])

    def _step_group(self, group):
        lr = float(group["lr"])
        lr_decay = group["lr_decay"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        fused, rest = self._split_group(group, ("sum",))
        if fused:
            self._fused_step(group, fused)
        for p, path, param, grad in _fast_path.parameters_with_grads(rest, group["maximize"], group["differentiable"]):
            state = self._state_of(p, group)
            step = _fast_path.increment_step(state["step"])
            if weight_decay != 0:
                grad = grad + param * weight_decay
            clr = lr / (1 + (step - 1) * lr_decay)
            state_sum = path.data(state["sum"])
            state_sum += grad * grad
            std = path.sqrt(state_sum) + eps  # out of place: sqrt's backward reads its result (differentiable=True)
            param += grad * -clr / std  # addcdiv_: (value * grad) / std, then the add
            path.mark_written(p, state["sum"])

    def _fused_step(self, group, params):
        """The cuda path: RMSprop's kernel with the squares summed (one launch per dtype and step count)."""

        def count_step(p):
            return p._dtype, _fast_path.increment_step(self._state_of(p, group)["step"])

        launches = _fused.GroupLaunches(self, group)
        lr = float(group["lr"])
        for (_, step), params in _fused.classes(params, count_step):
            rows = [(p, p.grad, self.state[p]["sum"]) for p in params]
            launches.launch("adagrad", rows, lr=lr / (1 + (step - 1) * group["lr_decay"]),
                            eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"])
