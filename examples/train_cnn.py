"""Train a small CNN on the 8x8 handwritten digits: the data, options and loop of examples/train.py.

    python examples/train_cnn.py                        # Conv-BN-ReLU-MaxPool x2 (16, 32 channels), 10 epochs
    python examples/train_cnn.py --channels 32 64       # wider blocks
    python examples/train_cnn.py --resume               # continue from --checkpoint
    python examples/train_cnn.py --device cuda
    python examples/train_cnn.py --save-weights PATH    # also the model's state dict alone

The same 1438 digits to train on and 359 held out as the MLP's, seen as 1x8x8 images. Measured on
two shared cores (AMD EPYC, numpy 2.4.6 and OpenBLAS 0.3.31, seed 0, default options of each script):

    examples/train.py       64-30-20-10 MLP, 30 epochs     held-out accuracy 0.9721 (349 of 359)
    examples/train.py --hidden 128 64                      held-out accuracy 0.9833 (353 of 359)
    examples/train_cnn.py   this CNN, 10 epochs            held-out accuracy 0.9972 (358 of 359)

The CNN's 10 epochs took 30 s there with OPENBLAS_NUM_THREADS=1 and 118 s with OpenBLAS's default two
threads (load average ~10: other work on both cores; a thread pool whose threads wait on each other slows
down many-fold on a busy machine, and the convolutions' matmuls are the first here big enough to be split).

Output and checkpoints as train.py's (default checkpoint: the user's cache, framework/examples/
digits_cnn.safetensors). framework.models.digits_cnn ships the weights this script trains.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # train.py beside this file, however it is run
from train import fit, training_parser  # noqa: E402

from framework.models.cnn import ConvNet  # noqa: E402  (the CNN shared with framework.models)


def parse_args(argv=None):
    parser = training_parser(__doc__.split("\n")[0], "digits_cnn")
    parser.set_defaults(epochs=10)
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 32],
                        help="output channels of each conv block (each block halves the 8x8 image: at most 3)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return fit(args, lambda: ConvNet(1, 10, tuple(args.channels), image_size=8), input_shape=(1, 8, 8))


if __name__ == "__main__":
    main()
