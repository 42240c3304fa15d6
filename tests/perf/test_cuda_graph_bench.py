"""perf/cuda_graph_bench.py runs end to end under the interpreter, so the first GPU run finds it working (its
numbers mean nothing there: the rows are checked, not the times)."""
import importlib.util
import os

import pytest

import framework as fw

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(not fw.cuda.is_interpreted(), reason="a GPU runs it in perf/gpu_check.sh; here it "
                                "needs the interpreter-served cuda device (TRITON_INTERPRET=1)")


def test_every_contender_row_is_printed(capsys):
    pytest.importorskip("tabulate")
    spec = importlib.util.spec_from_file_location("cuda_graph_bench", os.path.join(ROOT, "perf", "cuda_graph_bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("tutorial")]
    assert [row[1:3] for row in rows][:2] == [["framework", "eager"], ["framework", "CUDA"]]
    assert rows[1][-1] in ("met", "not") and "us" in out
