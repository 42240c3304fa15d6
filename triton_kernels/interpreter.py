"""What the kernels need from Triton's interpreter (TRITON_INTERPRET=1) beyond what it offers.

* `HostLibdevice`: libdevice's math in numpy. The interpreter cannot call extern functions; on a GPU the kernels
  call libdevice itself (`libdevice` below is whichever applies).
* `skip_repatching_device_calls()`: the interpreter re-patches `triton.language` on every call of a @triton.jit
  helper from a kernel (`InterpretedFunction.__call__` -> `_patch_lang`), ~2 ms a call, about half of a small
  launch's cost with the shared `strided_offsets` helper (profiled: 0.86 s of 1.8 s for 70 launches). The
  kernel's own launch has already patched the same module objects, so a helper call can skip it.
* `exact_bfloat16_casts()`: the interpreter's bf16 <-> fp32 cast (`_convert_float`) mangles subnormals
  (bf16 9.18e-41 widens to 0.0, -2.76e-40 to -5.88e-39), so pow(x, bf16 subnormal) on `cuda` gave 1. The two
  formats share sign and exponent: widening is the bits shifted left by 16, exact, as a GPU's cvt does;
  narrowing keeps the interpreter's truncation (kernels that must round do it themselves, in integer ops).
* `one_element_indices()`: Triton 3.6's interpreter holds a scalar argument as a 1-element array and makes it an
  index (`range(0, n, BLOCK)`) with `int(array)`, which NumPy 2.4 refuses ("only 0-dimensional arrays can be
  converted to Python scalars"); Triton 3.7 squeezes the array first. Do as 3.7 does.
* `quiet_float_warnings()`: a kernel computes in IEEE arithmetic, where x / 0 is inf and inf - inf is nan by
  design (a GPU raises nothing); the interpreter runs it as numpy, which warns at each such op ("overflow
  encountered in divide", ...), by the hundred in a test run. Every interpreted launch runs with numpy's
  floating-point warnings off, as the CPU backend's kernels do (framework/backends/numpy/common.py).
"""
import math
import re

import numpy as np
import triton
import triton.language as tl

from .strided import interpreting


class HostLibdevice:
    """The libdevice functions these kernels call, in numpy, for Triton's interpreter. The interpreter runs
    kernels as Python on tensors that wrap host numpy arrays, so each function unwraps its arguments, applies
    numpy (float64 math.erf and math.erfc for erf and erfc) and wraps the result in the type of its block
    argument."""

    def __init__(self):
        erf = np.vectorize(math.erf, otypes=[np.float64])
        erfc = np.vectorize(math.erfc, otypes=[np.float64])
        for name, fn in (("exp", np.exp), ("log", np.log), ("log1p", np.log1p), ("expm1", np.expm1),
                         ("sin", np.sin), ("cos", np.cos), ("tanh", np.tanh), ("erf", erf), ("erfc", erfc),
                         ("pow", np.power),
                         ("rint", np.rint), ("trunc", np.trunc), ("fmod", np.fmod), ("copysign", np.copysign)):
            setattr(self, name, self._wrap(fn))

    @staticmethod
    def _wrap(fn):
        def call(*args):
            from triton.runtime.interpreter import TensorHandle
            # (a constexpr times a tensor is a constexpr holding the tensor in the interpreter)
            args = [a.value if isinstance(a, tl.constexpr) else a for a in args]
            like = max((a for a in args if isinstance(a, tl.tensor)), key=lambda t: len(t.shape))
            data = [a.handle.data if isinstance(a, tl.tensor) else a for a in args]
            with np.errstate(all="ignore"):
                result = np.asarray(fn(*data)).astype(like.handle.data.dtype)
            return tl.tensor(TensorHandle(result, like.dtype.scalar), like.type)
        return call


def skip_repatching_device_calls():
    """Make @triton.jit helper calls inside an interpreted kernel skip re-patching triton.language when every
    language module the helper sees is patched already (a patched module's `arange` is no longer a builtin)."""
    import inspect

    from triton.runtime import interpreter
    if getattr(interpreter.InterpretedFunction, "_framework_fast_calls", False):
        return
    original_call = interpreter.InterpretedFunction.__call__
    languages = {}  # helper function -> the triton.language modules in its globals

    def call(self, *args, **kwargs):
        seen = languages.get(self.fn)
        if seen is None:
            seen = languages[self.fn] = [value for value in self.fn.__globals__.values()
                                         if inspect.ismodule(value) and value in (tl, tl.core)]
        if not seen or any(tl.core.is_builtin(lang.arange) for lang in seen):
            return original_call(self, *args, **kwargs)  # something to patch: the interpreter's own way
        fn = self.rewrite()
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            raise interpreter.InterpreterError(repr(error)) from error

    interpreter.InterpretedFunction.__call__ = call
    interpreter.InterpretedFunction._framework_fast_calls = True


def exact_bfloat16_casts():
    """Make the interpreter's bf16 <-> fp32 conversions bit-exact for every value, subnormals included."""
    from triton.runtime import interpreter
    original = interpreter._convert_float
    if getattr(original, "_framework_exact_bf16", False):
        return

    def convert(input, input_dtype, output_dtype, rounding_mode):
        if input_dtype == tl.bfloat16 and output_dtype == tl.float32:
            bits = np.frombuffer(input.tobytes(), dtype=np.uint16).astype(np.uint32) << 16
            return bits.reshape(input.shape)
        if input_dtype == tl.float32 and output_dtype == tl.bfloat16 and rounding_mode is None:
            bits = np.frombuffer(input.tobytes(), dtype=np.uint32)
            nan = (bits & 0x7FFFFFFF) > 0x7F800000
            narrowed = np.where(nan, (bits >> 16) | 0x40, bits >> 16)  # truncated; nan stays a (quiet) nan
            return narrowed.astype(np.uint16).reshape(input.shape)
        return original(input, input_dtype, output_dtype, rounding_mode)

    convert._framework_exact_bf16 = True
    interpreter._convert_float = convert


def one_element_indices():
    """Make a scalar argument usable as an index in Triton 3.6's interpreter (see the module's docstring)."""
    from triton.runtime import interpreter
    original = interpreter._patch_lang_tensor
    if getattr(original, "_framework_squeezed_index", False):
        return

    def patch(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.squeeze()))

    patch._framework_squeezed_index = True
    interpreter._patch_lang_tensor = patch


def quiet_float_warnings():
    """Run every interpreted launch (`kernel[grid](...)` -> `InterpretedFunction.run`) under
    np.errstate(all="ignore"): inf and nan are values there, not errors."""
    import functools

    from triton.runtime import interpreter
    original_run = interpreter.InterpretedFunction.run
    if getattr(original_run, "_framework_quiet", False):
        return

    @functools.wraps(original_run)
    def run(self, *args, **kwargs):
        with np.errstate(all="ignore"):
            return original_run(self, *args, **kwargs)

    run._framework_quiet = True
    interpreter.InterpretedFunction.run = run


if interpreting():
    libdevice = HostLibdevice()
    skip_repatching_device_calls()
    exact_bfloat16_casts()
    if tuple(int(part) for part in re.findall(r"\d+", triton.__version__)[:2]) < (3, 7):
        one_element_indices()
    quiet_float_warnings()
else:
    from triton.language.extra.cuda import libdevice  # noqa: F401
