"""`framework.printing` against PyTorch's own repr, string for string.

Each case builds a torch tensor, hands the same values to `tensor_repr`
through a stand-in tensor (so these tests need nothing from the rest of the
package), and expects torch's repr with `torch.` spelled `framework.`.
Values are random and fresh each run; a failure prints the seed.
"""
import ml_dtypes
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the oracle for printing tests")

from framework import dtypes  # noqa: E402
from framework.device import device  # noqa: E402
from framework.printing import get_printoptions, set_printoptions, tensor_repr  # noqa: E402

SEED = np.random.SeedSequence().entropy
rng = np.random.default_rng(SEED)

TORCH_DTYPES = {
    "bool": torch.bool, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16,
    "int32": torch.int32, "int64": torch.int64, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64,
}


class GradFn:
    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name


class Tensor:
    """Stands in for framework.Tensor with only the state printing reads."""

    def __init__(self, data, dtype, device_=device("cpu"), grad_fn=None, requires_grad=False):
        self._data, self._dtype, self._device = data, dtype, device_
        self.grad_fn, self._requires_grad = grad_fn, requires_grad

    def _host(self):
        return self._data


def stand_in(t, device_=device("cpu")):
    """A stand-in holding the same values, dtype and autograd state as torch tensor `t`."""
    values = t.detach()
    data = values.float().numpy().astype(ml_dtypes.bfloat16) if t.dtype == torch.bfloat16 else values.numpy()
    grad_fn = GradFn(type(t.grad_fn).__name__) if t.grad_fn is not None else None
    return Tensor(data, getattr(dtypes, str(t.dtype).removeprefix("torch.")), device_, grad_fn, t.requires_grad)


def torch_repr(t):
    return repr(t).replace("torch.", "framework.")


def check(t, ours=None):
    ours = tensor_repr(ours if ours is not None else stand_in(t))
    assert ours == torch_repr(t), f"seed {SEED}\nours:\n{ours}\ntorch:\n{torch_repr(t)}"


@pytest.fixture(autouse=True)
def default_options():
    yield
    set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


def set_both(**options):
    set_printoptions(**options)
    torch.set_printoptions(**options)


# ---- value makers: fresh random values of each kind ------------------------------------

def make(kind, shape, dtype="float32"):
    if kind == "randn":
        values = rng.standard_normal(shape)
    elif kind == "ints":
        values = rng.integers(-1000, 1000, shape)
    elif kind == "small_ints":
        values = rng.integers(0, 100, shape)
    elif kind == "int_floats":
        values = rng.integers(-50, 50, shape).astype(np.float64)
    elif kind == "mixed":  # magnitudes spread enough to force scientific notation
        values = rng.standard_normal(shape) * 10.0 ** rng.uniform(-8, 10, shape)
    elif kind == "huge":
        values = rng.uniform(1e8, 1e12, shape)
    elif kind == "tiny":
        values = rng.uniform(1e-7, 1e-5, shape)
    elif kind == "specials":
        values = rng.standard_normal(shape)
        flat = values.reshape(-1)
        spots = rng.integers(0, flat.size, flat.size // 4 + 1) if flat.size else []
        flat[spots] = rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.0], len(spots))
    elif kind == "bools":
        values = rng.integers(0, 2, shape).astype(bool)
    else:
        raise ValueError(kind)
    target = TORCH_DTYPES[dtype]
    if not target.is_floating_point and kind != "bools":
        info = torch.iinfo(target) if target != torch.bool else None
        values = np.clip(np.nan_to_num(values), info.min, info.max) if info else values
    return torch.tensor(values).to(target)


SHAPES = [(), (1,), (7,), (40,), (3, 4), (1, 1, 1), (2, 3, 4), (30, 50), (5, 300), (2000,),
          (4, 5, 6, 7), (1001,), (6, 42, 5), (2, 1, 3)]
FLOAT_KINDS = ["randn", "int_floats", "mixed", "huge", "tiny", "specials"]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", FLOAT_KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_floats(dtype, kind, shape):
    check(make(kind, shape, dtype))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
def test_ints(dtype, shape):
    check(make("ints", shape, dtype))
    check(make("small_ints", shape, dtype))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_bools(shape):
    check(make("bools", shape, "bool"))


@pytest.mark.parametrize("values", [
    [0.0], [-0.0], [0.0, -0.0], [-0.0, 1.0], [-0.0, 1.5], [np.nan], [np.inf, -np.inf], [np.nan, 0.0, 1.0],
    [1e-5, 1.0], [1.0, 1000.0], [1.0, 1001.0], [1e8], [1e8 + 1], [123456.0], [0.1, 1e-4],
    [1.0, np.nan, 1e10], [-1.0, -2.0], [0.00005], [12345.678], [1e30, -1e-30, 0.0],
])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_edge_values(values, dtype):
    check(torch.tensor(values).to(TORCH_DTYPES[dtype]))
    check(torch.tensor(values[0]).to(TORCH_DTYPES[dtype]))


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4), (0, 0)], ids=str)
@pytest.mark.parametrize("dtype", list(TORCH_DTYPES))
def test_empty(dtype, shape):
    check(torch.empty(shape, dtype=TORCH_DTYPES[dtype]))


@pytest.mark.parametrize("options", [
    dict(precision=2), dict(precision=0), dict(precision=8), dict(threshold=5), dict(threshold=0),
    dict(edgeitems=1), dict(edgeitems=0), dict(edgeitems=0, threshold=5), dict(linewidth=40),
    dict(linewidth=200), dict(sci_mode=True), dict(sci_mode=False), dict(profile="short"),
    dict(profile="full"), dict(profile="short", precision=6),
], ids=str)
@pytest.mark.parametrize("shape", [(), (9,), (200,), (4, 9), (30, 50), (3, 4, 5), (1200,)], ids=str)
@pytest.mark.parametrize("kind", ["randn", "mixed", "int_floats", "ints"])
def test_printoptions(options, shape, kind):
    set_both(**options)
    check(make(kind, shape, "int64" if kind == "ints" else "float32"))


def test_printoptions_round_trip():
    assert get_printoptions() == dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)
    set_printoptions(profile="full", precision=2)
    assert get_printoptions() == {**torch._tensor_str.get_printoptions(), "precision": 2, "threshold": float("inf")}
    set_printoptions(sci_mode=True)
    assert get_printoptions()["sci_mode"] is True
    set_printoptions(precision=3)  # like PyTorch, leaving sci_mode out resets it to automatic
    assert get_printoptions()["sci_mode"] is None


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (4, 30), (40, 40)], ids=str)
def test_autograd_suffixes(shape):
    leaf = make("randn", shape).requires_grad_()
    check(leaf)
    check(leaf * 2)
    if len(shape) == 2:
        weight = make("randn", (shape[1], 5)).requires_grad_()
        check(torch.addmm(make("randn", (5,)), leaf, weight))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32"])
def test_default_dtype(dtype):
    """What counts as the default dtype follows get_default_dtype."""
    torch.set_default_dtype(torch.float64)
    dtypes.set_default_dtype(dtypes.float64)
    try:
        check(make("randn", (3,), dtype))
        check(torch.empty((0,), dtype=TORCH_DTYPES[dtype]))
    finally:
        torch.set_default_dtype(torch.float32)
        dtypes.set_default_dtype(dtypes.float32)


def test_subclass_prints_its_name():
    class Buffer(torch.Tensor):
        pass

    ours = stand_in(torch.tensor([1.5]))
    ours.__class__ = type("Buffer", (Tensor,), {})
    check(torch.tensor([1.5]).as_subclass(Buffer), ours)


def torch_layout_with_device(t, device_name):
    """PyTorch's own layout code, told the tensor is on `device_name` (this torch is CPU-only)."""
    from torch import _tensor_str as layout
    suffixes = [f"device='{device_name}'"]
    if t.numel() == 0:
        suffixes += [f"size={tuple(t.shape)}"] * (t.dim() != 1) + [f"dtype={t.dtype}"] * (t.dtype != torch.float32)
    elif t.dtype not in (torch.float32, torch.int64, torch.bool):
        suffixes.append(f"dtype={t.dtype}")
    suffixes += ["requires_grad=True"] * t.requires_grad
    text = layout._add_suffixes("tensor(" + layout._tensor_str(t.detach(), 7), suffixes, 7, False)
    return text.replace("torch.", "framework.")


@pytest.mark.parametrize("make_tensor", [
    lambda: torch.tensor([1.0, 2.0]),
    lambda: torch.arange(6.0).reshape(2, 3).requires_grad_(),
    lambda: (torch.arange(16.0).reshape(2, 8) - 3.5).requires_grad_(),
    lambda: make("randn", (70,), "float16"),
    lambda: torch.empty(0, 2, dtype=torch.int64),
])
@pytest.mark.parametrize("device_name", ["cuda:0", "cuda:1"])
def test_device_suffix(make_tensor, device_name):
    t = make_tensor()
    ours = tensor_repr(stand_in(t, device(device_name)))
    assert ours == torch_layout_with_device(t, device_name), f"seed {SEED}"
    assert tensor_repr(stand_in(torch.tensor([1.0, 2.0]), device("cuda", 0))) == "tensor([1., 2.], device='cuda:0')"


def test_suffix_wraps_onto_new_line():
    """The nn.Parameter layout: a suffix that would pass linewidth starts a new line."""
    weight = (torch.arange(16.0).reshape(2, 8) - 3.5).requires_grad_()
    check(weight)
    assert tensor_repr(stand_in(weight)) == (
        "tensor([[-3.5000, -2.5000, -1.5000, -0.5000,  0.5000,  1.5000,  2.5000,  3.5000],\n"
        "        [ 4.5000,  5.5000,  6.5000,  7.5000,  8.5000,  9.5000, 10.5000, 11.5000]],\n"
        "       requires_grad=True)")


@pytest.mark.parametrize("make_tensor, expected", [
    (lambda: torch.tensor(1), "tensor(1)"),
    (lambda: torch.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
    (lambda: torch.tensor([[1, 2], [3, 4]]), "tensor([[1, 2],\n        [3, 4]])"),
    (lambda: torch.tensor([[5, 11], [11, 25]]), "tensor([[ 5, 11],\n        [11, 25]])"),
    (lambda: torch.tensor([0.9183]), "tensor([0.9183])"),
    (lambda: torch.tensor([1.0]), "tensor([1.])"),
    (lambda: torch.tensor(0.0852), "tensor(0.0852)"),
    (lambda: torch.tensor(1.5), "tensor(1.5000)"),
    (lambda: torch.tensor([True, False]), "tensor([ True, False])"),
])
def test_tutorial_strings(make_tensor, expected):
    t = make_tensor()
    assert tensor_repr(stand_in(t)) == expected
    check(t)


def test_through_framework_tensor():
    """Once the package constructs tensors, its repr must be this module's."""
    import framework
    if not hasattr(framework, "tensor"):
        pytest.skip("framework.tensor is not available yet")
    values = [[1.0, 2.5], [3.0, -4.0]]
    assert repr(framework.tensor(values)) == torch_repr(torch.tensor(values))
    leaf = framework.tensor(values, requires_grad=True)
    assert repr(leaf) == torch_repr(torch.tensor(values, requires_grad=True))
    assert repr(framework.tensor([1, 2, 3], dtype=framework.int32)) == torch_repr(
        torch.tensor([1, 2, 3], dtype=torch.int32))
