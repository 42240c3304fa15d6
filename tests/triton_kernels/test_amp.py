"""triton_kernels/amp.py: the fused unscale-and-check launch and the scale update, against numpy (in Triton's
interpreter on host arrays), and compiled ahead of time for sm_80/sm_90 without spills."""
import numpy as np
import pytest

from triton_kernels import amp, aot
from triton_kernels import optimizer as opt
from triton_kernels.host_tensor import HostTensor

from helpers import np_dtype


def _stored(x, dtype):
    """`x` as the interpreter stores it: it truncates float32 to bfloat16 where a GPU rounds to nearest even
    (tests/triton_kernels/test_random.py's to_dtype)."""
    if dtype == "bfloat16":
        x = (np.asarray(x, np.float32).view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    return np.asarray(x).astype(np_dtype(dtype))


def _table(grads):
    return opt.build_table([(HostTensor(g), HostTensor(g)) for g in grads], len(amp.UNSCALE_SLOTS), upload=HostTensor)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "float64"])
def test_unscale_every_tensor_in_one_launch(rng, dtype):
    sizes = [1, 0, 37, 20000]  # one element, none, odd, more than one block of the interpreter's
    grads = [rng.standard_normal(n).astype(np_dtype(dtype)) for n in sizes]
    inv_scale = np.float32(1 / np.float64(96.0))  # PyTorch's scale.double().reciprocal().float()
    compute = np.float64 if dtype == "float64" else np.float32  # fp32 math for the low-precision dtypes
    expected = [_stored(g.astype(compute) * compute(inv_scale), dtype) for g in grads]
    scale, found = np.array(96.0, np.float32), np.zeros((), np.float32)
    amp.unscale_(_table(grads), HostTensor(scale), HostTensor(found))
    for g, want in zip(grads, expected):
        np.testing.assert_array_equal(g.astype(np.float64), want.astype(np.float64))
    assert found == 0.0


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_unscale_flags_inf_and_nan_anywhere(rng, bad):
    grads = [rng.standard_normal(5).astype(np.float32), rng.standard_normal(20000).astype(np.float32)]
    grads[1][17777] = bad
    found = np.zeros((), np.float32)
    amp.unscale_(_table(grads), HostTensor(np.array(2.0, np.float32)), HostTensor(found))
    assert found == 1.0
    found_again = np.ones((), np.float32)  # an earlier launch's flag is kept, never cleared
    amp.unscale_(_table(grads[:1]), HostTensor(np.array(2.0, np.float32)), HostTensor(found_again))
    assert found_again == 1.0


def test_update_scale_matches_pytorchs_rule():
    scale, tracker, found = np.array(8.0, np.float32), np.array(0, np.int32), np.zeros((), np.float32)
    args = [HostTensor(a) for a in (scale, tracker, found)]
    trajectory = []
    for overflow in (0, 0, 1, 0, 0, 0, 0):
        found[...] = overflow
        amp.update_scale_(*args, growth_factor=2.0, backoff_factor=0.3, growth_interval=2)
        trajectory.append((float(scale), int(tracker)))
    s = np.float32(8.0)
    assert trajectory == [(8.0, 1), (16.0, 0), (float(np.float32(16.0 * 0.3)), 0), (float(np.float32(16.0 * 0.3)), 1),
                          (float(np.float32(np.float32(16.0 * 0.3) * 2.0)), 0),
                          (float(np.float32(np.float32(16.0 * 0.3) * 2.0)), 1),
                          (float(np.float32(np.float32(16.0 * 0.3) * 4.0)), 0)] and s == 8.0
    scale[...] = np.finfo(np.float32).max  # a growth that would overflow float32 is skipped
    tracker[...] = 1
    found[...] = 0
    amp.update_scale_(*args, growth_factor=2.0, backoff_factor=0.5, growth_interval=2)
    assert scale == np.finfo(np.float32).max and tracker == 0


def test_launcher_checks():
    g = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="scale must be a one-element float32"):
        amp.unscale_(_table([g]), HostTensor(np.ones((), np.float64)), HostTensor(np.zeros((), np.float32)))
    with pytest.raises(ValueError, match="slots"):
        amp.unscale_(opt.build_table([(HostTensor(g), HostTensor(g), None)], 3, upload=HostTensor),
                     HostTensor(np.ones((), np.float32)), HostTensor(np.zeros((), np.float32)))
    with pytest.raises(TypeError, match="growth_tracker must be int32"):
        amp.update_scale_(HostTensor(np.ones((), np.float32)), HostTensor(np.zeros((), np.int64)),
                          HostTensor(np.zeros((), np.float32)), 2.0, 0.5, 10)


def aot_jobs():
    import triton.language as tl
    jobs = []
    for arch in aot.ARCHITECTURES:
        for dtype in (tl.float32, tl.bfloat16):
            signature = dict(tensor_table_ptr="*i64", block_table_ptr="*i64", scale_ptr="*fp32", found_inf_ptr="*fp32",
                             N_SLOTS="constexpr", DTYPE="constexpr", BLOCK_SIZE="constexpr")
            constexprs = dict(N_SLOTS=len(amp.UNSCALE_SLOTS), DTYPE=dtype, BLOCK_SIZE=opt.BLOCK_SIZE)
            jobs.append((f"unscale {dtype} sm_{arch}", aot.job(amp._unscale_kernel, signature, constexprs, arch,
                                                                amp.NUM_WARPS)))
        signature = dict(scale_ptr="*fp32", growth_tracker_ptr="*i32", found_inf_ptr="*fp32", growth_factor="i64",
                         backoff_factor="i64", growth_interval="i32")
        jobs.append((f"update sm_{arch}", aot.job(amp._update_scale_kernel, signature, {}, arch, 1)))
    return jobs


def test_amp_aot_no_spills(aot_results):
    assert len(aot_results) == 2 * 3
    aot.assert_no_spills(aot_results)
