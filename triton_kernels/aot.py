"""Ahead-of-time compilation for real GPUs, without one: proof that a kernel config builds.

`triton.compile(ASTSource(...), target=GPUTarget("cuda", arch, 32))` runs Triton's whole
pipeline down to a cubin on a machine with no GPU. `compile_for` does that for one
kernel config and reads what CI checks: registers and spills (from ptxas, which Triton
ships), shared memory, and whether the PTX uses Hopper's `wgmma` tensor-core instructions.
"""
import dataclasses
import os
import re
import subprocess
import tempfile

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.jit import JITFunction

ARCHITECTURES = (80, 90)  # Ampere (A100) and Hopper (H100): every shipped config compiles for both


@dataclasses.dataclass(frozen=True)
class CompiledKernel:
    name: str
    arch: int
    registers: int
    spilled_bytes: int
    shared_bytes: int
    uses_wgmma: bool
    ptx: str


def _ptxas(arch):
    """The ptxas binary that ships inside Triton's wheel."""
    from triton.backends.nvidia.compiler import get_ptxas
    tool = get_ptxas(arch)
    return getattr(tool, "path", tool)


def _register_report(ptx, arch):
    """ptxas -v on the PTX: (registers per thread, bytes of spill stores + loads)."""
    sm = f"sm_{arch}a" if arch >= 90 else f"sm_{arch}"
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "kernel.ptx")
        with open(source, "w") as handle:
            handle.write(ptx)
        result = subprocess.run([_ptxas(arch), "-v", f"-arch={sm}", source, "-o", os.path.join(folder, "kernel.cubin")],
                                capture_output=True, text=True, check=True)
    report = result.stderr + result.stdout
    registers = max((int(n) for n in re.findall(r"Used (\d+) registers", report)), default=0)
    spills = sum(int(a) + int(b) for a, b in re.findall(r"(\d+) bytes spill stores, (\d+) bytes spill loads", report))
    return registers, spills


def compile_for(kernel, signature, constexprs, arch, num_warps=4, num_stages=3):
    """Compile `kernel` (a @triton.jit function) for sm_`arch` with the given argument types
    (`{"x_ptr": "*fp32", "n_cols": "i32", "BLOCK_SIZE": "constexpr"}`) and constexpr values."""
    if not isinstance(kernel, JITFunction):
        # Under TRITON_INTERPRET=1, @triton.jit gives an interpreted function: compile its source instead.
        kernel = JITFunction(getattr(kernel, "fn", kernel))
    source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
    compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32),
                              options={"num_warps": num_warps, "num_stages": num_stages})
    ptx = compiled.asm["ptx"]
    registers, spills = _register_report(ptx, arch)
    return CompiledKernel(name=compiled.metadata.name, arch=arch, registers=registers, spilled_bytes=spills,
                          shared_bytes=compiled.metadata.shared, uses_wgmma="wgmma.mma_async" in ptx, ptx=ptx)
