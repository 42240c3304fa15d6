"""Hand-written numpy references: what a careful numpy programmer writes without a framework.

The perf scripts time these next to framework and PyTorch: single ops, an
optimizer update done in place, and a whole MLP training step (forward,
cross-entropy, backward, update) with no graph and no dispatch, the floor a
numpy-backed framework can reach. A `*_backward(...)` computes what its forward
would save when called and returns the backward as a zero-argument function.
"""
import math

import numpy as np


def initial_mlp_state(sizes, batch, count):
    """An MLP's PyTorch-style uniform initial weights and `count` batches of random inputs and class targets,
    the same for every contender of a benchmark (each in its own process)."""
    rng = np.random.default_rng(0)
    params = []
    for k, n in zip(sizes, sizes[1:]):
        bound = 1 / k ** 0.5
        params += [rng.uniform(-bound, bound, (n, k)).astype(np.float32),
                   rng.uniform(-bound, bound, n).astype(np.float32)]
    batches = [(rng.standard_normal((batch, sizes[0])).astype(np.float32), rng.integers(0, sizes[-1], batch))
               for _ in range(count)]
    return params, batches


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


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def lstm(x, w_ih, w_hh, b_ih, b_hh):
    """One-layer LSTM over x (T, B, I) from zero states: the input projection of all steps as one matmul, then
    one matmul and the gate update per step. Returns (outputs (T, B, H), the per-step values a backward needs)."""
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    projected = (x.reshape(steps * batch, -1) @ w_ih.T + (b_ih + b_hh)).reshape(steps, batch, 4 * hidden)
    h, c = np.zeros((batch, hidden), x.dtype), np.zeros((batch, hidden), x.dtype)
    out = np.empty((steps, batch, hidden), x.dtype)
    saved = []
    for t in range(steps):
        gates = projected[t] + h @ w_hh.T
        i, f, o = (_sigmoid(gates[:, k * hidden:(k + 1) * hidden]) for k in (0, 1, 3))
        g = np.tanh(gates[:, 2 * hidden:3 * hidden])
        c_prev, c = c, f * c + i * g
        tanh_c = np.tanh(c)
        h = out[t] = o * tanh_c
        saved.append((i, f, g, o, c_prev, tanh_c))
    return out, saved


def lstm_backward(x, w_ih, w_hh, b_ih, b_hh, grad):
    """Backpropagation through time for `lstm` (its forward runs here, outside the timed backward): the
    gradients of x and of the four parameters for output gradient `grad` (T, B, H)."""
    out, saved = lstm(x, w_ih, w_hh, b_ih, b_hh)
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]

    def backward():
        d_gates = np.empty((steps, batch, 4 * hidden), x.dtype)
        dh, dc = np.zeros((batch, hidden), x.dtype), np.zeros((batch, hidden), x.dtype)
        for t in reversed(range(steps)):
            i, f, g, o, c_prev, tanh_c = saved[t]
            dh = dh + grad[t]
            dc = dc + dh * o * (1 - tanh_c * tanh_c)
            d = d_gates[t]
            d[:, :hidden] = dc * g * i * (1 - i)
            d[:, hidden:2 * hidden] = dc * c_prev * f * (1 - f)
            d[:, 2 * hidden:3 * hidden] = dc * i * (1 - g * g)
            d[:, 3 * hidden:] = dh * tanh_c * o * (1 - o)
            dh, dc = d @ w_hh, dc * f
        flat = d_gates.reshape(steps * batch, 4 * hidden)
        h_prev = np.concatenate([np.zeros((1, batch, hidden), x.dtype), out[:-1]]).reshape(steps * batch, hidden)
        d_bias = flat.sum(axis=0)
        return ((flat @ w_ih).reshape(x.shape), flat.T @ x.reshape(steps * batch, -1), flat.T @ h_prev, d_bias,
                d_bias)
    return backward


# ---- convolutional networks: NCHW, square kernels, im2col by sliding windows (views) and a tensordot ----------

def _windows(x, k, stride, padding, fill=0.0):
    """The k x k windows of x (N, C, H, W) padded by `padding` with `fill`: a view (N, C, Ho, Wo, k, k)."""
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=fill)
    return np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def conv2d(x, w, b, stride=1, padding=0):
    y = np.tensordot(_windows(x, w.shape[2], stride, padding), w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, O)
    if b is not None:
        y += b
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def conv2d_backward(x, w, grad, stride=1, padding=0):
    """backward() -> (dx, dw): dw one tensordot over the windows; dx summed back one kernel tap at a time."""
    k, (n, c, h, width), (ho, wo) = w.shape[2], x.shape, grad.shape[2:]

    def backward():
        dw = np.tensordot(grad, _windows(x, k, stride, padding), axes=([0, 2, 3], [0, 2, 3]))  # (O, C, k, k)
        dx = np.zeros((n, c, h + 2 * padding + stride, width + 2 * padding + stride), x.dtype)
        taps = np.tensordot(w, grad, axes=([0], [1]))  # (C, k, k, N, Ho, Wo)
        for i in range(k):
            for j in range(k):
                dx[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += taps[:, i, j].transpose(1, 0, 2, 3)
        return dx[:, :, padding:padding + h, padding:padding + width], dw
    return backward


def max_pool2d(x, k, stride, padding=0):
    return _windows(x, k, stride, padding, -np.inf).max(axis=(4, 5))


def max_pool2d_backward(x, grad, k, stride, padding=0):
    """The forward's argmax (what it saves), then backward() routes each gradient to its window's first maximum."""
    windows = _windows(x, k, stride, padding, -np.inf)
    first = windows.reshape(*windows.shape[:4], k * k).argmax(axis=4)
    n, c, h, w = x.shape
    ho, wo = grad.shape[2:]

    def backward():
        dx = np.zeros((n, c, h + 2 * padding + stride, w + 2 * padding + stride), x.dtype)
        for t in range(k * k):
            i, j = divmod(t, k)
            dx[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += np.where(first == t, grad, 0)
        return dx[:, :, padding:padding + h, padding:padding + w]
    return backward


def batch_norm(x, weight, bias, eps=1e-5):
    """Training-mode batch norm over (N, H, W) per channel (the running statistics' update is 2 C-vectors)."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    scale = weight[:, None, None] / np.sqrt(var + eps)
    return (x - mean) * scale + bias[:, None, None]


def batch_norm_backward(x, weight, grad, eps=1e-5):
    """The forward's mean and inverse deviation (what it saves); backward() -> (dx, dweight, dbias)."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + eps)
    count = x.size // x.shape[1]

    def backward():
        x_hat = (x - mean) * inv_std
        dbias = grad.sum(axis=(0, 2, 3))
        dweight = (grad * x_hat).sum(axis=(0, 2, 3))
        dx = (weight[:, None, None] * inv_std / count) * (
            count * grad - dbias[:, None, None] - x_hat * dweight[:, None, None])
        return dx, dweight, dbias
    return backward


def layer_norm(x, weight, bias, eps=1e-5, rms=False):
    """Layer norm over the last dim (rms: RMS norm, no mean and no bias)."""
    centered = x if rms else x - x.mean(axis=-1, keepdims=True)
    out = centered / np.sqrt((centered * centered).mean(axis=-1, keepdims=True) + eps) * weight
    return out if rms else out + bias


def layer_norm_backward(x, weight, grad, eps=1e-5, rms=False):
    """The forward's mean and inverse deviation (what it saves); backward() -> (dx, dweight[, dbias])."""
    mean = 0.0 if rms else x.mean(axis=-1, keepdims=True)
    inv_std = 1 / np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + eps)

    def backward():
        x_hat = (x - mean) * inv_std
        wdy = grad * weight
        dx = wdy - x_hat * (wdy * x_hat).mean(axis=-1, keepdims=True)
        if not rms:
            dx -= wdy.mean(axis=-1, keepdims=True)
        dweight = (grad * x_hat).reshape(-1, x.shape[-1]).sum(axis=0)
        return (dx * inv_std, dweight) if rms else (dx * inv_std, dweight, grad.reshape(-1, x.shape[-1]).sum(axis=0))
    return backward


def _attention_weights(q, k, causal):
    s = (q @ np.swapaxes(k, -1, -2)) * (1 / math.sqrt(q.shape[-1]))
    if causal:
        s = np.where(np.tri(q.shape[-2], k.shape[-2], dtype=bool), s, -np.inf)
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    return s / s.sum(axis=-1, keepdims=True)


def attention(q, k, v, causal=False):
    """softmax(q k^T / sqrt(d)) v, the L x L weights held whole (the unfused way)."""
    return _attention_weights(q, k, causal) @ v


def attention_backward(q, k, v, grad, causal=False):
    p = _attention_weights(q, k, causal)

    def backward():
        dp = grad @ np.swapaxes(v, -1, -2)
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * (1 / math.sqrt(q.shape[-1]))
        return ds @ k, np.swapaxes(ds, -1, -2) @ q, np.swapaxes(p, -1, -2) @ grad
    return backward
