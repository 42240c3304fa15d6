"""nn.RNNCell / LSTMCell / GRUCell on every device: values against the float64 numpy cell (rnn_reference.py),
values and gradients against PyTorch with the same weights, unbatched input, default states, PyTorch's
initialisation, repr and errors."""
import numpy as np
import pytest

import framework as fw
from helpers import DEVICES, assert_close, raises_like_torch, torch

from . import rnn_reference as ref

CELLS = [("RNNCell", dict(), "RNN_TANH"), ("RNNCell", dict(nonlinearity="relu", bias=False), "RNN_RELU"),
         ("LSTMCell", dict(), "LSTM"), ("GRUCell", dict(), "GRU"), ("GRUCell", dict(bias=False), "GRU")]
IDS = [f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for c, kw, _ in CELLS]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls,kwargs,mode", CELLS, ids=IDS)
def test_cells_match_the_reference_and_pytorch(cls, kwargs, mode, device, rng):
    for dtype in ["float32"] + (["float64"] if device == "cpu" else []):
        tol = dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
        fw.manual_seed(1)
        cell = getattr(fw.nn, cls)(3, 5, **kwargs).to(device=device, dtype=getattr(fw, dtype))
        params = {k: v.detach().cpu().double().numpy() for k, v in cell.state_dict().items()}
        x, h0 = rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (2, 5))
        c0 = rng.uniform(-1, 1, (2, 5)) if mode == "LSTM" else None
        leaves = [fw.tensor(a, dtype=getattr(fw, dtype), device=device, requires_grad=True)
                  for a in [x, h0] + ([c0] if c0 is not None else [])]
        out = cell(leaves[0], tuple(leaves[1:]) if c0 is not None else leaves[1])
        outs = list(out) if c0 is not None else [out]
        expected = ref.cell(mode, x, h0, c0, params)
        for got, want in zip(outs, expected):
            assert_close(got, want, dtype, **tol)
        if torch is None:
            continue
        twin = getattr(torch.nn, cls)(3, 5, **kwargs).to(getattr(torch, dtype))
        with torch.no_grad():
            for name, value in params.items():
                getattr(twin, name).copy_(torch.from_numpy(value))
        t_leaves = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True)
                    for a in [x, h0] + ([c0] if c0 is not None else [])]
        t_out = twin(t_leaves[0], tuple(t_leaves[1:]) if c0 is not None else t_leaves[1])
        t_outs = list(t_out) if c0 is not None else [t_out]
        grads = [rng.uniform(-1, 1, (2, 5)) for _ in outs]
        sum((o * fw.tensor(g, dtype=getattr(fw, dtype), device=device)).sum() for o, g in zip(outs, grads)).backward()
        sum((o * torch.tensor(g, dtype=getattr(torch, dtype))).sum() for o, g in zip(t_outs, grads)).backward()
        for leaf, t_leaf in zip(leaves, t_leaves):
            assert_close(leaf.grad, t_leaf.grad, dtype, **tol)
        for name, param in cell.named_parameters():
            assert_close(param.grad, getattr(twin, name).grad, dtype, what=name, **tol)


@pytest.mark.parametrize("device", DEVICES)
def test_unbatched_input_and_zero_default_state(device, rng):
    for cls, mode in (("RNNCell", "RNN_TANH"), ("LSTMCell", "LSTM"), ("GRUCell", "GRU")):
        fw.manual_seed(2)
        cell = getattr(fw.nn, cls)(3, 4).to(device)
        params = {k: v.detach().cpu().double().numpy() for k, v in cell.state_dict().items()}
        x = rng.uniform(-1, 1, 3)
        out = cell(fw.tensor(x, dtype=fw.float32, device=device))
        outs = list(out) if mode == "LSTM" else [out]
        zeros = np.zeros((1, 4))
        for got, want in zip(outs, ref.cell(mode, x[None], zeros, zeros if mode == "LSTM" else None, params)):
            assert got.shape == (4,)
            assert_close(got, want[0], "float32", rtol=1e-5, atol=1e-6)


def test_initialisation_and_repr_are_pytorchs():
    if torch is None:
        pytest.skip("PyTorch is not importable: no oracle to compare with")
    for cls, kwargs in [("RNNCell", dict(nonlinearity="relu")), ("LSTMCell", dict(bias=False)),
                        ("GRUCell", dict())]:
        fw.manual_seed(4)
        ours = getattr(fw.nn, cls)(3, 6, **kwargs)
        torch.manual_seed(4)
        theirs = getattr(torch.nn, cls)(3, 6, **kwargs)
        assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
        for name, value in theirs.state_dict().items():
            np.testing.assert_array_equal(ours.state_dict()[name].numpy(), value.numpy(), err_msg=name)


@pytest.mark.parametrize("cls,call,match", [
    ("RNNCell", lambda m, z: m(z(2, 5)), "input has inconsistent input_size: got 5 expected 3"),
    ("RNNCell", lambda m, z: m(z(2, 3), z(3, 4)), "Input batch size 2 doesn't match hidden0 batch size 3"),
    ("GRUCell", lambda m, z: m(z(2, 3), z(2, 5)), "hidden0 has inconsistent hidden_size: got 5, expected 4"),
    ("LSTMCell", lambda m, z: m(z(2, 3), (z(2, 4), z(3, 4))), "Input batch size 2 doesn't match hidden1 batch size 3"),
    ("RNNCell", lambda m, z: m(z(2, 3, 3)), "RNNCell: Expected input to be 1D or 2D, got 3D instead"),
    ("GRUCell", lambda m, z: m(z(3), z(1, 1, 4)), "GRUCell: Expected hidden to be 1D or 2D, got 3D instead"),
    ("LSTMCell", lambda m, z: m(z(3), (z(4), z(1, 1, 4))), "LSTMCell: Expected hx[1] to be 1D or 2D, got 3D instead"),
])
def test_errors_are_pytorchs(cls, call, match):
    ours = getattr(fw.nn, cls)(3, 4)
    torch_call = None
    if torch is not None:
        theirs = getattr(torch.nn, cls)(3, 4)
        torch_call = lambda: call(theirs, torch.zeros)  # noqa: E731
    assert raises_like_torch(lambda: call(ours, fw.zeros), torch_call, match=match) == match
