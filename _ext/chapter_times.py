"""Sphinx extension: the ``chapter-times`` directive, a table of how long each chapter takes.

Why: a reader planning a session (or a Colab runtime) needs to know how long each chapter is to
read and to run, and those numbers must come from the book itself, not be typed in. The reading
time is the chapter's prose (words outside code and outputs) at 200 words a minute, MyST's own
reading speed; the running time is what MyST-NB measured when this build executed the chapter's
notebook on a CPU (or, when the notebook was taken from the execution cache, what the cache
recorded when it last ran it).
"""

from __future__ import annotations

import math
import re
from typing import Any

from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

WORDS_PER_MINUTE = 200  # myst-parser's default `words_per_minute`
SKIPPED = (nodes.literal_block, nodes.math_block, nodes.raw, nodes.comment)


class chapter_times(nodes.General, nodes.Element):
    """Placeholder, replaced by the table once every chapter has been read and executed."""


class ChapterTimesDirective(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        return [chapter_times()]


def prose_words(doctree: nodes.document) -> int:
    """Words a reader reads: paragraphs and list items, leaving out code and cell outputs."""
    count = 0
    for paragraph in doctree.findall(nodes.paragraph):
        owner = paragraph.parent
        inside_output = False
        while owner is not None:
            if isinstance(owner, SKIPPED) or (
                isinstance(owner, nodes.container)
                and {"cell_output", "cell_input"} & set(owner.get("classes", []))
            ):
                inside_output = True
                break
            owner = owner.parent
        if not inside_output:
            count += len(re.findall(r"\w+", paragraph.astext()))
    return count


def _row(cells: list[nodes.Node | str]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell if isinstance(cell, nodes.Node) else nodes.paragraph(text=cell)
        row += entry
    return row


def build_table(app: Sphinx, fromdocname: str) -> nodes.table:
    env = app.env
    header = ["Chapter", "Reading (minutes)", "Running on a CPU (seconds)"]
    table = nodes.table(classes=["chapter-times"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    head += _row(header)
    group += head
    body = nodes.tbody()
    group += body
    chapters = [
        docname
        for docname in sorted(env.found_docs)
        if NbMetadataCollector.get_doc_data(env).get(docname, {}).get("exec_data")
    ]
    if not chapters:
        logger.warning("chapter-times: no executed chapter in this build", location=fromdocname)
    for docname in chapters:
        runtime = NbMetadataCollector.get_exec_data(env, docname).get("runtime")
        minutes = math.ceil(prose_words(env.get_doctree(docname)) / WORDS_PER_MINUTE)
        link = nodes.paragraph()
        reference = nodes.reference(
            "", env.titles[docname].astext(), internal=True,
            refuri=app.builder.get_relative_uri(fromdocname, docname),
        )
        link += reference
        running = f"{runtime:.0f}" if runtime is not None else "not measured"
        body += _row([link, str(minutes), running])
    return table


def replace_placeholders(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for placeholder in list(doctree.findall(chapter_times)):
        placeholder.replace_self(build_table(app, docname))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_node(chapter_times)
    app.add_directive("chapter-times", ChapterTimesDirective)
    app.connect("doctree-resolved", replace_placeholders)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
