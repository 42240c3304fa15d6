"""Weights for `framework.models`: the files shipped in `weights/`, or a user's file or folder.

Each shipped `weights/<name>.safetensors` holds a model's state dict only (written by
`examples/train.py --save-weights`) and has a `weights/<name>.sha256` beside it, in
`sha256sum`'s format, so `cd framework/models/weights && sha256sum -c *.sha256` checks them
too. A file is read once, and its bytes are hashed before anything in them is decoded: a
mismatch raises RuntimeError naming the file, and no model is touched.
"""
import hashlib
import io
import os
import pathlib

from ..serialization import load

WEIGHTS_DIR = pathlib.Path(__file__).resolve().with_name("weights")


def sha256_file(path):
    """The `.sha256` file recording the hash of the weights file `path` (`x.safetensors` -> `x.sha256`)."""
    return pathlib.Path(path).with_suffix(".sha256")


def recorded_sha256(path):
    """The hex SHA-256 recorded beside the weights file `path`, or None when there is no record."""
    record = sha256_file(path)
    if not record.is_file():
        return None
    return record.read_text().split()[0].lower()


def load_weights(path, sha256=None, map_location=None):
    """The state dict stored in the safetensors file `path`.

    Its bytes must hash to `sha256` when given, else to the `.sha256` record beside `path`
    when there is one (a user's file without a record loads unchecked). A file written by
    PyTorch (`safetensors.torch.save_file(model.state_dict(), ...)`) loads as a dict of its
    tensors by name; an `examples/train.py` checkpoint gives its `"model"` entry.
    """
    path = pathlib.Path(path)
    data = path.read_bytes()
    expected = sha256 if sha256 is not None else recorded_sha256(path)
    if expected is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected.lower():
            raise RuntimeError(f"framework.models: weights file '{path}' fails its SHA-256 check (corrupted or "
                               f"tampered?): its hash is {actual}, the recorded one {expected}; nothing was loaded")
    file = io.BytesIO(data)
    file.name = str(path)  # framework.load names the file in its own errors
    state = load(file, map_location=map_location)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    return state


def load_pretrained(model, name, pretrained):
    """Load weights into `model`, built by the registered builder `name`, as `pretrained` says:

    * False or None: nothing, the model keeps its random initialisation;
    * True: the shipped `weights/<name>.safetensors`, which must match its recorded SHA-256;
    * a path: that safetensors file, or `<path>/<name>.safetensors` when it is a folder.

    Keys and shapes must match the model's exactly: `load_state_dict` lists the missing and
    unexpected keys and every shape mismatch.
    """
    if pretrained is False or pretrained is None:
        return model
    if pretrained is True:
        path = WEIGHTS_DIR / f"{name}.safetensors"
        expected = recorded_sha256(path)
        if expected is None:
            raise RuntimeError(f"framework.models: no recorded SHA-256 for the shipped weights '{path}' "
                               f"(expected '{sha256_file(path)}'); the installation is incomplete")
    elif isinstance(pretrained, (str, os.PathLike)):
        path, expected = pathlib.Path(pretrained), None
        if path.is_dir():
            path = path / f"{name}.safetensors"
    else:
        raise TypeError(f"pretrained must be a bool or a path to a .safetensors file or folder, "
                        f"got {type(pretrained).__name__}")
    model.load_state_dict(load_weights(path, sha256=expected))
    return model
