"""The build's facts stated once: the torch pin, the Python floor, and a `make -j`-safe order."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_torch_is_pinned_in_requirements_txt_and_nowhere_else():
    pins = re.findall(r"^torch==\S+$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert len(pins) == 1
    for name in ("Makefile", "README.md", ".ci/run", ".github/workflows/book.yml",
                 "tests/test_colab.py"):
        assert not re.search(r"torch==\d", (ROOT / name).read_text()), name


def test_the_python_floor_is_the_same_everywhere():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    floor = re.fullmatch(r">=3\.(\d+)", pyproject["project"]["requires-python"]).group(1)
    assert pyproject["tool"]["ruff"]["target-version"] == f"py3{floor}"
    workflow = (ROOT / ".github/workflows/book.yml").read_text()
    assert re.search(rf'python-version: "3\.{floor}"', workflow)
    assert f"Python 3.{floor}" in (ROOT / "requirements.txt").read_text().splitlines()[0]
    assert f"Python 3.{floor} and `make`" in (ROOT / "README.md").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_j_test_builds_the_book_after_the_quick_checks_and_checks_it_after_the_build():
    """`make -n -j4 test` prints the commands in the order make would start them (the book
    build's own commands come out when it ends, as in a real run). The quick checks come first;
    the tests that do not read the built book run beside the build; those marked built_book
    run after it. The build and both pytest runs are steps of the recipe (sub-makes), not
    prerequisites, so no job count can reorder them."""
    # Not the flags of a `make test` this may run under (its jobserver, its level).
    environment = {name: value for name, value in os.environ.items()
                   if name not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}}
    dry_run = subprocess.run(["make", "-n", "-j4", "test"], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=60, env=environment
                             ).stdout.replace("\\\n", " ").splitlines()  # one command a line

    def position(pattern: str) -> int:
        return next(i for i, line in enumerate(dry_run) if re.search(pattern, line))

    build = position(r"jupyter-book build")
    beside = position(r'-m pytest tests notebooks .*-m "not built_book"')
    after = position(r'-m pytest tests notebooks .*-m "built_book"')
    for quick in (r"ruff check", r"tools/notebooks\.py --check"):
        assert position(quick) < min(build, beside)
    assert position(r"tools/book_cache\.py") < build < after
    pytest_runs = [line for line in dry_run if "-m pytest tests notebooks" in line]
    assert len(pytest_runs) == 2, pytest_runs
    makefile = (ROOT / "Makefile").read_text()
    prerequisites = re.search(r"^test:(.*)$", makefile, re.MULTILINE).group(1).split()
    assert "book" not in prerequisites and "pytest" not in prerequisites


def test_a_test_that_reads_the_built_book_runs_after_the_build(tmp_path):
    """`make test` runs the tests not marked built_book while the book is being built: one that
    asks for the built book (fixture built_html) is marked built_book, even if its author forgot."""
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_unmarked.py").write_text(
        "def test_reads_the_book(built_html):\n    assert built_html\n\n\n"
        "def test_reads_nothing():\n    pass\n")

    def collected(marks: str) -> list[str]:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
             "-m", marks, str(tmp_path)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )
        return [line.split("::")[-1] for line in result.stdout.splitlines() if "::" in line]

    assert collected("built_book") == ["test_reads_the_book"]
    assert collected("not built_book") == ["test_reads_nothing"]


def test_tests_that_read_the_build_folder_are_marked_built_book():
    """A test file that names the build folder in a path, without the fixture, must carry the
    marker itself (the workflow test only compares the workflow's text)."""
    unmarked = []
    for test_file in sorted((ROOT / "tests").glob("test_*.py")):
        code = test_file.read_text()
        reads_build = re.search(r"""["']_build["'/]""", code)
        marked = re.search(r"^pytestmark = pytest\.mark\.built_book$", code, re.MULTILINE)
        if reads_build and not marked and test_file.name != "test_workflows.py":
            unmarked.append(test_file.name)
    assert unmarked == []
