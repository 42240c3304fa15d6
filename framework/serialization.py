"""framework.save / framework.load: checkpoints as safetensors files.

Layout of a file written by `save(obj, f)`:

* Every tensor in `obj` is one safetensors tensor (its dtype, bfloat16 as BF16), named
  by its path of keys and positions joined with dots: a model's state dict keeps its own
  names (`layers.0.weight`), an optimizer's gives `state.0.exp_avg`. A tensor that
  appears twice is stored once, and so are tensors on the same array (a state dict's
  `detach()`ed entries of one tied parameter, as PyTorch shares their storage); a name
  taken twice gets a `#2`, `#3`... suffix.
* `__metadata__` holds three strings:
  - `format`: `pt`, as PyTorch's safetensors files (tools such as transformers check it);
  - `framework.structure`: JSON of `obj` with each tensor replaced by
    `{"__tensor__": name}`. str, int, float (inf and nan too), bool, None and lists are
    themselves; a dict whose keys are all strings (none of them a tag below) is a JSON
    object; any other dict is `{"__dict__": [[key, value], ...]}`; a tuple is
    `{"__tuple__": [...]}`; a dtype `{"__dtype__": "float32"}`; a device `{"__device__": "cpu"}`;
    a numpy scalar is stored as the Python number it holds;
  - `framework.crc32`: the decimal CRC-32 of the structure and of every tensor's name, dtype, shape
    and bytes, so a damaged file is an error rather than wrong weights (files from other
    writers carry no checksum: damage there shows only where it breaks the format).
So `load` returns an equal object: int keys stay ints, tuples stay tuples. A file without
`framework.structure` (written by PyTorch or safetensors directly) loads as a dict of its
tensors by name, in name order.

Tensors load on the CPU (or on `map_location`), as plain tensors that do not require
grad. Loading never runs code from the file: `weights_only` is accepted for PyTorch's
signature and changes nothing. Files are written atomically (a temporary file in the same
folder, flushed, fsynced, then renamed over the target): a crash mid-save leaves the old
checkpoint. A truncated or corrupted file, or one that is not safetensors, raises
RuntimeError naming the file.
"""
import json
import os
import uuid
import zlib

import numpy as np

from . import dtypes
from .creation import from_numpy
from .device import device as _device
from .tensor import Tensor

_STRUCTURE, _CRC = "framework.structure", "framework.crc32"
_TAGS = ("__tensor__", "__dict__", "__tuple__", "__dtype__", "__device__")
_DTYPES = {"F64": dtypes.float64, "F32": dtypes.float32, "F16": dtypes.float16, "BF16": dtypes.bfloat16,
           "I64": dtypes.int64, "I32": dtypes.int32, "I16": dtypes.int16, "I8": dtypes.int8, "U8": dtypes.uint8,
           "BOOL": dtypes.bool}


def save(obj, f):
    """Write `obj` (a tensor, or dicts/lists/tuples of tensors and plain values) to `f`:
    a path (str or os.PathLike) or a binary file object with `write`."""
    import safetensors.numpy  # here, not at the top: `import framework` stays light
    arrays, names = {}, {}
    structure = json.dumps(_encode(obj, "", arrays, names), separators=(",", ":"))
    metadata = {"format": "pt", _STRUCTURE: structure, _CRC: _checksum(structure, arrays)}
    data = safetensors.numpy.save(arrays, metadata=metadata)
    if hasattr(f, "write"):
        f.write(data)
        if hasattr(f, "flush"):
            f.flush()
    else:
        _write_atomically(os.fspath(f), data)


def load(f, map_location=None, weights_only=True):
    """Read what `save` wrote (or any safetensors file) from a path or a binary file object
    with `read`; tensors go to `map_location` (a device or its name; the CPU by default)."""
    import safetensors
    name = _name_of(f)
    if hasattr(f, "read"):
        data = f.read()
    else:
        with open(os.fspath(f), "rb") as file:
            data = file.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"framework.load: {name} must be opened in binary mode, read() returned {type(data).__name__}")
    try:
        entries = safetensors.deserialize(bytes(data))
        metadata = _metadata(data)
    except Exception as error:  # safetensors raises its own error types, and json may fail on the header
        raise RuntimeError(f"framework.load: {name} is not a valid safetensors file (truncated or corrupted?): "
                           f"{error}") from None
    if map_location is not None and not isinstance(map_location, (str, _device)):
        raise TypeError(f"framework.load: map_location must be a device or its name, got {map_location!r}")
    target = None if map_location is None else _device(map_location)
    arrays = {key: _to_array(name, key, spec) for key, spec in entries}
    if (_STRUCTURE in metadata) != (_CRC in metadata) or (
            _CRC in metadata and _checksum(metadata[_STRUCTURE], arrays) != metadata[_CRC]):
        raise RuntimeError(f"framework.load: {name} is corrupted: it fails its CRC-32 check")
    tensors = {key: _to_tensor(array, target) for key, array in arrays.items()}
    if _STRUCTURE not in metadata:
        return {key: tensors[key] for key in sorted(tensors)}
    try:
        return _decode(json.loads(metadata[_STRUCTURE]), tensors)
    except (ValueError, KeyError, TypeError) as error:
        raise RuntimeError(f"framework.load: {name} has a damaged {_STRUCTURE} entry: {error!r}") from None


# ---- the structure ----------------------------------------------------------

def _encode(obj, path, arrays, names):
    """obj as JSON-ready values; its tensors go into `arrays` by name (`names`: id of the tensor's array -> name:
    a tensor and its detach() hold the same array object, hence the same values)."""
    if isinstance(obj, Tensor):
        if id(obj._data) not in names:
            name, n = path, 1
            while name in arrays:
                n += 1
                name = f"{path}#{n}"
            names[id(obj._data)] = name
            arrays[name] = np.array(obj.detach().cpu().numpy(), order="C", copy=None)  # keeps 0-d as 0-d
        return {"__tensor__": names[id(obj._data)]}
    if isinstance(obj, np.generic):  # numpy scalars are stored as the Python numbers they hold
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dtypes.dtype):
        return {"__dtype__": obj.name}
    if isinstance(obj, _device):
        return {"__device__": str(obj)}
    child = (lambda key: f"{path}.{key}") if path else str
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, child(i), arrays, names) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, child(i), arrays, names) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(key, str) and key not in _TAGS for key in obj):
            return {key: _encode(value, child(key), arrays, names) for key, value in obj.items()}
        return {"__dict__": [[_encode_key(key), _encode(value, child(key), arrays, names)]
                             for key, value in obj.items()]}
    raise TypeError(f"framework.save cannot store {type(obj).__name__} (at {path or 'the top level'}): "
                    "only tensors, dicts, lists, tuples, str, int, float, bool, None, dtypes and devices")


def _encode_key(key):
    if isinstance(key, Tensor) or isinstance(key, tuple) and any(isinstance(k, Tensor) for k in key):
        raise TypeError("framework.save cannot store a dict keyed by tensors")
    return _encode(key, "", {}, {})


def _decode(value, tensors):
    """The inverse of _encode."""
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, content), = value.items()
        if tag == "__tensor__":
            return tensors[content]
        if tag == "__tuple__":
            return tuple(_decode(v, tensors) for v in content)
        if tag == "__dict__":
            return {_decode(k, tensors): _decode(v, tensors) for k, v in content}
        if tag == "__dtype__":
            return dtypes._from_name(content)
        if tag == "__device__":
            return _device(content)
    return {key: _decode(v, tensors) for key, v in value.items()}


# ---- files and bytes --------------------------------------------------------

def _checksum(structure, arrays):
    """CRC-32 of the structure and of each tensor's name, dtype, shape and bytes, in name order."""
    crc = zlib.crc32(structure.encode())
    for key in sorted(arrays):
        array = arrays[key]
        crc = zlib.crc32(f"{key}:{array.dtype.name}:{array.shape}".encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(array).reshape(-1).view(np.uint8), crc)
    return str(crc)


def _metadata(data):
    """The header's __metadata__ (safetensors' numpy API does not return it)."""
    header_size = int.from_bytes(bytes(data[:8]), "little")
    return json.loads(bytes(data[8:8 + header_size])).get("__metadata__") or {}


def _to_array(name, key, spec):
    if spec["dtype"] not in _DTYPES:
        raise RuntimeError(f"framework.load: {name}: tensor {key!r} has dtype {spec['dtype']}, which framework "
                           "does not support")
    array = np.frombuffer(spec["data"], dtype=_DTYPES[spec["dtype"]].np).reshape(spec["shape"])
    if not array.flags.writeable:  # safetensors hands out bytearrays (writable); copy if that changes
        array = array.copy()
    return array


def _to_tensor(array, device):
    tensor = from_numpy(array)
    return tensor if device is None or device.type == "cpu" else tensor.to(device)


def _name_of(f):
    if hasattr(f, "read") or hasattr(f, "write"):
        return repr(getattr(f, "name", f))
    return repr(os.fspath(f))


def _write_atomically(path, data):
    """Write to a temporary file beside `path`, fsync it, rename it over `path`, fsync the folder."""
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(temporary, "xb") as file:  # honours the umask, unlike mkstemp's 0600
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
