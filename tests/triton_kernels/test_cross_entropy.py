"""Cross-entropy kernels through Triton's interpreter (conftest sets TRITON_INTERPRET=1) against float64 numpy,
plus ahead-of-time compiles for sm_80/sm_90 at the shipped configs (no register spills)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import cross_entropy as ce
from triton_kernels.host_tensor import HostTensor
from triton_kernels.row_settings import row_settings

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
# Output rounding of the gradient (stored in the logits' dtype) dominates for fp16/bf16; the math is fp32
# (fp64 for float64 logits).
GRAD_TOL = {"float32": (2e-5, 1e-6), "float16": (2e-3, 1e-6), "bfloat16": (1.6e-2, 1e-6), "float64": (1e-12, 1e-15)}


def _rng(seed_extra):
    return np.random.default_rng(abs(hash(seed_extra)) % (1 << 32))


def reference(x, target, weight, ignore_index, eps, reduction, grad_loss):
    """float64: (loss, d loss / d x) of PyTorch's cross_entropy, grad_loss the upstream gradient."""
    x = x.astype(np.float64)
    n_rows, n_cols = x.shape
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    logp = x - lse
    ignored = target == ignore_index
    t = np.where(ignored, 0, target)
    w = np.ones(n_cols) if weight is None else weight.astype(np.float64)
    w_t = np.where(ignored, 0.0, w[t])
    rows = np.arange(n_rows)
    nll = -w_t * logp[rows, t]
    loss_rows = (1 - eps) * nll
    if eps > 0:  # PyTorch adds the smoothing term only when label_smoothing > 0 (it is inf for -inf logits)
        loss_rows = loss_rows + eps / n_cols * np.where(ignored, 0.0, -(logp * w).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = w_t.sum() if reduction == "mean" else 1.0
        loss = {"none": loss_rows, "sum": loss_rows.sum(), "mean": loss_rows.sum() / norm}[reduction]
        g = (np.asarray(grad_loss, np.float64) * np.ones(n_rows)) / norm
    p = np.exp(logp)
    onehot = np.zeros_like(x)
    onehot[rows, t] = 1.0
    grad = (1 - eps) * w_t[:, None] * (p - onehot) + eps / n_cols * (w.sum() * p - w)
    grad = np.where(ignored[:, None], 0.0, grad) * g[:, None]
    return loss, grad


def run(x, target, weight, ignore_index, eps, reduction, grad_loss, block_size=None, in_place=False, **errors):
    """Forward then backward through the launchers on host buffers; returns (loss, grad). `errors`: the error
    record's arguments, given to both."""
    n_rows, n_cols = x.shape
    x = x.copy()
    acc = DTYPES[ce.compute_dtype(str(x.dtype))]
    loss_rows = np.full(n_rows, -7.0, acc)
    lse = np.full(n_rows, -7.0, acc)
    target_weight = np.full(n_rows, -7.0, acc)
    out = np.full(1, -7.0, acc)
    total_weight = np.full(1, -7.0, acc)
    w = None if weight is None else HostTensor(weight)
    ce.cross_entropy_forward(HostTensor(x), HostTensor(target), w, HostTensor(loss_rows), HostTensor(lse),
                             HostTensor(target_weight), n_rows, n_cols, x.strides[0] // x.itemsize,
                             ignore_index=ignore_index, label_smoothing=eps, reduction=reduction,
                             out=HostTensor(out), total_weight=HostTensor(total_weight), block_size=block_size,
                             **errors)
    loss = loss_rows if reduction == "none" else out[0]
    g = np.asarray(grad_loss, acc).reshape(-1)
    grad = None if in_place else np.full(x.shape, -7.0, x.dtype)
    ce.cross_entropy_backward(HostTensor(x), HostTensor(target), w, HostTensor(lse), HostTensor(g),
                              None if in_place else HostTensor(grad), n_rows, n_cols, x.strides[0] // x.itemsize,
                              ignore_index=ignore_index, label_smoothing=eps, reduction=reduction,
                              total_weight=HostTensor(total_weight), in_place=in_place, block_size=block_size,
                              **errors)
    return loss, (x if in_place else grad)


def make(n_rows, n_cols, dtype, seed, scale=3.0):
    rng = _rng(seed)
    x = (rng.standard_normal((n_rows, n_cols)) * scale).astype(DTYPES[dtype])
    target = rng.integers(0, n_cols, n_rows).astype(np.int64)
    return rng, x, target


def check(x, target, weight, ignore_index, eps, reduction, grad_loss, dtype="float32", grad_tol=None, **kwargs):
    loss, grad = run(x, target, weight, ignore_index, eps, reduction, grad_loss, **kwargs)
    ref_loss, ref_grad = reference(x, target, weight, ignore_index, eps, reduction, grad_loss)
    tol = 1e-13 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(loss, ref_loss, rtol=2 * tol, atol=tol * (1 + np.abs(np.asarray(ref_loss)).max()))
    rtol, atol = grad_tol or GRAD_TOL[dtype]
    np.testing.assert_allclose(grad.astype(np.float64), ref_grad, rtol=rtol, atol=atol + rtol * np.abs(ref_grad).max())


@pytest.mark.parametrize("n_rows,n_cols", [(1, 1), (7, 5), (33, 1000), (1, 1000), (7, 1)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_shapes_and_reductions(n_rows, n_cols, reduction):
    rng, x, target = make(n_rows, n_cols, "float32", (n_rows, n_cols, reduction))
    grad_loss = rng.uniform(0.5, 2.0, n_rows) if reduction == "none" else 1.7  # non-uniform per-row upstream
    check(x, target, None, -100, 0.0, reduction, grad_loss)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_cross_entropy_dtypes_weights_ignore_smoothing(dtype, reduction):
    n_rows, n_cols = 33, 1000
    rng, x, target = make(n_rows, n_cols, dtype, (dtype, reduction))
    target[::4] = -100
    weight = rng.uniform(0.1, 2.0, n_cols).astype(DTYPES[dtype])
    grad_loss = rng.uniform(-2.0, 2.0, n_rows) if reduction == "none" else 0.6
    check(x, target, weight, -100, 0.1, reduction, grad_loss, dtype=dtype)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.25])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_multi_block_column_loop(weighted, eps, reduction):
    """3 x 5000 with BLOCK_SIZE 512: ten column blocks per row walk the online (max, sum-exp) recurrence."""
    rng, x, target = make(3, 5000, "float32", (weighted, eps, reduction))
    x[1, 4900:] += 12.0  # the row's max arrives in a late block: the running sum must be rescaled
    weight = rng.uniform(0.1, 2.0, 5000).astype(np.float32) if weighted else None
    grad_loss = np.array([0.5, -1.0, 3.0]) if reduction == "none" else 1.0
    check(x, target, weight, -100, eps, reduction, grad_loss, block_size=512)


def test_cross_entropy_ignore_index_custom_and_oob_safe():
    """A custom ignore_index far outside [0, C): those rows must read nothing with it, and give 0 loss/grad."""
    rng, x, target = make(7, 13, "float32", "ignore")
    target[[0, 3, 6]] = 1_000_000_000
    check(x, target, rng.uniform(0.5, 1.5, 13).astype(np.float32), 1_000_000_000, 0.1, "mean", 1.0)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_out_of_bounds_targets_count_as_ignored_and_are_reported(reduction):
    """Targets outside [0, C) other than ignore_index: those rows read nothing with them and give 0 loss and
    gradient, as ignored rows; the forward records the first (rows run in order here), the backward finds the
    record taken and leaves it. The ignore_index rows are not errors."""
    rng, x, target = make(9, 13, "float32", ("oob", reduction))
    target[[2, 5, 7]] = [13, -1, 1 << 40]
    target[3] = -100
    record = np.zeros(4, np.int64)
    grad_loss = rng.uniform(-1, 1, 9) if reduction == "none" else 1.0
    loss, grad = run(x, target, None, -100, 0.1, reduction, grad_loss, errors=HostTensor(record), error_code=3)
    assert record.tolist() == [3, 13, 0, 0]
    ignored = np.where((target < 0) | (target >= 13), -100, target)
    ref_loss, ref_grad = reference(x, ignored, None, -100, 0.1, reduction, grad_loss)
    np.testing.assert_allclose(loss, ref_loss, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=2e-5, atol=1e-6)
    record[:] = 0  # the backward alone reports too: its rows must not read with a bad target either
    g = np.asarray(grad_loss, np.float32).reshape(-1)
    lse, total_weight, grad = np.zeros(9, np.float32), np.ones(1, np.float32), np.zeros((9, 13), np.float32)
    ce.cross_entropy_backward(HostTensor(x), HostTensor(target), None, HostTensor(lse), HostTensor(g),
                              HostTensor(grad), 9, 13, 13, reduction=reduction, total_weight=HostTensor(total_weight),
                              errors=HostTensor(record), error_code=3)
    assert record.tolist() == [3, 13, 0, 0] and np.all(grad[[2, 3, 5, 7]] == 0)


def test_cross_entropy_probability_targets_ignore_no_class():
    """ignore_index applies to class indices only: probability targets keep every row, whatever its value."""
    rng, x, _ = make(4, 6, "float32", "probs-ignore")
    probs = rng.dirichlet(np.ones(6), 4).astype(np.float32)
    expected = run(x, probs, None, -100, 0.0, "none", np.ones(4))
    for loss, ref in zip(run(x, probs, None, 0, 0.0, "none", np.ones(4)), expected):
        np.testing.assert_array_equal(loss, ref)
    assert np.all(expected[0] > 0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_all_rows_ignored(reduction):
    rng, x, target = make(5, 9, "float32", ("all-ignored", reduction))
    target[:] = -100
    loss, grad = run(x, target, None, -100, 0.0, reduction, np.ones(5) if reduction == "none" else 1.0)
    if reduction == "mean":
        assert np.isnan(loss)  # 0 / 0, as PyTorch
    else:
        assert np.all(np.asarray(loss) == 0)
    assert grad is not None
    if reduction != "mean":
        assert np.all(grad == 0)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_large_logits_finite(eps):
    rng, x, target = make(7, 1000, "float32", ("large", eps))
    x = np.where(rng.random(x.shape) < 0.5, 1e4, -1e4).astype(np.float32) + x
    loss, grad = run(x, target, None, -100, eps, "none", np.ones(7))
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    # The saved fp32 log-sum-exp of a row near 1e4 is rounded to its ulp (~1e-3), so p = exp(x - lse) carries
    # up to ~5e-4 relative error: the same order as the rounding of the fp32 logits themselves.
    check(x, target, None, -100, eps, "none", rng.uniform(0.5, 2.0, 7), grad_tol=(1e-3, 1e-6))


def test_cross_entropy_negative_infinity_logits():
    """-inf logits (masked vocabulary) are probability 0; a whole block of -inf must not poison the recurrence."""
    rng, x, target = make(3, 2000, "float32", "neg-inf")
    x[:, :700] = -np.inf  # the first two blocks of 512 are entirely -inf
    target = np.array([900, 1500, 1999])
    check(x, target, None, -100, 0.0, "mean", 1.0, block_size=512)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cross_entropy_backward_in_place(dtype):
    rng, x, target = make(7, 1000, dtype, ("inplace", dtype))
    grad_loss = rng.uniform(0.5, 2.0, 7)
    check(x, target, None, -100, 0.1, "none", grad_loss, dtype=dtype, in_place=True)


def test_cross_entropy_launcher_checks():
    x = np.zeros((2, 3), np.float32)
    args = (HostTensor(x), HostTensor(np.zeros(2, np.int64)), None, HostTensor(np.zeros(2, np.float32)),
            HostTensor(np.zeros(2, np.float32)), HostTensor(np.zeros(2, np.float32)), 2, 3)
    with pytest.raises(ValueError, match="reduction"):
        ce.cross_entropy_forward(*args, 3, reduction="avg")
    with pytest.raises(ValueError, match="row_stride"):
        ce.cross_entropy_forward(*args, 2, reduction="none")
    with pytest.raises(ValueError, match="out"):
        ce.cross_entropy_forward(*args, 3, reduction="sum")
    with pytest.raises(TypeError, match="target"):
        ce.cross_entropy_forward(args[0], HostTensor(np.zeros(2, bool)), *args[2:], 3, reduction="none")
    with pytest.raises(ValueError, match="target_row_stride"):  # float targets are probabilities: rows of n_cols
        ce.cross_entropy_forward(args[0], HostTensor(np.zeros(2, np.float32)), *args[2:], 3, reduction="none",
                                 target_row_stride=1)
    with pytest.raises(ValueError, match="errors must be an int64 buffer"):
        ce.cross_entropy_forward(*args, 3, reduction="none", errors=args[3], error_code=1)
    with pytest.raises(ValueError, match="grad_target needs probability targets"):
        ce.cross_entropy_backward(*args[:3], args[4], args[3], HostTensor(x), 2, 3, 3, reduction="none",
                                  grad_target=HostTensor(x))


def reference_probs(x, probs, weight, eps, reduction, grad_loss):
    """float64 (loss, d loss / d x, d loss / d probs) of PyTorch's cross_entropy with probability targets."""
    x, probs = x.astype(np.float64), probs.astype(np.float64)
    n_rows, n_cols = x.shape
    m = x.max(axis=1, keepdims=True)
    logp = x - (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))
    w = np.ones(n_cols) if weight is None else weight.astype(np.float64)
    q = (probs * (1 - eps) + eps / n_cols) * w
    loss_rows = -(q * logp).sum(axis=1)
    loss = {"none": loss_rows, "sum": loss_rows.sum(), "mean": loss_rows.sum() / n_rows}[reduction]
    g = (np.asarray(grad_loss, np.float64) * np.ones(n_rows)) / (n_rows if reduction == "mean" else 1.0)
    grad_x = (np.exp(logp) * q.sum(axis=1, keepdims=True) - q) * g[:, None]
    grad_probs = -logp * w * (1 - eps) * g[:, None]
    return loss, grad_x, grad_probs


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted,eps", [(False, 0.0), (True, 0.2)])
def test_cross_entropy_probability_targets(dtype, reduction, weighted, eps):
    """Soft targets (strided rows): loss, d/d logits and d/d probabilities, over several column blocks."""
    rng, x, _ = make(5, 300, dtype, ("probs", dtype, reduction, weighted))
    storage = rng.random((5, 310))
    probs = (storage / storage.sum(axis=1, keepdims=True)).astype(DTYPES[dtype])[:, 3:303]  # rows 310 apart
    weight = rng.uniform(0.2, 2.0, 300).astype(DTYPES[dtype]) if weighted else None
    grad_loss = rng.uniform(-2, 2, 5) if reduction == "none" else 0.7
    acc = DTYPES[ce.compute_dtype(dtype)]
    loss_rows, lse, tw, out, total = (np.full(n, -7.0, acc) for n in (5, 5, 5, 1, 1))
    h = lambda a: None if a is None else HostTensor(a)  # noqa: E731
    ce.cross_entropy_forward(h(x), h(probs), h(weight), h(loss_rows), h(lse), h(tw), 5, 300, 300,
                             label_smoothing=eps, reduction=reduction, out=h(out), total_weight=h(total),
                             target_row_stride=310, block_size=128)
    grad_x = np.full(x.shape, -7.0, x.dtype)
    grad_probs = np.full((5, 300), -7.0, x.dtype)
    g = np.asarray(grad_loss, acc).reshape(-1)
    ce.cross_entropy_backward(h(x), h(probs), h(weight), h(lse), h(g), h(grad_x), 5, 300, 300,
                              label_smoothing=eps, reduction=reduction, total_weight=h(total),
                              target_row_stride=310, grad_target=h(grad_probs), block_size=128)
    ref_loss, ref_grad_x, ref_grad_probs = reference_probs(x, probs, weight, eps, reduction, grad_loss)
    loss = loss_rows if reduction == "none" else out[0]
    tol = 1e-13 if dtype == "float64" else (1e-2 if dtype == "bfloat16" else 1e-5)
    np.testing.assert_allclose(np.asarray(loss, np.float64), ref_loss, rtol=tol, atol=tol)
    rtol, atol = GRAD_TOL[dtype]
    for got, ref in ((grad_x, ref_grad_x), (grad_probs, ref_grad_probs)):
        np.testing.assert_allclose(got.astype(np.float64), ref, rtol=rtol, atol=atol + rtol * np.abs(ref).max())


# Ahead-of-time compiles, every flag on: the widest shipped block of each dtype and target kind (every vocabulary
# wider than it) and, for bf16, 8192, the register-tightest (16 warps spilled there: see row_settings).
AOT_CONFIGS = [row_settings(ce.MAX_BLOCK_SIZE), row_settings(8192)]


def _signature(kernel, dt, probs):
    """Pointers: logits/weight/gradients in `dt`, saved rows in its compute dtype, target int64 or `dt`, the error
    record int64."""
    acc = "fp64" if dt == "fp64" else "fp32"
    signature = {}
    for name in kernel.arg_names:
        if name.isupper():
            signature[name] = "constexpr"
        elif name == "target_ptr":
            signature[name] = f"*{dt}" if probs else "*i64"
        elif name == "error_ptr":  # the error record (device_errors.py)
            signature[name] = "*i64"
        elif name in ("loss_ptr", "lse_ptr", "target_weight_ptr", "total_weight_ptr", "grad_loss_ptr"):
            signature[name] = f"*{acc}"
        elif name.endswith("_ptr"):
            signature[name] = f"*{dt}"
        else:
            signature[name] = "fp32" if name.startswith("label_smoothing") else "i32"
    return signature


def aot_jobs():
    """(label, job): every (arch, dtype, target kind, config) compile, every flag on."""
    jobs = []
    def widest(name, probs):
        return [row_settings(1 << 30, ce.max_block_size(name, probs))]
    cases = [("fp32", False, widest("float32", False)), ("bf16", False, AOT_CONFIGS),
             ("bf16", True, widest("bfloat16", True)), ("fp64", False, widest("float64", False)),
             ("fp64", True, widest("float64", True))]
    for arch in aot.ARCHITECTURES:
        for dt, probs, configs in cases:
            for block_size, num_warps in configs:
                flags = dict(HAS_WEIGHT=True, HAS_SMOOTHING=True, PROBS=probs, BLOCK_SIZE=block_size)
                for kernel, constexprs in ((ce._cross_entropy_forward_kernel, flags),
                                           (ce._cross_entropy_backward_kernel,
                                            dict(flags, MEAN=True, GRAD_TARGET=probs))):
                    jobs.append((f"{dt}{'-probs' if probs else ''} BLOCK_SIZE={block_size} num_warps={num_warps}",
                                 aot.job(kernel, _signature(kernel, dt, probs), constexprs, arch, num_warps)))
        jobs.append((f"bf16 BLOCK_SIZE={ce.REDUCE_BLOCK_SIZE} num_warps=4",
                     aot.job(ce.loss_reduce_kernel, _signature(ce.loss_reduce_kernel, "bf16", False),
                             dict(MEAN=True, BLOCK_SIZE=ce.REDUCE_BLOCK_SIZE), arch, 4)))
    return jobs


def test_cross_entropy_aot_no_spills(aot_results):
    """sm_80 and sm_90; fp32, bf16 and fp64 logits; class indices and probabilities: zero spilled bytes."""
    assert len(aot_results) == 2 * (2 * 6 + 1)
    aot.assert_no_spills(aot_results)
