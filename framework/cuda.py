"""`framework.cuda`: the CUDA device. Its kernels live in triton_kernels/ (the Triton backend issue);
until that backend is present no GPU is reported available."""


def is_available():
    return False


def device_count():
    return 0


def _require_available():
    if not is_available():
        raise RuntimeError("Found no NVIDIA driver on your system, or the CUDA backend of framework is not "
                           "available: no CUDA GPUs are available")


def current_device():
    _require_available()
    return 0


def synchronize(device=None):
    _require_available()


def manual_seed(seed):
    """Seeds the CUDA generator; a no-op without a GPU, as in PyTorch."""


manual_seed_all = manual_seed
