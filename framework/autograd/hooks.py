"""What gradient hooks may return: PyTorch's checks, so that a hook never leaves a gradient of the wrong shape,
dtype or device behind it.

A tensor hook (`register_hook`) returns None or a replacement gradient with the original's dtype, device and
shape (else PyTorch's RuntimeError: "hook 'name' has changed the type of value (was ... got ...)" / "... the
size of value"); anything else that is not a tensor is a TypeError. A post-accumulate-grad hook
(`register_post_accumulate_grad_hook`) receives the leaf after its `.grad` is updated and must return None; a
tensor it returns is held to the same checks first, as PyTorch does. Module backward hooks are to use
`checked_result` too.
"""


def hook_name(hook):
    """How PyTorch names a hook in its errors: its __name__ (a lambda's is '<lambda>'), else '<unknown>'."""
    name = getattr(hook, "__name__", None)
    return name if isinstance(name, str) else "<unknown>"


def _type_string(tensor):
    return tensor.type()  # framework.FloatTensor, framework.cuda.FloatTensor


def checked_result(hook, original, result):
    """`result`, the value `hook` returned for the gradient `original`, if PyTorch accepts it (None: keep the
    gradient); else PyTorch's error."""
    if result is None:
        return None
    from ..tensor import Tensor  # late: the autograd package sits below the Tensor class
    if not isinstance(result, Tensor):
        raise TypeError(f"expected Variable, but hook returned '{type(result).__name__}'")
    if result._dtype is not original._dtype or result._device.type != original._device.type:
        raise RuntimeError(f"hook '{hook_name(hook)}' has changed the type of value (was {_type_string(original)} "
                           f"got {_type_string(result)})")
    if tuple(result.shape) != tuple(original.shape):
        raise RuntimeError(f"hook '{hook_name(hook)}' has changed the size of value")
    return result


def run_post_accumulate_hooks(hooks, variable):
    """Call each post-accumulate-grad hook with the leaf whose .grad was just updated; they must return None."""
    for hook in list(hooks):
        result = hook(variable)
        if result is not None:
            checked_result(hook, variable, result)
            raise RuntimeError("Tensor post accumulate grad hooks should return None.")
