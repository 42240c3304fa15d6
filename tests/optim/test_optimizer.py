"""The Optimizer base: argument checks, param groups, zero_grad, closures, state dicts, repr, and a training loop."""
import copy
import warnings

import numpy as np
import pytest

import framework as fw
from helpers import requires_torch, torch

from .trajectory import Quadratic, assert_same_trajectory, run_framework, run_torch

OPTIMIZERS = {  # name -> options that exercise every piece of state
    "SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=0.01),
    "AdamW": dict(lr=0.01, amsgrad=True),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1),
    "Adamax": dict(lr=0.01, weight_decay=0.01),
    "NAdam": dict(lr=0.01, weight_decay=0.01, decoupled_weight_decay=True),
    "RAdam": dict(lr=0.01, weight_decay=0.01),
}


def _params(*shapes):
    return [fw.nn.Parameter(fw.randn(*shape)) for shape in shapes]


def _message(exc_type, call):
    with pytest.raises(exc_type) as info:
        call()
    return str(info.value)


def _same_message(exc_type, fw_call, torch_call, expected):
    assert _message(exc_type, fw_call) == expected
    if torch is not None:
        assert _message(exc_type, torch_call).replace("torch.", "framework.") == expected


# ---- construction and groups ---------------------------------------------------------

def test_params_must_be_an_iterable_of_tensors_or_dicts():
    _same_message(TypeError, lambda: fw.optim.SGD(fw.nn.Parameter(fw.randn(2)), lr=0.1),
                  lambda: torch.optim.SGD(torch.nn.Parameter(torch.randn(2)), lr=0.1),
                  "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                  "but got framework.FloatTensor")
    _same_message(ValueError, lambda: fw.optim.Adam([]), lambda: torch.optim.Adam([]),
                  "optimizer got an empty parameter list")
    _same_message(TypeError, lambda: fw.optim.SGD([fw.nn.Parameter(fw.randn(2)), 3], lr=0.1),
                  lambda: torch.optim.SGD([torch.nn.Parameter(torch.randn(2)), 3], lr=0.1),
                  "optimizer can only optimize Tensors, but one of the params is int")
    leaf = fw.randn(3, requires_grad=True)
    torch_leaf = torch.randn(3, requires_grad=True) if torch is not None else None
    _same_message(ValueError, lambda: fw.optim.SGD([leaf * 2], lr=0.1),
                  lambda: torch.optim.SGD([torch_leaf * 2], lr=0.1), "can't optimize a non-leaf Tensor")
    with pytest.raises(TypeError, match="ordered collections"):  # a set's order changes from run to run
        fw.optim.SGD([{"params": {fw.nn.Parameter(fw.randn(2))}}], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        fw.optim.SGD(_params((2,)), lr=-1)


def test_param_groups_fill_defaults_and_a_parameter_belongs_to_one_group():
    a, b, c = _params((2, 3), (3,), (1,))
    optimizer = fw.optim.SGD([{"params": [a, b]}, {"params": c, "lr": 0.5}], lr=0.1, momentum=0.9)
    first, second = optimizer.param_groups
    assert first["params"] == [a, b] and second["params"] == [c]  # a lone tensor becomes a list
    assert first["lr"] == 0.1 and second["lr"] == 0.5 and second["momentum"] == 0.9 and first["nesterov"] is False
    _same_message(ValueError, lambda: optimizer.add_param_group({"params": [b]}),
                  lambda: torch.optim.SGD([p := torch.nn.Parameter(torch.randn(2))], lr=0.1).add_param_group(
                      {"params": [p]}),
                  "some parameters appear in more than one parameter group")
    with pytest.raises(TypeError, match="param_group must be a dict"):
        optimizer.add_param_group([a])
    d = fw.nn.Parameter(fw.randn(4))
    optimizer.add_param_group({"params": [d], "momentum": 0.0})
    assert optimizer.param_groups[2]["lr"] == 0.1 and optimizer.param_groups[2]["momentum"] == 0.0


def test_duplicate_parameters_in_one_group_warn():
    p = fw.nn.Parameter(fw.randn(2))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        fw.optim.SGD([p, p], lr=0.1)


def test_required_option_must_be_given_by_every_group():
    class Custom(fw.optim.Optimizer):
        def __init__(self, params, lr=fw.optim.optimizer.required):
            super().__init__(params, {"lr": lr})

    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        Custom(_params((2,)))
    assert Custom([{"params": _params((2,)), "lr": 0.3}]).param_groups[0]["lr"] == 0.3


def test_named_parameters_keep_their_names_in_the_state_dict():
    model = fw.nn.Linear(3, 2)
    optimizer = fw.optim.SGD(model.named_parameters(), lr=0.1)
    assert optimizer.param_groups[0]["param_names"] == ["weight", "bias"]
    assert optimizer.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    with pytest.raises(ValueError, match="cannot add param group without names"):
        optimizer.add_param_group({"params": _params((2,))})


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_repr_matches_torch(name):
    a, b = _params((2,), (3,))
    optimizer = getattr(fw.optim, name)([{"params": [a]}, {"params": [b], "lr": 0.5}], **OPTIMIZERS[name])
    text = repr(optimizer)
    assert text.startswith(f"{name} (\nParameter Group 0\n") and "\nParameter Group 1\n" in text
    if torch is not None:
        ta, tb = (torch.nn.Parameter(torch.randn(n)) for n in (2, 3))
        expected = repr(getattr(torch.optim, name)([{"params": [ta]}, {"params": [tb], "lr": 0.5}], **OPTIMIZERS[name]))
        assert text == expected


# ---- the training loop ---------------------------------------------------------------

def test_zero_grad_sets_to_none_or_zeroes_in_place():
    a, b = _params((2, 2), (3,))
    optimizer = fw.optim.SGD([a, b], lr=0.1)
    ((a * a).sum() + b.sum()).backward()
    grad = b.grad
    optimizer.zero_grad(set_to_none=False)
    assert b.grad is grad and np.array_equal(grad.numpy(), np.zeros(3)) and not grad.requires_grad
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None
    optimizer.zero_grad(set_to_none=False)  # no gradient: nothing to do
    assert a.grad is None


def test_step_runs_the_closure_with_grad_enabled_and_returns_its_loss():
    p = fw.nn.Parameter(fw.tensor([1.0, -3.0]))
    optimizer = fw.optim.SGD([p], lr=0.25)
    seen = []

    def closure():
        seen.append(fw.is_grad_enabled())
        optimizer.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with fw.no_grad():
        loss = optimizer.step(closure)
    assert seen == [True] and loss.item() == 10.0
    np.testing.assert_array_equal(p.detach().numpy(), [0.5, -1.5])  # p - 0.25 * 2p
    assert optimizer.step() is None
    assert fw.is_grad_enabled()


def test_group_learning_rates_apply_per_group(rng):
    """Two groups with their own lr and momentum: framework and PyTorch step the same way."""
    problem = Quadratic.random(rng)

    def groups(params):
        return [{"params": params[:1], "lr": 0.05}, {"params": params[1:], "momentum": 0.5}]

    got, _, _ = run_framework(problem, lambda ps: fw.optim.SGD(groups(ps), lr=0.1))
    single, _, _ = run_framework(problem, lambda ps: fw.optim.SGD(ps, lr=0.1))
    assert not np.array_equal(got[-1][0], single[-1][0]) and not np.array_equal(got[-1][1], single[-1][1])
    if torch is not None:
        expected, _, _ = run_torch(problem, lambda ps: torch.optim.SGD(groups(ps), lr=0.1))
        assert_same_trajectory(got, expected, "float32", "vs torch")


def test_custom_optimizer_may_override_step():
    class SignDescent(fw.optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        @fw.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    p.sub_(p.grad.sign() * group["lr"])

    p = fw.nn.Parameter(fw.tensor([2.0, -2.0]))
    optimizer = SignDescent([p])
    (p * p).sum().backward()
    optimizer.step()
    np.testing.assert_allclose(p.detach().numpy(), [1.9, -1.9], rtol=1e-6)


@requires_torch
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_small_mlp_training_matches_torch(rng, name):
    """A two-layer MLP on random data: 20 steps, framework and PyTorch from the same weights, same batches."""
    sizes, steps = (5, 7, 3), 20
    x, y = rng.standard_normal((steps, 16, sizes[0])).astype(np.float32), rng.standard_normal(
        (steps, 16, sizes[2])).astype(np.float32)
    options = {"SGD": dict(lr=0.05, momentum=0.9), "Adam": dict(lr=0.01), "RMSprop": dict(lr=0.003)}[name]
    torch_model = torch.nn.Sequential(torch.nn.Linear(*sizes[:2]), torch.nn.Tanh(), torch.nn.Linear(*sizes[1:]))
    model = fw.nn.Sequential(fw.nn.Linear(*sizes[:2]), fw.nn.Tanh(), fw.nn.Linear(*sizes[1:]))
    model.load_state_dict({k: fw.tensor(v.detach().numpy()) for k, v in torch_model.state_dict().items()})
    runs = []
    for lib, net in ((fw, model), (torch, torch_model)):
        optimizer = getattr(lib.optim, name)(net.parameters(), **options)
        for i in range(steps):
            optimizer.zero_grad()
            loss = lib.nn.functional.mse_loss(net(lib.tensor(x[i])), lib.tensor(y[i]))
            loss.backward()
            optimizer.step()
        runs.append({k: v.detach().numpy().copy() for k, v in net.state_dict().items()})
    for key in runs[1]:
        np.testing.assert_allclose(runs[0][key], runs[1][key], rtol=1e-5, atol=1e-5, err_msg=key)


# ---- state dicts ---------------------------------------------------------------------

@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip_continues_the_same_trajectory(rng, name):
    """Save after 10 steps, load into a new optimizer over new parameters, continue: the same 25 steps."""
    make = getattr(fw.optim, name)
    problem = Quadratic.random(rng, far=True)
    whole, _, _ = run_framework(problem, lambda ps: make(ps, **OPTIMIZERS[name]))
    first, optimizer, params = run_framework(problem, lambda ps: make(ps, **OPTIMIZERS[name]), steps=10)
    saved = copy.deepcopy(optimizer.state_dict())
    # the saved state is optimizer-independent: fresh parameters at the saved values, a fresh optimizer
    resumed = Quadratic([p.detach().numpy().copy() for p in params], problem.curvature, problem.centre)

    def make_loaded(ps):
        loaded = make(ps, lr=123.0)  # the state dict's hyper-parameters replace these
        loaded.load_state_dict(saved)
        return loaded

    rest, loaded, _ = run_framework(resumed, make_loaded, steps=15)
    assert loaded.param_groups[0]["lr"] == OPTIMIZERS[name]["lr"]
    for step, (a, b) in enumerate(zip(first + rest, whole), start=1):
        for k, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_array_equal(x, y, err_msg=f"parameter {k} after step {step}")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_layout_matches_torch(rng, name):
    problem = Quadratic.random(rng)
    _, optimizer, params = run_framework(problem, lambda ps: getattr(fw.optim, name)(ps, **OPTIMIZERS[name]), steps=3)
    state_dict = optimizer.state_dict()
    assert list(state_dict) == ["state", "param_groups"]
    assert list(state_dict["state"]) == [0, 1, 2] and state_dict["param_groups"][0]["params"] == [0, 1, 2]
    assert state_dict["state"][0] is optimizer.state[params[0]]  # PyTorch's: the live state, not a copy
    if torch is None:
        return
    _, torch_optimizer, _ = run_torch(problem, lambda ps: getattr(torch.optim, name)(ps, **OPTIMIZERS[name]), steps=3)
    expected = torch_optimizer.state_dict()
    assert state_dict["param_groups"] == expected["param_groups"]
    for index, torch_state in expected["state"].items():
        state = state_dict["state"][index]
        assert list(state) == list(torch_state)
        for key, value in torch_state.items():
            assert state[key].shape == tuple(value.shape) and str(state[key].dtype) == str(value.dtype).replace(
                "torch.", "framework."), key
            # float32 states after 3 steps: an element near a cancellation is held to the state's scale, not its own
            scale = max(1.0, float(np.abs(value.numpy()).max())) if value.numel() else 1.0
            np.testing.assert_allclose(state[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-5 * scale, err_msg=key)


def _to_framework(value):
    if torch is not None and isinstance(value, torch.Tensor):
        return fw.tensor(value.numpy())
    if isinstance(value, dict):
        return {k: _to_framework(v) for k, v in value.items()}
    return value


@requires_torch
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_loading_a_torch_state_dict_continues_torchs_trajectory(rng, name):
    problem = Quadratic.random(rng, far=True)
    make_torch = lambda ps: getattr(torch.optim, name)(ps, **OPTIMIZERS[name])  # noqa: E731
    whole, _, _ = run_torch(problem, make_torch, steps=20)
    _, torch_optimizer, torch_params = run_torch(problem, make_torch, steps=8)
    saved = _to_framework(torch_optimizer.state_dict())
    resumed = Quadratic([p.detach().numpy().copy() for p in torch_params], problem.curvature, problem.centre)

    def make_loaded(ps):
        optimizer = getattr(fw.optim, name)(ps)
        optimizer.load_state_dict(saved)
        return optimizer

    rest, _, _ = run_framework(resumed, make_loaded, steps=12)
    assert_same_trajectory(rest, whole[8:], "float32", "resumed from torch's state dict")


def _to_torch(value):
    if isinstance(value, fw.Tensor):
        return torch.tensor(value.numpy())
    if isinstance(value, dict):
        return {k: _to_torch(v) for k, v in value.items()}
    return value


@requires_torch
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_torch_continues_from_frameworks_state_dict(rng, name):
    """The other way: framework's state dict, its tensors handed to PyTorch, loads into torch.optim and resumes."""
    problem = Quadratic.random(rng, far=True)
    make = lambda lib, ps: getattr(lib.optim, name)(ps, **OPTIMIZERS[name])  # noqa: E731
    whole, _, _ = run_framework(problem, lambda ps: make(fw, ps), steps=20)
    _, optimizer, params = run_framework(problem, lambda ps: make(fw, ps), steps=8)
    saved = _to_torch(optimizer.state_dict())
    resumed = Quadratic([p.detach().numpy().copy() for p in params], problem.curvature, problem.centre)

    def make_loaded(ps):
        loaded = getattr(torch.optim, name)(ps)
        loaded.load_state_dict(saved)
        return loaded

    rest, loaded, _ = run_torch(resumed, make_loaded, steps=12)
    assert loaded.param_groups[0]["lr"] == OPTIMIZERS[name]["lr"]
    assert_same_trajectory(rest, whole[8:], "float32", "torch resumed from framework's state dict")


# per-group options: the second group changes every option it can (kept valid), the first takes the defaults
GROUP_OPTIONS = {
    "SGD": dict(lr=0.05, momentum=0.5, dampening=0.1, weight_decay=0.1, maximize=True),
    "Adam": dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=False, maximize=True,
                 decoupled_weight_decay=True),
    "AdamW": dict(lr=0.02, betas=(0.5, 0.9), weight_decay=0.3, amsgrad=False),
    "RMSprop": dict(lr=0.02, alpha=0.8, eps=1e-6, momentum=0.0, centered=False, weight_decay=0.1),
    "Adagrad": dict(lr=0.05, lr_decay=0.0, weight_decay=0.0, eps=1e-6, maximize=True),
    "Adamax": dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.0),
    "NAdam": dict(lr=0.02, betas=(0.5, 0.9), momentum_decay=0.1, weight_decay=0.1, decoupled_weight_decay=False),
    "RAdam": dict(lr=0.02, betas=(0.5, 0.95), weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
}


@requires_torch
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_per_group_options_follow_torch(rng, name):
    problem = Quadratic.random(rng, far=True)

    def make(lib):
        def build(ps):
            return getattr(lib.optim, name)([{"params": ps[:2]}, {"params": ps[2:], **GROUP_OPTIONS[name]}],
                                            **OPTIMIZERS[name])
        return build

    got, optimizer, _ = run_framework(problem, make(fw))
    expected, torch_optimizer, _ = run_torch(problem, make(torch))
    assert optimizer.state_dict()["param_groups"] == torch_optimizer.state_dict()["param_groups"]
    assert_same_trajectory(got, expected, "float32", "vs torch, two groups")


def test_load_state_dict_checks_groups_like_torch():
    a, b, c = _params((2,), (3,), (4,))
    saved = fw.optim.SGD([a, b], lr=0.1).state_dict()
    _same_message(ValueError, lambda: fw.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(saved),
                  lambda: torch.optim.SGD([{"params": [torch.nn.Parameter(torch.randn(2))]},
                                           {"params": [torch.nn.Parameter(torch.randn(3))]}], lr=0.1).load_state_dict(
                      torch.optim.SGD([torch.nn.Parameter(torch.randn(2))], lr=0.1).state_dict()),
                  "loaded state dict has a different number of parameter groups")
    _same_message(ValueError, lambda: fw.optim.SGD([a, b, c], lr=0.1).load_state_dict(saved),
                  lambda: torch.optim.SGD([torch.nn.Parameter(torch.randn(2))], lr=0.1).load_state_dict(
                      torch.optim.SGD([torch.nn.Parameter(torch.randn(2)), torch.nn.Parameter(torch.randn(2))],
                                      lr=0.1).state_dict()),
                  "loaded state dict contains a parameter group that doesn't match the size of optimizer's group")


def test_loaded_state_is_a_copy_in_the_parameters_dtype():
    source_param, param = fw.nn.Parameter(fw.randn(3)), fw.nn.Parameter(fw.randn(3, dtype=fw.float64))
    source = fw.optim.Adam([source_param])
    (source_param * source_param).sum().backward()
    source.step()
    target = fw.optim.Adam([param])
    target.load_state_dict(source.state_dict())
    state, source_state = target.state[param], source.state[source_param]
    assert state["exp_avg"].dtype == fw.float64 and state["step"].dtype == fw.float32  # step keeps its own dtype
    assert state["step"] is not source_state["step"] and state["exp_avg_sq"] is not source_state["exp_avg_sq"]
    before = source_state["step"].item()
    (param * param).sum().backward()
    target.step()
    assert source_state["step"].item() == before and state["step"].item() == before + 1


def test_a_step_saved_as_a_number_loads_as_a_tensor():
    p = fw.nn.Parameter(fw.randn(2))
    saved = {"state": {0: {"step": 4, "exp_avg": fw.zeros(2), "exp_avg_sq": fw.zeros(2)}},
             "param_groups": [dict(fw.optim.Adam([fw.nn.Parameter(fw.randn(1))]).param_groups[0], params=[0])]}
    optimizer = fw.optim.Adam([p])
    optimizer.load_state_dict(saved)
    step = optimizer.state[p]["step"]
    assert isinstance(step, fw.Tensor) and step.dtype == fw.float32 and step.item() == 4.0


def test_step_does_not_warn():
    p = fw.nn.Parameter(fw.randn(2))
    optimizer = fw.optim.Adam([p])
    (p * p).sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer.step()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_half_precision_parameters_take_the_tensor_path(rng, name, dtype):
    """float16/bfloat16 updates run through Tensor ops; state keeps the parameter's dtype (step: float32).

    Each op rounds to the half dtype (PyTorch rounds once per fused op), so runs stay near the float64
    trajectory only to a few half-precision ulps: this checks the path works, the float32 tests check the rule.
    """
    make = getattr(fw.optim, name)
    problem = Quadratic.random(rng, far=True)
    half = fw.bfloat16 if dtype == "bfloat16" else fw.float16
    params = [fw.nn.Parameter(fw.tensor(a).to(half)) for a in problem.start]
    optimizer = make(params, **OPTIMIZERS[name])
    single = make([fw.nn.Parameter(fw.tensor(a)) for a in problem.start], **OPTIMIZERS[name])
    for _ in range(10):
        for opt in (optimizer, single):
            opt.zero_grad()
            ps = opt.param_groups[0]["params"]
            loss = sum(((p.float() - fw.tensor(c)) ** 2 * fw.tensor(h)).sum()
                       for p, c, h in zip(ps, problem.centre, problem.curvature)) * 0.5
            loss.backward()
            opt.step()
    for p, q in zip(params, single.param_groups[0]["params"]):
        assert p.dtype is half
        scalars = ("step", "mu_product")  # 0-d float32 counters on the CPU, whatever the parameter's dtype
        assert all(v.dtype is (fw.float32 if k in scalars else half) for k, v in optimizer.state[p].items())
        np.testing.assert_allclose(p.detach().float().numpy(), q.detach().numpy(), rtol=3e-2, atol=3e-2)
