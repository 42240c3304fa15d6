"""One place that picks BLOCK_SIZE and num_warps for row-wise kernels (Liger's `calculate_settings`)."""
from .strided import interpreting

MAX_BLOCK_SIZE = 65536  # Liger's cap: one block of columns per loop step; wider rows loop over blocks


def _next_power_of_2(n):
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def row_settings(n_cols, max_block_size=MAX_BLOCK_SIZE):
    """(BLOCK_SIZE, num_warps) for a kernel that walks one row of `n_cols` elements per program.

    BLOCK_SIZE is the next power of two of `n_cols`, capped at `max_block_size` (a power of two;
    kernels that loop over column blocks handle wider rows; a kernel holding several blocks live
    passes a smaller cap to stay clear of register spills).

    The num_warps thresholds are Liger's `calculate_settings` and the Triton softmax tutorial's
    starting points, UNMEASURED here (this project has had no GPU yet), with one change: Liger
    gives 16 warps from 8192 columns; here 8192 keeps 8, because ptxas capped the cross-entropy
    forward at 8192 x 16 warps at 64 registers and spilled (8-16 bytes on sm_80/sm_90, AOT compile
    with all flags on), while 8192 x 8 warps and 16384 x 16 warps compile without spills.
    To do on an H100: sweep BLOCK_SIZE x num_warps (cross-entropy at 8192 x 32000 and
    4096 x 128256 bf16) and record the device and the sweep here.
    """
    if n_cols < 1:
        raise ValueError(f"row_settings: n_cols must be >= 1, got {n_cols}")
    block_size = min(_next_power_of_2(n_cols), max_block_size)
    return block_size, _warps_for(block_size)


def _warps_for(block_elements):
    if block_elements >= 32768:
        return 32
    if block_elements >= 16384:
        return 16
    if block_elements >= 2048:
        return 8
    return 4


# Elements of one [BLOCK_M, BLOCK_SIZE] tile for kernels that hold a few tiles live (per-lane accumulators of
# reductions, softmax rows), and the default cap on BLOCK_SIZE for them. UNMEASURED on a GPU; evidence from AOT
# compiles (sm_80/sm_90, tests/triton_kernels/test_reduction.py and test_softmax.py): 4096 elements with 8 warps
# compile without spills for every reduction (max with its index in fp64 is the heaviest, ~148 registers), and so
# do softmax rows of 8192 x 8 warps held whole; 16384 x 16 warps spilled there (64-register cap), and so did
# packed rows of 1024 x 16 with 16 warps (per-row scalars cost registers too): packing stays at MAX_TILE.
# The interpreter's cost is per program instance, so it takes far bigger tiles.
MAX_TILE = 4096
INTERPRETER_TILE = 1 << 16


def tile_settings(n_rows, n_cols, max_block_size=MAX_TILE, max_tile=MAX_TILE):
    """(BLOCK_M, BLOCK_SIZE, num_warps) for a kernel whose program walks BLOCK_M rows of `n_cols` elements,
    BLOCK_SIZE columns at a time: short rows pack several to a program (a softmax over 7 columns of a
    million rows needs 8-wide blocks, not a million programs), wide rows get BLOCK_M = 1 and loop.

    BLOCK_SIZE is at most `max_block_size` and BLOCK_M * BLOCK_SIZE at most max(max_tile, BLOCK_SIZE) (powers
    of two). Under TRITON_INTERPRET=1 both caps are INTERPRETER_TILE."""
    if interpreting():
        max_block_size = max_tile = INTERPRETER_TILE
    block_size = min(_next_power_of_2(max(n_cols, 1)), max_block_size)
    block_m = max(1, min(max_tile // block_size, _next_power_of_2(max(n_rows, 1))))
    return block_m, block_size, _warps_for(block_m * block_size)
