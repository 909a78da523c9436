"""Sphinx extension: each page loads the scripts it uses, once, and nothing else.

Why: a reader's browser showed faults that come from the assets, not the content. MathJax
(over 1 MB) loaded on pages without math: Sphinx counts the math of every page that a page's
toctree includes, so the landing page loaded it for the chapters. sphinx-thebe's configuration
script came twice on every page (a console error, "THEBE_JS_URL has already been declared"), for
a live-code feature this book does not offer. This extension keeps MathJax to pages whose own
content has math, removes the thebe scripts, and adds the book's stylesheet
(``book/_static/onebyone.css``: wide equations and outputs scroll instead of being cut off).
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

STYLESHEET = "onebyone.css"


def _is_thebe(script: Any) -> bool:
    filename = str(getattr(script, "filename", script) or "")
    attributes = getattr(script, "attributes", {}) or {}
    body = str(attributes.get("body", ""))
    return (
        "thebe" in filename
        or "THEBE_JS_URL" in body
        or attributes.get("type") == "text/x-thebe-config"
    )


def _is_mathjax(script: Any, mathjax_path: str) -> bool:
    filename = str(getattr(script, "filename", script) or "")
    body = str((getattr(script, "attributes", {}) or {}).get("body", ""))
    return filename.split("?")[0].endswith(mathjax_path) or body.startswith("window.MathJax")


def trim_assets(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Remove thebe everywhere and MathJax where the page itself has no math.

    An html-page-context handler, run after the ones that add those scripts.
    """
    has_math = app.env.get_domain("math").data["has_equations"].get(pagename, False)
    if "script_files" in context:
        context["script_files"][:] = [
            s
            for s in context["script_files"]
            if not _is_thebe(s) and (has_math or not _is_mathjax(s, app.config.mathjax_path))
        ]
    if "css_files" in context:
        context["css_files"][:] = [c for c in context["css_files"] if not _is_thebe(c)]


def setup(app: Sphinx) -> dict[str, Any]:
    # After every extension has added its assets to the page (MathJax's handler runs at 500).
    app.connect("html-page-context", trim_assets, priority=990)
    app.add_css_file(STYLESHEET)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
