"""`framework.backends.cudnn`: PyTorch's cuDNN switches, which CNN scripts set (`torch.backends.cudnn.benchmark =
True`). There is no cuDNN here: convolutions run framework's own Triton kernels (triton_kernels/conv.py).

allow_tf32   float32 convolutions may use TF32 tensor cores on a GPU (PyTorch's default: True, unlike matmuls'
             framework.backends.cuda.matmul.allow_tf32, default False).
benchmark    (default False) on a GPU, the convolution forward and input-gradient kernels time their candidate tiles
             once per problem (sizes, strides, dtype) and keep the fastest, as cuDNN benchmarks its algorithms;
             off, a size rule picks (triton_kernels/conv.py, tuning.py). framework.use_deterministic_algorithms
             stops it (the choice by timing may differ run to run).
deterministic, enabled   accepted; the convolution kernels are deterministic (no atomics; the weight gradient's
             split reduction is summed in a fixed order) and are framework's own whatever `enabled` says.
"""
allow_tf32 = True
benchmark = False
deterministic = False
enabled = True


def is_available():
    """Whether cuDNN is there: never (framework's convolutions are its own kernels)."""
    return False


def version():
    return None
