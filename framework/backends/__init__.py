"""Device backends: each registers its kernel pairs in framework.autograd.registry.

Also PyTorch's `torch.backends` switches: `framework.backends.cudnn` (convolutions), `framework.backends.cuda`
(matmul precision; loading it loads the cuda backend, which imports Triton, so it comes on first use) and
`framework.backends.mps` (no Apple GPU here).
"""
from . import cudnn, mps  # noqa: F401,E402  (PyTorch scripts set torch.backends.cudnn flags)


def __getattr__(name):
    if name == "cuda":  # `framework.backends.cuda.matmul.allow_tf32 = True` before any cuda tensor exists
        import importlib
        return importlib.import_module(".cuda", __name__)
    raise AttributeError(f"module 'framework.backends' has no attribute '{name}'")
