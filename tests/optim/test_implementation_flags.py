"""PyTorch's implementation flags on every optimizer: foreach, fused, capturable and differentiable are accepted
where PyTorch accepts them, refused with its errors where it refuses them, and change no result; a Tensor lr.

differentiable=True: gradients flow through the update. One to three steps over a non-leaf parameter, then the
gradient of a function of the parameters with respect to the starting values and to every step's gradient,
against PyTorch's (float64, where PyTorch rounds a few scalars to float32 tensors: held to 1e-6).
"""
import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, requires_torch, torch

# name -> (options exercising the rule's state, the flags its constructor takes)
OPTIMIZERS = {
    "SGD": (dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1), ("foreach", "fused", "differentiable")),
    "Adam": (dict(lr=0.01, weight_decay=0.1, amsgrad=True), ("foreach", "fused", "capturable", "differentiable")),
    "AdamW": (dict(lr=0.01), ("foreach", "fused", "capturable", "differentiable")),
    "RMSprop": (dict(lr=0.01, centered=True, momentum=0.5), ("foreach", "capturable", "differentiable")),
    "Adagrad": (dict(lr=0.1, lr_decay=0.1, weight_decay=0.1), ("foreach", "fused", "differentiable")),
    "Adamax": (dict(lr=0.01, weight_decay=0.1), ("foreach", "capturable", "differentiable")),
    "NAdam": (dict(lr=0.01, weight_decay=0.1), ("foreach", "capturable", "differentiable")),
    "RAdam": (dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.1), ("foreach", "capturable", "differentiable")),
}


def _run(lib, name, options, start, grads, device="cpu", **flags):
    p = lib.nn.Parameter(lib.tensor(start).to(device))
    optimizer = getattr(lib.optim, name)([p], **dict(OPTIMIZERS[name][0], **options), **flags)
    for g in grads:
        p.grad = lib.tensor(g).to(device)
        optimizer.step()
    return p.detach().cpu().numpy()


def _message(call):
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


def _same_error(fw_call, torch_call, expected_type, expected):
    assert _message(fw_call) == (expected_type, expected)
    if torch is not None:
        assert _message(torch_call) == (expected_type, expected.replace("framework.", "torch."))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_foreach_and_fused_change_nothing(rng, name):
    start, grads = rng.standard_normal((4, 3)), [rng.standard_normal((4, 3)) for _ in range(3)]
    expected = _run(fw, name, {}, start, grads)
    flags = OPTIMIZERS[name][1]
    for value in (True, False, None):
        np.testing.assert_array_equal(_run(fw, name, {}, start, grads, foreach=value), expected)
        if "fused" in flags:  # fused=True on the CPU: PyTorch's fused CPU kernels; here, the same rule
            np.testing.assert_array_equal(_run(fw, name, {}, start, grads, fused=value), expected)
    if torch is not None and "fused" in flags:
        np.testing.assert_allclose(_run(torch, name, {}, start, grads, fused=True), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_flags_the_constructor_does_not_take_are_type_errors(name):
    for flag in {"fused", "capturable"} - set(OPTIMIZERS[name][1]):
        _same_error(lambda: getattr(fw.optim, name)([fw.nn.Parameter(fw.zeros(2))], **{flag: True}),
                    lambda: getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], **{flag: True}),
                    TypeError, f"{name}.__init__() got an unexpected keyword argument '{flag}'")


@pytest.mark.parametrize("name", [n for n, (_, flags) in OPTIMIZERS.items() if "fused" in flags])
def test_fused_is_refused_with_foreach_differentiable_or_a_non_float_parameter(name):
    def both(**flags):
        return (lambda: getattr(fw.optim, name)([fw.nn.Parameter(fw.zeros(2))], **flags),
                lambda: getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], **flags))

    _same_error(*both(fused=True, foreach=True), RuntimeError, "`fused` and `foreach` cannot be `True` together.")
    _same_error(*both(fused=True, differentiable=True), RuntimeError, "`fused` does not support `differentiable`")

    def step_with_int_parameter(lib):
        p = lib.zeros(3, dtype=lib.int64)
        p.grad = lib.zeros(3, dtype=lib.int64)
        getattr(lib.optim, name)([p], fused=True).step()

    _same_error(lambda: step_with_int_parameter(fw), lambda: step_with_int_parameter(torch), RuntimeError,
                "`fused=True` requires all the params to be floating point Tensors of supported devices: "
                "['mps', 'cuda', 'xpu', 'hpu', 'cpu', 'mtia', 'privateuseone'] but framework.int64 and cpu")


@pytest.mark.parametrize("name", [n for n, (_, flags) in OPTIMIZERS.items() if "capturable" in flags])
def test_capturable_needs_a_capturable_device(rng, name):
    """On the CPU, PyTorch's step asserts; on cuda the update is the usual one (Adam and AdamW: to float32
    rounding, their capturable update reads the count from the device)."""
    what = "params, mu_products and state_steps" if name == "NAdam" else "params and state_steps"

    def step_on_cpu(lib):
        p = lib.nn.Parameter(lib.zeros(2))
        optimizer = getattr(lib.optim, name)([p], capturable=True)
        p.grad = lib.ones(2)
        optimizer.step()

    _same_error(lambda: step_on_cpu(fw), lambda: step_on_cpu(torch), AssertionError,
                f"If capturable=True, {what} must be on supported devices: "
                "['cuda', 'xpu', 'hpu', 'privateuseone', 'xla'].")
    if "cuda" in DEVICES:
        start, grads = rng.standard_normal((4, 3)), [rng.standard_normal((4, 3)) for _ in range(2)]
        capturable, default = (_run(fw, name, {}, start, grads, "cuda", capturable=True),
                               _run(fw, name, {}, start, grads, "cuda"))
        if name in ("Adam", "AdamW"):  # PyTorch's capturable arithmetic (float32 bias corrections on the device)
            np.testing.assert_allclose(capturable, default, rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(capturable, default)


def test_tensor_lr():
    p = [fw.nn.Parameter(fw.zeros(2))]
    _same_error(lambda: fw.optim.Adam(p, lr=fw.tensor([0.1, 0.2])),
                lambda: torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=torch.tensor([0.1, 0.2])),
                ValueError, "Tensor lr must be 1-element")
    _same_error(lambda: fw.optim.Adam(p, lr=fw.tensor(0.1), foreach=True),
                lambda: torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=torch.tensor(0.1), foreach=True),
                ValueError, "lr as a Tensor is not supported for capturable=False and foreach=True")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_tensor_lr_steps_as_its_value(rng, name):
    start, grads = rng.standard_normal((4, 3)), [rng.standard_normal((4, 3)) for _ in range(2)]
    lr = OPTIMIZERS[name][0]["lr"]
    np.testing.assert_array_equal(_run(fw, name, dict(lr=fw.tensor(lr, dtype=fw.float64)), start, grads),
                                  _run(fw, name, {}, start, grads))


# ---- differentiable=True ---------------------------------------------------------------------------------------

def _differentiate(lib, name, options, start, grads, weights, device="cpu"):
    """The parameter after len(grads) differentiable steps, and d(sum(weights * param)) with respect to the
    starting value and each step's gradient (zeros where the result does not depend on one)."""
    start = lib.tensor(start, device=device, requires_grad=True)
    grads = [lib.tensor(g, device=device, requires_grad=True) for g in grads]
    param = start.clone()  # a non-leaf parameter: what differentiable=True is for
    optimizer = getattr(lib.optim, name)([param], differentiable=True, **options)
    for g in grads:
        param.grad = g * 1.0
        optimizer.step()
    assert param.grad_fn is not None
    found = lib.autograd.grad((param * lib.tensor(weights, device=device)).sum(), [start, *grads], allow_unused=True)
    return [param.detach().cpu().numpy()] + [np.zeros(weights.shape) if d is None else d.cpu().numpy() for d in found]


# PyTorch's differentiable rules overwrite, in the next step, state that autograd saved (amsgrad's maximum,
# centered RMSprop's grad_avg, Adamax's exp_inf): they differentiate one step only, and so does framework
ONE_STEP_ONLY = {"Adam", "RMSprop", "Adamax"}


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_differentiable_steps_match_torchs_gradients(rng, name, device):
    """On cuda (the Tensor path's kernels, never the fused launch): one step, small, for the interpreter's sake."""
    options = dict(OPTIMIZERS[name][0])
    for steps in (1,) if name in ONE_STEP_ONLY or device != "cpu" else (1, 3):
        shape = (4, 3)
        start, grads, weights = (rng.standard_normal(shape), [rng.standard_normal(shape) for _ in range(steps)],
                                 rng.standard_normal(shape))
        got = _differentiate(fw, name, options, start, grads, weights, device)
        expected = _differentiate(torch, name, options, start, grads, weights)
        for i, (a, b) in enumerate(zip(got, expected)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=f"{name}, {steps} steps, output {i}")


def test_differentiable_accepts_non_leaf_parameters_and_refuses_in_place_on_leaves():
    leaf = fw.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        fw.optim.SGD([leaf * 2], lr=0.1)
    fw.optim.SGD([leaf * 2], lr=0.1, differentiable=True)

    def step_on_leaf(lib):
        p = lib.nn.Parameter(lib.ones(2))
        optimizer = lib.optim.SGD([p], lr=0.1, differentiable=True)
        p.grad = lib.ones(2)
        optimizer.step()

    _same_error(lambda: step_on_leaf(fw), lambda: step_on_leaf(torch), RuntimeError,
                "a leaf Variable that requires grad is being used in an in-place operation.")
