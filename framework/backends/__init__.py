"""Device backends: each registers its kernel pairs in framework.autograd.registry."""
from . import cudnn  # noqa: F401,E402  (PyTorch scripts set torch.backends.cudnn flags)
