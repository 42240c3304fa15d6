"""The rows of perf/report.py: for each kernel, size and dtype, the inputs, the work one call does at the
least, and how framework, PyTorch and numpy call it. The API is PyTorch's, so each case is written once for
both libraries; all_cases() is the cpu table, gpu_cases() the cuda one.
"""
import dataclasses
import math
import operator
from typing import Callable

import ml_dtypes
import numpy as np

import framework as fw
import numpy_ref

try:
    import torch
except ImportError:  # PyTorch is only a baseline: its columns disappear
    torch = None

BF16 = np.dtype(ml_dtypes.bfloat16)


def _torch_from_numpy(array):
    if array.dtype == BF16:  # torch.from_numpy knows no ml_dtypes bfloat16: the same bits, reinterpreted
        return torch.from_numpy(array.view(np.uint16)).view(torch.bfloat16)
    return torch.from_numpy(array)


class Lib:
    """The calls a case makes, for framework or torch: the API is PyTorch's, so each case is written once."""

    def __init__(self, module, linear_relu, linear_cross_entropy, from_numpy=None):
        self.module = module
        self.F, self.optim, self.from_numpy = module.nn.functional, module.optim, from_numpy or module.from_numpy
        self.linear_relu, self.linear_cross_entropy = linear_relu, linear_cross_entropy

    def tensor(self, array, device):
        """A numpy array (or a list of them) as this library's tensor on `device`; on the cpu it shares memory."""
        if isinstance(array, list):
            return [self.tensor(a, device) for a in array]
        t = self.from_numpy(array)
        return t if device == "cpu" else t.to(device)


FRAMEWORK = Lib(fw, lambda x, w, b: fw.ops.linalg.linear(x, w, b, activation="relu"),
                lambda x, w, t, b: fw.nn.functional.linear_cross_entropy(x, w, t, b))
TORCH = None if torch is None else Lib(
    torch, lambda x, w, b: torch.relu(torch.nn.functional.linear(x, w, b)),
    lambda x, w, t, b: torch.nn.functional.cross_entropy(torch.nn.functional.linear(x, w, b), t),  # unfused
    _torch_from_numpy)


@dataclasses.dataclass
class Case:
    kernel: str
    size: str
    dtype: str
    unit: str  # "GFLOP/s" (cpu), "TFLOP/s" (cuda) or "GB/s"
    work: float  # FLOPs or bytes one call needs at the least
    make: Callable  # rng -> dict of numpy arrays: one input set
    op: Callable = None  # (lib, tensors) -> output: the forward, for framework and torch alike
    numpy_ref: Callable = None  # arrays -> zero-argument function; a backward's saved values are computed outside
    grad_of: tuple = ()  # inputs that require grad: non-empty makes a backward row
    prepare: Callable = None  # (lib, tensors) -> zero-argument function, for rows that are not an op (optimizers)
    quick: bool = False


# ---- the cases ---------------------------------------------------------------------------------------------

def _randn(rng, shape, dtype, scale=1.0):
    """Normal draws made in float32 (fast enough for the cuda rows' 10^8-element inputs), scaled, cast to dtype."""
    x = rng.standard_normal(shape, dtype=np.float32)
    if scale != 1.0:
        x *= scale
    return x.astype(dtype, copy=False)


def _linear_inputs(m, k, n, dtype):
    return lambda rng: {"x": _randn(rng, (m, k), dtype), "w": _randn(rng, (n, k), dtype, 1 / math.sqrt(k)),
                        "b": _randn(rng, (n,), dtype), "grad": _randn(rng, (m, n), dtype)}


def linear_cases(m, k, n, dtype=np.float32, relu=False, quick=False):
    label = "linear+relu" if relu else "linear"
    size, make, flops = f"{m}x{k} -> {n}", _linear_inputs(m, k, n, dtype), 2.0 * m * k * n
    op = ((lambda lib, t: lib.linear_relu(t["x"], t["w"], t["b"])) if relu
          else (lambda lib, t: lib.F.linear(t["x"], t["w"], t["b"])))
    dt = np.dtype(dtype).name
    return [Case(f"{label} fwd", size, dt, "GFLOP/s", flops, make, op,
                 lambda a: lambda: numpy_ref.linear(a["x"], a["w"], a["b"], relu), quick=quick),
            Case(f"{label} bwd", size, dt, "GFLOP/s", 2 * flops, make, op,
                 lambda a: numpy_ref.linear_backward(a["x"], a["w"], a["b"], a["grad"], relu),
                 grad_of=("x", "w", "b"), quick=quick)]


def cross_entropy_cases(n, c, dtype=np.float32, quick=False):
    item = np.dtype(dtype).itemsize
    make = lambda rng: {"x": _randn(rng, (n, c), dtype), "t": rng.integers(0, c, n)}  # noqa: E731
    op = lambda lib, t: lib.F.cross_entropy(t["x"], t["t"])  # noqa: E731
    fwd_bytes, bwd_bytes = item * n * c + 8.0 * n, 2.0 * item * n * c  # read logits (+targets); read, write grad
    dt = np.dtype(dtype).name
    return [Case("cross_entropy fwd", f"{n}x{c}", dt, "GB/s", fwd_bytes, make, op,
                 lambda a: lambda: numpy_ref.cross_entropy_loss(a["x"], a["t"]), quick=quick),
            Case("cross_entropy bwd", f"{n}x{c}", dt, "GB/s", bwd_bytes, make, op,
                 lambda a: numpy_ref.cross_entropy_backward(a["x"], a["t"]), grad_of=("x",), quick=quick)]


def bce_logits_cases(shape, dtype=np.float32, quick=False):
    item, count = np.dtype(dtype).itemsize, math.prod(shape)
    make = lambda rng: {"x": _randn(rng, shape, dtype),  # noqa: E731
                        "t": rng.integers(0, 2, shape).astype(dtype)}
    op = lambda lib, t: lib.F.binary_cross_entropy_with_logits(t["x"], t["t"])  # noqa: E731
    size, dt = "x".join(map(str, shape)), np.dtype(dtype).name
    return [Case("bce_with_logits fwd", size, dt, "GB/s", 2.0 * item * count, make, op,  # read x, t
                 lambda a: lambda: numpy_ref.bce_with_logits(a["x"], a["t"]), quick=quick),
            Case("bce_with_logits bwd", size, dt, "GB/s", 3.0 * item * count, make, op,  # read x, t; write grad
                 lambda a: numpy_ref.bce_with_logits_backward(a["x"], a["t"]), grad_of=("x",), quick=quick)]


def _numpy_linear_cross_entropy_backward(a):
    logits = numpy_ref.linear(a["x"], a["w"], a["b"])  # what an unfused forward keeps

    def backward():
        _, g = numpy_ref.cross_entropy(logits, a["t"])
        return g @ a["w"], g.T @ a["x"], g.sum(axis=0)
    return backward


def linear_cross_entropy_cases(n, k, v, dtype=np.float32, quick=False):
    """F.linear_cross_entropy (N tokens, K features, V classes): torch's column is the unfused
    cross_entropy(linear(...)). Work: the GEMMs alone (forward X W^T; backward dX and dW), not the recompute."""
    make = lambda rng: {"x": _randn(rng, (n, k), dtype),  # noqa: E731
                        "w": _randn(rng, (v, k), dtype, 1 / math.sqrt(k)),
                        "b": _randn(rng, (v,), dtype), "t": rng.integers(0, v, n)}
    op = lambda lib, t: lib.linear_cross_entropy(t["x"], t["w"], t["t"], t["b"])  # noqa: E731
    size, dt, flops = f"{n}x{k} -> {v}", np.dtype(dtype).name, 2.0 * n * k * v
    return [Case("linear_cross_entropy fwd", size, dt, "GFLOP/s", flops, make, op,
                 lambda a: lambda: numpy_ref.cross_entropy_loss(numpy_ref.linear(a["x"], a["w"], a["b"]), a["t"]),
                 quick=quick),
            Case("linear_cross_entropy bwd", size, dt, "GFLOP/s", 2 * flops, make, op,
                 _numpy_linear_cross_entropy_backward, grad_of=("x", "w", "b"), quick=quick)]


def matmul_case(m, k, n, dtype=np.float32, quick=False):
    make = lambda rng: {"a": _randn(rng, (m, k), dtype), "b": _randn(rng, (k, n), dtype)}  # noqa: E731
    return Case("matmul", f"{m}x{k} @ {k}x{n}", np.dtype(dtype).name, "GFLOP/s", 2.0 * m * k * n, make,
                lambda lib, t: t["a"] @ t["b"], lambda a: lambda: a["a"] @ a["b"], quick=quick)


def softmax_case(n, c, dtype=np.float32, quick=False):
    return Case("softmax", f"{n}x{c}", np.dtype(dtype).name, "GB/s", 2.0 * np.dtype(dtype).itemsize * n * c,
                lambda rng: {"x": _randn(rng, (n, c), dtype)},
                lambda lib, t: lib.F.softmax(t["x"], dim=1), lambda a: lambda: numpy_ref.softmax(a["x"]), quick=quick)


def elementwise_case(name, fn, shape, dtype=np.float32, quick=False):
    itemsize, count = np.dtype(dtype).itemsize, math.prod(shape)
    return Case(name, "x".join(map(str, shape)), np.dtype(dtype).name, "GB/s", 3.0 * itemsize * count,
                lambda rng: {"a": _randn(rng, shape, dtype), "b": _randn(rng, shape, dtype)},
                lambda lib, t: fn(t["a"], t["b"]), lambda a: lambda: fn(a["a"], a["b"]), quick=quick)


def sum_case(shape, dim=None, dtype=np.float32, quick=False):
    label = "sum" if dim is None else f"sum(dim={dim})"
    return Case(label, "x".join(map(str, shape)), np.dtype(dtype).name, "GB/s",
                np.dtype(dtype).itemsize * math.prod(shape), lambda rng: {"a": _randn(rng, shape, dtype)},
                lambda lib, t: t["a"].sum() if dim is None else t["a"].sum(dim=dim),
                lambda a: lambda: a["a"].sum(axis=dim), quick=quick)


def _mlp_arrays(sizes):
    def make(rng):
        shapes = [s for k, n in zip(sizes, sizes[1:]) for s in ((n, k), (n,))]
        return {"params": [_randn(rng, s, np.float32, 0.1) for s in shapes],
                "grads": [_randn(rng, s, np.float32, 0.01) for s in shapes]}
    return make


def _prepare_optimizer(name, lib, tensors):
    params = [p.detach().clone().requires_grad_() for p in tensors["params"]]  # its own copy: each step updates it
    for p, g in zip(params, tensors["grads"]):
        p.grad = g
    # torch's fastest cuda step, as the framework's cuda step is one fused launch per group (it takes no flag)
    fused = {"fused": True} if lib is TORCH and params[0].is_cuda else {}
    opt = (lib.optim.SGD(params, lr=0.01, momentum=0.9, **fused) if name == "SGD"
           else lib.optim.Adam(params, lr=1e-3, **fused))
    return opt.step


def _numpy_optimizer(name, arrays):
    params, grads = [p.copy() for p in arrays["params"]], arrays["grads"]
    update = numpy_ref.sgd_update(params, 0.01, 0.9) if name == "SGD" else numpy_ref.adam_update(params, 1e-3)
    return lambda: update(grads)


def optimizer_case(name, label, sizes, quick=False):
    n_params = sum(n * k + n for k, n in zip(sizes, sizes[1:]))
    moved = (5 if name == "SGD" else 7) * 4.0 * n_params  # SGD+momentum: p, g, buf read; p, buf written
    kernel = f"{name} step" + (" (momentum 0.9)" if name == "SGD" else "")
    return Case(kernel, f"{label} MLP, {n_params} params", "float32", "GB/s", moved, _mlp_arrays(sizes),
                numpy_ref=lambda arrays: _numpy_optimizer(name, arrays),
                prepare=lambda lib, tensors: _prepare_optimizer(name, lib, tensors), quick=quick)


_LSTM_LAYERS = {}


def _lstm_layer(lib, t):
    """The library's nn.LSTM holding the input set's weights: built once per library, device, dtype and size
    (the layer is the op; PyTorch's keeps its weights in one cuDNN buffer, which a copy per call would undo)."""
    x = t["x"]
    key = (lib.module.__name__, str(x.device), str(x.dtype), tuple(x.shape), tuple(t["w_hh"].shape))
    layer = _LSTM_LAYERS.get(key)
    if layer is None:
        layer = lib.module.nn.LSTM(x.shape[2], t["w_hh"].shape[1]).to(device=x.device, dtype=x.dtype)
        with lib.module.no_grad():
            for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
                getattr(layer, f"weight_{name[2:]}_l0" if name[0] == "w" else f"bias_{name[2:]}_l0").copy_(t[name])
        _LSTM_LAYERS[key] = layer
    return layer


def lstm_cases(steps, batch, inputs, hidden, dtype=np.float32, quick=False):
    """One nn.LSTM layer over (steps, batch, inputs) from zero states; the backward row also computes the four
    parameters' gradients. Work: the GEMMs (input projection and recurrent, 2 x T x B x (I + H) x 4H forward,
    twice that backward), not the gates' elementwise work."""
    scale = 1 / math.sqrt(hidden)
    make = lambda rng: {"x": _randn(rng, (steps, batch, inputs), dtype),  # noqa: E731
                        "w_ih": _randn(rng, (4 * hidden, inputs), dtype, scale),
                        "w_hh": _randn(rng, (4 * hidden, hidden), dtype, scale),
                        "b_ih": _randn(rng, (4 * hidden,), dtype, scale), "b_hh": _randn(rng, (4 * hidden,), dtype, scale),
                        "grad": _randn(rng, (steps, batch, hidden), dtype)}
    op = lambda lib, t: _lstm_layer(lib, t)(t["x"])[0]  # noqa: E731
    size, dt = f"T={steps} B={batch} I={inputs} H={hidden}", np.dtype(dtype).name
    flops = 2.0 * steps * batch * (inputs + hidden) * 4 * hidden
    weights = lambda a: (a["x"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])  # noqa: E731
    return [Case("LSTM layer fwd", size, dt, "GFLOP/s", flops, make, op,
                 lambda a: lambda: numpy_ref.lstm(*weights(a)), quick=quick),
            Case("LSTM layer bwd", size, dt, "GFLOP/s", 2 * flops, make, op,
                 lambda a: numpy_ref.lstm_backward(*weights(a), a["grad"]), grad_of=("x",), quick=quick)]


# ---- convolutional networks ---------------------------------------------------------------------------------

# (label, N, C, H=W, O, k, stride, padding, bias): LeNet-5's convolutions on 32x32 images; ResNet-50's stem and a
# 3x3 and a 1x1 convolution of its stages (no bias: a batch norm follows each)
LENET = [("LeNet conv1", 64, 1, 32, 6, 5, 1, 0, True), ("LeNet conv2", 64, 6, 14, 16, 5, 1, 0, True)]
RESNET50 = [("ResNet-50 stem", 3, 224, 64, 7, 2, 3), ("ResNet-50 layer1 3x3", 64, 56, 64, 3, 1, 1),
            ("ResNet-50 layer3 3x3", 256, 14, 256, 3, 1, 1), ("ResNet-50 layer2 1x1", 128, 28, 512, 1, 1, 0)]


def resnet50_conv(index, batch):
    label, c, hw, o, k, stride, padding = RESNET50[index]
    return label, batch, c, hw, o, k, stride, padding, False


def small_conv(spec):
    """A convolution row's shape cut to what Triton's interpreter runs in a moment: batch 2, at most 4 input and 8
    output channels, at most 9x9 (the kernel, stride and padding kept)."""
    label, n, c, hw, o, k, stride, padding, bias = spec
    return label, 2, min(c, 4), min(hw, 9), min(o, 8), k, stride, padding, bias


def conv2d_cases(label, n, c, hw, o, k, stride, padding, bias, dtype=np.float32, quick=False):
    """F.conv2d forward and backward (dx, dw and the bias's gradient). Work: the GEMM's 2*N*O*Ho*Wo*C*k*k FLOPs
    forward, twice that backward (dx and dw)."""
    out = (hw + 2 * padding - k) // stride + 1
    make = lambda rng: {"x": _randn(rng, (n, c, hw, hw), dtype),  # noqa: E731
                        "w": _randn(rng, (o, c, k, k), dtype, 1 / math.sqrt(c * k * k)),
                        **({"b": _randn(rng, (o,), dtype)} if bias else {}),
                        "grad": _randn(rng, (n, o, out, out), dtype)}
    op = lambda lib, t: lib.F.conv2d(t["x"], t["w"], t.get("b"), stride=stride, padding=padding)  # noqa: E731
    stride_text = f" s{stride}" if stride > 1 else ""
    size, dt = f"{label}: {n}x{c}x{hw}x{hw}, {o} {k}x{k}{stride_text}", np.dtype(dtype).name
    flops = 2.0 * n * o * out * out * c * k * k
    return [Case("conv2d fwd", size, dt, "GFLOP/s", flops, make, op,
                 lambda a: lambda: numpy_ref.conv2d(a["x"], a["w"], a.get("b"), stride, padding), quick=quick),
            Case("conv2d bwd", size, dt, "GFLOP/s", 2 * flops, make, op,
                 lambda a: numpy_ref.conv2d_backward(a["x"], a["w"], a["grad"], stride, padding),
                 grad_of=("x", "w", "b") if bias else ("x", "w"), quick=quick)]


def max_pool2d_cases(label, n, c, hw, k, stride, padding, dtype=np.float32, quick=False):
    """F.max_pool2d forward and backward. Work, forward: read the input, write the output; backward: read the
    output's gradient, write the input's (the saved indices' reads not counted)."""
    out = (hw + 2 * padding - k) // stride + 1
    item, big, small = np.dtype(dtype).itemsize, n * c * hw * hw, n * c * out * out
    make = lambda rng: {"x": _randn(rng, (n, c, hw, hw), dtype),  # noqa: E731
                        "grad": _randn(rng, (n, c, out, out), dtype)}
    op = lambda lib, t: lib.F.max_pool2d(t["x"], k, stride, padding)  # noqa: E731
    size, dt = f"{label}: {n}x{c}x{hw}x{hw}, {k}x{k} s{stride}", np.dtype(dtype).name
    return [Case("max_pool2d fwd", size, dt, "GB/s", float(item * (big + small)), make, op,
                 lambda a: lambda: numpy_ref.max_pool2d(a["x"], k, stride, padding), quick=quick),
            Case("max_pool2d bwd", size, dt, "GB/s", float(item * (big + small)), make, op,
                 lambda a: numpy_ref.max_pool2d_backward(a["x"], a["grad"], k, stride, padding), grad_of=("x",),
                 quick=quick)]


def batch_norm_cases(label, n, c, hw, dtype=np.float32, quick=False):
    """F.batch_norm in training mode (batch statistics, running statistics updated), forward and backward. Work,
    forward: read x, write y; backward: read x and the output's gradient, write x's gradient (C-vectors not
    counted)."""
    item, count = np.dtype(dtype).itemsize, n * c * hw * hw
    make = lambda rng: {"x": _randn(rng, (n, c, hw, hw), dtype),  # noqa: E731
                        "w": (1 + _randn(rng, (c,), np.float32, 0.1)).astype(dtype), "b": _randn(rng, (c,), dtype, 0.1),
                        "mean": np.zeros(c, dtype), "var": np.ones(c, dtype),
                        "grad": _randn(rng, (n, c, hw, hw), dtype)}
    op = lambda lib, t: lib.F.batch_norm(t["x"], t["mean"], t["var"], t["w"], t["b"], training=True)  # noqa: E731
    size, dt = f"{label}: {n}x{c}x{hw}x{hw}", np.dtype(dtype).name
    return [Case("batch_norm fwd", size, dt, "GB/s", 2.0 * item * count, make, op,
                 lambda a: lambda: numpy_ref.batch_norm(a["x"], a["w"], a["b"]), quick=quick),
            Case("batch_norm bwd", size, dt, "GB/s", 3.0 * item * count, make, op,
                 lambda a: numpy_ref.batch_norm_backward(a["x"], a["w"], a["grad"]), grad_of=("x", "w", "b"),
                 quick=quick)]


def layer_norm_cases(n, d, dtype=np.float32, rms=False, quick=False):
    """F.layer_norm (F.rms_norm with `rms`) over rows of d, with the elementwise affine, forward and backward.
    Work, forward: read x, write y; backward: read x and the output's gradient, write x's gradient (the
    d-vectors and the per-row statistics not counted)."""
    item, count, label = np.dtype(dtype).itemsize, n * d, "rms_norm" if rms else "layer_norm"
    make = lambda rng: {"x": _randn(rng, (n, d), dtype),  # noqa: E731
                        "w": (1 + _randn(rng, (d,), np.float32, 0.1)).astype(dtype),
                        **({} if rms else {"b": _randn(rng, (d,), dtype, 0.1)}), "grad": _randn(rng, (n, d), dtype)}
    if rms:
        op = lambda lib, t: lib.F.rms_norm(t["x"], (d,), t["w"], 1e-5)  # noqa: E731
    else:
        op = lambda lib, t: lib.F.layer_norm(t["x"], (d,), t["w"], t["b"])  # noqa: E731
    size, dt = f"{n}x{d}", np.dtype(dtype).name
    return [Case(f"{label} fwd", size, dt, "GB/s", 2.0 * item * count, make, op,
                 lambda a: lambda: numpy_ref.layer_norm(a["x"], a["w"], a.get("b"), rms=rms), quick=quick),
            Case(f"{label} bwd", size, dt, "GB/s", 3.0 * item * count, make, op,
                 lambda a: numpy_ref.layer_norm_backward(a["x"], a["w"], a["grad"], rms=rms),
                 grad_of=("x", "w") if rms else ("x", "w", "b"), quick=quick)]


def attention_cases(b, h, length, d, causal, dtype=np.float32, quick=False):
    """F.scaled_dot_product_attention forward and backward (dq, dk, dv), against PyTorch's SDPA (its flash kernel on
    a GPU). Work: the two L x L x D products forward, 4 B H L^2 D FLOPs (half of it causal); backward 2.5x that (the
    recomputed scores, dP, dV, dK and dQ)."""
    make = lambda rng: {name: _randn(rng, (b, h, length, d), dtype) for name in ("q", "k", "v", "grad")}  # noqa: E731
    op = lambda lib, t: lib.F.scaled_dot_product_attention(t["q"], t["k"], t["v"], is_causal=causal)  # noqa: E731
    flops = 4.0 * b * h * length * length * d * (0.5 if causal else 1.0)
    size, dt = f"{b}x{h}x{length}x{d}{' causal' if causal else ''}", np.dtype(dtype).name
    return [Case("attention fwd", size, dt, "GFLOP/s", flops, make, op,
                 lambda a: lambda: numpy_ref.attention(a["q"], a["k"], a["v"], causal), quick=quick),
            Case("attention bwd", size, dt, "GFLOP/s", 2.5 * flops, make, op,
                 lambda a: numpy_ref.attention_backward(a["q"], a["k"], a["v"], a["grad"], causal),
                 grad_of=("q", "k", "v"), quick=quick)]


def all_cases():
    """The cpu table."""
    tutorial, mnist = (50, 30, 20, 3), (784, 512, 512, 10)
    return [
        *linear_cases(32, 50, 30, quick=True), *linear_cases(256, 784, 512), *linear_cases(1024, 1024, 1024),
        *linear_cases(256, 784, 512, dtype=np.float64), *linear_cases(256, 784, 512, relu=True),
        *cross_entropy_cases(32, 3), *cross_entropy_cases(256, 10, quick=True), *cross_entropy_cases(4096, 1000),
        *bce_logits_cases((32, 1)), *bce_logits_cases((4096, 1024)),
        *linear_cross_entropy_cases(512, 128, 2048),
        matmul_case(256, 784, 512), matmul_case(1024, 1024, 1024), matmul_case(1024, 1024, 1024, np.float64),
        softmax_case(256, 10), softmax_case(4096, 1000),
        elementwise_case("add", operator.add, (32, 50), quick=True),
        elementwise_case("add", operator.add, (2048, 2048)),
        elementwise_case("add", operator.add, (2048, 2048), np.float64),
        elementwise_case("mul", operator.mul, (32, 50)), elementwise_case("mul", operator.mul, (2048, 2048)),
        sum_case((32, 50)), sum_case((2048, 2048)), sum_case((2048, 2048), dim=1),
        optimizer_case("SGD", "tutorial", tutorial), optimizer_case("SGD", "MNIST", mnist),
        optimizer_case("Adam", "tutorial", tutorial, quick=True), optimizer_case("Adam", "MNIST", mnist),
        # the LSTM (batch 64, hidden 512) over 32 steps instead of 128: a cpu call stays under a second
        *lstm_cases(32, 64, 512, 512),
        *conv2d_cases(*LENET[0]), *conv2d_cases(*LENET[1]),  # the CPU target: within 2x of PyTorch
        *conv2d_cases(*resnet50_conv(1, 4)), *conv2d_cases(*resnet50_conv(2, 4)),
        *max_pool2d_cases("LeNet pool1", 64, 6, 28, 2, 2, 0),
        *max_pool2d_cases("ResNet-50 stem pool", 4, 64, 112, 3, 2, 1),
        *batch_norm_cases("ResNet-50 layer1", 4, 64, 56),
        *layer_norm_cases(2048, 768), *layer_norm_cases(2048, 768, rms=True),
        *attention_cases(2, 4, 256, 64, causal=True),  # a small GPT's block: blockwise numpy against the unfused
    ]


def gpu_cases(small=False):
    """The cuda table: the fused kernels at the sizes they target (linear 4096^3 against cuBLAS; cross-entropy at
    Llama-2's and Llama-3's vocabularies; linear+cross-entropy as Llama-3 8B's LM head), mostly bfloat16.
    small: the same rows at sizes Triton's interpreter runs in a fraction of a second (CI runs each once)."""
    def pick(full, reduced):
        return reduced if small else full

    def conv(spec, dtype, quick=False):
        return conv2d_cases(*(small_conv(spec) if small else spec), dtype=dtype, quick=quick)
    mlp = pick((4096,) * 5, (64,) * 3)
    cases = [
        *linear_cases(*pick((4096, 4096, 4096), (32, 48, 40)), dtype=BF16, quick=True),
        *cross_entropy_cases(*pick((8192, 32000), (16, 200)), dtype=BF16, quick=True),
        *cross_entropy_cases(*pick((4096, 128256), (4, 500)), dtype=BF16),
        *bce_logits_cases(pick((1 << 26,), (1000,))),
        *bce_logits_cases(pick((8192, 8192), (16, 100)), dtype=BF16),
        *linear_cross_entropy_cases(*pick((4096, 4096, 128256), (16, 24, 200)), dtype=BF16),
        matmul_case(*pick((4096, 4096, 4096), (32, 48, 40)), dtype=BF16, quick=True),
        softmax_case(*pick((8192, 32000), (16, 200)), dtype=BF16),
        elementwise_case("add", operator.add, pick((8192, 8192), (64, 50)), dtype=BF16, quick=True),
        elementwise_case("add", operator.add, pick((8192, 8192), (64, 50))),
        elementwise_case("mul", operator.mul, pick((8192, 8192), (64, 50)), dtype=BF16),
        sum_case(pick((8192, 8192), (64, 50))), sum_case(pick((8192, 8192), (64, 50)), dim=1),
        optimizer_case("Adam", "tutorial", (50, 30, 20, 3), quick=True),  # one launch: launch-bound
        optimizer_case("Adam", f"{len(mlp) - 1}x{mlp[0]}", mlp, quick=True),
        optimizer_case("SGD", f"{len(mlp) - 1}x{mlp[0]}", mlp),
        *lstm_cases(*pick((128, 64, 512, 512), (4, 2, 8, 8))),  # against cuDNN's LSTM
        # convolutional networks: implicit GEMM against cuDNN at ResNet-50's shapes (batch 64); LeNet's conv2 (batch
        # 256) is launch-bound
        *conv(("LeNet conv2", 256) + LENET[1][2:], np.float16),
        *(case for i in range(len(RESNET50)) for case in conv(resnet50_conv(i, 64), BF16, quick=i == 1)),
        *(case for i in (1, 2) for case in conv(resnet50_conv(i, 64), np.float16)),
        *max_pool2d_cases("ResNet-50 stem pool", *pick((64, 64, 112), (2, 3, 9)), 3, 2, 1, dtype=BF16),
        *batch_norm_cases("ResNet-50 layer1", *pick((64, 64, 56), (2, 3, 5)), dtype=BF16, quick=True),
        *batch_norm_cases("ResNet-50 layer1", *pick((64, 64, 56), (2, 3, 5))),
        # a transformer's normalisations: rows of a 4096-wide model (Llama-2 7B), 8192 tokens
        *layer_norm_cases(*pick((8192, 4096), (16, 200)), dtype=BF16, quick=True),
        *layer_norm_cases(*pick((8192, 4096), (16, 200)), dtype=BF16, rms=True, quick=True),
        *layer_norm_cases(*pick((8192, 4096), (16, 200))),
        # issue #15's rows: (4, 16, L, D) bf16 against PyTorch's flash attention; target: forward + backward within
        # 10% of it at L >= 4k
        *(case for length in (1024, 4096, 16384) for d in (64, 128) for causal in (False, True)
          for case in attention_cases(*pick((4, 16, length, d), (1, 2, 40, d)), causal=causal, dtype=BF16,
                                      quick=length == 4096 and d == 64 and not causal)
          if not small or length == 1024),
    ]
    return [dataclasses.replace(c, unit="TFLOP/s") if c.unit == "GFLOP/s" else c for c in cases]
