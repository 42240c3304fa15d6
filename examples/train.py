"""Train the tutorial's MLP on the 8x8 handwritten digits (scikit-learn ships them: no download).

    python examples/train.py                      # 64-30-20-10 MLP, 30 epochs, seed 0
    python examples/train.py --hidden 128 64      # a wider MLP
    python examples/train.py --resume             # continue from --checkpoint
    python examples/train.py --device cuda
    python examples/train.py --amp                # bfloat16 autocast (--amp-dtype float16: with a GradScaler)
    python examples/train.py --save-weights PATH  # also the model's state dict alone

Prints held-out accuracy after each epoch: one plain line per epoch, and on a
terminal a progress bar below them (--quiet: no bar). Saves a checkpoint (model
and optimizer state, safetensors) after each epoch, by default in the user's
cache ($XDG_CACHE_HOME or ~/.cache, then framework/examples/), never in the
working folder. framework.models ships weights trained by this script (its
builders' docstrings give the commands). examples/train_cnn.py trains a CNN with
the same data, loop and options (`fit` below).
"""
import argparse
import os
import pathlib
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from tqdm import tqdm

import framework
import framework.nn.functional as F
from framework.models.mlp import NeuralNetwork  # the tutorial's MLP, shared with framework.models
from framework.utils.data import DataLoader, TensorDataset


def digits_split(test_fraction=0.2, split_seed=0):
    """Digits scaled to [0, 1], split into train and held-out sets by a fixed permutation."""
    digits = load_digits()
    features = (digits.data / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    order = np.random.RandomState(split_seed).permutation(len(labels))
    held_out = int(len(labels) * test_fraction)
    test, train = order[:held_out], order[held_out:]
    return (features[train], labels[train]), (features[test], labels[test])


def accuracy(model, features, labels):
    model.eval()
    with framework.no_grad():
        predicted = model(features).argmax(dim=1)
    model.train()
    return (predicted == labels).float().mean().item()


def default_checkpoint(name="digits_mlp"):
    cache = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(cache) / "framework" / "examples" / f"{name}.safetensors"


def training_parser(description, name):
    """The options every digits example takes; `name` names its default checkpoint."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--amp", action="store_true", help="mixed precision: the forward pass under autocast")
    parser.add_argument("--amp-dtype", default="bfloat16", choices=["bfloat16", "float16"],
                        help="autocast's dtype; float16 also scales the loss (GradScaler)")
    parser.add_argument("--checkpoint", type=pathlib.Path, default=default_checkpoint(name),
                        help="where to save (and --resume from) the checkpoint (default: %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--save-weights", type=pathlib.Path, metavar="PATH",
                        help="after training, write the model's state dict alone (safetensors) to PATH")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on a terminal")
    return parser


def parse_args(argv=None):
    parser = training_parser(__doc__.split("\n")[0], "digits_mlp")
    parser.add_argument("--hidden", type=int, nargs="+", default=[30, 20])
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return fit(args, lambda: NeuralNetwork(64, 10, tuple(args.hidden)))


def fit(args, build_model, input_shape=(64,)):
    """Train the model `build_model()` makes as `args` say, on digits shaped `input_shape` each (the 64 pixel
    values, or an image (1, 8, 8)); returns the model and its final held-out accuracy."""
    framework.manual_seed(args.seed)
    device = framework.device(args.device)
    (train_x, train_y), (test_x, test_y) = digits_split()
    train_x, test_x = train_x.reshape(-1, *input_shape), test_x.reshape(-1, *input_shape)
    train_set = TensorDataset(framework.from_numpy(train_x).to(device), framework.from_numpy(train_y).to(device))
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_x, test_y = framework.from_numpy(test_x).to(device), framework.from_numpy(test_y).to(device)

    model = build_model().to(device)
    optimizer = framework.optim.Adam(model.parameters(), lr=args.lr)
    first_epoch = 0
    if args.resume:
        state = framework.load(args.checkpoint, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch = state["epoch"]
        framework.set_rng_state(state["rng_state"])  # the shuffle order continues as if never stopped
        print(f"resumed from {args.checkpoint} after epoch {first_epoch}", flush=True)

    # Mixed precision: float32 weights, the forward pass under autocast. float16's narrow range needs the loss
    # scaled so that small gradients do not flush to zero; bfloat16 has float32's range and needs no scaler.
    autocast = framework.autocast(args.device, dtype=getattr(framework, args.amp_dtype), enabled=args.amp)
    scaler = framework.amp.GradScaler(args.device, enabled=args.amp and args.amp_dtype == "float16")

    # On a terminal: one bar for the whole run, drawn on stdout so the epoch lines print above it (tqdm.write);
    # to a pipe or a file: no bar, the epoch lines alone, each flushed as it is done.
    bar = tqdm(total=(args.epochs - first_epoch) * len(loader), unit="batch", file=sys.stdout, leave=False,
               dynamic_ncols=True, disable=args.quiet or not sys.stdout.isatty())
    started = time.perf_counter()
    test_accuracy = accuracy(model, test_x, test_y)
    for epoch in range(first_epoch, args.epochs):
        bar.set_description(f"epoch {epoch + 1}/{args.epochs}", refresh=False)
        for features, labels in loader:
            with autocast:
                loss = F.cross_entropy(model(features), labels)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            bar.update()  # no loss.item() here: it would wait for the device every step
        test_accuracy = accuracy(model, test_x, test_y)
        line = f"epoch {epoch + 1:3d}  loss {loss.item():.4f}  held-out accuracy {test_accuracy:.4f}"
        if bar.disable:
            print(line, flush=True)
        else:
            bar.write(line, file=sys.stdout)
            bar.set_postfix(loss=f"{loss.item():.4f}", accuracy=f"{test_accuracy:.4f}")
        args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        framework.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                        "rng_state": framework.get_rng_state()}, args.checkpoint)
    bar.close()
    if args.save_weights is not None:
        args.save_weights.parent.mkdir(parents=True, exist_ok=True)
        framework.save(model.state_dict(), args.save_weights)
    print(f"held-out accuracy {test_accuracy:.4f} after {args.epochs} epochs in {time.perf_counter() - started:.1f} s")
    return model, test_accuracy


if __name__ == "__main__":
    main()
