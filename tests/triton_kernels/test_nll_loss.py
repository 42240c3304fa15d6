"""NLL-loss kernels through Triton's interpreter (conftest sets TRITON_INTERPRET=1) against float64 numpy,
plus ahead-of-time compiles for sm_80/sm_90 (no register spills)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import nll_loss as nll
from triton_kernels.host_tensor import HostTensor

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
TOL = {"float32": 1e-6, "float16": 1e-3, "bfloat16": 8e-3, "float64": 1e-14}  # relative: one rounding to dtype


def reference(x, target, weight, ignore_index, reduction, grad_loss):
    """float64 (loss, d loss / d x) for x (N, C, D), target (N, D)."""
    x = x.astype(np.float64)
    n, n_classes, n_inner = x.shape
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    w = (np.ones(n_classes) if weight is None else weight.astype(np.float64))[t] * valid
    picked = np.take_along_axis(x, t[:, None, :], axis=1)[:, 0, :]
    loss = -w * picked
    total = w.sum()
    g = np.broadcast_to(np.asarray(grad_loss, np.float64), (n, n_inner))
    if reduction == "mean":
        g = g / total
    grad = np.zeros_like(x)
    rows, cols = np.nonzero(valid)
    grad[rows, t[rows, cols], cols] = -(w * g)[rows, cols]
    with np.errstate(invalid="ignore"):
        reduced = {"none": loss, "sum": loss.sum(), "mean": loss.sum() / total}[reduction]
    return reduced, grad


def run(x, target, weight, ignore_index, reduction, grad_loss, grad_x=None, **errors):
    n, n_classes, n_inner = x.shape
    acc = DTYPES[nll.partials_dtype(str(x.dtype))]
    loss = np.full((n, n_inner), -7.0, x.dtype)
    partials = np.full(2 * nll.n_partials(n * n_inner), -7.0, acc)
    out = np.full(1, -7.0, x.dtype)
    total_weight = np.full(1, -7.0, acc)
    w = None if weight is None else HostTensor(weight)
    nll.nll_loss_forward(HostTensor(x), HostTensor(target), w, ignore_index=ignore_index, reduction=reduction,
                         loss=HostTensor(loss) if reduction == "none" else None, partials=HostTensor(partials),
                         out=HostTensor(out), total_weight=HostTensor(total_weight), **errors)
    g = np.asarray(grad_loss).astype(x.dtype).reshape((n, n_inner) if reduction == "none" else (1,))
    grad = np.full(x.shape, -7.0, x.dtype) if grad_x is None else grad_x
    nll.nll_loss_backward(HostTensor(target), w, HostTensor(g), HostTensor(grad), ignore_index=ignore_index,
                          reduction=reduction, total_weight=HostTensor(total_weight), **errors)
    return (loss if reduction == "none" else out[0]), grad


def check(x, target, weight, ignore_index, reduction, grad_loss, dtype, **kwargs):
    loss, grad = run(x, target, weight, ignore_index, reduction, grad_loss, **kwargs)
    # the kernel reads the upstream gradient in x's dtype (run() casts it): the reference starts from the same values
    grad_loss = np.asarray(grad_loss).astype(x.dtype).astype(np.float64)
    ref_loss, ref_grad = reference(x, target, weight, ignore_index, reduction, grad_loss)
    tol = TOL[dtype]
    np.testing.assert_allclose(np.asarray(loss, np.float64), ref_loss, rtol=tol, atol=tol * 1e-3)
    np.testing.assert_allclose(grad.astype(np.float64), ref_grad, rtol=tol, atol=tol * 1e-3)


def make(rng, n, n_classes, n_inner, dtype):
    x = np.log(rng.dirichlet(np.ones(n_classes), size=(n, n_inner))).transpose(0, 2, 1).astype(DTYPES[dtype])
    target = rng.integers(0, n_classes, (n, n_inner))
    return x, target


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_dtypes_reductions_weights(rng, dtype, reduction, weighted):
    x, target = make(rng, 7, 13, 1, dtype)  # (N, C) as (N, C, 1)
    target[2] = -100
    weight = rng.uniform(0.2, 2.0, 13).astype(DTYPES[dtype]) if weighted else None
    grad_loss = rng.uniform(-2, 2, (7, 1)) if reduction == "none" else 1.7
    check(x, target, weight, -100, reduction, grad_loss, dtype)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 5, 1), (3, 4, 6), (2, 3, 5)])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_nll_loss_spatial_shapes_and_custom_ignore(rng, shape, reduction):
    x, target = make(rng, *shape, "float64")
    target.reshape(-1)[::3] = 1  # ignore_index 1: also a real class
    if (target == 1).all():
        target.reshape(-1)[0] = 0
    grad_loss = rng.uniform(-2, 2, target.shape) if reduction == "none" else 0.3
    check(x, target, rng.uniform(0.5, 1.5, shape[1]), 1, reduction, grad_loss, "float64")


def test_nll_loss_non_contiguous_views_and_int32_target(rng):
    """x a class-last layout read through strides (N, C, D) = transposed view; target int32 and strided."""
    base = np.log(rng.dirichlet(np.ones(9), size=(4, 5))).astype(np.float32)  # (N, D, C) in memory
    x = base.transpose(0, 2, 1)                                                # (N, C, D) view
    target = rng.integers(0, 9, (5, 4)).astype(np.int32).T                     # (N, D) view
    grad_x = np.full((4, 5, 9), -7.0, np.float32).transpose(0, 2, 1)           # a strided gradient buffer
    check(x, target, None, -100, "none", rng.uniform(-1, 1, (4, 5)), "float32", grad_x=grad_x)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_nll_loss_out_of_range_targets_read_nothing_and_are_reported(rng, reduction):
    """Targets outside [0, C) other than ignore_index count as ignored (nothing is read with them) and the first
    is recorded, by the forward and by the backward alone; ignored predictions are not errors."""
    x, target = make(rng, 6, 5, 1, "float32")
    target[0], target[1], target[4] = -100, 10**9, -3
    grad_loss = np.ones((6, 1)) if reduction == "none" else 1.0
    for launchers in ("both", "backward"):
        record = np.zeros(4, np.int64)
        loss, grad = run(x, target, None, -100, reduction, grad_loss, errors=HostTensor(record), error_code=9)
        if launchers == "backward":
            record[:] = 0
            nll.nll_loss_backward(HostTensor(target), None, HostTensor(np.ones(1, np.float32)), HostTensor(grad),
                                  reduction="sum", errors=HostTensor(record), error_code=9)
        assert record.tolist() == [9, 10**9, 0, 0]
        assert np.all(grad[[0, 1, 4]] == 0)
    ignored = np.where((target < 0) | (target >= 5), -100, target)
    ref_loss, _ = reference(x, ignored, None, -100, reduction, np.asarray(grad_loss, np.float64))
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_all_ignored_and_empty(rng, reduction):
    x, target = make(rng, 5, 4, 1, "float32")
    target[:] = -100
    loss, grad = run(x, target, None, -100, reduction, np.ones((5, 1)) if reduction == "none" else 1.0)
    assert np.isnan(loss) if reduction == "mean" else np.all(np.asarray(loss) == 0)
    assert np.all(grad == 0)
    x, target = make(rng, 0, 4, 1, "float32")
    loss, grad = run(x, target, None, -100, reduction, np.ones((0, 1)) if reduction == "none" else 1.0)
    assert np.isnan(loss) if reduction == "mean" else np.asarray(loss).sum() == 0


def test_nll_loss_many_blocks(rng):
    """More predictions than one interpreter block: several partial sums, several gradient tiles."""
    x, target = make(rng, 3, 2, nll.INTERPRETER_BLOCK // 2 + 5, "float32")
    check(x, target, None, -100, "mean", 1.0, "float32")


def test_nll_loss_launcher_checks():
    x = HostTensor(np.zeros((2, 3, 1), np.float32))
    t = HostTensor(np.zeros((2, 1), np.int64))
    with pytest.raises(ValueError, match="reduction"):
        nll.nll_loss_forward(x, t, None, reduction="avg")
    with pytest.raises(ValueError, match="target has shape"):
        nll.nll_loss_forward(x, HostTensor(np.zeros((3, 1), np.int64)), None, reduction="sum")
    with pytest.raises(TypeError, match="class indices"):
        nll.nll_loss_forward(x, HostTensor(np.zeros((2, 1), np.float32)), None, reduction="sum")
    with pytest.raises(ValueError, match="weight must be contiguous of shape"):
        nll.nll_loss_forward(x, t, HostTensor(np.zeros(4, np.float32)), reduction="sum")
    with pytest.raises(ValueError, match="needs `partials`"):
        nll.nll_loss_forward(x, t, None, reduction="mean")
    with pytest.raises(ValueError, match="total_weight"):
        nll.nll_loss_backward(t, None, HostTensor(np.ones(1, np.float32)), x, reduction="mean")
    with pytest.raises(ValueError, match="errors must be an int64 buffer"):
        nll.nll_loss_backward(t, None, HostTensor(np.ones(1, np.float32)), x, reduction="sum", errors=t,
                              error_code=1)


def aot_jobs():
    """(label, job): forward (reducing, weighted) and backward at the shipped blocks, fp32/bf16/fp64, sm_80/sm_90."""
    jobs = []
    for arch in aot.ARCHITECTURES:
        for dt in ("fp32", "bf16", "fp64"):
            acc = "fp64" if dt == "fp64" else "fp32"
            strides = {f"stride_{s}": "i32" for s in ("xn", "xc", "xd", "tn", "td", "ln", "ld")}
            fwd = aot.job(nll._nll_loss_forward_kernel,
                          dict(x_ptr=f"*{dt}", target_ptr="*i64", weight_ptr=f"*{dt}", loss_ptr=f"*{dt}",
                               partial_ptr=f"*{acc}", error_ptr="*i64", n_preds="i32", n_classes="i32",
                               n_inner="i32", **strides, ignore_index="i32", error_code="i32", HAS_WEIGHT="constexpr", REDUCE="constexpr",
                               BLOCK_SIZE="constexpr"),
                          dict(HAS_WEIGHT=True, REDUCE=True, BLOCK_SIZE=nll.BLOCK_SIZE), arch, 4)
            strides = {f"stride_{s}": "i32" for s in ("tn", "td", "gn", "gd", "dxn", "dxc", "dxd")}
            bwd = aot.job(nll._nll_loss_backward_kernel,
                          dict(target_ptr="*i64", weight_ptr=f"*{dt}", grad_loss_ptr=f"*{dt}",
                               total_weight_ptr=f"*{acc}", grad_x_ptr=f"*{dt}", error_ptr="*i64", n_preds="i32",
                               n_classes="i32", n_inner="i32", **strides, ignore_index="i32", error_code="i32",
                               HAS_WEIGHT="constexpr",
                               MEAN="constexpr", BLOCK_P="constexpr", BLOCK_C="constexpr"),
                          dict(HAS_WEIGHT=True, MEAN=True, BLOCK_P=nll.BACKWARD_BLOCK_P,
                               BLOCK_C=nll.BACKWARD_BLOCK_C), arch, 4)
            jobs += [(dt, fwd), (dt, bwd)]
    return jobs


def test_nll_loss_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * 3 * 2
    aot.assert_no_spills(aot_results)
