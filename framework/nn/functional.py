"""`framework.nn.functional`: every layer and loss as a function, as `torch.nn.functional` spells them.

Ops that PyTorch keeps whole (the fused losses, the elementwise activations,
embedding, group_norm, layer_norm, rms_norm) run registered kernel pairs from `framework.ops`;
convolution, pooling, padding, interpolation and batch norm run theirs too
(framework.ops.conv, .pooling, .padding, .resample, .batch_norm); the rest
(MSE, L1, Huber, dropout, one_hot, bilinear, the losses of
`_loss_functions`) are composed from framework ops, so every device that runs
those runs these. A composed op that PyTorch records as one node (mse_loss,
huber_loss, prelu, ...) is decorated with `autograd.composite` and shows that
node's name. More activations live in `_activation_functions`.
"""
import warnings

from .. import dtypes, random
from ..autograd.composite import composite
from ..creation import arange, from_numpy, zeros
from ..graphs import recording
from ..ops import elementwise as _ew
from ..ops import linalg as _linalg
from ..ops import nn as _nn
from ..ops import normalization as _normalization
from ..ops import reduction as _red
from ..ops.inplace import apply_inplace
from ..ops.batch_norm import batch_norm  # noqa: F401  (one fused op per direction)
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d  # noqa: F401
from ..ops.padding import pad  # noqa: F401
from ..ops.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d,  # noqa: F401
                           adaptive_max_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d,
                           max_pool2d_with_indices)
from ..ops.resample import interpolate  # noqa: F401
from ..ops.attention import scaled_dot_product_attention  # noqa: F401  (one fused op each way)
from ..ops.nn import binary_cross_entropy_with_logits as _bce_with_logits
from ..ops.nn import gelu, softplus  # noqa: F401  (re-exported as they are)
from ..ops.nn import silu as _silu
from ..ops.distance import cosine_similarity, pairwise_distance  # noqa: F401  (as PyTorch re-exports them)
from ..tensor import Tensor

# ---- reductions of losses ---------------------------------------------------


def _legacy_get_string(size_average, reduce, emit_warning=True):
    """The `reduction` that the deprecated `size_average`/`reduce` pair means."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    if emit_warning:
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                      stacklevel=3)
    return ret


def _reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        return _legacy_get_string(size_average, reduce)
    _nn.check_reduction(reduction)
    return reduction


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _check_size(input, target):
    # PyTorch only warns and then broadcasts, which silently gives a wrong loss: refuse instead.
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) would broadcast and give a wrong loss. Please ensure they have the "
                         "same size.")


def _weighted(loss, weight, input, reduction):
    """PyTorch's optional elementwise `weight` of mse/l1 losses (their weighted mean divides by the weights' sum)."""
    if weight is None:
        return _reduce(loss, reduction)
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


# ---- linear and activations ---------------------------------------------------

def linear(input, weight, bias=None):
    return _linalg.linear(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """y = x1^T A x2 + b per output feature: `weight` (out, in1, in2), inputs (*, in1) and (*, in2) with the same
    leading dims. As PyTorch: the inputs as rows, their trilinear product (`TrilinearBackward0`), viewed back to
    (*, out) (`ViewBackward0`), plus the bias (`AddBackward0`)."""
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim}")
    for i in range(input1.ndim - 1):
        if input1.shape[i] != input2.shape[i]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {i}: got {input1.shape[i]} "
                               f"and {input2.shape[i]}")
    if weight.ndim < 3:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-weight.ndim}, {weight.ndim - 1}], "
                         f"but got 2)")
    out_features, in1, in2 = weight.shape[0], weight.shape[1], weight.shape[2]
    if input1.shape[-1] != in1:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got {input1.shape[-1]} but "
                           f"expected {in1}")
    if input2.shape[-1] != in2:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got {input2.shape[-1]} but "
                           f"expected {in2}")
    if bias is not None and bias.shape[0] != out_features:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {bias.shape[0]} but expected "
                           f"{out_features}")
    named = [("input1", input1), ("input2", input2), ("weight", weight)] + ([("bias", bias)] if bias is not None
                                                                            else [])
    if len({t.dtype for _, t in named}) > 1:
        raise RuntimeError("All tensors must have the same dtype, got " +
                           ", ".join(f"{name}: {t.dtype.cpp_name}" for name, t in named))
    lead = tuple(input1.shape[:-1])
    out = _trilinear(input1.reshape(-1, in1), weight, input2.reshape(-1, in2)).view(lead + (out_features,))
    return out if bias is None else out + bias


@composite("TrilinearBackward0", inputs=("rows1", "weight", "rows2"))
def _trilinear(rows1, weight, rows2):
    """out[n, o] = sum_ij rows1[n, i] weight[o, i, j] rows2[n, j] (PyTorch's _trilinear as bilinear calls it):
    one matmul of rows1 with the weight laid out (in1, out * in2), a product with rows2 and a sum."""
    out_features, in1, in2 = weight.shape
    mixed = _linalg.matmul(rows1, weight.permute(1, 0, 2).reshape(in1, out_features * in2))
    return (mixed.reshape(-1, out_features, in2) * rows2.unsqueeze(1)).sum(-1)


def relu(input, inplace=False):
    return input.relu_() if inplace else _ew.relu(input)


def relu_(input):
    return input.relu_()


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:  # computed from a clone, so the saved input survives the write (PyTorch: LeakyReluBackward1)
        return apply_inplace(input, _nn.leaky_relu, negative_slope, node_name="LeakyReluBackward1")
    return _nn.leaky_relu(input, negative_slope)


def silu(input, inplace=False):
    return apply_inplace(input, _silu) if inplace else _silu(input)


def sigmoid(input):
    return _ew.sigmoid(input)


def tanh(input):
    return _ew.tanh(input)


def logsigmoid(input):
    return _nn.logsigmoid(input)


def _get_softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    return _red.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _red.log_softmax(input, dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("softmin", input.dim(), _stacklevel)
    return _red.softmax(-input, dim, dtype=dtype)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    return input / denom


# ---- dropout, embedding, one_hot ----------------------------------------------

def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p), drawn as PyTorch's CPU kernel draws."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0 or input.numel() == 0:
        return input
    if p == 1:
        noise = zeros((), dtype=input.dtype, device=input.device)
    else:
        noise = _dropout_noise(input, tuple(input.shape), p)
    return input.mul_(noise) if inplace else input * noise


def _dropout_noise(input, shape, p):
    """The mask of the kept elements (drawn from the input's device's stream: on cuda on the device, never on the
    host) divided by 1 - p in the input's dtype, as PyTorch's CPU kernel divides it. The draw is a recorded host
    op: a captured step draws fresh numbers at each replay, where its eager step would (framework.graphs)."""
    stream = random.for_device(input.device, None)
    if input.device.type == "cpu":
        return from_numpy(recording.host_op(_cpu_noise, stream, shape, 1 - p, input._dtype.np))
    mask = recording.host_op(stream.bernoulli_mask, shape, 1 - p)
    return Tensor._from_raw(mask, input.device).to(input._dtype) / (1 - p)


def _cpu_noise(stream, shape, keep, np_dtype):
    return stream.bernoulli_mask(shape, keep).astype(np_dtype) / np_dtype.type(keep)


def _feature_dropout(input, p, training, inplace):
    """Zero whole channels (dim 1) with probability p, scale the rest by 1/(1-p): PyTorch's feature_dropout, its
    noise of shape (N, C, 1, ...) drawn as `dropout`'s."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0 or input.numel() == 0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    if p == 1:
        noise = zeros((), dtype=input.dtype, device=input.device)
    else:
        noise = _dropout_noise(input, shape, p)
    return input.mul_(noise) if inplace else input * noise


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Channel-wise dropout of an (N, C, L) or unbatched (C, L) input."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.dim() not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a "
                           "channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    if input.dim() == 2:
        out = _feature_dropout(input.unsqueeze(0), p, training, inplace)
        return input if out is input else out.squeeze(0)
    return _feature_dropout(input, p, training, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Channel-wise dropout of an (N, C, H, W) input (a 3-d input is taken as (N, C, L), with PyTorch's warning)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.dim() not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.dim()}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on "
                      "inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension (i.e. "
                      "3D or 4D inputs).", stacklevel=2)
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    if padding_idx is not None:
        if padding_idx > 0 and padding_idx >= weight.size(0):
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            if padding_idx < -weight.size(0):
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = weight.size(0) + padding_idx
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    return _nn.embedding(weight, input, padding_idx)


def one_hot(tensor, num_classes=-1):
    if tensor.dtype is not dtypes.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes != -1 and tensor.device.type != "cpu":
        # PyTorch's device path: no host read of the classes (it would wait for the device); scatter's device-side
        # bounds check reports a negative or too large class at the next synchronising call
        out = zeros(*tensor.shape, num_classes, dtype=dtypes.int64, device=tensor.device)
        return out.scatter_(-1, tensor.unsqueeze(-1), 1)
    values = tensor._host()
    if values.size and values.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        if not values.size:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(values.max()) + 1
    elif values.size and values.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return (tensor.unsqueeze(-1) == arange(num_classes, device=tensor.device)).long()


# ---- normalization ---------------------------------------------------------------

def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing `normalized_shape` dims, then scale and shift elementwise (one kernel pair:
    PyTorch's NativeLayerNormBackward0)."""
    return _normalization.layer_norm(input, normalized_shape, weight, bias, eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Divide by the root mean square over the trailing `normalized_shape` dims, then scale elementwise (one kernel
    pair); `eps=None` is the machine epsilon of the computation's dtype."""
    return _normalization.rms_norm(input, normalized_shape, weight, eps)


def _verify_batch_size(size):
    values = size[0]
    for s in size[2:]:
        values *= s
    if values == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize over groups of channels: each (sample, group of C / num_groups channels) by its own mean and
    variance, then scale and shift per channel (one kernel pair: PyTorch's NativeGroupNormBackward0)."""
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    _verify_batch_size([input.size(0) * input.size(1) // num_groups, num_groups] + list(input.size()[2:]))
    return _normalization.group_norm(input, num_groups, weight, bias, eps)


# ---- losses ------------------------------------------------------------------------

# PyTorch composes the weighted forms in Python: their nodes are the pieces'
@composite(lambda args: "MseLossBackward0" if args["weight"] is None else None, inputs=("input", "target"))
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _check_size(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    return _weighted((input - target) ** 2, weight, input, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _check_size(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    return _weighted((input - target).abs(), weight, input, reduction)


def _huber(diff, delta, scale_quadratic):
    """0.5 d^2 (/delta when `scale_quadratic`) below `delta` in |d|, linear above."""
    size = diff.abs()
    quadratic = 0.5 * diff * diff
    if scale_quadratic:
        return _ew.where(size < delta, quadratic / delta, size - 0.5 * delta)
    return _ew.where(size < delta, quadratic, delta * (size - 0.5 * delta))


@composite("HuberLossBackward0", inputs=("input", "target"))
def _huber_loss(input, target, reduction, delta):
    return _reduce(_huber(input - target, delta, False), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    _check_size(input, target)
    _nn.check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if weight is None:
        return _huber_loss(input, target, reduction, delta)
    # PyTorch weights the unreduced loss (its one node), then reduces: the weighted mean divides by the count
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    return _reduce(_huber_loss(input, target, "none", delta) * weight, reduction)


@composite(lambda args: "SmoothL1LossBackward0" if args["beta"] != 0.0 else None, inputs=("input", "target"))
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    _check_size(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return _reduce((input - target).abs(), reduction)  # l1_loss, composed by PyTorch too
    return _reduce(_huber(input - target, beta, True), reduction)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    return _nn.nll_loss(input, target, weight, ignore_index, _reduction(size_average, reduce, reduction))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    return _nn.cross_entropy(input, target, weight, ignore_index, _reduction(size_average, reduce, reduction),
                             label_smoothing)


def linear_cross_entropy(input, weight, target, bias=None, *, ignore_index=-100, reduction="mean",
                         label_smoothing=0.0, chunk_size=None):
    """cross_entropy(linear(input, weight, bias), target, ...) without materialising the (N, V) logits.

    `input` (N, K), `weight` (V, K), optional `bias` (V,), `target` (N,) int64 class indices;
    `ignore_index`, `reduction` ('none' | 'mean' | 'sum') and `label_smoothing` as in `cross_entropy`
    (no class weights). Rows are processed `chunk_size` at a time (default: about 4M logits per chunk), so
    the extra memory is O(chunk_size x V) instead of O(N x V); the backward recomputes each chunk's logits
    and accumulates the weight and bias gradients in float32 (float64 for float64), rounded once.
    Not a PyTorch function: the fused loss of Liger-Kernel / Apple's cut-cross-entropy.
    """
    return _nn.linear_cross_entropy(input, weight, target, bias, ignore_index, reduction, label_smoothing,
                                    chunk_size)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    return _nn.binary_cross_entropy(input, target, weight, _reduction(size_average, reduce, reduction))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    return _bce_with_logits(input, target, weight, _reduction(size_average, reduce, reduction), pos_weight)


from ._loss_functions import (cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss,  # noqa: E402,F401
                              kl_div, margin_ranking_loss, multilabel_soft_margin_loss, poisson_nll_loss,
                              soft_margin_loss, triplet_margin_loss)
from ._activation_functions import (celu, celu_, elu, elu_, hardsigmoid, hardswish, hardtanh,  # noqa: E402,F401
                                    hardtanh_, mish, prelu, relu6, selu, selu_, softsign, tanhshrink, threshold,
                                    threshold_)
from ._multi_head_attention import multi_head_attention_forward  # noqa: E402,F401
