"""`framework.optim`: optimizers and learning-rate schedulers, as `torch.optim` spells them.

Update rules are PyTorch's single-tensor (foreach=False) ones, computed in the
same order, so a training run's parameters follow PyTorch's to float rounding.
"""
from . import lr_scheduler
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
