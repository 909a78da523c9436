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
   values filled in, equations numbered, references and citations linked to the web book;
5. what the web page keeps out of sight stays out of sight (:func:`hide`): a worked solution's
   code and Markdown, and the source of a check cell (tagged ``remove-input``, ``hide-input`` or
   ``remove-cell``), are collapsed until the reader opens them.

How a cell is collapsed, and why both ways: Jupyter (JupyterLab, Notebook 7) honours the
standard ``"jupyter": {"source_hidden": true, "outputs_hidden": true}`` cell metadata and shows a
collapsed cell as a bar to click; Colab ignores it, but shows a cell whose metadata has
``"cellView": "form"`` as its ``# @title`` line with a "Show code" button, the code hidden (Colab's
own "Hide code" stores exactly this). So a collapsed code cell carries both and begins with a
``# @title`` line that says what it holds. Solution Markdown is an HTML ``<details>`` block, which
both render closed (``jupyter_markdown.PageConverter.collapse_solutions``). A check cell keeps its
output in sight (a ``remove-input`` cell's output is what the web page shows); a solution's and a
``remove-cell`` cell's output are collapsed too.

The glued values (as MyST-NB stores them, ``text/plain``), the declarations of those that vary
between machines (``onebyone.glue.Varies``), a digest of both, the pinned commit and that commit's
package trees are kept in the twin's metadata under ``onebyone``. So ``--check`` re-converts every
chapter with the stored values, without running anything, and compares contents (sources, cell
types, tags and what is collapsed), not timestamps; the digest catches a stored value edited by
hand. That the stored values are still what the code computes is checked against the book build's
own execution (``tests/test_colab_twins.py``, with :func:`glued_disagreements`: exactly, except
for a declared value, which may differ by its declared tolerance, since the twins and the build
usually run on different machines); that the pin installs today's package, by comparing git trees
(same file).

Usage::

    python tools/notebooks.py                 # every chapter
    python tools/notebooks.py book/01_pointwise.md
    python tools/notebooks.py --check         # exit 1 if a twin is missing, stale or hand-edited

Workflow: commit package changes first, then run ``make notebooks``, then commit the twins.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
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

from onebyone.atomic import write_text_atomically

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
CHECKED_TAG = "nbval-check-output"
COLAB_CELL_TAG = "colab-setup"
METADATA_KEY = "onebyone"
# What `pip install` of the package reads: if these trees are the same at two commits, installing
# from either gives the same package.
PACKAGE_PATHS = ("src", "pyproject.toml")
# A glued value as the prose quotes it: {glue:text}`name:format`.
GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`([\w-]+)(?::([^`]*))?`")
# Where a gated solution starts and ends in a chapter's Markdown.
SOLUTION_FENCE = re.compile(r"^ {0,3}(?:`{3,}|:{3,})\{(solution-(?:start|end))\}", re.MULTILINE)
# The tags of cells whose source the web page hides (and, for remove-cell, whose output too).
CHECK_TAGS = ("remove-input", "hide-input", "remove-cell")
# The first line of a collapsed code cell, which Colab shows in place of the code.
SOLUTION_TITLE = "# @title Solution (double-click to show the code)"
CHECK_TITLE = "# @title Check (double-click to show the code)"


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
    """The Colab cell, then the chapter's cells (tags only), code cells without outputs;
    solutions and checks collapsed (:func:`hide`)."""
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
    return hide(cells)


def hide(cells: list) -> list:
    """``cells`` with each code cell of a worked solution, and each check cell, collapsed.

    A solution's code cells are those between a ``{solution-start}`` and its ``{solution-end}``
    in the Markdown cells around them; a check cell has one of ``CHECK_TAGS``. Each is collapsed
    for Jupyter (``jupyter.source_hidden``) and for Colab (``cellView: form``, under a
    ``# @title`` line). Changes the cells in place, and returns them.
    """
    in_solution = False
    for cell in cells:
        if cell.cell_type == "markdown":
            fences = SOLUTION_FENCE.findall(cell.source)
            in_solution = fences[-1] == "solution-start" if fences else in_solution
            continue
        tags = cell.metadata.get("tags", [])
        if in_solution:
            _collapse(cell, SOLUTION_TITLE, outputs=True)
        elif any(tag in CHECK_TAGS for tag in tags):
            _collapse(cell, CHECK_TITLE, outputs="remove-cell" in tags)
    return cells


def _collapse(cell: nbformat.NotebookNode, title: str, outputs: bool) -> None:
    hidden = {"source_hidden": True, **({"outputs_hidden": True} if outputs else {})}
    cell.metadata.update({"cellView": "form", "jupyter": hidden})
    lines = cell.source.split("\n")
    # A cell magic (%%...) must stay the first line; the title is a comment below it.
    at = 1 if lines[0].startswith("%%") else 0
    cell.source = "\n".join([*lines[:at], title, *lines[at:]])


def _number(cells: list) -> None:
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index}"  # stable ids keep diffs small


def convert_markdown(
    cells: list, chapter: Path, glued: dict[str, str], book: jupyter_markdown.Book | None = None
) -> list:
    """``cells`` with every Markdown cell in plain Jupyter Markdown; empty ones dropped."""
    converter = jupyter_markdown.PageConverter(
        book or book_index(), page_name(chapter), glued, format_glued, collapse_solutions=True
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


def _glue_outputs(executed: nbformat.NotebookNode) -> dict[str, dict]:
    from myst_nb.ext.glue import extract_glue_data_cell

    outputs = {}
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        for name, output in extract_glue_data_cell(copy.deepcopy(cell)):
            if name in outputs:
                raise ValueError(f"{name!r} is glued twice")
            outputs[name] = output
    return outputs


def glued_values(executed: nbformat.NotebookNode) -> dict[str, str]:
    """What each ``glue`` call stored (``text/plain``), read from an executed notebook's outputs,
    the way MyST-NB reads them."""
    return {name: output["data"]["text/plain"] for name, output in _glue_outputs(executed).items()}


def declared_varies(outputs: dict[str, dict]) -> dict[str, dict]:
    """The ``Varies`` records of the glued values that declare one, by name, from glue outputs
    (an executed notebook's, or the ``.glue.json`` of the book build)."""
    from onebyone.glue import METADATA_KEY as GLUE_KEY

    return {
        name: output["metadata"][GLUE_KEY]["varies"]
        for name, output in outputs.items()
        if "varies" in output.get("metadata", {}).get(GLUE_KEY, {})
    }


def digest(glued: dict[str, str], varies: dict[str, dict]) -> str:
    """A fingerprint of the stored values, so that ``--check`` notices one edited by hand."""
    text = json.dumps({"glued": glued, "varies": varies}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def glued_disagreements(
    chapter_text: str,
    mine: tuple[dict[str, str], dict[str, dict]],
    theirs: tuple[dict[str, str], dict[str, dict]],
) -> list[str]:
    """Where two executions of a chapter show different numbers (values, declarations).

    Each side is ``(glued, varies)``: the glued ``text/plain`` values and the declarations of
    those that vary between machines. Every value the prose quotes must look the same as the
    prose formats it, except a declared one, which may differ by its declared tolerance; both
    sides must glue the same names and declare the same ones the same way.
    """
    from onebyone.glue import Varies

    (glued, varies), (other, other_varies) = mine, theirs
    found = []
    if set(glued) != set(other):
        found.append(f"different names glued: {sorted(set(glued) ^ set(other))}")
    if varies != other_varies:
        found.append(f"different declarations of varying values: {sorted(varies)} against "
                     f"{sorted(other_varies)}")
    for name, spec in GLUE_ROLE.findall(chapter_text):
        if name not in glued or name not in other:
            continue
        if name in varies:
            tolerance = Varies.from_record(varies[name])
            if tolerance.anything:
                continue
            a, b = float(glued[name]), float(other[name])
            if not tolerance.allows(a, b):
                found.append(f"{name}: {a!r} and {b!r} differ by more than declared "
                             f"({tolerance.why})")
        elif format_glued(glued[name], spec or "s") != format_glued(other[name], spec or "s"):
            found.append(f"{name}: {glued[name]!r} and {other[name]!r}")
    return list(dict.fromkeys(found))


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
    outputs = _glue_outputs(executed)
    glued = {name: output["data"]["text/plain"] for name, output in outputs.items()}
    varies = declared_varies(outputs)
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
    stored = {**pinned, "glued": glued, "varies": varies, "digest": digest(glued, varies)}
    metadata = {"kernelspec": KERNELSPEC, METADATA_KEY: stored}
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


# --- Checking the twins -----------------------------------------------------------------------


def _inputs(notebook: nbformat.NotebookNode) -> list[tuple]:
    """What a twin must share with its chapter: cell types, sources, tags, and what is collapsed
    (a twin that shows a solution or a check the chapter hides is stale)."""
    return [
        (
            cell.cell_type,
            cell.source,
            list(cell.metadata.get("tags", [])),
            cell.metadata.get("cellView"),
            dict(cell.metadata.get("jupyter", {})),
        )
        for cell in notebook.cells
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


STORED_KEYS = {"commit", "package", "glued", "varies", "digest"}


def stored_metadata(twin: nbformat.NotebookNode) -> dict | None:
    """The pin and glued values a twin was made with, or ``None`` if it has none (or a bad one)."""
    stored = twin.metadata.get(METADATA_KEY)
    if not isinstance(stored, dict) or set(stored) != STORED_KEYS:
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
        if metadata["digest"] != digest(metadata["glued"], metadata["varies"]):
            found.append(f"{_shown(twin)}: its stored glued values were edited by hand (their "
                         "digest does not match): run `make notebooks`")
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


def chosen_chapters(paths: list[Path]) -> list[Path]:
    """The chapters named on the command line (all by default); refuses a path that is not one."""
    known = {chapter.resolve() for chapter in chapters()}
    chosen = []
    for path in paths:
        if path.resolve() not in known:
            why = "no such file" if not path.exists() else "not a chapter (a book/*.md notebook)"
            raise UsageError(f"{path}: {why}")
        chosen.append(path.resolve())
    return chosen or chapters()


class UsageError(ValueError):
    """A command line the tool cannot act on: said in one line, exit status 2."""


def _cell_failure(chapter: Path, error: Exception) -> str:
    """One line for a chapter whose execution failed: the cell and the exception."""
    name = getattr(error, "ename", type(error).__name__)
    value = str(getattr(error, "evalue", error)).strip().splitlines() or [""]
    return f"{_shown(chapter)} failed to run: {name}: {value[0]}"


def main(argv: list[str] | None = None) -> int:
    """Make the twins (or check them); 0 on success, 1 if ``--check`` finds a problem, 2 on a
    bad command line or a chapter that cannot be converted or run (said in one line)."""
    from nbclient.exceptions import CellExecutionError

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="chapters to convert (default all)")
    parser.add_argument("--check", action="store_true", help="only check that twins are in sync")
    args = parser.parse_args(argv)
    try:
        if args.check:
            if args.chapters:
                raise UsageError("--check checks every twin: name no chapter")
            found = problems()
            print("\n".join(found) or "every twin is in sync with its chapter")
            return 1 if found else 0
        selected = chosen_chapters(args.chapters)
    except (UsageError, jupyter_markdown.ConversionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    NOTEBOOKS.mkdir(exist_ok=True)
    book, pinned = book_index(), pin()
    for chapter in selected:
        start = time.perf_counter()
        try:
            twin = make_twin(chapter, book, pinned)
        except jupyter_markdown.ConversionError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except CellExecutionError as error:
            print(f"error: {_cell_failure(chapter, error)}", file=sys.stderr)
            return 2
        seconds = time.perf_counter() - start
        text = nbformat.writes(twin)
        write_text_atomically(twin_path(chapter), text if text.endswith("\n") else text + "\n")
        print(f"wrote {_shown(twin_path(chapter))} (executed in {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
