"""`framework.nn.utils`: helpers around the layers (`rnn`: packed and padded variable-length batches)."""
from . import rnn  # noqa: F401
