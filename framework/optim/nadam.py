"""NAdam (Adam with Nesterov momentum; momentum decay, L2 or decoupled weight decay, maximize): PyTorch's
single-tensor update, in its order."""
from ..creation import tensor, zeros_like
from . import _fast_path, _fused
from .optimizer import Optimizer, check_betas, check_lr, new_step, step_dtype

__all__ = ["NAdam"]


def momentum_coefficient(beta1, momentum_decay, step):
    """mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)): the momentum schedule of Dozat's NAdam."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))


def nesterov_step_sizes(lr, beta1, momentum_decay, step, mu_product):
    """The coefficients of grad and exp_avg in the update (param -= coefficient * x / denom), given the product
    of the mu's up to this step (this step's included). PyTorch computes them negated; negation is exact."""
    mu = momentum_coefficient(beta1, momentum_decay, step)
    mu_next = momentum_coefficient(beta1, momentum_decay, step + 1)
    return lr * (1.0 - mu) / (1.0 - mu_product), (lr * mu_next) / (1.0 - mu_product * mu_next)


class NAdam(Optimizer):
    """`torch.optim.NAdam(..., foreach=False)` step for step:

        g = -grad if maximize else grad
        param *= 1 - lr * weight_decay (decoupled_weight_decay)  or  g = g + weight_decay * param
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay));  mu_product *= mu_t
        exp_avg.lerp_(g, 1 - beta1);  exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        denom = sqrt(exp_avg_sq / (1 - beta2**t)) + eps
        param -= lr * (1 - mu_t) / (1 - mu_product) * g / denom
        param -= lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * exp_avg / denom

    mu_product is a 0-d float tensor on the CPU (state key "mu_product"), rounded as PyTorch rounds it.
    """

    _capturable_what = "params, mu_products and state_steps"

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("maximize", False), ("foreach", None), ("capturable", False),
                                 ("differentiable", False), ("decoupled_weight_decay", False)):
                group.setdefault(key, default)
        self._steps_as_tensors(("step", "mu_product"))

    def _state_of(self, p):
        state = self.state[p]
        if not state:
            state["step"] = new_step()
            state["mu_product"] = tensor(1.0, dtype=step_dtype())
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
        return state

    def _advance(self, state, group):
        """This step's count, bias correction and (grad, exp_avg) coefficients; updates step and mu_product."""
        beta1, beta2 = group["betas"]
        step = _fast_path.increment_step(state["step"])
        mu = momentum_coefficient(beta1, group["momentum_decay"], step)
        mu_product = _fast_path.scale_scalar_state(state["mu_product"], mu)
        return step, 1 - beta2 ** step, nesterov_step_sizes(float(group["lr"]), beta1, group["momentum_decay"],
                                                              step, mu_product)

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
            _, bias_correction2, (grad_step, exp_avg_step) = self._advance(state, group)
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
            denom = path.sqrt(exp_avg_sq / bias_correction2) + eps  # out of place: sqrt's backward reads its result
            # two addcdiv_s: (value * x) / denom, then the add, each rounded to the parameter's dtype
            param += grad * -grad_step / denom
            param += exp_avg * -exp_avg_step / denom
            path.mark_written(p, state["exp_avg"], state["exp_avg_sq"])

    def _fused_step(self, group, params):
        """The cuda path: the Adam family's kernel, rule "nadam" (one launch per dtype, step and mu_product)."""

        def advance(p):
            step, _, step_sizes = self._advance(self._state_of(p), group)
            return p._dtype, step, step_sizes

        launches = _fused.GroupLaunches(self, group)
        for (_, step, (grad_step, exp_avg_step)), params in _fused.classes(params, advance):
            rows = [(p, p.grad, self.state[p]["exp_avg"], self.state[p]["exp_avg_sq"]) for p in params]
            launches.launch("nadam", rows, lr=float(group["lr"]), beta1=group["betas"][0],
                            beta2=group["betas"][1], eps=group["eps"], weight_decay=group["weight_decay"], step=step,
                            grad_step_size=grad_step, exp_avg_step_size=exp_avg_step, maximize=group["maximize"],
                            decoupled=group["decoupled_weight_decay"])
