"""Process-wide numeric switches, as PyTorch's top level has them: the float32 matmul precision and the
deterministic-algorithms mode. Light (no Triton): scripts set them before any tensor exists.

float32 matmul precision ("highest", "high", "medium"; PyTorch's default "highest") is the same switch as
`framework.backends.cuda.matmul.allow_tf32`, as in PyTorch: "high" and "medium" let float32 matmuls and linear
layers on a GPU multiply on TF32 tensor cores (this framework has no bf16-internal fp32 matmul, so "medium"
uses TF32 too, PyTorch's fallback); allow_tf32 = True reads back as "high", False as "highest".

Deterministic algorithms (`use_deterministic_algorithms(True)`): every kernel here has one summation order
except the cuda ops that add with atomics (scatter_add, and the backward of gather, indexing, index_select and
embedding: tests/reliability/test_determinism.py lists them); these raise PyTorch's error (or warn, with
warn_only=True) through `alert_not_deterministic`. The mode also stops the kernels' autotuning (tile choices
made by timing, which may differ run to run and so change the last bits): triton_kernels/tuning.py.
"""
import sys
import warnings

_PRECISIONS = ("highest", "high", "medium")


class _State:
    float32_matmul_precision = "highest"
    deterministic = False
    warn_only = False


STATE = _State()


def set_float32_matmul_precision(precision):
    """Sets the internal precision of float32 matrix multiplications: "highest" (IEEE fp32), "high" or "medium"
    (TF32 tensor cores on a GPU). Another value warns and changes nothing, as in PyTorch."""
    if precision not in _PRECISIONS:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current"
                      "setFloat32MatmulPrecision call has no effect.", UserWarning, stacklevel=2)
        return
    STATE.float32_matmul_precision = precision


def get_float32_matmul_precision():
    return STATE.float32_matmul_precision


def matmul_allows_tf32():
    return STATE.float32_matmul_precision != "highest"


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Makes ops use deterministic algorithms where they have them, and raise (warn_only: warn) where not."""
    if not isinstance(mode, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not "
                        f"{type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, not "
                        f"{type(warn_only).__name__}")
    STATE.deterministic, STATE.warn_only = mode, warn_only
    tuning = sys.modules.get("triton_kernels.tuning")
    if tuning is not None:  # else the cuda backend applies it when it loads
        tuning.set_allowed(not mode)


def are_deterministic_algorithms_enabled():
    return STATE.deterministic


def is_deterministic_algorithms_warn_only_enabled():
    return STATE.warn_only


def alert_not_deterministic(caller):
    """PyTorch's error (a UserWarning with warn_only) for `caller`, an op with no deterministic implementation,
    when deterministic algorithms are on; nothing otherwise."""
    if not STATE.deterministic:
        return
    if STATE.warn_only:
        warnings.warn(f"{caller} does not have a deterministic implementation, but you set "
                      "'framework.use_deterministic_algorithms(True, warn_only=True)'. You can file an issue at "
                      "https://github.com/pytorch/pytorch/issues to help us prioritize adding deterministic "
                      "support for this operation.", UserWarning, stacklevel=3)
        return
    raise RuntimeError(f"{caller} does not have a deterministic implementation, but you set "
                       "'framework.use_deterministic_algorithms(True)'. You can turn off determinism just for this "
                       "operation, or you can use the 'warn_only=True' option, if that's acceptable for your "
                       "application. You can also file an issue at https://github.com/pytorch/pytorch/issues to "
                       "help us prioritize adding deterministic support for this operation.")
