"""framework.save / framework.load: safetensors round trips, the structure layout, atomic writes, bad files."""
import io
import json
import math
import os
import pathlib

import numpy as np
import pytest

safetensors_numpy = pytest.importorskip("safetensors.numpy")

import framework as fw  # noqa: E402
from helpers import DTYPE_NAMES, make_tensor, np_dtype, random_array, requires_torch, torch  # noqa: E402


class NeuralNetwork(fw.nn.Module):  # the tutorial's model
    def __init__(self, num_inputs, num_outputs):
        super().__init__()
        self.layers = fw.nn.Sequential(fw.nn.Linear(num_inputs, 30), fw.nn.ReLU(), fw.nn.Linear(30, 20),
                                       fw.nn.ReLU(), fw.nn.Linear(20, num_outputs))

    def forward(self, x):
        return self.layers(x)


def _array(rng, shape, name):
    if name == "bool":
        return rng.random(shape) < 0.5
    if name in ("uint8", "int8", "int16", "int32", "int64"):
        info = np.iinfo(name)
        return rng.integers(info.min, info.max, shape, dtype=name, endpoint=True)
    return random_array(rng, shape, name, low=-1e3, high=1e3)


def _assert_same(got, expected, where="obj"):
    """Equal structure and types all the way down; tensors equal bit for bit, with their dtype and shape."""
    assert type(got) is type(expected) or isinstance(expected, fw.Tensor), f"{where}: {type(got)} != {type(expected)}"
    if isinstance(expected, fw.Tensor):
        assert type(got) is fw.Tensor and got.dtype is expected.dtype and got.shape == expected.shape, where
        host, want = got.numpy(), expected.detach().numpy()
        assert host.tobytes() == np.ascontiguousarray(want).tobytes(), where
    elif isinstance(expected, dict):
        assert list(got) == list(expected), where
        for key in expected:
            assert type(next(k for k in got if k == key)) is type(key), f"{where}: key {key!r}"
            _assert_same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected)):
            _assert_same(a, b, f"{where}[{i}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got), where
    else:
        assert got == expected, where


SAFETENSORS_CODES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "int32": "I32", "int64": "I64",
                     "float16": "F16", "bfloat16": "BF16", "float32": "F32", "float64": "F64"}


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_every_dtype_round_trips(tmp_path, rng, name):
    shapes = [(), (0,), (1,), (3, 0, 2), (7, 13), (2, 3, 5)]
    state = {f"t{i}": make_tensor(_array(rng, shape, name)) for i, shape in enumerate(shapes)}
    state["view"] = make_tensor(_array(rng, (6, 8), name))[1::2, ::3].transpose(0, 1)  # non-contiguous
    fw.save(state, tmp_path / "x.safetensors")
    loaded = fw.load(tmp_path / "x.safetensors")
    _assert_same(loaded, state)
    assert _header(tmp_path / "x.safetensors")["t4"]["dtype"] == SAFETENSORS_CODES[name]
    assert loaded["t4"].numpy().flags.writeable  # in-place ops on loaded tensors are fine


def _header(path):
    raw = pathlib.Path(path).read_bytes()
    return json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])


def _optimizer_like(rng):
    exp_avg = make_tensor(random_array(rng, (4, 3), "float32"))
    return {
        "state": {0: {"step": fw.tensor(3.0), "exp_avg": exp_avg, "exp_avg_sq": make_tensor(random_array(rng, (4, 3),
                                                                                                          "bfloat16"))},
                  1: {"step": fw.tensor(3.0), "momentum_buffer": None}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
                          "foreach": None, "params": [0, 1], "name": "all", "big": 2**70, "inf": float("inf"),
                          "nan": float("nan"), "nested": [(1, [2, (3.5,)]), {}], "dtype": fw.bfloat16,
                          "device": fw.device("cpu")}],
        (1, "tuple key"): [exp_avg],  # shared tensor: stored once, loaded as one object
        2.5: "float key", None: True, "__tensor__": "a key that looks like a tag",
    }


def test_nested_objects_round_trip_exactly(tmp_path, rng):
    obj = _optimizer_like(rng)
    fw.save(obj, str(tmp_path / "opt.safetensors"))
    loaded = fw.load(str(tmp_path / "opt.safetensors"))
    _assert_same(loaded, obj)
    assert loaded[(1, "tuple key")][0] is loaded["state"][0]["exp_avg"]
    keys = [k for k in _header(tmp_path / "opt.safetensors") if k != "__metadata__"]
    assert sorted(keys) == ["state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step", "state.1.step"]


def test_top_level_tensor_list_and_name_collisions(tmp_path):
    for obj in (fw.arange(5), [fw.ones(2), (fw.zeros(1), 3)], {"a.b": fw.ones(1), "a": {"b": fw.zeros(1)}}):
        fw.save(obj, tmp_path / "o")
        _assert_same(fw.load(tmp_path / "o"), obj)


@pytest.mark.skipif(not hasattr(fw, "optim"), reason="framework.optim is not there yet")
def test_real_optimizer_state_dict_round_trips(tmp_path):
    model = NeuralNetwork(5, 2)
    optimizer = fw.optim.Adam(model.parameters(), lr=1e-3)
    model(fw.randn(4, 5)).sum().backward()
    optimizer.step()
    fw.save(optimizer.state_dict(), tmp_path / "opt")
    _assert_same(fw.load(tmp_path / "opt"), optimizer.state_dict())


def test_model_state_dict_keeps_pytorch_key_names(tmp_path):
    model = NeuralNetwork(50, 3)
    fw.save(model.state_dict(), tmp_path / "model.safetensors")
    arrays = safetensors_numpy.load_file(tmp_path / "model.safetensors")
    assert sorted(arrays) == sorted(model.state_dict())
    other = NeuralNetwork(50, 3)
    other.load_state_dict(fw.load(tmp_path / "model.safetensors"))
    x = fw.randn(4, 50)
    assert other(x).tolist() == model(x).tolist()


def test_tied_parameter_is_stored_once_and_loads_into_both_names(tmp_path):
    """A parameter two modules share (a language model's head tied to its embedding) is two state-dict entries,
    each a detach() of it: one array in the file, as PyTorch keeps their one storage once."""
    embedding, head = fw.nn.Embedding(5, 3), fw.nn.Linear(3, 5, bias=False)
    head.weight = embedding.weight
    model = fw.nn.ModuleDict({"embedding": embedding, "head": head})
    state = model.state_dict()
    assert list(state) == ["embedding.weight", "head.weight"] and state["head.weight"] is not state["embedding.weight"]
    fw.save(state, tmp_path / "tied.safetensors")
    assert [k for k in _header(tmp_path / "tied.safetensors") if k != "__metadata__"] == ["embedding.weight"]
    loaded = fw.load(tmp_path / "tied.safetensors")
    assert loaded["head.weight"] is loaded["embedding.weight"]
    other = fw.nn.ModuleDict({"embedding": fw.nn.Embedding(5, 3), "head": fw.nn.Linear(3, 5, bias=False)})
    other.load_state_dict(loaded)
    assert other["head"].weight.tolist() == other["embedding"].weight.tolist() == embedding.weight.tolist()
    # equal values in two arrays are two tensors: only the same array is shared
    fw.save({"a": fw.ones(2), "b": fw.ones(2)}, tmp_path / "two.safetensors")
    assert sorted(k for k in _header(tmp_path / "two.safetensors") if k != "__metadata__") == ["a", "b"]


def test_safetensors_file_with_pytorch_keys_loads_into_the_model(tmp_path, rng):
    shapes = {"layers.0.weight": (30, 50), "layers.0.bias": (30,), "layers.2.weight": (20, 30),
              "layers.2.bias": (20,), "layers.4.weight": (3, 20), "layers.4.bias": (3,)}
    arrays = {key: random_array(rng, shape, "float32") for key, shape in shapes.items()}
    safetensors_numpy.save_file(arrays, tmp_path / "torch.safetensors", metadata={"format": "pt"})
    model = NeuralNetwork(50, 3)
    assert repr(model.load_state_dict(fw.load(tmp_path / "torch.safetensors"))) == "<All keys matched successfully>"
    x = random_array(rng, (7, 50), "float32")
    h = np.maximum(x.astype(np.float64) @ arrays["layers.0.weight"].T + arrays["layers.0.bias"], 0)
    h = np.maximum(h @ arrays["layers.2.weight"].T + arrays["layers.2.bias"], 0)
    expected = h @ arrays["layers.4.weight"].T + arrays["layers.4.bias"]
    np.testing.assert_allclose(model(fw.tensor(x)).detach().numpy(), expected, rtol=1e-4, atol=1e-5)


@requires_torch
def test_file_written_by_pytorch_loads(tmp_path):
    import safetensors.torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(50, 30), torch.nn.ReLU(), torch.nn.Linear(30, 20), torch.nn.ReLU(),
                              torch.nn.Linear(20, 3))
    state = {"layers." + k: v for k, v in net.state_dict().items()}
    state["extra_bf16"] = torch.randn(3, 4, dtype=torch.bfloat16)
    safetensors.torch.save_file(state, tmp_path / "t.safetensors")
    loaded = fw.load(tmp_path / "t.safetensors")
    assert list(loaded) == sorted(state)
    assert loaded["extra_bf16"].dtype is fw.bfloat16
    assert loaded["extra_bf16"].float().tolist() == state["extra_bf16"].float().tolist()
    model = NeuralNetwork(50, 3)
    model.load_state_dict({k: v for k, v in loaded.items() if k.startswith("layers.")})
    x = np.random.default_rng(0).standard_normal((2, 50)).astype(np.float32)
    np.testing.assert_allclose(model(fw.tensor(x)).detach().numpy(), net(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_file_objects(rng):
    obj = _optimizer_like(rng)
    buffer = io.BytesIO()
    fw.save(obj, buffer)
    buffer.seek(0)
    _assert_same(fw.load(buffer), obj)


def test_text_mode_file_is_rejected(tmp_path):
    fw.save({"a": fw.ones(1)}, tmp_path / "a")
    with open(tmp_path / "a", encoding="latin-1") as text, pytest.raises(TypeError, match="binary mode"):
        fw.load(text)


def test_map_location(tmp_path):
    fw.save({"w": fw.ones(2)}, tmp_path / "w")
    assert fw.load(tmp_path / "w", map_location="cpu")["w"].device == fw.device("cpu")
    assert fw.load(tmp_path / "w", map_location=fw.device("cpu"))["w"].device == fw.device("cpu")
    with pytest.raises(TypeError, match="map_location"):
        fw.load(tmp_path / "w", map_location={"cuda:0": "cpu"})
    if fw.cuda.is_available():
        moved = fw.load(tmp_path / "w", map_location="cuda")["w"]
        assert moved.is_cuda and moved.cpu().tolist() == [1.0, 1.0]


def test_unsupported_objects_raise_and_leave_no_file(tmp_path):
    with pytest.raises(TypeError, match="cannot store set"):
        fw.save({"a": {1, 2}}, tmp_path / "bad")
    with pytest.raises(TypeError, match="keyed by tensors"):
        fw.save({fw.ones(1): 1}, tmp_path / "bad")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_failed_save_leaves_the_old_checkpoint(tmp_path, monkeypatch, failing):
    path = tmp_path / "ckpt.safetensors"
    fw.save({"w": fw.ones(3)}, path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk on fire")
    if failing == "write":  # fail after part of the data went out
        real_open = open

        class HalfWriter:
            def __init__(self, *args):
                self.file = real_open(*args)

            def write(self, data):
                self.file.write(data[:len(data) // 2])
                fail()

            def __getattr__(self, name):
                return getattr(self.file, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.file.close()
        monkeypatch.setattr("builtins.open", HalfWriter)
    else:
        monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match="disk on fire"):
        fw.save({"w": fw.zeros(300)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]
    assert fw.load(path)["w"].tolist() == [1.0, 1.0, 1.0]


def _damaged_files(good):
    header_size = int.from_bytes(good[:8], "little")
    yield "empty", b""
    yield "short", good[:5]
    for cut in (9, 8 + header_size // 2, 8 + header_size, len(good) - 1):
        yield f"truncated at {cut}", good[:cut]
    yield "size field", (2**40).to_bytes(8, "little") + good[8:]
    yield "header size", (header_size + 8).to_bytes(8, "little") + good[8:]
    for position in (len(good) - 1, len(good) // 2 + header_size // 2, 8 + header_size):
        data = bytearray(good)
        data[position] ^= 0x01
        yield f"data byte {position}", bytes(data)
    yield "text", b"this is not a checkpoint at all\n" * 4
    yield "pickle", b"\x80\x04\x95" + good[3:]


def test_corrupted_files_raise_runtime_error_naming_the_file(tmp_path, rng):
    good_path = tmp_path / "good.safetensors"
    fw.save(_optimizer_like(rng), good_path)
    good = good_path.read_bytes()
    for what, content in _damaged_files(good):
        path = tmp_path / f"bad {what}.safetensors"
        path.write_bytes(content)
        with pytest.raises(RuntimeError) as info:
            fw.load(path)
        assert str(path) in str(info.value), what
        with pytest.raises(RuntimeError):
            fw.load(io.BytesIO(content))


def test_every_damaged_header_byte_is_caught(rng):
    """Flip each header byte: the load fails, unless the byte is in the `format` entry, which nothing reads."""
    buffer = io.BytesIO()
    obj = _optimizer_like(rng)
    fw.save(obj, buffer)
    good = buffer.getvalue()
    header_end = 8 + int.from_bytes(good[:8], "little")
    start = good.index(b'"format":"pt"')
    harmless = range(start, start + len('"format":"pt"'))
    for position in range(8, header_end):
        for mask in (0x01, 0x20):
            damaged = bytearray(good)
            damaged[position] ^= mask
            try:
                loaded = fw.load(io.BytesIO(bytes(damaged)))
            except RuntimeError:
                continue
            assert position in harmless, f"byte {position} ({chr(good[position])!r} ^ {mask:#x}) loaded silently"
            _assert_same(loaded, obj)


def test_foreign_dtype_and_missing_file(tmp_path):
    safetensors_numpy.save_file({"u": np.zeros(2, np.uint32)}, tmp_path / "u")
    with pytest.raises(RuntimeError, match="'u' has dtype U32"):
        fw.load(tmp_path / "u")
    with pytest.raises(FileNotFoundError):
        fw.load(tmp_path / "missing")


def test_bfloat16_is_stored_as_bf16(tmp_path):
    values = np.array([1.0, -2.5, 3.140625], dtype=np_dtype("bfloat16"))
    fw.save({"b": fw.tensor(values)}, tmp_path / "b")
    raw = (tmp_path / "b").read_bytes()
    assert _header(tmp_path / "b")["b"]["dtype"] == "BF16" and raw.endswith(values.tobytes())
