"""Adam (with AMSGrad, L2 or decoupled weight decay, maximize): PyTorch's single-tensor update, in its order."""
from .. import dtypes
from ..creation import zeros, zeros_like
from ..graphs import recording
from ..tensor import Tensor
from . import _fast_path, _fused
from .optimizer import CAPTURABLE_DEVICES, Optimizer, check_betas, check_lr, new_step, step_dtype

__all__ = ["Adam"]


class Adam(Optimizer):
    """`torch.optim.Adam(..., foreach=False)` step for step:

        g = -grad if maximize else grad
        param *= 1 - lr * weight_decay           (decoupled_weight_decay, i.e. AdamW)
        g = g + weight_decay * param             (otherwise)
        exp_avg.lerp_(g, 1 - beta1);  exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        v = max(max_exp_avg_sq, exp_avg_sq) if amsgrad else exp_avg_sq
        param -= lr / (1 - beta1**t) * exp_avg / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    With capturable=True (cuda) the step count is a 0-d tensor on the parameter's device and `lr` may be a
    1-element Tensor there: the update reads both from device memory (no host value depends on them), so it can
    be captured in a framework.cuda.CUDAGraph, with PyTorch's capturable arithmetic (the bias corrections as
    float32 tensors: see triton_kernels/optimizer.py).
    """

    def _not_capturable(self, group):
        if not group["capturable"]:
            return ("without capturable=True (pass capturable=True, and lr as a Tensor on the device for a scheduler "
                    "to change it between replays)")
        return None

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (isinstance(betas[0], float) and isinstance(betas[1], float)
                or isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor)):
            raise ValueError("betas must be either both floats or both Tensors")
        betas = tuple(b.item() if isinstance(b, Tensor) else b for b in betas)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)
        self._check_fused_flags(fused, foreach, differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for key, default in (("amsgrad", False), ("maximize", False), ("foreach", None), ("capturable", False),
                                 ("differentiable", False), ("decoupled_weight_decay", False), ("fused", None)):
                group.setdefault(key, default)
        self._steps_as_tensors()

    def _init_state(self, p, group):
        state = self.state[p]
        # step first, a 0-d float tensor on the CPU (on the parameter's device when capturable), as PyTorch keeps it
        if group["capturable"]:
            recording.refuse_lazy_state_in_cuda_graph(type(self).__name__)
            state["step"] = zeros((), dtype=step_dtype(group["fused"]), device=p.device)
        else:
            state["step"] = new_step(group["fused"])
        state["exp_avg"] = zeros_like(p)
        state["exp_avg_sq"] = zeros_like(p)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(p)
        return state

    def _step_group(self, group):
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        fused, rest = self._split_group(group, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"))
        if group["capturable"]:
            self._capturable_step(group, fused, rest)
            return
        lr = float(group["lr"])
        if fused:
            self._fused_step(group, fused)
        for p, path, param, grad in _fast_path.parameters_with_grads(rest, maximize, group["differentiable"]):
            state = self.state[p]
            if not state:
                state = self._init_state(p, group)
            step = _fast_path.increment_step(state["step"])
            if weight_decay != 0:
                if decoupled:
                    param *= 1 - lr * weight_decay
                else:
                    grad = grad + param * weight_decay
            exp_avg = path.data(state["exp_avg"])
            exp_avg_sq = path.data(state["exp_avg_sq"])
            _fast_path.lerp_(path, exp_avg, grad, 1 - beta1)
            exp_avg_sq *= beta2
            exp_avg_sq += grad * (1 - beta2) * grad

            # the bias corrections are Python floats, as in PyTorch's non-capturable path
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2 ** 0.5
            if amsgrad:
                max_exp_avg_sq = path.data(state["max_exp_avg_sq"])
                path.maximum_(max_exp_avg_sq, exp_avg_sq)
                denom = path.sqrt(max_exp_avg_sq) / bias_correction2_sqrt
                path.mark_written(state["max_exp_avg_sq"])
            else:
                denom = path.sqrt(exp_avg_sq) / bias_correction2_sqrt
            denom += eps
            param += exp_avg * -step_size / denom  # addcdiv_: (value * exp_avg) / denom, then the add
            path.mark_written(p, state["exp_avg"], state["exp_avg_sq"])

    def _fused_step(self, group, params):
        """The cuda path: one launch per dtype and step count (the bias corrections are per launch)."""
        amsgrad = group["amsgrad"]

        def count_step(p):
            state = self.state[p] or self._init_state(p, group)
            return p._dtype, _fast_path.increment_step(state["step"])

        launches = _fused.GroupLaunches(self, group)
        for (_, step), params in _fused.classes(params, count_step):
            rows = [(p, p.grad, self.state[p]["exp_avg"], self.state[p]["exp_avg_sq"],
                     self.state[p]["max_exp_avg_sq"] if amsgrad else None) for p in params]
            launches.launch("adam", rows, lr=float(group["lr"]), beta1=group["betas"][0],
                            beta2=group["betas"][1], eps=group["eps"], weight_decay=group["weight_decay"], step=step,
                            amsgrad=amsgrad, maximize=group["maximize"], decoupled=group["decoupled_weight_decay"])

    # ---- capturable=True ------------------------------------------------------------------------------------

    def _capturable_step(self, group, fused, rest):
        """The step count and a Tensor lr stay in device memory: the fused launch where it can take the
        parameters (float32 counts, lr a float or a Tensor on their device), else PyTorch's Tensor ops."""
        lr = group["lr"]
        for p in fused + rest:
            state = self.state[p] or self._init_state(p, group)
            if state["step"]._device != p._device or p._device.type not in CAPTURABLE_DEVICES:
                raise AssertionError(f"If capturable=True, {self._capturable_what} must be on supported devices: "
                                     f"{CAPTURABLE_DEVICES}.")
        params = fused + rest
        lr_on_device = isinstance(lr, Tensor) and bool(params) and lr._device == params[0]._device
        if isinstance(lr, Tensor) and not lr_on_device:
            recording.refuse_in_cuda_graph("optimizer.step() with lr a Tensor that is not on the parameters' device")
        kernel = [p for p in fused if self.state[p]["step"]._dtype is dtypes.float32]
        if kernel:
            if lr_on_device:
                lr_arg = (lr if lr._dtype is dtypes.float32 else lr.to(dtypes.float32))._data
            else:
                lr_arg = float(lr)
            launches = _fused.GroupLaunches(self, group)
            amsgrad = group["amsgrad"]
            for _, params in _fused.classes(kernel, lambda p: p._dtype):
                rows = [(p, p.grad, self.state[p]["exp_avg"], self.state[p]["exp_avg_sq"],
                         self.state[p]["max_exp_avg_sq"] if amsgrad else None, self.state[p]["step"]) for p in params]
                launches.launch("adam", rows, lr=lr_arg, beta1=group["betas"][0], beta2=group["betas"][1],
                                eps=group["eps"], weight_decay=group["weight_decay"], amsgrad=amsgrad,
                                maximize=group["maximize"], decoupled=group["decoupled_weight_decay"],
                                capturable=True)
        in_kernel = {id(p) for p in kernel}
        for p in rest + [p for p in fused if id(p) not in in_kernel]:
            self._capturable_tensor_step(group, p, lr)

    def _capturable_tensor_step(self, group, p, lr):
        """PyTorch's capturable single-tensor update, Tensor op for Tensor op (scalars as 0-d tensors)."""
        beta1, beta2 = group["betas"]
        weight_decay, eps = group["weight_decay"], group["eps"]
        state = self.state[p]
        grad = -p.grad if group["maximize"] else p.grad
        step_t = state["step"]
        step_t.add_(1)
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * weight_decay)
            else:
                grad = grad + p * weight_decay
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _fast_path.lerp_(_fast_path.TENSOR_PATH, exp_avg, grad, 1 - beta1)
        exp_avg_sq.mul_(beta2)
        exp_avg_sq.add_(grad * (1 - beta2) * grad)
        bias_correction1 = 1 - beta1 ** step_t
        bias_correction2 = 1 - beta2 ** step_t
        step_size_neg = (lr / bias_correction1).neg()
        bias_correction2_sqrt = bias_correction2.sqrt()
        second = exp_avg_sq
        if group["amsgrad"]:
            _fast_path.TENSOR_PATH.maximum_(state["max_exp_avg_sq"], exp_avg_sq)
            second = state["max_exp_avg_sq"]
        denom = second.sqrt() / (bias_correction2_sqrt * step_size_neg) + eps / step_size_neg
        p.add_(exp_avg / denom)  # addcdiv_(exp_avg, denom): value 1
