"""Generate the ``.ipynb`` twins in ``notebooks/`` from the chapters in ``book/``.

Why: Colab opens, and nbval tests, ``.ipynb`` files, but the chapters are written as MyST
Markdown. A twin is a pure function of its chapter and of ``_config.yml``:

1. jupytext converts the chapter (cells, and their tags only);
2. a first cell is added that, on Google Colab only, clones the book's repository at the branch
   named in ``_config.yml``, installs the ``onebyone`` package from it and moves into
   ``notebooks/``, so relative paths (``../book/data``) work there as they do locally;
3. the notebook is executed, and the outputs of cells tagged ``nbval-check-output`` are kept
   (they are what nbval compares against); every other output is dropped, so a twin does not
   change when only timings change.

Usage::

    python tools/notebooks.py                 # every chapter
    python tools/notebooks.py book/01_pointwise.md
    python tools/notebooks.py --check         # exit 1 if a twin is missing, stale or hand-edited

``--check`` compares contents (sources, cell types and tags), not timestamps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
CHECKED_TAG = "nbval-check-output"
COLAB_CELL_TAG = "colab-setup"

COLAB_CELL = '''\
# On Google Colab only: fetch this book's repository and install its `onebyone` package.
# Elsewhere this cell does nothing (install locally with the README's instructions).
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    REPOSITORY, BRANCH = "{url}", "{branch}"
    if not os.path.isdir("/content/one-by-one"):
        subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", "--branch", BRANCH, REPOSITORY,
             "/content/one-by-one"],
            check=True,
        )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "/content/one-by-one[notebooks]"],
        check=True,
    )
    os.chdir("/content/one-by-one/notebooks")'''

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def repository() -> tuple[str, str]:
    """The repository URL and branch from ``_config.yml`` (their one home)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"], config["repository"].get("branch", "main")


def chapters() -> list[Path]:
    """Every chapter: a ``book/*.md`` file with a jupytext header."""
    return sorted(path for path in BOOK.glob("*.md") if "jupytext:" in path.read_text()[:500])


def twin_path(chapter: Path) -> Path:
    """Where the twin of ``chapter`` lives: ``notebooks/<stem>.ipynb``."""
    return NOTEBOOKS / f"{chapter.stem}.ipynb"


def convert(chapter: Path) -> nbformat.NotebookNode:
    """The unexecuted twin of ``chapter``: its cells, tags only, after the Colab cell."""
    notebook = jupytext.read(chapter, fmt="md:myst")
    url, branch = repository()
    colab = nbformat.v4.new_code_cell(COLAB_CELL.format(url=url, branch=branch))
    colab.metadata = {"tags": [COLAB_CELL_TAG]}
    cells = [colab]
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        cell.metadata = {"tags": list(tags)} if tags else {}
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index}"  # stable ids keep diffs small
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC})


def execute_keeping_checked_outputs(twin: nbformat.NotebookNode) -> None:
    """Run ``twin`` in ``notebooks/`` and keep only the outputs nbval will compare."""
    from nbclient import NotebookClient

    NotebookClient(
        twin, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    for cell in twin.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if CHECKED_TAG not in cell.metadata.get("tags", []):
            # nbval treats a cell with outputs but no execution count as an error, so a checked
            # cell keeps its count (sequential, hence deterministic) and the rest lose both.
            cell.outputs, cell.execution_count = [], None
    twin.metadata = {"kernelspec": KERNELSPEC}


def _inputs(notebook: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [
        (cell.cell_type, cell.source, list(cell.metadata.get("tags", [])))
        for cell in notebook.cells
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def problems() -> list[str]:
    """What is wrong with the twins: missing, stale, hand-edited, orphaned, unexecuted."""
    found = []
    expected = {twin_path(chapter) for chapter in chapters()}
    for chapter in chapters():
        twin = twin_path(chapter)
        if not twin.exists():
            found.append(f"{_shown(chapter)} has no twin {_shown(twin)}")
            continue
        stored = nbformat.read(twin, as_version=4)
        if _inputs(stored) != _inputs(convert(chapter)):
            found.append(f"{_shown(twin)} differs from {_shown(chapter)}")
            continue
        for cell in stored.cells:
            checked = CHECKED_TAG in cell.metadata.get("tags", [])
            if cell.cell_type == "code" and checked and not cell.outputs:
                found.append(f"{_shown(twin)}: a {CHECKED_TAG} cell has no output")
    for orphan in sorted(set(NOTEBOOKS.glob("*.ipynb")) - expected):
        found.append(f"{_shown(orphan)} has no chapter in book/")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="chapters to convert (default all)")
    parser.add_argument("--check", action="store_true", help="only check that twins are in sync")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        print("\n".join(found) or "every twin is in sync with its chapter")
        return 1 if found else 0
    NOTEBOOKS.mkdir(exist_ok=True)
    for chapter in args.chapters or chapters():
        chapter = chapter.resolve()
        twin = convert(chapter)
        execute_keeping_checked_outputs(twin)
        nbformat.write(twin, twin_path(chapter))
        print(f"wrote {twin_path(chapter).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
