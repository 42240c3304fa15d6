"""Cross-entropy kernels through Triton's interpreter (conftest sets TRITON_INTERPRET=1) against float64 numpy,
plus ahead-of-time compiles for sm_80/sm_90 at the shipped configs (no register spills)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import cross_entropy as ce
from triton_kernels.host_tensor import HostTensor
from triton_kernels.row_settings import row_settings

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
# Output rounding of the gradient (stored in the logits' dtype) dominates for fp16/bf16; the math is fp32.
GRAD_TOL = {"float32": (2e-5, 1e-6), "float16": (2e-3, 1e-6), "bfloat16": (1.6e-2, 1e-6)}


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


def run(x, target, weight, ignore_index, eps, reduction, grad_loss, block_size=None, in_place=False):
    """Forward then backward through the launchers on host buffers; returns (loss, grad)."""
    n_rows, n_cols = x.shape
    x = x.copy()
    loss_rows = np.full(n_rows, -7.0, np.float32)
    lse = np.full(n_rows, -7.0, np.float32)
    target_weight = np.full(n_rows, -7.0, np.float32)
    out = np.full(1, -7.0, np.float32)
    total_weight = np.full(1, -7.0, np.float32)
    w = None if weight is None else HostTensor(weight)
    ce.cross_entropy_forward(HostTensor(x), HostTensor(target), w, HostTensor(loss_rows), HostTensor(lse),
                             HostTensor(target_weight), n_rows, n_cols, x.strides[0] // x.itemsize,
                             ignore_index=ignore_index, label_smoothing=eps, reduction=reduction,
                             out=HostTensor(out), total_weight=HostTensor(total_weight), block_size=block_size)
    loss = loss_rows if reduction == "none" else out[0]
    g = np.asarray(grad_loss, np.float32).reshape(-1)
    grad = None if in_place else np.full(x.shape, -7.0, x.dtype)
    ce.cross_entropy_backward(HostTensor(x), HostTensor(target), w, HostTensor(lse), HostTensor(g),
                              None if in_place else HostTensor(grad), n_rows, n_cols, x.strides[0] // x.itemsize,
                              ignore_index=ignore_index, label_smoothing=eps, reduction=reduction,
                              total_weight=HostTensor(total_weight), in_place=in_place, block_size=block_size)
    return loss, (x if in_place else grad)


def make(n_rows, n_cols, dtype, seed, scale=3.0):
    rng = _rng(seed)
    x = (rng.standard_normal((n_rows, n_cols)) * scale).astype(DTYPES[dtype])
    target = rng.integers(0, n_cols, n_rows).astype(np.int64)
    return rng, x, target


def check(x, target, weight, ignore_index, eps, reduction, grad_loss, dtype="float32", grad_tol=None, **kwargs):
    loss, grad = run(x, target, weight, ignore_index, eps, reduction, grad_loss, **kwargs)
    ref_loss, ref_grad = reference(x, target, weight, ignore_index, eps, reduction, grad_loss)
    np.testing.assert_allclose(loss, ref_loss, rtol=2e-5, atol=1e-5 * (1 + np.abs(np.asarray(ref_loss)).max()))
    rtol, atol = grad_tol or GRAD_TOL[dtype]
    np.testing.assert_allclose(grad.astype(np.float64), ref_grad, rtol=rtol, atol=atol + rtol * np.abs(ref_grad).max())


@pytest.mark.parametrize("n_rows,n_cols", [(1, 1), (7, 5), (33, 1000), (1, 1000), (7, 1)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_shapes_and_reductions(n_rows, n_cols, reduction):
    rng, x, target = make(n_rows, n_cols, "float32", (n_rows, n_cols, reduction))
    grad_loss = rng.uniform(0.5, 2.0, n_rows) if reduction == "none" else 1.7  # non-uniform per-row upstream
    check(x, target, None, -100, 0.0, reduction, grad_loss)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
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
        ce.cross_entropy_forward(args[0], HostTensor(np.zeros(2, np.float32)), *args[2:], 3, reduction="none")


# Ahead-of-time compiles, every flag on: the largest shipped block (every vocabulary above 8192 columns) and 8192,
# the register-tightest (16 warps spilled there: see row_settings).
AOT_CONFIGS = [row_settings(ce.MAX_BLOCK_SIZE), row_settings(8192)]


def _forward_signature(dt):
    return dict(x_ptr=f"*{dt}", target_ptr="*i64", weight_ptr="*fp32", loss_ptr="*fp32", lse_ptr="*fp32",
                target_weight_ptr="*fp32", n_rows="i32", n_cols="i32", x_row_stride="i32", ignore_index="i32",
                label_smoothing="fp32", HAS_WEIGHT="constexpr", HAS_SMOOTHING="constexpr", BLOCK_SIZE="constexpr")


def _backward_signature(dt):
    return dict(x_ptr=f"*{dt}", target_ptr="*i64", weight_ptr="*fp32", lse_ptr="*fp32", grad_loss_ptr="*fp32",
                total_weight_ptr="*fp32", grad_x_ptr=f"*{dt}", n_rows="i32", n_cols="i32", x_row_stride="i32",
                grad_x_row_stride="i32", grad_loss_stride="i32", ignore_index="i32", label_smoothing="fp32",
                HAS_WEIGHT="constexpr", HAS_SMOOTHING="constexpr", MEAN="constexpr", BLOCK_SIZE="constexpr")


def _aot_compile_all():
    """Every (arch, dtype, config) compile, in one subprocess without TRITON_INTERPRET: under the interpreter,
    Triton's standard-library functions (tl.sum, ...) are interpreted objects the compiler cannot lower."""
    from triton_kernels.aot import compile_for
    results = []
    for arch in (80, 90):
        for dt in ("fp32", "bf16"):
            for block_size, num_warps in AOT_CONFIGS[:1] if dt == "fp32" else AOT_CONFIGS:
                flags = dict(HAS_WEIGHT=True, HAS_SMOOTHING=True, BLOCK_SIZE=block_size)
                for kernel, signature, constexprs in (
                        (ce._cross_entropy_forward_kernel, _forward_signature(dt), flags),
                        (ce._cross_entropy_backward_kernel, _backward_signature(dt), dict(flags, MEAN=True))):
                    compiled = compile_for(kernel, signature, constexprs, arch, num_warps)
                    results.append((arch, dt, block_size, num_warps, compiled.name, compiled.registers,
                                    compiled.spilled_bytes, compiled.shared_bytes))
        compiled = compile_for(ce._cross_entropy_reduce_kernel,
                               dict(loss_ptr="*fp32", target_weight_ptr="*fp32", out_ptr="*bf16",
                                    total_weight_ptr="*fp32", n_rows="i32", MEAN="constexpr", BLOCK_SIZE="constexpr"),
                               dict(MEAN=True, BLOCK_SIZE=ce.REDUCE_BLOCK_SIZE), arch, 4)
        results.append((arch, "bf16", ce.REDUCE_BLOCK_SIZE, 4, compiled.name, compiled.registers,
                        compiled.spilled_bytes, compiled.shared_bytes))
    return results


def test_cross_entropy_aot_no_spills():
    """sm_80 and sm_90, fp32 and bf16 logits: every compile reports zero spilled bytes."""
    import json
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TRITON_INTERPRET="0", PYTHONPATH=os.pathsep.join([root, os.path.dirname(__file__)]))
    code = "import json, test_cross_entropy as t; print(json.dumps(t._aot_compile_all()))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(rows) == 2 * (2 + 4 + 1)
    for arch, dt, block_size, num_warps, name, registers, spilled, shared in rows:
        print(f"sm_{arch} {dt} BLOCK_SIZE={block_size} num_warps={num_warps} {name}: {registers} registers, "
              f"{spilled} spilled bytes, {shared} shared bytes")
    assert [row for row in rows if row[6] != 0] == []
