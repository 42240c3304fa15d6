"""The checkout itself: a test run writes nothing into it, and its docstrings and comments cite only files it has.

(The examples' own outputs are checked in tests/examples.)
"""
import ast
import glob
import io
import os
import re
import subprocess
import tokenize

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _inside(path, folder):
    return os.path.commonpath([os.path.abspath(path), folder]) == folder


def test_hypothesis_keeps_its_database_out_of_the_checkout():
    """tests/conftest.py points hypothesis' storage (its example database, caches) at the user's cache."""
    if _inside(os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY", "/"), ROOT):
        pytest.skip("HYPOTHESIS_STORAGE_DIRECTORY was set inside the checkout on purpose")
    try:
        from hypothesis.configuration import storage_directory
        where = storage_directory("examples", intent_to_write=False)
    except (ImportError, TypeError) as error:
        pytest.skip(f"this hypothesis does not say where it stores examples: {error}")
    assert not _inside(getattr(where, "path", where), ROOT), f"hypothesis stores into the checkout: {where}"


# ---- citations ----------------------------------------------------------------------------------------------

# A file name with a known extension, optionally behind folders (`perf/report.py`, `backends/cuda/memory.py`,
# `nn/test_loss*.py`, `backends/numpy/{nn,shape}.py`); a data file (.txt) only behind a folder, as a bare one is
# usually a file that a script writes (`-> summary.txt`).
_NAME, _FOLDERS = r"[\w-][\w.-]*", r"(?:/[\w.*{},-]+)"
CITATION = re.compile(rf"(?<![\w./$-])({_NAME}{_FOLDERS}*\.(?:py|md|sh|toml|yml)|{_NAME}{_FOLDERS}+\.txt)\b")
# Files of other projects cited on purpose, and whose they are.
ELSEWHERE = {
    "torch/_tensor_str.py": "PyTorch's printing, which framework/printing.py follows",
    "03-matrix-multiplication.py": "Triton's matmul tutorial, where the tile configs started",
}


def _alternatives(citation):
    """The paths a citation with a brace group (`{nn,shape}` before the extension) names: one per choice."""
    found = re.search(r"\{([^}]*)\}", citation)
    if not found:
        return [citation]
    return [expanded for part in found.group(1).split(",")
            for expanded in _alternatives(citation[:found.start()] + part + citation[found.end():])]


def _exists(citation, source, basenames):
    """Relative to the root, to the citing file's folder or one above it, or to framework/ (whose files are
    often named from inside it); a bare file name anywhere in the checkout."""
    folder = os.path.dirname(source)
    bases = {ROOT, os.path.join(ROOT, "framework")}
    while folder:
        bases.add(os.path.join(ROOT, folder))
        folder = os.path.dirname(folder)
    for path in _alternatives(citation):
        if any(glob.glob(os.path.join(base, path)) for base in bases):
            return True
        if "/" not in path and path in basenames:
            return True
    return False


def _tracked_files():
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except OSError:
        listed = None
    if listed is None or listed.returncode != 0:
        pytest.skip("not a git checkout (or no git): the tracked files are unknown")
    return [path for path in listed.stdout.splitlines() if os.path.isfile(os.path.join(ROOT, path))]


def _commentary(source, text):
    """(line number, text) of each docstring and comment: Python's by its grammar, a shell or config file's
    after `#`. Code (a file name in a string literal, say) is not a citation."""
    if not source.endswith(".py"):
        for number, line in enumerate(text.splitlines(), 1):
            if "#" in line:
                yield number, line[line.index("#"):]
        return
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[0] if node.body else None
            if isinstance(body, ast.Expr) and isinstance(body.value, ast.Constant) and \
                    isinstance(body.value.value, str):
                for offset, line in enumerate(body.value.value.splitlines()):
                    yield body.lineno + offset, line


def test_docstrings_and_comments_cite_only_files_in_the_checkout():
    files = _tracked_files()
    basenames = {os.path.basename(path) for path in files}
    missing = []
    for source in files:
        if not source.endswith((".py", ".sh", ".toml", ".yml")):
            continue
        with open(os.path.join(ROOT, source), encoding="utf-8") as file:
            text = file.read()
        for number, line in _commentary(source, text):
            for citation in CITATION.findall(line):
                if citation not in ELSEWHERE and not _exists(citation, source, basenames):
                    missing.append(f"{source}:{number}: {citation}")
    assert not missing, "cited, but not in the checkout:\n" + "\n".join(sorted(missing))
