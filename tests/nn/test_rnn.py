"""nn.RNN / LSTM / GRU on every device: values against a float64 numpy reference (rnn_reference.py), values and
gradients (input, initial states, every parameter) against PyTorch with the same weights, packed batches,
unbatched input, dropout between layers, PyTorch's initialisation and state-dict keys, and PyTorch's errors.
cuda sizes are tiny: without a GPU every op runs in Triton's interpreter."""
import numpy as np
import pytest

import framework as fw
from framework.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from helpers import DEVICES, assert_close, gradcheck, raises_like_torch, torch
from . import rnn_reference as ref

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not importable: no oracle to compare with")

# (class, constructor arguments, reference mode)
CONFIGS = [
    ("RNN", dict(), "RNN_TANH"),
    ("RNN", dict(nonlinearity="relu", num_layers=2, bias=False), "RNN_RELU"),
    ("LSTM", dict(num_layers=2, bidirectional=True), "LSTM"),
    ("LSTM", dict(proj_size=2, bidirectional=True, batch_first=True), "LSTM"),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True), "GRU"),
    ("GRU", dict(bias=False), "GRU"),
]
IDS = [f"{cls}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for cls, kw, _ in CONFIGS]
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-4, atol=1e-5),
       "bfloat16": dict(rtol=6e-2, atol=6e-2)}


def _build(cls, kwargs, device, dtype, input_size=3, hidden_size=4, seed=7):
    fw.manual_seed(seed)
    module = getattr(fw.nn, cls)(input_size, hidden_size, **kwargs)
    return module.to(device=device, dtype=getattr(fw, dtype))


def _params64(module):
    return {k: v.detach().cpu().double().numpy() for k, v in module.state_dict().items()}


def _torch_twin(module, cls, kwargs, dtype):
    twin = getattr(torch.nn, cls)(module.input_size, module.hidden_size, **kwargs).to(getattr(torch, dtype))
    with torch.no_grad():
        for name, value in module.state_dict().items():
            getattr(twin, name).copy_(torch.from_numpy(value.detach().cpu().double().numpy()))
    return twin


def _states(rng, module, batch):
    layers = module.num_layers * (2 if module.bidirectional else 1)
    h0 = rng.uniform(-1, 1, (layers, batch, module.proj_size or module.hidden_size))
    c0 = rng.uniform(-1, 1, (layers, batch, module.hidden_size)) if module.mode == "LSTM" else None
    return h0, c0


def _run_fw(module, x, h0, c0, device, dtype, batch_first):
    """Runs the module on a non-contiguous input; returns (output, h_n, c_n, leaves)."""
    swapped = np.ascontiguousarray(np.swapaxes(x, 0, 1))
    xt = fw.tensor(swapped, dtype=getattr(fw, dtype), device=device).transpose(0, 1).requires_grad_(True)
    leaves = [xt]
    h = fw.tensor(h0, device=device).to(getattr(fw, dtype)).requires_grad_(True)
    leaves.append(h)
    if c0 is not None:
        c = fw.tensor(c0, device=device).to(getattr(fw, dtype)).requires_grad_(True)
        leaves.append(c)
        out, (h_n, c_n) = module(xt, (h, c))
    else:
        out, h_n = module(xt, h)
        c_n = None
    return out, h_n, c_n, leaves


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls,kwargs,mode", CONFIGS, ids=IDS)
def test_layers_match_the_reference_and_pytorch(cls, kwargs, mode, device, rng):
    dtypes = ["float32"] + (["float64"] if device == "cpu" else [])
    for dtype in dtypes:
        module = _build(cls, kwargs, device, dtype)
        batch_first = kwargs.get("batch_first", False)
        steps, batch = 3, 2
        x = rng.uniform(-1, 1, (batch, steps, 3) if batch_first else (steps, batch, 3))
        h0, c0 = _states(rng, module, batch)
        out, h_n, c_n, leaves = _run_fw(module, x, h0, c0, device, dtype, batch_first)
        assert not leaves[0].is_contiguous()
        x_tb = np.swapaxes(x, 0, 1) if batch_first else x
        ref_out, ref_h, ref_c = ref.layers(mode, _params64(module), x_tb, h0, c0, module.num_layers,
                                           module.bidirectional)
        assert out.device.type == device and out.dtype is getattr(fw, dtype)
        assert_close(out, np.swapaxes(ref_out, 0, 1) if batch_first else ref_out, dtype, what="output", **TOL[dtype])
        assert_close(h_n, ref_h, dtype, what="h_n", **TOL[dtype])
        if c0 is not None:
            assert_close(c_n, ref_c, dtype, what="c_n", **TOL[dtype])
        if torch is None:
            continue
        twin = _torch_twin(module, cls, kwargs, dtype)
        t_leaves = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True)
                    for a in ([x, h0] + ([c0] if c0 is not None else []))]
        t_out, t_hidden = twin(t_leaves[0], tuple(t_leaves[1:]) if c0 is not None else t_leaves[1])
        t_h, t_c = (t_hidden if c0 is not None else (t_hidden, None))
        grads = [rng.uniform(-1, 1, tuple(t.shape)) for t in (t_out, t_h)] + ([rng.uniform(-1, 1, tuple(t_c.shape))]
                                                                            if c0 is not None else [])
        ours = [out, h_n] + ([c_n] if c0 is not None else [])
        theirs = [t_out, t_h] + ([t_c] if c0 is not None else [])
        sum((o * fw.tensor(g, device=device).to(getattr(fw, dtype))).sum() for o, g in zip(ours, grads)).backward()
        sum((t * torch.tensor(g, dtype=getattr(torch, dtype))).sum() for t, g in zip(theirs, grads)).backward()
        for o, t in zip(ours, theirs):
            assert_close(o, t, dtype, what="forward vs torch", **TOL[dtype])
        for name, leaf, t_leaf in zip(("input", "h0", "c0"), leaves, t_leaves):
            assert_close(leaf.grad, t_leaf.grad, dtype, what=f"grad {name}", **TOL[dtype])
        for name, param in module.named_parameters():
            assert_close(param.grad, getattr(twin, name).grad, dtype, what=f"grad {name}", **TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
def test_bfloat16_lstm_follows_the_reference(device, rng):
    module = _build("LSTM", dict(num_layers=2), device, "bfloat16")
    x = rng.uniform(-1, 1, (3, 2, 3))
    h0, c0 = _states(rng, module, 2)
    out, h_n, c_n, _ = _run_fw(module, x, h0, c0, device, "bfloat16", False)
    ref_out, ref_h, ref_c = ref.layers("LSTM", _params64(module), x, h0, c0, 2, False)
    for got, expected in ((out, ref_out), (h_n, ref_h), (c_n, ref_c)):
        assert got.dtype is fw.bfloat16
        assert_close(got.float(), expected, "bfloat16", **TOL["bfloat16"])


def test_gradients_pass_gradcheck_in_float64():
    """The gradients without PyTorch: finite differences of the layers in float64."""
    for cls, kwargs in (("LSTM", dict(proj_size=2, bidirectional=True)), ("GRU", dict(num_layers=2)),
                        ("RNN", dict(nonlinearity="relu"))):
        module = _build(cls, kwargs, "cpu", "float64", input_size=2, hidden_size=3)
        x = np.random.default_rng(0).uniform(-1, 1, (2, 2, 2))
        gradcheck(lambda inp: module(inp)[0], x)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_packed_batches_of_unsorted_lengths(cls, device, rng):
    kwargs = dict(num_layers=2, bidirectional=True)
    module = _build(cls, kwargs, device, "float32")
    lengths = [2, 4, 1]
    x = rng.uniform(-1, 1, (4, 3, 3))
    h0, c0 = _states(rng, module, 3)
    xt = fw.tensor(x, dtype=fw.float32, device=device, requires_grad=True)
    h = fw.tensor(h0, dtype=fw.float32, device=device)
    hidden = (h, fw.tensor(c0, dtype=fw.float32, device=device)) if c0 is not None else h
    packed = pack_padded_sequence(xt, lengths, enforce_sorted=False)
    out_packed, state = module(packed, hidden)
    out, out_lengths = pad_packed_sequence(out_packed)
    h_n = state[0] if cls == "LSTM" else state
    assert out_lengths.tolist() == lengths and out_packed.batch_sizes.tolist() == [3, 2, 1, 1]
    ref_out, ref_h, ref_c = ref.layers(cls, _params64(module), x, h0, c0, 2, True, lengths)
    assert_close(out, ref_out, "float32", **TOL["float32"])
    assert_close(h_n, ref_h, "float32", **TOL["float32"])
    if cls == "LSTM":
        assert_close(state[1], ref_c, "float32", **TOL["float32"])
    if torch is None:
        return
    twin = _torch_twin(module, cls, kwargs, "float32")
    tx = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    t_hidden = tuple(torch.tensor(a, dtype=torch.float32) for a in (h0, c0)) if c0 is not None else \
        torch.tensor(h0, dtype=torch.float32)
    t_packed, _ = twin(torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, enforce_sorted=False), t_hidden)
    assert_close(out_packed.data, t_packed.data, "float32", **TOL["float32"])
    g = rng.uniform(-1, 1, tuple(out_packed.data.shape))
    (out_packed.data * fw.tensor(g, dtype=fw.float32, device=device)).sum().backward()
    (t_packed.data * torch.tensor(g, dtype=torch.float32)).sum().backward()
    assert_close(xt.grad, tx.grad, "float32", **TOL["float32"])
    for name, param in module.named_parameters():
        assert_close(param.grad, getattr(twin, name).grad, "float32", what=name, **TOL["float32"])


@pytest.mark.parametrize("device", DEVICES)
def test_unbatched_input_and_default_states(device, rng):
    for cls in ("RNN", "LSTM", "GRU"):
        module = _build(cls, dict(num_layers=2), device, "float32")
        x = rng.uniform(-1, 1, (1, 3))  # one step, no batch dim
        out, state = module(fw.tensor(x, dtype=fw.float32, device=device))
        h_n = state[0] if cls == "LSTM" else state
        assert out.shape == (1, 4) and h_n.shape == (2, 4)
        batched_out, batched_state = module(fw.tensor(x[:, None], dtype=fw.float32, device=device))
        assert_close(out, batched_out[:, 0], "float32")
        mode = {"RNN": "RNN_TANH"}.get(cls, cls)
        zeros = np.zeros((2, 1, 4))
        ref_out, ref_h, _ = ref.layers(mode, _params64(module), x[:, None], zeros, zeros if cls == "LSTM" else None,
                                       2, False)
        assert_close(out, ref_out[:, 0], "float32", **TOL["float32"])
        assert_close(h_n, ref_h[:, 0], "float32", **TOL["float32"])


def test_dropout_between_layers():
    module = _build("LSTM", dict(num_layers=2, dropout=1.0), "cpu", "float32")
    plain = _build("LSTM", dict(num_layers=2), "cpu", "float32")
    x = fw.randn(3, 2, 3)
    module.eval()
    assert_close(module(x)[0], plain(x)[0], "float32")  # eval: no dropout
    module.train()
    with fw.no_grad():  # p = 1 zeroes the first layer's output: the second layer reads zeros
        expected = plain.__class__(4, 4)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(expected, f"{name}_l0").copy_(getattr(plain, f"{name}_l1"))
        assert_close(module(x)[0], expected(fw.zeros(3, 2, 4))[0], "float32")
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1, but got "
                                         "dropout=0.5 and num_layers=1"):
        fw.nn.GRU(3, 4, dropout=0.5)


@requires_torch
def test_initialisation_state_dict_and_repr_are_pytorchs():
    for cls, kwargs in (("LSTM", dict(num_layers=2, bidirectional=True, proj_size=3)),
                        ("GRU", dict(bias=False, batch_first=True)), ("RNN", dict(nonlinearity="relu", dropout=0.2,
                                                                                  num_layers=3))):
        fw.manual_seed(3)
        ours = getattr(fw.nn, cls)(5, 6, **kwargs)
        torch.manual_seed(3)
        theirs = getattr(torch.nn, cls)(5, 6, **kwargs)
        assert list(ours.state_dict()) == list(theirs.state_dict()) and repr(ours) == repr(theirs)
        for name, value in theirs.state_dict().items():
            np.testing.assert_array_equal(ours.state_dict()[name].numpy(), value.numpy(), err_msg=name)
        assert [[p.shape for p in layer] for layer in ours.all_weights] == \
            [[tuple(p.shape) for p in layer] for layer in theirs.all_weights]
    torch_state = {k: fw.tensor(v.numpy()) for k, v in torch.nn.LSTM(5, 6, bidirectional=True).state_dict().items()}
    fw.nn.LSTM(5, 6, bidirectional=True).load_state_dict(torch_state)  # weights move between the frameworks


def _pair(cls, *args, **kwargs):
    return (lambda: getattr(fw.nn, cls)(*args, **kwargs)), (lambda: getattr(torch.nn, cls)(*args, **kwargs))


@pytest.mark.parametrize("args,kwargs,match", [
    ((3, 4), dict(proj_size=4), "proj_size has to be smaller than hidden_size"),
    ((3, 4), dict(proj_size=-1), "proj_size should be a positive integer or zero to disable projections"),
    ((3, 0), {}, "hidden_size must be greater than zero"),
    ((0, 4), {}, "input_size must be greater than zero"),
    ((3, 4), dict(num_layers=0), "num_layers must be greater than zero"),
    ((3, 4), dict(dropout=1.5), "dropout should be a number in range [0, 1]"),
    ((3, 4.0), {}, "hidden_size should be of type int, got: float"),
    ((3, 4), dict(batch_first=1), "batch_first should be of type bool, got: int"),
])
def test_constructor_errors_are_pytorchs(args, kwargs, match):
    fw_make, torch_make = _pair("LSTM", *args, **kwargs)
    message = raises_like_torch(fw_make, torch_make if torch is not None else None, match=match)
    if torch is not None:
        with pytest.raises(Exception) as info:
            torch_make()
        assert str(info.value) == message


def _forward_errors():
    h = lambda *s: fw.zeros(*s)  # noqa: E731
    t = lambda *s: torch.zeros(*s)  # noqa: E731
    return [
        ("LSTM", lambda m, z: m(z(5, 2, 7)), "input.size(-1) must be equal to input_size. Expected 3, got 7"),
        ("LSTM", lambda m, z: m(z(5, 2, 3), (z(1, 3, 4), z(1, 3, 4))), "Expected hidden[0] size (1, 2, 4), got [1, 3, 4]"),
        ("LSTM", lambda m, z: m(z(5, 2, 3), (z(1, 2, 4), z(1, 2, 5))), "Expected hidden[1] size (1, 2, 4), got [1, 2, 5]"),
        ("LSTM", lambda m, z: m(z(5, 2, 3), (z(2, 4), z(2, 4))),
         "For batched 3-D input, hx and cx should also be 3-D but got (2-D, 2-D) tensors"),
        ("GRU", lambda m, z: m(z(5, 2, 3), z(2, 2, 4)), "Expected hidden size (1, 2, 4), got [2, 2, 4]"),
        ("GRU", lambda m, z: m(z(5, 3), z(1, 2, 4)), "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"),
        ("RNN", lambda m, z: m(z(5, 2, 3, 1)), "RNN: Expected input to be 2D or 3D, got 4D tensor instead"),
        ("GRU", lambda m, z: m(z(3)), "GRU: Expected input to be 2D or 3D, got 1D instead"),
    ], h, t


@pytest.mark.parametrize("index", range(8))
def test_forward_errors_are_pytorchs(index):
    cases, h, t = _forward_errors()
    cls, call, match = cases[index]
    fw_module = getattr(fw.nn, cls)(3, 4)
    torch_call = None
    if torch is not None:
        torch_module = getattr(torch.nn, cls)(3, 4)
        torch_call = lambda: call(torch_module, t)  # noqa: E731
    message = raises_like_torch(lambda: call(fw_module, h), torch_call, match=match)
    assert message == match
    with pytest.raises(ValueError, match=r"RNN input dtype \(framework.float64\) does not match weight dtype "
                                         r"\(framework.float32\)"):
        fw_module(fw.zeros(2, 1, 3, dtype=fw.float64))
