"""Sphinx extension: search results show a readable snippet of each page, over http and file://.

Why: Sphinx makes a result's snippet by downloading the page and taking the text of its main
block, so a reader saw raw TeX (the page's math before MathJax typesets it) and the page's
buttons and labels; over ``file://`` the download is refused and no snippet appears at all.
Here each page's prose is taken from its doctree at build time (paragraphs, list items
and titles; math written as plain text; code and outputs left out) and written, by section, into
``_static/search-snippets.js``, which only the search page loads. ``search-snippets-ui.js``
adds a snippet around the first search term to each result as Sphinx lists it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx

DATA_FILE = "search-snippets.js"
SCRIPT = "search-snippets-ui.js"
PROSE = (nodes.paragraph, nodes.title, nodes.term)

# TeX commands readers would rather see as symbols; other commands lose their backslash.
TEX_SYMBOLS = {
    r"\times": "×", r"\cdot": "·", r"\le": "≤", r"\leq": "≤", r"\ge": "≥", r"\geq": "≥",
    r"\approx": "≈", r"\ne": "≠", r"\neq": "≠", r"\sum": "Σ", r"\max": "max", r"\min": "min",
    r"\to": "→", r"\rightarrow": "→", r"\ldots": "…", r"\dots": "…", r"\sigma": "σ",
    r"\infty": "∞", r"\quad": " ", r"\qquad": " ", r"\,": " ", r"\;": " ", r"\!": "",
}


def tex_as_text(tex: str) -> str:
    """Write a TeX formula as plain text: ``C_\\text{in} \\times k^2`` becomes ``C_in × k^2``."""
    text = tex
    for command, symbol in sorted(TEX_SYMBOLS.items(), key=lambda item: -len(item[0])):
        text = re.sub(re.escape(command) + r"(?![A-Za-z])", symbol, text)
    text = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", text)
    text = re.sub(r"\\(?:text|mathrm|mathbf|mathit|operatorname|left|right|big|Big)", "", text)
    text = re.sub(r"\\([A-Za-z]+)", r"\1", text)
    text = text.replace("{", "").replace("}", "").replace("\\", "").replace("&", "")
    return re.sub(r"\s+", " ", text).strip()


def _prose(node: nodes.Node) -> str:
    parts = []
    for child in node.children:
        if isinstance(child, (nodes.math, nodes.math_block)):
            parts.append(tex_as_text(child.astext()))
        elif isinstance(child, (nodes.literal_block, nodes.raw, nodes.system_message)):
            continue
        elif isinstance(child, nodes.Text):
            parts.append(child.astext())
        elif isinstance(child, nodes.Element):
            parts.append(_prose(child))
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _sections(doctree: nodes.document) -> list[list[str]]:
    """``[anchor, text]`` for each section, with the text of its own prose."""
    found = []
    for section in doctree.findall(nodes.section):
        anchor = "#" + section["ids"][0] if section.get("ids") else ""
        texts = []
        for node in section.findall(lambda n: isinstance(n, PROSE)):
            owner = node.parent
            while owner is not None and not isinstance(owner, nodes.section):
                if isinstance(owner, nodes.container) and "cell_output" in owner.get("classes", []):
                    break
                owner = owner.parent
            if owner is section:
                texts.append(_prose(node))
        found.append([anchor, " ".join(t for t in texts if t)])
    return found


def write(app: Sphinx, exception: Exception | None) -> None:
    """Write ``_static/search-snippets.js`` after the pages (a build-finished handler).

    Every page's doctree is resolved again here (cross-references, citations and glued numbers
    as the page shows them), so a build that rewrites only some pages still lists them all.
    """
    if exception is not None or app.builder.format != "html":
        return
    store = {
        docname: _sections(app.env.get_and_resolve_doctree(docname, app.builder))
        for docname in sorted(app.env.found_docs)
    }
    target = Path(app.outdir) / "_static" / DATA_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(store, ensure_ascii=False, sort_keys=True)
    target.write_text(f"window.ONEBYONE_SEARCH_SNIPPETS = {data};\n", encoding="utf-8")


def load_on_search_page(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if pagename == "search":
        app.builder.add_js_file(DATA_FILE)
        app.builder.add_js_file(SCRIPT)


def turn_off_downloaded_snippets(app: Sphinx, config: Any) -> None:
    config.html_show_search_summary = False


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", turn_off_downloaded_snippets)
    app.connect("html-page-context", load_on_search_page)
    app.connect("build-finished", write)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
