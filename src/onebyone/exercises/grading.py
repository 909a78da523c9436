"""The checks as an autograder calls them: from freshly loaded modules.

Why: a grader runs a student's notebook and then the checks in the same Python process, so a
notebook that replaced a check (``chapter1.check_pointwise_macs = lambda answer: None``) or a
helper it relies on would grade itself. :func:`fresh_check` re-executes the modules of
:mod:`onebyone.exercises` before it hands out a check, which undoes any such replacement: the
answer is then graded by the package's own code.

This covers reassigned or redefined checks and helpers of the package; it is no sandbox (a
notebook that rewrites PyTorch itself is beyond it), which is why a grader also reads code.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

# Reloaded in this order: each module after the ones it imports.
_HELPERS = ("onebyone.exercises.checks", "onebyone.exercises.forbidden")


def fresh_check(chapter: str, check: str) -> Callable[..., None]:
    """The function ``check`` of ``onebyone.exercises.<chapter>``, from freshly executed modules.

    Args:
        chapter: the module's name, e.g. ``"chapter1"``.
        check: the check's name, e.g. ``"check_pointwise_function"``.
    """
    for name in _HELPERS:
        importlib.reload(importlib.import_module(name))
    module = importlib.reload(importlib.import_module(f"onebyone.exercises.{chapter}"))
    return getattr(module, check)


def call_check(check: Callable[..., None], *answers: object, hidden_seed: int | None = None):
    """Call ``check(*answers)``, with ``hidden_seed=`` when the check accepts that keyword.

    Why: a grader passes its secret seed so that a check adds inputs no notebook could have
    seen; checks written before the seed existed take no such argument, and are called as
    they are.
    """
    if hidden_seed is None:
        return check(*answers)
    parameters = inspect.signature(check).parameters.values()
    takes = any(parameter.kind is inspect.Parameter.VAR_KEYWORD
                or (parameter.name == "hidden_seed"
                    and parameter.kind is not inspect.Parameter.POSITIONAL_ONLY)
                for parameter in parameters)
    return check(*answers, hidden_seed=hidden_seed) if takes else check(*answers)
