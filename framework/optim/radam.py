"""RAdam (rectified Adam; L2 or decoupled weight decay, maximize): PyTorch's single-tensor update, in its order."""
from ..creation import zeros_like
from . import _fast_path, _fused
from .optimizer import Optimizer, check_betas, check_lr, new_step

__all__ = ["RAdam"]


def rectification(beta2, step):
    """The variance rectification term r_t of Liu et al., or None while rho_t <= 5 (too few steps for the
    second moment to be trusted: the update is then momentum SGD on the bias-corrected first moment)."""
    bias_correction2 = 1 - beta2 ** step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
    if not rho_t > 5.0:
        return None
    return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


class RAdam(Optimizer):
    """`torch.optim.RAdam(..., foreach=False)` step for step:

        g = -grad if maximize else grad
        param *= 1 - lr * weight_decay (decoupled_weight_decay)  or  g = g + weight_decay * param
        exp_avg.lerp_(g, 1 - beta1);  exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        m = exp_avg / (1 - beta1**t)
        param -= m * lr * (sqrt(1 - beta2**t) / (sqrt(exp_avg_sq) + eps)) * r_t   (rho_t > 5)
        param -= m * lr                                                           (otherwise)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "foreach": foreach, "capturable": capturable, "decoupled_weight_decay": decoupled_weight_decay,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("foreach", None), ("maximize", False), ("differentiable", False),
                                 ("decoupled_weight_decay", False), ("capturable", False)):
                group.setdefault(key, default)
        self._steps_as_tensors()

    def _state_of(self, p):
        state = self.state[p]
        if not state:
            state["step"] = new_step()
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
        return state

    def _step_group(self, group):
        lr = float(group["lr"])
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        fused, rest = self._split_group(group, ("exp_avg", "exp_avg_sq"))
        if fused:
            self._fused_step(group, fused)
        for p, path, param, grad in _fast_path.parameters_with_grads(rest, group["maximize"], group["differentiable"]):
            state = self._state_of(p)
            step = _fast_path.increment_step(state["step"])
            if weight_decay != 0:
                if group["decoupled_weight_decay"]:
                    param *= 1 - lr * weight_decay
                else:
                    grad = grad + param * weight_decay
            exp_avg = path.data(state["exp_avg"])
            exp_avg_sq = path.data(state["exp_avg_sq"])
            _fast_path.lerp_(path, exp_avg, grad, 1 - beta1)
            exp_avg_sq *= beta2
            exp_avg_sq += grad * (1 - beta2) * grad
            bias_corrected_exp_avg = exp_avg / (1 - beta1 ** step)
            rect = rectification(beta2, step)
            if rect is not None:
                denom = path.sqrt(exp_avg_sq) + eps  # out of place: sqrt's backward reads its result
                # PyTorch's `float / tensor` is reciprocal(tensor) * float: rounded twice, as here
                adaptive_lr = 1 / denom * (1 - beta2 ** step) ** 0.5
                param -= bias_corrected_exp_avg * lr * adaptive_lr * rect
            else:
                param -= bias_corrected_exp_avg * lr
            path.mark_written(p, state["exp_avg"], state["exp_avg_sq"])

    def _fused_step(self, group, params):
        """The cuda path: the Adam family's kernel, rule "radam" (one launch per dtype and step count)."""

        def count_step(p):
            return p._dtype, _fast_path.increment_step(self._state_of(p)["step"])

        launches = _fused.GroupLaunches(self, group)
        for (_, step), params in _fused.classes(params, count_step):
            rows = [(p, p.grad, self.state[p]["exp_avg"], self.state[p]["exp_avg_sq"]) for p in params]
            launches.launch("radam", rows, lr=float(group["lr"]), beta1=group["betas"][0],
                            beta2=group["betas"][1], eps=group["eps"], weight_decay=group["weight_decay"], step=step,
                            rectification=rectification(group["betas"][1], step), maximize=group["maximize"],
                            decoupled=group["decoupled_weight_decay"])
