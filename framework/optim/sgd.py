"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (PyTorch's update, in its order)."""
from .. import dtypes
from ..creation import zeros_like
from ..graphs import recording
from ..tensor import Tensor
from . import _fast_path, _fused
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, step for step as `torch.optim.SGD(..., foreach=False)`:

        g = -grad if maximize else grad
        g = g + weight_decay * param
        buf = g (first step), else buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        param = param - lr * g

    With `lr` a Tensor on the parameters' (cuda) device, the fused launch reads it from device memory, so a step
    can be captured in a framework.cuda.CUDAGraph and a scheduler's in-place writes reach the replays (warm up
    first: the momentum buffers must exist before the capture).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        self._check_fused_flags(fused, foreach, differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:  # state dicts from older versions lack the newer options
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)

    def _not_capturable(self, group):
        if self._device_lr(group) is None:
            return ("with lr a float (pass lr as a Tensor on the parameters' device: the launches read it there, so "
                    "that a scheduler's changes reach the replays)")
        return None

    @staticmethod
    def _device_lr(group):
        """The group's lr when it is a Tensor on the (non-CPU) device of all its parameters, else None."""
        lr = group["lr"]
        if (isinstance(lr, Tensor) and lr._device.type != "cpu" and lr.numel() == 1
                and all(p._device == lr._device for p in group["params"])):
            return lr
        return None

    def _step_group(self, group):
        device_lr = self._device_lr(group)
        lr = float(group["lr"]) if device_lr is None else None  # a Tensor lr on the device is never read here
        momentum = group["momentum"]
        dampening = group["dampening"]
        weight_decay = group["weight_decay"]
        nesterov = group["nesterov"]
        maximize = group["maximize"]
        fused, rest = self._split_group(group, ("momentum_buffer",))
        if fused:
            self._fused_step(group, fused, device_lr)
        neg_lr = -lr if device_lr is None else None
        for p, path, param, grad in _fast_path.parameters_with_grads(rest, maximize, group["differentiable"]):
            if weight_decay != 0:
                grad = grad + param * weight_decay
            if momentum != 0:
                state = self.state[p]
                buf_tensor = state.get("momentum_buffer")
                if buf_tensor is None:
                    recording.refuse_lazy_state_in_cuda_graph("SGD")
                    buf_tensor = state["momentum_buffer"] = path.new_state(grad)
                    buf = path.data(buf_tensor)
                else:
                    buf = path.data(buf_tensor)
                    buf *= momentum
                    buf += grad if dampening == 0 else grad * (1 - dampening)
                    path.mark_written(buf_tensor)
                grad = grad + buf * momentum if nesterov else buf
            if neg_lr is None:
                neg_lr = -device_lr  # once per group, a launch (captured as such)
            param += grad * neg_lr
            path.mark_written(p)

    def _fused_step(self, group, params, device_lr):
        """The cuda path: one launch per dtype (and per first/later step of the momentum buffers); a Tensor lr on
        the device is read by the launch (as float32)."""
        momentum = group["momentum"]
        if device_lr is None:
            lr = float(group["lr"])
        else:
            lr = (device_lr if device_lr._dtype is dtypes.float32 else device_lr.to(dtypes.float32))._data

        def first_step(p):
            if momentum == 0:
                return False
            state = self.state[p]
            if state.get("momentum_buffer") is None:
                recording.refuse_lazy_state_in_cuda_graph("SGD")
                state["momentum_buffer"] = zeros_like(p)  # the first step writes the gradient into it
                return True
            return False

        launches = _fused.GroupLaunches(self, group)
        for (_, first), params in _fused.classes(params, lambda p: (p._dtype, first_step(p))):
            rows = [(p, p.grad, self.state[p]["momentum_buffer"] if momentum != 0 else None) for p in params]
            launches.launch("sgd", rows, lr=lr, momentum=momentum,
                            dampening=group["dampening"], weight_decay=group["weight_decay"],
                            nesterov=group["nesterov"], maximize=group["maximize"], first_step=first)
