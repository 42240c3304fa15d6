"""`framework.optim`: optimizers and learning-rate schedulers, as `torch.optim` spells them.

Update rules are PyTorch's single-tensor (foreach=False) ones, computed in the
same order, so a training run's parameters follow PyTorch's to float rounding.
"""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Adagrad", "Adam", "Adamax", "AdamW", "NAdam", "Optimizer", "RAdam", "RMSprop", "SGD", "lr_scheduler"]
