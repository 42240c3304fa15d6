"""Bad input found by a kernel, recorded on the device for the host to read when it next waits anyway.

A kernel that reads with indices (gather, embedding, class targets) or whose input has a domain (BCE's
probabilities) must neither fault nor silently compute with bad input, and must not make the host wait for the
device to find out: it masks the bad lanes (a masked load never reads out of bounds) and writes a record of the
violation into a small int64 buffer, `error_ptr`, that the caller owns:

    error_ptr[0]  the launcher's `error_code`, nonzero (0: nothing recorded)
    error_ptr[1]  the offending value (an index or a class target; 0 when the check has none)
    error_ptr[2]  error_ptr[3]: two numbers the caller's message needs (the indexed dim and its size; which
                  operand failed)

The caller reads the record after its next synchronisation (when every kernel queued so far has finished),
raises, and zeroes it. Launchers take the record as `errors` (None: bad lanes are masked but not reported) and
the code as `error_code` (0 also turns reporting off); the codes and their messages are the caller's.

The first error recorded is the one kept: a program records only while error_ptr[0] reads 0, and launches on
one stream run one after another, so an earlier launch's record survives later ones. Programs of one launch
that find bad lanes at the same time may each write theirs; they write the same code and numbers and each a
value that really is bad, so any of them makes a true message. Plain stores, no atomics: the record may then
live in pinned host memory that the device writes through, which the host reads without a copy.

The checks cost one block reduction per program while reporting is on, and nothing more until a lane is bad.
"""
import triton
import triton.language as tl

from .strided import dtype_name_of, numel

RECORD_SIZE = 4  # int64 elements


@triton.jit
def record_error(error_ptr, error_code, value, arg0, arg1):
    # One program writes (error_code, value, arg0, arg1) unless a record is already there; the code last, so a
    # record with a code is whole once the device is idle.
    if tl.load(error_ptr, volatile=True) == 0:
        tl.store(error_ptr + 1, value)
        tl.store(error_ptr + 2, arg0)
        tl.store(error_ptr + 3, arg1)
        tl.store(error_ptr, error_code)


@triton.jit
def report_bad_lanes(error_ptr, error_code, bad, values, arg0, arg1, BLOCK: tl.constexpr):
    # `bad` and `values` are blocks of BLOCK lanes: when reporting is on and a lane is bad, record the first
    # bad lane's value (the lowest position, as the CPU reports the first bad element).
    if error_code != 0:
        if tl.max(bad.to(tl.int32), axis=0) != 0:
            lanes = tl.arange(0, BLOCK)
            first = tl.min(tl.where(bad, lanes, BLOCK), axis=0)
            value = tl.sum(tl.where(lanes == first, values.to(tl.int64), 0), axis=0)
            record_error(error_ptr, error_code, value, arg0, arg1)


def check_record(fn, errors):
    """Raise when `errors` (a launcher's record argument, or None) is not an int64 buffer of RECORD_SIZE."""
    if errors is not None and (dtype_name_of(errors) != "int64" or numel(errors.shape) < RECORD_SIZE):
        raise ValueError(f"{fn}: errors must be an int64 buffer of {RECORD_SIZE} elements, got {errors.dtype} "
                         f"{tuple(errors.shape)}")
