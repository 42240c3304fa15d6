"""F.scaled_dot_product_attention on every device against float64 numpy and torch: values and the gradients of
query, key, value and an additive mask; masks of every broadcast form, boolean masks, causal with L_q != L_k,
grouped-query heads, odd head dims, size-0/size-1 dims, non-contiguous inputs, every float dtype; fully masked
rows; dropout reproducible by seed and the same in forward and backward; PyTorch's errors; memory linear in L."""
import tracemalloc

import numpy as np
import pytest

import framework as fw
from framework import random as fw_random
from helpers import (DEVICES, FLOAT_NAMES, check_op, make_tensor, numpy_vjp, raises_like_torch, requires_torch,
                     assert_close, torch)

F = fw.nn.functional
_RNG = np.random.default_rng(0)


def reference(q, k, v, mask=None, is_causal=False, scale=None, enable_gqa=False, keep=None, dropout_p=0.0):
    """float64 (or complex, for complex-step gradients) numpy attention, broadcasting as PyTorch's math path;
    rows that see no key give 0; `keep`: the kept weights of dropout."""
    if enable_gqa and q.ndim >= 3:
        k = np.repeat(k, q.shape[-3] // k.shape[-3], axis=-3)
        v = np.repeat(v, q.shape[-3] // v.shape[-3], axis=-3)
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = scale * q @ np.swapaxes(k, -1, -2)
    if mask is not None:
        s = s + (np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask)
    if is_causal:
        s = np.where(np.arange(k.shape[-2]) <= np.arange(q.shape[-2])[:, None], s, -np.inf)
    top = np.real(s).max(axis=-1, keepdims=True, initial=-np.inf)
    e = np.exp(s - np.where(np.isfinite(top), top, 0))
    total = e.sum(axis=-1, keepdims=True)
    seen = np.real(total) > 0
    weights = np.where(seen, e / np.where(seen, total, 1), 0)
    if keep is not None:
        weights = weights * keep / (1 - dropout_p)
    return weights @ v


def _sdpa(**options):
    return lambda *tensors: F.scaled_dot_product_attention(*tensors, **options)


def _torch_sdpa(**options):
    return lambda *tensors: torch.nn.functional.scaled_dot_product_attention(*tensors, **options)


def _check(shapes, dtype="float32", mask=None, noncontiguous=False, devices=None, **options):
    """check_op on random q, k, v (and `mask`: a float array requires grad, a bool one does not)."""
    arrays = [_RNG.standard_normal(shape) for shape in shapes]
    if mask is not None:
        arrays.append(mask)
        options_np = dict(options)
        np_fn = lambda q, k, v, m: reference(q, k, v, m, **options_np)  # noqa: E731
        fw_fn = lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, **options)  # noqa: E731
        torch_fn = lambda q, k, v, m: torch.nn.functional.scaled_dot_product_attention(  # noqa: E731
            q, k, v, attn_mask=m, **options)
    else:
        np_fn = lambda q, k, v: reference(q, k, v, **options)  # noqa: E731
        fw_fn, torch_fn = _sdpa(**options), _torch_sdpa(**options)
    return check_op(fw_fn, np_fn, torch_fn, *arrays, dtype=dtype, noncontiguous=noncontiguous, devices=devices)


@pytest.mark.parametrize("mask_shape", [(7,), (5, 7), (1, 7), (5, 1), (3, 1, 7), (2, 1, 5, 7), (2, 3, 1, 7), (2, 3, 5, 7),
                                        ()])
def test_additive_masks_of_every_broadcast_form(mask_shape):
    _check([(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)], mask=_RNG.standard_normal(mask_shape))


@pytest.mark.parametrize("mask_shape", [(5, 7), (2, 1, 1, 7), (3, 5, 1)])
def test_boolean_masks(mask_shape):
    mask = _RNG.random(mask_shape) > 0.3
    mask[..., 0] = True  # every row sees a key (fully masked rows: their own test)
    _check([(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)], mask=mask)


@pytest.mark.parametrize("len_q,len_k", [(9, 4), (4, 9), (6, 6)])
def test_causal_is_top_left_aligned(len_q, len_k):
    _check([(2, 2, len_q, 8), (2, 2, len_k, 8), (2, 2, len_k, 6)], is_causal=True)


def test_grouped_query_heads():
    _check([(2, 6, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)], enable_gqa=True)
    _check([(1, 4, 5, 8), (1, 1, 6, 8), (1, 1, 6, 8)], enable_gqa=True, is_causal=True)


@pytest.mark.parametrize("head_dim,value_dim", [(24, 24), (80, 80), (1, 3), (8, 12)])
def test_head_dims_not_powers_of_two(head_dim, value_dim):
    _check([(1, 2, 6, head_dim), (1, 2, 5, head_dim), (1, 2, 5, value_dim)], scale=0.3)


@pytest.mark.parametrize("shapes", [
    [(5, 8), (7, 8), (7, 8)],                                  # 2-d: one head, no batch
    [(3, 5, 8), (1, 7, 8), (3, 7, 8)],                         # 3-d, a key broadcast over the leading dim
    [(2, 2, 3, 5, 8), (2, 2, 3, 7, 8), (2, 2, 3, 7, 8)],       # 5-d
    [(2, 3, 5, 8), (1, 3, 7, 8), (1, 3, 7, 8)],                # batch broadcast
])
def test_leading_dims_broadcast(shapes):
    _check(shapes)


@pytest.mark.parametrize("shapes", [
    [(2, 3, 0, 8), (2, 3, 7, 8), (2, 3, 7, 8)],   # no query: an empty output
    [(2, 3, 5, 8), (2, 3, 0, 8), (2, 3, 0, 8)],   # no key: zeros, as PyTorch
    [(0, 3, 5, 8), (0, 3, 7, 8), (0, 3, 7, 8)],
    [(1, 1, 1, 8), (1, 1, 1, 8), (1, 1, 1, 8)],
    [(2, 1, 5, 1), (2, 1, 7, 1), (2, 1, 7, 1)],
])
def test_size_zero_and_one_dims(shapes):
    _check(shapes)


@pytest.mark.skipif("cuda" not in DEVICES, reason="no cuda device")
def test_cuda_refuses_head_dims_above_its_kernels_limit():
    q = fw.zeros(1, 1, 2, 136, device="cuda")
    with pytest.raises(ValueError, match="head dims up to 128"):
        F.scaled_dot_product_attention(q, q, q)


@pytest.mark.parametrize("dtype", FLOAT_NAMES)
def test_every_float_dtype_noncontiguous(dtype):
    _check([(2, 2, 5, 8), (2, 2, 7, 8), (2, 2, 7, 8)], dtype=dtype, mask=_RNG.standard_normal((5, 7)),
           noncontiguous=True)
    _check([(1, 2, 9, 24), (1, 1, 6, 24), (1, 1, 6, 24)], dtype=dtype, is_causal=True, enable_gqa=True)


def test_fully_masked_rows_give_zeros():
    mask = np.ones((5, 7), bool)
    mask[1] = False
    q, k, v = (_RNG.standard_normal(shape) for shape in ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)))
    for device in DEVICES:
        tensors = [make_tensor(a, requires_grad=True, device=device) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*tensors, attn_mask=fw.tensor(mask, device=device))
        out.sum().backward()
        assert not out[:, :, 1].any() and not tensors[0].grad[:, :, 1].any()
        assert np.isfinite(tensors[1].grad.cpu().numpy()).all()
    additive = np.where(mask, 0.0, -np.inf)
    _check([(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)], mask=additive)


def test_autocast_runs_in_the_lower_precision():
    q = fw.randn(1, 2, 5, 8)
    with fw.autocast("cpu"):
        assert F.scaled_dot_product_attention(q, q, q).dtype is fw.bfloat16
    if "cuda" in DEVICES:
        with fw.autocast("cuda"):
            assert F.scaled_dot_product_attention(q.cuda(), q.cuda(), q.cuda()).dtype is fw.float16


# ---- dropout ----------------------------------------------------------------------------------------------------

def _kept(device, seed, shape, p):
    """The weights dropout keeps, drawn as F.dropout draws a mask of the attention's shape from `seed`'s stream
    (on cuda with each row padded to a multiple of 4 keys: whole Philox counters)."""
    fw.manual_seed(seed)
    if device == "cpu":
        return fw_random.bernoulli_mask(shape, 1 - p)
    padded = shape[:-1] + (4 * -(-shape[-1] // 4),)
    drawn = fw_random.for_device(fw.device(device), None).bernoulli_mask(padded, 1 - p)
    return fw.Tensor._from_raw(drawn, fw.device(device)).cpu().numpy()[..., :shape[-1]]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("causal", [False, True])
def test_dropout_is_reproducible_and_the_same_in_forward_and_backward(device, causal):
    p, shapes = 0.4, ((2, 2, 6, 8), (2, 2, 5, 8), (2, 2, 5, 4))
    arrays = [_RNG.standard_normal(shape) for shape in shapes]
    mask = _RNG.standard_normal((6, 5)) if not causal else None
    g = _RNG.standard_normal((2, 2, 6, 4))
    runs = []
    for _ in range(2):
        fw.manual_seed(1234)
        tensors = [fw.tensor(a, device=device, requires_grad=True) for a in arrays]
        out = F.scaled_dot_product_attention(*tensors, attn_mask=None if mask is None else fw.tensor(mask, device=device),
                                             dropout_p=p, is_causal=causal)
        out.backward(fw.tensor(g, device=device))
        runs.append([out.detach().cpu().numpy()] + [t.grad.cpu().numpy() for t in tensors])
    for first, second in zip(*runs):
        np.testing.assert_array_equal(first, second)
    keep = _kept(device, 1234, (2, 2, 6, 5), p)
    assert 0 < keep.mean() < 1
    ref = lambda q, k, v: reference(q, k, v, mask, causal, keep=keep, dropout_p=p)  # noqa: E731
    assert_close(runs[0][0], ref(*arrays), fw.float32, what="output")
    for i, grad in enumerate(numpy_vjp(ref, arrays, [g], [0, 1, 2])):
        assert_close(runs[0][1 + i], grad, fw.float32, what=f"gradient {i}")


@requires_torch
def test_cpu_dropout_draws_pytorchs_stream():
    arrays = [_RNG.standard_normal(shape).astype(np.float32) for shape in ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8))]
    fw.manual_seed(7)
    ours = F.scaled_dot_product_attention(*(fw.tensor(a) for a in arrays), dropout_p=0.3)
    torch.manual_seed(7)
    theirs = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(a) for a in arrays), dropout_p=0.3)
    assert_close(ours, theirs.numpy(), fw.float32)
    assert fw.rand(3).tolist() == torch.rand(3).tolist()  # both generators moved past the same words


def test_dropout_one_drops_everything():
    q = fw.randn(1, 2, 4, 8, requires_grad=True)
    out = F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    out.sum().backward()
    assert not out.any() and not q.grad.any()


# ---- errors ------------------------------------------------------------------------------------------------------

def _both(*shapes, dtype="float32"):
    arrays = [_RNG.standard_normal(shape).astype(dtype) for shape in shapes]
    return [fw.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays] if torch is not None else None


@pytest.mark.parametrize("shapes,options,message", [
    [((2, 3, 5, 8), (2, 3, 7, 6), (2, 3, 7, 8)), {},
     "Expected size for first two dimensions of batch2 tensor to be: [6, 8] but got: [6, 6]."],
    [((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), (5, 6)), {},
     "The size of tensor a (7) must match the size of tensor b (6) at non-singleton dimension 3"],
    [((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8), (1, 2, 3, 5, 7)), {},
     "output with shape [2, 3, 5, 7] doesn't match the broadcast shape [1, 2, 3, 5, 7]"],
    [((3, 5, 8), (3, 7, 8), (3, 7, 8), (2, 5, 7)), {},
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0"],
    [((3, 5, 8), (3, 7, 8), (3, 7, 8), (5, 7)), {"is_causal": True},
     "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True"],
    [((2, 6, 5, 8), (2, 4, 7, 8), (2, 4, 7, 8)), {"enable_gqa": True},
     "Number of heads in key and value must divide the number of heads in"],
    [((8,), (8,), (8,)), {}, "Expected query, key, and value to all be  at least 2 dimensional"],
    [((3, 5, 8), (3, 7, 8), (3, 7, 8)), {"dropout_p": 1.5},
     "dropout probability has to be between 0 and 1, but got 1.5"],
])
@requires_torch
def test_errors_as_pytorch(shapes, options, message):
    ours, theirs = _both(*shapes)
    if len(shapes) == 4:
        options_fw = dict(options, attn_mask=ours.pop())
        options_torch = dict(options, attn_mask=theirs.pop())
    else:
        options_fw = options_torch = options
    raises_like_torch(lambda: F.scaled_dot_product_attention(*ours, **options_fw),
                      lambda: torch.nn.functional.scaled_dot_product_attention(*theirs, **options_torch), match=message)


@requires_torch
def test_dtype_errors_as_pytorch():
    q = fw.randn(1, 1, 3, 4)
    tq = torch.randn(1, 1, 3, 4)
    raises_like_torch(lambda: F.scaled_dot_product_attention(q, q.double(), q),
                      lambda: torch.nn.functional.scaled_dot_product_attention(tq, tq.double(), tq),
                      match="query.dtype: float key.dtype: double and value.dtype: float instead.")
    raises_like_torch(lambda: F.scaled_dot_product_attention(q, q, q, attn_mask=fw.zeros(3, 3, dtype=fw.int64)),
                      lambda: torch.nn.functional.scaled_dot_product_attention(
                          tq, tq, tq, attn_mask=torch.zeros(3, 3, dtype=torch.int64)),
                      match="but got attn_mask.dtype: long int and  query.dtype: float instead.")


# ---- memory -------------------------------------------------------------------------------------------------------

def test_cpu_memory_is_linear_in_the_sequence_length():
    """4096 x 4096 scores would take 64 MiB in float32: forward and backward stay far below one of them."""
    length = 4096
    q, k, v = (fw.randn(1, 1, length, 8, requires_grad=True) for _ in range(3))
    tracemalloc.start()
    try:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert tuple(q.grad.shape) == (1, 1, length, 8)


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_second_derivatives_redraw_the_same_mask(device):
    """create_graph=True differentiates the composition (autograd/derivatives/attention.py), which draws the
    dropout mask again from the saved stream: its first derivatives are the kernels' ones."""
    arrays = [_RNG.standard_normal(shape) for shape in ((1, 2, 5, 8), (1, 2, 6, 8), (1, 2, 6, 4))]
    grads = []
    for create_graph in (False, True):
        fw.manual_seed(99)
        tensors = [fw.tensor(a, device=device, requires_grad=True) for a in arrays]
        out = F.scaled_dot_product_attention(*tensors, dropout_p=0.5, is_causal=True)
        found = fw.autograd.grad((out * out).sum(), tensors, create_graph=create_graph)
        grads.append([g.detach().cpu().numpy() for g in found])
        if create_graph:  # and the graph of the gradient reaches the inputs again
            second = fw.autograd.grad(sum(g.sum() for g in found), tensors, allow_unused=True)
            assert any(s is not None and s.abs().sum().item() > 0 for s in second)
    for first, again in zip(*grads):
        assert_close(again, first, fw.float32)
