"""`framework.backends.cudnn`: PyTorch's cuDNN switches, which CNN scripts set (`torch.backends.cudnn.benchmark =
True`). There is no cuDNN here: convolutions run framework's own Triton kernels (triton_kernels/conv.py).

allow_tf32   float32 convolutions may use TF32 tensor cores on a GPU (PyTorch's default: True, unlike matmuls'
             framework.backends.cuda.matmul.allow_tf32, default False).
benchmark    accepted and ignored: the convolution kernels pick their tiles by a size rule.
deterministic, enabled   accepted; the kernels are deterministic (no atomics) whatever they say.
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
