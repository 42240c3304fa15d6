"""Multi-tensor optimizer kernels through Triton's interpreter (conftest sets TRITON_INTERPRET=1) against float64
numpy versions of framework/optim's update rules, plus ahead-of-time compiles for sm_80/sm_90 (no spills)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import optimizer as opt
from triton_kernels.host_tensor import HostTensor

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
# The kernels compute in float32 (float64 for float64) and round once per stored value; the references round
# the same values from float64. bfloat16: the interpreter also truncates where a GPU rounds (one more ulp a step).
TOL = {"float32": 2e-6, "float16": 2e-3, "bfloat16": 2.5e-2, "float64": 1e-12}
SHAPES = [(1,), (7, 13), (0,), (2500,), (3, 1, 5)]


def lerp(out, end, weight):
    return out + (end - out) * weight


def sgd_reference(param, grad, state, step, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                  maximize=False):
    grad = -grad if maximize else grad
    grad = grad + weight_decay * param
    if momentum != 0:
        buf = grad if step == 1 else momentum * state["momentum_buffer"] + (1 - dampening) * grad
        state["momentum_buffer"] = buf
        grad = grad + momentum * buf if nesterov else buf
    return param - lr * grad


def adam_reference(param, grad, state, step, lr, beta1, beta2, eps, weight_decay=0.0, amsgrad=False, maximize=False,
                   decoupled=False):
    grad = -grad if maximize else grad
    if decoupled:
        param = param * (1 - lr * weight_decay)
    else:
        grad = grad + weight_decay * param
    state["exp_avg"] = lerp(state["exp_avg"], grad, 1 - beta1)
    state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
    v = state["exp_avg_sq"]
    if amsgrad:
        v = state["max_exp_avg_sq"] = np.maximum(state["max_exp_avg_sq"], v)
    denom = np.sqrt(v) / np.sqrt(1 - beta2 ** step) + eps
    return param - lr / (1 - beta1 ** step) * state["exp_avg"] / denom


def _adam_start(param, grad, state, lr, beta1, weight_decay, maximize, decoupled):
    """What the Adam family shares: maximize, weight decay, the first moment."""
    grad = -grad if maximize else grad
    if decoupled:
        param = param * (1 - lr * weight_decay)
    else:
        grad = grad + weight_decay * param
    state["exp_avg"] = lerp(state["exp_avg"], grad, 1 - beta1)
    return param, grad


def nadam_mu(beta1, momentum_decay, step):
    return beta1 * (1 - 0.5 * 0.96 ** (step * momentum_decay))


def nadam_reference(param, grad, state, step, lr, beta1, beta2, eps, momentum_decay, weight_decay=0.0, maximize=False,
                    decoupled=False):
    param, grad = _adam_start(param, grad, state, lr, beta1, weight_decay, maximize, decoupled)
    state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
    mu_product = np.prod([nadam_mu(beta1, momentum_decay, t) for t in range(1, step + 1)])
    mu, mu_next = nadam_mu(beta1, momentum_decay, step), nadam_mu(beta1, momentum_decay, step + 1)
    denom = np.sqrt(state["exp_avg_sq"] / (1 - beta2 ** step)) + eps
    return (param - lr * (1 - mu) / (1 - mu_product) * grad / denom
            - lr * mu_next / (1 - mu_product * mu_next) * state["exp_avg"] / denom)


def nadam_launch(table, step, momentum_decay, beta1, lr, **hyper):
    """The launcher's arguments for `step`: the step sizes from the product of the mu's (here in float64)."""
    mu_product = np.prod([nadam_mu(beta1, momentum_decay, t) for t in range(1, step + 1)])
    mu, mu_next = nadam_mu(beta1, momentum_decay, step), nadam_mu(beta1, momentum_decay, step + 1)
    opt.nadam_step(table, step=step, beta1=beta1, lr=lr, grad_step_size=lr * (1 - mu) / (1 - mu_product),
                   exp_avg_step_size=lr * mu_next / (1 - mu_product * mu_next), **hyper)


def radam_rectification(beta2, step):
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2 ** step / (1 - beta2 ** step)
    return np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) if rho_t > 5 else None


def radam_reference(param, grad, state, step, lr, beta1, beta2, eps, weight_decay=0.0, maximize=False,
                    decoupled=False):
    param, grad = _adam_start(param, grad, state, lr, beta1, weight_decay, maximize, decoupled)
    state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
    m_hat = state["exp_avg"] / (1 - beta1 ** step)
    rect = radam_rectification(beta2, step)
    if rect is None:
        return param - lr * m_hat
    return param - lr * m_hat * np.sqrt(1 - beta2 ** step) / (np.sqrt(state["exp_avg_sq"]) + eps) * rect


def radam_launch(table, step, beta2, **hyper):
    opt.radam_step(table, step=step, beta2=beta2, rectification=radam_rectification(beta2, step), **hyper)


def adamax_reference(param, grad, state, step, lr, beta1, beta2, eps, weight_decay=0.0, maximize=False):
    param, grad = _adam_start(param, grad, state, lr, beta1, weight_decay, maximize, False)
    state["exp_inf"] = np.maximum(beta2 * state["exp_inf"], np.abs(grad) + eps)
    return param - lr / (1 - beta1 ** step) * state["exp_avg"] / state["exp_inf"]


def adagrad_reference(param, grad, state, step, lr, eps, weight_decay=0.0, maximize=False):
    grad = -grad if maximize else grad
    grad = grad + weight_decay * param
    state["sum"] = state["sum"] + grad * grad
    return param - lr * grad / (np.sqrt(state["sum"]) + eps)


def rmsprop_reference(param, grad, state, step, lr, alpha, eps, weight_decay=0.0, momentum=0.0, centered=False,
                      maximize=False):
    grad = -grad if maximize else grad
    grad = grad + weight_decay * param
    state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * grad * grad
    if centered:
        state["grad_avg"] = lerp(state["grad_avg"], grad, 1 - alpha)
        avg = np.sqrt(state["square_avg"] - state["grad_avg"] ** 2) + eps
    else:
        avg = np.sqrt(state["square_avg"]) + eps
    if momentum > 0:
        state["momentum_buffer"] = momentum * state["momentum_buffer"] + grad / avg
        return param - lr * state["momentum_buffer"]
    return param - lr * grad / avg


RULES = {  # name: (slots, launch(table, step, **hyper), reference)
    "sgd": (opt.SGD_SLOTS, lambda table, step, **hyper: opt.sgd_step(table, first_step=step == 1, **hyper),
            sgd_reference),
    "adam": (opt.ADAM_SLOTS, lambda table, step, **hyper: opt.adam_step(table, step=step, **hyper), adam_reference),
    "nadam": (opt.NADAM_SLOTS, nadam_launch, nadam_reference),
    "radam": (opt.RADAM_SLOTS, radam_launch, radam_reference),
    "adamax": (opt.ADAMAX_SLOTS, lambda table, step, **hyper: opt.adamax_step(table, step=step, **hyper),
               adamax_reference),
    "rmsprop": (opt.RMSPROP_SLOTS, lambda table, step, **hyper: opt.rmsprop_step(table, **hyper), rmsprop_reference),
    "adagrad": (opt.ADAGRAD_SLOTS, lambda table, step, **hyper: opt.adagrad_step(table, **hyper), adagrad_reference),
}


def run_steps(rule, dtype, hyper, shapes=SHAPES, steps=3, block_size=None):
    """`steps` updates of one table of tensors by the kernel and by the reference; compares after each step."""
    slots, launch, reference = RULES[rule]
    np_dtype, rng = DTYPES[dtype], np.random.default_rng()
    params = [rng.standard_normal(shape).astype(np_dtype) for shape in shapes]
    grads = [np.zeros_like(p) for p in params]
    # Adagrad's sums start at PyTorch's initial_accumulator_value (here 0.1), the rest at 0
    states = [{name: np.full_like(p, 0.1 if name == "sum" else 0) for name in slots[2:]} for p in params]
    table = opt.build_table([(HostTensor(p), HostTensor(g), *(HostTensor(s[name]) for name in slots[2:]))
                             for p, g, s in zip(params, grads, states)], len(slots), upload=HostTensor,
                            block_size=block_size)
    expected = [p.astype(np.float64) for p in params]
    expected_states = [{k: v.astype(np.float64) for k, v in s.items()} for s in states]
    for step in range(1, steps + 1):
        for g in grads:  # refilled in place: the table's addresses stay valid
            g[...] = rng.standard_normal(g.shape).astype(np_dtype)
        launch(table, step, **hyper)
        for i, g in enumerate(grads):
            new = reference(expected[i], g.astype(np.float64), expected_states[i], step, **hyper)
            # what the kernel stores: every value rounded to the dtype
            expected[i] = new.astype(np_dtype).astype(np.float64)
            expected_states[i] = {k: v.astype(np_dtype).astype(np.float64) for k, v in expected_states[i].items()}
            scale = 1 + np.abs(expected[i]).max(initial=0)
            np.testing.assert_allclose(params[i].astype(np.float64), expected[i], rtol=TOL[dtype],
                                       atol=TOL[dtype] * scale, err_msg=f"step {step}, tensor {i}")
            for name, value in expected_states[i].items():
                scale = 1 + np.abs(value).max(initial=0)
                np.testing.assert_allclose(states[i][name].astype(np.float64), value, rtol=TOL[dtype],
                                           atol=TOL[dtype] * scale, err_msg=f"step {step}, tensor {i}, {name}")


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2, maximize=True),
    dict(lr=0.05, momentum=0.8, weight_decay=1e-2, nesterov=True),
]
ADAM_CASES = [
    dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-6, weight_decay=1e-2, amsgrad=True, maximize=True),
    dict(lr=1e-2, beta1=0.3, beta2=0.9, eps=1e-8, weight_decay=0.1, amsgrad=True, decoupled=True),  # lerp w >= 0.5
]
NADAM_CASES = [
    dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, momentum_decay=4e-3),
    dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-6, momentum_decay=4e-3, weight_decay=1e-2, maximize=True),
    dict(lr=1e-2, beta1=0.3, beta2=0.9, eps=1e-8, momentum_decay=0.3, weight_decay=0.1, decoupled=True),
]
RADAM_CASES = [  # beta2 = 0.5: never rectified (rho_inf = 3); 0.9: rectified from step 6 on (7 steps run)
    dict(lr=1e-2, beta1=0.9, beta2=0.5, eps=1e-8),
    dict(lr=1e-2, beta1=0.9, beta2=0.9, eps=1e-6, weight_decay=1e-2, maximize=True),
    dict(lr=1e-2, beta1=0.3, beta2=0.9, eps=1e-8, weight_decay=0.1, decoupled=True),
]
ADAMAX_CASES = [
    dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8),
    dict(lr=1e-2, beta1=0.3, beta2=0.9, eps=1e-6, weight_decay=1e-2, maximize=True),
]
ADAGRAD_CASES = [
    dict(lr=1e-1, eps=1e-10),
    dict(lr=5e-2, eps=1e-6, weight_decay=1e-2, maximize=True),
]
RMSPROP_CASES = [
    dict(lr=1e-2, alpha=0.99, eps=1e-8),
    dict(lr=1e-2, alpha=0.9, eps=1e-8, weight_decay=1e-2, momentum=0.9, centered=True, maximize=True),
    dict(lr=1e-2, alpha=0.3, eps=1e-6, momentum=0.5, centered=True),  # lerp weight 0.7: the upper branch
]


@pytest.mark.parametrize("hyper", SGD_CASES)
def test_sgd_float32(hyper):
    run_steps("sgd", "float32", hyper)


@pytest.mark.parametrize("hyper", ADAM_CASES)
def test_adam_float32(hyper):
    run_steps("adam", "float32", hyper)


@pytest.mark.parametrize("hyper", RMSPROP_CASES)
def test_rmsprop_float32(hyper):
    run_steps("rmsprop", "float32", hyper)


@pytest.mark.parametrize("hyper", NADAM_CASES)
def test_nadam_float32(hyper):
    run_steps("nadam", "float32", hyper)


@pytest.mark.parametrize("hyper", RADAM_CASES)
def test_radam_float32(hyper):
    run_steps("radam", "float32", hyper, steps=7)


@pytest.mark.parametrize("hyper", ADAMAX_CASES)
def test_adamax_float32(hyper):
    run_steps("adamax", "float32", hyper)


@pytest.mark.parametrize("hyper", ADAGRAD_CASES)
def test_adagrad_float32(hyper):
    run_steps("adagrad", "float32", hyper)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("rule,hyper", [("sgd", SGD_CASES[2]), ("adam", ADAM_CASES[1]), ("rmsprop", RMSPROP_CASES[1]),
                                        ("nadam", NADAM_CASES[1]), ("radam", RADAM_CASES[1]),
                                        ("adamax", ADAMAX_CASES[1]), ("adagrad", ADAGRAD_CASES[1])])
def test_low_and_double_precision(rule, hyper, dtype):
    run_steps(rule, dtype, hyper, shapes=[(7, 13), (300,)], steps=7 if rule == "radam" else 2)


def test_many_tensors_many_blocks():
    """60 tensors of 0..200 elements, blocks of 64: every block of every tensor updated once, none past its end."""
    shapes = [(n,) for n in np.random.default_rng().integers(0, 200, 60)]
    run_steps("adam", "float32", ADAM_CASES[0], shapes=shapes, steps=2, block_size=64)


def test_block_table_layout():
    arrays = [np.zeros(n, np.float32) for n in (130, 0, 64, 1)]
    table = opt.build_table([(HostTensor(a), HostTensor(a.copy())) for a in arrays], 3, block_size=64)
    assert table.n_programs == 3 + 0 + 1 + 1
    np.testing.assert_array_equal(table.blocks, [[0, 0], [0, 64], [0, 128], [2, 0], [3, 0]])
    np.testing.assert_array_equal(table.tensors[:, 3], [130, 0, 64, 1])
    assert table.tensors[0, 0] == arrays[0].ctypes.data and np.all(table.tensors[:, 2] == 0)
    np.testing.assert_array_equal(table.rows, table.tensors)
    uploads = []

    def upload(array):
        uploads.append(array)
        return array

    same = opt.build_table([(HostTensor(a), HostTensor(a)) for a in arrays], 3, upload, block_size=64,
                           previous=table)
    assert same is not table  # a gradient moved
    assert len(uploads) == 1 and same.blocks is table.blocks  # same sizes: only the tensor table goes up again
    np.testing.assert_array_equal(same.tensors[:, 1], [a.ctypes.data for a in arrays])
    again = opt.build_table([(HostTensor(a), HostTensor(a)) for a in arrays], 3, block_size=64, previous=same)
    assert again is same
    assert opt.build_table([(HostTensor(a), HostTensor(a)) for a in arrays], 3, block_size=32, previous=same) is not same
    resized = [np.zeros(n, np.float32) for n in (130, 0, 65, 1)]
    grown = opt.build_table([(HostTensor(a), HostTensor(a)) for a in resized], 3, block_size=64, previous=same)
    np.testing.assert_array_equal(grown.blocks, [[0, 0], [0, 64], [0, 128], [2, 0], [2, 64], [3, 0]])


def test_launcher_checks():
    p = np.zeros(8, np.float32)
    with pytest.raises(TypeError, match="float16"):
        opt.build_table([(HostTensor(p), HostTensor(np.zeros(8, np.float16)))], 3)
    with pytest.raises(ValueError, match="4 elements"):
        opt.build_table([(HostTensor(p[:4]), HostTensor(p))], 3)
    with pytest.raises(ValueError, match="contiguous"):
        opt.build_table([(HostTensor(p[::2]), HostTensor(p[1::2]))], 3)
    with pytest.raises(TypeError, match="int32"):
        opt.build_table([(HostTensor(np.zeros(8, np.int32)),) * 2], 3)
    with pytest.raises(ValueError, match="gradient"):
        opt.build_table([(HostTensor(p), None)], 3)
    with pytest.raises(ValueError, match="no tensors"):
        opt.build_table([], 3)
    table = opt.build_table([(HostTensor(p), HostTensor(p.copy()))], 3, upload=HostTensor)
    with pytest.raises(ValueError, match="slots"):
        opt.adam_step(table, lr=1.0, beta1=0.9, beta2=0.9, eps=1e-8, weight_decay=0.0, step=1)
    with pytest.raises(ValueError, match="step"):
        opt.adam_step(opt.build_table([(HostTensor(p), HostTensor(p.copy()))], 5, upload=HostTensor), lr=1.0,
                      beta1=0.9, beta2=0.9, eps=1e-8, weight_decay=0.0, step=0)


# Ahead-of-time compiles at the shipped config, every flag on (the Adam family: every rule).
def aot_jobs():
    import triton.language as tl
    common = dict(tensor_table_ptr="*i64", block_table_ptr="*i64", DTYPE="constexpr", N_SLOTS="constexpr",
                  HAS_WEIGHT_DECAY="constexpr", MAXIMIZE="constexpr", BLOCK_SIZE="constexpr")
    adam_flags = dict(DECOUPLED=False, AMSGRAD=False, RECTIFY=False, CAPTURABLE=False)
    kernels = [
        (opt._sgd_kernel, opt._SGD_SCALARS, opt.SGD_SLOTS,
         dict(HAS_MOMENTUM=True, NESTEROV=True)),
        (opt._adam_kernel, opt._ADAM_SCALARS, opt.ADAM_SLOTS, dict(adam_flags, RULE="adam", AMSGRAD=True)),
        (opt._adam_kernel, opt._ADAM_SCALARS, opt.CAPTURABLE_ADAM_SLOTS,
         dict(adam_flags, RULE="adam", AMSGRAD=True, DECOUPLED=True, CAPTURABLE=True)),
        (opt._adam_kernel, opt._ADAM_SCALARS, opt.NADAM_SLOTS, dict(adam_flags, RULE="nadam")),
        (opt._adam_kernel, opt._ADAM_SCALARS, opt.RADAM_SLOTS, dict(adam_flags, RULE="radam", RECTIFY=True)),
        (opt._adam_kernel, opt._ADAM_SCALARS, opt.RADAM_SLOTS, dict(adam_flags, RULE="radam")),
        (opt._adam_kernel, opt._ADAM_SCALARS, opt.ADAMAX_SLOTS, dict(adam_flags, RULE="adamax")),
        (opt._rmsprop_kernel, ["lr", "alpha", "one_minus_alpha", "eps", "weight_decay", "momentum", "lerp_high"],
         opt.RMSPROP_SLOTS, dict(ACCUMULATE=False, HAS_MOMENTUM=True, CENTERED=True)),
        (opt._rmsprop_kernel, ["lr", "alpha", "one_minus_alpha", "eps", "weight_decay", "momentum", "lerp_high"],
         opt.ADAGRAD_SLOTS, dict(ACCUMULATE=True, HAS_MOMENTUM=False, CENTERED=False)),
    ]
    jobs = []
    for arch in aot.ARCHITECTURES:
        for dtype in (tl.float32, tl.bfloat16):
            for kernel, scalars, slots, flags in kernels:
                signature = dict(common, **{name: "i64" for name in scalars}, **{name: "constexpr" for name in flags})
                constexprs = dict(flags, DTYPE=dtype, N_SLOTS=len(slots), HAS_WEIGHT_DECAY=True, MAXIMIZE=True,
                                  BLOCK_SIZE=opt.BLOCK_SIZE)
                jobs.append((f"{kernel.__name__} {flags} {dtype}",
                             aot.job(kernel, signature, constexprs, arch, opt.NUM_WARPS)))
        # capturable Adam's step increment (the table's rows: CAPTURABLE_ADAM_SLOTS)
        jobs.append((f"_increment_steps_kernel sm_{arch}",
                     aot.job(opt._increment_steps_kernel,
                             dict(tensor_table_ptr="*i64", n_tensors="i64", N_SLOTS="constexpr", BLOCK_SIZE="constexpr"),
                             dict(N_SLOTS=len(opt.CAPTURABLE_ADAM_SLOTS), BLOCK_SIZE=opt._STEPS_BLOCK_SIZE), arch,
                             opt.NUM_WARPS)))
    return jobs


def test_optimizer_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * 2 * 9 + 2
    aot.assert_no_spills(aot_results)
