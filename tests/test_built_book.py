"""Checks on the built web book under _build/html (made by `make book`, which `make test` runs)."""

from __future__ import annotations

import re
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
        assert solutions, f"{stem}: no solution"
        for solution in solutions:
            assert "dropdown" in solution.get("class", []), f"{stem}: a solution is not collapsed"


def test_figures_are_real_images(built_html):
    soup = BeautifulSoup((built_html / "book" / "01_pointwise.html").read_text(), "html.parser")
    images = [img["src"] for img in soup.find_all("img") if "_images" in img.get("src", "")]
    assert images, "chapter 1 shows no figure"
    for src in images:
        assert (built_html / "book" / src).resolve().stat().st_size > 2_000, src
