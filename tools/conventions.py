"""Measure a chapter against the conventions of README.md's "How a chapter reads".

Why: a convention that nothing measures drifts. Three of them are numbers a script can read off a
chapter's MyST source, so that a rewrite sees at once where it stands:

- **one sitting**: the words of prose on the main path (:func:`main_path_words`), at most
  :data:`WORD_BUDGET` (Chapter 5, which reports measurements, :data:`WORD_BUDGETS`);
- **checks out of sight**: of the code lines a reader sees, the share that are asserts or glue
  calls (:func:`check_lines`), at most :data:`CHECK_SHARE`;
- **fits the column**: code lines no wider than the text column at 1280 px
  (:func:`long_code_lines`, :data:`CODE_COLUMNS`, :data:`SOLUTION_COLUMNS`).

``tests/test_conventions.py`` enforces them, with a list of the chapters that do not meet them yet.
Run ``python tools/conventions.py`` for every chapter's numbers.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# A sibling script (tools/ is on the path of the tests and of a script run from here).
import notebooks

# Words of main-path prose a chapter may have: one sitting.
WORD_BUDGET = 2000
# Chapter 5 reports measurements, and explains each.
WORD_BUDGETS = {"05_gpu_cost": 3000}
# The largest share of the visible code lines that may be asserts or glue calls.
CHECK_SHARE = 0.10
# Characters of code that fit the text column at 1280 x 800 without scrolling sideways: measured
# in headless Chromium on the built book (the theme's 14 px monospace, 8.4 px a character; a code
# cell's box is 684 px wide, less 2 x 16 px padding, so 652 px: 77 characters). A worked
# solution sits in a dropdown, whose box is 662 px wide: 74 characters. Outputs' boxes are
# 688 px wide (78 characters); the browser test measures those.
CODE_COLUMNS = 77
SOLUTION_COLUMNS = 74

# Cells the web page does not show the code of: not counted as code the reader sees.
REMOVED_TAGS = ("remove-input", "remove-cell")
# Calls that glue a number into the prose.
GLUE_CALLS = ("glue", "glue_all")

HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
DIRECTIVE = re.compile(r"^\{(?P<name>[^}\s]+)\}\s*(?P<argument>.*)$")
OPTION = re.compile(r"^\s*:[\w-]+:")
SOLUTION_FENCE = notebooks.SOLUTION_FENCE
# Directives whose body is not prose (code, math, tables of contents, raw output).
NOT_PROSE = {"code", "code-block", "code-cell", "math", "raw", "toctree", "bibliography",
             "glue:figure", "glue:math", "literalinclude", "embed"}
# Directives whose argument is a path, not words.
PATH_ARGUMENT = {"figure", "image"}


@dataclass(frozen=True)
class CodeCell:
    """A chapter's code cell, as the conventions see it."""

    source: str
    tags: tuple[str, ...]
    in_solution: bool  # between a {solution-start} and its {solution-end}

    @property
    def visible(self) -> bool:
        """Whether the web page shows its code (``hide-input`` code is one click away: shown)."""
        return not any(tag in REMOVED_TAGS for tag in self.tags)


def chapter_cells(chapter: Path) -> tuple[list[str], list[CodeCell]]:
    """The Markdown cells' sources, and the code cells, of ``chapter``, in order."""
    import jupytext

    markdown, code, inside = [], [], False
    for cell in jupytext.read(chapter, fmt="md:myst").cells:
        if cell.cell_type == "markdown":
            markdown.append(cell.source)
            fences = SOLUTION_FENCE.findall(cell.source)
            inside = fences[-1] == "solution-start" if fences else inside
        elif cell.cell_type == "code":
            tags = tuple(cell.metadata.get("tags", []))
            code.append(CodeCell(cell.source, tags, inside))
    return markdown, code


# --- One sitting ------------------------------------------------------------------------------


def main_path_words(markdown: str) -> int:
    """The words of prose in ``markdown`` (a chapter's Markdown cells, joined) on the main path.

    Left out: the ``## Exercises`` section and everything after it, sections whose title starts
    with "Going further" (up to the next heading of the same or a higher level), dropdowns,
    directive options, display math, code blocks, targets and comments. A role, a code span or
    inline math counts as one word (a referenced title, as its words); a link, as its text.
    """
    words = 0
    skipped_level = None  # the level of the "Going further" heading being skipped
    fences: list[tuple[str, bool]] = []  # open directives: (fence, whether their body counts)
    in_math = False
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        if in_math:
            in_math = "$$" not in line
            continue
        if fences and _closes(line, fences[-1][0]):
            fences.pop()
            continue
        counting = all(counts for _, counts in fences)
        if match := FENCE.match(line):
            directive = DIRECTIVE.match(match["info"].strip())
            counts = (
                counting and directive is not None and _is_prose(directive, lines[index + 1 :])
            )
            fences.append((match["fence"], counts))
            if counts and directive["name"] not in PATH_ARGUMENT:
                words += _words(directive["argument"])
            continue
        if not counting or OPTION.match(line):
            continue
        if heading := HEADING.match(line):
            level, title = len(heading["hashes"]), heading["title"].strip()
            if level == 2 and title == "Exercises":
                break
            if skipped_level is not None and level <= skipped_level:
                skipped_level = None
            if title.lower().startswith("going further"):
                skipped_level = level
        if skipped_level is not None:
            continue
        if line.lstrip().startswith("$$"):
            in_math = line.count("$$") == 1
            continue
        if re.match(r"^\s*(\(\S+\)=\s*$|%|\+\+\+|<!--|---\s*$)", line):
            continue
        words += _words(line)
    return words


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _is_prose(directive: re.Match, after: list[str]) -> bool:
    """Whether a directive's body is main-path prose: not code or math, not a dropdown (by name
    or by its ``:class: dropdown`` option, among the options that follow its fence)."""
    if directive["name"] in NOT_PROSE or directive["name"] == "dropdown":
        return False
    options = []
    for line in after:
        if not OPTION.match(line):
            break
        options.append(line)
    return not any(re.match(r"^\s*:class:.*\bdropdown\b", line) for line in options)


def _words(text: str) -> int:
    """The words a reader reads in one line of MyST Markdown."""
    text = re.sub(r"\{[\w:+.-]+\}`([^`<]*?)\s*<[^`]*>`", r"\1", text)  # {ref}`Title <label>`
    text = re.sub(r"\{[\w:+.-]+\}`[^`]*`|`[^`]*`|\$[^$]+\$", " W ", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)  # an image: its alt text is not read
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return sum(1 for token in text.split() if re.search(r"\w", token))


# --- Checks out of sight ----------------------------------------------------------------------


def check_lines(source: str) -> tuple[int, int]:
    """``(check lines, code lines)`` of one cell: the non-blank lines of asserts and glue calls
    (each with its continuation lines; ``torch.testing.assert_close`` and other ``assert_*``
    calls are asserts too), and all its non-blank lines."""
    lines = source.splitlines()
    # IPython magics are not Python: blanked, so that line numbers stay.
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
    checking: set[int] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assert) or (
            isinstance(node, ast.Expr) and _is_check_call(node.value)
        ):
            checking.update(range(node.lineno, node.end_lineno + 1))
    shown = {number for number, line in enumerate(lines, 1) if line.strip()}
    return len(checking & shown), len(shown)


def _is_check_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
    return name in GLUE_CALLS or name.startswith("assert_")


def check_share(cells: list[CodeCell]) -> tuple[int, int]:
    """``(check lines, code lines)`` over the cells whose code the web page shows."""
    checks = total = 0
    for cell in cells:
        if cell.visible:
            lines_checking, lines = check_lines(cell.source)
            checks, total = checks + lines_checking, total + lines
    return checks, total


# --- Fits the column --------------------------------------------------------------------------


def long_code_lines(cells: list[CodeCell]) -> list[str]:
    """The lines of visible code wider than the column (a solution's column is narrower)."""
    found = []
    for index, cell in enumerate(cells):
        if not cell.visible:
            continue
        limit = SOLUTION_COLUMNS if cell.in_solution else CODE_COLUMNS
        found += [
            f"code cell {index}: {len(line)} > {limit} characters: {line.strip()[:50]}"
            for line in cell.source.splitlines()
            if len(line) > limit
        ]
    return found


# --- Report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measures:
    """One chapter's numbers."""

    words: int
    word_budget: int
    check_lines: int
    code_lines: int
    long_lines: list[str]

    @property
    def share(self) -> float:
        return self.check_lines / self.code_lines if self.code_lines else 0.0


def measure(chapter: Path) -> Measures:
    """``chapter``'s numbers, against its budgets."""
    markdown, code = chapter_cells(chapter)
    checks, total = check_share(code)
    return Measures(
        main_path_words("\n".join(markdown)),
        WORD_BUDGETS.get(chapter.stem, WORD_BUDGET),
        checks,
        total,
        long_code_lines(code),
    )


def main() -> int:
    """Print every chapter's numbers against the budgets."""
    print(f"{'chapter':<24} {'words':>12} {'checks/code lines':>22} {'long lines':>10}")
    for chapter in notebooks.chapters():
        m = measure(chapter)
        print(
            f"{chapter.stem:<24} {m.words:>5} / {m.word_budget:<5}"
            f" {m.check_lines:>4} / {m.code_lines:<4} = {m.share:4.0%} (max {CHECK_SHARE:.0%})"
            f" {len(m.long_lines):>5}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
