"""Binary cross-entropy kernels (logits and probabilities) through Triton's interpreter (conftest sets
TRITON_INTERPRET=1) against float64 numpy, plus ahead-of-time compiles for sm_80/sm_90 (no register spills)."""
import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot, bce
from triton_kernels.host_tensor import HostTensor

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}
# outputs stored in the input's dtype for 'none'
TOL = {"float32": 2e-5, "float16": 2e-3, "bfloat16": 1.6e-2, "float64": 1e-13}


def _rng(key):
    return np.random.default_rng(abs(hash(key)) % (1 << 32))


def reference(x, y, weight, pos_weight, reduction, grad_loss, from_logits):
    """float64 (loss, d loss / d x) as PyTorch computes them; weight already broadcast to x's shape."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    w = np.ones_like(x) if weight is None else np.broadcast_to(weight.astype(np.float64), x.shape)
    pw = np.ones(x.shape[-1]) if pos_weight is None else pos_weight.astype(np.float64)
    if from_logits:
        softplus_neg = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)
        loss = ((1 - y) * x + (1 + (pw - 1) * y) * softplus_neg) * w
        grad = (1 / (1 + np.exp(-x)) * (1 + (pw - 1) * y) - pw * y) * w
        grad_y = ((pw - 1) * softplus_neg - x) * w
    else:
        with np.errstate(divide="ignore"):
            loss = -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100)) * w
            grad_y = (np.log1p(-x) - np.log(x)) * w
        grad = (x - y) / np.maximum(x * (1 - x), 1e-12) * w
    n = x.size
    g = np.asarray(grad_loss, np.float64) / (n if reduction == "mean" else 1)
    reduced = {"none": loss, "sum": loss.sum(), "mean": loss.sum() / n}[reduction]
    return reduced, grad * g, grad_y * g


def run(x, y, weight, pos_weight, reduction, grad_loss, from_logits, weight_strides=None, block_size=bce.BLOCK_SIZE,
        **errors):
    n_rows, n_cols = x.shape
    acc = DTYPES[bce.partials_dtype(str(x.dtype))]
    loss = np.full(x.shape, -7.0, x.dtype)
    partials = np.full(bce.n_partials(n_rows, n_cols, block_size), -7.0, acc)
    out = np.full(1, -7.0, acc)
    w = None if weight is None else HostTensor(weight)
    pw = None if pos_weight is None else HostTensor(pos_weight)
    row_stride, col_stride = weight_strides or (n_cols, 1)
    bce.bce_forward(HostTensor(x), HostTensor(y), w, pw, HostTensor(loss), HostTensor(partials), n_rows, n_cols,
                    from_logits=from_logits, reduction=reduction, weight_row_stride=row_stride,
                    weight_col_stride=col_stride, out=HostTensor(out), block_size=block_size, **errors)
    g = np.ascontiguousarray(np.asarray(grad_loss, acc).reshape(-1))
    grad = np.full(x.shape, -7.0, x.dtype)
    grad_y = np.full(x.shape, -7.0, x.dtype)
    bce.bce_backward(HostTensor(x), HostTensor(y), w, pw, HostTensor(g), HostTensor(grad), n_rows, n_cols,
                     from_logits=from_logits, reduction=reduction, weight_row_stride=row_stride,
                     weight_col_stride=col_stride, grad_y=HostTensor(grad_y), block_size=block_size)
    return (loss if reduction == "none" else out[0]), grad, grad_y


def check(x, y, weight, pos_weight, reduction, grad_loss, from_logits, dtype="float32", broadcast_weight=None,
          **kwargs):
    loss, grad, grad_y = run(x, y, weight, pos_weight, reduction, grad_loss, from_logits, **kwargs)
    ref_weight = weight if broadcast_weight is None else broadcast_weight
    ref_loss, ref_grad, ref_grad_y = reference(x, y, ref_weight, pos_weight, reduction, grad_loss, from_logits)
    tol = TOL[dtype] if reduction == "none" else 2e-5
    # (1 - y) x + softplus(-x) cancels: its fp32 error scales with |x|, not with the (possibly tiny) loss.
    scale = 1.0 + np.abs(x.astype(np.float64)).max() * (1 if reduction == "none" else x.size)
    np.testing.assert_allclose(np.asarray(loss, np.float64), ref_loss, rtol=tol, atol=0.1 * tol * scale)
    tol = TOL[dtype]
    np.testing.assert_allclose(grad.astype(np.float64), ref_grad, rtol=tol, atol=tol * 1e-2 * np.abs(ref_grad).max())
    finite = np.isfinite(ref_grad_y)  # d/dy of probabilities 0 and 1 is infinite
    np.testing.assert_array_equal(grad_y[~finite].astype(np.float64), ref_grad_y[~finite])
    atol = tol * (1 + np.abs(x.astype(np.float64)).max()) * np.abs(ref_grad_y[finite]).max(initial=0)
    np.testing.assert_allclose(grad_y[finite].astype(np.float64), ref_grad_y[finite], rtol=tol, atol=atol)


def make(n_rows, n_cols, dtype, key, from_logits=True):
    rng = _rng(key)
    if from_logits:
        x = rng.standard_normal((n_rows, n_cols)) * 4
    else:
        x = rng.uniform(0.01, 0.99, (n_rows, n_cols))
    y = rng.uniform(0, 1, (n_rows, n_cols))  # soft targets, as PyTorch allows
    return rng, x.astype(DTYPES[dtype]), y.astype(DTYPES[dtype])


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("n_rows,n_cols", [(1, 1), (7, 5), (33, 1000)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_shapes_and_reductions(from_logits, n_rows, n_cols, reduction):
    rng, x, y = make(n_rows, n_cols, "float32", (n_rows, n_cols, reduction, from_logits), from_logits)
    grad_loss = rng.uniform(-2, 2, x.shape) if reduction == "none" else 0.7  # non-uniform upstream for 'none'
    check(x, y, None, None, reduction, grad_loss, from_logits, block_size=1024)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_bce_with_logits_weight_and_pos_weight(dtype, reduction):
    rng, x, y = make(7, 13, dtype, (dtype, reduction))
    weight = rng.uniform(0.1, 2, (7, 13)).astype(DTYPES[dtype])
    pos_weight = rng.uniform(0.2, 5, 13).astype(DTYPES[dtype])
    grad_loss = rng.uniform(-2, 2, x.shape) if reduction == "none" else 1.3
    check(x, y, weight, pos_weight, reduction, grad_loss, True, dtype=dtype, block_size=64)


@pytest.mark.parametrize("from_logits", [True, False])
def test_bce_weight_broadcasts_over_rows_and_columns(from_logits):
    """weight of shape (C,) (row stride 0) and of shape (N, 1) (column stride 0)."""
    rng, x, y = make(7, 13, "float32", ("broadcast", from_logits), from_logits)
    per_col = rng.uniform(0.1, 2, 13).astype(np.float32)
    check(x, y, per_col, None, "sum", 1.0, from_logits, weight_strides=(0, 1), broadcast_weight=per_col, block_size=32)
    per_row = rng.uniform(0.1, 2, 7).astype(np.float32)
    check(x, y, per_row, None, "none", np.ones(x.shape), from_logits, weight_strides=(1, 0),
          broadcast_weight=per_row[:, None], block_size=32)


def test_bce_with_logits_extremes_are_finite():
    x = np.array([[-100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0]] * 2, np.float32)
    y = np.array([[0.0] * 7, [1.0] * 7], np.float32)
    pos_weight = np.full(7, 3.0, np.float32)
    for pw in (None, pos_weight):
        loss, grad, _ = run(x, y, None, pw, "none", np.ones(x.shape), True)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
        check(x, y, None, pw, "none", np.ones(x.shape), True)
    # log1p precision: x = 30, y = 1 gives loss ~ 9.4e-14, not 0
    loss, _, _ = run(x, y, None, None, "none", np.ones(x.shape), True)
    assert loss[1, 5] > 0


def test_bce_probabilities_exactly_zero_and_one_clamp():
    x = np.array([[0.0, 1.0, 0.0, 1.0, 0.5]], np.float32)
    y = np.array([[1.0, 0.0, 0.0, 1.0, 0.3]], np.float32)
    loss, grad, _ = run(x, y, None, None, "none", np.ones(x.shape), False)
    np.testing.assert_allclose(loss[0, :4], [100.0, 100.0, 0.0, 0.0])  # log clamped at -100
    assert np.all(np.isfinite(grad))
    check(x, y, None, None, "none", np.ones(x.shape), False)
    check(x, y, None, None, "mean", 2.0, False)


def test_bce_partial_sums_across_many_blocks():
    """33 x 1000 over blocks of 256: 129 partial sums, reduced by one program."""
    rng, x, y = make(33, 1000, "float32", "many-blocks")
    check(x, y, None, rng.uniform(0.5, 2, 1000).astype(np.float32), "mean", 1.0, True, block_size=256)


@pytest.mark.parametrize("operand", ["input", "target"])
def test_bce_probabilities_outside_zero_one_are_reported(operand):
    """The forward on probabilities records an input (first) or a target outside [0, 1], nan included, found in
    any block; in range (0 and 1 included) nothing is recorded, nor on logits, where any value is fine."""
    rng, x, y = make(9, 40, "float32", ("range", operand), from_logits=False)
    x[0, 0], y[0, 1] = 0.0, 1.0
    record = np.zeros(4, np.int64)
    run(x, y, None, None, "mean", 1.0, False, block_size=64, errors=HostTensor(record), error_code=4)
    assert record.tolist() == [0, 0, 0, 0]
    which = 0 if operand == "input" else 1
    for bad in (1.5, -1e-7, np.nan):
        bad_x, bad_y = x.copy(), y.copy()
        (bad_x if operand == "input" else bad_y)[7, 33] = bad
        if operand == "target":
            bad_x[8, 39] = -2.0 * (bad != bad)  # a bad input later in the same launch: the record keeps the first
        record[:] = 0
        run(bad_x, bad_y, None, None, "sum", 1.0, False, block_size=64, errors=HostTensor(record), error_code=4)
        assert record.tolist() == [4, 0, which, 0], bad
    run(x * 9, y, None, None, "mean", 1.0, True, errors=HostTensor(record := np.zeros(4, np.int64)), error_code=4)
    assert record.tolist() == [0, 0, 0, 0]


def test_bce_launcher_checks():
    x = HostTensor(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="reduction"):
        bce.bce_forward(x, x, None, None, x, None, 2, 3, reduction="avg")
    with pytest.raises(ValueError, match="partials"):
        bce.bce_forward(x, x, None, None, x, None, 2, 3, reduction="mean")
    with pytest.raises(ValueError, match="pos_weight"):
        bce.bce_backward(x, x, None, x, x, x, 2, 3, from_logits=False)


def test_bce_float64_probabilities_and_one_gradient_only():
    rng, x, y = make(7, 13, "float64", "fp64-probs", from_logits=False)
    check(x, y, rng.uniform(0.1, 2, (7, 13)), None, "mean", 0.9, False, dtype="float64", block_size=64)
    grad_y = np.full(x.shape, -7.0)
    bce.bce_backward(HostTensor(x), HostTensor(y), None, None, HostTensor(np.ones(1)), None, 7, 13,
                     from_logits=False, reduction="sum", grad_y=HostTensor(grad_y))
    np.testing.assert_allclose(grad_y, np.log1p(-x) - np.log(x), rtol=1e-13)


def aot_jobs():
    """(label, job): forward and backward (every flag on) and the partial-sum reduce at the shipped config,
    sm_80/sm_90, fp32/bf16/fp64."""
    jobs = []
    for arch in aot.ARCHITECTURES:
        for dt in ("fp32", "bf16", "fp64"):
            acc = "fp64" if dt == "fp64" else "fp32"
            common = dict(x_ptr=f"*{dt}", y_ptr=f"*{dt}", weight_ptr=f"*{dt}", pos_weight_ptr=f"*{dt}")
            tail = dict(n_rows="i32", n_cols="i32")
            strides = dict(weight_row_stride="i32", weight_col_stride="i32")
            flags = dict(FROM_LOGITS="constexpr", HAS_WEIGHT="constexpr", HAS_POS_WEIGHT="constexpr")
            values = dict(FROM_LOGITS=True, HAS_WEIGHT=True, HAS_POS_WEIGHT=True, BLOCK_SIZE=bce.BLOCK_SIZE)
            forward = dict(common, loss_ptr=f"*{dt}", partial_ptr=f"*{acc}", error_ptr="*i64", **tail, **strides,
                           error_code="i32", **flags, REDUCE="constexpr", BLOCK_SIZE="constexpr")
            fwd = aot.job(bce._bce_forward_kernel, forward, dict(values, REDUCE=True), arch, bce.NUM_WARPS)
            # on probabilities: the [0, 1] check of inputs and targets (no pos_weight in that form)
            fwd_probs = aot.job(bce._bce_forward_kernel, forward,
                                dict(values, FROM_LOGITS=False, HAS_POS_WEIGHT=False, REDUCE=True), arch,
                                bce.NUM_WARPS)
            bwd = aot.job(bce._bce_backward_kernel,
                          dict(common, grad_loss_ptr=f"*{dt}", grad_x_ptr=f"*{dt}", grad_y_ptr=f"*{dt}", **tail,
                               divisor="i32", **strides, grad_loss_stride="i32", **flags, GRAD_X="constexpr",
                               GRAD_Y="constexpr", BLOCK_SIZE="constexpr"),
                          dict(values, GRAD_X=True, GRAD_Y=True), arch, bce.NUM_WARPS)
            bwd_probs = aot.job(bce._bce_backward_kernel, bwd["signature"],
                                dict(values, FROM_LOGITS=False, HAS_POS_WEIGHT=False, GRAD_X=True, GRAD_Y=True), arch,
                                bce.NUM_WARPS)
            label = f"{dt} BLOCK_SIZE={bce.BLOCK_SIZE} num_warps={bce.NUM_WARPS}"
            jobs += [(label, fwd), (label + " probabilities", fwd_probs), (label, bwd),
                     (label + " probabilities", bwd_probs)]
        jobs.append((f"bf16 BLOCK_SIZE={bce.REDUCE_BLOCK_SIZE} num_warps=4",
                     aot.job(bce._sum_partials_kernel,
                             dict(partial_ptr="*fp32", out_ptr="*bf16", n_partials="i32", divisor="i32",
                                  BLOCK_SIZE="constexpr"),
                             dict(BLOCK_SIZE=bce.REDUCE_BLOCK_SIZE), arch, 4)))
    return jobs


def test_bce_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * (12 + 1)
    aot.assert_no_spills(aot_results)
