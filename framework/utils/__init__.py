"""`framework.utils`, as `torch.utils`: the data loading utilities and DLPack exchange."""
from . import data, dlpack  # noqa: F401
