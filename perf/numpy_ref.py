"""Hand-written numpy references: what a careful numpy programmer writes without a framework.

The perf scripts time these next to framework and PyTorch: single ops, an
optimizer update done in place, and a whole MLP training step (forward,
cross-entropy, backward, update) with no graph and no dispatch, the floor a
numpy-backed framework can reach. A `*_backward(...)` computes what its forward
would save when called and returns the backward as a zero-argument function.
"""
import math

import numpy as np


def linear(x, w, b, relu=False):
    y = x @ w.T
    y += b
    return np.maximum(y, 0, out=y) if relu else y


def linear_backward(x, w, b, grad, relu=False):
    mask = linear(x, w, b, relu) > 0 if relu else None

    def backward():
        g = grad * mask if relu else grad
        return g @ w, g.T @ x, g.sum(axis=0)
    return backward


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def cross_entropy_loss(logits, target):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return (np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(logits)), target]).mean()


def cross_entropy_backward(logits, target):
    probs, rows = softmax(logits), np.arange(len(logits))

    def backward():
        g = probs.copy()
        g[rows, target] -= 1
        g /= len(g)
        return g
    return backward


def bce_with_logits(x, target):
    return (np.maximum(x, 0) - x * target + np.log1p(np.exp(-np.abs(x)))).mean()


def bce_with_logits_backward(x, target):
    return lambda: (1 / (1 + np.exp(-x)) - target) / x.size


def sgd_update(params, lr, momentum=0.0):
    """update(grads) applies SGD (PyTorch's rule, momentum buffer started from the first gradient) in place."""
    bufs = [None] * len(params)

    def update(grads):
        for i, (p, g) in enumerate(zip(params, grads)):
            if momentum:
                if bufs[i] is None:
                    bufs[i] = g.copy()
                else:
                    bufs[i] *= momentum
                    bufs[i] += g
                g = bufs[i]
            p -= lr * g
    return update


def adam_update(params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """update(grads) applies Adam (PyTorch's rule and order) in place."""
    ms, vs, count = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params], [0]

    def update(grads):
        count[0] += 1
        bias1, bias2 = 1 - beta1 ** count[0], 1 - beta2 ** count[0]
        for p, g, m, v in zip(params, grads, ms, vs):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= (lr / bias1) * m / (np.sqrt(v) / math.sqrt(bias2) + eps)
    return update


def cross_entropy(logits, target):
    """Mean cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(len(logits))
    loss = (np.log(total[:, 0]) - shifted[rows, target]).mean()
    grad = exp / total
    grad[rows, target] -= 1
    grad /= len(logits)
    return loss, grad


def mlp_train_step(params, update):
    """step(x, y) -> loss for the MLP whose Linear layers are params = [W1, b1, W2, b2, ...], ReLU between."""
    n_layers = len(params) // 2

    def step(x, y):
        activations, h = [x], x
        for j in range(n_layers):
            h = h @ params[2 * j].T
            h += params[2 * j + 1]
            if j < n_layers - 1:
                np.maximum(h, 0, out=h)
            activations.append(h)
        loss, g = cross_entropy(h, y)
        grads = [None] * len(params)
        for j in reversed(range(n_layers)):
            grads[2 * j] = g.T @ activations[j]
            grads[2 * j + 1] = g.sum(axis=0)
            if j:
                g = g @ params[2 * j]
                g *= activations[j] > 0
        update(grads)
        return loss
    return step
