"""The build's facts stated once: the torch pin, the Python floor, and a `make -j`-safe order."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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
def test_make_j_test_builds_the_book_after_the_quick_checks_and_before_pytest():
    """`make -n -j4 test` prints the commands in the order make would start them; the book
    build and pytest are steps of the recipe (sub-makes), so no job count can reorder them."""
    # Not the flags of a `make test` this may run under (its jobserver, its level).
    environment = {name: value for name, value in os.environ.items()
                   if name not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}}
    dry_run = subprocess.run(["make", "-n", "-j4", "test"], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=60, env=environment
                             ).stdout.splitlines()

    def position(pattern: str) -> int:
        return next(i for i, line in enumerate(dry_run) if re.search(pattern, line))

    build = position(r"jupyter-book build")
    assert position(r"ruff check") < build
    assert position(r"tools/notebooks\.py --check") < build
    assert position(r"tools/book_cache\.py") < build
    assert build < position(r"-m pytest tests notebooks")
    makefile = (ROOT / "Makefile").read_text()
    prerequisites = re.search(r"^test:(.*)$", makefile, re.MULTILINE).group(1).split()
    assert "book" not in prerequisites and "pytest" not in prerequisites
