"""float64 numpy references for convolution, pooling and resampling, written independently of the framework's
kernels (a loop over kernel taps, each an einsum) and usable on complex arrays, so that check_op's complex-step
derivative gives their exact gradients."""
import numpy as np


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """PyTorch's conv2d on (N, C, H, W) arrays."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, groups, o // groups, ho, wo), dtype=np.result_type(x, w))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
            out += np.einsum("ngchw,goc->ngohw", patch.reshape(n, groups, cg, ho, wo),
                             w[:, :, i, j].reshape(groups, o // groups, cg))
    out = out.reshape(n, o, ho, wo)
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """PyTorch's conv_transpose2d: every input pixel scatters its weighted kernel into the output."""
    (sh, sw), (ph, pw), (dh, dw), (oph, opw) = _pair(stride), _pair(padding), _pair(dilation), _pair(output_padding)
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    full_h, full_w = (h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    full = np.zeros((n, groups, og, full_h, full_w), dtype=np.result_type(x, w))
    xg = x.reshape(n, groups, c // groups, h, wd)
    for i in range(kh):
        for j in range(kw):
            full[:, :, :, i * dh:i * dh + sh * (h - 1) + 1:sh, j * dw:j * dw + sw * (wd - 1) + 1:sw] += np.einsum(
                "ngchw,gco->ngohw", xg, w[:, :, i, j].reshape(groups, c // groups, og))
    ho, wo = full_h - 2 * ph, full_w - 2 * pw
    out = full[:, :, :, ph:ph + ho, pw:pw + wo].reshape(n, groups * og, ho, wo)
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """conv1d as conv2d over height 1."""
    return conv2d(x[:, :, None, :], w[:, :, None, :], b, (1, stride), (0, padding), (1, dilation), groups)[:, :, 0]


def windows(size, out, kernel, stride, padding, dilation, ceil_mode):
    """For each output position along one dim, the input positions of its window inside the input."""
    del ceil_mode  # (only the output count depends on it)
    starts = np.arange(out) * stride - padding
    return [[s + t * dilation for t in range(kernel) if 0 <= s + t * dilation < size] for s in starts]


def pool_out(size, kernel, stride, padding, dilation, ceil_mode):
    numerator = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Values of PyTorch's max_pool2d (real arrays) and the index of each maximum."""
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(stride if stride is not None else kernel_size)
    (ph, pw), (dh, dw) = _pair(padding), _pair(dilation)
    h, w = x.shape[-2:]
    ho, wo = pool_out(h, kh, sh, ph, dh, ceil_mode), pool_out(w, kw, sw, pw, dw, ceil_mode)
    rows, cols = windows(h, ho, kh, sh, ph, dh, ceil_mode), windows(w, wo, kw, sw, pw, dw, ceil_mode)
    planes = x.reshape(-1, h, w)
    out = np.empty((planes.shape[0], ho, wo), dtype=x.dtype)
    index = np.empty((planes.shape[0], ho, wo), dtype=np.int64)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            window = planes[:, r][:, :, c].reshape(planes.shape[0], len(r) * len(c))
            flat = np.array([a * w + b for a in r for b in c])
            k = np.argmax(window.real, axis=1)
            out[:, i, j] = window[np.arange(window.shape[0]), k]
            index[:, i, j] = flat[k]
    return out.reshape(x.shape[:-2] + (ho, wo)), index.reshape(x.shape[:-2] + (ho, wo))


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(stride if stride is not None else kernel_size)
    (ph, pw) = _pair(padding)
    h, w = x.shape[-2:]
    ho, wo = pool_out(h, kh, sh, ph, 1, ceil_mode), pool_out(w, kw, sw, pw, 1, ceil_mode)
    out = np.zeros(x.shape[:-2] + (ho, wo), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, h + ph), min(w0 + kw, w + pw)
            pool_size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            if h0 >= h1 or w0 >= w1:
                continue
            total = x[..., h0:h1, w0:w1].sum(axis=(-1, -2))
            divisor = divisor_override or (pool_size if count_include_pad else (h1 - h0) * (w1 - w0))
            out[..., i, j] = total / divisor
    return out


def adaptive_windows(size, out):
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def adaptive_avg_pool2d(x, out):
    ho, wo = out
    result = np.zeros(x.shape[:-2] + (ho, wo), dtype=x.dtype)
    for i, (a, b) in enumerate(adaptive_windows(x.shape[-2], ho)):
        for j, (c, d) in enumerate(adaptive_windows(x.shape[-1], wo)):
            result[..., i, j] = x[..., a:b, c:d].mean(axis=(-1, -2))
    return result


def adaptive_max_pool2d(x, out):
    ho, wo = out
    values = np.zeros(x.shape[:-2] + (ho, wo), dtype=x.dtype)
    for i, (a, b) in enumerate(adaptive_windows(x.shape[-2], ho)):
        for j, (c, d) in enumerate(adaptive_windows(x.shape[-1], wo)):
            window = x[..., a:b, c:d].reshape(x.shape[:-2] + (-1,))
            k = np.argmax(window.real, axis=-1)
            values[..., i, j] = np.take_along_axis(window, k[..., None], -1)[..., 0]
    return values
