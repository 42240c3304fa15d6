"""monitored_barrier: a barrier that names the ranks which did not reach it in time (PyTorch's, from gloo).

Rank 0 of the group waits for a message from every other rank until the timeout; then it answers each, and
they return. Ranks that did not report in time make rank 0 raise naming them (the first one, or all with
wait_all_ranks=True); a rank whose answer from rank 0 does not come in time raises saying so. The messages
go over the group's own MPI communicator for this (ProcessGroup.monitor), each call with its own tag, so a
late message from a failed call never completes a later one nor meets a user's send/recv.
"""
import datetime
import time

import numpy as np

from .process_group import _group

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # PyTorch's default_pg_timeout
_POLL_S = 0.001
_TAGS = 30000  # tags cycle below MPI's guaranteed minimum MPI_TAG_UB (32767)


def _wait_until(requests, deadline):
    """Test `requests` ({peer: request}) until `deadline`; returns the peers whose request has not completed,
    their requests cancelled (an MPI request must complete, or be cancelled, before it is dropped)."""
    pending = dict(requests)
    while pending:
        for peer in [peer for peer, request in pending.items() if request.Test()]:
            del pending[peer]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(_POLL_S)
    for request in pending.values():
        request.Cancel()
        request.Wait()
    return sorted(pending)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """Like barrier(), but rank 0 raises RuntimeError naming the ranks that did not reach it within `timeout`
    (a datetime.timedelta; the group's timeout by default), the first of them, or all with wait_all_ranks."""
    group = _group(group)
    if group is None:
        return None
    timeout = timeout or group.timeout or DEFAULT_TIMEOUT
    milliseconds = int(timeout.total_seconds() * 1000)
    deadline = time.monotonic() + timeout.total_seconds()
    tag = group.monitored_barriers % _TAGS
    group.monitored_barriers += 1
    comm, rank = group.monitor, group.rank()
    token = np.zeros(1, np.uint8)
    if rank == 0:
        arrived = {peer: np.zeros(1, np.uint8) for peer in range(1, group.size())}
        missing = _wait_until({peer: comm.Irecv(buffer, source=peer, tag=tag) for peer, buffer in arrived.items()},
                              deadline)
        if missing and wait_all_ranks:
            raise RuntimeError(f"[Rank 0]: Ranks {', '.join(map(str, missing))} failed to pass monitoredBarrier in "
                               f"{milliseconds} ms")
        if missing:
            raise RuntimeError(f"[Rank 0]: Rank {missing[0]} failed to pass monitoredBarrier in {milliseconds} ms")
        for peer in arrived:
            comm.Send(token, dest=peer, tag=tag)
        return None
    sent = comm.Isend(token, dest=0, tag=tag)
    answer = np.zeros(1, np.uint8)
    if _wait_until({0: comm.Irecv(answer, source=0, tag=tag)}, deadline):
        _wait_until({0: sent}, deadline)
        raise RuntimeError(f"Rank {rank} successfully reached monitoredBarrier, but received errors while waiting "
                           "for send/recv from rank 0. Please check rank 0 logs for faulty rank.")
    sent.Wait()
    return None
