"""`framework.utils`, as `torch.utils`: for now the data loading utilities."""
from . import data  # noqa: F401
