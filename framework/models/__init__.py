"""Pre-trained models: builders by name, with weights shipped in the package (no download).

    import framework.models
    model = framework.models.get_model("digits_mlp", pretrained=True)   # or digits_mlp(pretrained=True)
    framework.models.list_models()    # ['digits_cnn', 'digits_mlp', 'digits_mlp_wide', 'stdlib_char_gpt']

`pretrained=True` loads `weights/<name>.safetensors` after checking its SHA-256 against
`weights/<name>.sha256`; `pretrained="path"` loads a user's safetensors file (or
`path/<name>.safetensors`), PyTorch's included. Each builder's docstring gives its
architecture, data, training command and held-out accuracy (validation loss for the GPT).
"""
from .cnn import ConvNet, digits_cnn
from .gpt import CharGPT, stdlib_char_gpt
from .mlp import NeuralNetwork, digits_mlp, digits_mlp_wide
from .pretrained import load_weights
from .registry import get_model, list_models

__all__ = ["CharGPT", "ConvNet", "NeuralNetwork", "digits_cnn", "digits_mlp", "digits_mlp_wide", "get_model",
           "list_models", "load_weights", "stdlib_char_gpt"]
