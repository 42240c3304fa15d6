"""Row reductions and cumsum through Triton's interpreter (conftest sets TRITON_INTERPRET=1) against float64 /
int64 numpy, plus ahead-of-time compiles for sm_80/sm_90 of the shipped tiles (no register spills)."""
import math
import warnings

import ml_dtypes
import numpy as np
import pytest

from triton_kernels import aot
from triton_kernels import reduction as R
from triton_kernels.host_tensor import HostTensor
from triton_kernels.row_settings import MAX_TILE, tile_settings

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64,
          "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "bool": np.bool_}
FLOATS = ("float32", "float16", "bfloat16", "float64")
INTS = ("int8", "uint8", "int16", "int32", "int64", "bool")
# Output rounding dominates for fp16/bf16 (the math is fp32); fp32/fp64 sums are held relative to sum(|x|).
RTOL = {"float32": 2e-6, "float16": 1e-3, "bfloat16": 4e-3, "float64": 1e-13}
SHAPES = [(1, 1), (7, 13), (3, 1000), (0, 5), (4, 0)]
# A 3 x 1000 view with (2, 256) tiles walks four column blocks with two rows per program.
SMALL_TILE = (2, 256, 4)


def _rng(*key):
    return np.random.default_rng(abs(hash(key)) % (1 << 32))


def make(shape, dtype, key, low=-3.0, high=3.0):
    rng = _rng(shape, dtype, *key)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in INTS:
        info = np.iinfo(DTYPES[dtype])
        return rng.integers(max(info.min, -50), min(info.max, 50), shape).astype(DTYPES[dtype])
    return rng.uniform(low, high, shape).astype(DTYPES[dtype])


def out_dtype(op, dtype):
    if op in ("all", "any"):
        return np.uint8 if dtype == "uint8" else np.bool_
    if op == "count_nonzero" or op in ("sum", "prod") and dtype in INTS:
        return np.int64
    return DTYPES[dtype]


def reference(op, x, correction=1, p=2.0):
    """float64 (int64 for integer sums/products) reduction of each row of the 2-D array x."""
    wide = x.astype(np.int64) if x.dtype.kind in "biu" else x.astype(np.float64)
    with np.errstate(all="ignore"):
        if op == "sum":
            return wide.sum(1)
        if op == "prod":
            return wide.prod(1)
        if op == "mean":
            return wide.mean(1) if x.shape[1] else np.full(x.shape[0], np.nan)
        if op in ("max", "min"):
            return (np.max if op == "max" else np.min)(wide, 1)
        if op == "all":
            return (wide != 0).all(1)
        if op == "any":
            return (wide != 0).any(1)
        if op == "count_nonzero":
            return (wide != 0).sum(1)
        if op in ("var", "std"):
            deviation = wide - (wide.mean(1, keepdims=True) if x.shape[1] else 0)
            var = (deviation ** 2).sum(1) / max(0, x.shape[1] - correction)
            return np.sqrt(var) if op == "std" else var
        if op == "logsumexp":
            return np.logaddexp.reduce(wide, axis=1) if x.shape[1] else np.full(x.shape[0], -np.inf)
        if op == "norm":
            a = np.abs(wide)
            if p == 0:
                return (a != 0).sum(1).astype(np.float64)
            if math.isinf(p):
                return a.max(1) if p > 0 else a.min(1)
            return (a ** p).sum(1) ** (1 / p)
    raise ValueError(op)


def run(op, x, tile=None, with_index=False, **params):
    """reduce_rows over the 2-D numpy view `x` (any strides); returns (values, indices)."""
    n_rows, n_cols = x.shape
    out = np.full(n_rows, 7, out_dtype(op, str(x.dtype)))
    index = np.full(n_rows, -7, np.int64) if with_index else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the interpreter computes masked lanes too (log 0, ...)
        stride_xm, stride_xn = HostTensor(x).stride()
        R.reduce_rows(op, HostTensor(x), HostTensor(out), n_rows, n_cols, stride_xm, stride_xn,
                      index=None if index is None else HostTensor(index), tile=tile, **params)
    return out, index


def check(op, x, dtype, tile=None, **params):
    out, _ = run(op, x, tile=tile, **params)
    ref = reference(op, x, **params)
    if dtype in INTS or op in ("all", "any", "count_nonzero", "max", "min"):
        np.testing.assert_array_equal(out.astype(ref.dtype), ref)
        return
    rtol = RTOL[dtype]
    scale = reference("sum", np.abs(x.astype(np.float64))) / max(1, x.shape[1]) if x.size else 0
    # sums and means lose up to ~eps * sum|x|; var/std carry the mean's error squared: scale by mean |x|
    atol = rtol * (np.abs(ref) + (x.shape[1] if op == "sum" else 1) * scale + 1e-30)
    got = out.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf where both are the same infinity
        close = np.isnan(ref) | (got == ref) | (np.abs(got - ref) <= atol)
    same_nan = np.isnan(got) == np.isnan(ref)
    assert same_nan.all(), (op, got, ref)
    assert close.all(), (op, dtype, got, ref)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["sum", "mean", "var", "std", "logsumexp", "max", "min", "prod"])
def test_float_reductions(op, dtype):
    for shape in SHAPES:
        if op in ("max", "min") and shape[1] == 0 and shape[0]:
            continue
        low, high = (0.5, 1.5) if op == "prod" else (-3.0, 3.0)
        x = make(shape, dtype, (op, "float"), low, high)
        check(op, x, dtype)
        if shape == (3, 1000):
            check(op, x, dtype, tile=SMALL_TILE)


@pytest.mark.parametrize("dtype", INTS + ("float16", "float32"))
@pytest.mark.parametrize("op", ["sum", "prod", "max", "min", "all", "any", "count_nonzero"])
def test_integer_and_logical_reductions(op, dtype):
    for shape in SHAPES:
        if op in ("max", "min") and shape[1] == 0 and shape[0]:
            continue
        x = make(shape, dtype, (op, "int"))
        if dtype not in INTS:
            x = np.round(x).astype(x.dtype)  # zeros and exact sums for the logical ops
        if shape[0] > 1 and dtype != "bool":
            x[1] = 0  # an all-zero row: all() False, any() False, count 0
        check(op, x, dtype, tile=SMALL_TILE if shape == (3, 1000) else None)


def test_integer_sums_accumulate_in_int64():
    x = np.full((2, 300), 120, np.int8)
    out, _ = run("sum", x)
    assert out.dtype == np.int64 and np.all(out == 36000)
    x = np.full((1, 64), 3, np.int32)
    out, _ = run("prod", x)
    assert out[0] == np.prod(np.full(64, 3, np.int64))  # wraps mod 2**64, as PyTorch


@pytest.mark.parametrize("p", [2.0, 1.0, 0.0, math.inf, -math.inf, 3.0, 0.5, -1.5])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_norm(p, dtype):
    for shape in [(7, 13), (3, 1000), (2, 0)]:
        if shape[1] == 0 and (p < 0 or math.isinf(p)):
            continue
        x = make(shape, dtype, ("norm", p))
        x[0, 3:4] = 0
        check("norm", x, dtype, p=p)
        if shape == (3, 1000):
            check("norm", x, dtype, tile=SMALL_TILE, p=p)


@pytest.mark.parametrize("correction", [0, 1, 2, 0.5])
def test_var_correction_and_stability(correction):
    x = make((5, 900), "float32", ("var", correction), -1, 1) + np.float32(1000.0)  # mean far from 0: two-pass
    for op in ("var", "std"):
        out, _ = run(op, x, tile=SMALL_TILE, correction=correction)
        np.testing.assert_allclose(out, reference(op, x, correction=correction), rtol=2e-4)
    out, _ = run("var", x[:, :2], correction=2)
    assert np.all(np.isinf(out) | np.isnan(out))  # n - correction <= 0 divides by 0, as PyTorch


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64", "int32", "bool"])
@pytest.mark.parametrize("op", ["max", "min"])
def test_indices_first_occurrence(op, dtype):
    """max(dim)/argmax: the first index of the extreme; ties between blocks and lanes keep the earliest."""
    x = make((3, 1000), dtype, ("index", op))
    if dtype != "bool":
        x[:, [5, 300, 999]] = x.max() if op == "max" else x.min()
    for tile in (None, SMALL_TILE):
        values, index = run(op, x, tile=tile, with_index=True)
        np.testing.assert_array_equal(index, (np.argmax if op == "max" else np.argmin)(x, axis=1))
        np.testing.assert_array_equal(values, (np.max if op == "max" else np.min)(x, axis=1))
    # argmax alone: no values buffer
    index = np.zeros(3, np.int64)
    R.reduce_rows(op, HostTensor(x), None, 3, 1000, 1000, 1, index=HostTensor(index), tile=SMALL_TILE)
    np.testing.assert_array_equal(index, (np.argmax if op == "max" else np.argmin)(x, axis=1))


@pytest.mark.parametrize("op", ["max", "min"])
def test_nan_propagates_and_wins_the_index(op):
    x = make((4, 600), "float32", ("nan", op))
    x[0, 0] = np.nan  # the seed element itself
    x[1, [400, 500]] = np.nan  # first NaN in a late block
    x[2, 7] = np.inf if op == "max" else -np.inf
    x[2, 9] = np.nan  # NaN beats an infinity
    values, index = run(op, x, tile=SMALL_TILE, with_index=True)
    assert np.isnan(values[:3]).all() and not np.isnan(values[3])
    np.testing.assert_array_equal(index, [0, 400, 9, (np.argmax if op == "max" else np.argmin)(x[3])])
    out, _ = run("norm", x, p=math.inf if op == "max" else -math.inf, tile=SMALL_TILE)
    assert np.isnan(out[:3]).all()


def test_logsumexp_infinities():
    x = make((5, 700), "float32", "lse")
    x[0] = -np.inf  # a row of -inf: -inf
    x[1, 650] = np.inf  # +inf in a late block: +inf
    x[2, :600] = -np.inf  # the first blocks all -inf, then finite values: must not poison the sum
    x[3, 5] = np.nan
    x[4] += 200.0  # exp(x) overflows fp32 without the shift
    out, _ = run("logsumexp", x, tile=SMALL_TILE)
    assert out[0] == -np.inf and out[1] == np.inf and np.isnan(out[3])
    np.testing.assert_allclose(out[[2, 4]], reference("logsumexp", x[[2, 4]]), rtol=1e-6)


def test_strided_and_broadcast_views():
    """Column-strided (a transposed), sliced, and stride-0 (broadcast) rows."""
    base = make((40, 26), "float32", "views")
    for view in (base.T, base[::3, 1::2], np.broadcast_to(base[0], (5, 26)), np.broadcast_to(base[:, :1], (40, 9))):
        for op in ("sum", "var", "logsumexp", "max"):
            check(op, view, "float32")
        values, index = run("min", view, with_index=True)
        np.testing.assert_array_equal(index, np.argmin(view, axis=1))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64", "int16", "bool"])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum(dtype, reverse):
    for shape, tile in [((7, 13), None), ((3, 1000), SMALL_TILE), ((1, 1), None), ((0, 4), None), ((3, 0), None)]:
        x = make(shape, dtype, ("cumsum", reverse))
        out = np.full(shape, 7, np.int64 if dtype in INTS else DTYPES[dtype])
        R.cumsum_rows(HostTensor(x), HostTensor(out), *shape, *HostTensor(x).stride(), *HostTensor(out).stride(),
                      reverse=reverse, tile=tile)
        wide = x.astype(np.int64 if dtype in INTS else np.float64)
        ref = np.flip(np.cumsum(np.flip(wide, 1), 1), 1) if reverse else np.cumsum(wide, 1)
        if dtype in INTS:
            np.testing.assert_array_equal(out, ref)
        else:  # held relative to the running sum of |x| (cancellation), plus the output's rounding
            scale = np.flip(np.cumsum(np.flip(np.abs(wide), 1), 1), 1) if reverse else np.cumsum(np.abs(wide), 1)
            assert np.all(np.abs(out.astype(np.float64) - ref) <= RTOL[dtype] * (scale + np.abs(ref)))


def test_cumsum_strided_output_and_input():
    """Running sums down the columns of a matrix: column-strided input, written into a transposed output."""
    x = make((30, 8), "float32", "cumsum-strided")
    out = np.zeros((30, 8), np.float32)
    R.cumsum_rows(HostTensor(x.T), HostTensor(out.T), 8, 30, 1, 8, 1, 8, reverse=True)
    np.testing.assert_allclose(out, np.flip(np.cumsum(np.flip(x, 0), 0), 0), rtol=1e-5, atol=1e-5)


def test_two_level_rows():
    """Reducing dim 1 of a contiguous (A, B, C) array: rows (a, c) at a * B*C + c, columns of stride C, no copy."""
    x = make((4, 30, 6), "float32", "two-level")
    a, b, c = x.shape
    out = np.zeros(a * c, np.float32)
    index = np.zeros(a * c, np.int64)
    R.reduce_rows("max", HostTensor(x), HostTensor(out), a * c, b, b * c, c, n_inner=c, stride_xi=1,
                  index=HostTensor(index), tile=(4, 8, 4))
    np.testing.assert_array_equal(out.reshape(a, c), x.max(1))
    np.testing.assert_array_equal(index.reshape(a, c), x.argmax(1))
    running = np.zeros_like(x)
    R.cumsum_rows(HostTensor(x), HostTensor(running), a * c, b, b * c, c, b * c, c, n_inner=c, stride_xi=1,
                  stride_oi=1, tile=(4, 8, 4))
    np.testing.assert_allclose(running, np.cumsum(x.astype(np.float64), 1), rtol=1e-5, atol=1e-5)
    g = make((a, c), "float32", "two-level-g")
    dx = np.zeros_like(x)
    R.reduce_rows_backward("var", HostTensor(x), HostTensor(g), HostTensor(dx), a * c, b, b * c, c, b * c, c,
                           n_inner=c, stride_xi=1, stride_di=1, tile=(4, 8, 4))
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(dx, 2 * g[:, None, :] * (x64 - x64.mean(1, keepdims=True)) / (b - 1), rtol=1e-5,
                               atol=1e-6)


def _numerical_gradient(op, x64, g, **params):
    """d sum(g * op(x)) / dx by central differences on the float64 reference."""
    grad = np.zeros_like(x64)
    for j in range(x64.shape[1]):
        step = np.zeros_like(x64)
        step[:, j] = 1e-6
        grad[:, j] = (reference(op, x64 + step, **params) - reference(op, x64 - step, **params)) / 2e-6
    return grad * g[:, None]


@pytest.mark.parametrize("op, params", [("sum", {}), ("mean", {}), ("prod", {}), ("var", {"correction": 1}),
                                        ("std", {"correction": 0}), ("logsumexp", {}), ("norm", {"p": 2.0}),
                                        ("norm", {"p": 1.0}), ("norm", {"p": 3.0}), ("norm", {"p": 0.5}),
                                        ("norm", {"p": 0.0})])
@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
def test_backward_smooth_ops(op, params, dtype):
    """dx = g * d op / dx against central differences of the float64 reference, one and several blocks."""
    for shape, tile in [((5, 40), None), ((3, 300), (2, 64, 4))]:
        x = make(shape, dtype, ("backward", op, dtype), 0.2, 2.0) * np.where(_rng(shape).random(shape) < 0.5, -1, 1)
        x = x.astype(DTYPES[dtype])
        x64 = x.astype(np.float64)
        g = _rng(op, "g").standard_normal(shape[0])
        out = np.zeros(shape[0], np.float64)
        R.reduce_rows(op, HostTensor(x64), HostTensor(out), *shape, shape[1], 1, **params)
        dx = np.full(shape, 7, DTYPES[dtype])
        R.reduce_rows_backward(op, HostTensor(x), HostTensor(g.astype(DTYPES[dtype])), HostTensor(dx), *shape,
                               shape[1], 1, shape[1], 1, out=HostTensor(out.astype(DTYPES[dtype])), tile=tile,
                               **params)
        ref = _numerical_gradient(op, x64, g.astype(DTYPES[dtype]).astype(np.float64), **params)
        rtol = {"float64": 1e-6, "float32": 1e-4, "bfloat16": 3e-2}[dtype]
        np.testing.assert_allclose(dx.astype(np.float64), ref, rtol=rtol, atol=rtol * np.abs(ref).max())


def test_backward_ties_zeros_and_scatter():
    """max/min share the gradient among ties (among NaNs when the result is NaN); the inf norm also takes
    sign(x); prod is exact with one or two zeros; max(dim) sends it all to the saved index. g broadcasts."""
    x = np.array([[1.0, 3.0, 3.0, -3.0], [np.nan, 1.0, np.nan, 2.0], [0.0, 2.0, 3.0, 4.0], [0.0, 2.0, 0.0, 1.0]])
    g = np.array([2.0])
    dx = np.zeros_like(x)

    def backward(op, out=None, index=None, **params):
        R.reduce_rows_backward(op, HostTensor(x), HostTensor(g), HostTensor(dx), 4, 4, 4, 1, 4, 1, stride_g=0,
                               out=None if out is None else HostTensor(np.asarray(out, np.float64)),
                               index=None if index is None else HostTensor(np.asarray(index, np.int64)), **params)
        return dx.copy()

    np.testing.assert_array_equal(backward("max", out=[3, np.nan, 4, 2])[:2], [[0, 1, 1, 0], [1, 0, 1, 0]])
    np.testing.assert_array_equal(backward("norm", out=[3, np.nan, 4, 2], p=math.inf)[0], [0, 2 / 3, 2 / 3, -2 / 3])
    np.testing.assert_array_equal(backward("prod")[2:], [[48, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(backward("min", index=[0, 3, 1, 2]),
                                  [[2, 0, 0, 0], [0, 0, 0, 2], [0, 2, 0, 0], [0, 0, 2, 0]])


def test_launcher_checks():
    x = HostTensor(np.zeros((2, 3), np.float32))
    out = HostTensor(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="unknown op"):
        R.reduce_rows("median", x, out, 2, 3, 3, 1)
    with pytest.raises(TypeError, match="int32"):
        R.reduce_rows("mean", HostTensor(np.zeros((2, 3), np.int32)), out, 2, 3, 3, 1)
    with pytest.raises(ValueError, match="one element per row"):
        R.reduce_rows("sum", x, HostTensor(np.zeros(3, np.float32)), 2, 3, 3, 1)
    with pytest.raises(ValueError, match="no identity"):
        R.reduce_rows("max", x, out, 2, 0, 3, 1)
    with pytest.raises(ValueError, match="only 'max' and 'min'"):
        R.reduce_rows("sum", x, out, 2, 3, 3, 1, index=HostTensor(np.zeros(2, np.int64)))
    with pytest.raises(TypeError, match="int64"):
        R.reduce_rows("max", x, out, 2, 3, 3, 1, index=HostTensor(np.zeros(2, np.int32)))
    with pytest.raises(ValueError, match="strides"):
        R.cumsum_rows(x, x, 2, 3, 3, -1, 3, 1)
    with pytest.raises(ValueError, match="n_inner"):
        R.reduce_rows("sum", x, out, 2, 3, 3, 1, n_inner=3)
    with pytest.raises(ValueError, match="no gradient"):
        R.reduce_rows_backward("all", x, out, x, 2, 3, 3, 1, 3, 1)
    with pytest.raises(ValueError, match="needs the forward's `out`"):
        R.reduce_rows_backward("logsumexp", x, out, x, 2, 3, 3, 1, 3, 1)


def test_tile_settings_pack_short_rows(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")  # the GPU's settings
    assert tile_settings(10 ** 6, 7) == (512, 8, 8)
    assert tile_settings(3, 10 ** 6) == (1, MAX_TILE, 8)
    assert tile_settings(3, 10 ** 6, max_block_size=8192) == (1, 8192, 8)
    assert tile_settings(1, 1) == (1, 1, 4)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert tile_settings(3, 10 ** 6) == (1, 1 << 16, 32)


# ---- ahead-of-time compiles of the shipped tiles ---------------------------------------------------------------

# (kernel, op, input, output, tile): the register-heaviest paths (max with its index, in fp64 too), each family,
# at the widest shipped tile (one row of MAX_TILE columns) and the packed-rows tile, as the launchers pick them.
_NUMPY_NAMES = {"bf16": "bfloat16", "fp32": "float32", "fp64": "float64", "i32": "int32", "i64": "int64"}
_WIDE, _PACKED = (1, 1 << 20), (1 << 20, 16)
with aot.gpu_settings():  # a GPU's tiles, not the interpreter's
    _AOT_CASES = [(kind, op, dt, out_dt, R.default_tile(*shape, _NUMPY_NAMES[dt])) for kind, op, dt, out_dt, shape in [
        ("reduce", "max", "bf16", "bf16", _WIDE),
        ("reduce", "max", "fp64", "fp64", _PACKED),
        ("reduce", "logsumexp", "fp32", "fp32", _WIDE),
        ("reduce", "var", "bf16", "bf16", _PACKED),
        ("reduce", "norm", "fp32", "fp32", _WIDE),
        ("reduce", "prod", "i32", "i64", _WIDE),
        ("cumsum", "cumsum", "bf16", "bf16", _WIDE),
        ("backward", "prod", "bf16", "bf16", _WIDE),
        ("backward", "max", "fp32", "fp32", _PACKED),
        ("backward", "norm", "fp64", "fp64", _PACKED),
    ]]


def _job(kernel_kind, op, dt, out_dt, tile, arch):
    block_m, block_size, num_warps = tile
    acc = R.accumulator(_NUMPY_NAMES[dt])
    if kernel_kind == "cumsum":
        signature = dict(x_ptr=f"*{dt}", out_ptr=f"*{out_dt}", n_rows="i32", n_cols="i32", n_inner="i32",
                         stride_xm="i32", stride_xi="i32", stride_xn="constexpr", stride_om="i32", stride_oi="i32",
                         stride_on="constexpr", ACC_DTYPE="constexpr",
                         REVERSE="constexpr", BLOCK_M="constexpr", BLOCK_SIZE="constexpr")
        constexprs = dict(stride_xn=1, stride_on=1, ACC_DTYPE=acc, REVERSE=True, BLOCK_M=block_m,
                          BLOCK_SIZE=block_size)
        return aot.job(R._cumsum_kernel, signature, constexprs, arch, num_warps)
    code = R.OPS[op] if op != "norm" else R._NORM_P_CODE
    if kernel_kind == "backward":
        signature = dict(x_ptr=f"*{dt}", out_ptr=f"*{out_dt}", g_ptr=f"*{out_dt}", index_ptr="*i64",
                         dx_ptr=f"*{dt}", n_rows="i32", n_cols="i32", n_inner="i32", stride_xm="i32",
                         stride_xi="i32", stride_xn="constexpr", stride_g="i32", stride_dm="i32", stride_di="i32",
                         stride_dn="constexpr", param="fp32", OP="constexpr", SCATTER="constexpr",
                         ACC_DTYPE="constexpr", BLOCK_M="constexpr", BLOCK_SIZE="constexpr")
        constexprs = dict(stride_xn=1, stride_dn=1, OP=code, SCATTER=False, ACC_DTYPE=acc, BLOCK_M=block_m,
                          BLOCK_SIZE=block_size)
        return aot.job(R._row_reduce_backward_kernel, signature, constexprs, arch, num_warps)
    signature = dict(x_ptr=f"*{dt}", out_ptr=f"*{out_dt}", index_ptr="*i64", n_rows="i32", n_cols="i32",
                     n_inner="i32", stride_xm="i32", stride_xi="i32", stride_xn="constexpr", param="fp32", OP="constexpr", ACC_DTYPE="constexpr",
                     WRITE_VALUE="constexpr", WRITE_INDEX="constexpr", BLOCK_M="constexpr", BLOCK_SIZE="constexpr")
    constexprs = dict(stride_xn=1, OP=code, ACC_DTYPE=acc, WRITE_VALUE=True, WRITE_INDEX=op == "max",
                      BLOCK_M=block_m, BLOCK_SIZE=block_size)
    return aot.job(R._row_reduce_kernel, signature, constexprs, arch, num_warps)


def aot_jobs():
    return [(f"{kind} {op} {dt}->{out_dt} tile={list(tile)}", _job(kind, op, dt, out_dt, tile, arch))
            for arch in aot.ARCHITECTURES for kind, op, dt, out_dt, tile in _AOT_CASES]


def test_aot_no_spills(aot_results):
    """Every case compiles for sm_80 and sm_90 (in a child process with the interpreter off) without spills."""
    assert len(aot_results) == 2 * len(_AOT_CASES)
    aot.assert_no_spills(aot_results)
