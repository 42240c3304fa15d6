"""Rank 1 raises (or calls sys.exit(3): argv[1] == "exit") while rank 0 waits in a collective: the job
must end, non-zero, with rank 1's traceback (the abort hook of init_process_group), never hang. Run by
test_process_group.py."""
import sys

import framework as fw
import framework.distributed as dist

dist.init_process_group("mpi")
if dist.get_rank() == 1:
    if sys.argv[1:] == ["exit"]:
        sys.exit(3)
    raise ZeroDivisionError("rank 1 fails on purpose")
dist.all_reduce(fw.ones(3))  # never completes: rank 1 is gone
print("rank 0 finished: the abort did not happen")
