"""Run a submitted notebook's code cells, one by one, and report its answers after each cell.

Why: this is the only place where a student's code runs while grading, and it runs alone: the
grader (:mod:`onebyone.exercises.grader`) starts it as ``python -I -S -B`` in a throwaway folder
holding a copy of that one submission, with a private copy of the package, and kills its whole
session when it ends. Nothing here is trusted once the first cell has run: a notebook can patch
this module too. What it reports is only data (:func:`onebyone.exercises.answers.describe`),
which the checker validates; a faked report is an answer like any other.

Protocol: one JSON line of configuration on standard input (``cells``: the code cells' sources;
``answers``: the names to report; ``report_fd``: where to report), then on ``report_fd`` one JSON
line ``{"ready": true}`` and, after each cell, ``{"cell": i, "answers": {...}, "error": ...}``.
The grader gives each cell a time limit, so a cell that never ends costs only the answers that
later cells would have defined.
"""

from __future__ import annotations

import json
import os


def _shell():
    """IPython's shell (magics such as ``%timeit`` work), or ``None`` where IPython is missing."""
    try:
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config
    except ImportError:
        return None
    config = Config()
    config.HistoryManager.enabled = False
    return InteractiveShell.instance(config=config)


def _run(shell, namespace: dict, source: str) -> str | None:
    """Run one cell; the error it raised, as one line, or ``None``."""
    if shell is not None:
        result = shell.run_cell(source, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        return None if error is None else f"{type(error).__name__}: {error}"[:500]
    try:
        exec(compile(source, "<cell>", "exec"), namespace)
    except BaseException as error:  # as a notebook: an error does not stop the next cell
        return f"{type(error).__name__}: {error}"[:500]
    return None


def main(config: dict) -> None:
    """Run the cells of ``config`` (read by the grader's bootstrap; see the module)."""
    from onebyone.exercises.answers import describe

    report = os.fdopen(config["report_fd"], "w", buffering=1)
    quiet = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):  # what the notebook prints goes nowhere
        os.dup2(quiet, descriptor)
    try:  # before the first cell's clock starts: importing PyTorch takes seconds
        import torch  # noqa: F401
    except ImportError:
        pass
    shell = _shell()
    namespace = shell.user_ns if shell is not None else {"__name__": "__main__"}
    report.write(json.dumps({"ready": True}) + "\n")
    for index, source in enumerate(config["cells"]):
        error = _run(shell, namespace, source)
        answers = {}
        for name in config["answers"]:
            if name in namespace:
                try:
                    answers[name] = describe(namespace[name])
                except Exception as problem:
                    answers[name] = {"type": "unsupported",
                                     "class": f"value that cannot be described ({problem})"}
        report.write(json.dumps({"cell": index, "answers": answers, "error": error}) + "\n")
    report.close()
