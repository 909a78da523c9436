"""The conventions of README.md's "How a chapter reads" that a script can measure
(tools/conventions.py): one sitting, checks out of sight, code that fits the column.

Each chapter test has an allow-list of today's offenders, each with its number today as a
ceiling: a chapter may not get worse, and once it meets the convention its entry must go (the
test says so), so the list only shrinks.
"""

from __future__ import annotations

import re

import conventions
import pytest

import notebooks

# --- Allow-lists: today's offenders, until rewritten (issues 24/25/26) --------------------------

# Main-path words above the budget (2,000; Chapter 5: 3,000): the count today, a ceiling.
WORDS_OVER_BUDGET: dict[str, int] = {}
# Visible assert and glue lines above 10% of the visible code lines: their number today.
CHECK_LINES_OVER_SHARE = {
}
# Visible code lines wider than the column at 1280 px: their number today.
LONG_CODE_LINES = {
}


@pytest.fixture(scope="module")
def measured():
    return {chapter.stem: conventions.measure(chapter) for chapter in notebooks.chapters()}


def _against(value: int, meets: bool, name: str, allowed: dict[str, int], what: str) -> list[str]:
    """The problem with one chapter's ``value``, given whether it ``meets`` the convention and
    its entry in an allow-list, if any."""
    if name not in allowed:
        return [] if meets else [f"{name}: {what}"]
    if meets:
        return [f"{name} now meets the convention ({what}): remove it from the allow-list"]
    if value > allowed[name]:
        return [f"{name}: {what}, more than its allowance today ({allowed[name]})"]
    return []


def test_the_allowance_rules_shrink_the_list():
    assert _against(10, True, "a", {}, "x") == []
    assert _against(10, False, "a", {}, "x") == ["a: x"]
    assert _against(10, False, "a", {"a": 10}, "x") == []
    assert "more than its allowance" in _against(11, False, "a", {"a": 10}, "x")[0]
    assert "remove it from the allow-list" in _against(9, True, "a", {"a": 10}, "x")[0]


def test_the_allow_lists_name_only_chapters(measured):
    for allowed in (WORDS_OVER_BUDGET, CHECK_LINES_OVER_SHARE, LONG_CODE_LINES):
        assert set(allowed) <= set(measured), "an allow-list names a chapter that is gone"


def test_every_chapter_reads_in_one_sitting(measured):
    problems = []
    for name, m in measured.items():
        what = f"{m.words} words of main-path prose (budget {m.word_budget})"
        problems += _against(m.words, m.words <= m.word_budget, name, WORDS_OVER_BUDGET, what)
    assert not problems, "\n".join(problems)


def test_checks_are_out_of_sight(measured):
    problems = []
    for name, m in measured.items():
        meets = m.check_lines <= conventions.CHECK_SHARE * m.code_lines
        what = (f"{m.check_lines} of {m.code_lines} visible code lines are asserts or glue calls "
                f"({m.share:.0%}, at most {conventions.CHECK_SHARE:.0%}): tag the cells "
                "remove-input (or hide-input)")
        problems += _against(m.check_lines, meets, name, CHECK_LINES_OVER_SHARE, what)
    assert not problems, "\n".join(problems)


def test_code_fits_the_column(measured):
    problems = []
    for name, m in measured.items():
        what = f"{len(m.long_lines)} code lines wider than the column, first: " + (
            m.long_lines[0] if m.long_lines else "none"
        )
        problems += _against(len(m.long_lines), not m.long_lines, name, LONG_CODE_LINES, what)
    assert not problems, "\n".join(problems)


def test_the_readme_states_the_numbers_measured_here(root):
    """One source: the conventions in the README name the limits this module enforces."""
    readme = " ".join((root / "README.md").read_text().split())  # lines joined
    assert f"{conventions.WORD_BUDGET:,} words" in readme
    assert f"{conventions.WORD_BUDGETS['05_gpu_cost']:,})" in readme
    assert f"At most {conventions.CHECK_SHARE:.0%} of the code lines" in readme
    assert f"at most {conventions.CODE_COLUMNS} characters" in readme
    assert f"{conventions.SOLUTION_COLUMNS} in a worked solution" in readme


# --- The measures, on small chapters ------------------------------------------------------------

CHAPTER = """\
(label)=
# A title of four

Two words {glue:text}`macs:,` and `code` and $x^2$ [a link](https://x.org) count.
% a comment is not read
See {ref}`Chapter 2 <chapter-two>`.

$$
y = W x
$$ (eq)

```{note}
:class: tip
Noted here.
```

```{admonition} Optional reading
:class: dropdown
Not counted at all.
```

:::{dropdown} Hidden
Not counted.
:::

```{figure} plot.svg
:alt: not read
A caption of five words.
```

| a | b |
|---|---|
| one | two |

## Going further: the details

Skipped entirely.

### Still skipped

Skipped too.

## Back on the path

Three more words.

## Exercises

Not counted.

## Summary

Not counted either.
"""


def test_main_path_words_count_what_a_reader_reads_in_one_sitting():
    expected = {
        "A title of four": 4,
        "Two words 1 and 1 and 1 a link count.": 10,
        "See Chapter 2.": 3,
        "Noted here.": 2,
        "A caption of five words.": 5,
        "a b one two": 4,
        "Back on the path": 4,
        "Three more words.": 3,
    }
    assert conventions.main_path_words(CHAPTER) == sum(expected.values())


def test_main_path_words_stop_at_the_exercises_only_at_level_two():
    assert conventions.main_path_words("One two.\n\n### Exercises\n\nThree.") == 4
    assert conventions.main_path_words("One two.\n\n## Exercises\n\nThree.") == 2


def test_check_lines_count_asserts_and_glue_calls_with_their_continuations():
    source = (
        "%matplotlib inline\n"
        "x = compute()\n"
        "assert x == (\n"
        "    witness)  # the claim\n"
        "\n"
        "torch.testing.assert_close(x, y)\n"
        "glue_all({\n"
        '    "x": x,\n'
        "})\n"
        'glue("y", y)\n'
        "print(x)\n"
    )
    assert conventions.check_lines(source) == (7, 10)


def test_hidden_cells_are_not_code_the_reader_sees():
    cells = [
        conventions.CodeCell("x = 1\nassert x == 1", (), False),
        conventions.CodeCell("assert x\n" * 5, ("remove-input",), False),
        conventions.CodeCell("glue('x', x)", ("hide-input",), False),  # one click away: seen
        conventions.CodeCell("assert x", ("remove-cell",), False),
    ]
    assert conventions.check_share(cells) == (2, 3)


def test_long_code_lines_use_the_narrower_column_of_a_solution():
    limit, narrower = conventions.CODE_COLUMNS, conventions.SOLUTION_COLUMNS
    fits, too_wide = "x" * limit, "x" * (limit + 1)
    cells = [
        conventions.CodeCell(f"{fits}\n{too_wide}", (), False),
        conventions.CodeCell(too_wide, ("remove-input",), False),
        conventions.CodeCell(f"{'y' * narrower}\n{'y' * (narrower + 1)}", (), True),
    ]
    found = conventions.long_code_lines(cells)
    assert [re.match(r"code cell (\d+): (\d+) > (\d+)", f).groups() for f in found] == [
        ("0", str(limit + 1), str(limit)), ("2", str(narrower + 1), str(narrower)),
    ]


def test_solution_cells_are_found_between_the_gates(tmp_path):
    chapter = tmp_path / "chapter.md"
    chapter.write_text(
        "---\njupytext:\n  text_representation:\n    format_name: myst\n---\n\n# T\n\n"
        "```{code-cell} ipython3\nbefore = 1\n```\n\n"
        "```{solution-start} e\n:class: dropdown\n```\n\n"
        "```{code-cell} ipython3\n:tags: [hide-input]\n\ninside = 1\n```\n\n"
        "```{solution-end}\n```\n\n"
        "```{code-cell} ipython3\nafter = 1\n```\n"
    )
    _, cells = conventions.chapter_cells(chapter)
    assert [(cell.source, cell.tags, cell.in_solution) for cell in cells] == [
        ("before = 1", (), False), ("inside = 1", ("hide-input",), True), ("after = 1", (), False),
    ]
