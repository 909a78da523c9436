"""tools/book_cache.py: the book's execution cache is cleared when the package or the data change.

Jupyter Book keys its cache on a page's code cells; these tests check that the extra key covers
what a page's numbers depend on besides its cells, on a small copy of the repository's layout
(no book is built).
"""

from __future__ import annotations

import re
from pathlib import Path

import book_cache
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository with a package, recorded data, the lock and a filled execution cache."""
    for name, text in {
        "src/onebyone/cost.py": "MACS = 1\n",
        "src/onebyone/data/table.csv": "a,b\n1,2\n",
        "book/data/timings_cpu.csv": "median_s\n0.001\n",
        "requirements.txt": "torch==1.0\n",
        "book/01_pointwise.md": "# a chapter\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    fill_cache(tmp_path)
    return tmp_path


def fill_cache(root: Path) -> None:
    cache = root / book_cache.CACHE
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "global.db").write_text("executed pages")


def cache_survives(root: Path) -> bool:
    """Refresh, and say whether the filled cache was kept (then fill it again)."""
    cleared = book_cache.refresh(root)
    kept = (root / book_cache.CACHE / "global.db").is_file()
    assert kept is not cleared
    fill_cache(root)
    return kept


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "src/onebyone/cost.py").write_text("MACS = 2\n"),
        lambda root: (root / "src/onebyone/data/table.csv").write_text("a,b\n1,3\n"),
        lambda root: (root / "src/onebyone/perf").mkdir() or
        (root / "src/onebyone/perf/timing.py").write_text(""),
        lambda root: (root / "src/onebyone/cost.py").rename(root / "src/onebyone/costs.py"),
        lambda root: (root / "book/data/timings_cpu.csv").write_text("median_s\n0.002\n"),
        lambda root: (root / "requirements.txt").write_text("torch==2.0\n"),
    ],
    ids=["package source", "package data", "new module", "renamed module", "book data",
         "pinned versions"],
)
def test_a_change_the_pages_depend_on_clears_the_cache(repository, change):
    assert not cache_survives(repository)  # no record yet: nothing says what made the cache
    assert cache_survives(repository)  # same inputs: the cache is kept
    change(repository)
    assert not cache_survives(repository)
    assert cache_survives(repository)


def test_changes_no_page_reads_keep_the_cache(repository):
    book_cache.refresh(repository)
    fill_cache(repository)
    pycache = repository / "src/onebyone/__pycache__"
    pycache.mkdir()
    (pycache / "cost.cpython-311.pyc").write_bytes(b"\0")
    (repository / "book/data/.timings_cpu.csv.tmp").write_text("half written")
    (repository / "book/01_pointwise.md").write_text("# edited: Jupyter Book's own key\n")
    assert cache_survives(repository)


def test_the_digest_covers_the_repositorys_package_and_data():
    files = {path.as_posix() for path in book_cache.input_files(ROOT)}
    assert "requirements.txt" in files
    assert any(re.fullmatch(r"src/onebyone/(.+/)?cost\.py", name) for name in files)
    assert any(name.startswith("book/data/") for name in files)
    assert not any("__pycache__" in name for name in files)
    assert re.fullmatch(r"[0-9a-f]{64}", book_cache.inputs_digest(ROOT))


def test_make_book_refreshes_the_cache_before_building():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^book:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    steps = [line.strip() for line in recipe.splitlines()]
    refresh = next(i for i, step in enumerate(steps) if "tools/book_cache.py" in step)
    build = next(i for i, step in enumerate(steps) if "jupyter-book build" in step)
    assert refresh < build
