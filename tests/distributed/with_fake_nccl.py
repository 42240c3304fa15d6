"""`python with_fake_nccl.py PROGRAM ARGS...`: run PROGRAM as __main__ with the fake NCCL (fake_nccl.py)
installed, as a real nccl4py would be; `cuda` must be Triton's interpreter (TRITON_INTERPRET=1)."""
import runpy
import sys

from tests.distributed import fake_nccl

fake_nccl.install()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
