"""examples/train_gpt.py: a short run of a tiny GPT learns, prints one line per evaluation, keeps its checkpoint in
the cache, resumes bit for bit, samples the same text from the same seed, draws its bar with the loss on a terminal,
and runs unchanged on cuda.

The full run (the shipped stdlib_char_gpt weights, ~4 minutes on two cores) is not repeated here: tests/models/test_gpt.py holds
the shipped weights to the validation loss it documents."""
import math
import os
import pathlib
import re
import sys

import pytest

import framework
from helpers import example_module

from .test_train import _run_on_a_terminal, _screen

pytest.importorskip("tqdm", reason="the examples' progress bar (the `examples` extra)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
# a model small enough for a few seconds of training on the CPU: 2 blocks of width 32, 16 characters of context
TINY = ["--quiet", "--dim", "32", "--layers", "2", "--heads", "2", "--context", "16", "--batch-size", "8",
        "--eval-windows", "16", "--sample-length", "40"]
EVAL_LINE = re.compile(r"step +\d+  train loss \d+\.\d{4}  val loss \d+\.\d{4}")
FINAL_LINE = re.compile(r"val loss \d+\.\d{4} after \d+ steps in \d+\.\d s")


def _train_gpt_module():
    return example_module("train_gpt")


def test_a_short_run_learns_and_leaves_the_working_folder_empty(tmp_path, monkeypatch, capsys):
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    _, val_loss, sample = _train_gpt_module().main([*TINY, "--steps", "60", "--eval-every", "30", "--lr", "1e-2"])
    # 4.56 nats is a uniform guess over the 96 characters; 60 steps learn about the characters' frequencies (3.22
    # where the shipped weights were trained; the full held-out text's unigram loss is 3.05)
    assert val_loss < 3.5
    lines = capsys.readouterr().out.split("\n")
    assert lines[0].startswith("corpus: 32 files of the standard library in ") or sys.version_info[:2] != (3, 11)
    assert EVAL_LINE.fullmatch(lines[1]) and lines[1].startswith("step    30 ") and EVAL_LINE.fullmatch(lines[2])
    assert FINAL_LINE.fullmatch(lines[3]) and lines[3].startswith(f"val loss {val_loss:.4f} after 60 steps")
    assert lines[4] == "sample (seed 0, temperature 0.8, top-k 10):"
    assert "\n".join(lines[5:]) == sample + "\n" and sample.startswith("def ") and len(sample) == 44
    assert (cache / "framework" / "examples" / "stdlib_char_gpt.safetensors").is_file()
    assert list(work.iterdir()) == []


def test_corpus_is_the_standard_librarys_source_split_at_line_starts():
    train_gpt = _train_gpt_module()
    train, validation, files = train_gpt.stdlib_corpus(("csv.py", "no_such_module.py", "textwrap.py"))
    assert files == ["csv.py", "textwrap.py"]  # a file this Python lacks is skipped
    assert 8 <= len(train) / len(validation) <= 10  # a tenth held out, cut at a line start
    assert train_gpt.decode(validation[:1]) != "" and train_gpt.decode(train[-1:]) == "\n"
    with pytest.raises(FileNotFoundError, match="none of the corpus' files"):
        train_gpt.stdlib_corpus(("no_such_module.py",))


def test_resume_continues_bit_for_bit(tmp_path, monkeypatch, capsys):
    """Weights, AdamW's moments, the schedule's step and the batch generator all come back: a run interrupted
    after its first evaluation and resumed prints the uninterrupted run's next evaluation and samples its text."""
    train_gpt = _train_gpt_module()
    command = [*TINY, "--steps", "20", "--eval-every", "10"]
    straight = train_gpt.main([*command, "--checkpoint", str(tmp_path / "straight.safetensors")])
    expected = capsys.readouterr().out.splitlines()
    checkpoint = str(tmp_path / "interrupted.safetensors")
    save = framework.save

    def save_then_interrupt(obj, f):  # Ctrl-C right after the first checkpoint
        save(obj, f)
        raise KeyboardInterrupt

    monkeypatch.setattr(framework, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_gpt.main([*command, "--checkpoint", checkpoint])
    monkeypatch.setattr(framework, "save", save)
    capsys.readouterr()
    resumed = train_gpt.main([*command, "--checkpoint", checkpoint, "--resume"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"resumed from {checkpoint} after step 10"
    assert lines[2] == expected[2] and lines[2].startswith("step    20 ")  # step 20's losses
    assert resumed[1:] == straight[1:]  # the validation loss and the sample


def test_sampling_is_reproducible_from_the_seed(tmp_path, capsys):
    train_gpt = _train_gpt_module()
    common = [*TINY, "--steps", "0", "--checkpoint", str(tmp_path / "gpt.safetensors"), "--prompt", "import "]
    first, again = (train_gpt.main(common)[2] for _ in range(2))
    other = train_gpt.main([*common, "--seed", "1"])[2]
    assert first == again and first.startswith("import ") and len(first) == 47
    assert other != first  # another seed: other weights and other draws


@pytest.mark.skipif(not framework.cuda.is_available(), reason="no cuda device (no GPU, no interpreter)")
def test_the_same_program_runs_on_cuda(tmp_path, capsys):
    """The program runs unchanged on `cuda` (in CI through Triton's interpreter: a model of one block of width 16
    over 8 characters, 3 steps) and computes what the CPU computes: the same initial weights and batches."""
    train_gpt = _train_gpt_module()
    results = {}
    for device in ("cpu", "cuda"):
        model, val_loss, sample = train_gpt.main([
            "--quiet", "--dim", "16", "--layers", "1", "--heads", "2", "--context", "8", "--batch-size", "4",
            "--eval-windows", "4", "--steps", "3", "--eval-every", "3", "--sample-length", "4", "--device", device,
            "--checkpoint", str(tmp_path / f"{device}.safetensors")])
        train_loss = float(capsys.readouterr().out.split("train loss")[1].split()[0])
        results[device] = (train_loss, val_loss, model.head.weight.detach().cpu().numpy())
        assert {p.device.type for p in model.parameters()} == {device} and len(sample) == 8
    assert results["cuda"][0] == pytest.approx(results["cpu"][0], abs=2e-4)
    assert results["cuda"][1] == pytest.approx(results["cpu"][1], abs=2e-4)
    assert abs(results["cuda"][2] - results["cpu"][2]).max() < 1e-4
    assert math.isfinite(results["cpu"][1])


def test_a_terminal_gets_a_progress_bar_with_the_loss(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "XDG_CACHE_HOME": str(tmp_path)}
    output = _run_on_a_terminal([a for a in TINY if a != "--quiet"] + ["--steps", "20", "--eval-every", "10"], env,
                                script="train_gpt.py")
    assert re.search(r"\d+%\|.*\| *\d+/20 \[.*loss=\d\.\d{4}", output), output  # tqdm's bar, its loss
    screen = _screen(output)
    assert screen[0].startswith("corpus: ") and EVAL_LINE.fullmatch(screen[1]) and EVAL_LINE.fullmatch(screen[2])
    assert FINAL_LINE.fullmatch(screen[3]), screen  # the bar is gone: only the lines and the sample remain
