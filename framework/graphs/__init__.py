"""Captured steps: record a step's kernel calls once, replay them without Python dispatch, on every device.

    g = framework.graphs.Graph()
    with framework.graphs.graph(g):          # runs the code once, recording every kernel call
        loss = step(static_x, static_y)
    static_x.copy_(x); static_y.copy_(y)
    g.replay()                               # the same kernels, into the same buffers; loss holds the new value

    @framework.graphs.capture                # or: a whole step function, captured after a warm-up call
    def step(x, y): ...

PyTorch's CUDA graph API (`Graph` has CUDAGraph's methods) with one meaning on the CPU and on `cuda` under
Triton's interpreter. How it records: recording.py; the Graph object: capturing.py; the decorator: step_capture.py.
The core imports `framework.graphs.recording` for its hook points; the rest loads on first use.
"""
__all__ = ["Graph", "graph", "capture", "graph_pool_handle", "is_current_stream_capturing"]

# Loaded on first use: the core imports `recording` at `import framework`, and `capture` needs Tensor.
_HOMES = {"Graph": "capturing", "graph": "capturing", "graph_pool_handle": "capturing",
          "is_current_stream_capturing": "capturing", "capture": "step_capture"}


def __getattr__(name):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'framework.graphs' has no attribute '{name}'")
    import importlib
    return getattr(importlib.import_module(f".{home}", __name__), name)
