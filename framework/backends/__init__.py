"""Device backends: each registers its kernel pairs in framework.autograd.registry, and its device backend object
(allocation, copies, random stream, multi-tensor launches) in device_backend.py.

Also PyTorch's `torch.backends` switches: `framework.backends.cudnn` (convolutions), `framework.backends.cuda`
(matmul precision; loading it loads the cuda backend, which imports Triton, so it comes on first use) and
`framework.backends.mps` (no Apple GPU here).
"""
from . import cudnn, mps  # noqa: F401,E402  (PyTorch scripts set torch.backends.cudnn flags)
from .device_backend import register_loader


def _load_cuda():
    """The cuda backend (it imports Triton) loads on first use, once the device is known to be usable: otherwise
    the error says what is missing and how to run `cuda` in Triton's interpreter."""
    from .. import cuda
    cuda._require_available()  # imports framework.backends.cuda, whose backend.py registers itself


register_loader("cuda", _load_cuda)


def __getattr__(name):
    if name == "cuda":  # `framework.backends.cuda.matmul.allow_tf32 = True` before any cuda tensor exists
        import importlib
        return importlib.import_module(".cuda", __name__)
    raise AttributeError(f"module 'framework.backends' has no attribute '{name}'")
