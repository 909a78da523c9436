"""Sphinx extension: point each chapter's Colab launch button at its ``.ipynb`` twin.

Why: sphinx-book-theme links Colab to the page's own source file (``book/01_pointwise.md``),
which Colab cannot open; it switches to ``.ipynb`` only when a same-stem notebook sits beside the
source. This book keeps its generated twins in ``notebooks/`` instead, so after the theme has made
its launch buttons we rewrite the Colab one to ``notebooks/<stem>.ipynb`` in the repository and
branch of ``_config.yml``. A chapter without a twin is a build warning (an error under ``-W``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

NOTEBOOK_DIRECTORY = "notebooks"


def _colab_buttons(buttons: list[dict[str, Any]]):
    for button in buttons:
        if button.get("type") == "group":
            yield from _colab_buttons(button.get("buttons", []))
        elif button.get("text") == "Colab":
            yield button


def point_colab_at_twin(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Rewrite the Colab button of ``pagename`` (an ``html-page-context`` handler)."""
    buttons = list(_colab_buttons(context.get("header_buttons", [])))
    if not buttons:
        return
    theme = app.config.html_theme_options
    repository = theme["repository_url"].rstrip("/")
    branch = theme.get("repository_branch", "main")
    colab = theme["launch_buttons"]["colab_url"].rstrip("/")
    owner_and_name = repository.split("github.com/", 1)[1]
    stem = Path(pagename).name
    twin = Path(app.confdir) / NOTEBOOK_DIRECTORY / f"{stem}.ipynb"
    if not twin.exists():
        logger.warning(
            f"{pagename} has no notebook twin {NOTEBOOK_DIRECTORY}/{stem}.ipynb for its Colab "
            "button: run `make notebooks`",
            location=pagename,
        )
    for button in buttons:
        button["url"] = (
            f"{colab}/github/{owner_and_name}/blob/{branch}/{NOTEBOOK_DIRECTORY}/{stem}.ipynb"
        )


def setup(app: Sphinx) -> dict[str, Any]:
    # The theme adds its launch buttons at priority 501; run after it.
    app.connect("html-page-context", point_colab_at_twin, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
