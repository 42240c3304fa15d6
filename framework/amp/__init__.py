"""`framework.amp`, as `torch.amp`: mixed precision. GradScaler scales losses so float16 gradients do not
underflow, and skips steps whose gradients overflowed."""
from .grad_scaler import GradScaler  # noqa: F401
