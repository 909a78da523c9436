"""tools/jupyter_markdown.py: MyST Markdown in, what the web page shows out, or a loud failure."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BASE = "https://example.org/book/"


@pytest.fixture(scope="module")
def jm():
    spec = importlib.util.spec_from_file_location(
        "jupyter_markdown", ROOT / "tools" / "jupyter_markdown.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["jupyter_markdown"] = module
    spec.loader.exec_module(module)
    return module


PAGE = """\
---
jupytext: {}
---

(chapter-one)=
# The first chapter

$$
y = W x + b
$$ (eq-linear)

```{code-cell} ipython3
$$ not math: inside a code cell $$ (eq-fake)
```

$$
z = 1
$$

$$ a = b $$ (eq-second)

```{exercise}
:label: ex-first

Compute it.
```

```{exercise} A titled one
:label: ex-second

Again.
```
"""


@pytest.fixture
def converter(jm):
    book = jm.Book(BASE, "book/bibliography")
    book.citations["lin2014network"] = jm.Citation("Lin *et al.*", "2014")
    book.citations["ng2017networks"] = jm.Citation("Ng", "2017")
    jm.index_page(book, "book/one", PAGE)
    jm.index_page(book, "book/two", "(chapter-two)=\n# Second *chapter*\n\n$$ x $$ (eq-third)\n")
    glued = {"macs": "4816896", "ratio": "9.666666666666666", "name": "'1x1'"}

    def format_glued(text, spec):
        from myst_nb.core.variables import format_plain_text

        return format_plain_text(text, spec)

    return jm.PageConverter(book, "book/one", glued, format_glued)


def test_the_book_index_numbers_equations_and_exercises_through_the_book(jm, converter):
    targets = converter.book.targets
    assert targets["eq-linear"] == jm.Target("book/one", "equation-eq-linear", "(1)", 1)
    assert targets["eq-second"].number == 2
    assert "eq-fake" not in targets  # code cells are not prose
    assert targets["eq-third"] == jm.Target("book/two", "equation-eq-third", "(3)", 3)
    assert targets["ex-second"] == jm.Target("book/one", "ex-second", "Exercise 2", 2)
    assert targets["chapter-two"].title == "Second *chapter*"
    titles = {"book/one": "The first chapter", "book/two": "Second *chapter*"}
    assert converter.book.titles == titles


def test_glued_values_are_formatted_as_myst_nb_formats_them(converter):
    text = "{glue:text}`macs:,` MACs, {glue:text}`ratio:.1f` times, {glue:text}`name`, {glue}`name`"
    assert converter.convert(text) == "4,816,896 MACs, 9.7 times, 1x1, '1x1'"


def test_a_missing_glued_value_fails(jm, converter):
    with pytest.raises(jm.ConversionError, match="no glued value named 'cost'"):
        converter.convert("{glue:text}`cost:.1f`")


def test_equations_keep_their_numbers_and_references_link_to_the_web_book(converter):
    source = "$$\ny = W x + b\n$$ (eq-linear)\n\nBy {eq}`eq-linear`, see {ref}`chapter-two`."
    assert converter.convert(source) == (
        "$$\ny = W x + b\n\\tag{1}\n$$\n\n"
        f"By [(1)]({BASE}book/one.html#equation-eq-linear), "
        f"see [Second *chapter*]({BASE}book/two.html#chapter-two)."
    )
    assert converter.convert("$$\nz = 1\n$$") == "$$\nz = 1\n$$"  # unlabelled: no number
    assert converter.convert("$$ a = b $$ (eq-second)") == "$$\n a = b \n\\tag{2}\n$$"


def test_explicit_titles_numref_and_citations(converter):
    bibliography = f"{BASE}book/bibliography.html"
    source = (
        "{ref}`Chapter 2 <chapter-two>`, {numref}`Task %s <ex-first>`, {numref}`ex-second`, "
        "{cite:p}`lin2014network,ng2017networks`, {cite:t}`ng2017networks`, {math}`x^2`"
    )
    assert converter.convert(source) == (
        f"[Chapter 2]({BASE}book/two.html#chapter-two), [Task 1]({BASE}book/one.html#ex-first), "
        f"[Exercise 2]({BASE}book/one.html#ex-second), "
        f"[[Lin *et al.*, 2014]({bibliography}), [Ng, 2017]({bibliography})], "
        f"Ng [[2017]({bibliography})], $x^2$"
    )


def test_exercises_and_solutions_become_headed_sections(converter):
    exercise = "## Exercises\n\n```{exercise}\n:label: ex-first\n\nDo {glue:text}`macs:,`.\n```"
    assert converter.convert(exercise) == "## Exercises\n\n#### Exercise 1\n\nDo 4,816,896."
    titled = "```{exercise} A titled one\n:label: ex-second\n\nAgain.\n```"
    assert converter.convert(titled) == "#### Exercise 2 (A titled one)\n\nAgain."
    solution = "```{solution-start} ex-second\n:class: dropdown\n```\n\nBecause:"
    assert converter.convert(solution) == "#### Solution to Exercise 2\n\nBecause:"
    assert converter.convert("```{solution-end}\n```") == ""


def test_collapsed_solutions_stay_closed_across_cells(converter):
    """In the twins a worked solution is collapsed: its Markdown is inside <details> in every
    cell it spans, the exercise before it and the text after its end are not."""
    converter.collapse_solutions = True
    cells = [
        "```{exercise}\n:label: ex-first\n\nDo it.\n```\n\n"
        "```{solution-start} ex-first\n:class: dropdown\n```\n\nBecause $x$:",
        "and then {glue:text}`macs:,`:",  # between two code cells of the same solution
        "```{solution-end}\n```",
        "```{solution-start} ex-second\n```\n\nOnly code follows.",
        "```{solution-end}\n```\n\nBack in the chapter.",
        "```{solution} ex-first\nIn one directive.\n```",
    ]
    assert [converter.convert(cell) for cell in cells] == [
        "#### Exercise 1\n\nDo it.\n\n"
        "<details><summary>Solution to Exercise 1</summary>\n\nBecause $x$:\n\n</details>",
        "<details><summary>Solution to Exercise 1 (continued)</summary>\n\n"
        "and then 4,816,896:\n\n</details>",
        "",
        "<details><summary>Solution to Exercise 2</summary>\n\nOnly code follows.\n\n</details>",
        "Back in the chapter.",
        "<details><summary>Solution to Exercise 1</summary>\n\nIn one directive.\n\n</details>",
    ]
    assert converter.open_solution is None


def test_admonitions_become_quotes(converter):
    source = "::::{note}\nFirst {eq}`eq-linear`.\n\nSecond.\n::::\n\n```{admonition} Why\nSo.\n```"
    assert converter.convert(source) == (
        f"> **Note**\n>\n> First [(1)]({BASE}book/one.html#equation-eq-linear).\n>\n> Second.\n\n"
        "> **Why**\n>\n> So."
    )


def test_asides_are_quoted_and_dropdowns_collapse(converter):
    assert converter.convert("```{margin} Aside\nSmall print.\n```") == (
        "> **Aside**\n>\n> Small print."
    )
    assert converter.convert(":::{dropdown} Hint\nTry {math}`k=1`.\n:::") == (
        "<details><summary>Hint</summary>\n\nTry $k=1$.\n\n</details>"
    )


def test_a_figure_shows_the_web_books_image_with_its_alt_text_and_caption(converter, jm):
    source = (
        "```{figure} figures/pointwise_filter.svg\n:alt: A filter over a volume.\n"
        ":name: fig-one\n\nOne filter, {math}`C` weights.\n```"
    )
    assert converter.convert(source) == (
        f"![A filter over a volume.]({BASE}_images/pointwise_filter.svg)\n\n"
        "*One filter, $C$ weights.*"
    )
    for bad in ["```{figure} figures/x.svg\nNo alt.\n```",
                "```{figure} x.svg\n:alt: flat path\n```",
                "```{figure} figures/x.svg\n:alt: a [link]\n```"]:
        with pytest.raises(jm.ConversionError, match="figure"):
            converter.convert(bad)


def test_code_targets_and_comments(converter):
    source = "(a-target)=\n% a comment\nKeep `{eq}` and\n\n```python\n{eq}`x`\n```"
    assert converter.convert(source) == "Keep `{eq}` and\n\n```python\n{eq}`x`\n```"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{abbr}`CNN (convolutional network)`", r"role \{abbr\}"),
        ("```{image} plot.png\nA plot.\n```", r"directive \{image\}"),
        ("{ref}`no-such-label`", "unknown label"),
        ("{numref}`chapter-two`", "unnumbered"),
        ("{cite:p}`nobody2020`", "no bibliography entry"),
        ("```{solution-start} no-such-exercise\n```", "unknown exercise"),
        ("\\begin{align}\na &= b\n\\end{align}", "amsmath"),
        ("See [the data](data/table.csv).", "relative link"),
        ("```{note}\nnever closed", "unclosed fence"),
        ("{{ substitution }}", "substitution"),
        ("A role split over\n{eq}`a\nb`", "role"),
    ],
)
def test_unknown_markup_fails_loudly(jm, converter, source, message):
    with pytest.raises(jm.ConversionError, match=message):
        converter.convert(source)


def test_links_to_pages_go_to_the_web_book(converter):
    assert converter.convert("[two](two.md#part) and [web](https://x.org)") == (
        f"[two]({BASE}book/two.html#part) and [web](https://x.org)"
    )


def test_myst_markup_finds_what_jupyter_would_show_raw(jm):
    assert jm.myst_markup("Plain $x$ and `{eq}` in code, and ```` ```{note} ```` too.") == []
    found = jm.myst_markup("a {glue:text}`x`\n```{note}\nb\n```\n(t)=\n$$ x $$ (eq)\n% c")
    assert [kind.split(":")[0] for kind in found] == [
        "role", "directive", "target", "labelled equation", "comment"
    ]
