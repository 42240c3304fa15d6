"""`framework.backends.mps`: Apple's Metal GPUs, which this framework does not drive (its GPU kernels are
Triton's, for NVIDIA GPUs). Scripts ask before choosing a device: the answers are PyTorch's on a machine
without MPS."""


def is_available():
    """Whether an MPS device can be used: never here."""
    return False


def is_built():
    """Whether framework was built with MPS support: no."""
    return False
