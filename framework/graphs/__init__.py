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
The core imports `framework.graphs.recording` for its hook points, so this module loads no Tensor code itself.
"""
from .capturing import Graph, graph, graph_pool_handle, is_current_stream_capturing

__all__ = ["Graph", "graph", "capture", "graph_pool_handle", "is_current_stream_capturing"]


def __getattr__(name):
    if name == "capture":  # it needs Tensor, which imports this package's recording hooks: loaded on first use
        from .step_capture import capture
        return capture
    raise AttributeError(f"module 'framework.graphs' has no attribute '{name}'")
