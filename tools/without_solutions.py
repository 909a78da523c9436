"""The web book and the notebook twins without their worked solutions, for a course.

Why: the book publishes every exercise's worked solution (collapsed in the web book and in the
twins). A course that grades the exercises may not want them public. This makes an edition
without them, from the same sources:

- ``book``: the web book, built with ``onebyone_hide_solutions`` (``_ext/without_solutions.py``)
  into ``_build/without-solutions/_build/html``: each solution is replaced by a sentence saying it
  is not published;
- ``twins``: the twins, into ``_build/without-solutions/notebooks``: each solution's explanation
  is removed and each solution's code cell becomes the stub a student fills in (``name = ...``
  for each answer, the signature over ``...`` for each function), so the check cell after it
  still tells the student whether their own answer is right.

Usage::

    python tools/without_solutions.py book     # or: make book-without-solutions
    python tools/without_solutions.py twins

Publish those folders instead of the book's own (``repository.url`` in ``_config.yml`` then points
the Colab buttons at your fork, whose ``notebooks/`` should hold the twins made here).
"""

from __future__ import annotations

import ast
import copy
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

import notebooks
from onebyone.atomic import write_text_atomically

OUTPUT = notebooks.ROOT / "_build" / "without-solutions"
# A worked solution's collapsed explanation in a twin (tools/jupyter_markdown.py writes it).
SOLUTION_DETAILS = re.compile(
    r"<details><summary>Solution to Exercise[^<]*</summary>.*?</details>\n?", re.DOTALL
)
WITHHELD = "*The worked solution is not published in this edition of the book.*"
# A check call in the cell after a solution: chapterN.check_x(answer, ...).
CHECK_CALL = re.compile(r"\bchapter\d+\.check_\w+\(")


def checked_names(source: str) -> set[str]:
    """The plain names a check cell passes to ``chapterN.check_*`` calls: the answers."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and CHECK_CALL.match(ast.unparse(node.func) + "("):
            names |= {arg.id for arg in node.args if isinstance(arg, ast.Name)}
    return names


def stub(source: str, names: set[str]) -> str:
    """What a student sees instead of a solution cell: ``name = ...`` for each answer the cell
    assigns (at any depth, e.g. inside ``with``), the signature over ``...`` for each answer it
    defines as a function or class."""
    tree = ast.parse(source)
    lines = source.splitlines()
    out, left = [], set(names)
    for node in sorted(ast.walk(tree), key=lambda node: getattr(node, "lineno", 0)):
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in left:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            base = _indent(lines[first - 1])
            header = [line[base:] for line in lines[first - 1 : node.body[0].lineno - 1]]
            out += [*header, " " * (_indent(lines[node.body[0].lineno - 1]) - base) + "...", ""]
            left.discard(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and name.id in left:
                        out.append(f"{name.id} = ...")
                        left.discard(name.id)
    while out and not out[-1]:
        out.pop()
    return "\n".join(["# Your answer:", *out])


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def strip(twin: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``twin`` without its worked solutions (see the module docstring)."""
    twin = copy.deepcopy(twin)
    cells = twin.cells
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown" and "<details><summary>Solution to Exercise" in cell.source:
            # one note per solution: a solution that spans cells goes on "(continued)"
            cell.source = SOLUTION_DETAILS.sub(
                lambda match: "" if "(continued)" in match.group(0).split("</summary>")[0]
                else WITHHELD + "\n", cell.source)
        elif cell.cell_type == "code" and cell.source.startswith(notebooks.SOLUTION_TITLE):
            after = next((c for c in cells[index + 1:] if c.cell_type == "code"
                          and not c.source.startswith(notebooks.SOLUTION_TITLE)), None)
            names = checked_names(after.source) if after is not None else set()
            body = cell.source.split("\n", 1)[1] if "\n" in cell.source else ""
            cell.source = stub(body, names)
            cell.metadata.pop("cellView", None)
            cell.metadata.pop("jupyter", None)
            cell.outputs, cell.execution_count = [], None
    twin.cells = [cell for cell in cells if cell.cell_type != "markdown" or cell.source.strip()]
    return twin


def twins(output: Path = OUTPUT / "notebooks") -> list[Path]:
    """Every twin without its solutions, written into ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in notebooks.chapters():
        stripped = strip(nbformat.read(notebooks.twin_path(chapter), as_version=4))
        target = output / notebooks.twin_path(chapter).name
        write_text_atomically(target, nbformat.writes(stripped) + "\n")
        written.append(target)
    return written


def book(output: Path = OUTPUT) -> int:
    """Build the web book with ``onebyone_hide_solutions`` into ``output``; the build's status."""
    output.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((notebooks.ROOT / "_config.yml").read_text())
    config.setdefault("sphinx", {}).setdefault("config", {})["onebyone_hide_solutions"] = True
    overlay = output / "_config.yml"
    write_text_atomically(overlay, yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "jupyter_book", "build", str(notebooks.ROOT),
               "--config", str(overlay), "--path-output", str(output), "-W", "-n",
               "--keep-going"]
    return subprocess.run(command, cwd=notebooks.ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["twins"]:
        for path in twins():
            print(f"wrote {path.relative_to(notebooks.ROOT)}")
        return 0
    if argv == ["book"]:
        return book()
    print("usage: python tools/without_solutions.py {book|twins}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
