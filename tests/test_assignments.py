"""The assignments: built from the chapters, graded by Otter, and the grading can fail.

One build (``tools/assignments.py build``, as ``make assignments`` runs it) into a temporary
folder serves every test. The chapters' own answers are checked twice:

- every chapter, fast: each solution notebook's code is run and its Otter test files (from the
  autograder zip) score it full marks, and the untouched student notebook zero on every question
  (Otter's own test-file classes, in a child process, without a kernel per notebook);
- Chapter 1, end to end: ``otter run`` grades submissions as an instructor would, including a
  planted wrong answer, a submission that raises and redefines a check, and one that never ends.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def assignments_tool():
    spec = importlib.util.spec_from_file_location("assignments", ROOT / "tools" / "assignments.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["assignments"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(assignments_tool, tmp_path_factory) -> dict[str, dict[str, Path]]:
    return assignments_tool.build(tmp_path_factory.mktemp("assignments"))


def _questions(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return sorted(Path(name).stem for name in archive.namelist()
                      if name.startswith("tests/") and name.endswith(".py"))


def test_every_chapter_of_the_toc_has_an_assignment_of_three_to_five_exercises(
    assignments_tool, built
):
    # an appendix (book/appendix_*.md) is a notebook too, but has no exercises
    chapters = [chapter.stem for chapter in assignments_tool.toc_chapters()
                if not chapter.stem.startswith("appendix_")]
    assert list(built) == chapters
    for chapter, paths in built.items():
        assert all(path.exists() for path in paths.values()), chapter
        assert 3 <= len(_questions(paths["autograder"])) <= 5, chapter


def _solution_lines(chapter: Path, assignments_tool) -> tuple[list[str], set[str]]:
    """Each solution code line of ``chapter``'s exercises, and the lines of the students' stubs."""
    section = assignments_tool.read_section(chapter, assignments_tool._stored(chapter)["glued"])
    lines, stubs = [], set()
    for question in section.questions:
        names = {name for _, _, names in question.checks for name in names}
        for cell in question.solution:
            if cell.cell_type != "code":
                continue
            stubs |= {line.strip() for line in assignments_tool._stub(cell.source, set(names))}
            lines += [line.strip() for line in cell.source.splitlines()]
    # A line of code, not a lone bracket or keyword: brackets alone appear in any notebook.
    meaningful = [line for line in lines if len(line) >= 8 and not line.startswith("#")
                  and line not in stubs]
    return meaningful, stubs


def test_no_solution_code_in_the_student_notebooks(assignments_tool, built):
    for chapter, paths in built.items():
        lines, _ = _solution_lines(ROOT / "book" / f"{chapter}.md", assignments_tool)
        assert lines, chapter
        student = "\n".join(cell.source for cell in nbformat.read(paths["student"], 4).cells)
        solution = "\n".join(cell.source for cell in nbformat.read(paths["solution"], 4).cells)
        leaked = [line for line in lines if line in student]
        assert not leaked, f"{chapter}: solution code in the student notebook: {leaked}"
        missing = [line for line in lines if line not in solution]
        assert not missing, f"{chapter}: the solution notebook lacks {missing}"  # the search works
        assert "Solution to Exercise" not in student and "Solution to Exercise" in solution


def test_the_notebooks_read_like_the_book_and_install_like_the_twins(
    assignments_tool, built, notebooks_tool
):
    for chapter, paths in built.items():
        twin = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", 4)
        for kind in ("student", "solution"):
            notebook = nbformat.read(paths[kind], 4)
            assert notebook.cells[0].source == twin.cells[0].source, (chapter, kind)  # Colab cell
            # the exercise section, from its heading on, and nothing of the sections around it
            assert notebook.cells[2].source.startswith("## Exercises"), (chapter, kind)
            headings = [line for cell in notebook.cells if cell.cell_type == "markdown"
                        for line in cell.source.splitlines() if line.startswith("## ")]
            assert headings == ["## Exercises"], (chapter, kind, headings)
            for cell in notebook.cells:
                assert "# BEGIN" not in cell.source and "# END" not in cell.source, (chapter, kind)
                assert "grader.check" not in cell.source, (chapter, kind)
                if cell.cell_type == "markdown":
                    assert not notebooks_tool.jupyter_markdown.myst_markup(cell.source), chapter


GRADE_IN_PROCESS = """
import contextlib, io, json, sys, zipfile, tempfile
from pathlib import Path
import nbformat
from otter.test_files import ExceptionTestFile

def run(notebook):
    env = {"__name__": "__main__"}
    for cell in nbformat.read(notebook, 4).cells:
        if cell.cell_type == "code":
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(cell.source, "cell", "exec"), env)
            except Exception:
                pass  # as Otter runs a submission: an error does not stop the notebook
    return env

scores = {}
for chapter, zip_path, student, solution in json.loads(sys.argv[1]):
    with tempfile.TemporaryDirectory() as work:
        zipfile.ZipFile(zip_path).extractall(work)
        tests = sorted(Path(work, "tests").glob("*.py"))
        for kind, notebook in (("student", student), ("solution", solution)):
            env = run(notebook)
            for test in tests:
                test_file = ExceptionTestFile.from_file(str(test))
                test_file.run(env)
                scores.setdefault(chapter, {}).setdefault(kind, {})[test.stem] = test_file.score
print(json.dumps(scores))
"""


def test_solutions_score_full_marks_and_untouched_students_zero_in_every_chapter(built):
    arguments = [[chapter, str(paths["autograder"]), str(paths["student"]),
                  str(paths["solution"])] for chapter, paths in built.items()]
    result = subprocess.run(
        [sys.executable, "-c", GRADE_IN_PROCESS, json.dumps(arguments)],
        capture_output=True, text=True, timeout=300, cwd=ROOT / "notebooks",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    for chapter, paths in built.items():
        questions = _questions(paths["autograder"])
        assert scores[chapter]["solution"] == {question: 1 for question in questions}, chapter
        assert scores[chapter]["student"] == {question: 0 for question in questions}, chapter


# --- Chapter 1, graded end to end by `otter run` ------------------------------------------------


def _edited(student: Path, folder: Path, name: str, answers: dict[str, str]) -> Path:
    """A copy of the student notebook with the answer cells that define each key replaced."""
    notebook = nbformat.read(student, 4)
    for cell in notebook.cells:
        if cell.cell_type != "code" or "otter_answer_cell" not in cell.metadata.get("tags", []):
            continue
        defined = {node.id for node in ast.walk(ast.parse(cell.source))
                   if isinstance(node, ast.Name)} | {
            node.name for node in ast.parse(cell.source).body if isinstance(node, ast.FunctionDef)}
        for key, source in answers.items():
            if key in defined:
                cell.source = textwrap.dedent(source).strip()
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


RIGHT = {
    "answer_parameters": "answer_parameters = 16448",
    "answer_macs": "answer_macs = 12845056",
    "conv_to_linear": """
        def conv_to_linear(conv):
            linear = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None,
                               dtype=conv.weight.dtype)
            with torch.no_grad():
                linear.weight.copy_(conv.weight.flatten(1))
                if conv.bias is not None:
                    linear.bias.copy_(conv.bias)
            return linear
    """,
    "pointwise": """
        def pointwise(x, weight, bias):
            n, c, h, w = x.shape
            rows = x.permute(0, 2, 3, 1).reshape(-1, c)
            return (rows @ weight.T + bias).reshape(n, h, w, -1).permute(0, 3, 1, 2)
    """,
}


def _scores(csv: Path) -> dict[str, dict[str, str]]:
    import csv as csv_module

    with open(csv) as handle:
        return {row["file"]: row for row in csv_module.DictReader(handle)}


def test_otter_run_grades_chapter_1_and_its_failures_are_clear(assignments_tool, built,
                                                              tmp_path):
    paths = built["01_pointwise"]
    student = paths["student"]
    solution, untouched = tmp_path / "solution.ipynb", tmp_path / "student.ipynb"
    shutil.copy(paths["solution"], solution)
    shutil.copy(student, untouched)
    submissions = [
        solution,
        untouched,
        # one planted wrong answer: the MACs of exercise 2 counted as FLOPs
        _edited(student, tmp_path, "planted", {**RIGHT, "answer_macs": "answer_macs = 25690112"}),
        # exercise 1 raises before its answer exists; exercise 4 calls conv2d and redefines the
        # check that would catch it, in the notebook and in the package's module
        _edited(student, tmp_path, "cheats", {**RIGHT, "answer_parameters": """
            answer_parameters = 256 * 64 + undefined_name
        """, "pointwise": """
            import torch.nn.functional as F
            from onebyone.exercises import chapter1

            def pointwise(x, weight, bias):
                return F.conv2d(x, weight[:, :, None, None], bias)

            def check_pointwise_function(function):
                print("Correct")

            chapter1.check_pointwise_function = check_pointwise_function
        """}),
    ]
    csv = assignments_tool.grade("01_pointwise", submissions, tmp_path / "grades",
                                 timeout_s=300, assignments=paths["student"].parent.parent)
    rows = _scores(csv)
    questions = _questions(paths["autograder"])
    assert {question: rows["points-per-question"][question] for question in questions} == {
        question: "1" for question in questions}
    graded = {path.stem: {question: float(rows[path.name][question]) for question in questions}
              for path in submissions}
    assert all(rows[path.name]["grading_status"] == "Completed" for path in submissions)
    assert graded["solution"] == {question: 1.0 for question in questions}
    assert graded["student"] == {question: 0.0 for question in questions}
    results = {path.stem: json.loads((tmp_path / "grades" / f"{path.stem}.json").read_text())
               for path in submissions}
    assert graded["planted"] == {**{q: 1.0 for q in questions}, "pointwise_ex_macs": 0.0}
    feedback = next(test["output"] for test in results["planted"]["tests"]
                    if test["name"].startswith("pointwise_ex_macs"))
    assert "the number of multiply-accumulates (MACs) is 25,690,112" in feedback
    assert graded["cheats"] == {**{q: 1.0 for q in questions},
                                      "pointwise_ex_parameters": 0.0, "pointwise_ex_function": 0.0}
    cheats = {test["name"].split(" ")[0]: test["output"] for test in results["cheats"]["tests"]}
    assert "answer_parameters is not defined" in cheats["pointwise_ex_parameters"]
    assert "pointwise called conv2d" in cheats["pointwise_ex_function"]


def test_a_submission_that_never_ends_scores_zero_with_a_clear_status(assignments_tool, built,
                                                                      tmp_path):
    paths = built["01_pointwise"]
    looping = _edited(paths["student"], tmp_path, "looping",
                      {**RIGHT, "answer_macs": "while True:\n    answer_macs = 0"})
    csv = assignments_tool.grade("01_pointwise", [looping], tmp_path / "grades", timeout_s=10,
                                 assignments=paths["student"].parent.parent)
    row = _scores(csv)["looping.ipynb"]
    assert row["grading_status"] == "timed out: grading took longer than 10 s"
    assert float(row["total_points_earned"]) == 0
