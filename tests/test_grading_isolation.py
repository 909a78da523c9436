"""Cheating notebooks score zero, and cannot change anyone else's grade.

One ``tools/assignments.py grade`` run (the command an instructor types, as a child process with
its own throwaway virtual environment and a copy of the package as the "installed" one, so the
notebooks that attack them attack copies) grades Chapter 1's assignment for: one notebook per
trick that earned full marks with stub answers under the old in-kernel grader (issue 27), two
that hunt for the other submissions and the grades file, one that leaves a detached process
behind to rewrite the scores, one with a cell that never ends, and then an honest notebook and
an untouched one, which must score full marks and zero. The bookkeeping cases (two submissions
with the same file name, re-grading one of them) use the same run and one more.
"""

from __future__ import annotations

import ast
import csv
import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "01_pointwise"
QUESTIONS = ["pointwise_ex_parameters", "pointwise_ex_macs", "pointwise_ex_linear",
             "pointwise_ex_function", "pointwise_ex_reach"]


@pytest.fixture(scope="module")
def chapter_1(assignments_tool, tmp_path_factory) -> dict[str, Path]:
    output = tmp_path_factory.mktemp("assignments")
    built = assignments_tool.build_chapter(ROOT / "book" / f"{CHAPTER}.md", output)
    return {**built, "output": output}


RIGHT: dict[str, str] = {}
"""The worked solutions' answers, by name (filled in from the built solution notebook)."""


def _right(solution: Path) -> dict[str, str]:
    """Every answer the chapter's worked solutions define, by name: the source of the solution
    cell that defines it (as the assignment's solution notebook holds it)."""
    right = {}
    for cell in nbformat.read(solution, 4).cells:
        if cell.cell_type != "code" or "otter_assign_solution_cell" not in cell.metadata.get(
                "tags", []):
            continue
        source = cell.source
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                right[node.name] = source
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                right[node.id] = source
    return right


WRONG = {  # what the cheats answer: nothing a check should accept
    "answer_parameters": "answer_parameters = 0",
    "answer_macs": "answer_macs = 0",
    "conv_to_linear": "def conv_to_linear(conv):\n    return nn.Linear(1, 1)",
    "pointwise": "def pointwise(x, weight, bias):\n    return torch.zeros(1)",
}

# Each cheat: the code put before the first answer, and the answers (WRONG unless given).
CHEATS = {
    "replaced_graders": ("""
        import builtins, importlib
        from onebyone.exercises import chapter1, grading
        grading.fresh_check = lambda chapter, check: (lambda *answers, **options: None)
        importlib.reload = lambda module: module
        real_getattr = builtins.getattr
        builtins.getattr = lambda obj, name, *default: (
            (lambda *a, **k: None) if str(name).startswith("check_")
            else real_getattr(obj, name, *default))
        for name in dir(chapter1):
            if name.startswith("check_"):
                setattr(chapter1, name, lambda *answers, **options: None)
        import onebyone.exercises.checker as checker, onebyone.exercises.runner as runner
        checker.check_submission = lambda request, fds: {
            question["name"]: {"score": 1, "output": "Correct"}
            for question in request["questions"]}
        try:
            import otter.test_files as test_files
            test_files.ExceptionTestFile.run = lambda self, env: None
        except ImportError:
            pass
    """, {}),
    "test_files": ("""
        import os
        os.makedirs("tests", exist_ok=True)
        for name in ["pointwise_ex_parameters", "pointwise_ex_macs", "pointwise_ex_linear",
                     "pointwise_ex_function"]:
            with open(os.path.join("tests", name + ".py"), "w") as handle:
                handle.write("def test(env):\\n    pass\\n")
        for entry in os.listdir("."):
            if entry.endswith(".py") or entry.endswith(".json"):
                with open(entry, "w") as handle:
                    handle.write("")
    """, {}),
    "int_subclass": ("""
        class Yes(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
    """, {"answer_parameters": "answer_parameters = Yes(0)",
          "answer_macs": "answer_macs = Yes(1)"}),
    "patched_torch": ("""
        import torch.nn.functional as F
        import onebyone.cost
        torch.allclose = lambda *args, **options: True
        F.conv2d = lambda x, weight, bias=None, *args, **options: torch.zeros(
            x.shape[0], weight.shape[0], x.shape[2], x.shape[3], dtype=x.dtype)
        onebyone.cost.conv2d_macs = lambda *args, **options: 0
        onebyone.cost.conv2d_parameters = lambda *args, **options: 0
    """, {"pointwise": """
        def pointwise(x, weight, bias):
            return torch.zeros(x.shape[0], weight.shape[0], x.shape[2], x.shape[3],
                               dtype=x.dtype)
    """}),
    "patched_when_called": ("", {"pointwise": """
        import torch.nn.functional as F
        def pointwise(x, weight, bias):
            helper = torch
            helper.allclose = lambda *args, **options: True
            return torch.zeros(x.shape[0], weight.shape[0], x.shape[2], x.shape[3],
                               dtype=x.dtype)
    """}),
    "dispatch_disabled": ("", {"pointwise": """
        import torch.nn.functional as F
        def pointwise(x, weight, bias):
            from torch.utils._python_dispatch import _disable_current_modes
            with _disable_current_modes(), torch._C.DisableTorchFunction():
                return F.conv2d(x, weight[:, :, None, None], bias)
    """}),
    "lookup_table": ("", {"pointwise": """
        import torch.nn.functional as F
        def fixed_inputs():
            generator = torch.Generator().manual_seed(1)
            table = {}
            for n, c_in, c_out, h, w in [(1, 3, 2, 4, 4), (2, 5, 7, 3, 6), (3, 8, 1, 1, 2)]:
                x = torch.randn(n, c_in, h, w, generator=generator, dtype=torch.float64)
                weight = torch.randn(c_out, c_in, generator=generator, dtype=torch.float64)
                bias = torch.randn(c_out, generator=generator, dtype=torch.float64)
                table[tuple(x.shape)] = F.conv2d(x, weight.view(c_out, c_in, 1, 1), bias)
            return table
        TABLE = fixed_inputs()
        def pointwise(x, weight, bias):
            return TABLE[tuple(x.shape)]
    """}),
    "fake_package": ("""
        import os, sys
        os.makedirs("onebyone/exercises", exist_ok=True)
        for name in ("onebyone/__init__.py", "onebyone/exercises/__init__.py"):
            open(name, "w").close()
        with open("onebyone/exercises/chapter1.py", "w") as handle:
            for check in ("check_bottleneck_parameters", "check_pointwise_macs",
                          "check_conv_to_linear", "check_pointwise_function"):
                handle.write(f"def {check}(*answers, **options):\\n    print('Correct')\\n")
        sys.path.insert(0, os.getcwd())
        for name in [name for name in sys.modules if name.startswith("onebyone")]:
            del sys.modules[name]
        from onebyone.exercises import chapter1
    """, {}),
    "installed_package": ("""
        import os
        from pathlib import Path
        environ = Path(f"/proc/{os.getppid()}/environ").read_bytes().split(b"\\0")
        paths = [entry.split(b"=", 1)[1].decode() for entry in environ
                 if entry.startswith(b"PYTHONPATH=")]
        for folder in paths[0].split(os.pathsep) if paths else []:
            for name in ("grading.py", "chapter1.py"):
                target = Path(folder, "onebyone", "exercises", name)
                if target.exists():
                    with open(target, "a") as handle:
                        handle.write("\\nfrom onebyone.exercises import chapter1 as _c\\n"
                                     "for _n in dir(_c):\\n"
                                     "    if _n.startswith('check_'):\\n"
                                     "        setattr(_c, _n, lambda *a, **k: None)\\n")
    """, {}),
    "sitecustomize": ("""
        from pathlib import Path
        site_packages = Path(SITE)  # the test's throwaway environment, as if found
        (site_packages / "sitecustomize.py").write_text(
            "import onebyone.exercises.chapter1 as c\\n"
            "for n in dir(c):\\n"
            "    if n.startswith('check_'):\\n"
            "        setattr(c, n, lambda *a, **k: None)\\n")
        (site_packages / "zz_cheat.pth").write_text("import sitecustomize\\n")
    """, {}),
    "reach_submissions": ("""
        import glob, os
        from pathlib import Path
        places = [os.getcwd(), os.path.dirname(os.getcwd()), os.environ.get("HOME", ""),
                  os.environ.get("PWD", ""), os.environ.get("OLDPWD", "")]
        try:
            places.append(os.readlink(f"/proc/{os.getppid()}/cwd"))
            words = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\\0")
            environ = Path(f"/proc/{os.getppid()}/environ").read_bytes().split(b"\\0")
            places += [word.decode() for word in words + environ]
            places += [word.split(b"=", 1)[-1].decode() for word in environ]
        except OSError:
            pass
        stolen = {}
        for place in places:
            for part in place.split(os.pathsep):
                found = ([part] if part.endswith(".ipynb") else
                         glob.glob(os.path.join(part, "**", "*.ipynb"), recursive=True)
                         if os.path.isdir(part) and part not in ("/", "") else [])
                for path in found:
                    if "honest" in path:
                        stolen[path] = path
        import json
        for path in stolen:
            for cell in json.load(open(path))["cells"]:
                if cell["cell_type"] == "code":
                    try:
                        exec("".join(cell["source"]))
                    except Exception:
                        pass
    """, {"answer_parameters": "", "answer_macs": "", "conv_to_linear": "", "pointwise": ""}),
    "reach_grades": ("""
        import glob, os
        from pathlib import Path
        places = [os.getcwd(), os.path.dirname(os.getcwd()), os.environ.get("HOME", "")]
        try:
            places.append(os.readlink(f"/proc/{os.getppid()}/cwd"))
            places += [word.decode() for word in
                       Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\\0")]
        except OSError:
            pass
        for place in places:
            if os.path.isdir(place) and place != "/":
                for path in glob.glob(os.path.join(place, "**", "final_grades.csv"),
                                      recursive=True):
                    Path(path).write_text("hacked\\n")
    """, {}),
    "detached": ("""
        import os, sys, time
        from pathlib import Path
        grades = Path(GRADES)
        if os.fork() == 0:  # a detached grandchild: new session, parent gone
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            for _ in range(40):
                time.sleep(0.5)
                if (grades / "final_grades.csv").exists():
                    (grades / "final_grades.csv").write_text("hacked\\n")
            os._exit(0)
    """, {}),
}


def _edited(student: Path, folder: Path, name: str, prelude: str,
            answers: dict[str, str]) -> Path:
    """The student notebook with its answer cells replaced, and ``prelude`` run first."""
    notebook = nbformat.read(student, 4)
    first = True
    for cell in notebook.cells:
        if cell.cell_type != "code" or "otter_answer_cell" not in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(cell.source)
        defined = ({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
                   | {node.name for node in tree.body if isinstance(node, ast.FunctionDef)})
        for key, source in answers.items():
            if key in defined:
                cell.source = textwrap.dedent(source).strip()
        if first:
            cell.source = textwrap.dedent(prelude).strip() + "\n" + cell.source
            first = False
    path = folder / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle)}


def _points(row: dict[str, str]) -> dict[str, float]:
    return {question: float(row[question]) for question in QUESTIONS}


@pytest.fixture(scope="module")
def course(chapter_1, tmp_path_factory) -> dict[str, Path]:
    """A throwaway virtual environment (the main one's packages through a .pth file) and a copy
    of the package as the installed one, so that the notebooks attack only copies."""
    base = tmp_path_factory.mktemp("course")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = next((venv / "lib").glob("python3.*/site-packages"))
    import torch

    (site_packages / "main.pth").write_text(str(Path(torch.__file__).parent.parent) + "\n")
    installed = base / "installed"
    import onebyone

    shutil.copytree(Path(onebyone.__file__).parent, installed / "onebyone",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return {"base": base, "python": venv / "bin" / "python", "site": site_packages,
            "installed": installed}


def _grade(course: dict[str, Path], chapter_1: dict[str, Path], submissions: Path,
           grades: Path, *extra: str) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(course["base"]),
                   "PYTHONPATH": str(course["installed"])}
    return subprocess.run(
        [str(course["python"]), str(ROOT / "tools" / "assignments.py"), "grade", CHAPTER,
         str(submissions), "--root", str(submissions), "--assignments", str(chapter_1["output"]),
         "--output", str(grades), "--jobs", "2", "--cell-timeout", "6", *extra],
        capture_output=True, text=True, timeout=600, cwd=course["base"], env=environment,
    )


@pytest.fixture(scope="module")
def graded(course, chapter_1):
    """The one grading run of every cheat, then the honest and the untouched notebook."""
    submissions = course["base"] / "submissions"
    grades = course["base"] / "grades"
    student = chapter_1["student"]
    RIGHT.update(_right(chapter_1["solution"]))
    assert {"answer_parameters", "answer_macs", "conv_to_linear", "pointwise"} <= set(RIGHT)
    for name, (prelude, answers) in CHEATS.items():
        prelude = prelude.replace("GRADES", repr(str(grades)))
        prelude = prelude.replace("SITE", repr(str(course["site"])))
        _edited(student, submissions, f"cheat_{name}", prelude, {**WRONG, **answers})
    _edited(student, submissions, "cheat_loop", "", {
        **RIGHT, "answer_macs": "while True:\n    answer_macs = 0"})
    _edited(student, submissions, "planted", "", {
        **RIGHT, "answer_macs": "answer_macs = 25690112",
        "answer_parameters": "answer_parameters = 256 * 64 + undefined_name"})
    _edited(student, submissions / "a", "same_name", "", RIGHT)
    _edited(student, submissions / "b", "same_name", "",
            {**RIGHT, "answer_macs": "answer_macs = 1"})
    _edited(student, submissions, "zz_honest", "", RIGHT)
    shutil.copy(student, submissions / "zz_untouched.ipynb")
    start = time.monotonic()
    result = _grade(course, chapter_1, submissions, grades)
    seconds = time.monotonic() - start
    time.sleep(3)  # the detached process would have written by now
    return {"result": result, "grades": grades, "submissions": submissions,
            "seconds": seconds}


def test_every_cheat_scores_zero_and_the_honest_notebook_full_marks(graded, course):
    assert graded["result"].returncode == 0, graded["result"].stderr[-3000:]
    rows = _rows(graded["grades"] / "final_grades.csv")
    zero = {question: 0.0 for question in QUESTIONS}
    full = {question: 1.0 for question in QUESTIONS}
    from onebyone.exercises import chapter1

    seeded = "hidden_seed" in inspect.signature(chapter1.check_pointwise_function).parameters
    for name in CHEATS:
        expected = zero
        if name == "lookup_table" and not seeded:  # only the hidden seed's inputs catch it
            expected = {**zero, "pointwise_ex_function": 1.0}
        assert _points(rows[f"cheat_{name}.ipynb"]) == expected, (name, rows[f"cheat_{name}.ipynb"])
    assert _points(rows["zz_honest.ipynb"]) == full
    assert _points(rows["zz_untouched.ipynb"]) == zero
    # the attacks on the environment did run, on the copies they could reach
    assert "setattr(_c, _n" in (course["installed"] / "onebyone/exercises/grading.py").read_text()
    assert (course["site"] / "sitecustomize.py").exists()


def test_feedback_names_the_problem_and_a_loop_costs_only_later_answers(graded):
    rows = _rows(graded["grades"] / "final_grades.csv")
    results = {path.name: json.loads(path.read_text()) for path in graded["grades"].glob("*.json")}
    assert _points(rows["cheat_loop.ipynb"]) == {  # the loop, and every answer after it
        "pointwise_ex_parameters": 1.0, **{q: 0.0 for q in QUESTIONS[1:]}}
    assert "ran longer than 6 s" in rows["cheat_loop.ipynb"]["grading_status"]
    assert _points(rows["planted.ipynb"]) == {**{q: 1.0 for q in QUESTIONS},
                                              "pointwise_ex_macs": 0.0,
                                              "pointwise_ex_parameters": 0.0}
    feedback = {test["name"]: test["output"] for test in results["planted.ipynb.json"]["tests"]}
    assert "the number of multiply-accumulates (MACs) is 25,690,112" in feedback[
        "pointwise_ex_macs"]
    assert "answer_parameters is not defined" in feedback["pointwise_ex_parameters"]
    dispatch = {test["name"]: test["output"]
                for test in results["cheat_dispatch_disabled.ipynb.json"]["tests"]}
    assert "private" in dispatch["pointwise_ex_function"]
    ints = {test["name"]: test["output"]
            for test in results["cheat_int_subclass.ipynb.json"]["tests"]}
    assert "Yes" in ints["pointwise_ex_parameters"]


def test_same_file_names_in_two_folders_get_two_rows_and_two_files(graded):
    rows = _rows(graded["grades"] / "final_grades.csv")
    assert _points(rows["a/same_name.ipynb"])["pointwise_ex_macs"] == 1.0
    assert _points(rows["b/same_name.ipynb"])["pointwise_ex_macs"] == 0.0
    assert (graded["grades"] / "a%2Fsame_name.ipynb.json").exists()
    assert (graded["grades"] / "b%2Fsame_name.ipynb.json").exists()
    assert rows["points-per-question"]["total_points_possible"] == str(len(QUESTIONS))


def test_regrading_one_submission_merges_into_the_scores(graded, course, chapter_1):
    grades = graded["grades"]
    before = _rows(grades / "final_grades.csv")
    late = graded["submissions"] / "b" / "same_name.ipynb"
    _edited(chapter_1["student"], late.parent, "same_name", "", RIGHT)  # fixed, handed in late
    result = subprocess.run(
        [str(course["python"]), str(ROOT / "tools" / "assignments.py"), "grade", CHAPTER,
         str(late), "--root", str(graded["submissions"]), "--assignments",
         str(chapter_1["output"]), "--output", str(grades)],
        capture_output=True, text=True, timeout=300, cwd=course["base"],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(course["installed"])})
    assert result.returncode == 0, result.stderr[-3000:]
    after = _rows(grades / "final_grades.csv")
    assert set(after) == set(before)
    assert _points(after["b/same_name.ipynb"]) == {question: 1.0 for question in QUESTIONS}
    assert {label: row for label, row in after.items() if label != "b/same_name.ipynb"} == {
        label: row for label, row in before.items() if label != "b/same_name.ipynb"}


def test_the_grading_run_is_quick(graded):
    # 65 to 90 s measured on two cores shared with other jobs (load average 5 to 10)
    assert graded["seconds"] < 240, graded["seconds"]


@pytest.mark.parametrize("arguments", [["--jobs", "0", "x.ipynb"], []])
def test_bad_grade_arguments_print_one_line_and_exit_2(arguments):
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "assignments.py"), "grade",
                             CHAPTER, *arguments], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
