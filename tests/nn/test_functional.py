"""The functional-only helpers: one_hot, normalize, relu variants, and the module list of framework.nn."""
import numpy as np
import pytest

import framework as fw
import framework.nn.functional as F
from framework import nn
from helpers import check_op, random_array, raises_like_torch, requires_torch, torch

TF = torch.nn.functional if torch is not None else None


def test_one_hot():
    out = F.one_hot(fw.tensor([[0, 2], [1, 0]]))
    assert out.dtype is fw.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[[0, 2], [1, 0]]])
    assert F.one_hot(fw.tensor([1]), 4).tolist() == [[0, 1, 0, 0]]
    assert F.one_hot(fw.zeros(0, dtype=fw.int64), 3).shape == (0, 3)


@requires_torch
def test_one_hot_errors_match_torch():
    for fw_in, t_in, kwargs in [(fw.tensor([1.0]), torch.tensor([1.0]), {}),
                                (fw.tensor([1, -2]), torch.tensor([1, -2]), {}),
                                (fw.tensor([1, 5]), torch.tensor([1, 5]), {"num_classes": 3}),
                                (fw.zeros(0, dtype=fw.int64), torch.zeros(0, dtype=torch.int64), {})]:
        ours = raises_like_torch(lambda: F.one_hot(fw_in, **kwargs), lambda: TF.one_hot(t_in, **kwargs))
        with pytest.raises(Exception) as theirs:
            TF.one_hot(t_in, **kwargs)
        assert ours == str(theirs.value)


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize(rng, p, dim):
    x = random_array(rng, (4, 5), "float64")
    check_op(lambda a: F.normalize(a, p, dim), lambda a: a / np.sum((a * np.sign(a.real)) ** p, axis=dim,
                                                                    keepdims=True) ** (1 / p),
             TF and (lambda a: TF.normalize(a, p, dim)), x, rng=rng)


def test_relu_variants(rng):
    x = random_array(rng, (3, 4), "float32")
    expected = np.maximum(x, 0)
    np.testing.assert_array_equal(F.relu(fw.tensor(x)).numpy(), expected)
    y = fw.tensor(x)
    assert F.relu_(y) is y and np.array_equal(y.numpy(), expected)


def test_exports_match_torch_nn_names():
    names = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Linear", "Identity", "Flatten",
             "Unflatten", "Dropout", "Embedding", "LayerNorm", "BatchNorm1d", "ReLU", "LeakyReLU", "GELU", "SiLU",
             "Sigmoid", "Tanh", "Softplus", "Softmax", "LogSoftmax", "MSELoss", "L1Loss", "HuberLoss",
             "SmoothL1Loss", "NLLLoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "functional", "init",
             "utils", "Bilinear", "PReLU", "ELU", "CELU", "SELU", "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid",
             "Mish", "LogSigmoid", "Softsign", "Tanhshrink", "Threshold", "Softmin", "GroupNorm", "ParameterList",
             "ParameterDict", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss", "CosineEmbeddingLoss",
             "MarginRankingLoss", "HingeEmbeddingLoss", "TripletMarginLoss", "SoftMarginLoss",
             "MultiLabelSoftMarginLoss"]
    for name in names:
        assert hasattr(nn, name), name
        if torch is not None:
            assert hasattr(torch.nn, name), name
    for name in ["linear", "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softplus", "softmax",
                 "log_softmax", "dropout", "embedding", "one_hot", "layer_norm", "batch_norm", "mse_loss", "l1_loss",
                 "huber_loss", "smooth_l1_loss", "nll_loss", "cross_entropy", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits", "normalize", "logsigmoid", "softmin", "elu", "elu_", "selu",
                 "selu_", "celu", "celu_", "hardtanh", "hardtanh_", "relu6", "hardswish", "hardsigmoid", "mish",
                 "threshold", "threshold_", "softsign", "tanhshrink", "prelu", "bilinear", "group_norm", "kl_div",
                 "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss", "margin_ranking_loss",
                 "hinge_embedding_loss", "triplet_margin_loss", "soft_margin_loss", "multilabel_soft_margin_loss"]:
        assert callable(getattr(F, name)), name
        if torch is not None:
            assert callable(getattr(torch.nn.functional, name)), name
    for name in ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
                 "parameters_to_vector", "vector_to_parameters"]:
        assert callable(getattr(nn.utils, name)), name
        if torch is not None:
            assert callable(getattr(torch.nn.utils, name)), name
