"""framework.autocast: output dtypes op by op against torch.autocast on the CPU (PyTorch's CPU policy), against
PyTorch's cuda policy lists on cuda, gradients reaching float32 weights, the weight-cast cache, nesting, the
decorator, and bad arguments."""
import warnings

import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework.amp import autocast_mode

from helpers import DEVICES

try:
    import torch
    import torch.nn.functional as TF
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the oracle) is not installed")
LOW = ("bfloat16", "float16")


def _cases(lib, functional, rng, device):
    """name -> f(x) for x of shape (3, 4); the other operands float32 (weights that require grad)."""
    kw = {} if lib is torch else {"device": device}
    weight = lib.tensor(rng.standard_normal((5, 4)).astype(np.float32), requires_grad=True, **kw)
    weight2 = lib.tensor(rng.standard_normal((2, 5)).astype(np.float32), requires_grad=True, **kw)
    other = lib.tensor(rng.standard_normal((3, 4)).astype(np.float32), **kw)
    target = lib.tensor([1, 0, 2], **kw)
    kernel = lib.tensor(rng.standard_normal((2, 3, 2)).astype(np.float32), requires_grad=True, **kw)
    return {
        "linear": lambda x: functional.linear(x, weight), "matmul": lambda x: x @ weight.t(),
        "mm": lambda x: lib.mm(x, weight.t()), "bmm": lambda x: lib.bmm(x[None], weight.t()[None]),
        "two_layers": lambda x: functional.linear(functional.relu(functional.linear(x, weight)), weight2),
        "softmax": lambda x: x.softmax(-1), "log_softmax": lambda x: x.log_softmax(-1), "exp": lib.exp,
        "log": lambda x: lib.log(x.abs()), "pow": lambda x: x.pow(2), "sum": lib.sum, "mean": lib.mean,
        "cumsum": lambda x: x.cumsum(0), "prod": lib.prod, "logsumexp": lambda x: x.logsumexp(-1),
        "norm": lambda x: x.norm(), "layer_norm": lambda x: functional.layer_norm(x, (4,)),
        "layer_norm_affine": lambda x: functional.layer_norm(x, (4,), weight[0], weight[1]),
        "rms_norm": lambda x: functional.rms_norm(x, (4,), weight[0]),
        "mse_loss": lambda x: functional.mse_loss(x, other), "l1_loss": lambda x: functional.l1_loss(x, other),
        "huber_loss": lambda x: functional.huber_loss(x, other),
        "smooth_l1_loss": lambda x: functional.smooth_l1_loss(x, other),
        "cross_entropy": lambda x: functional.cross_entropy(x, target),
        "nll_loss": lambda x: functional.nll_loss(x, target),
        "bce_with_logits": lambda x: functional.binary_cross_entropy_with_logits(x, other.sigmoid()),
        "relu": functional.relu, "gelu": functional.gelu, "sigmoid": lib.sigmoid, "tanh": lib.tanh,
        "rsqrt": lambda x: x.abs().rsqrt(), "softplus": functional.softplus, "var": lib.var,
        "add_float32": lambda x: x + other, "where": lambda x: lib.where(x > 0, x, other),
        "cat": lambda x: lib.cat([x, other]), "stack": lambda x: lib.stack([x, other]),
        # x as 3 channels of length 4: conv1d's weight stays float32
        "conv1d": lambda x: functional.conv1d(x, kernel), "group_norm": lambda x: functional.group_norm(x[None], 3),
        "cdist": lambda x: lib.cdist(x, other), "cumprod": lambda x: x.cumprod(0), "trace": lib.trace,
        "erfinv": lambda x: (x.tanh() * 0.5).erfinv(),
        # x as one head of 3 queries of dim 4 attending to other's 3 keys, with a float32 additive mask
        "sdpa": lambda x: functional.scaled_dot_product_attention(x[None], other[None], other[None],
                                                                  attn_mask=other[:, :3]),
    }


def _name(dtype):
    return str(dtype).split(".")[-1]


@needs_torch
@pytest.mark.parametrize("low", LOW)
@pytest.mark.parametrize("given", ["float32", "low"])
def test_cpu_output_dtypes_match_torch_autocast(rng, low, given):
    values = rng.standard_normal((3, 4)).astype(np.float32)
    seed = int(rng.integers(1 << 30))
    ours = _cases(fw, F, np.random.default_rng(seed), "cpu")
    theirs = _cases(torch, TF, np.random.default_rng(seed), "cpu")
    in_dtype = low if given == "low" else "float32"
    for name in theirs:
        with torch.autocast("cpu", dtype=getattr(torch, low)):
            expected = _name(theirs[name](torch.tensor(values).to(getattr(torch, in_dtype))).dtype)
        with fw.autocast("cpu", dtype=getattr(fw, low)):
            got = _name(ours[name](fw.tensor(values).to(getattr(fw, in_dtype))).dtype)
        assert got == expected, f"{name}: {got}, torch.autocast gives {expected}"


# PyTorch's cuda policy (aten/src/ATen/autocast_mode.cpp) for these cases: "low" runs in the region's dtype,
# "fp32" in float32, "promote" in the widest input, anything else in its input's dtype.
CUDA_POLICY = dict.fromkeys(["linear", "matmul", "mm", "bmm", "two_layers", "conv1d", "sdpa"], "low") | dict.fromkeys(
    ["softmax", "log_softmax", "exp", "log", "pow", "sum", "cumsum", "prod", "logsumexp", "norm", "layer_norm",
     "layer_norm_affine", "rms_norm", "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "cross_entropy", "nll_loss", "bce_with_logits", "rsqrt",
     "softplus", "group_norm", "cdist", "cumprod", "erfinv"], "fp32") | dict.fromkeys(["add_float32", "where", "cat", "stack"], "promote")


@pytest.mark.skipif("cuda" not in DEVICES, reason="no cuda device (neither a GPU nor Triton's interpreter)")
@pytest.mark.parametrize("low", LOW)
def test_cuda_output_dtypes_follow_pytorchs_cuda_lists(rng, low):
    cases = _cases(fw, F, rng, "cuda")
    x = fw.tensor(rng.standard_normal((3, 4)).astype(np.float32), device="cuda").to(getattr(fw, low))
    with fw.autocast("cuda", dtype=getattr(fw, low)):
        for name, fn in cases.items():
            want = {"low": low, "fp32": "float32", "promote": "float32"}.get(CUDA_POLICY.get(name), low)
            assert _name(fn(x).dtype) == want, name
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            F.binary_cross_entropy(x.sigmoid(), x.sigmoid())


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
def test_gradients_reach_float32_weights(rng, device):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    target = np.array([0, 2, 1, 1, 0, 2])
    ours_w = fw.tensor(w, device=device, requires_grad=True)
    with fw.autocast(device, dtype=fw.bfloat16):
        loss = F.cross_entropy(F.linear(fw.tensor(x, device=device), ours_w), fw.tensor(target, device=device))
    loss.backward()
    theirs_w = torch.tensor(w, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch_loss = TF.cross_entropy(TF.linear(torch.tensor(x), theirs_w), torch.tensor(target))
    torch_loss.backward()
    assert ours_w.grad.dtype is fw.float32 and loss.dtype is fw.float32
    np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-2)
    np.testing.assert_allclose(ours_w.grad.cpu().numpy(), theirs_w.grad.numpy(), rtol=2e-2, atol=2e-2)


def test_weights_are_cast_once_per_region():
    w = fw.randn(4, 4, requires_grad=True)
    x = fw.randn(2, 4)
    casts = []
    real = autocast_mode._cast

    def counting(t, dtype, device_type):
        out = real(t, dtype, device_type)
        casts.append((t is w, out))
        return out

    autocast_mode._cast = counting
    try:
        with fw.autocast("cpu"):
            F.linear(F.linear(x, w), w)
            cast_weights = {id(out) for is_w, out in casts if is_w}
            assert len(cast_weights) == 1 and len(autocast_mode._STATE.cache) == 1  # the same bf16 copy twice
            with fw.autocast("cpu"):  # nested: still the outer region's cache
                F.linear(x, w)
            assert len(autocast_mode._STATE.cache) == 1
        assert autocast_mode._STATE.cache == {}  # dropped with the outermost region
        with fw.autocast("cpu", cache_enabled=False):
            F.linear(x, w)
            assert autocast_mode._STATE.cache == {}
    finally:
        autocast_mode._cast = real


def test_nesting_decorator_and_state_queries():
    assert not fw.is_autocast_enabled("cpu") and fw.get_autocast_dtype("cpu") is fw.bfloat16
    assert fw.get_autocast_dtype("cuda") is fw.float16 and not fw.is_autocast_enabled()
    x, w = fw.randn(2, 3), fw.randn(4, 3)
    with fw.autocast("cpu"):
        assert fw.is_autocast_enabled("cpu")
        with fw.autocast("cpu", enabled=False):
            assert not fw.is_autocast_enabled("cpu") and F.linear(x, w).dtype is fw.float32
        with fw.amp.autocast("cpu", dtype=fw.float16):
            assert F.linear(x, w).dtype is fw.float16 and fw.get_autocast_dtype("cpu") is fw.float16
        assert F.linear(x, w).dtype is fw.bfloat16 and fw.get_autocast_dtype("cpu") is fw.bfloat16
    assert not fw.is_autocast_enabled("cpu") and F.linear(x, w).dtype is fw.float32

    @fw.autocast("cpu")
    def forward(depth):
        return F.linear(x, w) if depth == 0 else forward(depth - 1)

    assert forward(2).dtype is fw.bfloat16 and not fw.is_autocast_enabled("cpu")
    assert fw.autograd.function.AUTOCAST is None  # no region open: run() pays nothing


def test_bad_arguments():
    with pytest.raises(RuntimeError, match="User specified an unsupported autocast device_type 'mps'"):
        fw.autocast("mps")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        region = fw.autocast("cpu", dtype=fw.float32)
    assert "In CPU autocast, but the target dtype is not supported. Disabling autocast." in str(caught[0].message)
    with region:
        assert not fw.is_autocast_enabled("cpu")
        assert F.linear(fw.randn(2, 3), fw.randn(4, 3)).dtype is fw.float32
