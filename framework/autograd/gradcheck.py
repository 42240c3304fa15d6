"""gradcheck: analytical gradients against float64 central differences."""
import numpy as np

from .grad_mode import no_grad


class GradcheckError(RuntimeError):
    pass


def _flat_inputs(inputs):
    from ..tensor import Tensor
    return [x for x in (inputs if isinstance(inputs, (tuple, list)) else (inputs,)) if isinstance(x, Tensor)]


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **_):
    """Compare the Jacobian that backward computes with finite differences, input by input.

    Inputs that require grad must be float64, as in PyTorch (float32 differences are too coarse).
    """
    from .. import autograd
    from ..tensor import Tensor
    inputs = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    diff_inputs = [x for x in _flat_inputs(inputs) if x.requires_grad]
    for x in diff_inputs:
        if x.dtype.name != "float64":
            import warnings
            warnings.warn(f"Input #{inputs.index(x)} requires gradient and is not a double precision floating point. "
                          "This check will likely fail if all the inputs are not of double precision floating point. ")
    outputs = func(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    for out_index, out in enumerate(outputs):
        if not out.requires_grad:
            continue
        n_out = out.numel()
        analytical = [np.zeros((x.numel(), n_out)) for x in diff_inputs]
        for j in range(n_out):
            seed = np.zeros(n_out, dtype=out._data.dtype)
            seed[j] = 1
            seed_tensor = Tensor._from_raw(seed.reshape(out._data.shape)).to(out.device)
            grads = autograd.grad(out, diff_inputs, seed_tensor, retain_graph=True, allow_unused=True)
            for k, g in enumerate(grads):
                if g is not None:
                    analytical[k][:, j] = np.asarray(g._host(), dtype=np.float64).reshape(-1)
        for k, x in enumerate(diff_inputs):
            numerical = np.zeros((x.numel(), n_out))
            data = x._data  # perturbed in place, restored after each probe
            flat_index = list(np.ndindex(data.shape))
            for i, idx in enumerate(flat_index):
                original = _element(data, idx)
                with no_grad():
                    _set_element(data, idx, original + eps)
                    plus = _output_values(func, inputs, out_index)
                    _set_element(data, idx, original - eps)
                    minus = _output_values(func, inputs, out_index)
                    _set_element(data, idx, original)
                numerical[i] = (plus - minus) / (2 * eps)
            if not np.allclose(analytical[k], numerical, rtol=rtol, atol=atol):
                message = (f"Jacobian mismatch for output {out_index} with respect to input {k},\n"
                           f"numerical:{numerical}\nanalytical:{analytical[k]}\n")
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def _element(data, idx):
    """One element of a backend array (numpy, or a device array), as a Python float."""
    if isinstance(data, np.ndarray):
        return float(data[idx])
    return float(data[idx].to_numpy())


def _set_element(data, idx, value):
    if isinstance(data, np.ndarray):
        data[idx] = value
    else:
        from ..backends.cuda.common import copy_into
        copy_into(data[idx], value)


def _output_values(func, inputs, out_index):
    outputs = func(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    # a copy: the output may be a view of the input that is about to be perturbed again
    return np.array(outputs[out_index]._host(), dtype=np.float64).reshape(-1)
