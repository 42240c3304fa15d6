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
    ]


def gpu_cases(small=False):
    """The cuda table: the fused kernels at the sizes they target (linear 4096^3 against cuBLAS; cross-entropy at
    Llama-2's and Llama-3's vocabularies; linear+cross-entropy as Llama-3 8B's LM head), mostly bfloat16.
    small: the same rows at sizes Triton's interpreter runs in a fraction of a second (CI runs each once)."""
    def pick(full, reduced):
        return reduced if small else full
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
    ]
    return [dataclasses.replace(c, unit="TFLOP/s") if c.unit == "GFLOP/s" else c for c in cases]
