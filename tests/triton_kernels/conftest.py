"""Kernel tests run in Triton's interpreter on the host (no GPU needed).

NOTE: this folder must NOT have an __init__.py: as a package it would be named
`triton_kernels` and shadow the real `triton_kernels` package the tests import.
"""
import os

# Both must be set before any @triton.jit decoration runs (i.e. before triton_kernels is imported).
os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
