"""No silent wrong values: one table of calls where a value could wrap, truncate or broadcast, each run on
framework (every device) and on PyTorch: the same exception type and message where PyTorch refuses, the same
dtype, shape and values where it computes.

Rows are `(id, call)` with `call(lib, device)`; `cpu_only` rows are those whose PyTorch result is a CPU kernel's
(a NaN cast to int is INT_MIN there, 0 on a GPU). Where PyTorch names itself (`torch.FloatTensor`), framework's
message has `framework.` in its place.
"""
import math
import warnings

import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, requires_torch, torch, torch_name

M = math


def _i8(L, d, values):
    return L.tensor(values, dtype=L.int8, device=d)


ROWS = [
    # ---- creation from Python data: integers outside the dtype (c10::checked_convert names the dtype) ----------
    ("tensor_2**63", lambda L, d: L.tensor([2 ** 63], device=d)),
    ("tensor_scalar_2**63", lambda L, d: L.tensor(2 ** 63, device=d)),
    ("tensor_-2**63-1", lambda L, d: L.tensor([-2 ** 63 - 1], device=d)),
    ("tensor_2**70_nested", lambda L, d: L.tensor([[1], [2 ** 70]], device=d)),
    ("tensor_2**63_mixed_signs", lambda L, d: L.tensor([2 ** 63, -1], device=d)),
    ("tensor_2**63-1", lambda L, d: L.tensor([2 ** 63 - 1, -2 ** 63], device=d)),
    ("tensor_2**63_as_float", lambda L, d: L.tensor([2 ** 63], dtype=L.float32, device=d)),
    ("tensor_2**70_with_a_float", lambda L, d: L.tensor([2 ** 70, 1.5], device=d)),
    ("tensor_2**64_as_bool", lambda L, d: L.tensor([2 ** 64, 0], dtype=L.bool, device=d)),
    ("tensor_2**64_as_uint8", lambda L, d: L.tensor(2 ** 64, dtype=L.uint8, device=d)),
    ("tensor_300_int8", lambda L, d: L.tensor([300], dtype=L.int8, device=d)),
    ("tensor_-129_int8", lambda L, d: L.tensor([1, -129], dtype=L.int8, device=d)),
    ("tensor_127_int8", lambda L, d: L.tensor([127, -128], dtype=L.int8, device=d)),
    ("tensor_-1_uint8", lambda L, d: L.tensor([-1, -255, 255], dtype=L.uint8, device=d)),
    ("tensor_-256_uint8", lambda L, d: L.tensor([-256], dtype=L.uint8, device=d)),
    ("tensor_256_uint8", lambda L, d: L.tensor([256], dtype=L.uint8, device=d)),
    ("tensor_40000_int16", lambda L, d: L.tensor([40000], dtype=L.int16, device=d)),
    ("tensor_2**31_int32", lambda L, d: L.tensor([[2 ** 31]], dtype=L.int32, device=d)),
    ("tensor_300_scalar_int8", lambda L, d: L.tensor(300, dtype=L.int8, device=d)),
    ("tensor_bool_and_300_int8", lambda L, d: L.tensor([True, 300], dtype=L.int8, device=d)),
    ("tensor_np_int64_300_int8", lambda L, d: L.tensor(np.int64(300), dtype=L.int8, device=d)),
    ("tensor_of_tensor_300_int8", lambda L, d: L.tensor([L.tensor(300)], dtype=L.int8, device=d)),
    ("tensor_np_array_wraps", lambda L, d: L.tensor(np.array([300, -1]), dtype=L.int8, device=d)),
    ("tensor_300.7_uint8", lambda L, d: L.tensor([300.7], dtype=L.uint8, device=d)),
    ("tensor_-1.5_uint8", lambda L, d: L.tensor([-1.5], dtype=L.uint8, device=d)),
    ("tensor_2.7_int8_truncates", lambda L, d: L.tensor([2.7, -2.7], dtype=L.int8, device=d)),
    ("tensor_nan_int32", lambda L, d: L.tensor([M.nan], dtype=L.int32, device=d)),
    ("tensor_inf_int64", lambda L, d: L.tensor([1.0, M.inf], dtype=L.int64, device=d)),
    ("tensor_1e39_float32_is_inf", lambda L, d: L.tensor([1e39], dtype=L.float32, device=d)),
    ("tensor_1e10_float16_is_inf", lambda L, d: L.tensor([1e10], dtype=L.float16, device=d)),
    ("tensor_nan_bool", lambda L, d: L.tensor([M.nan, 300, 0.0], dtype=L.bool, device=d)),
    # the Tensor.new_* factories: self's dtype and device by default, the values checked as tensor()'s and full()'s
    ("new_tensor_300_int8", lambda L, d: L.zeros(2, device=d).new_tensor([300], dtype=L.int8)),
    ("new_tensor_300_scalar_of_int8", lambda L, d: _i8(L, d, [1]).new_tensor(300)),
    ("new_tensor_256_uint8", lambda L, d: L.zeros(1, device=d).new_tensor([[256]], dtype=L.uint8)),
    ("new_tensor_2**63_of_float32", lambda L, d: L.zeros(1, device=d).new_tensor([2 ** 63])),
    ("new_tensor_2**63_of_int64", lambda L, d: L.zeros(1, dtype=L.int64, device=d).new_tensor([2 ** 63])),
    ("new_tensor_1.5_of_int8_truncates", lambda L, d: _i8(L, d, [1]).new_tensor([1.5, -2.7])),
    ("new_tensor_1e10_float16_is_inf", lambda L, d: L.zeros(1, device=d).new_tensor([1e10], dtype=L.float16)),
    ("new_full_300_int8", lambda L, d: L.zeros(1, device=d).new_full((2,), 300, dtype=L.int8)),
    ("new_full_300_of_int8", lambda L, d: _i8(L, d, [1]).new_full((1, 2), 300)),
    ("new_full_-1_of_uint8", lambda L, d: L.zeros(1, dtype=L.uint8, device=d).new_full((2,), -1)),
    ("new_full_1.5_of_int8", lambda L, d: _i8(L, d, [1]).new_full((2,), 1.5)),
    ("new_ones_of_int8", lambda L, d: _i8(L, d, [1]).new_ones(2, 3)),
    ("new_zeros_negative_size", lambda L, d: L.zeros(1, device=d).new_zeros((2, -1))),
    # ---- fill values (named by their C++ type: int8_t, int, c10::Half, float) -------------------------------
    ("full_300_int8", lambda L, d: L.full((2,), 300, dtype=L.int8, device=d)),
    ("full_-1_uint8", lambda L, d: L.full((2,), -1, dtype=L.uint8, device=d)),
    ("full_-256_uint8", lambda L, d: L.full((2,), -256, dtype=L.uint8, device=d)),
    ("full_2**63", lambda L, d: L.full((2,), 2 ** 63, device=d)),
    ("full_2**64", lambda L, d: L.full((2,), 2 ** 64, device=d)),
    ("full_2.5_int32", lambda L, d: L.full((2,), 2.5, dtype=L.int32, device=d)),
    ("full_nan_int32", lambda L, d: L.full((2,), M.nan, dtype=L.int32, device=d)),
    ("full_inf_int64", lambda L, d: L.full((2,), M.inf, dtype=L.int64, device=d)),
    ("full_1e10_float16", lambda L, d: L.full((2,), 1e10, dtype=L.float16, device=d)),
    ("full_2**40_float16", lambda L, d: L.full((3,), 2 ** 40, dtype=L.float16, device=d)),
    ("full_inf_float16", lambda L, d: L.full((2,), M.inf, dtype=L.float16, device=d)),
    ("full_1e39_float32", lambda L, d: L.full((2,), 1e39, dtype=L.float32, device=d)),
    ("full_1e39_bfloat16", lambda L, d: L.full((2,), 1e39, dtype=L.bfloat16, device=d)),
    ("full_2_bool", lambda L, d: L.full((2,), 2, dtype=L.bool, device=d)),
    ("fill__300_int8", lambda L, d: L.zeros(2, dtype=L.int8, device=d).fill_(300)),
    ("fill__nan_int32", lambda L, d: L.zeros(2, dtype=L.int32, device=d).fill_(M.nan)),
    ("fill__1e10_float16", lambda L, d: L.zeros(3, dtype=L.float16, device=d).fill_(1e10)),
    ("fill__2.5_int8", lambda L, d: L.zeros(2, dtype=L.int8, device=d).fill_(2.5)),
    ("fill__tensor_300_int8_wraps", lambda L, d: L.zeros(2, dtype=L.int8, device=d).fill_(L.tensor(300))),
    ("masked_fill_300_int8", lambda L, d: L.zeros(2, dtype=L.int8, device=d).masked_fill(
        L.tensor([True, False], device=d), 300)),
    ("masked_fill_tensor_300_int8", lambda L, d: L.zeros(2, dtype=L.int8, device=d).masked_fill(
        L.tensor([True, False], device=d), L.tensor(300))),
    ("masked_fill_70000_float16", lambda L, d: L.zeros(3, dtype=L.float16, device=d).masked_fill(
        L.tensor([True, False, True], device=d), 70000.0)),
    ("scatter_value_300_int8", lambda L, d: L.zeros(2, dtype=L.int8, device=d).scatter(
        0, L.tensor([0], device=d), 300)),
    ("setitem_300_int8", lambda L, d: L.zeros(2, dtype=L.int8, device=d).__setitem__(0, 300)),
    ("setitem_list_300_int8", lambda L, d: L.zeros(2, dtype=L.int8, device=d).__setitem__([0], 300)),
    ("setitem_nan_int32", lambda L, d: L.zeros(2, dtype=L.int32, device=d).__setitem__(0, M.nan)),
    ("setitem_2**63_int64", lambda L, d: L.zeros(2, dtype=L.int64, device=d).__setitem__(0, 2 ** 63)),
    ("setitem_2**63_float32", lambda L, d: L.zeros(2, device=d).__setitem__(0, 2 ** 63)),
    ("setitem_1e39_float32", lambda L, d: L.zeros(2, device=d).__setitem__(0, 1e39)),
    ("setitem_70000_float16_is_inf", lambda L, d: _set(L.zeros(2, dtype=L.float16, device=d), 0, 70000.0)),
    ("setitem_-1_uint8", lambda L, d: _set(L.zeros(2, dtype=L.uint8, device=d), 0, -1)),
    ("clamp_max_300_int8", lambda L, d: _i8(L, d, [1, 2]).clamp(max=300)),
    ("clamp_min_-300_int8", lambda L, d: _i8(L, d, [1, 2]).clamp(min=-300)),
    ("clamp_min_-1_uint8", lambda L, d: L.ones(2, dtype=L.uint8, device=d).clamp(min=-1)),
    ("clamp_1e10_float16", lambda L, d: L.zeros(2, dtype=L.float16, device=d).clamp(max=1e10)),
    ("where_300_int8", lambda L, d: L.where(L.tensor([True, False], device=d), _i8(L, d, [1, 2]), 300)),
    ("where_70000_float16_is_inf", lambda L, d: L.where(L.tensor([True, False], device=d),
                                                         L.zeros(2, dtype=L.float16, device=d), 70000.0)),
    ("pow_300_int8", lambda L, d: _i8(L, d, [1, 2]) ** 300),
    ("pow_1e10_float16", lambda L, d: L.ones(2, dtype=L.float16, device=d) ** 1e10),
    # ---- scalar operands of arithmetic wrap, as PyTorch's do -------------------------------------------------
    ("add_300_int8_wraps", lambda L, d: _i8(L, d, [1, 100]) + 300),
    ("mul_1000_int8_wraps", lambda L, d: _i8(L, d, [1, 3]) * 1000),
    ("add__300_int8_wraps", lambda L, d: _i8(L, d, [1, 2]).add_(300)),
    ("add_2**63_int64_wraps", lambda L, d: L.ones(2, dtype=L.int64, device=d) + 2 ** 63),
    ("add_2**64", lambda L, d: L.ones(2, dtype=L.int64, device=d) + 2 ** 64),
    ("eq_300_int8", lambda L, d: _i8(L, d, [1, 44]) == 300),
    ("lt_300_int8", lambda L, d: _i8(L, d, [1, 44]) < 300),
    ("sum_int8_widens", lambda L, d: _i8(L, d, [100, 100]).sum()),
    ("cumsum_int8_widens", lambda L, d: _i8(L, d, [100, 100]).cumsum(0)),
    ("neg_uint8_wraps", lambda L, d: -L.tensor([200], dtype=L.uint8, device=d)),
    ("to_int8_wraps", lambda L, d: L.tensor([300, -129], device=d).to(L.int8)),
    # ---- ranges ---------------------------------------------------------------------------------------------
    ("arange_2**63", lambda L, d: L.arange(2 ** 63, device=d)),
    ("arange_int64_overflowing_size", lambda L, d: L.arange(0, 2 ** 63 - 1, 2 ** 62, device=d)),
    ("arange_near_int64_max", lambda L, d: L.arange(2 ** 63 - 3, 2 ** 63 - 1, device=d)),
    ("arange_int8_wraps", lambda L, d: L.arange(0, 300, 100, dtype=L.int8, device=d)),
    ("arange_uint8_from_-1", lambda L, d: L.arange(-1, 2, dtype=L.uint8, device=d)),
    ("arange_nan", lambda L, d: L.arange(0, M.nan, device=d)),
    ("arange_inf", lambda L, d: L.arange(0, M.inf, device=d)),
    ("arange_1e20", lambda L, d: L.arange(0, 1e20, device=d)),
    ("arange_float_bounds_int32", lambda L, d: L.arange(0, 3.5, dtype=L.int32, device=d)),
    ("arange_float_bounds_int64", lambda L, d: L.arange(0, 3.5, dtype=L.int64, device=d)),
    ("arange_float_step_int8", lambda L, d: L.arange(0, 5, 1.5, dtype=L.int8, device=d)),
    ("linspace_300_int8", lambda L, d: L.linspace(0, 300, 4, dtype=L.int8, device=d)),
    ("linspace_1e10_float16", lambda L, d: L.linspace(0, 1e10, 3, dtype=L.float16, device=d)),
    ("randint_300_int8", lambda L, d: _meta(L.randint(0, 300, (3,), dtype=L.int8, device=d))),
    ("randint_-1_uint8", lambda L, d: _meta(L.randint(-1, 3, (3,), dtype=L.uint8, device=d))),
    ("randint_2**20_int16", lambda L, d: _meta(L.randint(0, 2 ** 20, (3,), dtype=L.int16, device=d))),
    ("randint_2**20_float16", lambda L, d: _meta(L.randint(0, 2 ** 20, (3,), dtype=L.float16, device=d))),
    ("randint_3_bool", lambda L, d: _meta(L.randint(0, 3, (3,), dtype=L.bool, device=d))),
    ("randint_2**63", lambda L, d: _meta(L.randint(0, 2 ** 63, (3,), device=d))),
    # ---- integer division by zero ---------------------------------------------------------------------------
    ("floor_divide_by_0", lambda L, d: L.tensor([5, 3], device=d) // L.tensor([0, 1], device=d)),
    ("remainder_by_0", lambda L, d: L.tensor([5], device=d) % 0),
    ("div_trunc_by_0", lambda L, d: L.div(L.tensor([1], device=d), 0, rounding_mode="trunc")),
    ("div_floor_by_0", lambda L, d: L.div(L.tensor([1], device=d), L.tensor([0], device=d), rounding_mode="floor")),
    ("div_trunc_int64_exact", lambda L, d: L.div(L.tensor([2 ** 62 + 1, -(2 ** 62 + 1), 7, -7], device=d),
                                                 L.tensor([1, 3, -2, 2], device=d), rounding_mode="trunc")),
    ("div_trunc_uint8", lambda L, d: L.div(L.tensor([7, 200], dtype=L.uint8, device=d), 3, rounding_mode="trunc")),
    ("float_floor_divide_by_0", lambda L, d: L.tensor([5.0, -3.0], device=d) // L.tensor([0, 1], device=d)),
    ("true_divide_int_by_0", lambda L, d: L.tensor([1, 0], device=d) / 0),
    # ---- views, broadcasting of destinations, in-place casts ------------------------------------------------
    ("view_noncontiguous", lambda L, d: L.zeros(2, 3, device=d).t().view(6)),
    ("view_wrong_size", lambda L, d: L.zeros(2, 3, device=d).view(4)),
    ("view_two_inferred", lambda L, d: L.zeros(2, 3, device=d).view(-1, -1)),
    ("reshape_wrong_size", lambda L, d: L.zeros(6, device=d).reshape(4, -1)),
    ("expand_wrong_size", lambda L, d: L.zeros(3, device=d).expand(2, 4)),
    ("inplace_broadcasts_destination", lambda L, d: L.zeros(3, device=d).add_(L.zeros(2, 3, device=d))),
    ("inplace_broadcasts_size_1_destination", lambda L, d: L.zeros(1, 3, device=d).mul_(L.ones(2, 3, device=d))),
    ("inplace_expanded_destination", lambda L, d: L.zeros(3, device=d).expand(2, 3).add_(1)),
    ("inplace_float_into_int", lambda L, d: L.zeros(3, dtype=L.int64, device=d).add_(L.ones(3, device=d))),
    ("inplace_int_into_bool", lambda L, d: L.zeros(3, dtype=L.bool, device=d).add_(L.ones(3, dtype=L.int64,
                                                                                           device=d))),
    ("inplace_float_scalar_into_int", lambda L, d: L.zeros(3, dtype=L.int64, device=d).add_(1.5)),
    ("inplace_div_int", lambda L, d: L.ones(3, dtype=L.int64, device=d).div_(2)),
    ("inplace_sqrt_int", lambda L, d: L.ones(3, dtype=L.int64, device=d).sqrt_()),
    ("inplace_double_into_float", lambda L, d: L.ones(3, device=d).mul_(L.ones(3, dtype=L.float64, device=d))),
    ("copy__broadcast_source", lambda L, d: L.zeros(2, 3, device=d).copy_(L.ones(3, device=d))),
    ("copy__too_big_source", lambda L, d: L.zeros(3, device=d).copy_(L.ones(2, 3, device=d))),
    ("masked_fill__broadcasts_destination", lambda L, d: L.zeros(3, device=d).masked_fill_(
        L.ones(2, 3, dtype=L.bool, device=d), 1.0)),
    ("inplace_leaf_add_", lambda L, d: L.zeros(3, requires_grad=True, device=d).add_(1)),
    ("inplace_leaf_zero_", lambda L, d: L.zeros(3, requires_grad=True, device=d).zero_()),
    ("inplace_leaf_fill_", lambda L, d: L.zeros(3, requires_grad=True, device=d).fill_(2.0)),
    ("inplace_leaf_copy_", lambda L, d: L.zeros(3, requires_grad=True, device=d).copy_(L.ones(3, device=d))),
    ("inplace_leaf_clamp_", lambda L, d: L.zeros(3, requires_grad=True, device=d).clamp_(0, 1)),
    ("inplace_leaf_setitem", lambda L, d: L.zeros(3, requires_grad=True, device=d).__setitem__([0], 1.0)),
    ("inplace_leaf_view", lambda L, d: L.zeros(3, requires_grad=True, device=d)[:2].mul_(2)),
    ("inplace_leaf_scatter_", lambda L, d: L.zeros(3, requires_grad=True, device=d).scatter_(
        0, L.tensor([0], device=d), 1.0)),
    # ---- out= -----------------------------------------------------------------------------------------------
    ("out_zeros_int", lambda L, d: _out(L, d, lambda o: L.zeros(3, out=o), L.int64, 3)),
    ("out_zeros_resized", lambda L, d: _out(L, d, lambda o: L.zeros(4, out=o), L.float32, 2)),
    ("out_arange_empty", lambda L, d: _out(L, d, lambda o: L.arange(5, out=o), L.int64, 0)),
    ("out_full_int", lambda L, d: _out(L, d, lambda o: L.full((2,), 3.5, out=o), L.int64, 2)),
    ("out_eye_int", lambda L, d: _out(L, d, lambda o: L.eye(2, out=o), L.int64, (2, 2))),
    ("out_linspace_double", lambda L, d: _out(L, d, lambda o: L.linspace(0, 1, 3, out=o), L.float64, 3)),
    ("out_norm", lambda L, d: _out(L, d, lambda o: L.norm(L.ones(3, device=d), out=o), L.float32, ())),
    ("out_dtype_mismatch", lambda L, d: L.zeros(3, out=L.empty(3, dtype=L.int64, device=d), dtype=L.float32)),
    ("out_requires_grad", lambda L, d: L.zeros(3, out=L.empty(3, requires_grad=True, device=d))),
    ("out_view_writes_its_base", lambda L, d: _out_view(L, d)),
    # ---- conversions to Python numbers ---------------------------------------------------------------------
    ("int_of_nan", lambda L, d: int(L.tensor(M.nan, device=d))),
    ("int_of_inf", lambda L, d: int(L.tensor(M.inf, device=d))),
    ("item_of_2**62", lambda L, d: L.tensor(2 ** 62 + 1, device=d).item()),
]

CPU_ONLY = [
    # the result of a cast PyTorch leaves to the hardware (x86: INT_MIN for NaN and out-of-range floats)
    ("to_int32_of_nan", lambda L, d: L.tensor([M.nan, 1e20, -1e20], device=d).to(L.int32)),
    ("to_int64_of_1e20", lambda L, d: L.tensor([1e20], device=d).to(L.int64)),
    ("to_uint8_of_-1.0", lambda L, d: L.tensor([-1.0, 300.0], device=d).to(L.uint8)),
    ("copy__nan_into_int", lambda L, d: L.zeros(3, dtype=L.int64, device=d).copy_(L.tensor([M.nan] * 3, device=d))),
]


def _meta(t):
    """A random tensor's dtype and shape (its values are the stream's, compared elsewhere)."""
    return f"{str(t.dtype).split('.')[-1]} {list(t.shape)}"


def _set(x, key, value):
    x[key] = value
    return x


def _out(L, d, call, dtype, shape):
    out = L.empty(shape, dtype=dtype, device=d)
    result = call(out)
    assert result is out
    return out


def _out_view(L, d):
    base = L.ones(4, device=d)
    L.zeros(2, out=base[::2])
    return base


def _outcome(call, lib, device):
    """('raise', type, message) or ('value', dtype name, shape, values): what the call gave."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = call(lib, device)
        except Exception as error:  # noqa: BLE001 (the exception is the outcome)
            return ("raise", type(error).__name__, torch_name(str(error)))
    if result is None or isinstance(result, (int, float, str)):
        return ("value", type(result).__name__, result)
    values = result.detach().cpu().float().tolist() if str(result.dtype).endswith("bfloat16") else \
        result.detach().cpu().tolist()
    return ("value", str(result.dtype).split(".")[-1], tuple(result.shape), repr(values))  # repr: nan == nan


def _run(call, device):
    ours = _outcome(call, fw, device)
    theirs = _outcome(call, torch, "cpu")
    if ours[0] == "raise" and theirs[0] == "raise":
        compatible = ours[1] == theirs[1] or (ours[1] == "RuntimeError" and theirs[1] == "NotImplementedError")
        assert compatible and ours[2] == theirs[2], f"framework raised {ours[1:]}, PyTorch {theirs[1:]}"
        return
    assert ours == theirs, f"framework: {ours}; PyTorch: {theirs}"


@requires_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,call", ROWS, ids=[r[0] for r in ROWS])
def test_values_and_refusals_match_pytorch(name, call, device):
    _run(call, device)


@requires_torch
@pytest.mark.parametrize("name,call", CPU_ONLY, ids=[r[0] for r in CPU_ONLY])
def test_hardware_casts_match_pytorch_on_the_cpu(name, call):
    _run(call, "cpu")
