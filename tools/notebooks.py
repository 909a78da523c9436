"""Generate the ``.ipynb`` twins in ``notebooks/`` from the chapters in ``book/``.

Why: Colab opens, and nbval tests, ``.ipynb`` files, but the chapters are written as MyST
Markdown, which Jupyter does not render. A twin reads like the web page and runs like the chapter:

1. jupytext converts the chapter (cells, and their tags only);
2. a first cell is added that, on Google Colab only, fetches the book's repository at the commit
   the twins were made from (``HEAD``, whose package sources the tests compare with the current
   ones), installs the ``onebyone`` package from it with its runtime dependencies only, and moves
   into ``notebooks/`` so that relative paths (``../book/data``) work there as they do locally;
3. the notebook is executed; the values the chapter glues are read from the outputs, and the
   outputs of cells tagged ``nbval-check-output`` are kept (they are what nbval compares against);
   every other output is dropped, so a twin does not change when only timings change;
4. every Markdown cell is rewritten into plain Jupyter Markdown (``jupyter_markdown.py``): glued
   values filled in, equations numbered, references and citations linked to the web book.

The glued values (as MyST-NB stores them, ``text/plain``), the pinned commit and that commit's
package trees are kept in the twin's metadata under ``onebyone``. So ``--check`` re-converts every
chapter with the stored values, without running anything, and compares contents (sources, cell
types and tags), not timestamps. That the stored values are still what the code computes is
checked against the book build's own execution (``tests/test_colab_twins.py``); that the pin
installs today's package, by comparing git trees (same file).

Usage::

    python tools/notebooks.py                 # every chapter
    python tools/notebooks.py book/01_pointwise.md
    python tools/notebooks.py --check         # exit 1 if a twin is missing, stale or hand-edited

Workflow: commit package changes first, then run ``make notebooks``, then commit the twins.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time
from pathlib import Path

# A sibling script: tools/ is not a package, but it is on the path of a script run as
# `python tools/notebooks.py` (its own folder) and of the tests (pytest's `pythonpath`).
import jupyter_markdown
import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
CHECKED_TAG = "nbval-check-output"
COLAB_CELL_TAG = "colab-setup"
METADATA_KEY = "onebyone"
# What `pip install` of the package reads: if these trees are the same at two commits, installing
# from either gives the same package.
PACKAGE_PATHS = ("src", "pyproject.toml")


COLAB_CELL = '''\
# On Google Colab only: fetch this book's repository at the commit the book was made from, and
# install its `onebyone` package with its runtime dependencies (Colab's own torch is kept).
# Elsewhere this cell does nothing (install locally with the README's instructions).
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    REPOSITORY = "{url}"
    COMMIT = "{commit}"  # the commit this notebook was made from

    class SetupFailed(Exception):
        def _render_traceback_(self):  # IPython shows the message alone, without a traceback
            return [str(self)]

    if os.path.basename(os.getcwd()) == "notebooks":  # a re-run: start again from /content
        os.chdir("../..")
    steps = [] if os.path.isdir("one-by-one/src") else [
        ("create a folder for the book", ["git", "init", "--quiet", "one-by-one"]),
        ("download the book's repository", ["git", "-C", "one-by-one", "fetch", "--quiet",
                                            "--depth", "1", REPOSITORY, COMMIT]),
        ("check out its files", ["git", "-C", "one-by-one", "checkout", "--quiet", "FETCH_HEAD"]),
    ]
    steps.append(("install the onebyone package",
                  [sys.executable, "-m", "pip", "install", "--quiet", "./one-by-one"]))
    for step, command in steps:
        try:
            result = subprocess.run(command, capture_output=True, text=True)
            said = result.stderr.strip().splitlines() or [""]
            reason = next((line for line in said if line.lower().startswith(("fatal", "error"))),
                          said[-1])
        except OSError as error:
            result, reason = None, str(error)
        if result is None or result.returncode != 0:
            raise SetupFailed(
                f"Setup failed: could not {{step}} ({{reason or 'no message'}}).\\n"
                "Check that this runtime is connected to the internet, then run this cell again; "
                f"if it still fails, install a release instead: {{REPOSITORY}}/releases"
            )
    os.chdir("one-by-one/notebooks")'''

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def config() -> dict:
    """``_config.yml``, the one home of the repository URL and of the web book's address."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def repository() -> tuple[str, str]:
    """The repository URL and branch from ``_config.yml``."""
    settings = config()
    return settings["repository"]["url"], settings["repository"].get("branch", "main")


def chapters() -> list[Path]:
    """Every chapter: a ``book/*.md`` file with a jupytext header."""
    return sorted(path for path in BOOK.glob("*.md") if "jupytext:" in path.read_text()[:500])


def twin_path(chapter: Path) -> Path:
    """Where the twin of ``chapter`` lives: ``notebooks/<stem>.ipynb``."""
    return NOTEBOOKS / f"{chapter.stem}.ipynb"


def page_name(path: Path) -> str:
    """The web book's name of the page made from ``path``: ``book/01_pointwise``."""
    return str(path.resolve().relative_to(ROOT).with_suffix(""))


# --- The pin ----------------------------------------------------------------------------------


def _git(*arguments: str) -> str:
    return subprocess.run(
        ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def package_trees(commit: str) -> dict[str, str]:
    """The git object ids of the package's sources (``PACKAGE_PATHS``) at ``commit``."""
    return {path: _git("rev-parse", f"{commit}:{path}") for path in PACKAGE_PATHS}


def pin() -> dict:
    """What the twins pin: ``HEAD``, and its package trees (warns if those are not committed)."""
    if _git("status", "--porcelain", "--", *PACKAGE_PATHS):
        print(
            "warning: src/ or pyproject.toml has uncommitted changes, which the twins' pinned "
            "commit (HEAD) lacks: commit them, then run `make notebooks` again",
            file=sys.stderr,
        )
    commit = _git("rev-parse", "HEAD")
    return {"commit": commit, "package": package_trees(commit)}


# --- The book, as the Markdown conversion sees it ---------------------------------------------


def _toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part.get("chapters", [])]
    return pages


def _citations(bib_files: list[str]) -> dict:
    """Author-year labels as the web book shows them: ``Ng``, ``A and B``, ``Lin *et al.*``."""
    from pybtex.database import parse_file

    citations = {}
    for bib in bib_files:
        for key, entry in parse_file(ROOT / bib).entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            last = [" ".join(person.last_names) for person in people]
            authors = (
                last[0] if len(last) == 1
                else " and ".join(last) if len(last) == 2
                else f"{last[0]} *et al.*"
            )
            citations[key] = jupyter_markdown.Citation(authors, entry.fields.get("year", "n.d."))
    return citations


def book_index() -> jupyter_markdown.Book:
    """Every page's labels, titles and numbers, and the bibliography, read from the sources."""
    settings = config()
    base_url = settings["html"]["baseurl"].rstrip("/") + "/"
    pages = _toc_pages()
    bibliography = next(
        page for page in pages if "{bibliography}" in (ROOT / f"{page}.md").read_text()
    )
    book = jupyter_markdown.Book(base_url, bibliography)
    book.citations.update(_citations(settings["bibtex_bibfiles"]))
    for page in pages:
        jupyter_markdown.index_page(book, page, (ROOT / f"{page}.md").read_text())
    return book


def format_glued(text_plain: str, format_spec: str) -> str:
    """A glued value as ``{glue:text}`` shows it: MyST-NB's own formatter."""
    from myst_nb.core.variables import format_plain_text

    return format_plain_text(text_plain, format_spec)


# --- Making a twin ----------------------------------------------------------------------------


def _cells(chapter: Path, commit: str) -> list:
    """The Colab cell, then the chapter's cells (tags only), code cells without outputs."""
    notebook = jupytext.read(chapter, fmt="md:myst")
    url, _ = repository()
    colab = nbformat.v4.new_code_cell(COLAB_CELL.format(url=url, commit=commit))
    colab.metadata = {"tags": [COLAB_CELL_TAG]}
    cells = [colab]
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        cell.metadata = {"tags": list(tags)} if tags else {}
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    return cells


def _number(cells: list) -> None:
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index}"  # stable ids keep diffs small


def convert_markdown(
    cells: list, chapter: Path, glued: dict[str, str], book: jupyter_markdown.Book | None = None
) -> list:
    """``cells`` with every Markdown cell in plain Jupyter Markdown; empty ones dropped."""
    converter = jupyter_markdown.PageConverter(
        book or book_index(), page_name(chapter), glued, format_glued
    )
    converted = []
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = converter.convert(cell.source)
            if not cell.source.strip():
                continue
        converted.append(cell)
    return converted


def convert(
    chapter: Path, stored: dict, book: jupyter_markdown.Book | None = None
) -> nbformat.NotebookNode:
    """The unexecuted twin of ``chapter`` for ``stored`` metadata (pin and glued values)."""
    cells = convert_markdown(_cells(chapter, stored["commit"]), chapter, stored["glued"], book)
    _number(cells)
    metadata = {"kernelspec": KERNELSPEC, METADATA_KEY: stored}
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


def glued_values(executed: nbformat.NotebookNode) -> dict[str, str]:
    """What each ``glue`` call stored (``text/plain``), read from an executed notebook's outputs,
    the way MyST-NB reads them."""
    from myst_nb.ext.glue import extract_glue_data_cell

    glued = {}
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        for name, output in extract_glue_data_cell(copy.deepcopy(cell)):
            if name in glued:
                raise ValueError(f"{name!r} is glued twice")
            glued[name] = output["data"]["text/plain"]
    return glued


class _AnyValue(dict):
    """Stands in for glued values before they exist: every name has the value 0."""

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: str) -> str:
        return "0"


def make_twin(chapter: Path, book: jupyter_markdown.Book, pinned: dict) -> nbformat.NotebookNode:
    """Execute ``chapter`` in ``notebooks/``, then build its twin with the values it glued.

    Its Markdown is converted once before the execution, so that unknown markup fails at once.
    """
    from nbclient import NotebookClient

    convert_markdown(_cells(chapter, pinned["commit"]), chapter, _AnyValue(), book)
    cells = _cells(chapter, pinned["commit"])
    _number(cells)
    executed = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC})
    NotebookClient(
        executed, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    glued = glued_values(executed)
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if CHECKED_TAG not in cell.metadata.get("tags", []):
            # nbval treats a cell with outputs but no execution count as an error, so a checked
            # cell keeps its count (sequential, hence deterministic) and the rest lose both.
            cell.outputs, cell.execution_count = [], None
    cells = convert_markdown(executed.cells, chapter, glued, book)
    _number(cells)
    metadata = {"kernelspec": KERNELSPEC, METADATA_KEY: {**pinned, "glued": glued}}
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


# --- Checking the twins -----------------------------------------------------------------------


def _inputs(notebook: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [
        (cell.cell_type, cell.source, list(cell.metadata.get("tags", [])))
        for cell in notebook.cells
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def stored_metadata(twin: nbformat.NotebookNode) -> dict | None:
    """The pin and glued values a twin was made with, or ``None`` if it has none (or a bad one)."""
    stored = twin.metadata.get(METADATA_KEY)
    if not isinstance(stored, dict) or not {"commit", "package", "glued"} <= set(stored):
        return None
    return stored


def problems() -> list[str]:
    """What is wrong with the twins: missing, stale, hand-edited, orphaned, unexecuted."""
    found = []
    expected = {twin_path(chapter) for chapter in chapters()}
    book = book_index()
    for chapter in chapters():
        twin = twin_path(chapter)
        if not twin.exists():
            found.append(f"{_shown(chapter)} has no twin {_shown(twin)}")
            continue
        stored = nbformat.read(twin, as_version=4)
        metadata = stored_metadata(stored)
        if metadata is None:
            found.append(f"{_shown(twin)} has no {METADATA_KEY} metadata: run `make notebooks`")
            continue
        try:
            expected_twin = convert(chapter, metadata, book)
        except jupyter_markdown.ConversionError as error:
            found.append(f"{_shown(twin)} cannot be made from {_shown(chapter)}: {error}")
            continue
        if _inputs(stored) != _inputs(expected_twin):
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
    book, pinned = book_index(), pin()
    for chapter in args.chapters or chapters():
        chapter = chapter.resolve()
        start = time.perf_counter()
        try:
            twin = make_twin(chapter, book, pinned)
        except jupyter_markdown.ConversionError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        seconds = time.perf_counter() - start
        nbformat.write(twin, twin_path(chapter))
        print(f"wrote {_shown(twin_path(chapter))} (executed in {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
