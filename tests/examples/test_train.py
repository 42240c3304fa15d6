"""examples/train.py: the README's main job reaches its accuracy, saves checkpoints and resumes, draws a progress
bar on a terminal and plain lines elsewhere, and writes nothing into the working folder."""
import os
import pathlib
import re
import select
import subprocess
import sys
import time

import pytest

from helpers import example_module

pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn (the `examples` extra)")

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _train_module():
    return example_module("train")


def test_default_run_reaches_95_percent_held_out(tmp_path):
    _, accuracy = _train_module().main(["--quiet", "--checkpoint", str(tmp_path / "digits.safetensors")])
    assert accuracy >= 0.95


@pytest.mark.parametrize("amp_dtype", ["bfloat16", "float16"])
def test_mixed_precision_reaches_the_same_accuracy(tmp_path, amp_dtype):
    model, accuracy = _train_module().main(["--quiet", "--amp", "--amp-dtype", amp_dtype, "--checkpoint",
                                            str(tmp_path / "digits.safetensors")])
    assert accuracy >= 0.95
    assert all(p.dtype.name == "float32" for p in model.parameters())  # float32 master weights


def test_resume_continues_from_the_checkpoint(tmp_path, capsys):
    train = _train_module()
    checkpoint = str(tmp_path / "digits.safetensors")
    train.main(["--quiet", "--epochs", "2", "--checkpoint", checkpoint])
    straight = capsys.readouterr().out.splitlines()
    train.main(["--quiet", "--epochs", "1", "--checkpoint", checkpoint])
    capsys.readouterr()
    train.main(["--quiet", "--epochs", "2", "--checkpoint", checkpoint, "--resume"])
    resumed = capsys.readouterr().out.splitlines()
    assert resumed[0] == f"resumed from {checkpoint} after epoch 1"
    # weights, optimizer state and random stream all restored: epoch 2 is bit for bit the same
    assert resumed[1] == straight[1]


@pytest.mark.skipif(not __import__("framework").cuda.is_available(), reason="no cuda device (no GPU, no interpreter)")
def test_the_same_program_runs_on_cuda(tmp_path, capsys):
    """A program written for `cuda` runs unchanged (in CI through Triton's interpreter) and learns what the CPU
    run learns: same initial weights and batch order, the same epoch within float32 rounding."""
    train = _train_module()
    losses = {}
    for device in ("cpu", "cuda"):
        _, accuracy = train.main(["--quiet", "--epochs", "1", "--device", device,
                                  "--checkpoint", str(tmp_path / f"{device}.safetensors")])
        losses[device] = (float(capsys.readouterr().out.split("loss")[1].split()[0]), accuracy)
    assert losses["cuda"][0] == pytest.approx(losses["cpu"][0], abs=2e-4)
    assert losses["cuda"][1] == pytest.approx(losses["cpu"][1], abs=0.002)


EPOCH_LINE = re.compile(r"epoch +\d+  loss \d+\.\d{4}  held-out accuracy \d\.\d{4}")
FINAL_LINE = re.compile(r"held-out accuracy \d\.\d{4} after \d+ epochs in \d+\.\d s")


def test_output_that_is_not_a_terminal_gets_one_plain_line_per_epoch(tmp_path, capsys):
    _train_module().main(["--epochs", "2", "--checkpoint", str(tmp_path / "digits.safetensors")])
    out, err = capsys.readouterr()  # captured: not a terminal, as in `python examples/train.py | cat`
    lines = out.split("\n")
    assert len(lines) == 4 and lines[3] == "", out
    assert EPOCH_LINE.fullmatch(lines[0]) and lines[0].startswith("epoch   1 ") and EPOCH_LINE.fullmatch(lines[1])
    assert FINAL_LINE.fullmatch(lines[2]) and "\r" not in out and err == ""


def test_checkpoints_go_to_the_cache_not_the_working_folder(tmp_path, monkeypatch):
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    _train_module().main(["--quiet", "--epochs", "1"])
    assert (cache / "framework" / "examples" / "digits_mlp.safetensors").is_file()
    assert list(work.iterdir()) == []


def _screen(output):
    """What a terminal shows after `output`: a carriage return goes back to the line's start, a newline down."""
    lines, line, column = [], [], 0
    for char in output:
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        else:
            line[column:column + 1] = [char]
            column += 1
    return lines + (["".join(line).rstrip()] if line else [])


def _run_on_a_terminal(args, env, columns=100, timeout=300, script="train.py"):
    """examples/`script` with stdout and stderr on a pseudo-terminal `columns` wide; everything it wrote there."""
    termios = pytest.importorskip("termios", reason="pseudo-terminals are POSIX")
    import fcntl
    import pty
    import struct
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    attributes = termios.tcgetattr(child)
    attributes[1] &= ~termios.ONLCR  # "\n" stays "\n" (a terminal would add the "\r")
    termios.tcsetattr(child, termios.TCSANOW, attributes)
    process = subprocess.Popen([sys.executable, str(ROOT / "examples" / script), *args], stdin=subprocess.DEVNULL,
                               stdout=child, stderr=child, env=env, cwd=ROOT)
    os.close(child)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([main], [], [], 1.0)[0]:
                continue
            try:
                chunk = os.read(main, 1 << 16)
            except OSError:  # EIO: the program closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
    assert process.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")[-2000:]
    return b"".join(chunks).decode()


def test_a_terminal_gets_a_progress_bar_that_leaves_only_the_epoch_lines(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "XDG_CACHE_HOME": str(tmp_path)}
    output = _run_on_a_terminal(["--epochs", "2"], env)
    assert re.search(r"epoch 1/2: +\d+%\|.*\| *\d+/\d+ \[", output), output  # tqdm's bar was drawn ...
    screen = _screen(output)
    # ... above nothing but the epoch lines and the last line, each whole, and cleared when done
    assert len(screen) == 3 and EPOCH_LINE.fullmatch(screen[0]) and EPOCH_LINE.fullmatch(screen[1]), screen
    assert FINAL_LINE.fullmatch(screen[2]), screen
    assert (tmp_path / "framework" / "examples" / "digits_mlp.safetensors").is_file()
