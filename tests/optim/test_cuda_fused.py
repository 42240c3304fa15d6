"""The optimizers' cuda path: one fused multi-tensor launch per parameter group, step for step as the CPU optimizer.

The same starting values and the same gradients go to a CPU optimizer and a cuda one; after each step, the
parameters and every state tensor must agree to the dtype's tolerance (the kernels compute in float32 where the
CPU path of a half dtype rounds after every operator).
"""
import numpy as np
import pytest

import framework as fw
from framework.optim import _fused

pytestmark = pytest.mark.skipif(not fw.cuda.is_available(),
                                reason="no cuda device: no GPU, and TRITON_INTERPRET is not 1")

SHAPES = [(7, 13), (1,), (300,), ()]
TOL = {"float32": 1e-5, "float64": 1e-12, "float16": 4e-3, "bfloat16": 3e-2}

CASES = [
    (fw.optim.SGD, dict(lr=0.1)),
    (fw.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01, maximize=True)),
    (fw.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (fw.optim.Adam, dict(lr=0.01)),
    (fw.optim.Adam, dict(lr=0.01, betas=(0.4, 0.9), weight_decay=0.01, amsgrad=True, maximize=True)),
    (fw.optim.AdamW, dict(lr=0.01, amsgrad=True)),
    (fw.optim.RMSprop, dict(lr=0.01)),
    (fw.optim.RMSprop, dict(lr=0.01, alpha=0.9, weight_decay=0.01, momentum=0.9, centered=True, maximize=True)),
    (fw.optim.Adagrad, dict(lr=0.1)),
    (fw.optim.Adagrad, dict(lr=0.1, lr_decay=0.1, weight_decay=0.01, initial_accumulator_value=0.2, maximize=True)),
    (fw.optim.Adamax, dict(lr=0.01)),
    (fw.optim.Adamax, dict(lr=0.01, betas=(0.4, 0.9), weight_decay=0.01, maximize=True)),
    (fw.optim.NAdam, dict(lr=0.01)),
    (fw.optim.NAdam, dict(lr=0.01, betas=(0.4, 0.9), weight_decay=0.01, momentum_decay=0.2, maximize=True)),
    (fw.optim.NAdam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    (fw.optim.RAdam, dict(lr=0.01, betas=(0.9, 0.6))),  # never rectified (rho_inf = 4)
    (fw.optim.RAdam, dict(lr=0.01, betas=(0.4, 0.9), weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    (fw.optim.RAdam, dict(lr=0.01, weight_decay=0.01)),
]


def _case_id(case):
    cls, options = case
    return cls.__name__ + "(" + ",".join(f"{k}={v}" for k, v in options.items()) + ")"


def _host(tensor):
    return tensor.detach().cpu().numpy().astype(np.float64)


def _compare(cpu_opt, cuda_opt, cpu_params, cuda_params, dtype, step):
    tol = TOL[dtype]
    for i, (pc, pg) in enumerate(zip(cpu_params, cuda_params)):
        expected = _host(pc)
        np.testing.assert_allclose(_host(pg), expected, rtol=tol, atol=tol * (1 + np.abs(expected).max()),
                                   err_msg=f"parameter {i} after step {step}")
        state_cpu, state_cuda = cpu_opt.state.get(pc, {}), cuda_opt.state.get(pg, {})
        assert state_cpu.keys() == state_cuda.keys()
        for name, value in state_cpu.items():
            if name in ("step", "mu_product"):  # host scalars, as PyTorch keeps them
                assert state_cuda[name].device.type == "cpu" and float(state_cuda[name]) == float(value)
                continue
            assert state_cuda[name].device.type == "cuda" and state_cuda[name].dtype == value.dtype
            expected = _host(value)
            np.testing.assert_allclose(_host(state_cuda[name]), expected, rtol=tol,
                                       atol=tol * (1 + np.abs(expected).max()),
                                       err_msg=f"{name} of parameter {i} after step {step}")


def run_both(rng, make, dtype="float32", steps=3, groups=None, fresh_grads=True):
    """`steps` steps of a CPU and a cuda optimizer on the same values; compares after each. Returns both."""
    np_dtype = getattr(fw, dtype).np
    starts = [rng.standard_normal(s).astype(np_dtype) for s in SHAPES]
    cpu_params = [fw.nn.Parameter(fw.tensor(a)) for a in starts]
    cuda_params = [fw.nn.Parameter(fw.tensor(a).cuda()) for a in starts]
    cpu_opt, cuda_opt = (make(params if groups is None else groups(params)) for params in (cpu_params, cuda_params))
    for step in range(1, steps + 1):
        for pc, pg in zip(cpu_params, cuda_params):
            g = rng.standard_normal(pc.shape)
            if dtype == "float16":
                # away from 0: a float16 square average of a tiny gradient underflows to 0 on the CPU path, and
                # eps = 1e-8 rounds to 0 there too, so it divides by 0 where the float32 kernel math does not
                g = np.sign(g) * (0.05 + np.abs(g))
            g = g.astype(np_dtype)
            if fresh_grads or pg.grad is None:
                pc.grad, pg.grad = fw.tensor(g), fw.tensor(g).cuda()
            else:  # the same gradient tensors, refilled: the launch's table stays valid
                pc.grad.copy_(fw.tensor(g))
                pg.grad.copy_(fw.tensor(g).cuda())
        cpu_opt.step()
        cuda_opt.step()
        _compare(cpu_opt, cuda_opt, cpu_params, cuda_params, dtype, step)
    return cpu_opt, cuda_opt, cpu_params, cuda_params


@pytest.fixture
def launches(monkeypatch):
    """Counts the fused launches: {rule: calls}."""
    from triton_kernels import optimizer as kernels
    counts = {}
    for name in ("sgd_step", "adam_step", "nadam_step", "radam_step", "adamax_step", "rmsprop_step", "adagrad_step"):
        def counted(table, _launch=getattr(kernels, name), _name=name, **hyper):
            counts[_name] = counts.get(_name, 0) + 1
            return _launch(table, **hyper)
        monkeypatch.setattr(kernels, name, counted)
    return counts


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_fused_steps_match_cpu(rng, case, launches):
    cls, options = case
    steps = 7 if cls is fw.optim.RAdam else 3  # RAdam rectifies from step 6 on
    run_both(rng, lambda params: cls(params, **options), steps=steps)
    assert sum(launches.values()) == steps  # one launch per step for the whole group


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[7], CASES[9], CASES[11], CASES[13], CASES[16]],
                         ids=_case_id)
def test_fused_steps_other_dtypes(rng, case, dtype):
    cls, options = case
    run_both(rng, lambda params: cls(params, **options), dtype=dtype, steps=7 if cls is fw.optim.RAdam else 2)


def test_one_launch_per_group_and_table_reused(rng, launches):
    groups = lambda params: [{"params": params[:2]}, {"params": params[2:], "lr": 0.003}]  # noqa: E731
    _, cuda_opt, _, _ = run_both(rng, lambda groups: fw.optim.Adam(groups, lr=0.01), groups=groups, steps=1,
                                 fresh_grads=False)
    assert launches == {"adam_step": 2}
    tables = [dict(cuda_opt._fused_tables[i]) for i in (0, 1)]
    for _ in range(2):
        cuda_opt.step()  # same parameters, gradients and state: the same device tables
    assert launches == {"adam_step": 6}
    for i in (0, 1):
        (key, table), = cuda_opt._fused_tables[i].items()
        assert tables[i][key] is table


def test_parameters_without_gradient_are_skipped(rng, launches):
    used, unused = (fw.nn.Parameter(fw.tensor(rng.standard_normal(5).astype(np.float32)).cuda()) for _ in range(2))
    before = _host(unused)
    optimizer = fw.optim.SGD([used, unused], lr=0.1, momentum=0.9)
    used.grad = fw.tensor(np.ones(5, np.float32)).cuda()
    optimizer.step()
    assert launches == {"sgd_step": 1}
    np.testing.assert_array_equal(_host(unused), before)
    assert unused not in optimizer.state and "momentum_buffer" in optimizer.state[used]


def test_state_dict_round_trip_continues_the_run(rng):
    cls, options = CASES[4]
    cpu_opt, cuda_opt, cpu_params, cuda_params = run_both(rng, lambda params: cls(params, **options), steps=2)
    restored = cls(cuda_params, **options)
    restored.load_state_dict(cuda_opt.state_dict())
    for pc, pg in zip(cpu_params, cuda_params):
        g = rng.standard_normal(pc.shape).astype(np.float32)
        pc.grad, pg.grad = fw.tensor(g), fw.tensor(g).cuda()
    cpu_opt.step()
    restored.step()
    _compare(cpu_opt, restored, cpu_params, cuda_params, "float32", 3)


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[13]], ids=_case_id)
def test_a_schedule_drives_the_fused_launches(rng, case, launches):
    """OneCycleLR sets the lr and the momentum (SGD's momentum, the Adam family's beta1) before every step: the
    cuda launches read them as the CPU rule does."""
    cls, options = case
    starts = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    cpu_params = [fw.nn.Parameter(fw.tensor(a)) for a in starts]
    cuda_params = [fw.nn.Parameter(fw.tensor(a).cuda()) for a in starts]
    runs = [(params, cls(params, **options)) for params in (cpu_params, cuda_params)]
    schedulers = [fw.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=4) for _, opt in runs]
    for step in range(1, 5):
        for pc, pg in zip(cpu_params, cuda_params):
            g = rng.standard_normal(pc.shape).astype(np.float32)
            pc.grad, pg.grad = fw.tensor(g), fw.tensor(g).cuda()
        for (_, opt), scheduler in zip(runs, schedulers):
            opt.step()
            scheduler.step()
        _compare(runs[0][1], runs[1][1], cpu_params, cuda_params, "float32", step)
    assert sum(launches.values()) == 4


def _has_cuda_kernel(op):
    import framework.backends.cuda  # noqa: F401  (registers its kernels on first use; here, before the check)
    from framework.autograd.registry import KERNELS
    return "cuda" in KERNELS.get(op, {})


# one case of each rule: the per-parameter Tensor path on cuda, and the launcher each fused group calls
PER_PARAMETER_CASES = [(CASES[i], rule) for i, rule in (
    (2, "sgd_step"), (4, "adam_step"), (7, "rmsprop_step"), (9, "adagrad_step"), (11, "adamax_step"),
    (13, "nadam_step"), (16, "radam_step"))]


@pytest.mark.skipif(not all(_has_cuda_kernel(op) for op in ("mul", "add", "sqrt", "div", "maximum", "abs")),
                    reason="the per-parameter Tensor path needs the cuda elementwise kernels")
@pytest.mark.parametrize("case,rule", PER_PARAMETER_CASES, ids=[_case_id(c) for c, _ in PER_PARAMETER_CASES])
def test_non_contiguous_parameter_takes_the_per_parameter_path(rng, launches, case, rule):
    """A transposed parameter is not fused; its neighbours are, and both follow the CPU optimizer."""
    cls, options = case
    saved, _fused.ENABLED = _fused.ENABLED, True
    try:
        a, b = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
        cpu = [fw.nn.Parameter(fw.tensor(a.T.copy())), fw.nn.Parameter(fw.tensor(b))]
        cuda = [fw.nn.Parameter(fw.tensor(a).cuda().t()), fw.nn.Parameter(fw.tensor(b).cuda())]
        assert not cuda[0].is_contiguous()
        cpu_opt, cuda_opt = cls(cpu, **options), cls(cuda, **options)
        for step in range(1, 3):
            for pc, pg in zip(cpu, cuda):
                g = rng.standard_normal(pc.shape).astype(np.float32)
                pc.grad, pg.grad = fw.tensor(g), fw.tensor(g).cuda()
            cpu_opt.step()
            cuda_opt.step()
            _compare(cpu_opt, cuda_opt, cpu, cuda, "float32", step)
        assert launches == {rule: 2}
    finally:
        _fused.ENABLED = saved
