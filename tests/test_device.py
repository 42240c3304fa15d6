"""framework.device: the default device of the factories (set_default_device, `with framework.device(...)`), and
0-dim CPU tensors combining with tensors on any device (PyTorch's CPU scalars)."""
import threading

import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, assert_close, random_array, requires_cuda, torch

OTHER = "cuda" if "cuda" in DEVICES else "cpu"  # the device the default is moved to (the CPU alone: still checked)

# every factory PyTorch's DeviceContext gives the default device to, called without device=
FACTORIES = {
    "tensor": lambda: fw.tensor([1.0, 2.0]), "as_tensor": lambda: fw.as_tensor([1, 2]),
    "asarray": lambda: fw.asarray([1, 2]), "zeros": lambda: fw.zeros(2, 3), "ones": lambda: fw.ones(2),
    "empty": lambda: fw.empty(2), "full": lambda: fw.full((2,), 1.5), "arange": lambda: fw.arange(3),
    "linspace": lambda: fw.linspace(0, 1, 3), "eye": lambda: fw.eye(2), "rand": lambda: fw.rand(2),
    "randn": lambda: fw.randn(2), "randint": lambda: fw.randint(0, 4, (2,)), "randperm": lambda: fw.randperm(3),
    "normal": lambda: fw.normal(0.0, 1.0, (2,)),
}


@pytest.fixture(autouse=True)
def _restore_default():
    yield
    fw.set_default_device(None)


def test_default_is_the_cpu():
    assert fw.get_default_device() == fw.device("cpu") and repr(fw.get_default_device()) == "device(type='cpu')"
    if torch is not None:
        assert repr(torch.get_default_device()) == repr(fw.get_default_device())


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factories_follow_the_default_device(name):
    make = FACTORIES[name]
    with fw.device(OTHER):
        assert make().device.type == OTHER
    assert make().device.type == "cpu"
    fw.set_default_device(OTHER)
    assert make().device.type == OTHER
    assert make().dtype is FACTORIES[name]().dtype
    with fw.device("cpu"):  # a `with` block wins over set_default_device
        assert make().device.type == "cpu"
    fw.set_default_device(None)
    assert make().device.type == "cpu"


def test_explicit_device_and_like_functions_keep_theirs():
    source = fw.ones(2)
    with fw.device(OTHER):
        assert fw.zeros(2, device="cpu").device.type == "cpu"
        assert fw.zeros_like(source).device.type == "cpu"  # *_like: the input's device, as PyTorch
        assert fw.from_numpy(np.zeros(2)).device.type == "cpu"
        assert fw.tensor(source).device.type == OTHER  # tensor(t) copies onto the default device
    assert fw.tensor(source.to(OTHER)).device.type == OTHER  # with no default set it keeps its source's


def test_get_default_device_names_the_index():
    fw.set_default_device(OTHER)
    expected = "device(type='cuda', index=0)" if OTHER == "cuda" else "device(type='cpu')"
    assert repr(fw.get_default_device()) == expected
    with fw.device("cpu"):
        assert repr(fw.get_default_device()) == "device(type='cpu')"
    assert repr(fw.get_default_device()) == expected
    fw.set_default_device(None)
    assert repr(fw.get_default_device()) == "device(type='cpu')"


def test_nested_contexts_restore_and_survive_exceptions():
    cpu = fw.device("cpu")
    with cpu:
        with fw.device(OTHER):
            with cpu:  # the same (shared) device object entered twice
                assert fw.get_default_device().type == "cpu"
            assert fw.get_default_device().type == OTHER
        assert fw.get_default_device().type == "cpu"
    with pytest.raises(ValueError):
        with fw.device(OTHER):
            raise ValueError("leave the block")
    assert fw.get_default_device().type == "cpu" and fw.zeros(1).device.type == "cpu"
    with fw.device(OTHER) as entered:
        assert entered == fw.device(OTHER)


def test_the_default_is_per_thread():
    seen = {}
    fw.set_default_device(OTHER)

    def other_thread():
        seen["device"] = fw.zeros(1).device.type

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen["device"] == "cpu" and fw.zeros(1).device.type == OTHER


def test_modules_are_built_on_the_default_device():
    with fw.device(OTHER):
        layer = fw.nn.Linear(3, 2)
    assert layer.weight.device.type == OTHER and layer.bias.device.type == OTHER


# ---- 0-dim CPU tensors with tensors on another device ------------------------------------------------

SCALAR_OPS = {
    "mul": lambda x, s: x * s, "rmul": lambda x, s: s * x, "add": lambda x, s: x + s, "rsub": lambda x, s: s - x,
    "div": lambda x, s: x / s, "rdiv": lambda x, s: s / x, "pow": lambda x, s: x ** s, "rpow": lambda x, s: s ** x,
    "maximum": lambda x, s: fw.maximum(x, s) if isinstance(x, fw.Tensor) else torch.maximum(x, s),
    "eq": lambda x, s: x == s, "lt": lambda x, s: s < x,
    "where": lambda x, s: (fw if isinstance(x, fw.Tensor) else torch).where(x > 0, x, s),
    "clamp": lambda x, s: x.clamp(max=s), "masked_fill": lambda x, s: x.masked_fill(x > 0.5, s),
}


@requires_cuda
@pytest.mark.parametrize("name", sorted(SCALAR_OPS))
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64"])
def test_a_cpu_scalar_tensor_combines_with_cuda(rng, name, dtype):
    op = SCALAR_OPS[name]
    values = random_array(rng, (2, 3), dtype, low=1, high=3)
    scalar = np.asarray(random_array(rng, (), "float64", low=1, high=2) if name != "masked_fill" else 1.25)
    if dtype == "int64" and name in ("rpow", "masked_fill", "clamp", "where"):
        scalar = np.asarray(2)
    out = op(fw.tensor(values, device="cuda"), fw.tensor(scalar))
    expected = op(fw.tensor(values), fw.tensor(scalar))
    assert out.device.type == "cuda" and out.dtype is expected.dtype
    assert_close(out, expected, out.dtype)
    if torch is not None:
        t_values = torch.from_numpy(values.copy())
        assert str(expected.dtype).split(".")[1] == str(op(t_values, torch.from_numpy(scalar.copy())).dtype).split(".")[1]


@requires_cuda
def test_cpu_scalar_gradients_come_back_to_the_cpu(rng):
    x = fw.tensor(random_array(rng, (4,)), device="cuda", requires_grad=True)
    w = fw.tensor(1.5, requires_grad=True)
    loss = (x * w + fw.tensor(2.0)).sum() * fw.tensor(0.5)
    loss.backward()
    assert w.grad.device.type == "cpu" and x.grad.device.type == "cuda"
    assert_close(w.grad, 0.5 * x.detach().cpu().numpy().sum(), fw.float32)
    assert_close(x.grad, np.full(4, 0.75), fw.float64)
    y = fw.ones(3, device="cuda")
    y.mul_(fw.tensor(3.0))
    y += fw.tensor(1.0)
    assert y.device.type == "cuda" and y.tolist() == [4.0, 4.0, 4.0]


@requires_cuda
def test_only_cpu_scalars_cross_devices():
    message = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
    with pytest.raises(RuntimeError, match=message):
        fw.ones(3) * fw.tensor(2.0, device="cuda")  # a cuda scalar does not join a CPU tensor
    with pytest.raises(RuntimeError, match=message):
        fw.ones(3, device="cuda") * fw.ones(1)  # one element, but not 0-dim
    with pytest.raises(RuntimeError, match=message):
        fw.ones(3, device="cuda") @ fw.ones(3)
    out = fw.tensor(2.0, device="cuda") * fw.tensor(3.0)
    assert out.device.type == "cuda" and out.item() == 6.0
