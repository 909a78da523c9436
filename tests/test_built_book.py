"""Checks on the built web book under _build/html (made by `make book`, which `make test` runs)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from bs4 import BeautifulSoup

pytestmark = pytest.mark.built_book


def _chapter_pages(built_html, notebooks_tool):
    pages = {}
    for chapter in notebooks_tool.chapters():
        page = built_html / "book" / f"{chapter.stem}.html"
        assert page.exists(), f"{chapter.name} was not built"
        pages[chapter.stem] = BeautifulSoup(page.read_text(), "html.parser")
    return pages


def test_colab_button_opens_the_notebook_twin(root, built_html, notebooks_tool):
    config = yaml.safe_load((root / "_config.yml").read_text())
    repository = urlparse(config["repository"]["url"]).path.strip("/")
    branch = config["repository"]["branch"]
    for stem, soup in _chapter_pages(built_html, notebooks_tool).items():
        links = [a["href"] for a in soup.find_all("a", href=True) if "colab.research" in a["href"]]
        assert links, f"{stem}: no Colab button"
        for link in links:
            prefix = f"https://colab.research.google.com/github/{repository}/blob/{branch}/"
            assert link.startswith(prefix), link
            target = link.removeprefix(prefix)
            assert target == f"notebooks/{stem}.ipynb", link
            assert (root / target).exists(), f"{link} points at a missing notebook"


def test_math_is_typeset_by_a_mathjax_the_book_ships(built_html, notebooks_tool):
    """Math must render offline too, so MathJax is served from the book, not from a CDN."""
    for stem, soup in _chapter_pages(built_html, notebooks_tool).items():
        assert soup.select("div.math, span.math"), f"{stem}: no math"
        scripts = [s["src"] for s in soup.find_all("script", src=re.compile("mathjax", re.I))]
        assert scripts, f"{stem}: no MathJax"
        for src in scripts:
            assert not src.startswith(("http:", "https:", "//")), f"{stem} loads {src}"
            assert (built_html / "book" / src.split("?")[0]).resolve().exists(), src


def test_glued_numbers_are_in_the_prose(built_html):
    text = (built_html / "book" / "01_pointwise.html").read_text()
    assert "4,816,896" in text  # the 28x28x192 -> 32 example's MACs, glued from code
    assert "6,176" in text


def test_solutions_are_collapsed(built_html, notebooks_tool):
    for stem, soup in _chapter_pages(built_html, notebooks_tool).items():
        solutions = soup.select(".solution")
        if stem.startswith("appendix_"):  # an appendix has no exercises
            assert not soup.select(".exercise") and not solutions, stem
            continue
        assert solutions, f"{stem}: no solution"
        for solution in solutions:
            assert "dropdown" in solution.get("class", []), f"{stem}: a solution is not collapsed"


def test_figures_are_real_images(built_html):
    soup = BeautifulSoup((built_html / "book" / "01_pointwise.html").read_text(), "html.parser")
    images = [img["src"] for img in soup.find_all("img") if "_images" in img.get("src", "")]
    assert images, "chapter 1 shows no figure"
    for src in images:
        assert (built_html / "book" / src).resolve().stat().st_size > 2_000, src


def _citations(soup):
    return [a for a in soup.find_all("a", href=True) if a["href"].startswith("bibliography.html#")]


def test_bibliography_labels_read_as_the_citations(built_html, notebooks_tool):
    """A citation "(Szegedy et al., 2015)" leads to an entry labelled [Szegedy et al., 2015]."""
    bibliography = BeautifulSoup(
        (built_html / "book" / "bibliography.html").read_text(), "html.parser"
    )
    checked = 0
    for stem, soup in _chapter_pages(built_html, notebooks_tool).items():
        for link in _citations(soup):
            entry = bibliography.find(id=link["href"].split("#", 1)[1])
            assert entry is not None, f"{stem}: {link['href']} leads nowhere"
            label = entry.select_one("span.label").get_text().strip("[]")
            cited = link.get_text()  # "Szegedy <em>et al.</em>, 2015" reads "Szegedy et al., 2015"
            # A narrative citation links the author and the year separately: "Ng [2017]".
            assert cited == label or cited in label.split(", "), f"{stem}: {cited!r} vs [{label}]"
            checked += 1
    assert checked > 5


def test_no_empty_general_index(built_html):
    """The book has no index entries, so it has no index page, and no page links to one."""
    assert not (built_html / "genindex.html").exists()
    for page in (built_html / "book").glob("*.html"):
        assert "genindex.html" not in page.read_text(), page.name


def test_template_override_is_the_themes_less_the_fontawesome_script(root):
    """book/_templates/static/webpack-macros.html copies the installed theme's file, less the
    FontAwesome JavaScript and font preloads; a theme upgrade that changes the file fails here."""
    import pydata_sphinx_theme

    theme_file = (
        Path(pydata_sphinx_theme.__file__).parent
        / "theme" / "pydata_sphinx_theme" / "static" / "webpack-macros.html"
    )
    ours = (root / "book" / "_templates" / "static" / "webpack-macros.html").read_text()
    theirs = theme_file.read_text()
    removed = ("fontawesome/6.5.2/js/all.min.js", 'rel="preload" as="font"')
    theirs_less = [
        line for line in theirs.splitlines() if not any(part in line for part in removed)
    ]
    ours_body = re.sub(r"\{#-.*?-#\}\n", "", ours, flags=re.S).splitlines()
    theirs_body = re.sub(r"\A<!--.*?-->\n", "", "\n".join(theirs_less) + "\n", flags=re.S)
    assert ours_body == theirs_body.splitlines()


def test_landing_page_times_every_chapter(built_html, notebooks_tool):
    soup = BeautifulSoup((built_html / "book" / "intro.html").read_text(), "html.parser")
    table = soup.select_one("table.chapter-times")
    assert table is not None, "no table of chapter times on the landing page"
    rows = table.select("tbody tr")
    assert len(rows) == len(notebooks_tool.chapters())
    for row in rows:
        chapter, reading, running = (cell.get_text(strip=True) for cell in row.select("td"))
        assert int(reading) >= 1, chapter
        assert float(running) >= 0, chapter
