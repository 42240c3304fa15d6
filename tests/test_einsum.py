"""einsum in every form PyTorch accepts: values and gradients against float64 numpy.einsum and torch on every
device and float dtype, PyTorch's node names and strides, sublists, broadcasting labels and ellipses, integer
operands, empty dims, non-contiguous inputs, and its error messages."""
import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, check_op, random_array, raises_like_torch, requires_torch, torch

# equation -> (operand shapes, PyTorch's node name of the result)
EQUATIONS = {
    "ij,jk->ik": ([(3, 4), (4, 5)], "ViewBackward0"),
    "ij,jk": ([(3, 4), (4, 5)], "ViewBackward0"),
    "ii": ([(3, 3)], "SumBackward1"),
    "ii->i": ([(3, 3)], "PermuteBackward0"),
    "ij->": ([(3, 4)], "SumBackward1"),
    "ij->ji": ([(3, 4)], "PermuteBackward0"),
    "ba": ([(3, 4)], "PermuteBackward0"),
    "i,j->ij": ([(3,), (4,)], "MulBackward0"),
    "bij,bjk->bik": ([(2, 3, 4), (2, 4, 5)], "ViewBackward0"),
    "ij,ij->ij": ([(3, 4), (3, 4)], "MulBackward0"),
    "i,i": ([(5,), (5,)], "ViewBackward0"),
    "...j,j": ([(2, 3, 4), (4,)], "ViewBackward0"),
    "...ij,...jk": ([(2, 3, 4), (4, 5)], "ViewBackward0"),
    "iji->j": ([(3, 4, 3)], "SumBackward1"),
    "i,i,i->": ([(4,), (4,), (4,)], "ViewBackward0"),
    "ij,jk,kl->il": ([(2, 3), (3, 4), (4, 5)], "ViewBackward0"),
    "bhqd,bhkd->bhqk": ([(2, 3, 4, 5), (2, 3, 6, 5)], "ViewBackward0"),
    "...,...": ([(2, 3), (3,)], "MulBackward0"),
    "i...->...": ([(3, 4, 5)], "SumBackward1"),
    "ij,kj->": ([(3, 4), (5, 4)], "ViewBackward0"),
    "ijk,jk->i": ([(2, 3, 4), (1, 4)], "ViewBackward0"),  # a size-1 label broadcasts
    "a b , b c -> a c": ([(2, 3), (3, 4)], "ViewBackward0"),
    "iij,jk->ik": ([(3, 3, 4), (4, 2)], "ViewBackward0"),
    "Ab,bC->AC": ([(2, 3), (3, 4)], "ViewBackward0"),
    "bn,anm,bm->ba": ([(2, 3), (4, 3, 5), (2, 5)], "ViewBackward0"),
    "ij,jk->ik ": ([(3, 0), (0, 5)], "ViewBackward0"),
    ",i->i": ([(), (3,)], "MulBackward0"),
    "ij,ij->i": ([(1, 3), (4, 3)], "ViewBackward0"),
}


def _numpy_einsum(equation):
    return lambda *ops: np.einsum(equation.replace(" ", ""), *ops)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
@pytest.mark.parametrize("equation", EQUATIONS)
def test_values_grads_node_names_and_strides(equation, dtype, rng):
    shapes, node = EQUATIONS[equation]
    operands = [random_array(rng, s, "float64") for s in shapes]
    low = dtype in ("bfloat16", "float16")
    tolerance = dict(rtol=2e-2, atol=2e-2, grad_rtol=2e-2, grad_atol=2e-2) if low else {}
    out = check_op(lambda *t: fw.einsum(equation, *t), _numpy_einsum(equation),
                   lambda *t: torch.einsum(equation, *t), *operands, dtype=dtype, rng=rng, **tolerance)
    assert out.grad_fn.name() == node
    if torch is not None and out.numel():
        assert out.stride() == torch.einsum(equation, *[torch.zeros(s) for s in shapes]).stride()


@pytest.mark.parametrize("equation", ["ij,jk->ik", "ii->i", "bij,bjk->bik", "...j,j", "iij,jk->ik"])
def test_noncontiguous_operands(equation, rng):
    shapes, _ = EQUATIONS[equation]
    operands = [random_array(rng, s, "float64") for s in shapes]
    check_op(lambda *t: fw.einsum(equation, *t), _numpy_einsum(equation), lambda *t: torch.einsum(equation, *t),
             *operands, dtype="float32", noncontiguous=True, rng=rng)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_integer_operands(dtype, rng):
    a, b = random_array(rng, (3, 4), dtype, low=0, high=5), random_array(rng, (4, 2), dtype, low=0, high=5)
    check_op(lambda x, y: fw.einsum("ij,jk->ik", x, y), lambda x, y: np.einsum("ij,jk->ik", x, y).astype(dtype),
             lambda x, y: torch.einsum("ij,jk->ik", x, y), a, b, grad=False, out_dtype=getattr(fw, dtype), rng=rng)


@pytest.mark.parametrize("device", DEVICES)
def test_sublist_and_list_forms(device, rng):
    a = fw.tensor(random_array(rng, (5, 2, 3), "float32"), device=device)
    b = fw.tensor(random_array(rng, (3, 4), "float32"), device=device)
    expected = np.einsum("...ij,jk->...ik", a.cpu().numpy(), b.cpu().numpy())
    got = fw.einsum(a, [Ellipsis, 0, 1], b, [1, 2], [Ellipsis, 0, 2])
    np.testing.assert_allclose(got.cpu().numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fw.einsum("...ij,jk", [a, b]).cpu().numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fw.einsum(a, [26, 27, 28], [27]).cpu().numpy(), np.einsum("abc->b", a.cpu().numpy()),
                               rtol=1e-5, atol=1e-5)


def test_contraction_uses_one_batched_matmul():
    """No elementwise product of everything: a (64, 512) x (512, 64) contraction records one bmm."""
    a = fw.zeros(64, 512, requires_grad=True)
    out = fw.einsum("ij,jk->ik", a, fw.zeros(512, 64))
    names, node = [], out.grad_fn
    while node is not None and hasattr(node, "next_functions") and node.next_functions:
        names.append(node.name())
        node = next((e[0] for e in node.next_functions if e is not None), None)
    assert "BmmBackward0" in names and "MulBackward0" not in names


@requires_torch
@pytest.mark.parametrize("call", [
    lambda m: m.einsum("ij", m.zeros(2, 2), m.zeros(2, 2)), lambda m: m.einsum("ij,jk", m.zeros(2, 2)),
    lambda m: m.einsum("i1,jk", m.zeros(2, 2), m.zeros(2, 2)), lambda m: m.einsum("ij->i1", m.zeros(2, 2)),
    lambda m: m.einsum("ij->ii", m.zeros(2, 2)), lambda m: m.einsum("ij->k", m.zeros(2, 2)),
    lambda m: m.einsum("ijk", m.zeros(2, 2)), lambda m: m.einsum("ijk...", m.zeros(2, 2)),
    lambda m: m.einsum("......", m.zeros(2, 2)), lambda m: m.einsum("i.j", m.zeros(2, 2)),
    lambda m: m.einsum("...->......", m.zeros(2, 2)), lambda m: m.einsum("...->.", m.zeros(2, 2)),
    lambda m: m.einsum("ij,jk", m.zeros(2, 3), m.zeros(4, 2)), lambda m: m.einsum("ii", m.zeros(2, 3)),
    lambda m: m.einsum("...,...", m.zeros(2, 3), m.zeros(4, 3)),
    lambda m: m.einsum("ij,jk", m.zeros(2, 3), m.zeros(3, 2, dtype=m.float64)), lambda m: m.einsum("ij"),
    lambda m: m.einsum(m.zeros(2, 3), [0, 52]),
])
def test_errors_match_torch(call):
    message = raises_like_torch(lambda: call(fw), lambda: call(torch))
    try:
        call(torch)
    except Exception as error:  # noqa: BLE001 - comparing messages
        assert message == str(error)
