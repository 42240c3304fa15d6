"""Run an optimizer for many steps three ways and compare the parameter trajectories.

The problem is a separable quadratic, loss = sign * 0.5 * sum(h * (p - c)**2), over parameters of odd
shapes (a matrix, a vector, a 0-d scalar), with random curvatures h > 0, centres c and starting points,
fresh each run. sign = -1 turns it into a maximization problem for `maximize=True`.

* framework: its autograd computes the gradients, the optimizer under test updates the parameters;
* reference: float64 numpy, the analytic gradient h * (p - c), and the rule written in the test;
* PyTorch, when importable: the same starting values and objective, the same dtype.
"""
from dataclasses import dataclass

import numpy as np
import pytest

import framework as fw
from framework.optim import _fast_path
from helpers import assert_close, torch

SHAPES = ((7, 3), (3,), ())
STEPS = 25

# float32 trajectories against the float64 reference: a few float32 roundings per step, over STEPS steps
TRAJECTORY_TOLERANCE = {"float32": (2e-5, 2e-5), "float64": (1e-10, 1e-10)}


# (dtype, fast_path): the numpy path in both float dtypes; the Tensor path (what other devices run) in float32
PATHS = [pytest.param("float32", True, id="float32-numpy_path"), pytest.param("float64", True, id="float64-numpy_path"),
         pytest.param("float32", False, id="float32-tensor_path")]


def option_id(options):
    return ",".join(f"{k}={v}" for k, v in options.items())


@dataclass
class Quadratic:
    start: list
    curvature: list
    centre: list
    sign: float = 1.0

    @classmethod
    def random(cls, rng, dtype="float32", maximize=False, shapes=SHAPES, far=False):
        """With `far`, every start is 1 to 2 away from its centre, on a random side.

        Adam and RMSprop normalize the step, so a parameter that reaches its minimum oscillates around it
        with a step of about lr, and there the map amplifies rounding differences step after step (a run
        and its float64 reference part by 1e-4 in 25 steps). Starting far away keeps the runs on the slope,
        where 25 steps compare the rule and not the chaos.
        """
        def draw(low, high):
            return [np.asarray(rng.uniform(low, high, s)) for s in shapes]
        centre = draw(-1, 1)
        if far:
            start = [c + np.where(rng.random(np.shape(c)) < 0.5, -1, 1) * d for c, d in zip(centre, draw(1, 2))]
        else:
            start = draw(-2, 2)
        return cls(*([np.asarray(a, dtype=dtype) for a in arrays] for arrays in (start, draw(0.5, 2), centre)),
                   -1.0 if maximize else 1.0)

    def gradients(self, params):
        """The float64 gradient of the loss at `params`."""
        return [self.sign * h.astype(np.float64) * (p - c.astype(np.float64))
                for p, h, c in zip(params, self.curvature, self.centre)]


def run_framework(problem, make_optimizer, steps=STEPS, fast_path=True, on_step=None):
    """Parameter values (numpy copies) after each step; `make_optimizer(params)` builds the optimizer."""
    params = [fw.nn.Parameter(fw.tensor(a)) for a in problem.start]
    curvature = [fw.tensor(a) for a in problem.curvature]
    centre = [fw.tensor(a) for a in problem.centre]
    saved, _fast_path.CPU_FAST_PATH = _fast_path.CPU_FAST_PATH, fast_path
    try:
        optimizer = make_optimizer(params)
        trajectory = []
        for i in range(steps):
            optimizer.zero_grad()
            loss = sum(((p - c) ** 2 * h).sum() for p, c, h in zip(params, centre, curvature)) * (0.5 * problem.sign)
            loss.backward()
            optimizer.step()
            trajectory.append([p.detach().numpy().copy() for p in params])
            if on_step is not None:
                on_step(i, optimizer)
    finally:
        _fast_path.CPU_FAST_PATH = saved
    return trajectory, optimizer, params


def run_torch(problem, make_optimizer, steps=STEPS, on_step=None):
    params = [torch.nn.Parameter(torch.tensor(a)) for a in problem.start]
    curvature = [torch.tensor(a) for a in problem.curvature]
    centre = [torch.tensor(a) for a in problem.centre]
    optimizer = make_optimizer(params)
    trajectory = []
    for i in range(steps):
        optimizer.zero_grad()
        loss = sum(((p - c) ** 2 * h).sum() for p, c, h in zip(params, centre, curvature)) * (0.5 * problem.sign)
        loss.backward()
        optimizer.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
        if on_step is not None:
            on_step(i, optimizer)
    return trajectory, optimizer, params


def run_reference(problem, rule, steps=STEPS):
    """`rule(params, grads, state)` updates float64 `params` in place; `state` is a dict it keeps across steps."""
    params = [np.array(a, dtype=np.float64) for a in problem.start]  # arrays, even 0-d: updated in place
    state = {}
    trajectory = []
    for _ in range(steps):
        rule(params, problem.gradients(params), state)
        trajectory.append([p.copy() for p in params])
    return trajectory


def assert_same_trajectory(got, expected, dtype, what, rtol=None, atol=None):
    default_rtol, default_atol = TRAJECTORY_TOLERANCE[dtype]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    assert len(got) == len(expected)
    flat_got, flat_expected = (np.concatenate([np.ravel(p) for params in run for p in params])
                               for run in (got, expected))
    with np.errstate(invalid="ignore"):
        if np.all(np.abs(flat_got - flat_expected) <= atol * np.maximum(1.0, np.abs(flat_expected).max())
                  + rtol * np.abs(flat_expected)):
            return  # all steps at once; on a failure, the loop below names the first step and parameter that part
    for step, (got_params, expected_params) in enumerate(zip(got, expected), start=1):
        for k, (g, e) in enumerate(zip(got_params, expected_params)):
            assert_close(g, e, dtype, rtol=rtol, atol=atol, what=f"{what}: parameter {k} after step {step}")


def check_trajectories(rng, make_fw, make_torch, rule, *, dtype="float32", maximize=False, fast_path=True,
                       far=False, torch_rtol=None, torch_atol=None, ref_rtol=None, ref_atol=None):
    """Framework vs the float64 reference always, and vs PyTorch when importable; returns framework's run."""
    problem = Quadratic.random(rng, dtype, maximize, far=far)
    trajectory, optimizer, params = run_framework(problem, make_fw, fast_path=fast_path)
    assert_same_trajectory(trajectory, run_reference(problem, rule), dtype, "vs float64 reference",
                           ref_rtol, ref_atol)
    if torch is not None:
        torch_trajectory, _, _ = run_torch(problem, make_torch)
        assert_same_trajectory(trajectory, torch_trajectory, dtype, "vs torch", torch_rtol, torch_atol)
    return trajectory, optimizer, params
