"""A PyTorch introduction notebook (tensors, autograd, an MLP), cell by cell, written against framework.

Each cell prints what the notebook shows: `print(...)` output, and the repr of a
cell's last expression. tests/test_tutorial.py checks the output line for line.
Run: python examples/tutorial.py
"""
import framework
import framework.nn.functional as F
from framework.autograd import grad

# In [1]
print(repr(framework.__version__))

# In [2]
print(framework.cuda.is_available())

# In [4]
# 0D tensor (scalar)
tensor0d = framework.tensor(1)
print(tensor0d)
# 1D tensor (vector)
tensor1d = framework.tensor([1, 2, 3])
print(tensor1d)
# 2D tensor (matrix)
tensor2d = framework.tensor([[1, 2], [3, 4]])
print(tensor2d)
# 3D tensor
tensor3d = framework.tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
print(tensor3d)

# In [5]: default 64-bit integer
print(tensor1d.dtype)

# In [6]: default 32-bit precision
floatvec = framework.tensor([1.0, 2.0, 3.0])
print(floatvec.dtype)

# In [7]: change type
tensor1d_float = tensor1d.to(framework.float32)
print(tensor1d_float.dtype)

# In [8]: shape of a tensor
print(tensor0d.shape)
print(tensor1d.shape)
print(tensor2d.shape)
print(tensor3d.shape)

# In [10]-[14]: reshape, view, transpose, matmul
print(repr(tensor2d.reshape(4, 1)))
print(repr(tensor2d.view(4, 1)))
print(repr(tensor2d.T))
print(repr(tensor2d.matmul(tensor2d.T)))
print(repr(tensor2d @ tensor2d.T))

# In [16]: a model without gradients
y = framework.tensor([1.0])  # true label
x1 = framework.tensor([1.1])  # input
w1 = framework.tensor([2.2])  # weight
b = framework.tensor([0.0])  # bias

z = x1 * w1 + b
a = framework.sigmoid(z)  # predicted label

loss = F.binary_cross_entropy(a, y)
print("[a]", a)
print("[y]", y)
print("[loss]", loss)

# In [17]: the same model, recording the graph
y = framework.tensor([1.0])
x1 = framework.tensor([1.1])
w1 = framework.tensor([2.2], requires_grad=True)
b = framework.tensor([0.0], requires_grad=True)

z = x1 * w1 + b
a = framework.sigmoid(z)

loss = F.binary_cross_entropy(a, y)
grad_L_w1 = grad(loss, w1, retain_graph=True)
grad_L_b = grad(loss, b, retain_graph=True)

print(grad_L_w1)
print(grad_L_b)

# In [18]: backward stores the gradients in .grad
loss.backward()
print(w1.grad)
print(b.grad)


# In [39]: a multilayer perceptron
class NeuralNetwork(framework.nn.Module):
    def __init__(self, num_inputs, num_outputs):
        super().__init__()
        self.layers = framework.nn.Sequential(
            # 1st hidden layer
            framework.nn.Linear(num_inputs, 30),
            framework.nn.ReLU(),

            # 2nd hidden layer
            framework.nn.Linear(30, 20),
            framework.nn.ReLU(),

            # output layer
            framework.nn.Linear(20, num_outputs),
        )

    def forward(self, x):
        logits = self.layers(x)
        return logits


# In [40]
framework.manual_seed(123)
model = NeuralNetwork(50, 3)
print(model)

# In [41]
num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
print('[Parameters]', num_params)

# In [42]
print(model.layers[0].weight)

# In [43]
print(model.layers[0].weight.shape)
print(model.layers[0].bias.shape)

# In [44]: forward pass without training
X = framework.rand((1, 50))
out = model.forward(X)
print(out)

# In [45]
with framework.no_grad():
    out = model.forward(X)
print(out)

# In [46]
with framework.no_grad():
    out = framework.softmax(model(X), dim=1)
print(out)
