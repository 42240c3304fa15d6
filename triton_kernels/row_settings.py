"""One place that picks BLOCK_SIZE and num_warps for row-wise kernels (Liger's `calculate_settings`)."""

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
    num_warps = 4
    if block_size >= 32768:
        num_warps = 32
    elif block_size >= 16384:
        num_warps = 16
    elif block_size >= 2048:
        num_warps = 8
    return block_size, num_warps
