"""Capturable Adam (triton_kernels.optimizer.capturable_adam_step) through Triton's interpreter: the step counts
and a tensor lr read from memory, against a float32 numpy transcription of PyTorch's capturable Adam (its
`capturable or differentiable` branch of _single_tensor_adam, whose scalars are float32 tensors)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import optimizer as opt
from triton_kernels.host_tensor import HostTensor

F32 = np.float32
DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
TOL = {"float32": 2e-6, "bfloat16": 1e-2, "float64": 1e-6}  # float64 params: float32 bias corrections


def reference(param, grad, state, step, lr, lr_is_tensor, beta1, beta2, eps, weight_decay=0.0, amsgrad=False,
              maximize=False, decoupled=False):
    """One step in `param`'s compute dtype (float64 for float64, else float32), scalars in float32."""
    ct = np.float64 if param.dtype == np.float64 else F32
    one, step = F32(1), F32(step)
    grad = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled:
            scale = (one - F32(lr) * F32(weight_decay)) if lr_is_tensor else ct(1 - lr * weight_decay)
            param = param * ct(scale)
        else:
            grad = grad + param * ct(weight_decay)
    w = ct(1 - beta1)
    m = state["exp_avg"]
    m = np.where(w < 0.5, m + (grad - m) * w, grad - (grad - m) * ct(1 - float(ct(1 - beta1))))
    v = state["exp_avg_sq"] * ct(beta2) + grad * ct(1 - beta2) * grad
    state["exp_avg"], state["exp_avg_sq"] = m, v
    if amsgrad:
        v = state["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], v)
    bc1 = one - np.power(F32(beta1), step)
    bc2 = one - np.power(F32(beta2), step)
    step_size_neg = -(F32(lr) / bc1 if lr_is_tensor else (one / bc1) * F32(lr))
    denom = np.sqrt(v) / ct(np.sqrt(bc2) * step_size_neg) + ct((one / step_size_neg) * F32(eps))
    return param + m / denom


CASES = [
    dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-6, weight_decay=1e-2, amsgrad=True, maximize=True),
    dict(lr=1e-2, beta1=0.3, beta2=0.9, eps=1e-8, weight_decay=0.1, amsgrad=True, decoupled=True),  # lerp w >= 0.5
]


def run(dtype, hyper, lr_is_tensor, shapes=((7, 13), (1,), (0,), (300,)), steps=3):
    np_dtype, ct = DTYPES[dtype], (np.float64 if dtype == "float64" else F32)
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(np_dtype) for s in shapes]
    grads = [np.zeros_like(p) for p in params]
    names = opt.ADAM_SLOTS[2:]
    states = [{n: np.zeros_like(p) for n in names} for p in params]
    counts = [np.zeros((), F32) for _ in params]
    lr_array = np.array([hyper["lr"]], F32)
    table = opt.build_table([(HostTensor(p), HostTensor(g), *(HostTensor(s[n]) for n in names), HostTensor(c))
                             for p, g, s, c in zip(params, grads, states, counts)],
                            len(opt.CAPTURABLE_ADAM_SLOTS), upload=HostTensor, step_slot=len(opt.ADAM_SLOTS))
    expected = [p.astype(ct) for p in params]
    expected_states = [{n: s[n].astype(ct) for n in names} for s in states]
    for step in range(1, steps + 1):
        lr_array[0] = hyper["lr"] / step  # a scheduler writes the tensor in place: the kernel reads it afresh
        for g in grads:
            g[...] = rng.standard_normal(g.shape).astype(np_dtype)
        launch = dict(hyper, lr=HostTensor(lr_array) if lr_is_tensor else hyper["lr"] / step)
        opt.capturable_adam_step(table, **launch)
        for i, g in enumerate(grads):
            assert counts[i] == step  # size-0 tensors count their steps too
            new = reference(expected[i], g.astype(ct), expected_states[i], step,
                            **dict(hyper, lr=float(lr_array[0]) if lr_is_tensor else hyper["lr"] / step),
                            lr_is_tensor=lr_is_tensor)
            expected[i] = new.astype(np_dtype).astype(ct)
            expected_states[i] = {k: v.astype(np_dtype).astype(ct) for k, v in expected_states[i].items()}
            scale = 1 + np.abs(expected[i]).max(initial=0)
            np.testing.assert_allclose(params[i].astype(ct), expected[i], rtol=TOL[dtype], atol=TOL[dtype] * scale,
                                       err_msg=f"step {step}, tensor {i}")
            for name in names:
                np.testing.assert_allclose(states[i][name].astype(ct), expected_states[i][name], rtol=TOL[dtype],
                                           atol=TOL[dtype], err_msg=f"step {step}, tensor {i}, {name}")


@pytest.mark.parametrize("lr_is_tensor", [True, False], ids=["lr_tensor", "lr_float"])
@pytest.mark.parametrize("hyper", CASES)
def test_capturable_adam_float32(hyper, lr_is_tensor):
    run("float32", hyper, lr_is_tensor)


@pytest.mark.parametrize("dtype", ["bfloat16", "float64"])
def test_capturable_adam_other_dtypes(dtype):
    run(dtype, CASES[2], True, shapes=((7, 13), (300,)), steps=2)


def test_capturable_checks():
    p = np.zeros(8, np.float32)
    arrays = (HostTensor(p), HostTensor(p.copy()), HostTensor(p.copy()), HostTensor(p.copy()), None)
    with pytest.raises(TypeError, match="step count"):
        opt.build_table([(*arrays, HostTensor(np.zeros((), np.float64)))], 6, step_slot=5)
    with pytest.raises(TypeError, match="step count"):
        opt.build_table([(*arrays, None)], 6, step_slot=5)
    table = opt.build_table([(*arrays, HostTensor(np.zeros((), np.float32)))], 6, upload=HostTensor, step_slot=5)
    with pytest.raises(TypeError, match="1-element float32"):
        opt.capturable_adam_step(table, lr=HostTensor(np.zeros(2, np.float32)), beta1=0.9, beta2=0.9, eps=1e-8,
                                 weight_decay=0.0)
    with pytest.raises(ValueError, match="step count last"):
        opt.capturable_adam_step(opt.build_table([arrays], 5, upload=HostTensor), lr=1e-3, beta1=0.9, beta2=0.9,
                                 eps=1e-8, weight_decay=0.0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_sgd_reads_a_tensor_lr_from_memory(dtype):
    """SGD's lr by address computes what the same float32 lr as a float computes, bit for bit, and a change
    written into the array is seen by the next launch without a new table."""
    np_dtype = DTYPES[dtype]
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(np_dtype) for s in ((7, 13), (1,), (0,))]
    runs = []
    for by_address in (True, False):
        params = [p.copy() for p in start]
        grads = [np.zeros_like(p) for p in params]
        buffers = [np.zeros_like(p) for p in params]
        lr_array = np.zeros(1, F32)
        table = opt.build_table([(HostTensor(p), HostTensor(g), HostTensor(b)) for p, g, b in
                                 zip(params, grads, buffers)], len(opt.SGD_SLOTS), upload=HostTensor)
        draws = np.random.default_rng(1)
        for step in range(1, 4):
            lr_array[0] = 0.1 / step
            for g in grads:
                g[...] = draws.standard_normal(g.shape).astype(np_dtype)
            opt.sgd_step(table, lr=HostTensor(lr_array) if by_address else float(lr_array[0]), momentum=0.9,
                         weight_decay=1e-2, nesterov=True, first_step=step == 1)
        runs.append(params + buffers)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a.astype(np.float64), b.astype(np.float64))
