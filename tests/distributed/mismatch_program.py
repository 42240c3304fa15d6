"""Collectives that do not match across ranks, under TORCH_DISTRIBUTED_DEBUG=DETAIL: every rank gets
PyTorch's error instead of a corrupted buffer or a hang. Run by test_debug.py (cases: case_runner.py)."""
import framework as fw
import framework.distributed as dist
from tests.distributed.case_runner import Cases, run_cases

CASES = case = Cases()


def expect_mismatch(call):
    try:
        call()
    except RuntimeError as error:
        assert str(error).startswith("Detected mismatch between collectives on ranks. Rank 0 is running "
                                     "collective: CollectiveFingerPrint(OpType="), error
        assert "but Rank 1 is running collective" in str(error), error
    else:
        raise AssertionError("the mismatch went through")


@case("shapes")
def _shapes(rank):
    expect_mismatch(lambda: dist.all_reduce(fw.ones(3 + rank)))
    expect_mismatch(lambda: dist.broadcast(fw.ones(2, 2 + rank), src=0))
    expect_mismatch(lambda: dist.all_gather_into_tensor(fw.ones(2 * (3 + rank)), fw.ones(3 + rank)))


@case("dtypes")
def _dtypes(rank):
    expect_mismatch(lambda: dist.all_reduce(fw.ones(3, dtype=fw.float32 if rank == 0 else fw.float64)))


@case("kinds")
def _kinds(rank):
    expect_mismatch(lambda: dist.all_reduce(fw.ones(3)) if rank == 0 else dist.broadcast(fw.ones(3), src=0))
    expect_mismatch(lambda: dist.all_reduce(fw.ones(3), op=dist.ReduceOp.SUM if rank else dist.ReduceOp.MAX))


@case("matching-collectives-still-work")
def _matching(rank):
    tensor = fw.ones(3)
    dist.all_reduce(tensor)
    dist.barrier()
    assert tensor.tolist() == [2.0, 2.0, 2.0]


if __name__ == "__main__":
    run_cases(CASES)
