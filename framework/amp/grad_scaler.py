"""`framework.amp.GradScaler`: loss scaling for float16 training, as `torch.amp.GradScaler`.

The scale and the growth tracker are 0-d tensors on the loss's device (float32 and int32), and each
optimizer's found-inf flag is a 0-d float32 tensor there too, so on `cuda` nothing is read back to the host
until `step` asks one question per step ("did any gradient overflow?", PyTorch's one `.item()`), never one per
parameter. On `cuda` the contiguous gradients of each dtype are unscaled and checked by ONE launch
(triton_kernels/amp.py, over the optimizers' multi-tensor tables) and `update` is one launch of one program;
other gradients (the CPU, non-contiguous ones) take Tensor ops, which run on their own device.
"""
import warnings
from collections import defaultdict
from enum import Enum

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..backends.device_backend import backend_for
from ..creation import full
from ..device import device as _device
from ..tensor import Tensor

__all__ = ["GradScaler", "OptState"]


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state():
    return {"stage": OptState.READY, "found_inf_per_device": {}}


class GradScaler:
    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = device
        self._enabled = enabled
        if device == "cuda" and enabled:
            from .. import cuda
            if not cuda.is_available():
                warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                              stacklevel=2)
                self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale = None
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker = None
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)
            self._tables = {}  # (id(optimizer), dtype) -> the multi-tensor table of its last fused unscale

    # ---- scale ----------------------------------------------------------------------------------------------

    def _check_scale_growth_tracker(self, funcname):
        fix = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + fix)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + fix)
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self, dev):
        self._scale = full((), self._init_scale, dtype=dtypes.float32, device=dev)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=dtypes.int32, device=dev)

    def scale(self, outputs):
        """`outputs` (a tensor, or an iterable of them) multiplied by the current scale."""
        if not self._enabled:
            return outputs

        def apply_scale(value):
            if isinstance(value, Tensor):
                if self._scale is None:
                    self._lazy_init_scale_growth_tracker(value.device)
                return value * self._scale.to(device=value.device)
            if isinstance(value, (list, tuple)):
                return type(value)(apply_scale(v) for v in value)
            if hasattr(value, "__iter__"):
                return map(apply_scale, value)
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    # ---- unscale and step -----------------------------------------------------------------------------------

    def _unscale_grads_(self, optimizer, inv_scale, allow_fp16):
        per_device = defaultdict(lambda: defaultdict(list))
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if not allow_fp16 and param.grad.dtype is dtypes.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                per_device[param.grad.device][param.grad.dtype].append(param.grad)
        found = {}
        with no_grad():
            for dev, per_dtype in per_device.items():
                found_inf = found[dev] = full((), 0.0, dtype=dtypes.float32, device=dev)
                for dtype, grads in per_dtype.items():
                    self._unscale_group(optimizer, dtype, grads, inv_scale, found_inf)
        return found

    def _unscale_group(self, optimizer, dtype, grads, inv_scale, found_inf):
        """Unscale `grads` (one device, one dtype) in place; set `found_inf` to 1 if any holds inf or nan."""
        backend = backend_for(found_inf.device)
        fused = [g for g in grads if g._data.is_contiguous()] if dtype in backend.multi_tensor_dtypes else []
        if fused:
            key = (id(optimizer), dtype)
            scale = self._scale if self._scale.device == found_inf.device else self._scale.to(found_inf.device)
            self._tables[key] = backend.unscale_grads_([g._data for g in fused], scale._data, found_inf._data,
                                                       previous=self._tables.get(key))
            for g in fused:  # written in place behind autograd's back: bump versions as in-place ops do
                g._version_counter[0] += 1
        for g in grads:
            if any(g is f for f in fused):
                continue
            # Tensor ops on the gradient's own device: no host read
            found_inf.copy_(found_inf.maximum((~g.isfinite()).any().float()))
            g.mul_(inv_scale.to(g.device))

    def unscale_(self, optimizer):
        """Divide `optimizer`'s gradients by the scale, in place, recording whether any was inf or nan."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = self._scale.double().reciprocal().float()
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, False)
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """Unscale (unless `unscale_` did) and run `optimizer.step()` unless a gradient overflowed."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        result = None
        if not sum(v.item() for v in state["found_inf_per_device"].values()):  # one read per device
            result = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return result

    # ---- update ---------------------------------------------------------------------------------------------

    def update(self, new_scale=None):
        """Back the scale off if any step this iteration overflowed; grow it after `growth_interval` clean ones."""
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, float):
                scale.fill_(new_scale)
            else:
                reason = ("new_scale should be a float or a 1-element torch.cuda.FloatTensor or "
                          "torch.FloatTensor with requires_grad=False.")
                if new_scale.device.type != self._device or new_scale.numel() != 1 or new_scale.requires_grad:
                    raise AssertionError(reason)
                scale.copy_(new_scale)
        else:
            found_infs = [f.to(device=scale.device) for state in self._per_optimizer_states.values()
                          for f in state["found_inf_per_device"].values()]
            if not found_infs:
                raise AssertionError("No inf checks were recorded prior to update.")
            found = found_infs[0]
            for other in found_infs[1:]:
                found = found + other
            _update_scale_(scale, tracker, found, self._growth_factor, self._backoff_factor, self._growth_interval)
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # ---- accessors and state --------------------------------------------------------------------------------

    def get_scale(self):
        if self._enabled:
            return self._init_scale if self._scale is None else self._scale.item()
        return 1.0

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def _get_growth_tracker(self):
        if self._enabled:
            return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker.item()
        return 0

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        if self._enabled:
            return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                    "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                    "_growth_tracker": self._get_growth_tracker()}
        return {}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale.fill_(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker.fill_(state_dict["_growth_tracker"])

    def __getstate__(self):
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise AssertionError("A GradScaler instance may only be pickled at the beginning of an iteration, "
                                     "or at the end after scaler.update().")
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
            state["_tables"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._enabled:
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)


def _update_scale_(scale, tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    """PyTorch's `_amp_update_scale_`, in place on the 0-d tensors, by their device's backend (one launch on cuda,
    numpy on the CPU)."""
    backend_for(scale.device).update_scale_(scale._data, tracker._data, found_inf._data, growth_factor,
                                            backoff_factor, growth_interval)
    scale._version_counter[0] += 1
    tracker._version_counter[0] += 1
