"""`framework.amp`, as `torch.amp`: mixed precision. `autocast` regions run each op in the precision
PyTorch's autocast policy gives it; GradScaler scales losses so float16 gradients do not underflow, and skips
steps whose gradients overflowed."""
from .autocast_mode import (autocast, clear_autocast_cache, get_autocast_dtype, is_autocast_cache_enabled,  # noqa: F401
                            is_autocast_enabled)
from .grad_scaler import GradScaler  # noqa: F401
