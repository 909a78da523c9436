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
- the **autograder** zip: one exception-based Otter test per exercise, which calls the
  exercise's check from freshly loaded package modules (``onebyone.exercises.grading``), so a
  notebook that redefined a check is still graded by the package.

Conventions the chapters follow (and a new chapter must, or the build stops and names the
problem): the exercise section starts at ``## Exercises`` and ends at the next ``## `` heading;
code cells before its first exercise are its setup; each ``{exercise}`` is followed by a gated
solution (``{solution-start}`` ... ``{solution-end}``) and by a code cell that calls
``chapterN.check_*(name, ...)`` with the names the solution defines.

Usage::

    python tools/assignments.py build                    # into _build/assignments
    python tools/assignments.py grade 01_pointwise SUBMISSION.ipynb ... [--timeout 300]

``grade`` runs ``otter run`` (Otter's grading without containers) on each submission in a child
process with a time limit, and writes, into ``_build/assignments/grades/<chapter>/``,
``final_grades.csv`` (the table ``otter grade`` writes) and one ``<submission>.json`` per
submission (Otter's ``results.json``, in Gradescope's results format).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import importlib.util
import json
import os
import re
import shutil
import signal
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

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "_build" / "assignments"
SECTION = "## Exercises"
DEFAULT_TIMEOUT_S = 300
POINTS_PER_EXERCISE = 1


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
        code = nbformat.v4.new_code_cell(cell.source)
        tags = cell.metadata.get("tags", [])
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
    return Section(chapter, title, intro, questions)


# --- Writing the Otter Assign source notebook ---------------------------------------------------


def _stub(source: str, names: set[str]) -> list[str]:
    """What the student sees instead of a solution cell: ``name = ...`` for each answer the cell
    assigns, the signature over ``...`` for each answer it defines as a function."""
    lines = source.splitlines()
    stub = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            header = lines[first - 1 : node.body[0].lineno - 1]
            indent = re.match(r"\s*", lines[node.body[0].lineno - 1])[0]
            stub += [*header, f"{indent}...", ""]
            names.discard(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and name.id in names:
                        stub.append(f"{name.id} = ...")
                        names.discard(name.id)
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


def build_chapter(chapter: Path, output: Path) -> dict[str, Path] | None:
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
        }
        for path in made.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(work / f"{name}.ipynb", made["source"])
        shutil.copy(dist / "student" / f"{name}.ipynb", made["student"])
        shutil.copy(dist / "autograder" / f"{name}.ipynb", made["solution"])
        shutil.copy(zip_file, made["autograder"])
    for kind in ("student", "solution"):
        _tidy(made[kind])
    return made


_PROMPT_BLOCK = re.compile(r'^""" # BEGIN PROMPT\n.*?^""" # END PROMPT\n', re.M | re.S)
_SOLUTION_MARKER = re.compile(r"^# (BEGIN SOLUTION NO PROMPT|END SOLUTION)\n?", re.M)


def _tidy(path: Path) -> None:
    """No outputs and stable cell ids; in the solution notebook, which Otter writes with its
    markers still in, the students' stubs and the markers removed, so it reads like the book."""
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.source = _SOLUTION_MARKER.sub("", _PROMPT_BLOCK.sub("", cell.source)).rstrip()
    nbformat.write(notebook, path)


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


def build(output: Path = OUTPUT) -> dict[str, dict[str, Path]]:
    """Build every chapter's assignment; returns what was made, by chapter."""
    if output.exists():
        for kind in ("source", "student", "solution", "autograder"):
            shutil.rmtree(output / kind, ignore_errors=True)
    made = {}
    for chapter in toc_chapters():
        paths = build_chapter(chapter, output)
        if paths is None:
            print(f"{notebooks._shown(chapter)}: no '{SECTION}' section, no assignment")
            continue
        made[chapter.stem] = paths
        print(f"{chapter.stem}: " + ", ".join(notebooks._shown(path) for path in paths.values()))
    return made


# --- Grading ---------------------------------------------------------------------------------


def _run_with_time_limit(command: list[str], cwd: Path, timeout_s: float) -> tuple[int, str]:
    """Run ``command`` in its own process group; on time out, kill the whole group (the notebook's
    kernel too, which would otherwise go on looping). Returns the exit code (``None`` on time
    out) and the standard error."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None, ""
    return process.returncode, stderr


def _grade_one(submission: Path, autograder: Path, output: Path, timeout_s: float):
    """Grade one submission with ``otter run``: Otter's ``GradingResults``, and its results JSON
    copied to ``output``. A time out or a grader failure becomes a result with no scores."""
    import dill
    from otter.test_files import GradingResults

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        code, stderr = _run_with_time_limit(
            [sys.executable, "-m", "otter", "run", "--no-logo", "--pickle-results",
             "-a", str(autograder.resolve()), "-o", str(work), str(submission.resolve())],
            work, timeout_s,
        )
        if code is None:
            failure = f"timed out: grading took longer than {timeout_s:g} s"
        elif code != 0 or not (work / "results.pkl").exists():
            failure = "the grader failed: " + (stderr.strip().splitlines() or ["no message"])[-1]
        else:
            with open(work / "results.pkl", "rb") as handle:
                results = dill.load(handle)
            shutil.copy(work / "results.json", output / f"{submission.stem}.json")
            results.file = submission.name
            return results
    (output / f"{submission.stem}.json").write_text(
        json.dumps({"score": 0, "output": failure, "tests": []}, indent=1)
    )
    results = GradingResults.without_results(RuntimeError(failure))
    results.file = submission.name
    return results


def grade(
    chapter: str, submissions: list[Path], output: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S, assignments: Path = OUTPUT, jobs: int = 2,
) -> Path:
    """Grade ``submissions`` of ``chapter`` (``"01_pointwise"``) with ``otter run``; returns the
    path of ``final_grades.csv``.

    Each submission is graded in its own process, at most ``timeout_s`` seconds (a notebook that
    loops forever scores zero, with "timed out" as its status); a submission whose grading fails
    altogether scores zero with the grader's last message as its status.
    """
    from otter.grade.utils import merge_scores_to_df

    autograder = assignments / "autograder" / f"{chapter}-autograder.zip"
    if not autograder.exists():
        raise AssignmentError(f"{notebooks._shown(autograder)} is missing: run `make assignments`")
    output = output or assignments / "grades" / chapter
    output.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        scores = list(pool.map(
            lambda submission: _grade_one(submission, autograder, output, timeout_s), submissions
        ))
    frame = merge_scores_to_df(scores)
    csv = output / "final_grades.csv"
    frame.to_csv(csv, index=False)
    return csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="build every chapter's assignment")
    build_command.add_argument("--output", type=Path, default=OUTPUT)
    build_command.add_argument("--colab-repository", metavar="OWNER/NAME",
                               help="also write colab-links.md for student notebooks pushed "
                                    "to this GitHub repository")
    build_command.add_argument("--colab-branch", default="main")
    build_command.add_argument("--colab-folder", default="student",
                               help="the folder of the student notebooks in that repository")
    grade_command = commands.add_parser("grade", help="grade submissions of one chapter")
    grade_command.add_argument("chapter", help="the chapter's file name, e.g. 01_pointwise")
    grade_command.add_argument("submissions", nargs="+", type=Path)
    grade_command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                               help="seconds allowed per submission (default %(default)s)")
    grade_command.add_argument("--jobs", type=int, default=2,
                               help="submissions graded at once (default %(default)s)")
    grade_command.add_argument("--output", type=Path, default=None,
                               help="where the grades go (default: ASSIGNMENTS/grades/CHAPTER)")
    grade_command.add_argument("--assignments", type=Path, default=OUTPUT,
                               help="the folder `build` wrote (default: %(default)s)")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "build":
            made = build(arguments.output)
            if arguments.colab_repository:
                links = arguments.output / "colab-links.md"
                links.write_text(colab_links(made, arguments.colab_repository,
                                             arguments.colab_branch, arguments.colab_folder))
                print(f"wrote {notebooks._shown(links)}")
        else:
            csv = grade(arguments.chapter, arguments.submissions, arguments.output,
                        arguments.timeout, arguments.assignments, arguments.jobs)
            print(f"wrote {notebooks._shown(csv)}")
            print(csv.read_text())
    except AssignmentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
