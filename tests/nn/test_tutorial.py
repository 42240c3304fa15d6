"""The deep-learning cells of the tutorial (shared/seed/000_64360f6de0e254ab.txt), written against
framework, print exactly what the tutorial printed with PyTorch 2.7 (with `framework.` for `torch.`)."""
import pytest

import framework as torch  # the tutorial's code, unchanged but for this line
import framework.nn.functional as F
from framework.autograd import grad


def test_binary_cross_entropy_cell(capsys):
    y = torch.tensor([1.0])
    x1 = torch.tensor([1.1])
    w1 = torch.tensor([2.2])
    b = torch.tensor([0.0])
    z = x1 * w1 + b
    a = torch.sigmoid(z)
    loss = F.binary_cross_entropy(a, y)
    print("[a]", a)
    print("[y]", y)
    print("[loss]", loss)
    assert capsys.readouterr().out == "[a] tensor([0.9183])\n[y] tensor([1.])\n[loss] tensor(0.0852)\n"


def test_gradient_cells(capsys):
    y = torch.tensor([1.0])
    x1 = torch.tensor([1.1])
    w1 = torch.tensor([2.2], requires_grad=True)
    b = torch.tensor([0.0], requires_grad=True)
    z = x1 * w1 + b
    a = torch.sigmoid(z)
    loss = F.binary_cross_entropy(a, y)
    grad_L_w1 = grad(loss, w1, retain_graph=True)
    grad_L_b = grad(loss, b, retain_graph=True)
    print(grad_L_w1)
    print(grad_L_b)
    loss.backward()
    print(w1.grad)
    print(b.grad)
    assert capsys.readouterr().out == ("(tensor([-0.0898]),)\n(tensor([-0.0817]),)\n"
                                       "tensor([-0.0898])\ntensor([-0.0817])\n")


class NeuralNetwork(torch.nn.Module):
    def __init__(self, num_inputs, num_outputs):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(num_inputs, 30),
            torch.nn.ReLU(),
            torch.nn.Linear(30, 20),
            torch.nn.ReLU(),
            torch.nn.Linear(20, num_outputs),
        )

    def forward(self, x):
        logits = self.layers(x)
        return logits


MODEL = """NeuralNetwork(
  (layers): Sequential(
    (0): Linear(in_features=50, out_features=30, bias=True)
    (1): ReLU()
    (2): Linear(in_features=30, out_features=20, bias=True)
    (3): ReLU()
    (4): Linear(in_features=20, out_features=3, bias=True)
  )
)
"""

WEIGHT = """Parameter containing:
tensor([[-0.0577,  0.0047, -0.0702,  ...,  0.0222,  0.1260,  0.0865],
        [ 0.0502,  0.0307,  0.0333,  ...,  0.0951,  0.1134, -0.0297],
        [ 0.1077, -0.1108,  0.0122,  ...,  0.0108, -0.1049, -0.1063],
        ...,
        [-0.0787,  0.1259,  0.0803,  ...,  0.1218,  0.1303, -0.1351],
        [ 0.1359,  0.0175, -0.0673,  ...,  0.0674,  0.0676,  0.1058],
        [ 0.0790,  0.1343, -0.0293,  ...,  0.0344, -0.0971, -0.0509]],
       requires_grad=True)
"""


def test_model_cells_without_a_seed(capsys):
    model = NeuralNetwork(50, 3)
    print(model)
    num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print("[Parameters]", num_params)
    print(model.layers[0].weight.shape)
    print(model.layers[0].bias.shape)
    assert capsys.readouterr().out == (MODEL + "[Parameters] 2213\n"
                                       "framework.Size([30, 50])\nframework.Size([30])\n")


@pytest.mark.uses_random
def test_seeded_model_cells(capsys):
    torch.manual_seed(123)
    model = NeuralNetwork(50, 3)
    print(model)
    print(model.layers[0].weight)
    X = torch.rand((1, 50))
    out = model.forward(X)
    print(out)
    with torch.no_grad():
        out = model.forward(X)
    print(out)
    with torch.no_grad():
        out = torch.softmax(model(X), dim=1)
    print(out)
    assert capsys.readouterr().out == (
        MODEL + WEIGHT
        + "tensor([[-0.1670,  0.1001, -0.1219]], grad_fn=<AddmmBackward0>)\n"
        + "tensor([[-0.1670,  0.1001, -0.1219]])\n"
        + "tensor([[0.2983, 0.3896, 0.3121]])\n")
