"""The two ways kernels are proven without a GPU: Triton's interpreter over HostTensor-wrapped
numpy arrays, and ahead-of-time compilation for sm_80/sm_90."""
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before any @triton.jit decoration runs
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

triton = pytest.importorskip("triton", reason="Triton has no wheel for this platform")
import triton.language as tl  # noqa: E402

from triton_kernels import aot  # noqa: E402
from triton_kernels.host_tensor import HostTensor  # noqa: E402


@triton.jit
def _scaled_add_kernel(x_ptr, y_ptr, out_ptr, n_elements, scale, BLOCK_SIZE: tl.constexpr):
    # One program adds BLOCK_SIZE elements: out = x * scale + y, computed in fp32.
    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n_elements
    x = tl.load(x_ptr + offs, mask=mask).to(tl.float32)
    y = tl.load(y_ptr + offs, mask=mask).to(tl.float32)
    tl.store(out_ptr + offs, (x * scale + y).to(out_ptr.dtype.element_ty), mask=mask)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16])
def test_interpreter_reads_and_writes_views_of_numpy_arrays(dtype):
    rng = np.random.default_rng()
    storage = rng.standard_normal(64).astype(dtype)
    x = storage[7:44]  # a view at an offset: the kernel must see exactly these elements
    y = rng.standard_normal(37).astype(dtype)
    out_storage = np.full(50, 7, dtype=dtype)
    out = out_storage[3:40]
    _scaled_add_kernel[(3,)](HostTensor(x), HostTensor(y), HostTensor(out), 37, 0.5, BLOCK_SIZE=16)
    expected = (x.astype(np.float64) * 0.5 + y.astype(np.float64)).astype(dtype)
    np.testing.assert_allclose(out.astype(np.float64), expected.astype(np.float64), rtol=1e-2 if dtype != np.float32 else 1e-6)
    assert np.all(out_storage[:3] == 7) and np.all(out_storage[40:] == 7)  # nothing written outside the view


def test_host_tensor_reports_offset_sizes_and_strides():
    base = np.zeros((4, 6), dtype=np.float32)
    view = HostTensor(base[1:, ::2])
    assert view.storage_offset() == 6 and view.size() == (3, 3) and view.stride() == (6, 2)
    assert view.untyped_storage().data_ptr() == base.__array_interface__["data"][0]


def aot_jobs():
    """Both architectures' compiles of the kernel above (tests/triton_kernels/conftest.py runs them)."""
    signature = {"x_ptr": "*bf16", "y_ptr": "*bf16", "out_ptr": "*bf16", "n_elements": "i32", "scale": "fp32",
                 "BLOCK_SIZE": "constexpr"}
    return [(arch, aot.job(_scaled_add_kernel, signature, {"BLOCK_SIZE": 1024}, arch, num_warps=4))
            for arch in aot.ARCHITECTURES]


@pytest.mark.parametrize("arch", aot.ARCHITECTURES)
def test_ahead_of_time_compilation_reports_resources(arch, aot_results):
    compiled = dict(aot_results)[arch]
    assert compiled.arch == arch and compiled.spilled_bytes == 0
    assert 0 < compiled.registers <= 255
    assert ".entry" in compiled.ptx and not compiled.uses_wgmma  # no dot: no tensor-core instructions
