"""Hand-written Triton kernels and their host launchers.

This package stands alone: it imports nothing from `framework`. Each launcher
takes raw buffers (objects with `data_ptr()` and `dtype`), sizes and strides.
The kernels arrive with the Triton backend; `import framework` never imports
this package, so the CPU path needs only numpy.
"""

from . import interpreter  # noqa: F401,E402  (under TRITON_INTERPRET=1: the interpreter's shims, before any launch)
