"""Matrix products: matmul/@ in every shape PyTorch accepts, mm, bmm, mv, dot, outer, the fused linear;
values and gradients against float64 numpy and torch, and PyTorch's exact errors."""
import numpy as np
import pytest

import framework as fw
from framework.ops.linalg import linear
from helpers import (DEVICES, FLOAT_NAMES, case, check_op, gelu_reference, gradcheck, make_tensor, random_array,
                     raises_like_torch, requires_torch, torch)

# (shape of a, shape of b): every rank combination matmul accepts, with broadcasting and odd sizes
MATMUL_SHAPES = [
    ((5,), (5,)),            # dot
    ((3, 4), (4, 7)),        # mm
    ((4,), (4, 3)),          # vector @ matrix
    ((3, 4), (4,)),          # matrix @ vector
    ((2, 3, 4), (2, 4, 5)),  # bmm
    ((2, 3, 4), (4, 5)),     # batch @ matrix
    ((3, 4), (2, 4, 5)),     # matrix @ batch
    ((4,), (2, 4, 5)),       # vector @ batch
    ((2, 3, 4), (4,)),       # batch @ vector
    ((2, 1, 3, 4), (5, 4, 2)),  # broadcast batch dims
    ((1, 3, 4), (6, 4, 1)),
    ((1, 7), (7, 1)),
    ((0, 3), (3, 4)),        # size-0 rows
    ((2, 0), (0, 3)),        # size-0 inner dim: zeros
    ((3, 4), (4, 0)),
]


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, dtype, rng):
    a = random_array(rng, shapes[0], "float64")
    b = random_array(rng, shapes[1], "float64")
    # low precision accumulates in float32 and rounds once: a few ulps of the result
    tolerance = {"rtol": 2e-2, "atol": 2e-2} if dtype in ("float16", "bfloat16") else {}
    check_op(lambda x, y: x @ y, np.matmul, lambda x, y: x @ y, a, b, dtype=dtype, rng=rng,
             grad_rtol=tolerance.get("rtol"), grad_atol=tolerance.get("atol"), **tolerance)


@pytest.mark.parametrize("shapes", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]], ids=str)
def test_matmul_noncontiguous_and_function_forms(shapes, rng):
    a = random_array(rng, shapes[0], "float64")
    b = random_array(rng, shapes[1], "float64")
    check_op(fw.matmul, np.matmul, torch.matmul if torch else None, a, b, dtype="float32", noncontiguous=True, rng=rng)
    check_op(lambda x, y: x.matmul(y), np.matmul, None, a, b, dtype="float64", rng=rng)


def test_matmul_of_transposed_views(rng):
    a = random_array(rng, (5, 3), "float64")
    b = random_array(rng, (4, 5), "float64")
    check_op(lambda x, y: x.T @ y.T, lambda x, y: x.T @ y.T, lambda x, y: x.T @ y.T, a, b, dtype="float32", rng=rng)
    check_op(lambda x: x.T @ x, lambda x: x.T @ x, lambda x: x.T @ x, a, dtype="float64", rng=rng)


@pytest.mark.parametrize("name", ["int64", "int32"])
def test_integer_matmul(name, rng):
    a = random_array(rng, (3, 4), name, low=-5, high=5)
    b = random_array(rng, (4, 2), name, low=-5, high=5)
    out = check_op(lambda x, y: x @ y, np.matmul, lambda x, y: x @ y, a, b, grad=False, rng=rng)
    assert out.dtype is getattr(fw, name)


def test_mm_bmm_mv_dot_outer_inner(rng):
    m = random_array(rng, (3, 4), "float64")
    n = random_array(rng, (4, 2), "float64")
    v = random_array(rng, (4,), "float64")
    w = random_array(rng, (3,), "float64")
    b1 = random_array(rng, (2, 3, 4), "float64")
    b2 = random_array(rng, (2, 4, 5), "float64")
    ref_torch = (lambda name: getattr(torch, name)) if torch is not None else (lambda name: None)
    with case(op="mm"):
        check_op(fw.mm, np.matmul, ref_torch("mm"), m, n, rng=rng)
    with case(op="bmm"):
        check_op(fw.bmm, np.matmul, ref_torch("bmm"), b1, b2, rng=rng)
    with case(op="mv"):
        check_op(fw.mv, np.matmul, ref_torch("mv"), m, v, rng=rng)
    with case(op="dot"):
        check_op(fw.dot, np.dot, ref_torch("dot"), v, v * 2, rng=rng)
    with case(op="inner"):
        check_op(fw.inner, np.inner, ref_torch("inner"), v, v + 1, rng=rng)
    with case(op="outer"):
        check_op(fw.outer, np.outer, ref_torch("outer"), v, w, rng=rng)
    with case(op="methods"):
        check_op(lambda x, y: x.mm(y), np.matmul, None, m, n, rng=rng)
        check_op(lambda x, y: x.dot(y), np.dot, None, v, v, rng=rng)


def test_matmul_with_a_tensor_used_twice(rng):
    a = random_array(rng, (4, 4), "float64")
    check_op(lambda x: x @ x @ x, lambda x: x @ x @ x, lambda x: x @ x @ x, a, rng=rng)


# ---- gradcheck -------------------------------------------------------------------------

@pytest.mark.parametrize("shapes", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]], ids=str)
def test_gradcheck_matmul(shapes, rng):
    a = random_array(rng, tuple(min(d, 3) for d in shapes[0]), "float64")
    b_shape = list(min(d, 3) for d in shapes[1])
    # keep the inner dims equal after shrinking
    inner = a.shape[-1]
    if len(b_shape) == 1:
        b_shape[0] = inner
    else:
        b_shape[-2] = inner
    b = random_array(rng, tuple(b_shape), "float64")
    gradcheck(fw.matmul, a, b)


def test_gradcheck_matmul_through_views_and_broadcast(rng):
    gradcheck(lambda x, y: (x.T @ y.unsqueeze(0).expand(2, 3, 2)).tanh(), random_array(rng, (3, 3), "float64"),
              random_array(rng, (3, 2), "float64"))
    gradcheck(lambda x: fw.outer(x, x * 2), random_array(rng, (3,), "float64"))


# ---- the fused linear --------------------------------------------------------------------

_K = np.sqrt(2 / np.pi)
# activation: (float64 reference, complex-step differentiable; torch function; node PyTorch shows)
LINEAR_ACTIVATIONS = {
    None: (lambda y: y, lambda y: y, None),
    "relu": (lambda y: np.where(np.real(y) > 0, y, 0), lambda y: torch.relu(y), "ReluBackward0"),
    "gelu": (gelu_reference, lambda y: torch.nn.functional.gelu(y), "GeluBackward0"),
    "gelu_tanh": (lambda y: 0.5 * y * (1 + np.tanh(_K * (y + 0.044715 * y ** 3))),
                  lambda y: torch.nn.functional.gelu(y, approximate="tanh"), "GeluBackward0"),
    "silu": (lambda y: y / (1 + np.exp(-y)), lambda y: torch.nn.functional.silu(y), "SiluBackward0"),
}


def _check_linear(x, w, b, activation, dtype, rng):
    act, torch_act, _ = LINEAR_ACTIVATIONS[activation]

    def reference(x_, w_, *b_):
        return act(x_ @ w_.T + (b_[0] if b_ else 0))

    def torch_linear(x_, w_, *b_):
        return torch_act(torch.nn.functional.linear(x_, w_, *b_))

    args = (x, w) if b is None else (x, w, b)
    return check_op(lambda x_, w_, *b_: linear(x_, w_, *b_, activation=activation), reference, torch_linear,
                    *args, dtype=dtype, rng=rng)


@pytest.mark.parametrize("activation", list(LINEAR_ACTIVATIONS))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(4, 5), (5,), (2, 3, 5)], ids=str)
def test_linear(x_shape, bias, activation, rng):
    x = random_array(rng, x_shape, "float64")
    w = random_array(rng, (3, 5), "float64")
    b = random_array(rng, (3,), "float64") if bias else None
    out = _check_linear(x, w, b, activation, "float32", rng)
    if len(x_shape) == 2:  # the node PyTorch shows for act(linear(x)) and linear(x) on a batch of rows
        node = LINEAR_ACTIVATIONS[activation][2] or ("AddmmBackward0" if bias else "MmBackward0")
        assert out.grad_fn.name() == node


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
@pytest.mark.parametrize("activation", list(LINEAR_ACTIVATIONS))
def test_linear_activation_every_dtype(activation, dtype, rng):
    x = random_array(rng, (2, 7, 13), "float64")  # odd sizes: partial tiles on cuda
    w = random_array(rng, (9, 13), "float64")
    _check_linear(x, w, random_array(rng, (9,), "float64"), activation, dtype, rng)


@pytest.mark.parametrize("activation", list(LINEAR_ACTIVATIONS))
@pytest.mark.parametrize("sizes", [(0, 5, 3), (2, 0, 3), (2, 4, 0)], ids=["no-rows", "no-features", "no-outputs"])
def test_linear_with_a_zero_size(sizes, activation, rng):
    """Empty batches, K = 0 (the output is act(bias)) and N = 0, forward and backward."""
    m, k, n = sizes
    _check_linear(random_array(rng, (m, k), "float64"), random_array(rng, (n, k), "float64"),
                  random_array(rng, (n,), "float64"), activation, "float32", rng)


def test_linear_unknown_activation_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown activation 'tanh'; expected None or one of \['gelu'"):
        linear(fw.ones(2, 3), fw.ones(4, 3), activation="tanh")


def test_gradcheck_linear(rng):
    x = random_array(rng, (4, 3), "float64")
    w = random_array(rng, (2, 3), "float64")
    b = random_array(rng, (2,), "float64")
    gradcheck(lambda x_, w_, b_: linear(x_, w_, b_), x, w, b)
    for activation in ("gelu", "gelu_tanh", "silu"):
        gradcheck(lambda x_, w_, b_: linear(x_, w_, b_, activation=activation), x, w, b)
    y = x @ w.T + b
    x[np.abs(y).min(axis=1) < 0.05] += 0.1  # keep pre-activations away from relu's kink
    gradcheck(lambda x_, w_, b_: linear(x_, w_, b_, activation="relu"), x, w, b)


def test_linear_shape_error_is_pytorchs():
    x, w = fw.ones(1, 50), fw.ones(20, 30)
    with pytest.raises(RuntimeError) as info:
        linear(x, w)
    assert str(info.value) == "mat1 and mat2 shapes cannot be multiplied (1x50 and 30x20)"
    with pytest.raises(RuntimeError, match=r"\(8x50 and 30x20\)"):
        linear(fw.ones(4, 2, 50), w)


# ---- errors ---------------------------------------------------------------------------------

MATMUL_ERRORS = {
    "mm": ((1, 50), (30, 20)),
    "mm-2x3": ((2, 3), (2, 3)),
    "vec-mat": ((3,), (2, 3)),
    "mat-vec": ((2, 3), (2,)),
    "dot": ((2,), (3,)),
    "batch-broadcast": ((4, 2, 3), (5, 3, 2)),
    "bmm-inner": ((4, 2, 3), (4, 2, 2)),
    "mat-batch": ((2, 3), (4, 2, 2)),
    "vec-batch": ((3,), (4, 2, 2)),
    "batch-vec": ((4, 2, 3), (2,)),
}


@pytest.mark.parametrize("name", MATMUL_ERRORS)
def test_matmul_shape_errors(name):
    shape_a, shape_b = MATMUL_ERRORS[name]
    message = raises_like_torch(lambda: fw.ones(*shape_a) @ fw.ones(*shape_b),
                                lambda: torch.ones(*shape_a) @ torch.ones(*shape_b))
    if name == "mm":
        assert message == "mat1 and mat2 shapes cannot be multiplied (1x50 and 30x20)"
    if torch is not None:
        with pytest.raises(RuntimeError) as info:
            torch.ones(*shape_a) @ torch.ones(*shape_b)
        assert message == str(info.value)


@pytest.mark.parametrize("call", {
    "0d": lambda m: m.tensor(2.0) @ m.ones(2),
    "dtype": lambda m: m.ones(2, 3) @ m.ones(3, 2, dtype=m.float64),
    "int-float": lambda m: m.ones(2, 3) @ m.ones(3, 2, dtype=m.int64),
    "dot-dtype": lambda m: m.dot(m.ones(3), m.ones(3, dtype=m.float64)),
    "mm-1d": lambda m: m.mm(m.ones(3), m.ones(3, 2)),
    "bmm-2d": lambda m: m.bmm(m.ones(3, 2), m.ones(3, 2)),
    "bmm-shapes": lambda m: m.bmm(m.ones(2, 2, 3), m.ones(2, 2, 3)),
    "mv": lambda m: m.mv(m.ones(3, 2), m.ones(3)),
    "dot-2d": lambda m: m.dot(m.ones(3, 2), m.ones(3)),
    "vdot-2d": lambda m: m.vdot(m.ones(3, 2), m.ones(3)),
    "vdot-dtype": lambda m: m.vdot(m.ones(3), m.ones(3, dtype=m.float64)),
    "vdot-sizes": lambda m: m.vdot(m.ones(3), m.ones(2)),
    "outer-2d": lambda m: m.outer(m.ones(3, 2), m.ones(3)),
    # no bool matrix products: each path names its kernel
    **{f"bool-{path}": (lambda f: lambda m: f(m, m.ones(3, 3, dtype=m.bool), m.ones(3, dtype=m.bool)))(f)
       for path, f in {"matmul-2d": lambda m, a, v: a @ a, "mm": lambda m, a, v: m.mm(a, a),
                       "bmm": lambda m, a, v: m.bmm(a[None], a[None]),
                       "matmul-batched": lambda m, a, v: a[None] @ a[None, None], "mv": lambda m, a, v: m.mv(a, v),
                       "dot": lambda m, a, v: m.dot(v, v),
                       "linear": lambda m, a, v: m.nn.functional.linear(a, a)}.items()},
}.items(), ids=lambda item: item[0])
def test_matmul_family_errors_match_torch(call):
    name, fn = call
    message = raises_like_torch(lambda: fn(fw), lambda: fn(torch))
    if torch is not None:
        with pytest.raises(Exception) as info:
            fn(torch)
        assert message == str(info.value), name


@pytest.mark.skipif("cuda" not in DEVICES, reason="no cuda device (neither a GPU nor Triton's interpreter)")
@pytest.mark.parametrize("product, kernel", [
    (lambda a, v: a @ a, "addmm_cuda"), (lambda a, v: a @ v, "addmv_impl_cuda"),
    (lambda a, v: fw.bmm(a[None], a[None]), "bmm_cuda"), (lambda a, v: fw.dot(v, v), "dot")])
def test_bool_matrix_products_name_the_cuda_kernel(product, kernel):
    a, v = fw.ones(3, 3, dtype=fw.bool, device="cuda"), fw.ones(3, dtype=fw.bool, device="cuda")
    with pytest.raises(NotImplementedError, match=f"^\"{kernel}\" not implemented for 'Bool'$"):
        product(a, v)


def test_matmul_with_non_tensor_raises_type_error():
    with pytest.raises(TypeError):
        fw.ones(2, 3) @ 2
    with pytest.raises(TypeError):
        2 @ fw.ones(2, 3)


# ---- graph node names ------------------------------------------------------------------------

@requires_torch
def test_matmul_grad_fn_names_match_torch():
    cases = {
        "mm": ((2, 3), (3, 2)), "mv": ((2, 3), (3,)), "dot": ((3,), (3,)), "vec-mat": ((3,), (3, 2)),
        "batch-mat": ((2, 2, 3), (3, 2)), "bmm-shaped": ((2, 2, 3), (2, 3, 2)),
    }
    wrong = {}
    for name, (shape_a, shape_b) in cases.items():
        got = (fw.ones(*shape_a, requires_grad=True) @ fw.ones(*shape_b)).grad_fn.name()
        expected = (torch.ones(*shape_a, requires_grad=True) @ torch.ones(*shape_b)).grad_fn.name()
        if got != expected:
            wrong[name] = (got, expected)
    assert not wrong, wrong
    x = fw.ones(2, 2, 3, requires_grad=True)
    assert fw.bmm(x, fw.ones(2, 3, 2)).grad_fn.name() == "BmmBackward0"
    assert fw.mm(fw.ones(2, 3, requires_grad=True), fw.ones(3, 2)).grad_fn.name() == "MmBackward0"


def test_matmul_output_does_not_alias_inputs(rng):
    a = make_tensor(random_array(rng, (3, 3), "float32"))
    eye = fw.eye(3)
    out = a @ eye
    out.add_(1)
    assert not np.array_equal(out.numpy(), a.numpy())
