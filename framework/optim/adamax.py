"""Adamax (Adam with the infinity norm; weight decay, maximize): PyTorch's single-tensor update, in its order."""
from ..creation import zeros_like
from . import _fast_path, _fused
from .optimizer import Optimizer, check_betas, check_lr, new_step

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """`torch.optim.Adamax(..., foreach=False)` step for step:

        g = -grad if maximize else grad;  g = g + weight_decay * param
        exp_avg.lerp_(g, 1 - beta1);  exp_inf = max(beta2 * exp_inf, |g| + eps)
        param -= lr / (1 - beta1**t) * exp_avg / exp_inf
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("foreach", None), ("maximize", False), ("differentiable", False),
                                 ("capturable", False)):
                group.setdefault(key, default)
        self._steps_as_tensors()

    def _state_of(self, p):
        state = self.state[p]
        if not state:
            state["step"] = new_step()
            state["exp_avg"] = zeros_like(p)
            state["exp_inf"] = zeros_like(p)
        return state

    def _step_group(self, group):
        lr = float(group["lr"])
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        fused, rest = self._split_group(group, ("exp_avg", "exp_inf"))
        if fused:
            self._fused_step(group, fused)
        for p, path, param, grad in _fast_path.parameters_with_grads(rest, group["maximize"], group["differentiable"]):
            state = self._state_of(p)
            step = _fast_path.increment_step(state["step"])
            if weight_decay != 0:
                grad = grad + param * weight_decay
            exp_avg = path.data(state["exp_avg"])
            exp_inf = path.data(state["exp_inf"])
            _fast_path.lerp_(path, exp_avg, grad, 1 - beta1)
            exp_inf *= beta2
            norm = path.abs(grad)
            norm += eps
            path.maximum_(exp_inf, norm)
            clr = lr / (1 - beta1 ** step)
            param += exp_avg * -clr / exp_inf  # addcdiv_: (value * exp_avg) / exp_inf, then the add
            path.mark_written(p, state["exp_avg"], state["exp_inf"])

    def _fused_step(self, group, params):
        """The cuda path: the Adam family's kernel, rule "adamax" (one launch per dtype and step count)."""

        def count_step(p):
            return p._dtype, _fast_path.increment_step(self._state_of(p)["step"])

        launches = _fused.GroupLaunches(self, group)
        for (_, step), params in _fused.classes(params, count_step):
            rows = [(p, p.grad, self.state[p]["exp_avg"], self.state[p]["exp_inf"]) for p in params]
            launches.launch("adamax", rows, lr=float(group["lr"]), beta1=group["betas"][0],
                            beta2=group["betas"][1], eps=group["eps"], weight_decay=group["weight_decay"], step=step,
                            maximize=group["maximize"])
