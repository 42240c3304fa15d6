"""The tutorial (examples/tutorial.py) prints, cell for cell, what PyTorch printed in the notebook.

tests/data/tutorial_expected.txt is the notebook's output with `framework.` for
`torch.`, less the first two cells, which print the installed version and whether
a GPU is present.
"""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_tutorial_prints_the_notebook_outputs():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "tutorial.py")], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    import framework
    assert lines[0] == repr(framework.__version__)
    assert lines[1] == str(framework.cuda.is_available())
    expected = (ROOT / "tests" / "data" / "tutorial_expected.txt").read_text().splitlines()
    assert lines[2:] == expected
