"""Build course assignments from the chapters' exercises, and grade submissions, with Otter-Grader.

Why: the exercises at the end of each chapter already have worked solutions and checks in the
package (``onebyone.exercises``); an assignment is the same material split three ways, never
written twice. For every chapter in ``_toc.yml`` that has an ``## Exercises`` section, this
script writes an Otter Assign source notebook and runs ``otter assign`` on it, which makes:

- the **student notebook**: the Colab install cell of the twins (``tools/notebooks.py``), the
  section's setup cell, every exercise in plain Jupyter Markdown (``tools/jupyter_markdown.py``),
  a stub (``answer = ...``, or the function's signature over ``...``) where the solution was, and
  the check cell, so a student can check an answer before handing it in;
- the **solution notebook**: the same with the worked solutions;
- the **autograder** zip, for Gradescope: one exception-based Otter test per exercise, which
  calls the exercise's check from freshly loaded package modules (``onebyone.exercises.grading``),
  in an environment of Python 3.11, the pinned torch and the package at the twins' commit;
- ``grading/<chapter>.json``: the exercises and their checks, for the local grader.

A manifest (``.assignments-manifest.json``) lists what the build made: a later build replaces
only those files, and refuses a folder that holds anything else.

Conventions the chapters follow (and a new chapter must, or the build stops and names the
problem): the exercise section starts at ``## Exercises`` and ends at the next ``## `` heading;
code cells before its first exercise are its setup; each ``{exercise}`` is followed by a gated
solution (``{solution-start}`` ... ``{solution-end}``) and by a code cell that calls
``chapterN.check_*(name, ...)`` with the names the solution defines.

Usage::

    python tools/assignments.py build                    # into _build/assignments
    python tools/assignments.py grade 01_pointwise SUBMISSIONS_FOLDER_OR_NOTEBOOKS ...

``grade`` uses :mod:`onebyone.exercises.grader`: each notebook runs alone, in a throwaway folder,
with a time limit per cell, and its answers are checked by processes that never ran it. It
merges the results into ``_build/assignments/grades/<chapter>/final_grades.csv`` (one row per
submission, labelled by its path relative to ``--root``) and writes one JSON per submission in
Gradescope's results format. Wrong arguments print one line and exit with status 2; a refusal
(an unreadable file, a changed environment) prints one line and exits with status 1.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

# A sibling script: tools/ is not a package, but it is on the path of a script run as
# `python tools/assignments.py` (its own folder) and of the tests (pytest's `pythonpath`).
import notebooks
from onebyone.atomic import write_text_atomically

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "_build" / "assignments"
SECTION = "## Exercises"
DEFAULT_TIMEOUT_S = 300
DEFAULT_CELL_TIMEOUT_S = 60
POINTS_PER_EXERCISE = 1


BOOK_ONLY_TAGS = {"remove-input", "remove-cell"}
"""Cells the web book hides (its asserts and glue): left out of the assignments."""


class AssignmentError(ValueError):
    """A chapter's exercise section does not follow the conventions an assignment needs."""


# --- Reading a chapter's exercise section ------------------------------------------------------


@dataclass
class Question:
    """One exercise: its prompt, cells before and in its solution, its checks, and what follows."""

    label: str
    prompt: str  # Jupyter Markdown
    before: list = field(default_factory=list)  # cells between the prompt and the solution
    solution: list = field(default_factory=list)  # Markdown and code cells of the solution
    after: list = field(default_factory=list)  # the check cell and anything after it
    checks: list[tuple[str, str, list[str]]] = field(default_factory=list)  # module, check, names

    @property
    def name(self) -> str:
        """Otter's name for the question (and its test file): the exercise's label."""
        return self.label.replace("-", "_")


@dataclass
class Section:
    """A chapter's exercise section, converted to Jupyter Markdown and split by exercise."""

    chapter: Path
    title: str
    intro: list  # the heading, setup cells and any text before the first exercise
    questions: list[Question]


def toc_chapters() -> list[Path]:
    """Every chapter of ``_toc.yml`` (a MyST notebook), in the book's order."""
    pages = [ROOT / f"{page}.md" for page in notebooks._toc_pages()]
    return [page for page in pages if page.exists() and "jupytext:" in page.read_text()[:500]]


_DIRECTIVE_START = re.compile(r"^```\{(exercise|solution-start|solution-end)\}", re.MULTILINE)


def _segments(text: str) -> list[tuple[str | None, str]]:
    """``text`` cut before each exercise/solution directive: ``(directive or None, text)``."""
    starts = [match.start() for match in _DIRECTIVE_START.finditer(text)]
    pieces = []
    for begin, end in zip([0, *starts], [*starts, len(text)], strict=True):
        piece = text[begin:end]
        if not piece.strip():
            continue
        match = _DIRECTIVE_START.match(piece)
        pieces.append((match[1] if match else None, piece))
    return pieces


def _label(piece: str) -> str:
    found = re.search(r"^:label:\s*(\S+)", piece, re.MULTILINE)
    if not found:
        raise AssignmentError(f"an exercise has no :label: option:\n{piece[:200]}")
    return found[1]


def _check_calls(source: str, where: str) -> list[tuple[str, str, list[str]]]:
    """The ``module.check_*(name, ...)`` calls of a code cell: ``(module, check, names)``."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (node.func.attr.startswith("check_") and isinstance(node.func.value, ast.Name)):
            continue
        module = node.func.value.id
        if importlib.util.find_spec(f"onebyone.exercises.{module}") is None:
            raise AssignmentError(f"{where}: {module}.{node.func.attr} is not a check of "
                                  "onebyone.exercises (import the chapter's module by its name)")
        if node.keywords or not all(isinstance(arg, ast.Name) for arg in node.args):
            raise AssignmentError(f"{where}: pass the answers to {node.func.attr} as plain names")
        calls.append((module, node.func.attr, [arg.id for arg in node.args]))
    return calls


def read_section(chapter: Path, glued: dict[str, str]) -> Section | None:
    """The exercise section of ``chapter``, or ``None`` if it has none."""
    import jupytext

    book_notebook = jupytext.read(chapter, fmt="md:myst")
    converter = notebooks.jupyter_markdown.PageConverter(
        notebooks.book_index(), notebooks.page_name(chapter), glued, notebooks.format_glued
    )
    title, inside, intro, questions = "", False, [], []
    in_solution = False
    where = notebooks.page_name(chapter)
    for cell in book_notebook.cells:
        if cell.cell_type == "markdown":
            heading = re.search(r"^# (.+)$", cell.source, re.MULTILINE)
            title = title or (heading[1].strip() if heading else "")
            text, ends = cell.source, False
            start = re.search(rf"^{SECTION}\s*$", text, re.MULTILINE)
            if start and not inside:
                converter.convert(text[: start.start()])  # the section before, for the counts
                text, inside = text[start.start() :], True
            if inside:
                after = re.search(r"^## ", text[len(SECTION) if start else 0 :], re.MULTILINE)
                if after:  # the next section: the exercises end here
                    text = text[: after.start() + (len(SECTION) if start else 0)]
                    ends = True
            for directive, piece in _segments(text):
                converted = converter.convert(piece)  # in order: exercise numbers count up
                if not inside:
                    continue
                new = nbformat.v4.new_markdown_cell(converted) if converted.strip() else None
                if directive == "exercise":
                    questions.append(Question(_label(piece), converted))
                    in_solution = False
                    continue
                if directive == "solution-start":
                    if not questions:
                        raise AssignmentError(f"{where}: a solution before any exercise")
                    in_solution = True
                elif directive == "solution-end":
                    in_solution = False
                if new is None:
                    continue
                if not questions:
                    intro.append(new)
                elif in_solution:
                    questions[-1].solution.append(new)
                else:
                    (questions[-1].after if questions[-1].solution else questions[-1].before
                     ).append(new)
            if ends:
                break
            continue
        if not inside or cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if BOOK_ONLY_TAGS & set(tags):
            # the book's own checks and glue, out of the reader's sight: a student notebook
            # must not carry them (one that recomputes an answer would give it away)
            continue
        code = nbformat.v4.new_code_cell(cell.source)
        if tags:
            code.metadata["tags"] = list(tags)
        if not questions:
            intro.append(code)
        elif in_solution:
            questions[-1].solution.append(code)
        else:
            question = questions[-1]
            question.checks += _check_calls(cell.source, f"{where}, {question.label}")
            (question.after if question.solution else question.before).append(code)
    if not inside:
        return None
    for question in questions:
        if not question.checks:
            raise AssignmentError(f"{where}: exercise {question.label} has no check cell "
                                  "(a cell calling chapterN.check_*(answer) after its solution)")
        if not any(cell.cell_type == "code" for cell in question.solution):
            raise AssignmentError(f"{where}: exercise {question.label} has no solution code")
    _renumber(questions)
    return Section(chapter, title, intro, questions)


def _renumber(questions: list[Question]) -> None:
    """Number the exercises of one assignment from 1 (the book numbers them through the whole
    book, so Chapter 6's would start at 20): their headings and their solutions' headings."""
    for number, question in enumerate(questions, start=1):
        found = re.search(r"^#### Exercise ([0-9]+)", question.prompt, re.MULTILINE)
        if not found:
            continue
        book_number = found[1]
        question.prompt = re.sub(rf"^#### Exercise {book_number}\b", f"#### Exercise {number}",
                                 question.prompt, count=1, flags=re.MULTILINE)
        for cell in question.solution:
            if cell.cell_type == "markdown":
                cell.source = re.sub(rf"^#### Solution to Exercise {book_number}\b",
                                     f"#### Solution to Exercise {number}", cell.source,
                                     flags=re.MULTILINE)


# --- Writing the Otter Assign source notebook ---------------------------------------------------


def _stub(source: str, names: set[str]) -> list[str]:
    """What the student sees instead of a solution cell: ``name = ...`` for each answer the cell
    assigns, wherever it assigns it (at the top level, inside ``with torch.no_grad():``, a loop
    or an ``if``; by ``=``, ``+=``, ``for name in``, ``with ... as name`` or ``:=``), and the
    signature over ``...`` for each answer it defines as a top-level function or class. The
    answers it found are removed from ``names``."""
    lines = source.splitlines()
    found: list[tuple[int, list[str]]] = []
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            header = lines[first - 1 : node.body[0].lineno - 1]
            indent = re.match(r"\s*", lines[node.body[0].lineno - 1])[0]
            found.append((first, [*header, f"{indent}...", ""]))
            names.discard(node.name)
    targets: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        bound = []
        if isinstance(node, ast.Assign):
            bound = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
            bound = [node.target]
        elif isinstance(node, ast.For | ast.AsyncFor):
            bound = [node.target]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bound = [node.optional_vars]
        for target in bound:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and name.id in names:
                    targets.append((name.lineno, name.col_offset, name.id))
    for line, _, name in sorted(targets):
        if name in names:
            found.append((line, [f"{name} = ..."]))
            names.discard(name)
    stub = [line for _, block in sorted(found, key=lambda item: item[0]) for line in block]
    while stub and not stub[-1]:
        stub.pop()
    return stub


def _solution_cell(cell: nbformat.NotebookNode, names: set[str]) -> nbformat.NotebookNode:
    """A solution code cell in Otter's in-cell syntax: the stub as a prompt, then the solution."""
    stub = _stub(cell.source, names)
    lines = (['""" # BEGIN PROMPT', *stub, '""" # END PROMPT'] if stub else [])
    lines += ["# BEGIN SOLUTION NO PROMPT", cell.source, "# END SOLUTION"]
    return nbformat.v4.new_code_cell("\n".join(lines))


def _test_cell(question: Question) -> nbformat.NotebookNode:
    """The question's Otter test: every check of the exercise, from fresh package modules."""
    names = sorted({name for _, _, names in question.checks for name in names})
    body = [
        f"def test_{question.name}(env):",
        "    from onebyone.exercises.grading import fresh_check",
        "",
        f"    for name in {names!r}:",
        "        assert name in env, (",
        '            f"{name} is not defined: run the cell that defines it, and fix any error "',
        '            "it shows"',
        "        )",
    ]
    for module, check, arguments in question.checks:
        call = ", ".join(f'env["{name}"]' for name in arguments)
        body.append(f'    fresh_check("{module}", "{check}")({call})')
    config = ['""" # BEGIN TEST CONFIG', f"points: {POINTS_PER_EXERCISE}", "hidden: false",
              '""" # END TEST CONFIG']
    return nbformat.v4.new_code_cell("\n".join(config + body))


def _raw(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_raw_cell(text)


def source_notebook(section: Section, stored: dict) -> nbformat.NotebookNode:
    """The Otter Assign source notebook of ``section`` (``stored``: the twin's pin)."""
    url, _ = notebooks.repository()
    name = section.chapter.stem
    config = {
        "name": name,
        "requirements": "requirements.txt",
        "init_cell": False,
        "check_all_cell": False,
        "export_cell": False,
        "run_tests": False,
        "solutions_pdf": False,
        "tests": {"files": True, "ok_format": False},
    }
    colab = nbformat.v4.new_code_cell(notebooks.COLAB_CELL.format(url=url, commit=stored["commit"]))
    colab.metadata["tags"] = [notebooks.COLAB_CELL_TAG]
    chapter_url = notebooks.book_index().url(notebooks.page_name(section.chapter))
    header = nbformat.v4.new_markdown_cell(
        f"# Assignment: {section.title}\n\n"
        f"The exercises of the chapter [{section.title}]({chapter_url}).\n"
        "Run the first cells (on Colab, the first one installs the book's package), then answer "
        "each exercise in the cell under it, where `...` stands for your answer, and run the "
        "check cell after it: it prints *Correct*, or a hint that says what is wrong.\n"
        "The grader runs the same checks on your notebook as handed in."
    )
    cells = [_raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False)), colab,
             header, *section.intro]
    for question in section.questions:
        names = {name for _, _, names in question.checks for name in names}
        # No `grader.check` cells: students check with the package's check cell, which runs on
        # Colab without Otter installed.
        begin = f"# BEGIN QUESTION\nname: {question.name}\npoints: {POINTS_PER_EXERCISE}"
        cells += [_raw(begin + "\ncheck_cell: false"),
                  nbformat.v4.new_markdown_cell(question.prompt), *question.before,
                  _raw("# BEGIN SOLUTION")]
        for cell in question.solution:
            cells.append(_solution_cell(cell, names) if cell.cell_type == "code" else cell)
        cells += [_raw("# END SOLUTION"), _raw("# BEGIN TESTS"), _test_cell(question),
                  _raw("# END TESTS"), _raw("# END QUESTION"), *question.after]
    metadata = {"kernelspec": notebooks.KERNELSPEC,
                "language_info": {"name": "python"}}
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


# --- Building --------------------------------------------------------------------------------


def _stored(chapter: Path) -> dict:
    twin = notebooks.twin_path(chapter)
    stored = notebooks.stored_metadata(nbformat.read(twin, as_version=4)) if twin.exists() else None
    if stored is None:
        raise AssignmentError(f"{notebooks._shown(twin)} is missing or has no pin: "
                              "run `make notebooks` first")
    return stored


def _assign(source: Path, result: Path) -> None:
    """Run Otter Assign on ``source`` (in this process: importing Otter once saves seconds)."""
    import contextlib
    import io
    import os

    from otter.assign import main as otter_assign

    log = io.StringIO()
    try:
        with contextlib.chdir(source.parent), contextlib.redirect_stdout(log), \
                contextlib.redirect_stderr(log):
            otter_assign(os.fspath(source), os.fspath(result), no_pdfs=True)
    except Exception as error:
        raise AssignmentError(
            f"otter assign failed on {source.name}: {error}\n{log.getvalue()}"
        ) from error


def build_chapter(chapter: Path, output: Path, torch_index_url: str | None = None
                  ) -> dict[str, Path] | None:
    """Build one chapter's assignment into ``output``; ``None`` if it has no exercises."""
    stored = _stored(chapter)
    section = read_section(chapter, stored["glued"])
    if section is None:
        return None
    url, _ = notebooks.repository()
    name = chapter.stem
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        nbformat.write(source_notebook(section, stored), work / f"{name}.ipynb")
        # What the autograder zip installs where it is set up (Gradescope, `otter grade`): the
        # package at the commit the twins pin, as on Colab.
        (work / "requirements.txt").write_text(f"onebyone @ git+{url}@{stored['commit']}\n")
        _assign(work / f"{name}.ipynb", work / "dist")
        dist = work / "dist"
        (zip_file,) = (dist / "autograder").glob("*.zip")
        made = {
            "source": output / "source" / f"{name}.ipynb",
            "student": output / "student" / f"{name}.ipynb",
            "solution": output / "solution" / f"{name}.ipynb",
            "autograder": output / "autograder" / f"{name}-autograder.zip",
            "grading": questions_path(output, name),
        }
        for path in made.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        _write_notebook(made["source"], nbformat.read(work / f"{name}.ipynb", as_version=4))
        for kind, built in (("student", dist / "student"), ("solution", dist / "autograder")):
            _write_notebook(made[kind], _tidy(nbformat.read(built / f"{name}.ipynb", 4)))
        _write_bytes(made["autograder"], gradescope_zip(zip_file.read_bytes(), url,
                                                        stored["commit"], torch_index_url))
        write_text_atomically(made["grading"], _questions_json(section))
    _check_commit(made, stored["commit"], url)
    return made


def _write_notebook(path: Path, notebook: nbformat.NotebookNode) -> None:
    write_text_atomically(path, nbformat.writes(notebook) + "\n")


def _write_bytes(path: Path, data: bytes) -> None:
    """``data`` into ``path``, replacing it whole or not at all (as ``onebyone.atomic``)."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def pinned(requirement: str) -> str:
    """The ``NAME==VERSION`` line of ``requirements.txt`` for ``requirement`` (e.g. ``torch``)."""
    text = (ROOT / "requirements.txt").read_text()
    found = re.search(rf"^{re.escape(requirement)}==\S+$", text, re.MULTILINE | re.IGNORECASE)
    if not found:
        raise AssignmentError(f"requirements.txt pins no {requirement}")
    return found[0]


PYTHON_VERSION = "3.11"
"""The Python that the book is tested on, and that the Gradescope image gets."""


def gradescope_zip(data: bytes, url: str, commit: str, torch_index_url: str | None) -> bytes:
    """Otter's autograder zip with the environment the book is tested in: Python 3.11, the
    torch that ``requirements.txt`` pins, the package at ``commit``, ``git`` (which pip needs
    to install it) and no browser (no PDFs are made)."""
    import io
    import zipfile

    pip = [f"{pinned('otter-grader')}".replace("otter-grader", "otter-grader[grading]", 1),
           pinned("torch"), f"onebyone @ git+{url}@{commit}"]
    if torch_index_url:
        pip.insert(0, f"--extra-index-url {torch_index_url}")
    environment = {"name": "otter-env", "channels": ["conda-forge"],
                   "dependencies": [f"python={PYTHON_VERSION}", "pip", "jupyter_server",
                                    {"pip": pip}]}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as original, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as rewritten:
        for item in original.infolist():
            content = original.read(item)
            if item.filename == "environment.yml":
                content = yaml.safe_dump(environment, sort_keys=False).encode()
            elif item.filename == "setup.sh":
                text = content.decode()
                lines = [line for line in text.splitlines() if "playwright" not in line]
                text = "\n".join(lines) + "\n"
                text, count = re.subn(r"^(apt-get install -y )", r"\1git ", text, count=1,
                                      flags=re.MULTILINE)
                if not count:
                    raise AssignmentError("Otter's setup.sh has no apt-get install line to add "
                                          "git to: check the Otter version")
                content = text.encode()
            rewritten.writestr(item, content)
    return out.getvalue()


_WARNED: set[str] = set()


def _check_commit(made: dict[str, Path], commit: str, url: str) -> None:
    """The zip installs the commit the notebooks were made from (the twins' pin, which the
    student notebook's Colab cell also installs); warn when no remote branch holds it."""
    import zipfile

    with zipfile.ZipFile(made["autograder"]) as archive:
        environment = archive.read("environment.yml").decode()
    student = nbformat.read(made["student"], as_version=4)
    installs = set(re.findall(r"git\+\S+@([0-9a-f]{40})", environment))
    colab = set(re.findall(r'COMMIT = "([0-9a-f]{40})"', student.cells[0].source))
    if installs != {commit} or colab != {commit}:
        raise AssignmentError(f"{made['autograder'].name} installs {sorted(installs)} and the "
                              f"student notebook {sorted(colab)}, not the twins' {commit}")
    if commit in _WARNED:
        return
    _WARNED.add(commit)
    result = subprocess.run(["git", "-C", str(ROOT), "branch", "--remotes", "--contains", commit],
                            capture_output=True, text=True)
    if result.returncode != 0 or not result.stdout.strip():
        print(f"warning: no remote branch holds commit {commit[:12]}, which the autograder and "
              f"the Colab cell install from {url}: push it before handing out", file=sys.stderr)


_PROMPT_BLOCK = re.compile(r'^""" # BEGIN PROMPT\n.*?^""" # END PROMPT\n', re.M | re.S)
_SOLUTION_MARKER = re.compile(r"^# (BEGIN SOLUTION NO PROMPT|END SOLUTION)\n?", re.M)


def _tidy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """No outputs and stable cell ids; in the solution notebook, which Otter writes with its
    markers still in, the students' stubs and the markers removed, so it reads like the book."""
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.source = _SOLUTION_MARKER.sub("", _PROMPT_BLOCK.sub("", cell.source)).rstrip()
    return notebook


def colab_links(made: dict[str, dict[str, Path]], repository: str, branch: str,
                folder: str) -> str:
    """Markdown with a Colab link per student notebook, for notebooks pushed to
    ``repository`` (``owner/name`` on GitHub) on ``branch``, under ``folder``."""
    lines = ["# Assignments on Colab", ""]
    for chapter, paths in made.items():
        path = "/".join(part for part in (folder.strip("/"), paths["student"].name) if part)
        lines.append(f"- [{chapter}](https://colab.research.google.com/github/{repository}/blob/"
                     f"{branch}/{path})")
    return "\n".join(lines) + "\n"


MANIFEST = ".assignments-manifest.json"
"""The file, in a build's folder, that lists what the build made: the next build replaces those
files, and refuses to touch a folder holding anything else."""
KINDS = ("source", "student", "solution", "autograder", "grading")


def _manifest(output: Path) -> set[str]:
    path = output / MANIFEST
    if not path.exists():
        return set()
    try:
        listed = json.loads(path.read_text(encoding="utf-8"))["files"]
        if not all(isinstance(item, str) and item.split("/")[0] in KINDS
                   and ".." not in item.split("/") for item in listed):
            raise ValueError("a path outside the build's folders")
    except (ValueError, KeyError, TypeError) as error:
        raise AssignmentError(f"{path}, line 1: not a build manifest ({error})") from None
    return set(listed)


def build(output: Path = OUTPUT, torch_index_url: str | None = None
          ) -> dict[str, dict[str, Path]]:
    """Build every chapter's assignment; returns what was made, by chapter.

    Only files an earlier build made (listed in ``output``'s manifest) are replaced or removed;
    if ``output``'s build folders hold anything else, nothing is built and the files are named.
    """
    previous = _manifest(output)
    foreign = sorted(path.relative_to(output).as_posix() for kind in KINDS
                     for path in (output / kind).rglob("*")
                     if path.is_file() and path.relative_to(output).as_posix() not in previous)
    if foreign:
        raise AssignmentError(f"{output} holds files that no earlier build made "
                              f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}): "
                              "move them, or build into another --output")
    made = {}
    for chapter in toc_chapters():
        paths = build_chapter(chapter, output, torch_index_url)
        if paths is None:
            print(f"{notebooks._shown(chapter)}: no '{SECTION}' section, no assignment")
            continue
        made[chapter.stem] = paths
        print(f"{chapter.stem}: " + ", ".join(notebooks._shown(path) for path in paths.values()))
    now = {path.relative_to(output).as_posix() for paths in made.values()
           for path in paths.values()}
    for stale in sorted(previous - now):
        (output / stale).unlink(missing_ok=True)
    write_text_atomically(output / MANIFEST, json.dumps({"files": sorted(now)}, indent=1) + "\n")
    return made


# --- Grading ---------------------------------------------------------------------------------


def questions_path(assignments: Path, chapter: str) -> Path:
    """Where ``build`` records the questions of ``chapter`` and the checks that grade them."""
    return assignments / "grading" / f"{chapter}.json"


def _questions_json(section: Section) -> str:
    return json.dumps({"questions": [
        {"name": question.name,
         "checks": [[module, check, names] for module, check, names in question.checks]}
        for question in section.questions]}, indent=1) + "\n"


def read_questions(path: Path) -> list:
    """The questions ``build`` recorded in ``path`` (see :func:`questions_path`)."""
    from onebyone.exercises.grader import Question

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        questions = [Question(item["name"], tuple(
            (module, check, tuple(names)) for module, check, names in item["checks"]))
            for item in data["questions"]]
        if not questions or not all(isinstance(name, str) for q in questions
                                    for _, _, names in q.checks for name in names):
            raise ValueError("no questions")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AssignmentError(f"{notebooks._shown(path)} is missing or unreadable ({error}): "
                              "run `make assignments`") from None
    return questions


def submission_labels(submissions: list[Path], root: Path) -> dict[str, Path]:
    """Each submission (a notebook, or a folder searched for notebooks) by its label: its path
    relative to ``root``, the submissions folder, with ``/`` between folders."""
    labelled = {}
    root = root.resolve()
    for given in submissions:
        paths = sorted(given.rglob("*.ipynb")) if given.is_dir() else [given]
        if given.is_dir() and not paths:
            raise AssignmentError(f"{given}: no notebook (.ipynb) in this folder")
        for path in paths:
            if not path.is_file():
                raise AssignmentError(f"{path}: no such notebook")
            try:
                label = path.resolve().relative_to(root).as_posix()
            except ValueError:
                raise AssignmentError(f"{path} is not inside the submissions folder {root} "
                                      "(--root)") from None
            labelled[label] = path
    return labelled


def grade(
    chapter: str, submissions: list[Path], output: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S, assignments: Path = OUTPUT, jobs: int = 2,
    root: Path | None = None, cell_timeout_s: float = DEFAULT_CELL_TIMEOUT_S,
    seed_file: Path | None = None,
) -> Path:
    """Grade ``submissions`` of ``chapter`` (``"01_pointwise"``) with
    :mod:`onebyone.exercises.grader`; merge the results into ``final_grades.csv`` and return
    its path.

    Each notebook runs alone (a copy, in a throwaway folder) and its answers are checked in
    processes that never ran it; a cell that runs past ``cell_timeout_s`` costs the answers
    after it, a notebook that runs past ``timeout_s`` the answers it had not yet defined. Rows
    are labelled by the submission's path relative to ``root`` (default: the current folder);
    re-grading one replaces its row and leaves the others. The checks get the hidden seed kept
    in ``seed_file`` (default ``ASSIGNMENTS/hidden-seed.txt``, made on first use).
    """
    from onebyone.exercises import grader

    if not (isinstance(jobs, int) and jobs >= 1):
        raise AssignmentError(f"--jobs must be at least 1, got {jobs}")
    if not submissions:
        raise AssignmentError("no submissions to grade: name notebooks or folders")
    questions = read_questions(questions_path(assignments, chapter))
    labelled = submission_labels(submissions, root or Path.cwd())
    output = output or assignments / "grades" / chapter
    names = [question.name for question in questions]
    try:
        grader.read_grades(output / "final_grades.csv", names)  # refuse before grading
        seed = grader.hidden_seed(seed_file or assignments / "hidden-seed.txt")
        before = grader.snapshot([output]) if output.exists() else {}
        results = grader.grade_notebooks(questions, labelled, timeout_s=timeout_s,
                                         cell_timeout_s=cell_timeout_s, jobs=jobs,
                                         hidden_seed=seed)
        changed = grader.changes(before, grader.snapshot([output]) if output.exists() else {})
        if changed:
            raise AssignmentError("the grades folder changed while notebooks ran, so no grade "
                                  "is written: " + "; ".join(changed[:5]))
        return grader.write_grades(output, names, results)
    except (ValueError, grader.GradingRefused) as error:
        raise AssignmentError(str(error)) from None


class _Parser(argparse.ArgumentParser):
    """A parser whose errors are one line (``error: ...``) and exit status 2, no usage dump."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see --help)\n")


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    build_command = commands.add_parser("build", help="build every chapter's assignment")
    build_command.add_argument("--output", type=Path, default=OUTPUT,
                               help="the folder to build into; files in it that an earlier "
                                    "build did not make are never deleted (default %(default)s)")
    build_command.add_argument("--colab-repository", metavar="OWNER/NAME",
                               help="also write colab-links.md for student notebooks pushed "
                                    "to this GitHub repository")
    build_command.add_argument("--colab-branch", default="main")
    build_command.add_argument("--colab-folder", default="student",
                               help="the folder of the student notebooks in that repository")
    build_command.add_argument("--torch-index-url", metavar="URL",
                               help="an extra package index for the autograder's torch (PyTorch's "
                                    "CPU-only wheels make the Gradescope image smaller)")
    grade_command = commands.add_parser("grade", help="grade submissions of one chapter")
    grade_command.add_argument("chapter", help="the chapter's file name, e.g. 01_pointwise")
    grade_command.add_argument("submissions", nargs="*", type=Path,
                               help="notebooks, or folders searched for notebooks")
    grade_command.add_argument("--root", type=Path, default=None,
                               help="the submissions folder: each row is labelled by the "
                                    "notebook's path relative to it (default: the current folder)")
    grade_command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                               help="seconds allowed per notebook (default %(default)s)")
    grade_command.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT_S,
                               help="seconds allowed per code cell (default %(default)s)")
    grade_command.add_argument("--jobs", type=int, default=2,
                               help="submissions graded at once (default %(default)s)")
    grade_command.add_argument("--output", type=Path, default=None,
                               help="where the grades go (default: ASSIGNMENTS/grades/CHAPTER)")
    grade_command.add_argument("--assignments", type=Path, default=OUTPUT,
                               help="the folder `build` wrote (default: %(default)s)")
    grade_command.add_argument("--seed-file", type=Path, default=None,
                               help="the file that keeps the hidden seed of the checks (default: "
                                    "ASSIGNMENTS/hidden-seed.txt, made on first use)")
    # submissions may come after options too (`grade CHAPTER --jobs 4 a.ipynb b.ipynb`)
    arguments, rest = parser.parse_known_args(argv)
    if rest and (arguments.command != "grade" or any(item.startswith("-") for item in rest)):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if arguments.command == "grade":
        arguments.submissions += [Path(item) for item in rest]
        if arguments.jobs < 1:
            return _usage_error(f"--jobs must be at least 1, got {arguments.jobs}")
        if not arguments.submissions:
            return _usage_error("no submissions to grade: name notebooks or folders")
        for name in ("timeout", "cell_timeout"):
            if not getattr(arguments, name) > 0:
                return _usage_error(f"--{name.replace('_', '-')} must be a positive number "
                                    f"of seconds, got {getattr(arguments, name)}")
    try:
        if arguments.command == "build":
            made = build(arguments.output, torch_index_url=arguments.torch_index_url)
            if arguments.colab_repository:
                links = arguments.output / "colab-links.md"
                write_text_atomically(links, colab_links(
                    made, arguments.colab_repository, arguments.colab_branch,
                    arguments.colab_folder))
                print(f"wrote {notebooks._shown(links)}")
        else:
            if _HIDDEN:  # no path of the instructor's in the grader's working folder either
                for name in ("submissions", "output", "assignments", "root", "seed_file"):
                    value = getattr(arguments, name)
                    if isinstance(value, list):
                        setattr(arguments, name, [path.resolve() for path in value])
                    elif value is not None:
                        setattr(arguments, name, value.resolve())
                arguments.root = arguments.root or Path.cwd()
                os.chdir("/")
            csv = grade(arguments.chapter, arguments.submissions, arguments.output,
                        arguments.timeout, arguments.assignments, arguments.jobs,
                        arguments.root, arguments.cell_timeout, arguments.seed_file)
            print(f"wrote {notebooks._shown(csv)}")
            print(csv.read_text())
    except AssignmentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


_FROM_FD = "--arguments-from-fd"
_HIDDEN = False  # whether this process was re-run by _hidden_arguments


def _hidden_arguments(argv: list[str]) -> list[str]:
    """The arguments of a ``grade`` run, kept off the command line that every process can read
    (``/proc/PID/cmdline``): the script re-runs itself with them in an unlinked file, so a
    notebook being graded cannot learn the other submissions' paths from its grader's."""
    global _HIDDEN
    if argv[:1] == [_FROM_FD] and len(argv) == 2:
        with os.fdopen(int(argv[1]), encoding="utf-8") as handle:
            _HIDDEN = True
            return json.load(handle)
    if argv[:1] != ["grade"] or not hasattr(os, "execv"):
        return argv
    handle = tempfile.TemporaryFile("w+", encoding="utf-8")
    json.dump(argv, handle)
    handle.flush()
    handle.seek(0)
    os.set_inheritable(handle.fileno(), True)
    sys.stdout.flush()
    # and off its environment (readable in /proc too): only what finding Python needs
    environment = {key: value for key, value in os.environ.items()
                   if key in ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")}
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), _FROM_FD,
                               str(handle.fileno())], environment)
    return argv  # not reached


if __name__ == "__main__":
    sys.exit(main(_hidden_arguments(sys.argv[1:])))
