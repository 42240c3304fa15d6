"""gradcheck and gradgradcheck: analytical gradients (and gradients of gradients) against float64 central
differences."""
import numpy as np

from ..backends.device_backend import backend_for
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
            backend = backend_for(x._device)
            flat_index = list(np.ndindex(data.shape))
            for i, idx in enumerate(flat_index):
                original = _element(backend, data, idx)
                # grad mode stays as it is: gradgradcheck's function takes gradients inside
                _set_element(backend, data, idx, original + eps)
                plus = _output_values(func, inputs, out_index)
                _set_element(backend, data, idx, original - eps)
                minus = _output_values(func, inputs, out_index)
                _set_element(backend, data, idx, original)
                numerical[i] = (plus - minus) / (2 * eps)
            if not np.allclose(analytical[k], numerical, rtol=rtol, atol=atol):
                message = (f"Jacobian mismatch for output {out_index} with respect to input {k},\n"
                           f"numerical:{numerical}\nanalytical:{analytical[k]}\n")
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def _element(backend, data, idx):
    """One element of a backend array, as a Python float."""
    return float(backend.to_host(_element_view(data, idx)).reshape(-1)[0])


def _set_element(backend, data, idx, value):
    backend.copy_into(_element_view(data, idx), value)


def _element_view(data, idx):
    """The element of `data` at `idx` as a one-element view (an integer index would give a numpy scalar)."""
    return data[tuple(slice(i, i + 1) for i in idx)] if idx else data


def _output_values(func, inputs, out_index):
    outputs = func(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    # a copy: the output may be a view of the input that is about to be perturbed again
    return np.array(outputs[out_index]._host(), dtype=np.float64).reshape(-1)


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, **_):
    """gradcheck of the gradients themselves: the first derivatives of `func` (taken with `create_graph=True`,
    against `grad_outputs`, random in [-1, 1) when not given) are checked against finite differences of
    themselves, with respect to the inputs and to `grad_outputs`, as PyTorch's gradgradcheck does."""
    from .. import autograd
    from ..tensor import Tensor
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff_inputs = [x for x in _flat_inputs(inputs) if x.requires_grad]
    if grad_outputs is None:
        with no_grad():
            outputs = func(*inputs)
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        rng = np.random.default_rng()
        grad_outputs = []
        for out in outputs:
            values = rng.uniform(-1.0, 1.0, size=tuple(out.shape)).astype(out._dtype.np)
            if gen_non_contig_grad_outputs and values.ndim:
                wide = np.zeros(values.shape[:-1] + (2 * values.shape[-1],), values.dtype)
                wide[..., ::2] = values
                values = wide[..., ::2]
            grad = Tensor._from_raw(values).to(out.device)
            grad_outputs.append(grad.requires_grad_(out._dtype.is_floating_point))
    grad_outputs = tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
    n_inputs = len(inputs)

    def first_derivatives(*args):
        outputs = func(*args[:n_inputs])
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, args[n_inputs:]) if o.requires_grad]
        grads = autograd.grad([o for o, _ in pairs], diff_inputs, [g for _, g in pairs], create_graph=True,
                              allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
