"""Grade submitted notebooks: each run alone, its answers checked by a process that never ran it.

Why: an autograder that checks answers inside the student's kernel, after the student's cells,
grades whatever those cells left behind: replaced checks, a patched ``torch.allclose``, test
files rewritten on disk. Here, for each submission:

1. its code cells run in their own process (:mod:`onebyone.exercises.runner`), started as
   ``python -I -S -B`` (no ``PYTHONPATH``, no ``site``: no ``.pth`` file or ``sitecustomize``
   runs, no bytecode written), in a new session, in a throwaway folder that holds only a copy
   of that submission, with a private copy of the package and an environment that names no
   other path; nothing on its command line names a submission or the grades folder;
2. each cell has a time limit, and the answers are reported after every cell, so a cell that
   never ends costs only the answers defined after it;
3. when it ends, everything it started is killed: its session, and (on Linux, where the grader
   is a child subreaper) any process that left the session and was re-parented to the grader;
4. its answers, as data, go to the checker (:mod:`onebyone.exercises.checker`), started before
   any notebook ran, from a pristine copy of the package made when grading began; each exercise
   is checked in a fork of it, with the grader's ``hidden_seed``;
5. the Python environment (standard library, site-packages, the pristine copy) is recorded
   (every file's size, times and inode) before the first notebook runs and compared before any
   grade is written: if a notebook changed it, grading stops with an error and writes nothing.

It is not a container: a notebook runs as the user who grades, so it can read what that user
can read and write what that user can write; changes to the environment are detected, not
prevented. Grade in a throwaway container or virtual machine per course run (see the book's
page for instructors).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import io
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from onebyone.atomic import open_atomically, write_text_atomically

POINTS_PER_QUESTION = 1
STARTUP_TIMEOUT_S = 120.0
"""Seconds a notebook's or the checker's process may take to start (import PyTorch)."""
MAX_REPORT_BYTES = 64 * 2**20

_RUNNER = ("import json, sys; config = json.loads(sys.stdin.readline()); "
           "sys.path[:] = config['path']; "
           "from onebyone.exercises.runner import main; main(config)")
_CHECKER = ("import json, sys; config = json.loads(sys.stdin.readline()); "
            "sys.path[:] = config['path']; "
            "from onebyone.exercises.checker import main; main(config)")


class GradingRefused(RuntimeError):
    """Grading stopped without writing grades (the message says why)."""


@dataclass(frozen=True)
class Question:
    """One exercise of an assignment: its name and the checks that grade it."""

    name: str
    checks: tuple[tuple[str, str, tuple[str, ...]], ...]  # (module, check, answer names)

    @property
    def answers(self) -> list[str]:
        return sorted({name for _, _, names in self.checks for name in names})


@dataclass
class Result:
    """A submission's grade: points and feedback per question, and a status line."""

    label: str
    scores: dict[str, float] = field(default_factory=dict)
    feedback: dict[str, str] = field(default_factory=dict)
    status: str = "Completed"


# --- The environment, recorded and compared ----------------------------------------------------

_NEVER_LOADED = re.compile(r"(.*\.pth|sitecustomize\.py|usercustomize\.py|__editable__.*)")


def snapshot(roots: list[Path]) -> dict[str, tuple[int, ...]]:
    """Every file and folder under ``roots``, with its mode, size, modification and change
    times (ns) and inode. The change time cannot be set back by a process, so a rewrite that
    restores the modification time is still seen. Left out: the top-level ``.pth`` files,
    ``sitecustomize``/``usercustomize`` and ``__editable__`` finders of each root, which the
    grader's ``-S`` processes never load, and a ``site-packages`` folder inside a root that is
    not itself a root (the base interpreter's, under the standard library, when grading from a
    virtual environment), which they never import from."""
    found: dict[str, tuple[int, ...]] = {}
    roots = [Path(root) for root in roots]
    for root in roots:
        stack = [(Path(root), True)]
        while stack:
            folder, top = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if top and _NEVER_LOADED.fullmatch(entry.name):
                    continue
                info = entry.stat(follow_symlinks=False)
                found[entry.path] = (info.st_mode, info.st_size, info.st_mtime_ns,
                                     info.st_ctime_ns, info.st_ino)
                if entry.is_dir(follow_symlinks=False) and not (
                        entry.name in ("site-packages", "dist-packages")
                        and Path(entry.path) not in roots):
                    stack.append((Path(entry.path), False))
    return found


def changes(before: dict[str, tuple[int, ...]], after: dict[str, tuple[int, ...]]) -> list[str]:
    """What differs between two snapshots: ``"changed PATH"``, ``"added PATH"``, ``"removed
    PATH"`` (folders whose only change is an entry's are left out: the entry says it)."""
    found = []
    for path, info in after.items():
        if path not in before:
            found.append(f"added {path}")
        elif before[path] != info and not (os.path.isdir(path)
                                           and before[path][1:2] == info[1:2]):
            found.append(f"changed {path}")
    found += [f"removed {path}" for path in before if path not in after]
    return sorted(found)


# --- Processes: started alone, killed with everything they started ------------------------------


def _proc_stat(pid: int) -> tuple[int, int, int] | None:
    """``(parent pid, session id, start time in clock ticks)`` of ``pid``, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[3]), int(fields[19])


def _all_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


class _Processes:
    """The processes the grader started, and how to kill them and whatever they started."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: set[int] = set()
        self.since: int | None = None  # start time (ticks) of the first process started
        self.subreaper = False

    def start(self, command: list[str], **options) -> subprocess.Popen:
        with self.lock:
            process = subprocess.Popen(command, start_new_session=True, **options)
            self.known.add(process.pid)
            if self.since is None:
                stat = _proc_stat(process.pid)
                self.since = stat[2] if stat else None
        return process

    def become_subreaper(self) -> None:
        """On Linux, make orphans of our descendants our children (PR_SET_CHILD_SUBREAPER), so
        a process that detached from its session is still found and killed."""
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                self.subreaper = libc.prctl(36, 1, 0, 0, 0) == 0

    def stop_being_subreaper(self) -> None:
        if self.subreaper:
            import ctypes

            ctypes.CDLL(None).prctl(36, 0, 0, 0, 0)

    def kill(self, process: subprocess.Popen) -> None:
        """Kill ``process``, its session, and every stray process (see :meth:`kill_strays`)."""
        with self.lock:
            for _ in range(3):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                for pid in _all_pids():
                    stat = _proc_stat(pid)
                    if stat and stat[1] == process.pid and pid != os.getpid():
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signal.SIGKILL)
            process.wait()
            self.known.discard(process.pid)
            self._kill_strays()

    def _kill_strays(self) -> None:
        """Kill our children that we did not start (orphans re-parented to us, the subreaper)
        and were started after grading began, with all their descendants."""
        if self.since is None:
            return
        for _ in range(5):
            stats = {pid: _proc_stat(pid) for pid in _all_pids()}
            stats = {pid: stat for pid, stat in stats.items() if stat}
            strays = [pid for pid, (parent, _, start) in stats.items()
                      if parent == os.getpid() and pid not in self.known and start >= self.since]
            if not strays:
                return
            tree, todo = set(), list(strays)
            while todo:
                pid = todo.pop()
                tree.add(pid)
                todo += [child for child, (parent, _, _) in stats.items()
                         if parent == pid and child not in tree]
            for pid in tree:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            for pid in strays:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)


def _clean_environment(home: Path) -> dict[str, str]:
    """The environment of a grader's child: no path of the grader's, no ``PYTHON*`` settings."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home),
            "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "MPLBACKEND": "Agg", "IPYTHONDIR": str(home / ".ipython"), "PYTHONHASHSEED": "0"}


def _lines(read_end: int, deadline) -> object:
    """JSON lines from ``read_end``; ``deadline()`` gives the monotonic time to stop waiting."""
    buffer = b""
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                yield json.loads(line)
            except ValueError:
                yield None
        left = deadline() - time.monotonic()
        if left <= 0:
            yield "timeout"
            return
        ready, _, _ = select.select([read_end], [], [], left)
        if not ready:
            continue
        chunk = os.read(read_end, 1 << 20)
        if not chunk or len(buffer) > MAX_REPORT_BYTES:
            yield "end"
            return
        buffer += chunk


# --- Reading a submission -------------------------------------------------------------------


def code_cells(path: Path) -> list[str]:
    """The sources of the code cells of the notebook ``path``.

    Raises:
        ValueError: naming the file, if it is not a Jupyter notebook.
    """
    try:
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable notebook ({error})") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ValueError(f"{path}: not a Jupyter notebook (no list of cells)")
    sources = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise ValueError(f"{path}: cell {index + 1} has no readable source")
        sources.append(source)
    return sources


# --- Grading ------------------------------------------------------------------------------------


@dataclass
class _Run:
    """What grading one notebook needs; ``questions`` and the limits are the same for all."""

    questions: list[Question]
    timeout_s: float
    cell_timeout_s: float
    check_timeout_s: float
    hidden_seed: int | None
    work: Path
    pristine: Path
    path: list[str]
    processes: _Processes
    checker: subprocess.Popen | None = None
    checker_lock: threading.Lock = field(default_factory=threading.Lock)


def _package_root() -> Path:
    import onebyone

    return Path(onebyone.__file__).resolve().parent


def _import_path(package_parent: Path) -> list[str]:
    """The children's ``sys.path``: the package copy, then the grader's own entries (standard
    library, site-packages and what their ``.pth`` files add) except ``PYTHONPATH``'s, the
    current folder, the script's folder and any that holds an ``onebyone``: the installed
    package is never used."""
    skipped = {Path(entry).resolve() for entry in
               os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry}
    skipped.add(Path.cwd().resolve())
    if sys.argv and sys.argv[0] and os.path.isfile(sys.argv[0]):
        skipped.add(Path(sys.argv[0]).resolve().parent)
    path = [str(package_parent)]
    for entry in sys.path:
        if not entry or not os.path.exists(entry) or Path(entry).resolve() in skipped:
            continue
        if os.path.isdir(entry) and os.path.exists(os.path.join(entry, "onebyone")):
            continue
        path.append(entry)
    return path


def _start_checker(run: _Run) -> None:
    folder = run.work / "checker"
    folder.mkdir()
    process = run.processes.start(
        [sys.executable, "-I", "-S", "-B", "-c", _CHECKER], cwd=folder,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=_clean_environment(folder),
    )
    modules = sorted({module for question in run.questions for module, _, _ in question.checks})
    process.stdin.write(json.dumps({"path": run.path, "modules": modules}).encode() + b"\n")
    process.stdin.flush()
    start = time.monotonic()
    reply = next(_lines(process.stdout.fileno(), lambda: start + STARTUP_TIMEOUT_S))
    if reply != {"ready": True}:
        run.processes.kill(process)
        raise GradingRefused("the checker did not start (is PyTorch installed?)")
    run.checker = process


def _ask_checker(run: _Run, request: dict) -> dict:
    with run.checker_lock:
        run.checker.stdin.write(json.dumps(request).encode() + b"\n")
        run.checker.stdin.flush()
        limit = time.monotonic() + run.check_timeout_s * (len(run.questions) + 1) + 30
        reply = next(_lines(run.checker.stdout.fileno(), lambda: limit))
    if not isinstance(reply, dict):
        raise GradingRefused("the checker stopped answering")
    return reply


def _run_notebook(run: _Run, index: int, cells: list[str], name: str) -> tuple[dict, int, str]:
    """Run ``cells`` in a fresh process; the last answers it reported, how many cells ended,
    and a status."""
    folder = run.work / "runs" / str(index)
    home = folder / "work"
    home.mkdir(parents=True)
    shutil.copytree(run.pristine / "onebyone", folder / "package" / "onebyone")
    (home / name).write_text(json.dumps({"cells": [{"cell_type": "code", "source": cell}
                                                   for cell in cells]}), encoding="utf-8")
    read_end, write_end = os.pipe()
    try:
        process = run.processes.start(
            [sys.executable, "-I", "-S", "-B", "-c", _RUNNER], cwd=home, stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,),
            env=_clean_environment(home),
        )
    finally:
        os.close(write_end)
    names = sorted({name for question in run.questions for name in question.answers})
    path = [str(folder / "package"), *run.path[1:]]
    config = {"path": path, "cells": cells, "answers": names, "report_fd": write_end}
    with contextlib.suppress(BrokenPipeError):
        process.stdin.write(json.dumps(config).encode() + b"\n")
        process.stdin.close()
    start = time.monotonic()
    limits = {"next": start + STARTUP_TIMEOUT_S}
    answers, done, status = {}, 0, "Completed"
    try:
        for message in _lines(read_end, lambda: min(limits["next"], start + STARTUP_TIMEOUT_S
                                                    + run.timeout_s)):
            if message == "timeout":
                if done == 0 and limits["next"] == start + STARTUP_TIMEOUT_S:
                    status = "the notebook's process did not start"
                elif time.monotonic() >= start + STARTUP_TIMEOUT_S + run.timeout_s:
                    status = (f"timed out: the notebook ran longer than {run.timeout_s:g} s; "
                              f"answers after cell {done} are missing")
                else:
                    status = (f"code cell {done + 1} ran longer than {run.cell_timeout_s:g} s: "
                              "the answers defined after it are missing")
                break
            if message == "end":
                if done < len(cells):
                    status = f"the notebook's process stopped after code cell {done}"
                break
            if not isinstance(message, dict):
                continue
            if message.get("ready") is True or isinstance(message.get("cell"), int):
                limits["next"] = time.monotonic() + run.cell_timeout_s
            if isinstance(message.get("cell"), int):
                done = min(max(done, message["cell"] + 1), len(cells))
                if isinstance(message.get("answers"), dict):
                    answers = message["answers"]
    finally:
        os.close(read_end)
        run.processes.kill(process)
    return answers, done, status


def _grade_one(run: _Run, index: int, label: str, path: Path) -> Result:
    result = Result(label)
    try:
        cells = code_cells(path)
    except ValueError as error:
        return _zero(run, label, str(error))
    answers, done, status = _run_notebook(run, index, cells, Path(label).name)
    result.status = status
    reply = _ask_checker(run, {
        "questions": [{"name": q.name, "checks": [list(c) for c in q.checks]}
                      for q in run.questions],
        "answers": answers, "cells": cells[:done], "hidden_seed": run.hidden_seed,
        "timeout_s": run.check_timeout_s,
    })
    for question in run.questions:
        outcome = reply.get(question.name, {})
        score = outcome.get("score") if isinstance(outcome, dict) else None
        result.scores[question.name] = float(POINTS_PER_QUESTION if score == 1 else 0)
        result.feedback[question.name] = str(outcome.get("output", "not checked"))[:2000] \
            if isinstance(outcome, dict) else "not checked"
    return result


def _zero(run: _Run, label: str, status: str) -> Result:
    return Result(label, {q.name: 0.0 for q in run.questions},
                  {q.name: status for q in run.questions}, status)


def grade_notebooks(
    questions: list[Question], submissions: dict[str, Path], *, timeout_s: float = 300,
    cell_timeout_s: float = 60, check_timeout_s: float = 60, jobs: int = 2,
    hidden_seed: int | None = None,
) -> dict[str, Result]:
    """Grade ``submissions`` (label -> notebook) on ``questions``; the results by label.

    Raises:
        GradingRefused: a notebook changed the Python environment, or the checker failed; no
            result is returned then.
    """
    if not questions:
        raise ValueError("questions must name at least one question, got none")
    if not (isinstance(jobs, int) and jobs >= 1):
        raise ValueError(f"jobs must be an int of at least 1, got {jobs!r}")
    for name, value in (("timeout_s", timeout_s), ("cell_timeout_s", cell_timeout_s),
                        ("check_timeout_s", check_timeout_s)):
        if not (isinstance(value, int | float) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    writing = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # the grader itself adds nothing to the environment
    processes = _Processes()
    with tempfile.TemporaryDirectory(prefix="onebyone-grading-") as work:
        work = Path(work)
        pristine = work / "pristine"
        shutil.copytree(_package_root(), pristine / "onebyone",
                        ignore=shutil.ignore_patterns("__pycache__"))
        path = _import_path(pristine)
        roots = [Path(entry) for entry in path if os.path.isdir(entry)]
        before = snapshot(roots)
        run = _Run(questions, timeout_s, cell_timeout_s, check_timeout_s, hidden_seed, work,
                   pristine, path, processes)
        processes.become_subreaper()
        try:
            _start_checker(run)
            with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {label: pool.submit(_grade_one, run, index, label, notebook)
                           for index, (label, notebook) in enumerate(submissions.items())}
                results = {label: future.result() for label, future in futures.items()}
        finally:
            if run.checker is not None:
                with contextlib.suppress(OSError):
                    run.checker.stdin.close()
                processes.kill(run.checker)
            processes.stop_being_subreaper()
            sys.dont_write_bytecode = writing
        changed = changes(before, snapshot(roots))
    if changed:
        raise GradingRefused(
            "the Python environment changed while notebooks ran, so no grade is written: "
            + "; ".join(changed[:10]) + (f" (and {len(changed) - 10} more)"
                                         if len(changed) > 10 else "")
            + ". Reinstall the environment and grade these submissions one at a time to find "
              "the notebook that did it")
    return results


# --- The hidden seed and the grades files ----------------------------------------------------


def hidden_seed(path: Path) -> int:
    """The grader's secret seed, from ``path`` (one integer); made there, readable by its owner
    only, the first time."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, f"{secrets.randbits(62)}\n")
        path.chmod(0o600)
    text = path.read_text(encoding="utf-8").strip()
    if not re.fullmatch(r"[0-9]{1,19}", text):
        raise ValueError(f"{path}, line 1, column 1: expected one non-negative integer (the "
                         f"hidden seed), got {text[:40]!r}")
    return int(text)


COLUMNS_AFTER = ("total_points_earned", "total_points_possible", "percent_correct",
                 "grading_status")
POINTS_ROW = "points-per-question"


def result_file_name(label: str) -> str:
    """The JSON file of the submission ``label``: its relative path, quoted into one name
    (``late/alice.ipynb`` -> ``late%2Falice.ipynb.json``), so no two labels share a file."""
    return urllib.parse.quote(label, safe="") + ".json"


def read_grades(path: Path, questions: list[str]) -> dict[str, dict[str, str]]:
    """The rows of an existing ``final_grades.csv`` by label (none if it does not exist).

    Raises:
        ValueError: naming the file and line, if it is not a table this grader wrote for these
            questions.
    """
    if not Path(path).exists():
        return {}
    header = ["file", *questions, *COLUMNS_AFTER]
    rows = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if number == 1:
                if row != header:
                    raise ValueError(f"{path}, line 1, column 1: expected the columns "
                                     f"{header}, got {row}: grades of another assignment?")
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}, line {number}: expected {len(header)} values, "
                                 f"got {len(row)}")
            if row[0] != POINTS_ROW:
                rows[row[0]] = dict(zip(header, row, strict=True))
    return rows


def write_grades(output: Path, questions: list[str], results: dict[str, Result]) -> Path:
    """Merge ``results`` into ``output``'s ``final_grades.csv`` (one row per label: a re-graded
    submission replaces its row, the others stay) and write one JSON per result (Gradescope's
    results format); every file atomically. Returns the CSV's path."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    csv_path = output / "final_grades.csv"
    rows = read_grades(csv_path, questions)
    possible = POINTS_PER_QUESTION * len(questions)
    for label, result in results.items():
        earned = sum(result.scores.get(question, 0.0) for question in questions)
        rows[label] = {"file": label,
                       **{question: f"{result.scores.get(question, 0.0):g}"
                          for question in questions},
                       "total_points_earned": f"{earned:g}",
                       "total_points_possible": f"{possible:g}",
                       "percent_correct": f"{earned / possible:.4g}",
                       "grading_status": result.status}
        tests = [{"name": question, "score": result.scores.get(question, 0.0),
                  "max_score": POINTS_PER_QUESTION, "visibility": "visible",
                  "output": result.feedback.get(question, "")} for question in questions]
        write_text_atomically(output / result_file_name(label), json.dumps(
            {"score": earned, "output": result.status, "tests": tests}, indent=1) + "\n")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file", *questions, *COLUMNS_AFTER])
    writer.writerow([POINTS_ROW, *(f"{POINTS_PER_QUESTION:g}" for _ in questions),
                     "", f"{possible:g}", "", ""])
    for label in sorted(rows):
        writer.writerow([rows[label][column] for column in ["file", *questions,
                                                            *COLUMNS_AFTER]])
    with open_atomically(csv_path) as handle:
        handle.write(text.getvalue())
    return csv_path
