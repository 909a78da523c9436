"""Sphinx extension: a build of the web book without its worked solutions, for a course.

Why: every exercise's worked solution is public in the web book (collapsed, one click away). A
course that grades the exercises may not want that. With ``onebyone_hide_solutions`` set (the
``make book-without-solutions`` target sets it), every solution, gated (``solution-start`` ...
``solution-end``, with its code cells) or not, is replaced by one sentence saying it is not
published; the exercises, and the check cells that follow them, stay. The chapters still run in
full (their glued numbers and asserts need the solutions' code); only the page leaves them out.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx_exercise.nodes import solution_node

WITHHELD = "The worked solution is not published in this edition of the book."


def remove_solutions(document: nodes.Node) -> int:
    """Replace every solution in ``document`` by :data:`WITHHELD`; return how many there were."""
    found = list(document.findall(solution_node))
    for solution in found:
        note = nodes.paragraph(text=WITHHELD, classes=["solution-withheld"])
        solution.replace_self(note)
    return len(found)


class RemoveSolutions(SphinxTransform):
    """Runs after sphinx-exercise has merged each gated solution into one node (priority 10)."""

    default_priority = 20

    def apply(self, **kwargs: Any) -> None:
        if self.config.onebyone_hide_solutions:
            remove_solutions(self.document)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("onebyone_hide_solutions", False, "env", [bool])
    app.add_transform(RemoveSolutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
