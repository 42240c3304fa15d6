"""A smoke test of the `cuda` device, one step after another, each reported as it ends and none stopping the rest.

    python perf/gpu_smoke.py                    # on a GPU: the compiled path; under TRITON_INTERPRET=1: the same
    python perf/gpu_smoke.py --json smoke.json  # steps, times and errors, for perf/gpu_check.sh's $OUT

What a first run on a new GPU machine most needs to know, in the order things break: memory, copies both ways
(small ones directly, large ones through the pinned staging slots), strided and broadcast elementwise kernels, a
reduction, the fused linear forward and backward (fp32 and bf16), cross-entropy forward and backward, 20 training
steps compared step by step with the same steps on the CPU, a CUDA graph of forward and backward replayed against
eager, then an out-of-memory error followed by normal work.
Every value is checked against the CPU (numpy), so a step that runs but computes nonsense fails too. The exit
status is the number of failed steps (0: all passed or skipped).
"""
import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import framework as fw  # noqa: E402  (after the path: runs from the source tree)
import framework.nn.functional as F  # noqa: E402

# Sizes: on a GPU large enough to leave the launch-overhead regime and to cross the staging threshold many times;
# under the interpreter (every kernel program run in Python) small enough for seconds.
GPU_SIZES = dict(copy_mib=256, rows=4096, cols=1024, hidden=1024, batch=512, classes=1000)
INTERPRETER_SIZES = dict(copy_mib=1, rows=64, cols=48, hidden=32, batch=16, classes=10)
TRAINING_STEPS = 20


def _check(got, expected, rtol, atol=None, what="values"):
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape:
        raise AssertionError(f"{what}: shape {got.shape}, expected {expected.shape}")
    atol = rtol if atol is None else atol
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    error = float(np.abs(got - expected).max(initial=0.0))
    if not np.isfinite(got).all() or error > atol * scale + rtol * scale:
        raise AssertionError(f"{what}: max |difference| {error:.3g} > {(atol + rtol) * scale:.3g}")
    return f"max |diff| {error:.2g}"


def _cuda(array, requires_grad=False):
    return fw.tensor(array, device="cuda", requires_grad=requires_grad)


def allocation(sizes, rng):
    before = fw.cuda.memory_allocated()
    x = fw.empty(sizes["rows"], sizes["cols"], device="cuda")
    grown = fw.cuda.memory_allocated() - before
    if grown < x.numel() * 4:
        raise AssertionError(f"memory_allocated grew by {grown} bytes for a {x.numel() * 4}-byte tensor")
    del x
    return f"{fw.cuda.get_device_name()}: {fw.cuda.get_device_properties().total_memory / 2**30:.1f} GiB"


def copies(sizes, rng):
    small = rng.standard_normal(1000).astype(np.float32)
    np.testing.assert_array_equal(_cuda(small).cpu().numpy(), small)
    large = rng.integers(0, 255, sizes["copy_mib"] << 20, dtype=np.uint8)  # past the pinned staging threshold
    start = time.perf_counter()
    on_device = _cuda(large)
    back = on_device.cpu().numpy()
    seconds = time.perf_counter() - start
    np.testing.assert_array_equal(back, large)
    copied = on_device.clone().cpu().numpy()  # device to device, then back
    np.testing.assert_array_equal(copied, large)
    return f"{sizes['copy_mib']} MiB there and back in {seconds * 1e3:.0f} ms ({2 * large.nbytes / seconds / 1e9:.2f} GB/s)"


def elementwise(sizes, rng):
    a = rng.standard_normal((sizes["cols"], sizes["rows"])).astype(np.float32)
    b = rng.standard_normal(sizes["cols"]).astype(np.float32)
    got = (_cuda(a).t() * 2 + _cuda(b)).exp().cpu().numpy()  # transposed (strided) operand, broadcast row
    return _check(got, np.exp(a.T.astype(np.float64) * 2 + b), 1e-5, what="exp(a.t() * 2 + b)")


def reduction(sizes, rng):
    a = rng.standard_normal((sizes["rows"], sizes["cols"])).astype(np.float32)
    x = _cuda(a)
    _check(x.sum(dim=0).cpu().numpy(), a.astype(np.float64).sum(0), 1e-5, what="sum(dim=0)")
    _check(x.amax(dim=1).cpu().numpy(), a.max(1), 0, what="amax(dim=1)")
    return _check(x.mean().item(), a.astype(np.float64).mean(), 1e-5, what="mean()")


def _fused_linear(sizes, rng, dtype, rtol):
    x = rng.standard_normal((sizes["batch"], sizes["hidden"])).astype(np.float32)
    w = (rng.standard_normal((sizes["hidden"], sizes["hidden"])) / np.sqrt(sizes["hidden"])).astype(np.float32)
    b = rng.standard_normal(sizes["hidden"]).astype(np.float32)
    g = rng.standard_normal((sizes["batch"], sizes["hidden"])).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        xs, ws, bs = (fw.tensor(v, device=device, dtype=dtype, requires_grad=True) for v in (x, w, b))
        out = F.relu(F.linear(xs, ws, bs))
        out.backward(fw.tensor(g, device=device, dtype=dtype))
        results[device] = [t.detach().cpu().float().numpy() for t in (out, xs.grad, ws.grad, bs.grad)]
    for name, got, expected in zip(("out", "x.grad", "w.grad", "b.grad"), results["cuda"], results["cpu"]):
        _check(got, expected, rtol, what=name)
    return f"relu(x @ w.T + b), {sizes['batch']}x{sizes['hidden']}x{sizes['hidden']}: forward and backward"


def fused_linear_fp32(sizes, rng):
    return _fused_linear(sizes, rng, fw.float32, 1e-3)  # TF32 tensor cores on the GPU


def fused_linear_bf16(sizes, rng):
    return _fused_linear(sizes, rng, fw.bfloat16, 3e-2)


def cross_entropy(sizes, rng):
    logits = (3 * rng.standard_normal((sizes["batch"], sizes["classes"]))).astype(np.float32)
    target = rng.integers(0, sizes["classes"], sizes["batch"])
    results = {}
    for device in ("cpu", "cuda"):
        z = fw.tensor(logits, device=device, requires_grad=True)
        loss = F.cross_entropy(z, fw.tensor(target, device=device), label_smoothing=0.1)
        loss.backward()
        results[device] = (loss.item(), z.grad.cpu().numpy())
    _check(results["cuda"][0], results["cpu"][0], 1e-5, what="loss")
    return _check(results["cuda"][1], results["cpu"][1], 1e-5, what="grad")


def training(sizes, rng):
    """The same MLP, data and Adam steps on both devices; the losses must agree step by step."""
    x = rng.standard_normal((sizes["batch"], sizes["hidden"])).astype(np.float32)
    y = rng.integers(0, sizes["classes"], sizes["batch"])
    losses = {}
    for device in ("cpu", "cuda"):
        fw.manual_seed(0)
        model = fw.nn.Sequential(fw.nn.Linear(sizes["hidden"], sizes["hidden"]), fw.nn.ReLU(),
                                 fw.nn.Linear(sizes["hidden"], sizes["classes"])).to(device)
        optimizer = fw.optim.Adam(model.parameters(), lr=1e-3)
        xs, ys = fw.tensor(x, device=device), fw.tensor(y, device=device)
        history = []
        for _ in range(TRAINING_STEPS):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xs), ys)
            loss.backward()
            optimizer.step()
            history.append(loss.detach())
        losses[device] = np.array([h.item() for h in history])
    _check(losses["cuda"], losses["cpu"], 2e-3, what="losses")  # TF32 matmuls drift slowly
    if not losses["cuda"][-1] < losses["cuda"][0]:
        raise AssertionError(f"the loss did not fall: {losses['cuda'][0]:.4f} -> {losses['cuda'][-1]:.4f}")
    return f"loss {losses['cuda'][0]:.4f} -> {losses['cuda'][-1]:.4f} in {TRAINING_STEPS} Adam steps, as on the CPU"


def cuda_graph(sizes, rng):
    """Forward and backward of an MLP captured in a framework.cuda.CUDAGraph (a stream capture on a GPU), replayed
    on new inputs: the loss and gradients must equal an eager forward and backward of the same model (the same
    kernels on the same values), and the capture itself must leave the parameters as they were."""
    fw.manual_seed(0)
    model = fw.nn.Sequential(fw.nn.Linear(sizes["hidden"], sizes["hidden"]), fw.nn.ReLU(),
                             fw.nn.Linear(sizes["hidden"], sizes["classes"])).to("cuda")
    batches = [(_cuda(rng.standard_normal((sizes["batch"], sizes["hidden"])).astype(np.float32)),
                _cuda(rng.integers(0, sizes["classes"], sizes["batch"]))) for _ in range(3)]
    static_x, static_y = batches[0][0].clone(), batches[0][1].clone()
    F.cross_entropy(model(static_x), static_y).backward()  # warm-up: compiles and tunes before the capture
    model.zero_grad(set_to_none=True)
    before = [p.detach().cpu().numpy() for p in model.parameters()]
    graph = fw.cuda.CUDAGraph()
    with fw.cuda.graph(graph):
        static_loss = F.cross_entropy(model(static_x), static_y)
        static_loss.backward()
    for b, p in zip(before, model.parameters()):
        _check(p.detach().cpu().numpy(), b, 0, what="parameters after capture")
    static_grads = [p.grad for p in model.parameters()]
    for x, y in batches[1:]:
        static_x.copy_(x)
        static_y.copy_(y)
        graph.replay()
        replayed = [static_loss.item()] + [g.cpu().numpy() for g in static_grads]
        for p in model.parameters():
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        eager = [loss.item()] + [p.grad.cpu().numpy() for p in model.parameters()]
        for r, e in zip(replayed, eager):
            _check(r, e, 1e-5, what="replayed loss and gradients")  # kernels with atomics may sum in any order
    graph.reset()
    return f"{len(batches) - 1} replays equal eager forward+backward"


def cuda_graph_step(sizes, rng):
    """A whole training step (forward, backward, capturable AdamW with a Tensor lr) captured in a CUDAGraph and
    replayed on new inputs, a scheduler changing the lr between replays: the losses and parameters must follow
    eager steps of a twin model (the optimizer launches read the step counts and lr from device memory)."""
    def setup():
        fw.manual_seed(0)
        model = fw.nn.Sequential(fw.nn.Linear(sizes["hidden"], sizes["hidden"]), fw.nn.ReLU(),
                                 fw.nn.Linear(sizes["hidden"], sizes["classes"])).to("cuda")
        optimizer = fw.optim.AdamW(model.parameters(), lr=fw.tensor(1e-3, device="cuda"), capturable=True)
        return model, optimizer, fw.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    def eager_step(model, optimizer, x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    (model, optimizer, scheduler), (twin, twin_optimizer, twin_scheduler) = setup(), setup()
    batches = [(_cuda(rng.standard_normal((sizes["batch"], sizes["hidden"])).astype(np.float32)),
                _cuda(rng.integers(0, sizes["classes"], sizes["batch"]))) for _ in range(4)]
    eager_step(model, optimizer, *batches[0])  # warm-up: the optimizer state exists, kernels compiled and tuned
    eager_step(twin, twin_optimizer, *batches[0])
    static_x, static_y = batches[0][0].clone(), batches[0][1].clone()
    optimizer.zero_grad(set_to_none=True)
    before = [p.detach().cpu().numpy() for p in model.parameters()]
    graph = fw.cuda.CUDAGraph()
    with fw.cuda.graph(graph):
        static_loss = F.cross_entropy(model(static_x), static_y)
        static_loss.backward()
        optimizer.step()
    for b, p in zip(before, model.parameters()):
        _check(p.detach().cpu().numpy(), b, 0, what="parameters after capture")
    for x, y in batches[1:]:
        static_x.copy_(x)
        static_y.copy_(y)
        graph.replay()
        loss = eager_step(twin, twin_optimizer, x, y)
        _check(static_loss.item(), loss.item(), 1e-5, what="replayed loss")  # atomics may sum in any order
        for p, q in zip(model.parameters(), twin.parameters()):
            _check(p.detach().cpu().numpy(), q.detach().cpu().numpy(), 1e-4, 1e-6, what="parameters")
        scheduler.step()
        twin_scheduler.step()
    graph.reset()
    return f"{len(batches) - 1} replayed training steps (capturable AdamW, scheduled Tensor lr) equal eager steps"


def out_of_memory(sizes, rng):
    """Allocate eighths of the device until it refuses; the error is OutOfMemoryError, and work goes on after it."""
    total = fw.cuda.get_device_properties().total_memory
    if fw.cuda.is_interpreted():  # host memory: cap the nominal device so that the loop ends within 64 MiB
        fw.cuda.set_per_process_memory_fraction(min(1.0, 64 * 2**20 / total))
        total = min(total, 64 * 2**20)
    held = []
    try:
        for _ in range(64):
            held.append(fw.empty(total // 8 // 4, device="cuda"))
        raise AssertionError(f"64 allocations of {total / 8 / 2**30:.2f} GiB all succeeded")
    except fw.cuda.OutOfMemoryError as error:
        message = str(error).splitlines()[0]
    finally:
        count = len(held)
        held.clear()
        fw.cuda.set_per_process_memory_fraction(1.0)
        fw.cuda.empty_cache()
    a = rng.standard_normal(1000).astype(np.float32)
    _check((_cuda(a) + 1).cpu().numpy(), a + 1.0, 0, what="work after the error")
    return f"refused after {count} eighths: {message[:100]}"


STEPS = [allocation, copies, elementwise, reduction, fused_linear_fp32, fused_linear_bf16, cross_entropy, training,
         cuda_graph, cuda_graph_step, out_of_memory]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the steps' results here")
    args = parser.parse_args()
    results = []
    if not fw.cuda.is_available():
        results.append(dict(step="cuda device", status="skipped", seconds=0.0,
                            detail="no GPU and TRITON_INTERPRET is not 1: nothing to check"))
    else:
        interpreted = fw.cuda.is_interpreted()
        sizes = INTERPRETER_SIZES if interpreted else GPU_SIZES
        print(f"cuda device: {fw.cuda.get_device_name()}" + (" (interpreter: small sizes)" if interpreted else ""),
              flush=True)
        for step in STEPS:
            start = time.perf_counter()
            try:
                detail = step(sizes, np.random.default_rng(0))
                if not interpreted:
                    fw.cuda.synchronize()  # an asynchronous fault belongs to this step, not the next
                status = "passed"
            except Exception as error:  # report it and go on: the next step may still tell something
                status, detail = "FAILED", f"{type(error).__name__}: {error}"
                traceback.print_exc()
            results.append(dict(step=step.__name__, status=status, seconds=round(time.perf_counter() - start, 3),
                                detail=detail))
            print(f"{status:>7}  {step.__name__:<18} {results[-1]['seconds']:7.2f} s  {detail}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    failed = sum(r["status"] == "FAILED" for r in results)
    print(f"{len(results) - failed} of {len(results)} steps passed or skipped, {failed} failed")
    return failed


if __name__ == "__main__":
    sys.exit(main())
