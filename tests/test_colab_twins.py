"""The twins against the built web book: same numbers, and every link lands where it should.

``tools/notebooks.py --check`` re-converts each chapter with the values stored in its twin, so it
cannot see a stored value that no longer is what the code computes (say, after a change in the
package). The book build runs every chapter again; here its glued values, formatted as the prose
formats them, must match the twin's. And every link a twin makes into the web book must reach an
existing page and anchor, with the equation and exercise numbers that page shows.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from bs4 import BeautifulSoup

pytestmark = pytest.mark.built_book

MARKDOWN_LINK = re.compile(r"\[([^\[\]]*)\]\(([^()\s]+)\)")


def _twins(notebooks_tool):
    for chapter in notebooks_tool.chapters():
        yield chapter, nbformat.read(notebooks_tool.twin_path(chapter), as_version=4)


def test_twins_show_the_numbers_the_web_book_shows(built_html, notebooks_tool):
    """The twins were made on one machine and the book is built on another: every number the
    prose quotes must look the same, except those glued with a ``Varies`` declaration (trained
    accuracies and the like), which may differ by the declared tolerance and no more."""
    for chapter, twin in _twins(notebooks_tool):
        stored = twin.metadata[notebooks_tool.METADATA_KEY]
        built_file = built_html.parent / "jupyter_execute" / "book" / f"{chapter.stem}.glue.json"
        assert built_file.exists(), f"the book build glued nothing for {chapter.name}"
        outputs = json.loads(built_file.read_text())
        built = {name: output["data"]["text/plain"] for name, output in outputs.items()}
        found = notebooks_tool.glued_disagreements(
            chapter.read_text(),
            (stored["glued"], stored["varies"]),
            (built, notebooks_tool.declared_varies(outputs)),
        )
        assert not found, f"{chapter.name} (run `make notebooks`): {found}"


def test_links_into_the_web_book_land_on_existing_anchors(built_html, notebooks_tool):
    base = notebooks_tool.config()["html"]["baseurl"].rstrip("/") + "/"
    pages: dict[str, BeautifulSoup] = {}
    checked = 0
    for chapter, twin in _twins(notebooks_tool):
        for cell in twin.cells:
            if cell.cell_type != "markdown":
                continue
            for text, url in MARKDOWN_LINK.findall(cell.source):
                if not url.startswith(base):
                    continue
                path, _, anchor = url.removeprefix(base).partition("#")
                page = built_html / path
                assert page.exists(), f"{chapter.name}: {url} has no page"
                soup = pages.setdefault(path, BeautifulSoup(page.read_text(), "html.parser"))
                if not anchor:
                    continue
                element = soup.find(id=anchor)
                assert element is not None, f"{chapter.name}: {url} has no anchor"
                if re.fullmatch(r"\(\d+\)", text):  # an equation's number
                    assert element.select_one(".eqno").get_text().startswith(text), url
                if text.startswith("Exercise "):
                    assert element.select_one(".caption-number").get_text().strip() == text, url
                checked += 1
    assert checked >= 10  # equations, exercises and chapters are linked
