"""The assignments: built from the chapters, and graded: by Otter's tests and the local grader.

One build (``tools/assignments.py build``, as ``make assignments`` runs it) into a temporary
folder serves every test. The chapters' own answers are checked twice:

- every chapter, fast: each solution notebook's code is run and its Otter test files (from the
  autograder zip) score it full marks, and the untouched student notebook zero on every question
  (Otter's own test-file classes, in a child process, without a kernel per notebook);
- every chapter, by the local grader (``onebyone.exercises.grader``): each solution notebook
  scores full marks (the cheating notebooks are in ``tests/test_grading_isolation.py``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built(assignments_tool, tmp_path_factory) -> dict[str, dict[str, Path]]:
    return assignments_tool.build(tmp_path_factory.mktemp("assignments"))


def _questions(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return sorted(Path(name).stem for name in archive.namelist()
                      if name.startswith("tests/") and name.endswith(".py"))


def test_every_chapter_of_the_toc_has_an_assignment_of_three_to_six_exercises(
    assignments_tool, built
):
    # an appendix (book/appendix_*.md) is a notebook too, but has no exercises
    chapters = [chapter.stem for chapter in assignments_tool.toc_chapters()
                if not chapter.stem.startswith("appendix_")]
    assert list(built) == chapters
    for chapter, paths in built.items():
        assert all(path.exists() for path in paths.values()), chapter
        assert 3 <= len(_questions(paths["autograder"])) <= 6, chapter


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


# --- Graded by the local grader, and what the build leaves behind -----------------------------


def test_every_chapters_solution_notebook_scores_full_marks_with_the_local_grader(
    assignments_tool, built
):
    """One grading run for all six solution notebooks (each lacks the other chapters' answers,
    which score zero): the screening and the audit hook refuse none of the book's solutions."""
    from onebyone.exercises.grader import grade_notebooks

    output = next(iter(built.values()))["grading"].parent.parent
    questions, chapters = [], {}
    for chapter in built:
        own = assignments_tool.read_questions(assignments_tool.questions_path(output, chapter))
        chapters[chapter] = [question.name for question in own]
        questions += own
    results = grade_notebooks(questions, {chapter: paths["solution"]
                                          for chapter, paths in built.items()},
                              jobs=2, hidden_seed=12345)
    for chapter, names in chapters.items():
        scores = {name: results[chapter].scores[name] for name in names}
        feedback = {name: results[chapter].feedback[name] for name in names
                    if scores[name] != 1}
        assert scores == {name: 1.0 for name in names}, (chapter, feedback)
        assert results[chapter].status == "Completed"


def test_each_assignment_numbers_its_exercises_from_1(built):
    for chapter, paths in built.items():
        for kind in ("student", "solution"):
            text = "\n".join(cell.source for cell in nbformat.read(paths[kind], 4).cells)
            numbers = [int(number) for number in re.findall(r"^#### Exercise (\d+)", text,
                                                            re.MULTILINE)]
            assert numbers == list(range(1, len(numbers) + 1)) and numbers, (chapter, kind)


def test_stubs_cover_answers_assigned_inside_blocks(assignments_tool):
    source = textwrap.dedent("""
        exercise_conv, exercise_bn = chapter6.fold_exercise_layers()
        with torch.no_grad():
            s = exercise_bn.weight
            answer_weight = exercise_conv.weight * s
            answer_bias = s
        for answer_loop in range(3):
            pass
        if (answer_walrus := 3) > 2:
            answer_count = 1
    """)
    names = {"answer_weight", "answer_bias", "answer_loop", "answer_walrus", "answer_count"}
    assert assignments_tool._stub(source, names) == [
        "answer_weight = ...", "answer_bias = ...", "answer_loop = ...", "answer_walrus = ...",
        "answer_count = ..."]
    assert names == set()


def test_the_gradescope_zip_sets_up_python_3_11_pinned_torch_git_and_no_browser(built):
    requirements = (ROOT / "requirements.txt").read_text()
    torch_line = re.search(r"^torch==\S+$", requirements, re.MULTILINE)[0]
    for chapter, paths in built.items():
        with zipfile.ZipFile(paths["autograder"]) as archive:
            environment = archive.read("environment.yml").decode()
            setup = archive.read("setup.sh").decode()
        assert "python=3.11" in environment, chapter
        assert f"- {torch_line}" in environment, chapter
        assert "playwright" not in setup and "chromium" not in setup, chapter
        assert re.search(r"^apt-get install -y .*\bgit\b", setup, re.MULTILINE), chapter
        twin = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", 4)
        assert f"@{twin.metadata['onebyone']['commit']}" in environment, chapter


def test_build_refuses_a_folder_with_files_it_did_not_make(assignments_tool, tmp_path,
                                                           monkeypatch):
    mine = tmp_path / "student" / "my-notes.ipynb"
    mine.parent.mkdir()
    mine.write_text("keep me")
    with pytest.raises(assignments_tool.AssignmentError, match=r"my-notes\.ipynb"):
        assignments_tool.build(tmp_path)
    assert mine.read_text() == "keep me"
    # a folder built before is rebuilt: the manifest lists what the build may replace
    chapter_1 = [path for path in assignments_tool.toc_chapters() if path.stem == "01_pointwise"]
    monkeypatch.setattr(assignments_tool, "toc_chapters", lambda: chapter_1)
    fresh = tmp_path / "fresh"
    first = assignments_tool.build(fresh)
    stale = fresh / "grading" / "00_removed.json"
    stale.write_text("{}")
    manifest = json.loads((fresh / assignments_tool.MANIFEST).read_text())
    manifest["files"].append("grading/00_removed.json")
    (fresh / assignments_tool.MANIFEST).write_text(json.dumps(manifest))
    second = assignments_tool.build(fresh)
    assert first == second and all(path.exists() for path in second["01_pointwise"].values())
    assert not stale.exists()  # made by a build, no longer made: removed
