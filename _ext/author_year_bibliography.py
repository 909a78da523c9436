"""Sphinx extension: the bibliography labels its entries as the text cites them (Lin et al., 2014).

Why: sphinxcontrib-bibtex cites in author-year style (``bibtex_reference_style: author_year``)
but labels the bibliography with the ``alpha`` style's codes ([SLJ+15]), so a reader cannot
find "Szegedy et al., 2015" in the list. This registers a pybtex style, ``onebyone``, that
formats entries as ``unsrt`` does, labels them with the same names and year as the citations,
and sorts them by author, year and title; ``_config.yml`` makes it the default style.
"""

from __future__ import annotations

from typing import Any

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle
from sphinx.application import Sphinx

STYLE_NAME = "onebyone"


def _last_names(entry: Any) -> list[str]:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    return [" ".join(person.last_names).replace("{", "").replace("}", "") for person in persons]


def author_year_label(entry: Any) -> str:
    """``Lin et al., 2014``; ``Ioffe and Szegedy, 2015``; ``Ng, 2017`` (as the citations read)."""
    names = _last_names(entry)
    if not names:
        authors = entry.fields.get("title", entry.key)
    elif len(names) == 1:
        authors = names[0]
    elif len(names) == 2:
        authors = f"{names[0]} and {names[1]}"
    else:
        authors = f"{names[0]} et al."
    year = entry.fields.get("year", "n.d.")
    return f"{authors}, {year}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = [author_year_label(entry) for entry in sorted_entries]
        # Two works by the same authors in one year: 2015a, 2015b.
        for label in set(labels):
            indices = [i for i, other in enumerate(labels) if other == label]
            if len(indices) > 1:
                for letter, i in zip("abcdefghijklmnopqrstuvwxyz", indices, strict=False):
                    labels[i] = label + letter
        yield from labels


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabelStyle
    default_sorting_style = SortingStyle


def setup(app: Sphinx) -> dict[str, Any]:
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle, force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
