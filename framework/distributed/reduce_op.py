"""ReduceOp: how collectives combine the ranks' values, and the MPI operation behind each.

MPI has no average: AVG is an MPI sum divided by the group's size afterwards (floating
tensors only, as NCCL allows it).
"""
import enum


class RedOpType(enum.IntEnum):
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7


class ReduceOp:
    """PyTorch's spelling: `ReduceOp.SUM` is a `RedOpType` member."""
    RedOpType = RedOpType
    SUM, AVG, PRODUCT, MIN, MAX = RedOpType.SUM, RedOpType.AVG, RedOpType.PRODUCT, RedOpType.MIN, RedOpType.MAX
    BAND, BOR, BXOR = RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR


_MPI_OPS = {}  # RedOpType -> MPI.Op, filled at the first call (mpi4py is imported only then)


def mpi_op(op, is_bool=False):
    """The MPI.Op computing `op`. Booleans travel as bytes 0/1: their sum is an OR (MAX), their product an AND (MIN)."""
    if not _MPI_OPS:
        from mpi4py import MPI
        _MPI_OPS.update({RedOpType.SUM: MPI.SUM, RedOpType.AVG: MPI.SUM, RedOpType.PRODUCT: MPI.PROD,
                         RedOpType.MIN: MPI.MIN, RedOpType.MAX: MPI.MAX, RedOpType.BAND: MPI.BAND,
                         RedOpType.BOR: MPI.BOR, RedOpType.BXOR: MPI.BXOR})
    op = RedOpType(op)
    if is_bool and op in (RedOpType.SUM, RedOpType.PRODUCT):
        op = RedOpType.MAX if op == RedOpType.SUM else RedOpType.MIN
    return _MPI_OPS[op]
