"""RMSprop (centered, momentum, weight decay, maximize): PyTorch's single-tensor update, in its order."""
from ..creation import zeros_like
from . import _fast_path, _fused
from .optimizer import Optimizer, check_lr, new_step

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """`torch.optim.RMSprop(..., foreach=False)` step for step:

        g = -grad if maximize else grad;  g = g + weight_decay * param
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        avg = sqrt(square_avg - grad_avg**2) + eps, grad_avg.lerp_(g, 1 - alpha)   (centered)
        avg = sqrt(square_avg) + eps                                                (otherwise)
        buf = momentum * buf + g / avg; param -= lr * buf      (momentum > 0)
        param -= lr * g / avg                                  (otherwise)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("momentum", 0), ("centered", False), ("foreach", None), ("maximize", False),
                                 ("differentiable", False), ("capturable", False)):
                group.setdefault(key, default)
        self._steps_as_tensors()

    def _init_state(self, p, group):
        state = self.state[p]
        state["step"] = new_step()
        state["square_avg"] = zeros_like(p)
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = zeros_like(p)
        return state

    def _step_group(self, group):
        lr = float(group["lr"])
        alpha = group["alpha"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        maximize = group["maximize"]
        fused, rest = self._split_group(group, ("square_avg", "momentum_buffer", "grad_avg"))
        if fused:
            self._fused_step(group, fused)
        for p, path, param, grad in _fast_path.parameters_with_grads(rest, maximize, group["differentiable"]):
            state = self.state[p]
            if not state:
                state = self._init_state(p, group)
            _fast_path.increment_step(state["step"])
            if weight_decay != 0:
                grad = grad + param * weight_decay
            square_avg = path.data(state["square_avg"])
            square_avg *= alpha
            square_avg += grad * (1 - alpha) * grad
            written = [p, state["square_avg"]]
            if centered:
                grad_avg = path.data(state["grad_avg"])
                _fast_path.lerp_(path, grad_avg, grad, 1 - alpha)
                # PyTorch: square_avg.addcmul(grad_avg, grad_avg, value=-1); (-a) * a is exactly -(a * a)
                avg = path.sqrt(square_avg - grad_avg * grad_avg) + eps
                written.append(state["grad_avg"])
            else:
                # out of place: under differentiable=True, sqrt's backward reads the value it returned
                avg = path.sqrt(square_avg) + eps
            if momentum > 0:
                buf = path.data(state["momentum_buffer"])
                buf *= momentum
                buf += grad / avg
                param += buf * -lr
                written.append(state["momentum_buffer"])
            else:
                param += grad * -lr / avg
            path.mark_written(*written)

    def _fused_step(self, group, params):
        """The cuda path: one launch per dtype."""
        momentum, centered = group["momentum"], group["centered"]

        def count_step(p):
            state = self.state[p] or self._init_state(p, group)
            _fast_path.increment_step(state["step"])
            return p._dtype

        launches = _fused.GroupLaunches(self, group)
        for _, params in _fused.classes(params, count_step):
            rows = [(p, p.grad, self.state[p]["square_avg"], self.state[p]["momentum_buffer"] if momentum > 0 else None,
                     self.state[p]["grad_avg"] if centered else None) for p in params]
            launches.launch("rmsprop", rows, lr=float(group["lr"]), alpha=group["alpha"],
                            eps=group["eps"], weight_decay=group["weight_decay"], momentum=momentum,
                            centered=centered, maximize=group["maximize"])
